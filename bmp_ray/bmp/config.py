"""Every threshold and count of the BMP loop, in one validated, typed, frozen config."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from bmp_ray.settings import build, check, is_int, is_num


@dataclasses.dataclass(frozen=True)
class BMPConfig:
    """The BMP loop's settings; the defaults are the method's (``shared/spec/bmp-method.md``).

    Attributes:
        iterations: detect-pose-segment rounds per frame (>= 1).
        det_score_thr: keep detections of label 0 with score strictly above this.
        det_nms_iou: greedy box NMS IoU between the detections of one round.
        oks_thr: pose NMS: a pair with OKS strictly above this is a duplicate.
        oks_vis_thr: pose NMS: a keypoint counts as visible when its score is strictly above this (for
            the reference's keypoints in OKS and for the visible counts that decide who goes).
        prompt_thr: SAM prompts: a person needs a keypoint scoring strictly above this (else its box is
            the prompt); keypoints scoring at least this are the candidates.
        max_prompts: at most this many positive points per person.
        prompt_percentile: each next point is taken among candidates whose score is at least this
            percentile of the whole candidate score array, chosen points counting as -1.
    """

    iterations: int = 2
    det_score_thr: float = 0.3
    det_nms_iou: float = 0.3
    oks_thr: float = 0.8
    oks_vis_thr: float = 0.3
    prompt_thr: float = 0.3
    max_prompts: int = 6
    prompt_percentile: float = 80.0

    def __post_init__(self):
        def need(name, ok, want):
            check(ok(getattr(self, name)), f"bmp.{name}", want, getattr(self, name))

        need("iterations", lambda v: is_int(v) and v >= 1, "an integer >= 1")
        need("max_prompts", lambda v: is_int(v) and v >= 1, "an integer >= 1")
        for name in ("det_score_thr", "det_nms_iou", "oks_thr", "oks_vis_thr", "prompt_thr"):
            need(name, lambda v: is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
        need("prompt_percentile", lambda v: is_num(v) and 0.0 <= v <= 100.0, "a number in [0, 100]")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "BMPConfig":
        """From a mapping (a config file's ``bmp`` section; ``settings.build``): unknown keys are an error
        naming the known, errors are named ``bmp.key`` as in a run config."""
        return build(cls, dict(d or {}), "bmp")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
