"""``bmp-ray bench loop``: bmp_ray's BMP loop against a research-style loop on one crowded frame.

Both loops run in one process, on the same frame and the same weights (the test variants' seeded
random weights by default, so the detector reports its full cap of people), alternating; the ratio
is the research-style loop's median time over ours. The goal is >= 3 on the CPU.
See ``bmp_ray.bench.research_loop`` for what the research-style loop does.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from bmp_ray.bench import add_model_arguments, data_path, median, stages_from
from bmp_ray.errors import ConfigError

DEFAULT_VIDEO = "videos/mmtracking_demo.mp4"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", help=f"video holding the crowded frame (default: $BMP_RAY_TEST_DATA/{DEFAULT_VIDEO})")
    p.add_argument("--frame", type=int, default=0, help="frame index")
    p.add_argument("--weights", help="weights folder (default: synthesize the test variants to a temp dir)")
    add_model_arguments(p)
    p.add_argument("--max-per-img", type=int, default=None, help="detector cap (default: the model's)")
    p.add_argument("--repeats", type=int, default=1, help="alternating runs of each loop (median kept)")


def _frame(path: str, index: int):
    from bmp_ray.video import FrameReader, Sampling

    for batch in FrameReader(path, sampling=Sampling(start=index, stop=index + 1), batch_size=1):
        return batch.frames[0].copy()
    raise ConfigError(f"{path}: has no frame {index}")


def run(args: argparse.Namespace) -> dict:
    from bmp_ray.bench.research_loop import research_loop
    from bmp_ray.bmp import BMPConfig, BMPLoop
    from bmp_ray.models.detector import Detector
    from bmp_ray.models.pose import PoseEstimator
    from bmp_ray.models.segmenter import build_segmenter

    path = data_path("loop", args.video, DEFAULT_VIDEO)
    frame = _frame(path, args.frame)
    det, pose, sam = stages_from(
        args,
        lambda w: (
            Detector(args.detector, w, max_per_img=args.max_per_img),
            PoseEstimator(args.pose, w),
            build_segmenter(args.sam, w),
        ),
    )
    config = BMPConfig()
    loop = BMPLoop(det, pose, sam, config)
    times: dict[str, list[float]] = {"bmp_ray": [], "research": []}
    counts = {}
    for _ in range(max(1, args.repeats)):
        t = time.perf_counter()
        (ours,) = loop([frame])
        times["bmp_ray"].append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs = research_loop(frame, det, pose, sam, config)
        times["research"].append(time.perf_counter() - t)
        counts = {
            "bmp_ray": len(ours),
            "research": len(theirs),
            "bmp_ray_iteration_1": int((ours.iterations == 1).sum()),
            "research_iteration_1": sum(p["iteration"] == 1 for p in theirs),
        }
    med = {k: median(v) for k, v in times.items()}
    ratio = med["research"] / med["bmp_ray"]
    h, w = frame.shape[:2]
    rows = [
        ["loop", "seconds (median)", "people found", "vs research-style"],
        ["research-style", med["research"], counts["research"], 1.0],
        ["bmp_ray", med["bmp_ray"], counts["bmp_ray"], ratio],
    ]
    return {
        "benchmark": "loop",
        "video": os.path.basename(path),
        "frame": args.frame,
        "size": f"{w}x{h}",
        "models": [args.detector, args.pose, args.sam],
        "iterations": config.iterations,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "seconds_bmp_ray": med["bmp_ray"],
        "seconds_research": med["research"],
        **counts,
        "ratio": ratio,
        "goal": ">= 3",
        "rows": rows,
    }
