"""``bench host``'s check on people's masks: the loop's mask steps on real people, not on speckle.

With random weights the test variants' SAM masks are speckle over the whole working frame: in the
bench's frames each of the 20 refined masks has a window of about 576 x 1024 pixels (the whole
1024 x 576 frame) and up to 147k value changes. Every step whose work grows with a mask's window or
its runs (the exclusive masks, the erase map, the window masks' runs between stages, their resize to
the video's pixels, the part writer's RLE) then does far more than it would for people. This check
runs those same functions, timed by the bench's own labels (``host_meter.loop_targets``), on real
people's masks: the COCO and OCHuman instance masks of the shared test data, each scaled to a person
height drawn from ``HEIGHTS`` pixels of the working frame and placed at a seeded random position, as
many people per frame as the bench (20: half of them in each of the two iterations), in the order of
the pipeline's SAM stages and part writer:

- iteration 1: ``FrameState.add_exclusive`` of 10 people, then the state pickled and unpickled
  (``masks.to_runs``) as it crosses into the second detector stage;
- iteration 2: ``erase`` (``masks.from_runs``), the state pickled and unpickled twice (into the pose
  and the SAM stage), ``add_exclusive`` of the other 10;
- ``frame_result`` at the video's size (``masks.resize_windows``, ``masks.resize_many``), then
  ``parts.write_parts``.

Each person's SAM mask is its own mask and its detector mask too, its predicted IoU a seeded draw, so
the exclusive rule has real overlaps to settle. What this leaves out: the same steps' share of the Ray
Data blocks and pickles (the states' bytes) and the detector's own mask encoding, which the bench
measures with its own masks only.
"""

from __future__ import annotations

import os
import pickle
import tempfile

import cv2
import numpy as np

from bmp_ray import masks as _masks
from bmp_ray.bench import host_meter
from bmp_ray.bench.host_meter import Meter

WORKING = (576, 1024)  # the bench's working frame (1080p at decode.max_side = 1024)
VIDEO = (1080, 1920)
HEIGHTS = (60, 250)  # person heights in working pixels: 110-470 pixels of 1080p, a street scene


def people_masks(root) -> list[np.ndarray]:
    """The instance masks of the shared COCO and OCHuman images, each cut to its box: (h, w) bool."""
    from bmp_ray.export.coco_eval import load_ground_truth

    out = []
    for subset in ("coco", "ochuman"):
        gt = load_ground_truth(root / "images" / subset / f"test_{subset}.json")
        for ann in gt.dataset["annotations"]:
            m = gt.annToMask(ann).astype(bool)
            rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
            if rows.size:
                out.append(m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    if not out:
        raise ValueError(f"bench host: no person masks in {root}/images (coco, ochuman)")
    return out


def scene(shapes: list[np.ndarray], rng: np.random.Generator, n: int):
    """``n`` people in the working frame: per person ``((y0, y1, x0, x1), mask)``, the masks of ``shapes``
    in turn, scaled (nearest) to a height drawn from ``HEIGHTS`` and placed at a random position."""
    h, w = WORKING
    out = []
    for i in range(n):
        m = shapes[(i + int(rng.integers(len(shapes)))) % len(shapes)]
        height = int(rng.integers(*HEIGHTS))
        width = max(1, min(w, round(m.shape[1] * height / m.shape[0])))
        scaled = cv2.resize(m.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
        y0, x0 = int(rng.integers(0, h - height + 1)), int(rng.integers(0, w - width + 1))
        out.append(((y0, y0 + height, x0, x0 + width), scaled))
    return out


def _people(windows, iteration: int, rng: np.random.Generator):
    from bmp_ray.bmp.loop import _Person

    out = []
    for (y0, y1, x0, x1), m in windows:
        box = np.array([x0, y0, x1, y1], np.float32)
        kpts = np.concatenate([rng.uniform([x0, y0], [x1, y1], (21, 2)), rng.uniform(0, 1, (21, 1))], 1)
        det = _masks.encode_window(m, (y0, y1, x0, x1), *WORKING)
        out.append(_Person(box, 0.9, det, kpts.astype(np.float32), float(kpts[:17, 2].mean()), iteration))
    return out


def _iteration(shapes, rng, iteration: int, n: int):
    """One iteration's ``n`` new people: ``(people, windows, ious)`` for ``FrameState.add_exclusive``."""
    windows = scene(shapes, rng, n)
    return _people(windows, iteration, rng), windows, rng.uniform(0.5, 1.0, len(windows)).astype(np.float32)


def _frame(iterations, index: int, out: str):
    """One frame's mask steps (the module's list), timed by whatever ``instrument`` has patched; returns
    the frame's state."""
    from bmp_ray.bmp.loop import FrameState
    from bmp_ray.pipeline import parts, stages

    rgb = np.zeros((*WORKING, 3), np.uint8)
    s = FrameState(rgb)
    for it, (people, windows, ious) in enumerate(iterations, 1):
        if it > 1:
            s = pickle.loads(pickle.dumps(s, protocol=5)).attach(rgb)  # Sam_1 -> Detect_2
            s.erase()
            for _ in range(2):  # Detect_2 -> Pose_2 -> Sam_2
                s = pickle.loads(pickle.dumps(s, protocol=5)).attach(rgb)
        s.add_exclusive(people, windows, ious)
    r = stages.frame_result(s, "people", index, 0.0, size=VIDEO)
    row = {"name": ["people"], "frame_index": [index], "summary": [""], "result": [pickle.dumps(r, protocol=5)]}
    parts.write_parts({k: np.array(v, np.int64 if k == "frame_index" else object) for k, v in row.items()}, out=out)
    return s


def measure(root, frames: int = 2, people: int = 20, repeats: int = 3, seed: int = 0) -> dict:
    """Core-ms per frame of each mask-step label on ``people`` people's masks per frame (the median over
    ``repeats`` runs of the same ``frames`` frames, after a warm-up), and what the refined masks were:
    their windows' pixels and value changes along the rows, per person."""
    if min(frames, people, repeats) < 1:
        raise ValueError(
            f"host_masks.measure: frames, people and repeats must be >= 1, got {frames}, {people}, {repeats}"
        )
    shapes = people_masks(root)
    split = (people - people // 2, people // 2)  # per iteration
    runs, states = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats + 1):
            rng = np.random.default_rng(seed)
            frames_in = [[_iteration(shapes, rng, it, n) for it, n in enumerate(split, 1) if n] for _ in range(frames)]
            meter = Meter()
            with host_meter.instrument(meter, host_meter.loop_targets()):
                states = [_frame(its, f, os.path.join(tmp, f"run{r}")) for f, its in enumerate(frames_in)]
            runs.append(meter)
    med = Meter.median(runs[1:])
    refined = [p.window_mask() for s in states for p in s.people]
    return {
        "people_per_frame": sum(len(s.people) for s in states) / frames,
        "frames": frames,
        "window_px_mean": float(np.mean([m.size for m in refined])),
        "row_changes_mean": float(np.mean([np.count_nonzero(np.diff(m.view(np.uint8), axis=1)) for m in refined])),
        "host_ms_by_detail": {f"{c}: {d}": 1e3 * s / frames for (c, d), s in sorted(med.cpu.items())},
    }


def swap(bench: dict[str, float], people: dict[str, float]) -> dict:
    """The bench's host work with the labels ``people`` measured taken from it instead: what random-weight
    masks add. ``bench``: the bench's ``host_ms_by_detail``."""
    labels = sorted(people)
    return {
        "labels": labels,
        "bench_ms": sum(bench.get(k, 0.0) for k in labels),
        "people_ms": sum(people[k] for k in labels),
        "by_label": {k: {"bench": bench.get(k, 0.0), "people": people[k]} for k in labels},
    }
