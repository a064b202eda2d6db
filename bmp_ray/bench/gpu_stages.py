"""``bench gpu`` phases on the stages alone: the device's ceilings, building the three models, and the
eager per-stage sweeps (fp32 vs bf16, batch sizes, the SAM decoder batched vs once per person).

Each stage's network is timed on tensors already on the device (rotating inputs, warm-ups, CUDA
events, medians); ``detector_stage`` is the whole ``Detector`` call on 1080p frames (letterbox on the
host, network, person rule, masks at frame size as RLE). FLOPs per item are counted once
with torch's FLOP counter at batch 1.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from bmp_ray.bench.gpu_timing import Budget, flops, sync, timed
from bmp_ray.models.common import inference

log = logging.getLogger(__name__)
BF16 = torch.bfloat16
PRECISIONS = {"bf16": BF16, "fp32": None}  # a run's precision -> the autocast dtype (None: fp32)


@dataclasses.dataclass
class Sizes:
    """Batch sizes and repeats of one run (``--quick``: small)."""

    matmul: int
    copy_mib: int
    encoder: tuple[int, ...]
    detector: tuple[int, ...]
    predict: tuple[int, ...]
    pose: tuple[int, ...]
    decoder: tuple[int, ...]
    repeats: int
    warmup: int
    people: tuple[int, ...]
    frames: int
    research_people: int
    scale: float  # frames resized by this before the e2e and research phases (1: the video's 1080p)

    @classmethod
    def of(cls, quick: bool) -> "Sizes":
        if quick:
            return cls(512, 8, (1,), (1,), (1,), (1, 2), (2, 4), 1, 0, (2, 4), 1, 2, 0.5)
        return cls(
            8192, 1024, (1, 2, 4, 8), (1, 8, 32), (1, 8, 16), (64, 256, 1024), (1, 10, 20), 10, 2, (10, 20), 8, 20, 1.0
        )


def ceilings(device: torch.device, sizes: Sizes, budget: Budget) -> dict:
    """Matmul rates (bf16 and fp32, fresh random operands per call), device-to-device copy and, on
    CUDA, host-to-device copies from pinned and pageable memory."""
    n = sizes.matmul
    out: dict = {}
    for name, dtype in (("bf16", BF16), ("fp32", torch.float32)):
        ops = [
            (torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype))
            for _ in range(3)
        ]
        t = timed(lambda ab: torch.mm(*ab), ops, device, warmup=2, repeats=max(3, sizes.repeats), budget=budget)
        out[f"matmul_{name}_tflops"] = 2 * n**3 / t["median_s"] / 1e12
        del ops
    nbytes = sizes.copy_mib * 2**20
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    t = timed(lambda _: dst.copy_(src), [0], device, warmup=1, repeats=sizes.repeats, budget=budget)
    out["copy_d2d_gb_s"] = nbytes / t["median_s"] / 1e9
    if device.type == "cuda":
        for name, pin in (("pinned", True), ("pageable", False)):
            host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pin)
            t = timed(
                lambda _: dst.copy_(host, non_blocking=pin), [0], device, warmup=1, repeats=sizes.repeats, budget=budget
            )
            out[f"copy_h2d_{name}_gb_s"] = nbytes / t["median_s"] / 1e9
    else:
        out["copy_h2d"] = "n/a: no CUDA device (host and device memory are the same)"
    return out


@dataclasses.dataclass
class Models:
    """The three stages of one run and the inputs their raw forwards take."""

    det: object
    pose: object
    seg: object
    det_size: tuple[int, int]  # (H, W) of the detector's letterbox
    device: torch.device


def build(names: dict, weights: str, device: torch.device, frame: np.ndarray) -> tuple[Models, dict]:
    """The Detector, PoseEstimator and Segmenter of ``names`` (role -> registry name) from ``weights``."""
    from bmp_ray.models.detector import Detector
    from bmp_ray.models.pose import PoseEstimator
    from bmp_ray.models.segmenter import build_segmenter

    dev = str(device)
    det = Detector(names["detector"], weights, device=dev)
    pose = PoseEstimator(names["pose"], weights, device=dev)
    seg = build_segmenter(names["sam"], weights, device=dev)
    resize = [t for t in det.model.cfg.test_pipeline if t["type"] == "Resize"][0]
    w, h = resize["scale"]
    info = {
        role: {"model": names[role], "parameters": sum(p.numel() for p in m.model.parameters())}
        for role, m in (("detector", det), ("pose", pose), ("sam", seg))
    }
    info["detector"]["input"] = f"{w}x{h}"
    info["frame"] = f"{frame.shape[1]}x{frame.shape[0]}"
    return Models(det, pose, seg, (h, w), device), info


# -- the raw forwards ------------------------------------------------------------------------------


def encoder_inputs(m: Models, batch: int, k: int = 3) -> list[torch.Tensor]:
    size = m.seg.model.image_encoder.img_size
    return [torch.randn(batch, 3, size, size, device=m.device) for _ in range(k)]


def encoder_fn(m: Models, dtype):
    enc = m.seg.model.image_encoder

    def fn(x):
        with inference(m.device, dtype):
            return enc(x)

    return fn


def detector_inputs(m: Models, batch: int, k: int = 3) -> list[torch.Tensor]:
    return [torch.randn(batch, 3, *m.det_size, device=m.device) for _ in range(k)]


def detector_fn(m: Models, dtype, channels_last: bool = False):
    model = m.det.model

    def fn(x):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with inference(m.device, dtype):
            return model.bbox_head(model.extract_feat(x))

    return fn


def stage_inputs(frame: np.ndarray, batch: int, k: int = 2) -> list[list[np.ndarray]]:
    """Rotations of ``batch`` frames (shifted copies of ``frame``) for the whole detector stage."""
    return [[np.ascontiguousarray(np.roll(frame, 7 * (i + r * batch), axis=1)) for i in range(batch)] for r in range(k)]


def stage_fn(m: Models, dtype):
    """The whole ``Detector`` call: letterbox on the host, network, person rule, masks as RLE."""

    def fn(frames):
        det, old = m.det, m.det.dtype
        det.dtype = dtype
        try:
            return det(frames)
        finally:
            det.dtype = old

    return fn


def pose_inputs(m: Models, batch: int, k: int = 3) -> list[torch.Tensor]:
    return [torch.randn(batch, 3, m.pose.input_h, m.pose.input_w, device=m.device) for _ in range(k)]


def pose_fn(m: Models, dtype):
    def fn(x):
        with inference(m.device, dtype):
            return m.pose._head.forward(m.pose.model.extract_feat(x))

    return fn


def decoder_inputs(m: Models, people: int, k: int = 3, points: int = 6) -> list:
    """Per rotation: (embedding of a 1080p frame, (people, P, 2) float32 points in frame pixels)."""
    from bmp_ray.models.sam import Embedding

    size = m.seg.model.image_encoder.img_size
    rng = np.random.default_rng(people)
    return [
        (
            Embedding(torch.randn(256, size // 16, size // 16, device=m.device), (1080, 1920), (576, 1024)),
            (rng.random((people, points, 2)) * [1920.0, 1080.0]).astype(np.float32),
        )
        for _ in range(k)
    ]


def decoder_fn(m: Models, dtype, per_person: bool = False):
    """The segmenter's decoder call (prompt encoder + mask decoder, low-resolution logits and IoU back on
    the host) on all people at once, or once per person."""

    def fn(inp):
        emb, pts = inp
        seg, old = m.seg, m.seg.dtype
        seg.dtype = dtype
        try:
            if per_person:
                return [seg._decode(emb, pts[j : j + 1], None) for j in range(len(pts))]
            return seg._decode(emb, pts, None)
        finally:
            seg.dtype = old

    return fn


def count_flops(m: Models, frame: np.ndarray) -> dict:
    """FLOPs per item: SAM encoder image, detector image (network, at its letterbox), pose crop, SAM
    decoder person (prompt encoder + mask decoder, 6 points)."""
    return {
        "sam_encoder": flops(encoder_fn(m, None), encoder_inputs(m, 1, 1)[0]),
        "detector": flops(detector_fn(m, None), detector_inputs(m, 1, 1)[0]),
        "pose_crop": flops(pose_fn(m, None), pose_inputs(m, 1, 1)[0]),
        "sam_decoder_person": flops(decoder_fn(m, None), decoder_inputs(m, 1, 1)[0]),
    }


# -- the eager sweeps ------------------------------------------------------------------------------


def _sweep(
    stage: str, unit: str, make_fn, make_inputs, batches, dtypes, device, sizes, budget, per_item_flops, ceilings_: dict
) -> list[dict]:
    rows = []
    for dtype_name, dtype in dtypes:
        for b in batches:
            if budget.over():
                rows.append({"stage": stage, "dtype": dtype_name, "batch": b, "status": "skipped: budget spent"})
                continue
            try:
                t = timed(
                    make_fn(dtype), make_inputs(b), device, warmup=sizes.warmup, repeats=sizes.repeats, budget=budget
                )
            except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
                log.warning("%s %s batch %d failed: %s", stage, dtype_name, b, exc)
                rows.append({"stage": stage, "dtype": dtype_name, "batch": b, "status": f"error: {exc}"[:500]})
                continue
            rate = b / t["median_s"]
            row = {"stage": stage, "dtype": dtype_name, "batch": b, "status": "ok", "unit": unit, "per_s": rate, **t}
            if per_item_flops:
                row["tflops"] = rate * per_item_flops / 1e12
                ceiling = ceilings_.get(f"matmul_{'bf16' if dtype is not None else 'fp32'}_tflops")
                row["of_ceiling"] = row["tflops"] / ceiling if ceiling else None
            rows.append(row)
            sync(device)
    return rows


def best(rows: list[dict], stage: str, dtype: str | None = None) -> dict | None:
    ok = [r for r in rows if r["stage"] == stage and r["status"] == "ok" and dtype in (None, r["dtype"])]
    return max(ok, key=lambda r: r["per_s"]) if ok else None


def eager(
    m: Models, frame: np.ndarray, sizes: Sizes, budget: Budget, fl: dict, ceil: dict, precision: str = "bf16"
) -> dict:
    """fp32 vs bf16 and batch sweeps of every stage; the SAM decoder batched vs once per person.

    ``precision`` ("bf16" on CUDA; "fp32" on a CPU, where the run's figures are fp32 ones): every batch
    size is swept in it, the other precision at the middle batch size only (its ratio to the first), the
    SAM decoder in both at each size on CUDA and the other precision at the smallest size only on a CPU,
    and the per-person decoder loop in ``precision``. A CPU without bf16 instructions (AVX2 only) runs a
    bf16 convolution about 200 times slower than fp32: one bf16 row per stage is what the quick CPU run
    can afford, and all it needs to keep the bf16 paths working."""
    d = m.device
    if precision not in PRECISIONS:
        raise ValueError(f"bench gpu: precision: expected one of {sorted(PRECISIONS)}, got {precision!r}")
    main = [(precision, PRECISIONS[precision])]
    other = [(k, v) for k, v in PRECISIONS.items() if k != precision]
    mid = lambda bs: bs[len(bs) // 2 : len(bs) // 2 + 1]  # noqa: E731 - the other precision at one batch size
    cpu = d.type != "cuda"
    rows = []
    for stage, unit, fn, inputs, batches, f in (
        (
            "sam_encoder",
            "img",
            lambda dt: encoder_fn(m, dt),
            lambda b: encoder_inputs(m, b),
            sizes.encoder,
            fl["sam_encoder"],
        ),
        ("pose", "crop", lambda dt: pose_fn(m, dt), lambda b: pose_inputs(m, b), sizes.pose, fl["pose_crop"]),
        (
            "detector_net",
            "img",
            lambda dt: detector_fn(m, dt),
            lambda b: detector_inputs(m, b),
            sizes.detector,
            fl["detector"],
        ),
        (
            "detector_stage",
            "img",
            lambda dt: stage_fn(m, dt),
            lambda b: stage_inputs(frame, b),
            sizes.predict,
            fl["detector"],
        ),
    ):
        if stage == "detector_stage" and cpu:  # the stages accept bf16 on CUDA only (check_precision)
            rows += _sweep(stage, unit, fn, inputs, batches, [("fp32", PRECISIONS["fp32"])], d, sizes, budget, f, ceil)
            continue
        rows += _sweep(stage, unit, fn, inputs, batches, main, d, sizes, budget, f, ceil)
        rows += _sweep(stage, unit, fn, inputs, mid(batches), other, d, sizes, budget, f, ceil)
    for n in sizes.decoder:
        rows += _sweep(
            f"sam_decoder_batched_{n}",
            "person",
            lambda dt: decoder_fn(m, dt),
            lambda _b, n=n: decoder_inputs(m, n),
            [n],
            main + other if not cpu or n == sizes.decoder[0] else main,
            d,
            sizes,
            budget,
            fl["sam_decoder_person"],
            ceil,
        )
    n = sizes.decoder[-1]
    rows += _sweep(
        f"sam_decoder_per_person_{n}",
        "person",
        lambda dt: decoder_fn(m, dt, per_person=True),
        lambda _b: decoder_inputs(m, n),
        [n],
        main,
        d,
        sizes,
        budget,
        fl["sam_decoder_person"],
        ceil,
    )
    out = {"rows": rows, "precision": precision}
    b, p = best(rows, f"sam_decoder_batched_{n}", precision), best(rows, f"sam_decoder_per_person_{n}", precision)
    if b and p:
        out["decoder_batched_speedup"] = b["per_s"] / p["per_s"]
    for stage in ("sam_encoder", "pose", "detector_net", "detector_stage"):
        # at the batch size measured in both precisions
        ok = {(r["dtype"], r["batch"]): r["per_s"] for r in rows if r["stage"] == stage and r["status"] == "ok"}
        both = sorted(b for dt, b in ok if dt == "bf16" and ("fp32", b) in ok)
        if both:
            out[f"{stage}_bf16_over_fp32"] = ok["bf16", both[-1]] / ok["fp32", both[-1]]
    return out
