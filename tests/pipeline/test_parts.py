"""The part writer: part files round trip, names are a function of the content, receipts."""

import json
import os
import pickle

import numpy as np
import pytest

from bmp_ray.export.parquet import output_name
from bmp_ray.export.schema import results_from_arrow
from bmp_ray.pipeline import parts
from bmp_ray.video.segments import Segment
from tests.export.test_schema import frame

VID = "cam/a.mp4"
NAME = output_name(VID, Segment(0, 2, 0, 8).suffix)
NAME2 = output_name(VID, Segment(1, 2, 8, 16).suffix)


def rows(items, summaries=None):
    """The last model stage's rows: ``items`` = [(segment name, FrameResult | END summary dict)]."""
    names, idx, summ, blobs = [], [], [], []
    for name, x in items:
        names.append(name)
        if isinstance(x, dict):
            idx.append(parts.END), summ.append(json.dumps(x)), blobs.append(b"")
        else:
            idx.append(x.frame_index), summ.append(""), blobs.append(pickle.dumps(x, protocol=5))
    return {
        "name": np.array(names),
        "frame_index": np.array(idx),
        "summary": np.array(summ),
        "result": np.array(blobs, object),
    }


def test_segment_names_carry_the_frame_range():
    assert NAME.endswith("-f00000000-00000008") and NAME2.endswith("-f00000008-00000016")
    assert output_name(VID, Segment(0, 1, 0, 2**31 - 1).suffix).endswith("-f00000000-end")


def test_write_part_then_read_part_round_trip(tmp_path):
    results = [frame(4, 2), frame(5, 0), frame(6, 3, h=1, w=1), frame(3, 1)]  # unsorted on purpose
    receipt = parts.write_part(str(tmp_path), NAME, results)
    frames, poses = parts.read_part(receipt["path"])
    back = results_from_arrow(frames, poses)
    want = sorted(results, key=lambda r: r.frame_index)
    assert [r.frame_index for r in back] == [3, 4, 5, 6]
    assert len(back) == 4 and all(a.equals(b) for a, b in zip(want, back))
    assert parts._FRAMES_KEY not in (poses.schema.metadata or {})
    assert receipt == {
        "kind": "part",
        "name": NAME,
        "video_id": VID,
        "path": receipt["path"],
        "frames": "[3, 4, 5, 6]",
        "rows": 6,
        "bytes": os.path.getsize(receipt["path"]),
        "summary": "",
    }
    assert receipt["path"].startswith(str(tmp_path / "_parts" / NAME) + "/")


def test_part_name_is_a_function_of_segment_and_frames(tmp_path):
    out = str(tmp_path)
    batch = [frame(0, 2), frame(1, 1)]
    a = parts.write_part(out, NAME, batch)
    b = parts.write_part(out, NAME, list(reversed(batch)))  # the same batch again (retried)
    assert a["path"] == b["path"] == parts.part_uri(out, NAME, [1, 0])
    assert os.listdir(tmp_path / "_parts" / NAME) == [os.path.basename(a["path"])]  # one file, no temporaries
    assert os.path.basename(a["path"]).startswith("00000000-00000001-2-")
    c = parts.write_part(out, NAME, [frame(0, 2), frame(2, 1)])  # other frames: another name
    d = parts.write_part(out, NAME2, batch)  # other segment: another folder
    assert len({a["path"], c["path"], d["path"]}) == 3
    assert parts.part_uri(out, NAME, [0, 2]) == c["path"]
    assert parts.part_uri(out, NAME, [0, 1, 2]) != parts.part_uri(out, NAME, [0, 2])
    assert sorted(os.listdir(tmp_path / "_parts")) == sorted([NAME, NAME2])


def test_write_parts_with_two_segments_and_an_end_row(tmp_path):
    summary = {"name": NAME, "video_id": VID, "status": "ok", "error": None, "frames_decoded": 2}
    batch = rows(
        [(NAME, frame(0, 2)), (NAME2, frame(8, 1)), (NAME, frame(1, 0)), (NAME, summary), (NAME2, frame(9, 3))]
    )
    out = parts.write_parts(batch, out=str(tmp_path))
    assert set(out) == set(parts.RECEIPT_COLUMNS) and len(out["kind"]) == 3
    receipts = parts.receipts_of(out)
    assert [r["kind"] for r in receipts] == ["part", "part", "end"]
    p1, p2, e = receipts
    assert (p1["name"], json.loads(p1["frames"]), p1["rows"]) == (NAME, [0, 1], 2)
    assert (p2["name"], json.loads(p2["frames"]), p2["rows"]) == (NAME2, [8, 9], 4)
    assert all(os.path.exists(r["path"]) and r["bytes"] == os.path.getsize(r["path"]) for r in (p1, p2))
    assert (e["name"], e["video_id"], e["path"], e["frames"], e["rows"]) == (NAME, VID, "", "[]", 0)
    assert json.loads(e["summary"]) == summary
    assert all(type(r["rows"]) is int and type(r["bytes"]) is int for r in receipts)  # plain Python values
    back = [f.frame_index for f in results_from_arrow(*parts.read_part(p2["path"]))]
    assert back == [8, 9]


def test_write_parts_with_only_an_end_row_writes_nothing(tmp_path):
    summary = {"name": NAME, "video_id": VID, "status": "error", "error": "x: corrupt", "frames_decoded": 0}
    receipts = parts.receipts_of(parts.write_parts(rows([(NAME, summary)]), out=str(tmp_path)))
    assert [r["kind"] for r in receipts] == ["end"] and json.loads(receipts[0]["summary"])["error"] == "x: corrupt"
    assert not (tmp_path / "_parts").exists()


def test_receipts_batch_round_trip_and_empty():
    r = parts.end_receipt(NAME, {"video_id": VID, "frames_decoded": 3})
    assert parts.receipts_of(parts.receipts_batch([r, r])) == [r, r]
    empty = parts.receipts_batch([])
    assert set(empty) == set(parts.RECEIPT_COLUMNS) and parts.receipts_of(empty) == []


@pytest.mark.parametrize("k", [17, 21])
def test_a_part_keeps_the_keypoint_count(tmp_path, k):
    r = parts.write_part(str(tmp_path), NAME, [frame(0, 2, k=k)])
    back = results_from_arrow(*parts.read_part(r["path"]))
    assert back[0].keypoints.shape == (2, k, 3)
