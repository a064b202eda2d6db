"""``bmp-ray bench decode``: frames/s of bmp_ray's reader against plain PyAV on the same file.

Both decode every frame to RGB uint8 with FFmpeg's automatic (frame + slice) threading; the runs
alternate (PyAV, bmp_ray, decord, PyAV, ...) so that both see the same machine state. The ratio is
bmp_ray's median over plain PyAV's median; the goal is >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import av

from bmp_ray.bench import data_path, median
from bmp_ray.video import FrameReader, probe

DEFAULT_VIDEO = "videos/mmaction2_demo_skeleton.mp4"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", help=f"video to decode (default: $BMP_RAY_TEST_DATA/{DEFAULT_VIDEO})")
    p.add_argument("--repeats", type=int, default=5, help="alternating runs of each reader (median kept)")
    p.add_argument("--batch-size", type=int, default=16)


def _plain_pyav(path: str) -> int:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for f in c.decode(s) if f.to_ndarray(format="rgb24") is not None)


def _ours(path: str, backend: str, batch_size: int) -> int:
    return sum(len(b) for b in FrameReader(path, backend=backend, batch_size=batch_size))


def run(args: argparse.Namespace) -> dict:
    path = data_path("decode", args.video, DEFAULT_VIDEO)
    info = probe(path)
    fns = {
        "pyav": lambda: _plain_pyav(path),
        "bmp_ray": lambda: _ours(path, "pyav", args.batch_size),
        "bmp_ray_decord": lambda: _ours(path, "decord", args.batch_size),
    }
    rates: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up: file cache, decoder libraries
        fn()
    for _ in range(args.repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            n = fn()
            rates[name].append(n / (time.perf_counter() - t))
    med = {k: median(v) for k, v in rates.items()}
    ratio = med["bmp_ray"] / med["pyav"]
    rows = [["reader", "frames/s (median)", "min", "max", "vs plain PyAV"]]
    rows += [[k, med[k], min(v), max(v), med[k] / med["pyav"]] for k, v in rates.items()]
    return {
        "benchmark": "decode",
        "video": os.path.basename(path),
        "frames": info.num_frames,
        "size": f"{info.width}x{info.height}",
        "codec": info.codec,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "fps_pyav": med["pyav"],
        "fps_bmp_ray": med["bmp_ray"],
        "fps_bmp_ray_decord": med["bmp_ray_decord"],
        "ratio": ratio,
        "goal": ">= 0.9",
        "rows": rows,
    }
