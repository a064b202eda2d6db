"""SAM's mask upsampling computed only where a mask can be, as cropped masks.

SAM v1's ``Sam.postprocess_masks`` turns (256, 256) logits into frame-sized ones in two bilinear steps
(to the padded encoder size, cut, then to the frame); SAM 2.1's ``SAM2Transforms.postprocess_masks`` in
one (straight to the frame). Every step is a fixed linear map with non-negative weights, separable in
rows and columns, so the whole map is ``R @ L @ C.T`` with ``R`` (H, 256) and ``C`` (W, 256) having at
most four non-zeros per row (two for SAM 2.1). A frame pixel can only be positive if a logit it
draws from is positive: the mask lies in the frame rows and columns reached from the low-resolution
rows and columns that hold a positive logit. Only that window is computed, by gathering (or, for a
window over 1/16 of the frame, by SAM's own interpolation of the whole frame, which is faster per
pixel); the values equal SAM's up to float rounding (a pixel within ~1e-6 of the threshold may flip).
"""

from __future__ import annotations

import numpy as np
import torch


def bilinear_matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """(n_out, n_in) float64 weights of PyTorch's bilinear resize (align_corners=False) along one axis.

    ``scale`` is input/output as PyTorch uses it (``1 / scale_factor``, or ``n_in / n_out`` for a size).
    """
    m = np.zeros((n_out, n_in))
    src = np.maximum(scale * (np.arange(n_out) + 0.5) - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    np.add.at(m, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(n_out), i1), lam)
    return m


class _Axis:
    """One axis of the composite map: per output index up to 4 (source index, weight) pairs, and per
    source index the range of outputs it reaches."""

    def __init__(self, composite: np.ndarray):
        nz = composite > 0
        k = max(1, int(nz.sum(1).max()))
        order = np.argsort(~nz, axis=1, kind="stable")[:, :k]
        self.index = torch.as_tensor(order, dtype=torch.long)
        self.weight = torch.as_tensor(np.take_along_axis(composite, order, 1), dtype=torch.float32)
        reached = nz.any(0)
        self.lo = np.where(reached, nz.argmax(0), 0)  # first output each source reaches
        self.hi = np.where(reached, len(nz) - nz[::-1].argmax(0), 0)  # one past the last

    def span(self, sources: np.ndarray) -> tuple[int, int]:
        if sources.size == 0:
            return 0, 0
        return int(self.lo[sources].min()), int(self.hi[sources].max())


class WindowResampler:
    """Frame-sized masks from low-resolution logits through a separable linear map, computed in windows.

    Args:
        rows, cols: (H, n) and (W, n) float64 maps from the logits' rows / columns to the frame's.
        original_size: (H, W) of the frame.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, original_size: tuple[int, int]):
        if (len(rows), len(cols)) != tuple(original_size):
            raise ValueError(f"maps of {len(rows)} rows and {len(cols)} columns for a frame of {original_size}")
        self.rows, self.cols = _Axis(rows), _Axis(cols)
        self.original_size = tuple(original_size)
        # gathering costs more per pixel than PyTorch's interpolation: above this window size, use that
        self.dense_above = original_size[0] * original_size[1] // 16
        self._on: dict[torch.device, tuple] = {}

    def _dense(self, logits: torch.Tensor) -> torch.Tensor:
        """The library's own resize of one (n, n) logit map to the frame: (H, W) float."""
        raise NotImplementedError

    def _axes(self, device: torch.device):
        """The rows' and columns' (index, weight) tensors on ``device`` (moved once per device)."""
        if device not in self._on:
            self._on[device] = tuple(
                t.to(device) for t in (self.rows.index, self.rows.weight, self.cols.index, self.cols.weight)
            )
        return self._on[device]

    def __call__(self, low: torch.Tensor, threshold: float = 0.0) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Per person ``((y0, y1, x0, x1), mask)``: the window in frame pixels and the (y1-y0, x1-x0) bool
        mask inside it (an empty window when the mask is empty).

        The work runs on ``low``'s device; what reaches the host is which low-resolution rows and
        columns hold a positive logit (to place the windows) and the windows' masks, each in one
        transfer.

        Args:
            low: (N, 256, 256) float logits.
        """
        low = low.float()
        pos = low > threshold
        rows_on, cols_on = pos.any(2).cpu().numpy(), pos.any(1).cpu().numpy()
        r_index, r_weight, c_index, c_weight = self._axes(low.device)
        windows, masks = [], []
        for n, logits in enumerate(low):
            y0, y1 = self.rows.span(np.flatnonzero(rows_on[n]))
            x0, x1 = self.cols.span(np.flatnonzero(cols_on[n]))
            if y1 <= y0 or x1 <= x0:
                windows.append((0, 0, 0, 0))
                continue
            windows.append((y0, y1, x0, x1))
            if (y1 - y0) * (x1 - x0) > self.dense_above:
                # a large window: the library's own interpolation over the whole frame is faster
                masks.append(self._dense(logits)[y0:y1, x0:x1] > threshold)
                continue
            ri, rw = r_index[y0:y1], r_weight[y0:y1]
            a = logits[ri[:, 0]] * rw[:, :1]  # (h, 256): the rows step, one source at a time
            for k in range(1, ri.shape[1]):
                a += logits[ri[:, k]] * rw[:, k : k + 1]
            ci, cw = c_index[x0:x1], c_weight[x0:x1]
            b = a[:, ci[:, 0]] * cw[:, 0]  # (h, w): the columns step
            for k in range(1, ci.shape[1]):
                b += a[:, ci[:, k]] * cw[:, k]
            masks.append(b > threshold)
        flat = torch.cat([m.reshape(-1) for m in masks]).cpu().numpy() if masks else np.zeros(0, bool)
        out, at = [], 0
        for y0, y1, x0, x1 in windows:
            size = (y1 - y0) * (x1 - x0)
            out.append(((y0, y1, x0, x1), flat[at : at + size].reshape(y1 - y0, x1 - x0)))
            at += size
        return out


class MaskResampler(WindowResampler):
    """SAM v1: ``Sam.postprocess_masks`` (to the padded encoder size, cut to ``input_size``, to the frame).

    Args:
        input_size: (h', w') of the frame resized to the encoder's long side.
        original_size: (H, W) of the frame.
        low_size: side of the decoder's logits (256); encoder_size: SAM's input side (1024).
    """

    def __init__(
        self, input_size: tuple[int, int], original_size: tuple[int, int], low_size: int = 256, encoder_size: int = 1024
    ):
        factor = encoder_size // low_size
        maps = []
        for cut, out in zip(input_size, original_size):
            up = bilinear_matrix(low_size, encoder_size, 1.0 / factor)[:cut]
            maps.append(bilinear_matrix(cut, out, cut / out) @ up)
        super().__init__(*maps, original_size)
        self.input_size, self.factor = tuple(input_size), factor

    def _dense(self, logits: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        up = F.interpolate(logits[None, None], scale_factor=self.factor, mode="bilinear", align_corners=False)
        h, w = self.input_size
        return F.interpolate(up[..., :h, :w], self.original_size, mode="bilinear", align_corners=False)[0, 0]


class DirectResampler(WindowResampler):
    """SAM 2.1: ``SAM2Transforms.postprocess_masks``, one bilinear resize of the (256, 256) logits to the
    frame (the encoder saw the frame squashed to a square, so nothing is cut).

    Args:
        original_size: (H, W) of the frame; low_size: side of the decoder's logits (256).
    """

    def __init__(self, original_size: tuple[int, int], low_size: int = 256):
        super().__init__(*(bilinear_matrix(low_size, out, low_size / out) for out in original_size), original_size)

    def _dense(self, logits: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.interpolate(logits[None, None], self.original_size, mode="bilinear", align_corners=False)[0, 0]
