"""Annotators in supervision's shape: ``annotate(frame, result) -> frame``.

``frame`` is an (H, W, 3) uint8 RGB image of the result's frame (``result.height x result.width``);
each annotator draws on it in place and returns it, so they chain (:class:`Overlay` copies the frame
first). Every person has one colour: its track id's when tracked, else its index in the frame's.
"""

from __future__ import annotations

import cv2
import numpy as np

from bmp_ray import keypoints as kp
from bmp_ray.result import FrameResult

# 20 well separated RGB colours (tab20 order, darker first)
PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (174, 199, 232),
        (255, 187, 120),
        (152, 223, 138),
        (255, 152, 150),
        (197, 176, 213),
        (196, 156, 148),
        (247, 182, 210),
        (199, 199, 199),
        (219, 219, 141),
        (158, 218, 229),
    ],
    np.uint8,
)


def colours(result: FrameResult) -> np.ndarray:
    """(N, 3) uint8 RGB: per track id where tracked (``track_ids >= 0``), else per person index."""
    key = np.where(result.track_ids >= 0, result.track_ids, np.arange(len(result)))
    return PALETTE[key % len(PALETTE)]


def _check(frame: np.ndarray, result: FrameResult) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (result.height, result.width, 3):
        got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(
            f"frame: expected ({result.height}, {result.width}, 3) uint8 RGB for {result.video_id} "
            f"frame {result.frame_index}, got {got}"
        )
    return frame


class MaskAnnotator:
    """Each person's refined (SAM) mask blended in its colour: ``(1 - opacity) * pixel + opacity * colour``."""

    def __init__(self, opacity: float = 0.5):
        if not 0.0 < opacity <= 1.0:
            raise ValueError(f"opacity: expected a number in (0, 1], got {opacity!r}")
        self.opacity = opacity

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        _check(frame, result)
        if not len(result):
            return frame
        for m, c in zip(result.mask_array(), colours(result)):
            px = frame[m].astype(np.float32)
            frame[m] = np.clip((1 - self.opacity) * px + self.opacity * c.astype(np.float32) + 0.5, 0, 255).astype(
                np.uint8
            )
        return frame


class BoxAnnotator:
    """Each person's detector box (xyxy, frame pixels) as a rectangle outline."""

    def __init__(self, thickness: int = 2):
        self.thickness = thickness

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        _check(frame, result)
        for (x1, y1, x2, y2), c in zip(result.boxes, colours(result)):
            cv2.rectangle(
                frame,
                (int(round(x1)), int(round(y1))),
                (int(round(x2)), int(round(y2))),
                tuple(int(v) for v in c),
                self.thickness,
                cv2.LINE_AA,
            )
        return frame


class SkeletonAnnotator:
    """The skeleton of the result's layout (17 or 21 keypoints, ``bmp_ray.keypoints``): a link where both
    ends score at least ``threshold``, a dot at every such keypoint; lower ones are left out."""

    def __init__(self, threshold: float = 0.3, radius: int = 3, thickness: int = 2):
        self.threshold, self.radius, self.thickness = threshold, radius, thickness

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        _check(frame, result)
        if not len(result):
            return frame
        links = kp.skeleton(result.num_keypoints)
        for person, c in zip(result.keypoints, colours(result)):
            colour = tuple(int(v) for v in c)
            good = person[:, 2] >= self.threshold
            xy = [(int(x), int(y)) for x, y in np.round(person[:, :2]).clip(-1e6, 1e6)]
            for a, b in links:
                if good[a] and good[b]:
                    cv2.line(frame, xy[a], xy[b], colour, self.thickness, cv2.LINE_AA)
            for p in np.flatnonzero(good):
                cv2.circle(frame, xy[p], self.radius, (255, 255, 255), -1, cv2.LINE_AA)
                cv2.circle(frame, xy[p], self.radius, colour, 1, cv2.LINE_AA)
        return frame


def label_text(result: FrameResult, j: int) -> str:
    """``"#7 0.83 it2"``: track id (``#-`` untracked), pose score, the BMP iteration that found person ``j``."""
    t = int(result.track_ids[j])
    return f"#{t if t >= 0 else '-'} {float(result.pose_scores[j]):.2f} it{int(result.iterations[j])}"


class LabelAnnotator:
    """A label (:func:`label_text`) on a filled box in the person's colour above its box's top-left corner."""

    def __init__(self, scale: float = 0.5, thickness: int = 1):
        self.scale, self.thickness = scale, thickness

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        _check(frame, result)
        font = cv2.FONT_HERSHEY_SIMPLEX
        for j, c in enumerate(colours(result)):
            text = label_text(result, j)
            (w, h), base = cv2.getTextSize(text, font, self.scale, self.thickness)
            x = int(np.clip(result.boxes[j, 0], 0, max(result.width - w, 0)))
            y = int(np.clip(result.boxes[j, 1], h + base, result.height))
            cv2.rectangle(frame, (x, y - h - base), (x + w, y), tuple(int(v) for v in c), -1)
            ink = (0, 0, 0) if int(c.astype(int).sum()) > 380 else (255, 255, 255)
            cv2.putText(frame, text, (x, y - base), font, self.scale, ink, self.thickness, cv2.LINE_AA)
        return frame


class Overlay:
    """Annotators applied in order to a copy of the frame."""

    def __init__(self, *annotators):
        self.annotators = annotators

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        out = np.array(_check(frame, result), copy=True)
        for a in self.annotators:
            out = a.annotate(out, result)
        return out


def default_overlay(threshold: float = 0.3, opacity: float = 0.5) -> Overlay:
    """Mask, box, skeleton (keypoints below ``threshold`` left out) and label, in that order."""
    return Overlay(MaskAnnotator(opacity), BoxAnnotator(), SkeletonAnnotator(threshold), LabelAnnotator())
