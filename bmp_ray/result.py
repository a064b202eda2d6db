"""The one result type: every person found in one frame, as parallel column arrays.

Foreign results (mmdet ``DetDataSample``, mmpose ``PoseDataSample``, SAM arrays) are converted to this
at the edge and never cross a stage boundary. A frame with nobody in it has ``N = 0``; there is never a
placeholder person. Arrays are made read-only, so a ``FrameResult`` is frozen all the way down.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from bmp_ray import masks as _masks
from bmp_ray.keypoints import pose_score


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only array; a copy when ``a`` is writable, so the caller's array is never frozen."""
    if a.flags.writeable:
        a = a.copy()
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class FrameResult:
    """People found in one frame.

    Attributes:
        video_id: id of the source video (path relative to the archive root).
        frame_index: index of the frame in the source video.
        pts_s: presentation time of the frame, seconds.
        height, width: frame size in pixels (masks are encoded at this size).
        boxes: (N, 4) float32, detector boxes, xyxy, frame pixels.
        box_scores: (N,) float32, detector scores.
        keypoints: (N, K, 3) float32, x and y in frame pixels and a score; K is 17 (COCO) or 21.
        pose_scores: (N,) float32, mean score of the 17 COCO keypoints.
        masks: (N,) object array of bytes, COCO compressed RLE of the refined (SAM) masks.
        mask_scores: (N,) float32, SAM's predicted IoU.
        det_masks: (N,) object array of bytes, COCO RLE of the detector masks; ``b""`` where absent.
        iterations: (N,) int8, the BMP iteration (1-based) that found each person.
        track_ids: (N,) int64, identity across frames; -1 where untracked.
    """

    video_id: str
    frame_index: int
    pts_s: float
    height: int
    width: int
    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    pose_scores: np.ndarray
    masks: np.ndarray
    mask_scores: np.ndarray
    det_masks: np.ndarray
    iterations: np.ndarray
    track_ids: np.ndarray

    def __post_init__(self):
        def fail(name, want, got):
            raise ValueError(f"FrameResult.{name}: expected {want}, got {got}")

        if not isinstance(self.video_id, str) or not self.video_id:
            fail("video_id", "a non-empty str", repr(self.video_id))
        for name in ("frame_index", "height", "width"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                fail(name, "an integer >= 0", repr(v))
            object.__setattr__(self, name, int(v))
        object.__setattr__(self, "pts_s", float(self.pts_s))
        boxes = np.asarray(self.boxes)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            fail("boxes", "shape (N, 4)", boxes.shape)
        n = boxes.shape[0]
        kpts = np.asarray(self.keypoints)
        if kpts.ndim != 3 or kpts.shape[0] != n or kpts.shape[2] != 3 or kpts.shape[1] < 17:
            fail("keypoints", f"shape ({n}, K>=17, 3)", kpts.shape)
        cols = {"boxes": (boxes, np.float32), "keypoints": (kpts, np.float32)}
        for name, dtype in (
            ("box_scores", np.float32),
            ("pose_scores", np.float32),
            ("mask_scores", np.float32),
            ("iterations", np.int8),
            ("track_ids", np.int64),
        ):
            a = np.asarray(getattr(self, name))
            if a.shape != (n,):
                fail(name, f"shape ({n},)", a.shape)
            if dtype is not np.float32 and a.size and not np.issubdtype(a.dtype, np.integer):
                fail(name, "integers", a.dtype)
            cols[name] = (a, dtype)
        for name in ("masks", "det_masks"):
            a = np.asarray(getattr(self, name), dtype=object)
            if a.shape != (n,) or not all(isinstance(c, bytes) for c in a):
                kinds = sorted({type(c).__name__ for c in a.ravel()})
                fail(name, f"({n},) bytes (COCO RLE counts)", f"{a.shape} of {kinds}")
            cols[name] = (a, object)
        for name, (a, dtype) in cols.items():
            object.__setattr__(self, name, _readonly(a.astype(dtype, copy=False)))

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def empty(
        cls, video_id: str, frame_index: int, pts_s: float, height: int, width: int, num_keypoints: int = 17
    ) -> "FrameResult":
        """A frame with nobody in it."""
        z = np.zeros
        return cls(
            video_id=video_id,
            frame_index=frame_index,
            pts_s=pts_s,
            height=height,
            width=width,
            boxes=z((0, 4), np.float32),
            box_scores=z(0, np.float32),
            keypoints=z((0, num_keypoints, 3), np.float32),
            pose_scores=z(0, np.float32),
            masks=z(0, object),
            mask_scores=z(0, np.float32),
            det_masks=z(0, object),
            iterations=z(0, np.int8),
            track_ids=z(0, np.int64),
        )

    @classmethod
    def from_dense(
        cls,
        video_id: str,
        frame_index: int,
        pts_s: float,
        *,
        boxes,
        box_scores,
        keypoints,
        masks: np.ndarray,
        mask_scores,
        iterations,
        det_masks: np.ndarray | None = None,
        track_ids=None,
    ) -> "FrameResult":
        """Build from (N, H, W) bool masks; the pose score is the mean of the 17 COCO keypoint scores."""
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"FrameResult.from_dense: masks must be (N, H, W), got {masks.shape}")
        n, h, w = masks.shape
        kpts = np.asarray(keypoints, np.float32)
        det = [b""] * n if det_masks is None else _masks.encode(det_masks)
        return cls.from_rle(
            video_id,
            frame_index,
            pts_s,
            h,
            w,
            boxes=boxes,
            box_scores=box_scores,
            keypoints=kpts,
            masks=np.array(_masks.encode(masks), object),
            mask_scores=mask_scores,
            det_masks=np.array(det, object),
            iterations=iterations,
            track_ids=track_ids,
        )

    @classmethod
    def from_rle(
        cls,
        video_id: str,
        frame_index: int,
        pts_s: float,
        height: int,
        width: int,
        *,
        boxes,
        box_scores,
        keypoints,
        masks,
        mask_scores,
        iterations,
        det_masks=None,
        pose_scores=None,
        track_ids=None,
    ) -> "FrameResult":
        """Build from COCO RLE counts at (height, width); ``pose_scores`` default to the mean of the 17 COCO
        keypoint scores (``keypoints.pose_score``), ``det_masks`` to none (``b""``), ``track_ids`` to -1."""
        kpts = np.asarray(keypoints, np.float32)
        n = len(np.asarray(box_scores))
        if pose_scores is None:
            pose_scores = pose_score(kpts) if n else np.zeros(0, np.float32)
        return cls(
            video_id=video_id,
            frame_index=frame_index,
            pts_s=pts_s,
            height=height,
            width=width,
            boxes=boxes,
            box_scores=box_scores,
            keypoints=kpts,
            pose_scores=pose_scores,
            masks=masks,
            mask_scores=mask_scores,
            det_masks=np.array([b""] * n, object) if det_masks is None else det_masks,
            iterations=iterations,
            track_ids=np.full(n, -1, np.int64) if track_ids is None else track_ids,
        )

    @classmethod
    def concat(cls, results: "Sequence[FrameResult]") -> "FrameResult":
        """The people of several results of the same frame (same video, index and size), in order."""
        if not results:
            raise ValueError("FrameResult.concat: expected at least one result, got none")
        first = results[0]
        key = (first.video_id, first.frame_index, first.height, first.width, first.num_keypoints)
        for r in results[1:]:
            got = (r.video_id, r.frame_index, r.height, r.width, r.num_keypoints)
            if got != key:
                raise ValueError(f"FrameResult.concat: expected results of frame {key}, got {got}")
        cols = {
            f.name: np.concatenate([getattr(r, f.name) for r in results])
            for f in dataclasses.fields(cls)
            if isinstance(getattr(first, f.name), np.ndarray)
        }
        return dataclasses.replace(first, **cols)

    # -- access ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.boxes.shape[0]

    @property
    def num_keypoints(self) -> int:
        return self.keypoints.shape[1]

    def __getitem__(self, index) -> "FrameResult":
        """Select people with a boolean mask, an index array or a slice; a new ``FrameResult``."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        index = np.asarray(index) if not isinstance(index, slice) else index
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean index must have shape ({len(self)},), got {index.shape}")
        cols = {
            f.name: getattr(self, f.name)[index]
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return dataclasses.replace(self, **cols)

    def resized(self, height: int, width: int) -> "FrameResult":
        """This result in a frame of (height, width) pixels (a working-resolution result in the video's own
        pixels, ``decode.max_side``): boxes scaled, keypoints scaled about pixel centres
        (``(x + 0.5) * s - 0.5``), masks resized by nearest neighbour at pixel centres (``masks.resize_many``).
        ``self`` where the size is already that."""
        height, width = int(height), int(width)
        if (height, width) == (self.height, self.width):
            return self
        if not (height > 0 and width > 0 and self.height > 0 and self.width > 0):
            raise ValueError(f"resized: expected sizes > 0, got {self.height}x{self.width} -> {height}x{width}")
        sx, sy = width / self.width, height / self.height
        kpts = self.keypoints.astype(np.float64)
        kpts[..., 0] = (kpts[..., 0] + 0.5) * sx - 0.5
        kpts[..., 1] = (kpts[..., 1] + 0.5) * sy - 0.5
        size = (self.height, self.width, height, width)
        n = len(self.masks)
        both = _masks.resize_many([*self.masks, *self.det_masks], *size)  # one pass over both kinds
        return dataclasses.replace(
            self,
            height=height,
            width=width,
            boxes=(self.boxes * np.array([sx, sy, sx, sy])).astype(np.float32),
            keypoints=kpts.astype(np.float32),
            masks=np.array(both[:n] or [], object),
            det_masks=np.array(both[n:] or [], object),
        )

    def mask_array(self, refined: bool = True) -> np.ndarray:
        """(N, H, W) bool masks decoded from RLE (refined, or the detector's: absent ones are all False)."""
        if refined:
            return _masks.decode(self.masks, self.height, self.width)
        out = np.zeros((len(self), self.height, self.width), bool)
        have = np.array([len(c) > 0 for c in self.det_masks], bool)
        if have.any():
            out[have] = _masks.decode(self.det_masks[have], self.height, self.width)
        return out

    def equals(self, other: "FrameResult", atol: float = 0.0) -> bool:
        """Same frame, same people, same masks; floats within ``atol``."""
        if not isinstance(other, FrameResult):
            return False
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape:
                    return False
                if a.dtype == object:
                    if list(a) != list(b):
                        return False
                elif not np.allclose(a, b, atol=atol, rtol=0, equal_nan=True):
                    return False
            elif isinstance(a, float):
                if abs(a - b) > max(atol, 1e-9):
                    return False
            elif a != b:
                return False
        return True
