"""The BMP loop over a batch of frames, on the three stage objects; plain Python, no Ray.

Per frame and iteration: detect (iteration 1 on the frame, later ones with every accepted person's
refined mask painted black), MaskPose on the ORIGINAL frame conditioned by each detection's mask, OKS
pose NMS against everyone accepted so far (losers removed, old or new), SAM on the ORIGINAL frame from
keypoint prompts with the frame's embedding computed once, exclusive masks for the new people.
Every stage call covers all frames of the batch at once (the detector and pose stages), or all
people of a frame at once (the SAM decoder).

Departures from the research code (release 1.1.0): the README's table, each pinned by a test. Here:
SAM gets RGB and one embedding per frame, reused in every iteration; SAM decodes all people of a frame
per call and the mask bookkeeping works in box windows; a person with no keypoint above the prompt
threshold is prompted with its detector box (the research code takes its first 6 keypoints); a frame
whose masked-out image did not change since its last detection is not detected again (the same input
would give the same detections, poses and NMS outcome). The rules themselves: ``bmp.rules``.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from typing import Sequence

import numpy as np

from bmp_ray import masks as _masks
from bmp_ray.bmp.config import BMPConfig
from bmp_ray.bmp.rules import pose_nms, select_prompts
from bmp_ray.keypoints import pose_score
from bmp_ray.models.common import check_frames
from bmp_ray.result import FrameResult

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Person:
    box: np.ndarray  # (4,) xyxy
    box_score: float
    det_mask: bytes  # COCO RLE counts at frame size
    kpts: np.ndarray  # (K, 3)
    score: float  # mean of the 17 COCO keypoint scores
    iteration: int
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # y0, y1, x0, x1 of the refined mask
    mask: np.ndarray | None = None  # (y1 - y0, x1 - x0) bool, the refined mask inside ``window``
    mask_score: float = 0.0

    runs: tuple | None = dataclasses.field(default=None, repr=False)  # (masks.to_runs, shape) of ``mask``, cached

    def window_mask(self) -> np.ndarray:
        """The refined mask inside ``window``, (y1 - y0, x1 - x0) bool C-ordered, decoded from its runs on
        first use after unpickling."""
        if self.mask is None and self.runs is not None:
            data, shape = self.runs
            self.mask = _masks.from_runs(data, *shape)
        return self.mask

    def __getstate__(self):  # the window mask crosses process boundaries as its row runs, made once
        d = dict(self.__dict__)
        if self.mask is not None and self.runs is None:
            self.runs = d["runs"] = (_masks.to_runs(self.mask), self.mask.shape)
        d["mask"] = None
        return d


def _window(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]):
    """Where windows ``a`` and ``b`` (y0, y1, x0, x1) intersect, as (slices into ``a``, slices into ``b``);
    None when they do not."""
    y0, y1, x0, x1 = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    if y0 >= y1 or x0 >= x1:
        return None
    return (
        (slice(y0 - a[0], y1 - a[0]), slice(x0 - a[2], x1 - a[2])),
        (slice(y0 - b[0], y1 - b[0]), slice(x0 - b[2], x1 - b[2])),
    )


def _union(windows) -> tuple[int, int, int, int]:
    """The smallest window holding every non-empty one of ``windows``; (0, 0, 0, 0) if none is."""
    ws = [w for w in windows if w[0] < w[1] and w[2] < w[3]]
    if not ws:
        return 0, 0, 0, 0
    return min(w[0] for w in ws), max(w[1] for w in ws), min(w[2] for w in ws), max(w[3] for w in ws)


class FrameState:
    """One frame's loop state: accepted people, this round's detections and poses, the SAM embedding.

    It travels between the pipeline's stages: pickling keeps everything but the frame itself
    (``attach`` puts it back); the people's refined masks pickle as their windows' row runs
    (``masks.to_runs``), decoded when first read; the embedding pickles itself, its tensors as CPU arrays
    (``models.segmenter.TensorEmbedding``), and stays those pickled bytes until it is read: the stages
    between two SAM steps pass it on untouched (no conversion from and back to its transport precision).
    No full-frame score map is kept: exclusivity works on a bool canvas over the new people's windows,
    the detector's erase map is painted from the windows.

    Attributes:
        rgb: (H, W, 3) uint8 RGB frame (not pickled).
        people: accepted people so far.
        embedding: the frame's segmenter embedding (SAM v1 or 2.1) once computed, else None (``embedded``
            tells which without unpickling it).
        changed: the masked-out image differs from the one last detected on.
        dets, kpts: this round's ``Detections`` and (N, K, 3) keypoints, between the detect, pose and
            segment steps (None otherwise).
        num_keypoints: K of the pose model (set by the first pose step).
    """

    def __init__(self, rgb: np.ndarray):
        self.people: list[_Person] = []
        self.embedding = None
        self.changed = True
        self.dets = None
        self.kpts = None
        self.num_keypoints = 0
        self.attach(rgb)

    def attach(self, rgb: np.ndarray) -> "FrameState":
        """Give the state its frame (after unpickling)."""
        self.rgb = rgb
        return self

    @property
    def embedding(self):
        e = self._embedding
        if isinstance(e, (bytes, memoryview)):  # as it crossed a stage boundary: unpickled when first read
            e = self._embedding = pickle.loads(e)
        return e

    @embedding.setter
    def embedding(self, e) -> None:
        self._embedding = e

    @property
    def embedded(self) -> bool:
        """The frame's embedding is computed (without unpickling it)."""
        return self._embedding is not None

    def pickled_embedding(self) -> bytes | memoryview:
        """The embedding as it crosses processes: its pickled bytes (those it came as, where it was not
        read since), b"" where there is none."""
        e = self._embedding
        if e is None:
            return b""
        return e if isinstance(e, (bytes, memoryview)) else pickle.dumps(e, protocol=5)

    def split(self) -> tuple[bytes, bytes | memoryview]:
        """The state pickled without its embedding, and the embedding's pickled bytes (b"" without one):
        how the pipeline's stages pass a state on, in two columns, so that the stages which do not read
        the embedding pass its column on untouched. ``joined`` puts them together again."""
        e, self._embedding = self._embedding, None
        try:
            state = pickle.dumps(self, protocol=5)
        finally:
            self._embedding = e
        return state, self.pickled_embedding()

    @classmethod
    def joined(cls, state, embedding, rgb: np.ndarray) -> "FrameState":
        """The state of ``split``'s two parts (bytes-like; an empty ``state``: a new one) on frame ``rgb``;
        the embedding stays its bytes until read."""
        s = pickle.loads(state).attach(rgb) if len(state) else cls(rgb)
        s.embedding = embedding if len(embedding) else None
        return s

    def __getstate__(self):
        d = {k: v for k, v in self.__dict__.items() if k != "rgb"}
        if d["_embedding"] is not None:
            d["_embedding"] = bytes(self.pickled_embedding())
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.rgb = None

    def erase(self) -> np.ndarray | None:
        """(H, W) bool: pixels of accepted people's refined masks (painted black before detecting).

        Precisely: the pixels whose highest mask score (float32) is finite. SAM's IoU always is; a +inf
        or NaN score on a pixel would make it non-finite, and is honoured so that the map equals that
        rule whatever the scores.
        """
        if not self.people:
            return None
        out = np.zeros(self.rgb.shape[:2], bool)
        scores = [np.float32(p.mask_score) for p in self.people]
        for p, s in zip(self.people, scores):
            if np.isfinite(s):
                y0, y1, x0, x1 = p.window
                out[y0:y1, x0:x1] |= p.window_mask()
        for p, s in zip(self.people, scores):
            if np.isnan(s) or s == np.inf:
                y0, y1, x0, x1 = p.window
                out[y0:y1, x0:x1] &= ~p.window_mask()
        return out

    def add_exclusive(self, new: list[_Person], windows: list, ious: np.ndarray) -> None:
        """Give the new people their masks, minus pixels an accepted or higher-scoring new person has.

        The new people go in the order (-IoU, index); a pixel of a new person's SAM mask is kept where
        its IoU (float32) is above that of every accepted person's refined mask and every earlier new
        person's SAM mask on the pixel (so ties go to the accepted, then the earlier new person): the
        rule of a full-frame best-score map (-inf: nobody), here on a bool canvas over the new people's
        windows only. The claims that beat a person are painted on it as that person's turn comes: in
        IoU order a claim that beats one person beats every later one, so each is painted once.

        Args:
            windows: per new person ``((y0, y1, x0, x1), mask)`` from ``Segmenter.segment_windows``.
            ious: (N,) SAM's predicted IoU, the score each mask competes with.
        """
        order = sorted(range(len(new)), key=lambda i: (-float(ious[i]), i))
        # the claims on pixels, (window, mask(), float32 score): accepted people (a mask decoded only if
        # it is needed), then each new person's SAM mask once its turn is over
        claims = [(p.window, p.window_mask, np.float32(p.mask_score)) for p in self.people]
        box = _union([w for w, _ in windows])
        taken = np.zeros((box[1] - box[0], box[3] - box[2]), bool)  # over ``box``: the claims in ``painted``
        painted: set[int] = set()
        kept = {}
        for i in order:
            window, m = windows[i]
            score = np.float32(ious[i])
            inside = _overlap(window, box)  # None for an empty window
            if not (inside and score > -np.inf):  # NaN and -inf are above nothing (-inf: nobody's pixel)
                kept[i] = m & np.zeros(m.shape, bool)
            else:
                beaten_by = {k for k, c in enumerate(claims) if not score > c[2]}
                if not painted <= beaten_by:  # never in IoU order (only NaN IoUs upset it): start over
                    taken[:] = False
                    painted = set()
                for k in sorted(beaten_by - painted):
                    w, mask, _ = claims[k]
                    if o := _overlap(box, w):
                        taken[o[0]] |= mask()[o[1]]
                painted |= beaten_by
                kept[i] = m > taken[inside[1]]  # m and not taken, in one pass
            claims.append((window, lambda m=m: m, score))
        for i, p in enumerate(new):
            (y0, _, x0, _), keep = windows[i][0], kept[i]
            sy0, sy1, sx0, sx1 = _window(keep)
            p.window = (y0 + sy0, y0 + sy1, x0 + sx0, x0 + sx1)
            p.mask = keep[sy0:sy1, sx0:sx1]
            p.mask_score = float(ious[i])
        self.people += new


def detect_step(detector, frames: Sequence[FrameState], config: BMPConfig) -> None:
    """Detect people in every frame whose masked-out image changed (accepted people painted black).

    Sets ``dets`` on those frames (and clears ``changed``); other frames keep ``dets = None``.
    """
    active = [s for s in frames if s.changed]
    if not active:
        return
    dets = detector(
        [s.rgb for s in active],
        erase=[s.erase() for s in active],
        score_thr=config.det_score_thr,
        nms_iou=config.det_nms_iou,
    )
    for s, d in zip(active, dets):
        s.dets, s.changed = d, False


def pose_step(pose, frames: Sequence[FrameState]) -> None:
    """MaskPose on the ORIGINAL frames, conditioned by each detection's mask; sets ``kpts`` (N, K, 3)."""
    active = [s for s in frames if s.dets is not None]
    for s in frames:
        s.num_keypoints = pose.num_keypoints
    if not active:
        return
    kpts = pose([s.rgb for s in active], [s.dets.boxes for s in active], [list(s.dets.masks) for s in active])
    for s, k in zip(active, kpts):
        s.kpts = k


def sam_step(sam, frames: Sequence[FrameState], iteration: int, config: BMPConfig) -> None:
    """Pose NMS against everyone accepted so far, then SAM masks (exclusive) for the survivors.

    ``iteration`` (1-based) is recorded on the new people. The embedding is computed here, once per
    frame, the first time a frame has someone to segment. Clears ``dets`` and ``kpts``.
    """
    to_segment: list[tuple[FrameState, list[_Person]]] = []
    for s in frames:
        d, k = s.dets, s.kpts
        s.dets = s.kpts = None
        if d is None or len(d) == 0:
            continue
        new = [
            _Person(d.boxes[j], float(d.scores[j]), d.masks[j], k[j], pose_score(k[j]), iteration)
            for j in range(len(d))
        ]
        everyone = s.people + new
        alive = pose_nms(
            np.stack([p.kpts for p in everyone]),
            np.stack([p.box for p in everyone]),
            config.oks_thr,
            config.oks_vis_thr,
        )
        m = len(s.people)
        if not alive[:m].all():
            s.people = [p for p, a in zip(s.people, alive[:m]) if a]
            s.changed = True
        survivors = [p for p, a in zip(new, alive[m:]) if a]
        if survivors:
            to_segment.append((s, survivors))
    need = [s for s, _ in to_segment if not s.embedded]
    for s, e in zip(need, sam.embed([s.rgb for s in need]) if need else []):
        s.embedding = e
    for s, new in to_segment:
        points, boxes = [], []
        for p in new:
            pp = select_prompts(p.kpts, config.prompt_thr, config.max_prompts, config.prompt_percentile)
            points.append(pp)
            boxes.append(None if len(pp) else p.box)
        windows, ious = sam.segment_windows(s.embedding, points, boxes)
        s.add_exclusive(new, windows, ious)
        s.changed = True
    for s in need:  # later steps read it as it crosses a stage boundary: in the segmenter's transport precision
        s.embedding = s.embedding.held()


def frame_result(
    s: FrameState, video_id: str, index: int, pts: float, size: Sequence[int] | None = None
) -> FrameResult:
    """The frozen result of a finished frame (refined masks as full-frame COCO RLE, encoded from their
    windows: ``masks.encode_windows``, bit-identical to encoding the full frame).

    Args:
        size: (height, width): the result in a frame of that size, ``FrameResult.resized`` (the video's
            own pixels, ``decode.max_side``), bit-identical, the refined masks resized from their windows
            (``masks.resize_windows``) instead of from their RLE at the frame's size.
    """
    h, w = s.rgb.shape[:2]
    size = (h, w) if size is None else (int(size[0]), int(size[1]))
    k = s.num_keypoints or 21
    if not s.people:
        return FrameResult.empty(video_id, index, pts, h, w, num_keypoints=k).resized(*size)
    ps = s.people
    windows = [p.window_mask() for p in ps], [p.window for p in ps], h, w
    rles = _masks.encode_windows(*windows) if size == (h, w) else _masks.resize_windows(*windows, *size)
    r = FrameResult.from_rle(
        video_id,
        index,
        pts,
        h,
        w,
        boxes=np.stack([p.box for p in ps]),
        box_scores=np.array([p.box_score for p in ps]),
        keypoints=np.stack([p.kpts for p in ps]),
        pose_scores=np.array([p.score for p in ps]),
        masks=np.array([b""] * len(ps), object),  # none here: ``rles`` are at ``size`` already
        mask_scores=np.array([p.mask_score for p in ps]),
        det_masks=np.array([p.det_mask for p in ps], object),
        iterations=np.array([p.iteration for p in ps], np.int8),
    )
    return dataclasses.replace(r.resized(*size), masks=np.array(rles, object))


class BMPLoop:
    """BBox-Mask-Pose on frames: detector, pose and SAM stage objects plus a ``BMPConfig``.

    Each iteration is ``detect_step``, ``pose_step`` and ``sam_step``: the same functions the
    pipeline's Ray stages call, one model per stage. The detection thresholds of the config are passed
    to every detector call.
    """

    def __init__(self, detector, pose, sam, config: BMPConfig | None = None):
        self.detector, self.pose, self.sam = detector, pose, sam
        self.config = config or BMPConfig()

    def __call__(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        *,
        video_id: str = "image",
        frame_indices: Sequence[int] | None = None,
        pts_s: Sequence[float] | None = None,
        sizes: Sequence[Sequence[int]] | None = None,
    ) -> list[FrameResult]:
        """Run the loop.

        Args:
            frames: (B, H, W, 3) uint8 RGB, or a list of RGB / grayscale frames of any sizes.
            video_id, frame_indices, pts_s: written into the results (default: 0..B-1 and 0.0).
            sizes: per frame (height, width): its result in a frame of that size (the video's own
                pixels when ``frames`` are working frames, ``decode.max_side``), as ``frame_result``'s
                ``size`` (default: each frame's own size).

        Returns:
            one ``FrameResult`` per frame (N = 0 where nobody was found).
        """
        rgb = check_frames(frames)
        idx = list(range(len(rgb))) if frame_indices is None else [int(i) for i in frame_indices]
        pts = [0.0] * len(rgb) if pts_s is None else [float(t) for t in pts_s]
        size = [None] * len(rgb) if sizes is None else list(sizes)
        if len(idx) != len(rgb) or len(pts) != len(rgb) or len(size) != len(rgb):
            raise ValueError(
                f"frame_indices / pts_s / sizes: expected {len(rgb)} values, got {len(idx)} / {len(pts)} / {len(size)}"
            )
        state = [FrameState(f) for f in rgb]
        for it in range(1, self.config.iterations + 1):
            if not any(s.changed for s in state):
                break
            detect_step(self.detector, state, self.config)
            pose_step(self.pose, state)
            sam_step(self.sam, state, it, self.config)
        return [frame_result(s, video_id, i, t, size=z) for s, i, t, z in zip(state, idx, pts, size)]
