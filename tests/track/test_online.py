import numpy as np

from bmp_ray.track import TrackConfig
from bmp_ray.track.frames import from_results
from bmp_ray.track.online import track_pass
from tests.track.helpers import frame, walkers

CFG = TrackConfig()


def test_two_walkers_keep_their_labels():
    labels = track_pass(from_results(walkers(20), 0.3), CFG)
    assert all(lab.tolist() == [0, 1] for lab in labels)


def test_low_score_detection_is_kept_by_the_second_stage_only_for_a_track_seen_just_before():
    res = [
        frame(0, [[10, 10, 40, 70]]),
        frame(1, [[11, 10, 41, 70]], scores=[0.3]),
        frame(2, [[12, 10, 42, 70], [120, 10, 150, 70]], scores=[0.9, 0.3]),
    ]
    labels = track_pass(from_results(res, 0.3), CFG)
    assert labels[1].tolist() == [0]  # stage 2 keeps the weak detection on the track
    assert labels[2].tolist() == [0, -1]  # a weak detection with no track near it starts nothing


def test_confident_detections_are_matched_before_weak_ones():
    # the weak detection overlaps the track more, but the confident one takes it in stage 1
    res = [frame(0, [[10, 10, 40, 70]]), frame(1, [[10, 10, 40, 70], [16, 10, 46, 70]], scores=[0.3, 0.9])]
    labels = track_pass(from_results(res, 0.3), CFG)
    assert labels[1].tolist() == [-1, 0]


def test_a_track_survives_a_gap_up_to_max_age():
    skip = [(0, t) for t in range(5, 9)]
    labels = track_pass(from_results(walkers(15, people=1, speed=2.0, skip=skip), 0.3), CFG)
    assert {int(x) for lab in labels for x in lab} == {0}
    short = TrackConfig(max_age=2)
    labels = track_pass(from_results(walkers(15, people=1, speed=2.0, skip=skip), 0.3), short)
    assert labels[4].tolist() == [0] and labels[9].tolist() == [1]


def test_masks_decide_between_overlapping_boxes():
    # two people share almost the same box; the left and right halves of it are their exclusive masks
    h, w = 120, 200

    def halves(swap):
        m = np.zeros((2, h, w), bool)
        m[0, 20:100, 50:75] = True
        m[1, 20:100, 75:100] = True
        return m[::-1].copy() if swap else m

    boxes = [[50, 20, 100, 100], [51, 20, 101, 100]]
    res = [frame(0, boxes, masks=halves(False)), frame(1, boxes[::-1], masks=halves(False))]
    labels = track_pass(from_results(res, 0.3), TrackConfig(mask_weight=1.0))
    # frame 1 lists the boxes in the other order but the masks in the same: the masks win
    assert labels[1].tolist() == [0, 1]
    box_only = track_pass(from_results(res, 0.3), TrackConfig(mask_weight=0.0))
    assert box_only[1].tolist() == [1, 0]


def test_a_swapped_mask_does_not_replace_the_tracks_mask():
    from bmp_ray.track.online import _observe, _Tracks

    h, w = 120, 200
    m = np.zeros((2, h, w), bool)
    m[0, 20:100, 50:75] = True
    m[1, 20:100, 75:100] = True
    boxes = [[50, 20, 100, 100], [51, 20, 101, 100]]
    f0 = from_results([frame(0, boxes, masks=m)], 0.3)[0]
    f1 = from_results([frame(1, boxes, masks=m[::-1].copy())], 0.3)[0]  # BMP swapped the two masks
    tr = _Tracks(17)
    tr.add(f0, np.array([0, 1]), 0, np.array([0, 1]))
    kept = list(tr.masks)
    _observe(tr, f1, np.array([0, 1]), np.array([0, 1]), 1, check=True)
    assert tr.masks == kept and tr.cue_t.tolist() == [0, 0]
    _observe(tr, f1, np.array([0, 1]), np.array([0, 1]), 2, check=False)  # without the check they are taken
    assert tr.masks == [f1.masks[0], f1.masks[1]]


def test_a_tracks_mask_is_compared_whatever_its_age():
    # track 0 is seen every frame; track 1 is missed in frames 1-3, so its mask is 4 frames old in frame
    # 4, where one detection of person 0 shows a smaller visible part (mask IoU 1/3 with its own mask, 0
    # with track 1's) in a box overlapping track 1's prediction less (IoU 0.70) than track 0's (0.92).
    # Weighed with the mask cue on one side only, the stale track took it (box IoU alone, 0.70 > the
    # mean 0.63); with the mask cue on every pair, track 0 keeps its person.
    h, w = 120, 200

    def masks(spans):
        m = np.zeros((len(spans), h, w), bool)
        for k, (a, b) in enumerate(spans):
            m[k, 20:100, a:b] = True
        return m

    both = [[50, 20, 100, 100], [60, 20, 110, 100]]
    res = [frame(0, both, masks=masks([(50, 80), (80, 110)]))]
    res += [frame(t, both[:1], masks=masks([(50, 80)])) for t in (1, 2, 3)]
    res += [frame(4, [[52, 20, 102, 100]], masks=masks([(52, 62)]))]
    labels = track_pass(from_results(res, 0.3), TrackConfig(mask_weight=1.0))
    assert labels[4].tolist() == [0]
