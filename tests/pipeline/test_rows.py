"""Decode problems are data: a damaged but partly readable video is ``partial`` with its problems and
counts in its manifest row, and the log agrees with the row (before this, such a video said ok, error
null, and the log's count was off by one)."""

from __future__ import annotations

import logging

import pandas as pd

from bmp_ray.pipeline import config as run_config
from bmp_ray.pipeline.runner import run
from tests.conftest import corrupt_packets
from tests.pipeline.conftest import TEST_SETTINGS

SETTINGS = [s for s in TEST_SETTINGS if not s.startswith("decode.stop")] + ["models.max_people=1"]


def test_a_damaged_video_is_partial_with_its_problems_and_counts(make_video, tmp_path, test_weights, caplog):
    src = tmp_path / "in"
    src.mkdir()
    good = make_video("good.mp4", n=24, width=64, height=48)
    corrupt_packets(good, src / "damaged.mp4", [8, 9])
    cut = make_video("cut.mp4", n=24, width=64, height=48, faststart=True).read_bytes()
    (src / "cut.mp4").write_bytes(cut[: int(len(cut) * 0.6)])
    (src / "good.mp4").write_bytes(good.read_bytes())
    cfg = run_config.load(overrides=SETTINGS + [f"models.weights={test_weights}"])
    with caplog.at_level(logging.WARNING):
        s = run([str(src)], str(tmp_path / "out"), cfg, use_ray=False)
    m = pd.read_parquet(tmp_path / "out" / "videos.parquet").set_index("video_id")
    assert m.loc["good.mp4", "status"] == "ok" and pd.isna(m.loc["good.mp4", "problems"])
    assert m.loc["good.mp4", "frames_decoded"] == 24 and m.loc["good.mp4", "frames_skipped"] == 0
    for vid in ("damaged.mp4", "cut.mp4"):
        row = m.loc[vid]
        assert row.status == "partial" and pd.isna(row.error), row.to_dict()
        assert row.problems and row.frames_written == row.frames_decoded < row.num_frames == 24, row.to_dict()
    assert "truncated or damaged" in m.loc["cut.mp4", "problems"]
    assert (s.ok, s.failed, sorted(s.partial)) == (3, 0, ["cut.mp4", "damaged.mp4"])
    # the log says what the row says
    for vid in ("damaged.mp4", "cut.mp4"):
        said = [
            r.getMessage().split(": ", 1)[1]
            for r in caplog.records
            if r.name == "bmp_ray.video.decode" and vid in r.getMessage()
        ]
        assert said and all(p in m.loc[vid, "problems"] for p in said)
    skipped = m.loc["damaged.mp4", "problems"].count("is corrupt and was skipped")
    assert m.loc["damaged.mp4", "frames_skipped"] == skipped
    # a rerun has nothing to do: a partial video is final (its input stays damaged)
    again = run([str(src)], str(tmp_path / "out"), cfg, use_ray=False)
    assert again.segments == 0 and again.ok == 3
