"""``bench gpu`` end to end: bmp_ray's single-process ``BMPLoop`` on frames of the shared 1080p video
with a fixed number of people per frame, and the research-style loop of ``bench loop`` beside it.

Random weights make RTMDet keep every box, so the people per frame are set explicitly: the detector's
own cap (``max_per_img``) is N, its person NMS is off (``det_nms_iou=1``) and so is pose NMS
(``oks_thr=1``), and the second iteration's detection (which runs, on the masked-out frames) reports
nobody new. Each frame then costs what the FLOP table counts: one SAM encoder call, two detector calls,
2 N pose crops (flip test) and N decoder prompts.

Three runs per N: timed (frames/s, no instrumentation), instrumented (wall and process CPU time per
component, the device synchronised after each GPU part), and profiled (GPU busy fraction, host<->device
bytes, attention kernels).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import torch

from bmp_ray.bench.gpu_timing import Budget, profile, sync

log = logging.getLogger(__name__)


def read_frames(path: str, count: int, scale: float = 1.0) -> list[np.ndarray]:
    """The first ``count`` frames of a video as (H, W, 3) uint8 RGB (OpenCV, which the GPU machine has;
    PyAV and decord are absent there), resized by ``scale`` when it is not 1."""
    import cv2

    cap = cv2.VideoCapture(path)
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            if scale != 1.0:
                bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append(np.ascontiguousarray(bgr[..., ::-1]))
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{path}: OpenCV decoded no frame (expected a video with at least one)")
    return frames


class FixedPeople:
    """A ``Detector`` reporting its first ``n`` people on a frame's first detection and nobody new
    afterwards (later calls still run the network on the masked-out frames)."""

    def __init__(self, det, n: int):
        self.det, self.n = det, n
        self.model = det.model

    def __call__(self, frames, erase=None, **kw):
        import dataclasses

        out = self.det(frames, erase, **kw)
        keep = [self.n if erase is None or e is None else 0 for e in (erase or [None] * len(out))]
        return [
            dataclasses.replace(d, boxes=d.boxes[:k], scores=d.scores[:k], masks=d.masks[:k]) for d, k in zip(out, keep)
        ]


class Recorder:
    """Wall and process CPU seconds per component, by wrapping attributes of live objects."""

    def __init__(self, device: torch.device):
        self.device, self.wall, self.cpu, self._undo = device, {}, {}, []

    def call(self, name: str, gpu: bool, fn, *a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            if gpu:
                sync(self.device)
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

    def wrap(self, obj, attr: str, name: str, gpu: bool = False) -> bool:
        """Time ``obj.attr`` calls under ``name`` (the device synchronised after each when ``gpu``);
        False when ``obj`` has no such attribute (the stage changed: that component is not split out)."""
        fn = getattr(obj, attr, None)
        if fn is None:
            return False
        had = attr in vars(obj)
        setattr(obj, attr, lambda *a, **k: self.call(name, gpu, fn, *a, **k))
        self._undo.append(lambda: setattr(obj, attr, fn) if had else delattr(obj, attr))
        return True

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo = []


class Timed:
    """A stage object whose calls a ``Recorder`` times (``__call__`` cannot be wrapped on an instance)."""

    def __init__(self, obj, rec: Recorder, name: str):
        self._obj, self._rec, self._name = obj, rec, name

    def __call__(self, *a, **k):
        return self._rec.call(self._name, True, self._obj, *a, **k)

    def __getattr__(self, key):
        return getattr(self._obj, key)


def _parts(det, pose, seg):
    """(object, attribute, component, device work inside); each is a part of its stage's total."""
    import bmp_ray.bmp.loop as loop_mod

    return [
        (det, "pipeline", "detector.letterbox (host)", False),
        (det, "_candidates", "detector.network (device)", True),
        (det, "_convert", "detector.people+masks+RLE", True),
        (pose, "crops_torch", "pose.crops", True),
        (pose, "_heatmaps_of", "pose.network (device)", True),
        (seg, "embed", "sam.encoder", True),
        (seg, "segment_windows", "sam.decoder+masks", True),
        (seg, "_decode", "sam.decoder (device)", True),
        (loop_mod, "frame_result", "loop.results RLE (host)", False),
    ]


def _instrumented(loop, fixed: FixedPeople, rec: Recorder, frames) -> dict:
    """One loop call with every part that exists wrapped; per component wall and CPU seconds."""
    det, pose, seg = fixed.det, loop.pose, loop.sam
    missing = [name for obj, attr, name, gpu in _parts(det, pose, seg) if not rec.wrap(obj, attr, name, gpu)]
    fixed.det, loop.pose = Timed(det, rec, "detector"), Timed(pose, rec, "pose")
    try:
        t, c = time.perf_counter(), time.process_time()
        loop(frames)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        rec.restore()
        fixed.det, loop.pose = det, pose
    return {"wall_s": wall, "cpu_s": cpu, "not_split_out": missing}


def run_people(
    m,
    frames: list[np.ndarray],
    n: int,
    repeats: int,
    budget: Budget,
    out_dir: str | None,
    warmup: bool = True,
    breakdown: bool = True,
) -> dict:
    """Frames/s of the loop over ``frames`` (one call) at ``n`` people per frame; with ``breakdown``, an
    instrumented and a profiled call after the timed ones."""
    from bmp_ray.bmp import BMPConfig, BMPLoop

    det, pose, seg = m.det, m.pose, m.seg
    det.model.bbox_head.test_cfg["max_per_img"] = n
    fixed = FixedPeople(det, n)
    loop = BMPLoop(fixed, pose, seg, BMPConfig(det_nms_iou=1.0, oks_thr=1.0))
    f = len(frames)
    first = None
    if warmup:
        t = time.perf_counter()
        loop(frames)
        first = time.perf_counter() - t
    times = []
    for _ in range(max(1, repeats)):
        if times and budget.left() < 3 * times[-1]:
            break
        t = time.perf_counter()
        results = loop(frames)
        times.append(time.perf_counter() - t)
    sec = float(np.median(times))
    out = {
        "people": n,
        "frames": f,
        "people_found_per_frame": float(np.mean([len(r) for r in results])),
        "first_call_s": first,
        "repeats": len(times),
        "seconds_per_call": sec,
        "frames_per_s": f / sec,
    }
    if not breakdown:
        return out
    if budget.left() > 2 * sec:
        rec = Recorder(m.device)
        got = _instrumented(loop, fixed, rec, frames)
        out["instrumented_wall_s"] = got["wall_s"]
        out["host_core_ms_per_frame"] = 1e3 * got["cpu_s"] / f
        out["components_wall_ms_per_frame"] = {k: 1e3 * v / f for k, v in rec.wall.items()}
        out["components_core_ms_per_frame"] = {k: 1e3 * v / f for k, v in rec.cpu.items()}
        out["components_not_split_out"] = got["not_split_out"]
    if budget.left() > 3 * sec:
        keep = os.path.join(out_dir, f"trace_e2e_{n}.json.gz") if out_dir and m.device.type == "cuda" else None
        p = profile(lambda: loop(frames), m.device, keep=keep)
        out["profile"] = {k: v for k, v in p.items() if k != "top_ops"}
        out["profile_top_ops"] = p["top_ops"]
        out["gpu_busy"] = p["gpu_busy"]
        out["copy_bytes_per_frame"] = {k: v / f for k, v in p["copy_bytes"].items()}
    else:
        out["profile"] = "skipped: budget spent"
    return out


def research(m, frame: np.ndarray, n: int, repeats: int, budget: Budget, warmup: bool = True) -> dict:
    """``bench loop`` on the device: our loop vs the research-style loop on one frame, both in fp32 with
    the same stage objects (variants undone), the detector capped at ``n`` people per pass."""
    from bmp_ray.bench.research_loop import research_loop
    from bmp_ray.bmp import BMPConfig, BMPLoop

    det, pose, seg = m.det, m.pose, m.seg
    det.model.bbox_head.test_cfg["max_per_img"] = n
    config = BMPConfig()
    loop = BMPLoop(det, pose, seg, config)
    old = det.dtype, pose.dtype, seg.dtype
    det.dtype = pose.dtype = seg.dtype = None
    times: dict[str, list[float]] = {"bmp_ray": [], "research": []}
    counts = {}
    try:
        if warmup:
            loop([frame])
            research_loop(frame, det, pose, seg, config)
            sync(m.device)
        for _ in range(max(1, repeats)):
            if times["research"] and budget.left() < 2 * (times["research"][-1] + times["bmp_ray"][-1]):
                break
            t = time.perf_counter()
            (ours,) = loop([frame])
            times["bmp_ray"].append(time.perf_counter() - t)
            t = time.perf_counter()
            theirs = research_loop(frame, det, pose, seg, config)
            sync(m.device)
            times["research"].append(time.perf_counter() - t)
            counts = {"people_bmp_ray": len(ours), "people_research": len(theirs)}
    finally:
        det.dtype, pose.dtype, seg.dtype = old
    med = {k: float(np.median(v)) for k, v in times.items()}
    h, w = frame.shape[:2]
    return {
        "people_cap": n,
        "precision": "fp32",
        "repeats": len(times["research"]),
        "frame": f"{w}x{h}",
        "seconds_bmp_ray": med["bmp_ray"],
        "seconds_research": med["research"],
        **counts,
        "ratio": med["research"] / med["bmp_ray"],
    }
