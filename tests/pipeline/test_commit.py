"""commit_segment (parts -> public poses and frames files) and finalize_video (the video marker)."""

import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bmp_ray.errors import SchemaError
from bmp_ray.export import read_results
from bmp_ray.export.parquet import output_name
from bmp_ray.export.schema import results_to_arrow
from bmp_ray.pipeline import commit, parts
from bmp_ray.pipeline.ledger import Ledger
from bmp_ray.video.segments import Segment
from tests.export.test_schema import frame

VID = "cam/a.mp4"
S0 = output_name(VID, Segment(0, 2, 0, 4).suffix)
S1 = output_name(VID, Segment(1, 2, 4, 8).suffix)
RUN = {"fingerprint": "fp-123", "models": {"detector": "rtmdet-test"}, "segment_frames": 4}


def summary(name, decoded, status="ok", error=None, **kw):
    return {
        "name": name,
        "video_id": VID,
        "path": "/in/cam/a.mp4",
        "status": status,
        "error": error,
        "frames_decoded": decoded,
        "problems": [],
        "num_frames": 8,
        "fps": 25.0,
        "width": 7,
        "height": 13,
        "codec": "h264",
        "duration_s": 0.32,
        "rotation": 0,
        "started": time.time() - 1.0,
        **kw,
    }


def ledger_parts(receipts):
    """The parts in the order the sink hands them to the commit (the ledger's path order)."""
    led = Ledger({r["name"]: VID for r in receipts}, {VID: sorted({r["name"] for r in receipts})})
    for r in receipts:
        led.add(r)
    return led.parts(receipts[0]["name"])


def test_commit_merges_overlapping_parts_once_sorted_and_removes_the_parts(tmp_path, monkeypatch):
    out = str(tmp_path)
    # Two overlapping parts: frame 2 is in both, with other values in the second (a retried batch).
    first = parts.write_part(out, S0, [frame(2, 1), frame(0, 2), frame(1, 0)])
    second = parts.write_part(out, S0, [frame(3, 2), frame(2, 3, seed=99)])
    plist = ledger_parts([second, first])
    assert [p for p, _ in plist] == [first["path"], second["path"]]  # 00000000-... sorts before 00000002-...

    seen = []

    def record(point):  # which public files exist at each fault point of the commit
        seen.append(
            (
                point,
                os.path.exists(tmp_path / "poses" / f"{S0}.parquet"),
                os.path.exists(tmp_path / "frames" / f"{S0}.parquet"),
            )
        )

    monkeypatch.setattr(commit.faults, "point", record)
    got = commit.commit_segment(out, S0, plist, summary(S0, 4), RUN)
    assert got == {"name": S0, "frames": 4, "people": 2 + 0 + 1 + 2}
    assert seen == [("commit.between_files", True, False), ("commit.before_cleanup", True, True)]

    back = read_results(out, S0)
    assert [r.frame_index for r in back] == [0, 1, 2, 3]
    want = [frame(0, 2), frame(1, 0), frame(2, 1), frame(3, 2)]  # frame 2 from the first part in path order
    assert all(a.equals(b) for a, b in zip(want, back))
    assert not os.path.exists(parts.parts_dir(out, S0))
    assert sorted(os.listdir(tmp_path / "poses")) == [f"{S0}.parquet"]  # no temporaries left

    poses = pq.read_table(tmp_path / "poses" / f"{S0}.parquet")
    assert poses.column("frame_index").to_pylist() == [0, 0, 2, 3, 3]
    assert poses.column("person_index").to_pylist() == [0, 1, 0, 0, 1]
    for table in ("poses", "frames"):
        md = pq.read_schema(tmp_path / table / f"{S0}.parquet").metadata
        assert json.loads(md[b"bmp_ray.run"]) == RUN
        assert md[commit.FINGERPRINT_KEY] == b"fp-123" and md[b"bmp_ray.table"] == table.encode()
        seg = json.loads(md[commit.SEGMENT_KEY])
        assert (seg["name"], seg["frames_decoded"], seg["frames_written"], seg["status"]) == (S0, 4, 4, "ok")
        assert 0.5 < seg["seconds"] < 60
    assert commit.segment_summary(out, S0)["frames_written"] == 4


def test_commit_takes_the_first_part_in_the_given_order(tmp_path):
    """merge_parts itself: the overlapping frame comes from whichever part is listed first."""
    a = parts.write_part(str(tmp_path), S0, [frame(0, 1), frame(1, 2)])
    b = parts.write_part(str(tmp_path), S0, [frame(1, 1, seed=7)])
    frames, poses = commit.merge_parts([(b["path"], [1]), (a["path"], [0, 1])])
    assert frames.column("frame_index").to_pylist() == [0, 1]
    assert frames.column("num_people").to_pylist() == [1, 1]  # frame 1 from b (one person), not a (two)
    assert poses.num_rows == 2


def test_commit_is_idempotent(tmp_path):
    out = str(tmp_path)
    r = parts.write_part(out, S0, [frame(0, 2), frame(1, 1)])
    plist = [(r["path"], [0, 1])]
    first = commit.commit_segment(out, S0, plist, summary(S0, 2), RUN)
    parts.write_part(out, S0, [frame(0, 2), frame(1, 1)])  # a retried commit finds its parts rewritten
    again = commit.commit_segment(out, S0, plist, summary(S0, 2), RUN)
    assert first == again == {"name": S0, "frames": 2, "people": 3}
    assert pq.read_table(tmp_path / "poses").num_rows == 3


def test_commit_refuses_parts_that_do_not_cover_the_decoded_frames(tmp_path):
    out = str(tmp_path)
    r = parts.write_part(out, S0, [frame(0, 2), frame(1, 1)])
    with pytest.raises(SchemaError, match="2 frames in its parts, 3 decoded"):
        commit.commit_segment(out, S0, [(r["path"], [0, 1])], summary(S0, 3), RUN)
    assert not (tmp_path / "frames").exists() and not (tmp_path / "poses").exists()
    assert os.path.exists(r["path"])  # nothing removed: a rerun can redo it


def test_commit_of_an_empty_ok_segment_writes_empty_files(tmp_path):
    out = str(tmp_path)
    got = commit.commit_segment(out, S1, [], summary(S1, 0), RUN)
    assert got == {"name": S1, "frames": 0, "people": 0}
    assert pq.read_table(tmp_path / "frames" / f"{S1}.parquet").num_rows == 0


def test_check_segment_finds_repeated_keys():
    frames, poses = commit.merge_parts([])
    f, p = results_to_arrow([frame(0, 2)])
    with pytest.raises(SchemaError, match="appears twice"):
        commit.check_segment(S0, pa.concat_tables([f, f]), pa.concat_tables([p, p]), 2)
    with pytest.raises(SchemaError, match="people"):
        commit.check_segment(S0, f, p.slice(0, 1), 1)
    commit.check_segment(S0, f, p, 1)
    assert frames.num_rows == 0 and poses.num_rows == 0


def _commit_two(out):
    for name, idx in ((S0, [0, 1, 2, 3]), (S1, [4, 5, 6])):
        r = parts.write_part(out, name, [frame(i, 1) for i in idx])
        commit.commit_segment(out, name, [(r["path"], idx)], summary(name, len(idx)), RUN)


def test_finalize_writes_the_marker_with_the_folded_row(tmp_path):
    out = str(tmp_path)
    _commit_two(out)
    row = commit.finalize_video(out, VID, "/in/cam/a.mp4", [S0, S1], {}, RUN)
    assert (row["video_id"], row["path"], row["status"], row["error"]) == (VID, "/in/cam/a.mp4", "ok", None)
    assert (row["frames_decoded"], row["frames_written"]) == (7, 7)
    assert (row["num_frames"], row["fps"], row["codec"], row["rotation"]) == (8, 25.0, "h264", 0)
    assert row["seconds"] >= 2.0  # each segment started a second before its commit
    markers = commit.read_markers(out)
    assert list(markers) == [VID]
    tracks = markers[VID].pop("tracks")  # the tracking step's counts (pipeline.tracks; tests/pipeline/test_tracks.py)
    assert markers[VID] == {"row": row, "segments": [S0, S1], "fingerprint": "fp-123"}
    assert set(tracks) == {"tracks", "rows", "interpolated"}
    assert os.listdir(tmp_path / commit.VIDEOS) == [f"{output_name(VID)}.json"]
    assert commit.marker_uri(out, VID) == str(tmp_path / commit.VIDEOS / f"{output_name(VID)}.json")


def test_finalize_with_failed_segments_joins_their_errors(tmp_path):
    out = str(tmp_path)
    r = parts.write_part(out, S0, [frame(i, 1) for i in range(4)])
    commit.commit_segment(out, S0, [(r["path"], [0, 1, 2, 3])], summary(S0, 4), RUN)
    s2 = output_name(VID, Segment(2, 3, 8, 12).suffix)
    failures = {
        S1: summary(S1, 2, status="error", error="a.mp4: corrupt: bad packet at 6"),
        s2: summary(s2, 0, status="error", error="a.mp4: truncated"),
    }
    row = commit.finalize_video(out, VID, "/in/cam/a.mp4", [S0, S1, s2], failures, RUN)
    assert row["status"] == "error"
    assert row["error"] == "a.mp4: corrupt: bad packet at 6; a.mp4: truncated"
    assert (row["frames_decoded"], row["frames_written"]) == (6, 4)
    assert commit.read_markers(out)[VID]["row"] == row


def test_read_markers_of_a_folder_without_markers(tmp_path):
    assert commit.read_markers(str(tmp_path)) == {}


def test_manifest_row_sums_and_joins():
    row = commit.manifest_row(
        "v",
        "/v",
        [
            {"status": "ok", "frames_decoded": 3, "frames_written": 3, "seconds": 0.25, "fps": None},
            {"status": "error", "error": "boom", "frames_decoded": 1, "seconds": 0.5, "fps": 30.0},
        ],
    )
    assert row == {
        "video_id": "v",
        "path": "/v",
        "status": "error",
        "error": "boom",
        "frames_decoded": 4,
        "frames_written": 3,
        "seconds": 0.75,
        "fps": 30.0,
        "frames_skipped": 0,
        "problems": None,
    }
    partial = commit.manifest_row(
        "v",
        "/v",
        [
            {"status": "partial", "frames_decoded": 3, "frames_skipped": 2, "problems": ["frame 4 is corrupt"]},
            {"status": "ok", "frames_decoded": 2, "problems": []},
        ],
    )
    assert (partial["status"], partial["error"], partial["problems"]) == ("partial", None, "frame 4 is corrupt")
    assert (partial["frames_decoded"], partial["frames_skipped"]) == (5, 2)
    worst = commit.manifest_row(
        "v", "/v", [{"status": "partial", "problems": ["x"]}, {"status": "error", "error": "e"}]
    )
    assert worst["status"] == "error" and worst["problems"] == "x"
    many = commit.manifest_row("v", "/v", [{"status": "partial", "problems": [f"p{i}" for i in range(25)]}])
    assert many["problems"].endswith(f"... {25 - commit.MAX_PROBLEMS} more")
