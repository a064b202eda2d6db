"""Fixtures of the pipeline tests: test-variant weights, a small run config, and a mixed input folder."""

from __future__ import annotations

import shutil

import pytest

from bmp_ray.pipeline import config as run_config

TEST_SETTINGS = [
    "models.preset=test",
    "models.max_people=4",
    "decode.stop=2",
    "decode.batch_size=2",
    "detector.threads=1",
    "pose.threads=1",
    "sam.threads=1",
    "detector.batch_size=2",
    "pose.batch_size=2",
    "sam.batch_size=2",
]


@pytest.fixture(scope="session")
def small_config(test_weights):
    """Test variants, at most 4 people per pass, the first 2 frames of each video, one torch thread
    everywhere (float results depend on the thread count)."""
    return run_config.load(overrides=TEST_SETTINGS + [f"models.weights={test_weights}"])


@pytest.fixture(scope="session")
def mixed_inputs(tmp_path_factory, shared_data):
    """Two real videos, one real image, and bad files: a corrupt video, a text file named .mp4, an
    empty .mp4. Returns the folder."""
    root = tmp_path_factory.mktemp("inputs")
    for name in ("mmpose_demo.mp4", "posetrack18_000001_mpiinew_test.mp4"):
        shutil.copy(shared_data / "videos" / name, root / name)
    shutil.copy(shared_data / "images" / "coco" / "000000040083.jpg", root / "street.jpg")
    data = (shared_data / "videos" / "mmpose_demo.mp4").read_bytes()
    (root / "bad_corrupt.mp4").write_bytes(data[:2000] + bytes(5000))
    (root / "bad_text.mp4").write_text("this is not a video\n")
    (root / "bad_empty.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="session")
def local_reference(tmp_path_factory, mixed_inputs, small_config):
    """The single-process run over ``mixed_inputs``: (output folder, RunSummary)."""
    from bmp_ray.pipeline.runner import run

    out = tmp_path_factory.mktemp("local-out")
    return out, run([str(mixed_inputs)], str(out), small_config, use_ray=False)


def assert_same_output(a, b):
    """Two output folders hold the same rows (floats within 1e-4) and the same manifest facts."""
    import pandas as pd

    from bmp_ray.export import read_results

    ra, rb = read_results(str(a)), read_results(str(b))
    assert [(r.video_id, r.frame_index) for r in ra] == [(r.video_id, r.frame_index) for r in rb]
    bad = [(x.video_id, x.frame_index) for x, y in zip(ra, rb) if not x.equals(y, atol=1e-4)]
    assert not bad, f"results differ in {bad}"
    cols = ["video_id", "status", "frames_decoded", "frames_written", "num_frames"]
    ma = pd.read_parquet(a / "videos.parquet")[cols].sort_values("video_id").reset_index(drop=True)
    mb = pd.read_parquet(b / "videos.parquet")[cols].sort_values("video_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(ma, mb)


def assert_output_invariants(out, reference=None, inputs=None):
    """The one checker of every fault and resume test: equal to the undisturbed ``reference`` run
    (when given), frames written = frames decoded per video, unique keys in every table, nothing left
    under ``_parts/``, no temporary files, no lock, a poses file for every frames file and back, and
    one manifest row per input (``inputs``: the expected video ids)."""
    from pathlib import Path

    import pandas as pd

    out = Path(out)
    if reference is not None:
        assert_same_output(reference, out)
    m = pd.read_parquet(out / "videos.parquet")
    assert not m.video_id.duplicated().any(), "a video has two manifest rows"
    if inputs is not None:
        assert sorted(m.video_id) == sorted(inputs)
    ok = m[m.status == "ok"]
    assert (ok.frames_written == ok.frames_decoded).all(), ok[["video_id", "frames_decoded", "frames_written"]]
    frames, poses = pd.read_parquet(out / "frames"), pd.read_parquet(out / "poses")
    assert not frames.duplicated(["video_id", "frame_index"]).any(), "a frame was written twice"
    assert not poses.duplicated(["video_id", "frame_index", "person_index"]).any(), "a person was written twice"
    written = frames.groupby("video_id").size()
    for vid, n in zip(m.video_id, m.frames_written):
        assert written.get(vid, 0) == n, f"{vid}: the manifest says {n} frames, frames/ holds {written.get(vid, 0)}"
    assert frames.num_people.sum() == len(poses)
    assert not (out / "_parts").exists() or not any((out / "_parts").iterdir()), "parts were left behind"
    assert not list(out.rglob(".*tmp-*")), "temporary files were left behind"
    assert not (out / "_lock.json").exists(), "the lock was not released"
    stems = lambda sub: sorted(p.name for p in (out / sub).glob("*.parquet"))  # noqa: E731
    assert stems("frames") == stems("poses")
