"""``bench gpu`` variants, each behind its own wall-clock guard and try/except (a failed
``torch.compile`` is recorded, never fatal): SDPA attention in SAM's image encoder, ``torch.compile``
(default mode) of the SAM and pose encoders, CUDA graphs for the batched SAM decoder, channels_last
for the detector. Each reports its rate and its speedup over the eager baseline at the same batch, in
the run's precision (bf16 on CUDA; fp32 on a CPU, where a bf16 convolution without bf16 instructions
is about 200 times slower than fp32 and the quick run only checks that every variant works).

``Applied`` keeps the variants that won so that the end-to-end phase runs the best combination, and
undoes them all (``restore``) for the research-style comparison.
"""

from __future__ import annotations

import logging
import time

import torch
import torch.nn.functional as F

from bmp_ray.bench import gpu_stages as st
from bmp_ray.bench.gpu_timing import Budget, attention_ops, timed

log = logging.getLogger(__name__)


def sdpa_forward(self, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Attention.forward`` through ``F.scaled_dot_product_attention``, the
    decomposed relative position terms passed as an additive bias (as segment-anything-fast does)."""
    from segment_anything.modeling.image_encoder import get_rel_pos

    b, h, w, _ = x.shape
    qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # (B, heads, HW, C)
    bias = None
    if self.use_rel_pos:
        c = q.shape[-1]
        r_q = q.reshape(b * self.num_heads, h, w, c)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, get_rel_pos(h, h, self.rel_pos_h))
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, get_rel_pos(w, w, self.rel_pos_w))
        bias = (rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).reshape(b, self.num_heads, h * w, h * w)
        bias = bias.to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    out = out.view(b, self.num_heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return self.proj(out)


def plain_floats(module: torch.nn.Module) -> None:
    """numpy scalars held by submodules (mmpretrain's DropPath ``drop_prob``) as Python floats: dynamo
    guards on a numpy scalar as on a tensor, and under ``inference_mode`` that guard fails at once."""
    import numpy as np

    for sub in module.modules():
        for k, v in list(vars(sub).items()):
            if isinstance(v, np.generic):
                setattr(sub, k, v.item())


class Applied:
    """Variants switched on, with what undoes each."""

    def __init__(self):
        self.names: list[str] = []
        self._undo: list = []

    def add(self, name: str, undo) -> None:
        self.names.append(name)
        self._undo.append(undo)

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self.names, self._undo = [], []


def use_sdpa(on: bool) -> None:
    from segment_anything.modeling import image_encoder

    if not hasattr(image_encoder.Attention, "_bmp_ray_eager_forward"):
        image_encoder.Attention._bmp_ray_eager_forward = image_encoder.Attention.forward
    image_encoder.Attention.forward = sdpa_forward if on else image_encoder.Attention._bmp_ray_eager_forward


def _guarded(name: str, budget: Budget, need_s: float, fn) -> dict:
    if budget.left() < need_s:
        return {"status": f"skipped: {budget.left():.0f} s left of the phase, {need_s:.0f} s needed"}
    t = time.perf_counter()
    try:
        out = fn()
        out.setdefault("status", "ok")
    except Exception as exc:  # noqa: BLE001 - a failed variant is a result, not the end of the run
        log.warning("variant %s failed: %s", name, exc)
        out = {"status": f"error: {type(exc).__name__}: {exc}"[:800]}
    out["seconds"] = time.perf_counter() - t
    return out


def run(
    m: st.Models,
    sizes: st.Sizes,
    budget: Budget,
    eager: dict,
    compile_backend: str,
    applied: Applied,
    precision: str = "bf16",
) -> dict:
    d, rows = m.device, eager["rows"]
    low = st.PRECISIONS[precision]
    reps = sizes.repeats
    enc_b, pose_b, det_b = sizes.encoder[-1], sizes.pose[-2], sizes.detector[-1]
    cuda = d.type == "cuda"
    need = 60.0 if cuda else 5.0  # a compile of ViT-B with inductor takes tens of seconds
    out: dict = {"compile_backend": compile_backend, "precision": precision}

    def base(stage, b):
        r = [
            x
            for x in rows
            if x["stage"] == stage and x["batch"] == b and x["dtype"] == precision and x["status"] == "ok"
        ]
        return r[0]["per_s"] if r else None

    def rate(fn, inputs, b, base_rate):
        t = timed(fn, inputs, d, warmup=max(2, sizes.warmup), repeats=reps, budget=budget)
        return {
            "per_s": b / t["median_s"],
            "first_s": t["first_s"],
            "batch": b,
            "speedup": (b / t["median_s"]) / base_rate if base_rate else None,
        }

    enc_in = st.encoder_inputs(m, enc_b)
    eager_enc = st.encoder_fn(m, low)

    def sdpa():
        with torch.inference_mode():
            ref = eager_enc(enc_in[0]).float()
        use_sdpa(True)
        try:
            r = rate(eager_enc, enc_in, enc_b, base("sam_encoder", enc_b))
            with torch.inference_mode():
                r["max_abs_diff"] = float((eager_enc(enc_in[0]).float() - ref).abs().max())
            r["attention_ops"] = attention_ops(lambda: eager_enc(enc_in[0]), d)
        finally:
            use_sdpa(False)
        return r

    out["sdpa_sam_encoder"] = v = _guarded("sdpa", budget, 5.0, sdpa)
    if v["status"] == "ok" and (v.get("speedup") or 0) > 1:
        use_sdpa(True)
        applied.add("sdpa_sam_encoder", lambda: use_sdpa(False))
    out["attention_ops_sam_eager"] = _guarded(
        "attention ops", budget, 2.0, lambda: {"ops": attention_ops(lambda: st.encoder_fn(m, low)(enc_in[0]), d)}
    ).get("ops")
    out["attention_ops_pose"] = _guarded(
        "attention ops",
        budget,
        2.0,
        lambda: {"ops": attention_ops(lambda: st.pose_fn(m, low)(st.pose_inputs(m, 2, 1)[0]), d)},
    ).get("ops")

    def compiled_encoder():
        sam = m.seg.model
        orig = sam.image_encoder
        sam.image_encoder = torch.compile(orig, backend=compile_backend, dynamic=False)
        try:
            r = rate(st.encoder_fn(m, low), enc_in, enc_b, base("sam_encoder", enc_b))
        except Exception:
            sam.image_encoder = orig
            raise
        r["_undo"] = lambda: setattr(sam, "image_encoder", orig)
        return r

    out["compile_sam_encoder"] = v = _guarded("compile sam encoder", budget, need, compiled_encoder)
    undo = v.pop("_undo", None)
    if undo is not None:
        if (v.get("speedup") or 0) > 1:
            applied.add("compile_sam_encoder", undo)
        else:
            undo()

    def compiled_pose():
        pm, orig_bb, orig_head = m.pose.model, m.pose.model.backbone, m.pose._head
        plain_floats(orig_bb)
        pm.backbone = torch.compile(orig_bb, backend=compile_backend, dynamic=True)
        m.pose._head = torch.compile(orig_head, backend=compile_backend, dynamic=True)

        def undo():
            pm.backbone, m.pose._head = orig_bb, orig_head

        try:
            r = rate(st.pose_fn(m, low), st.pose_inputs(m, pose_b), pose_b, base("pose", pose_b))
        except Exception:
            undo()
            raise
        r["_undo"] = undo
        return r

    out["compile_pose"] = v = _guarded("compile pose", budget, need, compiled_pose)
    undo = v.pop("_undo", None)
    if undo is not None:
        if (v.get("speedup") or 0) > 1:
            applied.add("compile_pose", undo)
        else:
            undo()

    out["cuda_graph_sam_decoder"] = (
        _guarded(
            "cuda graph",
            budget,
            5.0,
            lambda: _graph_decoder(
                m, sizes, budget, base(f"sam_decoder_batched_{sizes.decoder[-1]}", sizes.decoder[-1])
            ),
        )
        if cuda
        else {"status": "n/a: CUDA graphs need a CUDA device"}
    )

    def channels_last():
        model = m.det.model
        model.to(memory_format=torch.channels_last)
        try:
            r = rate(
                st.detector_fn(m, low, channels_last=True),
                st.detector_inputs(m, det_b),
                det_b,
                base("detector_net", det_b),
            )
        except Exception:
            model.to(memory_format=torch.contiguous_format)
            raise
        r["_undo"] = lambda: model.to(memory_format=torch.contiguous_format)
        return r

    out["channels_last_detector"] = v = _guarded("channels_last", budget, 5.0, channels_last)
    undo = v.pop("_undo", None)
    if undo is not None:
        if (v.get("speedup") or 0) > 1:
            applied.add("channels_last_detector", undo)
        else:
            undo()
    out["applied"] = list(applied.names)
    return out


def _graph_decoder(m: st.Models, sizes: st.Sizes, budget: Budget, base_rate: float | None) -> dict:
    """The batched decoder (prompt encoder + mask decoder, bf16) captured once as a CUDA graph and
    replayed with new prompts copied into its static inputs."""
    from bmp_ray.models.common import inference

    n = sizes.decoder[-1]
    inputs = st.decoder_inputs(m, n)
    sam = m.seg.model
    emb, pts = inputs[0]
    prompt = lambda p: m.seg.transform.apply_coords_torch(torch.as_tensor(p, device=m.device), (1080, 1920))  # noqa: E731
    static = {
        "feat": emb.features[None].clone(),
        "pts": prompt(pts),
        "lbl": torch.ones(pts.shape[:2], dtype=torch.int, device=m.device),
    }

    def step():
        with inference(m.device, st.BF16):
            sparse, dense = sam.prompt_encoder(points=(static["pts"], static["lbl"]), boxes=None, masks=None)
            return sam.mask_decoder(
                image_embeddings=static["feat"],
                image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = step()

    def replay(inp):
        e, p = inp
        static["feat"].copy_(e.features[None])
        static["pts"].copy_(prompt(p))
        graph.replay()
        return outs[1][:, 0].float().cpu()  # the IoU back on the host, as the eager decoder returns it

    t = timed(replay, inputs, m.device, warmup=max(2, sizes.warmup), repeats=sizes.repeats, budget=budget)
    rate = n / t["median_s"]
    return {
        "per_s": rate,
        "batch": n,
        "speedup": rate / base_rate if base_rate else None,
        "note": "not used by the end-to-end loop (Segmenter has no graph path)",
    }
