"""One small pipeline run shared by the export, render and report tests (run once per test session).

Inputs: a real 5-frame 1280x720 30 fps video sampled with stride 2 (frames 0, 2, 4: 15 fps), a real COCO
image, and a text file named .mp4 (a failed input). Test-variant models with seeded random weights, at
most ``MAX_PEOPLE`` people per pass, in one process, tracked as the run config's default says (ids in
``tracks/``).
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path

from tests.pipeline.conftest import TEST_SETTINGS

VIDEO, IMAGE, BAD = "posetrack18_000001_mpiinew_test.mp4", "street.jpg", "bad_text.mp4"
FRAMES, FPS, SIZE = [0, 2, 4], 15, (1280, 720)
MAX_PEOPLE = 2
SETTINGS = [s for s in TEST_SETTINGS if not s.startswith(("decode.stop", "models.max_people"))] + [
    "decode.stride=2",
    "decode.stop=5",
    f"models.max_people={MAX_PEOPLE}",
]


@functools.lru_cache(maxsize=None)
def small_run(root: Path, data: Path, weights: Path) -> Path:
    """The output folder of the run (made under ``root`` on the first call)."""
    from bmp_ray.pipeline import config as run_config
    from bmp_ray.pipeline.runner import run

    inputs, out = root / "small-run-inputs", root / "small-run-out"
    inputs.mkdir(exist_ok=True)  # a failed first call (the run raised) is retried by the next test
    shutil.copy(data / "videos" / VIDEO, inputs / VIDEO)
    shutil.copy(data / "images" / "coco" / "000000040083.jpg", inputs / IMAGE)
    (inputs / BAD).write_text("this is not a video\n")
    cfg = run_config.load(overrides=SETTINGS + [f"models.weights={weights}"])
    run([str(inputs)], str(out), cfg, use_ray=False)
    return out


def tracked_copy(out: Path, dest: Path) -> Path:
    """``out`` rewritten with track ids (``10 + person index``, -1 for the last person of the second frame)
    through ``write_results``, one file per video and no markers: the folder layout of older writers."""
    import pyarrow.parquet as pq

    from bmp_ray.export import output_name, write_manifest, write_results
    from bmp_ray.export.read import read_results

    if dest.exists():
        return dest
    for video in read_results(str(out)):
        results = []
        for r in video.frames():
            ids = [10 + j for j in range(len(r))]
            if r.frame_index == FRAMES[1] and len(r) > 1:
                ids[-1] = -1
            results.append(dataclasses.replace(r, track_ids=ids))
        if results:
            write_results(str(dest), output_name(video.video_id), results)
    write_manifest(str(dest), pq.read_table(out / "videos.parquet").to_pylist())
    shutil.copy(out / "_run.json", dest / "_run.json")
    return dest


def untracked_copy(out: Path, dest: Path) -> Path:
    """``out`` without its ``tracks/`` and ``track_summary/`` (an untracked run: null track ids)."""
    if not dest.exists():
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns("tracks", "track_summary"))
    return dest


def drawn_copy(out: Path, dest: Path) -> Path:
    """``out`` with the video's people replaced by two clean ones per frame (the test weights' masks are
    speckle over the whole frame): an ellipse (track 3) and a rectangle (untracked) in the left half,
    their boxes, 21 keypoints inside the boxes scoring 0.9. The right half of every frame is free."""
    import numpy as np

    from bmp_ray.export import write_results
    from bmp_ray.export.read import read_results
    from bmp_ray.result import FrameResult

    if dest.exists():
        return dest
    shutil.copytree(out, dest)
    (video,) = read_results(str(out), [VIDEO])
    frames = list(video.frames())
    w, h = SIZE
    masks = np.zeros((2, h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    masks[0] = ((xx - 250) / 80) ** 2 + ((yy - 400) / 160) ** 2 <= 1
    masks[1, 300:600, 420:560] = True
    boxes = np.array([[170, 240, 330, 560], [420, 300, 560, 600]], np.float32)
    kpts = np.zeros((2, 21, 3), np.float32)
    for j, (x1, y1, x2, y2) in enumerate(boxes):
        kpts[j, :, 0] = np.linspace(x1 + 10, x2 - 10, 21)
        kpts[j, :, 1] = np.linspace(y1 + 10, y2 - 10, 21)
        kpts[j, :, 2] = 0.9
    people = [
        FrameResult.from_dense(
            VIDEO,
            r.frame_index,
            r.pts_s,
            boxes=boxes,
            box_scores=[0.9, 0.8],
            keypoints=kpts,
            masks=masks,
            mask_scores=[0.9, 0.9],
            iterations=[1, 2],
            track_ids=[3, -1],
        )
        for r in frames
    ]
    (segment,) = video.segments
    write_results(str(dest), segment, people)
    return dest
