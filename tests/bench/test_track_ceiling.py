import argparse

import numpy as np

from bmp_ray.bench import track as bt
from bmp_ray.bench import track_ceiling as tc
from tests.track.helpers import frame


def test_true_ids_match_by_iou_and_leave_poor_overlaps_unmatched():
    gt = {1: (np.array([4, 9]), np.array([[0.0, 0, 10, 20], [50, 0, 10, 20]]))}
    # the first box is the second person's, shifted by 1 px; the second overlaps the first person at IoU 1/3
    res = [frame(1, [[51, 0, 61, 20], [5, 0, 15, 20]]), frame(2, [[0, 0, 10, 20]])]
    ids = tc.true_ids(res, gt)
    assert ids[0].tolist() == [9, -1] and ids[1].tolist() == [-1]  # frame 2 has no ground truth


def test_piece_identity_is_the_majority_and_minus_one_without_any():
    labels = [np.array([0, 1]), np.array([0, 1]), np.array([0, 2])]
    truth = [np.array([5, -1]), np.array([6, -1]), np.array([6, 3])]
    assert tc.piece_identity(labels, truth) == {0: 6, 1: -1, 2: 3}
    tie = tc.piece_identity([np.array([0]), np.array([0])], [np.array([8]), np.array([2])])
    assert tie == {0: 2}  # a tie goes to the smaller identity


def _pieces(spans: dict[int, tuple[int, int]], frames: int) -> list[np.ndarray]:
    """A labelling with one detection per piece and frame: piece v on frames spans[v][0]..spans[v][1]."""
    out = []
    for t in range(frames):
        out.append(np.array([v for v, (a, b) in sorted(spans.items()) if a <= t <= b], np.int64))
    return out


def test_oracle_link_joins_pieces_of_one_identity_within_the_gap_only():
    spans = {0: (0, 2), 1: (10, 12), 2: (40, 42), 3: (5, 7), 4: (11, 14)}
    labels = _pieces(spans, 50)
    identity = {0: 7, 1: 7, 2: 7, 3: -1, 4: 7}  # 4 overlaps 1 in time: the same person twice (an impure piece)

    def groups(max_gap):
        out = tc.oracle_link(labels, identity, max_gap)
        first = {v: int(out[a][list(labels[a]).index(v)]) for v, (a, _) in spans.items()}
        return first

    g15 = groups(15)
    assert g15[1] == g15[0] and g15[3] == 3
    assert g15[4] not in (g15[0], g15[1]) and g15[4] == 4  # it starts before its chain (0, 1) ended: a chain of its own
    assert g15[2] not in (g15[0], g15[4])  # 26 frames after the latest chain end
    g30 = groups(30)
    assert g30[2] == g30[4] != g30[0]  # the chain that ended last before it (frame 14, not 12)
    assert groups(None)[2] == groups(None)[4]
    assert groups(0)[1] == 1 and groups(0)[2] == 2  # no gap allowed: nothing joined


def test_oracle_link_chains_in_time_order_and_leaves_unknown_pieces_alone():
    spans = {0: (0, 1), 1: (3, 4), 2: (6, 7), 5: (2, 9)}
    labels = _pieces(spans, 10)
    out = tc.oracle_link(labels, {0: 1, 1: 1, 2: 1, 5: -1}, 2)
    assert [x.tolist() for x in out[:8]] == [[0], [0], [5], [0, 5], [0, 5], [5], [0, 5], [0, 5]]


def test_ground_truth_as_detections_reaches_the_ceiling_without_a_switch(shared_data):
    gt = bt.read_mot(shared_data / bt.SEQUENCES["TUD-Stadtmitte"][0])
    gt = {f: v for f, v in gt.items() if f <= 80}
    exact = bt.Level(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    res = bt.synthesize(gt, (640, 480), exact, 0)
    m = bt.evaluate(gt, bt.ceiling_rows(res, gt, None))
    assert m["idsw"] == 0 and m["hota"] >= 98  # boxes clipped at the frame's border lose a little DetA


def test_the_ceiling_grows_with_the_gap_and_is_above_the_tracker(shared_data):
    gt = bt.read_mot(shared_data / bt.SEQUENCES["dancetrack0026"][0])
    gt = {f: v for f, v in gt.items() if f <= 120}
    res = bt.synthesize(gt, (1280, 720), bt.LEVELS["A"], 3)
    hota = {g: bt.evaluate(gt, bt.ceiling_rows(res, gt, g))["hota"] for g in (0, 15, 30, None)}
    ours = bt.evaluate(gt, bt.tracked_rows(res, None)[0])["hota"]
    assert hota[0] < hota[15] <= hota[30] <= hota[None]
    assert hota[None] > ours  # the oracle links the same pieces at least as well as the linker


def test_bench_with_ceiling_reports_its_keys_and_column(shared_data):
    p = argparse.ArgumentParser()
    bt.add_arguments(p)
    out = bt.run(p.parse_args(["--quick", "--ceiling"]))
    r = out["results"]["TUD-Stadtmitte"]["A"]
    for k in ("15", "30", "all"):
        for m in ("hota", "idf1", "idsw"):
            assert f"ceiling_{k}_{m}" in r
    assert r["ceiling_15_hota"] <= r["ceiling_30_hota"] <= r["ceiling_all_hota"]
    assert out["rows"][0][-1] == "ceiling HOTA <=15/30/all"
    assert out["rows"][1][-1] == "/".join(f"{r[f'ceiling_{k}_hota']:.1f}" for k in ("15", "30", "all"))
    assert [len(row) for row in out["rows"]] == [len(out["rows"][0])] * len(out["rows"])
