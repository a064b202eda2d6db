"""What every stage shares: frame validation at the boundary and the inference precision context."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from bmp_ray.errors import ConfigError

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def check_frames(frames: np.ndarray | Sequence[np.ndarray], what: str = "frames") -> list[np.ndarray]:
    """Frames as a list of (H, W, 3) uint8 RGB arrays.

    Accepts a (B, H, W, 3) array or a sequence of (H, W, 3) RGB or (H, W) / (H, W, 1) grayscale
    uint8 arrays of any sizes (grayscale is repeated to three channels).

    Raises:
        ValueError: naming the frame, what was expected and what came.
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    out = []
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.dtype != np.uint8:
            raise ValueError(f"{what}[{i}]: expected uint8 pixels, got {f.dtype}")
        if f.ndim == 3 and f.shape[2] == 1:
            f = f[..., 0]
        if f.ndim == 2:
            f = np.repeat(f[..., None], 3, axis=2)
        if f.ndim != 3 or f.shape[2] != 3 or f.shape[0] < 1 or f.shape[1] < 1:
            raise ValueError(f"{what}[{i}]: expected (H, W, 3) RGB or (H, W) grayscale, got shape {f.shape}")
        out.append(f)
    return out


def check_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` ("fp32", "fp16", "bf16"); half precision is CUDA-only."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    if dtype is not None and device.type != "cuda":
        raise ConfigError(f"precision {precision!r} needs a CUDA device (autocast); got {device}: use 'fp32'")
    return dtype


def inference(device: torch.device, dtype: torch.dtype | None):
    """``torch.inference_mode`` plus CUDA autocast to ``dtype`` when it is not None."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if dtype is not None:
        stack.enter_context(torch.autocast(device_type=device.type, dtype=dtype))
    return stack
