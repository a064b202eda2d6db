"""What every stage shares: frame validation at the boundary, the inference precision context, and the
process's memory reuse on CPU."""

from __future__ import annotations

import contextlib
import logging
from typing import Sequence

import numpy as np
import torch

from bmp_ray.errors import ConfigError
from bmp_ray.settings import PRECISIONS

log = logging.getLogger(__name__)
# the autocast dtype of each of settings.PRECISIONS (None: no autocast)
AUTOCAST = dict(zip(PRECISIONS, (None, torch.float16, torch.bfloat16)))


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
    if precision not in AUTOCAST:
        raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    dtype = AUTOCAST[precision]
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


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
_LIMIT = 2**31 - 1  # the largest value mallopt's int parameter takes
# The same settings as environment variables, read by glibc when a process starts: the only way to reach
# a thread that already has its own arena, such as the one a Ray Data actor runs its batches on.
REUSE_MEMORY_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(_LIMIT),
    "MALLOC_TRIM_THRESHOLD_": str(_LIMIT),
    "ARROW_DEFAULT_MEMORY_POOL": "system",  # Arrow allocates through the same malloc (read by pyarrow)
}


def reuse_freed_memory() -> bool:
    """Keep the memory torch, numpy and Arrow free inside this process for reuse (glibc only).

    glibc hands blocks above its mmap threshold (at most 32 MiB, adjusted as blocks are freed) straight
    back to the OS, so every call that allocates large tensors page-faults them in again, zeroed. SAM's
    image encoder allocates 64 MiB attention maps per head: on a CPU it spent about a fifth of its time in
    the kernel. Raising the mmap and trim thresholds to 2 GiB keeps freed blocks in the heap: the process
    then holds on to its peak memory instead of returning it. One arena for every thread, because a
    thread's own arena maps blocks of over 64 MiB anyway; torch's compute threads allocate little, so
    they hardly contend on its lock. Process-wide, for the main thread and threads started later; a
    thread that has allocated already keeps its arena, so a process that runs its work on such a thread
    (a Ray Data actor) is started with ``REUSE_MEMORY_ENV`` instead.

    Arrow's buffers (the stages' batches, ``pipeline.columns``) then come from the same malloc: pyarrow's
    default pool (mimalloc) took fresh pages for each large buffer, measured 21 core-ms per frame
    against 3 for the stages' binary columns in ``bmp-ray bench host`` (2026-12-07).

    Returns:
        True when set; False where the C library is not glibc (macOS, musl): nothing changes there.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no glibc mallopt in %s: freed memory goes back to the OS as usual", name)
        return False
    if not all([mallopt(_M_MMAP_THRESHOLD, _LIMIT), mallopt(_M_TRIM_THRESHOLD, _LIMIT), mallopt(_M_ARENA_MAX, 1)]):
        return False
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return True
