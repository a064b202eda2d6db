"""The segmenter seam: what the BMP loop and the pipeline's stages need of a promptable segmenter, what
SAM v1 (``sam.SamSegmenter``) and SAM 2.1 (``sam2.Sam2Segmenter``) share, and the factory that picks
one by registry name (``build_segmenter``).

A segmenter embeds each frame once (``embed``) and then, in every BMP iteration, decodes the prompts of
all people of a frame at once (``segment_windows``), each mask computed only in the window it can
occupy. Its embedding owns its transport between processes: pickled, its tensors travel as CPU arrays
(float32, or half precision where its ``transport`` says so) and come back as CPU float32 tensors; after
the SAM step that computed it, the loop keeps it ``held`` in that precision, so the next step gets the
same values whether it crossed a process boundary or not; ``segment_windows`` moves them to the
segmenter's device (``emb.to(device)``), so no caller converts.
"""

from __future__ import annotations

import dataclasses
import os
from typing import ClassVar, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from bmp_ray.errors import ConfigError
from bmp_ray.models import registry
from bmp_ray.models.build import check_device, load_model
from bmp_ray.models.common import check_frames, check_precision
from bmp_ray.settings import PRECISIONS

TRANSPORTS = PRECISIONS  # the precisions an embedding is held and pickled in
# default frames per encoder pass and people per decoder call, by device type ("cpu": every other one)
ENCODER_BATCH = {"cuda": 8, "cpu": 1}
DECODER_BATCH = {"cuda": 64, "cpu": 2}
Window = tuple[tuple[int, int, int, int], np.ndarray]


@runtime_checkable
class SegmenterEmbedding(Protocol):
    """One frame's image embedding: its frame size, and its tensors on a device."""

    original_size: tuple[int, int]

    def to(self, device: torch.device | str) -> "SegmenterEmbedding": ...

    def held(self) -> "SegmenterEmbedding": ...


@runtime_checkable
class Segmenter(Protocol):
    """A promptable segmenter (SAM v1 or SAM 2.1) as the BMP loop uses it."""

    device: torch.device

    def embed(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[SegmenterEmbedding]: ...

    def segment_windows(
        self, emb: SegmenterEmbedding, points: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None
    ) -> tuple[list[Window], np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class _Packed:
    """A tensor in transit: CPU array in its transport precision (bf16 as its int16 bit pattern)."""

    array: np.ndarray
    bf16: bool = False

    def unpack(self) -> torch.Tensor:
        a = self.array if self.array.flags.writeable else self.array.copy()
        t = torch.from_numpy(a)
        return (t.view(torch.bfloat16) if self.bf16 else t).float()


def _pack(t, transport: str):
    if isinstance(t, (tuple, list)):
        return tuple(_pack(x, transport) for x in t)
    t = torch.as_tensor(t).detach().cpu()
    if transport == "bf16":
        return _Packed(t.to(torch.bfloat16).view(torch.int16).numpy(), bf16=True)
    return _Packed(t.to(torch.float16 if transport == "fp16" else torch.float32).numpy())


def _unpack(v):
    if isinstance(v, tuple):
        return tuple(_unpack(x) for x in v)
    return v.unpack() if isinstance(v, _Packed) else v


def _rounded(t, transport: str):
    """``t`` (a tensor or a tuple of them) rounded to ``transport`` precision, kept as float32 where it is."""
    if isinstance(t, (tuple, list)):
        return tuple(_rounded(x, transport) for x in t)
    return t.to(torch.bfloat16 if transport == "bf16" else torch.float16).float()


def _moved(t, device: torch.device):
    """``t`` (a tensor, an array or a tuple of them) on ``device`` as float32; ``t`` itself if it is."""
    if isinstance(t, (tuple, list)):
        items = tuple(_moved(x, device) for x in t)
        return t if all(a is b for a, b in zip(items, t)) else items
    if isinstance(t, np.ndarray):  # as older pipeline code left it after unpickling
        t = torch.from_numpy(t if t.flags.writeable else t.copy())
    return t.to(device=device, dtype=torch.float32)


class TensorEmbedding:
    """Transport of a frozen dataclass embedding whose ``TENSORS`` fields hold tensors (or tuples of
    tensors) and whose ``transport`` field names the precision they travel in ("fp32", "fp16", "bf16")."""

    TENSORS: ClassVar[tuple[str, ...]] = ()
    transport: str

    def held(self):
        """This embedding with its tensors rounded to its ``transport`` precision (as float32 values), as
        the loop keeps it after the SAM step that computed it: what unpickling gives, so a process that
        never pickles it (the one-process path) computes the same masks as the pipeline. Itself at "fp32"."""
        if getattr(self, "transport", "fp32") == "fp32":
            return self
        return dataclasses.replace(self, **{n: _rounded(getattr(self, n), self.transport) for n in self.TENSORS})

    def to(self, device: torch.device | str):
        """This embedding with its tensors on ``device`` as float32 (itself when they are)."""
        device = torch.device(device)
        changes = {}
        for name in self.TENSORS:
            v = getattr(self, name)
            moved = _moved(v, device)
            if moved is not v:
                changes[name] = moved
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def nbytes(self) -> int:
        """Bytes of its tensors as they are now."""

        def size(v):
            return sum(size(x) for x in v) if isinstance(v, (tuple, list)) else int(v.nbytes)

        return sum(size(getattr(self, n)) for n in self.TENSORS)

    def __getstate__(self):
        d = dict(self.__dict__)
        for name in self.TENSORS:
            d[name] = _pack(d[name], d.get("transport", "fp32"))
        return d

    def __setstate__(self, d):
        for k, v in d.items():
            object.__setattr__(self, k, _unpack(v) if k in self.TENSORS else v)


class PromptSegmenter:
    """What SAM v1 and SAM 2.1 share: checked arguments, frames through the encoder in batches, people
    grouped by prompt shape (number of points, with or without a box, so that no padding token changes a
    person's result) and decoded in chunks, masks resampled in windows.

    Subclasses set ``arch_type`` and implement ``_setup`` (after the model is loaded), ``_encode`` (a
    list of frames to embeddings), ``_decode`` (one group's prompts to (G, 256, 256) logits and (G,)
    IoU) and ``_new_resampler``.
    """

    arch_type: ClassVar[type] = object
    mask_threshold: float = 0.0

    def __init__(
        self,
        model: str,
        weights: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        encoder_batch: int | None = None,
        decoder_batch: int | None = None,
        offline: bool | None = None,
        transport: str = "fp32",
    ):
        self.device = check_device(device)
        kind = "cuda" if self.device.type == "cuda" else "cpu"
        encoder_batch = encoder_batch if encoder_batch is not None else ENCODER_BATCH[kind]
        decoder_batch = decoder_batch if decoder_batch is not None else DECODER_BATCH[kind]
        for name, v in (("encoder_batch", encoder_batch), ("decoder_batch", decoder_batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if transport not in TRANSPORTS:
            raise ConfigError(f"transport {transport!r}: expected one of {', '.join(TRANSPORTS)}")
        self.encoder_batch, self.decoder_batch, self.transport = encoder_batch, decoder_batch, transport
        self.dtype = check_precision(precision, self.device)
        spec = registry.get(model)
        if spec.family != "sam" or not isinstance(spec.arch, self.arch_type):
            raise ValueError(
                f"{type(self).__name__}: {model!r} is a {spec.family} model "
                f"({type(spec.arch).__name__}), expected a {self.arch_type.__name__} sam model "
                "(segmenter.build_segmenter picks the right class)"
            )
        self.loaded = load_model(spec, weights, device=device, offline=offline)
        self.model = self.loaded.module
        self._resamplers: dict[tuple, object] = {}
        self._setup()

    def embed(self, frames: np.ndarray | Sequence[np.ndarray]) -> list:
        """Image embeddings of (B, H, W, 3) uint8 RGB frames (or a list of frames of any sizes)."""
        frames = check_frames(frames)
        out: list = []
        for s in range(0, len(frames), self.encoder_batch):
            out += self._encode(frames[s : s + self.encoder_batch])
        return out

    def segment(
        self, emb, points: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the people of one frame.

        Args:
            emb: the frame's embedding.
            points: per person a (P, 2) array of positive points, x, y in frame pixels (P may be 0
                when that person has a box).
            boxes: optional per person a (4,) xyxy box prompt in frame pixels, or None.

        Returns:
            masks (N, H, W) bool at frame size, and the predicted IoU (N,) float32.
        """
        windows, ious = self.segment_windows(emb, points, boxes)
        masks = np.zeros((len(windows), *emb.original_size), bool)
        for j, ((y0, y1, x0, x1), m) in enumerate(windows):
            masks[j, y0:y1, x0:x1] = m
        return masks, ious

    def segment_windows(
        self, emb, points: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None
    ) -> tuple[list[Window], np.ndarray]:
        """Like ``segment``, with each mask as ``((y0, y1, x0, x1), (y1-y0, x1-x0) bool)`` in frame
        pixels: only the window a mask can occupy is computed. ``emb`` may come from another process
        (its tensors on the CPU): it is moved to this segmenter's device first."""
        n = len(points)
        boxes = [None] * n if boxes is None else list(boxes)
        if len(boxes) != n:
            raise ValueError(f"boxes: expected one entry per person ({n}), got {len(boxes)}")
        emb = emb.to(self.device)
        windows: list = [None] * n
        ious = np.zeros(n, np.float32)
        groups: dict[tuple[int, bool], list[int]] = {}
        for j, (p, b) in enumerate(zip(points, boxes)):
            p = np.asarray(p, np.float32).reshape(-1, 2)
            if len(p) == 0 and b is None:
                raise ValueError(f"person {j}: needs at least one point or a box prompt")
            groups.setdefault((len(p), b is not None), []).append(j)
        resample = self._resampler(emb)
        chunks = [
            (key, idx[i : i + self.decoder_batch])
            for key, idx in groups.items()
            for i in range(0, len(idx), self.decoder_batch)
        ]
        for (k, has_box), idx in chunks:
            pts = np.stack([np.asarray(points[j], np.float32).reshape(-1, 2) for j in idx]) if k else None
            box = np.stack([np.asarray(boxes[j], np.float32) for j in idx]) if has_box else None
            low, q = self._decode(emb, pts, box)
            for j, win in zip(idx, resample(low, self.mask_threshold)):
                windows[j] = win
            ious[idx] = q
        return windows, ious

    def _resampler(self, emb):
        key = self._resample_key(emb)
        if key not in self._resamplers:
            if len(self._resamplers) >= 16:
                self._resamplers.pop(next(iter(self._resamplers)))
            self._resamplers[key] = self._new_resampler(emb)
        return self._resamplers[key]

    # the parts each model does its own way
    def _setup(self) -> None:
        pass

    def _encode(self, frames: list[np.ndarray]) -> list:
        raise NotImplementedError

    def _decode(self, emb, points: np.ndarray | None, boxes: np.ndarray | None) -> tuple[torch.Tensor, np.ndarray]:
        """(G, 256, 256) float logits and (G,) float32 predicted IoU of one group: ``points`` (G, P, 2)
        and ``boxes`` (G, 4) in frame pixels, either None."""
        raise NotImplementedError

    def _resample_key(self, emb) -> tuple:
        return tuple(emb.original_size)

    def _new_resampler(self, emb):
        raise NotImplementedError


def build_segmenter(model: str, weights: str | os.PathLike | None = None, **kwargs) -> PromptSegmenter:
    """The segmenter of a registered "sam" model: ``SamSegmenter`` (SAM v1) or ``Sam2Segmenter`` (SAM 2.1),
    chosen by its architecture; ``kwargs`` as ``PromptSegmenter`` takes them.

    Raises:
        ConfigError: unknown name, or not a sam model (listing the sam models).
    """
    spec = registry.get(model, "sam")
    if isinstance(spec.arch, registry.Sam2Arch):
        from bmp_ray.models.sam2 import Sam2Segmenter

        return Sam2Segmenter(model, weights, **kwargs)
    from bmp_ray.models.sam import SamSegmenter

    return SamSegmenter(model, weights, **kwargs)
