"""Pure unit tests of the driver's ledger: every order of receipts, duplicates, overlaps, errors."""

import json

from bmp_ray.pipeline import ledger as ledger_mod
from bmp_ray.pipeline.ledger import Ledger

A0, A1, B0 = "a.mp4.0001-f00000000-00000004", "a.mp4.0001-f00000004-00000008", "b.mp4.0002-f00000000-end"


def part(name, frames, vid="a.mp4", path=None):
    frames = list(frames)
    path = path or f"mem://out/_parts/{name}/{frames[0]:08d}-{frames[-1]:08d}-{len(frames)}.arrow"
    return {
        "kind": "part",
        "name": name,
        "video_id": vid,
        "path": path,
        "frames": json.dumps(frames),
        "rows": 2 * len(frames),
        "bytes": 100,
        "summary": "",
    }


def end(name, decoded, vid="a.mp4", status="ok", error=None):
    summary = {"name": name, "video_id": vid, "status": status, "error": error, "frames_decoded": decoded}
    return {
        "kind": "end",
        "name": name,
        "video_id": vid,
        "path": "",
        "frames": "[]",
        "rows": 0,
        "bytes": 0,
        "summary": json.dumps(summary),
    }


def two_videos(committed=()):
    todo = {A0: "a.mp4", A1: "a.mp4", B0: "b.mp4"}
    todo = {n: v for n, v in todo.items() if n not in committed}
    return Ledger(todo, {"a.mp4": [A0, A1], "b.mp4": [B0]}, committed)


def test_a_duplicated_receipt_counts_once():
    led = two_videos()
    p = part(A0, [0, 1, 2, 3])
    assert led.add(p) == []
    assert led.add(dict(p)) == []  # a retried write repeats the receipt
    assert led.duplicates == 1
    assert led.parts(A0) == [(p["path"], (0, 1, 2, 3))]
    assert led.add(end(A0, 4)) == [A0]
    assert led.add(end(A0, 4)) == []  # duplicated summary: ignored (segment is committing now)
    assert led.ignored == 1
    assert led.segments[A0].state == ledger_mod.COMMITTING


def test_a_duplicated_summary_before_the_parts_counts_once():
    led = two_videos()
    assert led.add(end(A0, 4)) == []
    assert led.add(end(A0, 5)) == []  # a retried decode: the first summary stays
    assert led.duplicates == 1 and led.summary(A0)["frames_decoded"] == 4
    assert led.add(part(A0, [0, 1, 2, 3])) == [A0]


def test_overlapping_parts_are_all_kept_in_path_order_and_cover_once():
    led = two_videos()
    first = part(A0, [2, 3], path="m://o/_parts/x/00000002-00000003-2-bb.arrow")
    second = part(A0, [0, 1, 2], path="m://o/_parts/x/00000000-00000002-3-aa.arrow")
    assert led.add(first) == []
    assert led.add(end(A0, 4)) == []  # frames 0 and 1 are not covered yet
    assert led.add(second) == [A0]
    assert led.segments[A0].covered == {0, 1, 2, 3}
    assert led.parts(A0) == [(second["path"], (0, 1, 2)), (first["path"], (2, 3))]  # path order
    assert led.duplicates == 0


def test_overlap_does_not_count_a_frame_twice():
    led = two_videos()
    led.add(part(A0, [0, 1, 2], path="p1"))
    led.add(part(A0, [1, 2], path="p2"))  # 5 frame receipts, 3 distinct frames
    assert led.add(end(A0, 4)) == []
    assert led.open_segments() == [A0, A1, B0]
    assert led.add(part(A0, [3], path="p3")) == [A0]


def test_out_of_order_receipts():
    led = two_videos()
    assert led.add(part(A0, [3])) == []
    assert led.add(part(A0, [1, 2])) == []
    assert led.add(end(A0, 4)) == []
    assert led.add(part(A0, [0])) == [A0]
    assert [f for _, f in led.parts(A0)] == [(0,), (1, 2), (3,)]


def test_summary_first_then_parts():
    led = two_videos()
    assert led.add(end(B0, 2, vid="b.mp4")) == []
    assert not led.ready(B0)
    assert led.add(part(B0, [0], vid="b.mp4")) == []
    assert led.add(part(B0, [1], vid="b.mp4")) == [B0]


def test_summary_last():
    led = two_videos()
    assert led.add(part(B0, [0, 1], vid="b.mp4")) == []
    assert not led.ready(B0)  # no summary: the decoder may still send frames
    assert led.add(end(B0, 2, vid="b.mp4")) == [B0]


def test_summary_accepts_a_dict_and_frames_a_list():
    led = two_videos()
    p = dict(part(B0, [0, 1], vid="b.mp4"), frames=[0, 1])
    e = end(B0, 2, vid="b.mp4")
    e["summary"] = json.loads(e["summary"])
    assert led.add(p) == [] and led.add(e) == [B0]


def test_an_error_summary_fails_the_segment_and_the_video_is_ready_with_its_failure():
    led = two_videos()
    assert led.add(part(B0, [0], vid="b.mp4")) == []  # frames before the decode error
    assert led.add(end(B0, 1, vid="b.mp4", status="error", error="b.mp4: corrupt: bad packet")) == []
    assert led.segments[B0].state == ledger_mod.FAILED
    assert led.ready_videos() == ["b.mp4"]
    failures = led.failures("b.mp4")
    assert list(failures) == [B0] and failures[B0]["error"] == "b.mp4: corrupt: bad packet"
    assert led.failures("a.mp4") == {}
    assert led.open_segments() == [A0, A1]


def test_a_failed_commit_fails_the_segment():
    led = two_videos()
    led.add(part(B0, [0, 1], vid="b.mp4"))
    assert led.add(end(B0, 2, vid="b.mp4")) == [B0]
    led.failed(B0, "writing the segment's results failed: OSError: disk full")
    assert led.ready_videos() == ["b.mp4"]
    s = led.failures("b.mp4")[B0]
    assert s["status"] == "error" and s["error"].endswith("disk full") and s["frames_decoded"] == 2


def test_a_late_receipt_after_the_commit_is_ignored():
    led = two_videos()
    led.add(part(B0, [0, 1], vid="b.mp4"))
    assert led.add(end(B0, 2, vid="b.mp4")) == [B0]
    zombie = part(B0, [1], vid="b.mp4", path="zombie")
    assert led.add(zombie) == []  # committing: not taken any more
    led.committed(B0, frames=2, people=4)
    assert led.add(dict(zombie, path="zombie2")) == []
    assert led.ignored == 2
    assert led.parts(B0) == [] and not led.segments[B0].covered  # a final segment keeps no parts
    assert led.segments[B0].state == ledger_mod.COMMITTED
    assert (led.frames, led.people) == (2, 4)


def test_receipts_of_unknown_segments_are_ignored():
    led = two_videos(committed=[A0])
    assert led.add(part("someone-else-f00000000-end", [0], vid="c.mp4")) == []
    assert led.add(part(A0, [0, 1, 2, 3])) == []  # committed by an earlier run: not in this run
    assert led.add(end(A0, 4)) == []
    assert led.ignored == 3
    assert A0 not in led.segments and led.open_segments() == [A1, B0]


def test_a_video_with_several_segments_is_ready_only_when_all_are_final():
    led = two_videos()
    for name, frames in ((A0, [0, 1, 2, 3]), (A1, [4, 5, 6, 7])):
        led.add(part(name, frames))
    assert led.add(end(A0, 4)) == [A0]
    led.committed(A0, 4, 8)
    assert led.ready_videos() == []  # A1 has no summary yet
    assert led.add(end(A1, 4)) == [A1]
    assert led.ready_videos() == []  # A1 is committing, not committed
    led.committed(A1, 4, 8)
    assert led.ready_videos() == ["a.mp4"]
    assert led.failures("a.mp4") == {}


def test_a_video_with_one_failed_and_one_committed_segment_is_ready():
    led = two_videos()
    led.add(part(A0, [0, 1, 2, 3]))
    led.add(end(A0, 4))
    led.add(end(A1, 0, status="error", error="a.mp4: truncated"))
    assert led.ready_videos() == []
    led.committed(A0, 4, 8)
    assert led.ready_videos() == ["a.mp4"]
    assert list(led.failures("a.mp4")) == [A1]


def test_a_video_committed_before_is_ready_at_once_for_its_finalize():
    led = two_videos(committed=[A0, A1])
    assert led.ready_videos() == ["a.mp4"]
    assert led.ready_videos() == []
    assert led.open_segments() == [B0]


def test_a_video_partly_committed_before_waits_for_the_rest():
    led = two_videos(committed=[A0])
    assert led.ready_videos() == []
    led.add(part(A1, [4, 5, 6, 7]))
    assert led.add(end(A1, 4)) == [A1]
    led.committed(A1, 4, 8)
    assert led.ready_videos() == ["a.mp4"]


def test_ready_videos_returns_each_video_once():
    led = two_videos()
    led.add(end(B0, 0, vid="b.mp4", status="error", error="x"))
    led.add(part(A0, [0, 1, 2, 3]))
    led.add(end(A0, 4))
    led.committed(A0, 4, 8)
    led.committed(A0, 4, 8)  # a repeated report of the same commit
    led.add(part(A1, [4, 5, 6, 7]))
    led.add(end(A1, 4))
    led.committed(A1, 4, 8)
    led.failed(B0, "again")  # already final
    assert led.ready_videos() == ["b.mp4", "a.mp4"]
    assert led.ready_videos() == []
    led.committed(A1, 4, 8)
    assert led.ready_videos() == []
    assert led.open_segments() == []
    assert led.frames == 8 and led.people == 16


def test_an_empty_ok_segment_is_ready_on_its_summary():
    led = two_videos()
    assert led.add(end(B0, 0, vid="b.mp4")) == [B0]
    assert led.parts(B0) == []
