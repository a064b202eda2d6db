"""``bmp-ray bench memory``: the memory each stage needs per frame, by frame resolution.

For each resolution and each stage (detector, pose, SAM, and the whole BMP loop in one process, as
``--no-ray`` runs it), a fresh Python process loads the stage (the test variants' seeded random weights
by default, whose detector keeps its full cap of people), runs it once on a small frame (so that the
allocator and the model's own buffers are warm), prepares the stage's input at the resolution (the
steps before it), then runs the stage while a thread samples the process's resident memory every
millisecond. Reported: the peak during the stage's call minus the resident memory just before it
(MB), the memory the frame's size costs on top of the model and its input. The frame is a real video
frame resized to each resolution, so the people, and the detector's masks, scale with it. Full-size models add their own
activations, which do not depend on the frame size (every model works at a fixed input size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

from bmp_ray.bench import data_path

DEFAULT_VIDEO = "videos/mmtracking_demo.mp4"
SIZES = ((640, 360), (1280, 720), (1920, 1080), (3840, 2160))
ROLES = ("detector", "pose", "sam", "loop")

# One measurement, in its own process: argv = role, width, height, weights, video, max_per_img.
_CHILD = r"""
import json, sys
import cv2, numpy as np, torch
from bmp_ray.bench.loop import _frame
from bmp_ray.bmp.config import BMPConfig
from bmp_ray.bmp.loop import BMPLoop, FrameState, detect_step, pose_step, sam_step
from bmp_ray.models.detector import Detector
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.models.segmenter import build_segmenter
from bmp_ray.pipeline.config import PRESETS

role, weights, video = sys.argv[1], sys.argv[4], sys.argv[5]
w, h, cap = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[6])
torch.set_num_threads(1)
base = _frame(video, 0)
names = PRESETS["test"]
det = Detector(names["detector"], weights, max_per_img=cap)
pose = PoseEstimator(names["pose"], weights) if role != "detector" else None
sam = build_segmenter(names["sam"], weights) if role in ("sam", "loop") else None
cfg = BMPConfig()

def states(frame):
    s = [FrameState(frame)]
    detect_step(det, s, cfg)
    return s

def once(frame):
    if role == "loop":
        return BMPLoop(det, pose, sam, cfg)([frame])
    s = states(frame)
    if role == "detector":
        return s
    pose_step(pose, s)
    if role == "pose":
        return s
    sam_step(sam, s, 1, cfg)
    return s

def prepared(frame):  # everything before the measured stage, so its peak is the stage's own
    if role in ("loop", "detector"):
        return None
    s = states(frame)
    if role == "sam":
        pose_step(pose, s)
    return s

import os, threading, time
PAGE = os.sysconf("SC_PAGE_SIZE") / 2**20

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

class Peak:
    def __enter__(self):
        self.before, self.peak, self.stop = rss_mb(), 0.0, False
        self.t = threading.Thread(target=self.sample, daemon=True)
        self.t.start()
        return self
    def sample(self):
        while not self.stop:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.001)
    def __exit__(self, *exc):
        self.stop = True
        self.t.join()
        self.peak = max(self.peak, rss_mb())

small = cv2.resize(base, (320, 180), interpolation=cv2.INTER_AREA)
once(small)
frame = cv2.resize(base, (w, h), interpolation=cv2.INTER_AREA if w < base.shape[1] else cv2.INTER_LINEAR)
pre = prepared(frame)
with Peak() as m:
    if role == "pose":
        pose_step(pose, pre)
        people = len(pre[0].dets)
    elif role == "sam":
        sam_step(sam, pre, 1, cfg)
        people = len(pre[0].people)
    elif role == "detector":
        people = len(states(frame)[0].dets)
    else:
        people = len(once(frame)[0])
sys.stdout.write(json.dumps({"peak_mb": m.peak, "before_mb": m.before, "people": people}) + "\n")
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", help=f"video whose first frame is resized (default: $BMP_RAY_TEST_DATA/{DEFAULT_VIDEO})")
    p.add_argument("--weights", help="weights folder of the test variants (default: synthesize them)")
    p.add_argument("--max-per-img", type=int, default=20, help="people per detector pass (default 20)")
    p.add_argument("--quick", action="store_true", help="the detector at two small resolutions (tests)")


def measure(role: str, size: tuple[int, int], weights: str, video: str, cap: int) -> dict:
    """One measurement in a fresh process: ``{"peak_mb", "before_mb", "people"}``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, role, str(size[0]), str(size[1]), weights, video, str(cap)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench memory: {role} at {size[0]}x{size[1]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    from bmp_ray.models.synth import synthesize
    from bmp_ray.pipeline.config import PRESETS

    video = data_path("memory", args.video, DEFAULT_VIDEO)
    sizes = ((320, 180), (640, 360)) if args.quick else SIZES
    roles = ("detector",) if args.quick else ROLES
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            synthesize(tmp, list(PRESETS["test"].values()))
            weights = tmp
        table = {r: {f"{w}x{h}": measure(r, (w, h), weights, video, args.max_per_img) for w, h in sizes} for r in roles}
    mb = {r: {s: round(v["peak_mb"] - v["before_mb"], 1) for s, v in by.items()} for r, by in table.items()}
    rows = [["stage", *(f"{w}x{h} MB" for w, h in sizes)]]
    rows += [[r, *(mb[r][f"{w}x{h}"] for w, h in sizes)] for r in roles]
    people = {s: v["people"] for s, v in table[roles[-1]].items()}
    return {
        "benchmark": "memory",
        "video": os.path.basename(video),
        "max_per_img": args.max_per_img,
        "sizes": [f"{w}x{h}" for w, h in sizes],
        "peak_increase_mb": mb,
        "measurements": table,
        "people": people,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "rows": rows,
    }
