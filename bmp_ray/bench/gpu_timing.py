"""Timing for ``bench gpu``: wall-clock budgets, CUDA-event medians after warm-ups on rotating inputs,
FLOP counts (``torch.utils.flop_counter``) and a profiler window's GPU busy fraction and copy bytes."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import statistics
import tempfile
import time
from typing import Callable, Sequence

import torch


class Budget:
    """A wall-clock allowance in seconds, started when made."""

    def __init__(self, seconds: float):
        self.seconds, self.t0 = float(seconds), time.perf_counter()

    def spent(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.spent()

    def over(self) -> bool:
        return self.left() <= 0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable,
    inputs: Sequence,
    device: torch.device,
    *,
    warmup: int = 2,
    repeats: int = 5,
    budget: Budget | None = None,
) -> dict:
    """Median seconds of ``fn(x)`` over ``inputs`` in turn (rotating, so no call reuses the previous
    one's input): ``warmup`` calls first, then up to ``repeats`` timed calls (CUDA events on CUDA, the
    wall clock on the CPU), fewer when ``budget`` runs out (at least one). ``warmup=0``: one call, its
    wall time is the result.

    Returns:
        ``{"median_s", "min_s", "repeats", "first_s"}`` (``first_s``: the first warm-up call, which
        includes any compilation).
    """
    cuda = device.type == "cuda"
    t = time.perf_counter()
    fn(inputs[0])
    sync(device)
    first = time.perf_counter() - t
    if warmup == 0:  # the one call is the measurement (quick CPU runs)
        return {"median_s": first, "min_s": first, "repeats": 1, "first_s": first}
    for i in range(1, warmup):
        fn(inputs[i % len(inputs)])
    sync(device)
    times = []
    for i in range(max(1, repeats)):
        if times and budget is not None and budget.left() < 2 * times[-1]:
            break
        x = inputs[(warmup + i) % len(inputs)]
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn(x)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
        else:
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return {
        "median_s": float(statistics.median(times)),
        "min_s": float(min(times)),
        "repeats": len(times),
        "first_s": first,
    }


def flops(fn: Callable, *args) -> float:
    """FLOPs of one call of ``fn(*args)`` as torch's FLOP counter counts them (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return float(counter.get_total_flops())


@contextlib.contextmanager
def host_clock():
    """Yields a dict that gets ``wall_s`` and ``cpu_s`` (the process's CPU time, all threads) on exit."""
    out: dict = {}
    w, c = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        out["wall_s"], out["cpu_s"] = time.perf_counter() - w, time.process_time() - c


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -1.0
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def profile(fn: Callable, device: torch.device, keep: str | os.PathLike | None = None) -> dict:
    """One call of ``fn()`` under ``torch.profiler``: wall time, GPU busy fraction (union of kernel
    intervals over the window), host<->device copy bytes, the attention kernels seen and the top ops.

    ``keep``: write the gzipped Chrome trace there too.
    """
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as _profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    with _profile(activities=acts) as prof:
        t = time.perf_counter()
        fn()
        sync(device)
        wall = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
        if keep is not None:
            with open(path, "rb") as src, gzip.open(keep, "wb") as dst:
                dst.write(src.read())
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    kernels = [(e["ts"], e["ts"] + e.get("dur", 0)) for e in events if e.get("cat") == "kernel"]
    copies: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "gpu_memcpy":
            kind = "htod" if "HtoD" in e["name"] else "dtoh" if "DtoH" in e["name"] else "dtod"
            copies[kind] = copies.get(kind, 0.0) + float(e.get("args", {}).get("bytes", 0))
    span = (max(b for _, b in kernels) - min(a for a, _ in kernels)) if kernels else 0.0
    ops = prof.key_averages()
    attention = sorted({e.key for e in ops if "scaled_dot_product" in e.key or "attention" in e.key.lower()})
    dev_attr = "self_device_time_total" if hasattr(ops[0], "self_device_time_total") else "self_cuda_time_total"
    top = sorted(
        ops, key=lambda e: getattr(e, dev_attr, 0) if device.type == "cuda" else e.self_cpu_time_total, reverse=True
    )[:12]
    return {
        "wall_s": wall,
        "kernels": len(kernels),
        "gpu_busy": _union(kernels) / 1e6 / wall if kernels and wall > 0 else None,
        "kernel_span_s": span / 1e6,
        "copy_bytes": copies,
        "attention_ops": attention,
        "top_ops": [
            {
                "op": e.key,
                "calls": e.count,
                "self_cpu_ms": e.self_cpu_time_total / 1e3,
                "self_device_ms": getattr(e, dev_attr, 0) / 1e3,
            }
            for e in top
        ],
    }


def attention_ops(fn: Callable, device: torch.device) -> list[str]:
    """The aten attention ops one call of ``fn()`` runs (which SDPA backend: flash, efficient, cudnn, math)."""
    return profile(fn, device)["attention_ops"]
