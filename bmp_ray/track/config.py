"""The tracker's settings: one typed, validated, frozen dataclass (the ``[track]`` section of a run).

Every value is checked in ``__post_init__``; a wrong one raises ``ConfigError`` naming the key, what was
expected and what came (``bmp_ray.settings.check``, the one error form of every config).
"""

from __future__ import annotations

import dataclasses

from bmp_ray.settings import check, is_int, is_num


@dataclasses.dataclass(frozen=True)
class TrackConfig:
    """How identities are given to the people of one video (``bmp_ray.track``).

    Attributes:
        enabled: run the tracker (False: ``track_ids`` stay -1).
        high_score: detections with a box score at or above this are matched first (ByteTrack stage 1)
            and may start tracks.
        low_score: detections below this are ignored; those in [low_score, high_score) are matched in
            the second stage, to tracks seen in the previous frame, by box IoU only.
        new_track_score: an unmatched detection starts a track when its score is at least this.
        match_min: stage 1: the least combined similarity (0-1) of a detection and a track.
        low_match_min: stage 2: the least box IoU of a low-score detection and a track.
        box_weight, mask_weight, pose_weight: weights of the three cues (box IoU against the Kalman
            prediction, mask IoU against the track's last accepted mask, keypoint OKS against its last
            confident pose) in the combined similarity; a cue that is missing on either side is left
            out. The mask and pose cues are off by default: on the synthetic protocol of ``bmp-ray
            bench track`` they do not raise HOTA beyond seed noise (mask 0.5: +0.8 DanceTrack A over
            seeds 0-5 but -0.9 over seeds 6-8, TUD-Stadtmitte A +0.8 then -4.5: when two people
            change depth order their visible parts, hence their masks, trade pixels, which amodal
            boxes do not); set them above 0 to use them.
        keypoint_score: a joint counts as confident when its score is at least this.
        max_age: frames a track without a detection is kept for re-association.
        bidirectional: also track the video backwards and keep only the associations both passes agree
            on (a disagreement cuts the track, for the linker to judge). Off by default: on the bench
            the cuts cost more than the linker repairs.
        cut_gap: an online track picked up again more than this many frames after its last detection is
            cut there, and the linker decides again with both sides of the gap and every other tracklet
            end in competition (0: no cuts; cuts are made only with linking on, ``link_max_gap`` > 0).
            On the bench, 5 with ``link_min`` 0.25 and ``link_margin`` 0: DanceTrack HOTA +3.8 (A) and
            +3.5 (B), TUD unchanged or better (README).
        link_max_gap: tracklets whose gap is at most this many frames may be linked (0: no linking, sole
            pairs included).
        link_min: the least link score (0-1) of a linked pair.
        link_margin: a link is refused unless its score beats every competitor of both ends by this
            (0: the pair must be the best of both ends, ties included).
        link_sole_max_gap: after that, a pair within this many frames whose extrapolations meet while
            no other candidate of either end's does is linked at a score of at least ``link_sole_min``
            (0: no such links). On the bench, 45 and 0.1: TUD-Stadtmitte A +0.6 (to 88.05), B +1.1,
            DanceTrack A +0.25, B -0.1 (seeds 0-8); on seeds 9-17 +0.3 / +1.1 / +0.24 / +0.19.
        link_sole_min: the least link score of such a sole pair.
        min_track_rows: tracks with fewer detected rows are dropped (their rows get -1).
        interpolate_max_gap: gaps of at most this many frames inside a track are filled with
            interpolated rows (0: none).
        window_frames: link the online passes' pieces in windows of this many frames and stitch them (0:
            the whole video at once); the online passes always sweep the whole video.
        window_overlap: frames shared by consecutive windows; the stitching votes on them.
    """

    enabled: bool = True
    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_min: float = 0.3
    low_match_min: float = 0.5
    box_weight: float = 1.0
    mask_weight: float = 0.0
    pose_weight: float = 0.0
    keypoint_score: float = 0.3
    max_age: int = 30
    bidirectional: bool = False
    cut_gap: int = 5
    link_max_gap: int = 30
    link_min: float = 0.25
    link_margin: float = 0.0
    link_sole_max_gap: int = 45
    link_sole_min: float = 0.1
    min_track_rows: int = 3
    interpolate_max_gap: int = 30
    window_frames: int = 1800
    window_overlap: int = 60

    def __post_init__(self):
        check(isinstance(self.enabled, bool), "track.enabled", "true or false", self.enabled)
        check(isinstance(self.bidirectional, bool), "track.bidirectional", "true or false", self.bidirectional)
        for name in (
            "high_score",
            "low_score",
            "new_track_score",
            "match_min",
            "low_match_min",
            "keypoint_score",
            "link_min",
            "link_margin",
            "link_sole_min",
        ):
            v = getattr(self, name)
            check(is_num(v) and 0 <= v <= 1, f"track.{name}", "a number in [0, 1]", v)
        check(
            self.low_score <= self.high_score,
            "track.low_score",
            f"a number <= high_score ({self.high_score})",
            self.low_score,
        )
        for name in ("box_weight", "mask_weight", "pose_weight"):
            v = getattr(self, name)
            check(is_num(v) and v >= 0, f"track.{name}", "a number >= 0", v)
        check(
            self.box_weight > 0,
            "track.box_weight",
            "a number > 0 (the box is the one cue always there)",
            self.box_weight,
        )
        for name, least in (
            ("max_age", 1),
            ("cut_gap", 0),
            ("link_max_gap", 0),
            ("link_sole_max_gap", 0),
            ("min_track_rows", 1),
            ("interpolate_max_gap", 0),
            ("window_frames", 0),
            ("window_overlap", 0),
        ):
            v = getattr(self, name)
            check(is_int(v) and v >= least, f"track.{name}", f"an integer >= {least}", v)
        if self.window_frames:
            check(
                self.window_overlap < self.window_frames // 2,
                "track.window_overlap",
                f"an integer < window_frames / 2 ({self.window_frames // 2})",
                self.window_overlap,
            )
            check(
                self.window_overlap >= 2,
                "track.window_overlap",
                "an integer >= 2 when window_frames > 0",
                self.window_overlap,
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
