"""``bmp-ray bench pipeline``: the Ray pipeline against the single-process path on the same inputs.

Both run in one process, one after the other, on the same videos, weights and config, into fresh
output folders; Ray is started before the clock starts (a cluster is up before a job), model loading
counts for both. Reported: frames/s of each, their ratio (goal >= 0.9), and the bytes per frame the
Ray pipeline put through the object store (every operator's output blocks, from Ray Data's stats).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

from bmp_ray.bench import data_path, stages_from

DEFAULT_INPUT = "videos"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="*",
        help="videos or folders (default: the shared videos, 390 frames, every 3rd kept: 131 frames)",
    )
    p.add_argument("--weights", help="weights folder (default: synthesize the test variants to a temp dir)")
    from bmp_ray.pipeline.config import PRESETS

    p.add_argument("--preset", default="test", choices=sorted(PRESETS), help="model preset (default: test)")
    p.add_argument("--max-people", type=int, default=10, help="detector cap per pass (default 10)")
    p.add_argument("--stride", type=int, default=3, help="keep every Nth frame (default 3)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config overrides")


def run(args: argparse.Namespace) -> dict:
    import ray

    from bmp_ray.pipeline import config as run_config
    from bmp_ray.pipeline.runner import run as run_pipeline

    inputs = args.inputs or [data_path("pipeline", None, DEFAULT_INPUT)]
    args.detector, args.pose, args.sam = (run_config.PRESETS[args.preset][r] for r in ("detector", "pose", "sam"))

    def both(weights):
        cfg = run_config.load(
            overrides=[
                f"models.preset={args.preset}",
                f"models.weights={weights}",
                f"models.max_people={args.max_people}",
                f"decode.stride={args.stride}",
                *args.set,
            ]
        )
        with tempfile.TemporaryDirectory() as tmp:
            ray.init(logging_level="WARNING", include_dashboard=False)
            try:
                dist = run_pipeline(inputs, os.path.join(tmp, "ray"), cfg)
            finally:
                ray.shutdown()
            one = run_pipeline(inputs, os.path.join(tmp, "one"), cfg, use_ray=False)
        return cfg, dist, one

    cfg, dist, one = stages_from(args, both)
    ratio = dist.frames_per_s / one.frames_per_s if one.frames_per_s else 0.0
    total = sum(dist.object_store_bytes.values())
    per_frame = total / dist.frames if dist.frames else 0.0
    rows = [
        ["path", "frames", "people", "first result s", "seconds", "frames/s", "vs one process"],
        ["one process", one.frames, one.people, one.first_result_s, one.seconds, one.frames_per_s, 1.0],
        ["Ray pipeline", dist.frames, dist.people, dist.first_result_s, dist.seconds, dist.frames_per_s, ratio],
    ]
    rows += [
        [""] * 7,
        ["object store", "MB total", "MB / frame", "", "", "", ""],
        ["all operators", total / 1e6, per_frame / 1e6, "", "", "", ""],
    ]
    rows += [[op, b / 1e6, b / 1e6 / max(dist.frames, 1), "", "", "", ""] for op, b in dist.object_store_bytes.items()]
    return {
        "benchmark": "pipeline",
        "inputs": [os.path.basename(i) for i in inputs],
        "models": [args.detector, args.pose, args.sam],
        "max_people": args.max_people,
        "stride": args.stride,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "frames": dist.frames,
        "frames_per_s_ray": dist.frames_per_s,
        "frames_per_s_one_process": one.frames_per_s,
        "object_store_bytes_per_frame": per_frame,
        "object_store_bytes": dist.object_store_bytes,
        "stage_config": {r: getattr(cfg, r).__dict__ for r in ("detector", "pose", "sam")},
        "ratio": ratio,
        "goal": ">= 0.9",
        "rows": rows,
    }
