"""``bench gpu``'s ratios and table: each goal as measured / goal, the sum-of-stages and FLOP bounds of
the end-to-end loop, the published rates, and one plain-text table of everything measured so far."""

from __future__ import annotations

from bmp_ray.bench.gpu_stages import best


def _ok(v) -> bool:
    return isinstance(v, dict) and v.get("status", "ok") == "ok"


def stage_rates(ctx: dict) -> dict[str, float]:
    """The best rate of each stage (items/s) in the precision the e2e phase ran in, over the eager sweeps
    and the variants the e2e phase used (measured in the same precision)."""
    rows = ctx.get("eager", {}).get("rows", [])
    dt = ctx.get("precision", "bf16")
    var = ctx.get("variants", {})
    applied = set(var.get("applied", []))
    out = {}
    for stage, key, variant in (
        ("sam_encoder", "encoder", "compile_sam_encoder"),
        ("pose", "pose", "compile_pose"),
        ("detector_stage", "detector", None),
    ):
        b = best(rows, stage, dt)
        if b:
            out[key] = b["per_s"]
        if variant in applied and _ok(var.get(variant)) and var.get("precision", "bf16") == dt:
            out[key] = max(out.get(key, 0.0), var[variant]["per_s"])
    for r in rows:
        if r["stage"].startswith("sam_decoder_batched_") and r["status"] == "ok" and r["dtype"] == dt:
            n = int(r["stage"].rsplit("_", 1)[1])
            out[f"decoder_{n}"] = max(out.get(f"decoder_{n}", 0.0), r["per_s"])
    return out


def bounds(ctx: dict, n: int) -> dict:
    """Frames/s bounds at ``n`` people per frame: the sum of the stages' best times per frame (one
    encoder image, two detector images, 2n pose crops, n decoder prompts) and the FLOP bound (FLOPs per
    frame at the matmul ceiling of the precision the loop ran in)."""
    rates, fl, ceil = stage_rates(ctx), ctx.get("flops", {}), ctx.get("ceil", {})
    out: dict = {}
    dec = rates.get(f"decoder_{n}")
    if all(k in rates for k in ("encoder", "detector", "pose")) and dec:
        per_frame = 1 / rates["encoder"] + 2 / rates["detector"] + 2 * n / rates["pose"] + n / dec
        out["stage_bound_frames_per_s"] = 1 / per_frame
    if fl:
        f = fl["sam_encoder"] + 2 * fl["detector"] + 2 * n * fl["pose_crop"] + n * fl["sam_decoder_person"]
        out["flops_per_frame"] = f
        key = f"matmul_{ctx.get('precision', 'bf16')}_tflops"
        if ceil.get(key):
            out["flop_bound_frames_per_s"] = ceil[key] * 1e12 / f
            out["ceiling"] = key
    return out


def goals(ctx: dict, goal_table: dict, published: dict) -> dict:
    """``{"goals": {...}, "bounds": {...}, "vs_published": {...}, "ratio_<goal>": float, ...}``."""
    rows = ctx.get("eager", {}).get("rows", [])
    var, e2e = ctx.get("variants", {}), ctx.get("e2e", {})
    dt = ctx.get("precision", "bf16")  # the goals are bf16 figures; a CPU run reports its fp32 ones
    measured: dict[str, float | None] = {}
    b = best(rows, "sam_encoder", dt)
    measured["sam_encoder_bf16_eager"] = b["per_s"] if b else None
    c = var.get("compile_sam_encoder")
    measured["sam_encoder_compiled"] = c["per_s"] if _ok(c) else None
    p = best(rows, "pose", dt)
    cp = var.get("compile_pose")
    measured["pose"] = max([x for x in (p and p["per_s"], cp["per_s"] if _ok(cp) else None) if x] or [0]) or None
    d = best(rows, "detector_stage", dt)
    measured["detector_batched"] = d["per_s"] if d else None
    measured["decoder_batched_speedup"] = ctx.get("eager", {}).get("decoder_batched_speedup")
    people = sorted(int(k.split("_")[1]) for k, v in e2e.items() if k.startswith("people_") and isinstance(v, dict))
    bnd = {n: bounds(ctx, n) for n in people}
    for n in people:
        fps = e2e[f"people_{n}"]["frames_per_s"]
        for k in ("stage_bound_frames_per_s", "flop_bound_frames_per_s"):
            if k in bnd[n]:
                bnd[n][k.replace("_frames_per_s", "_fraction")] = fps / bnd[n][k]
    top = people[-1] if people else None
    if top is not None:
        run = e2e[f"people_{top}"]
        measured["e2e_frames_per_s"] = run["frames_per_s"]
        measured["e2e_vs_stage_bound"] = bnd[top].get("stage_bound_fraction")
        measured["e2e_vs_flop_bound"] = bnd[top].get("flop_bound_fraction")
        measured["gpu_busy"] = run.get("gpu_busy")
    r = ctx.get("research")
    measured["loop_vs_research"] = r["ratio"] if isinstance(r, dict) else None
    out: dict = {"goals": {}, "goal_precision": dt, "bounds": {str(n): v for n, v in bnd.items()}, "vs_published": {}}
    for name, (unit, goal) in goal_table.items():
        v = measured.get(name)
        g = {
            "unit": unit,
            "goal": goal,
            "measured": v,
            "ratio": v / goal if v else None,
            "status": "measured" if v else "not measured",
        }
        out["goals"][name] = g
        if v:
            out[f"ratio_{name}"] = v / goal
    for name, rate in published.items():
        v = (
            measured.get(name)
            if name != "sam_encoder_sdpa"
            else (var["sdpa_sam_encoder"]["per_s"] if _ok(var.get("sdpa_sam_encoder")) else None)
        )
        if v:
            out["vs_published"][name] = {"ours": v, "published": rate, "ratio": v / rate}
    return out


def table(data: dict) -> list[list]:
    """Rows (header first): phase, measure, value, unit, goal, ratio."""
    rows: list[list] = [["phase", "measure", "value", "unit", "goal", "ratio"]]
    ph = data.get("phases", {})
    for name, p in ph.items():
        rows.append(
            [name, "status", p.get("status", ""), f"{p.get('seconds', 0):.1f} s", f"{p.get('budget_s', 0):.0f} s", ""]
        )
    start = ph.get("start", {})
    if start:
        rows.append(["start", "device", start.get("device_name", ""), start.get("device", ""), "", ""])
        rows.append(["start", "mmcv.ops stand-in", str(data.get("mmcv_ops_stand_in")), "", "", ""])
    for k, v in ph.get("ceilings", {}).items():
        if isinstance(v, float) and k not in ("seconds", "budget_s"):
            rows.append(["ceilings", k, v, "TFLOP/s" if "tflops" in k else "GB/s", "", ""])
    for r in ph.get("stages", {}).get("rows", []):
        label = f"{r['stage']} {r['dtype']} b{r['batch']}"
        if r["status"] != "ok":
            rows.append(["stages", label, r["status"][:40], "", "", ""])
        else:
            rows.append(["stages", label, r["per_s"], f"{r['unit']}/s", "", r.get("of_ceiling") or ""])
    for k, v in ph.get("variants", {}).items():
        if isinstance(v, dict):
            rows.append(
                ["variants", k, v.get("per_s", v.get("status", "")[:40]), "items/s", "", v.get("speedup") or ""]
            )
    for k, v in ph.get("e2e", {}).items():
        if isinstance(v, dict):
            rows.append(["e2e", f"{k} frames/s", v["frames_per_s"], "frames/s", "", ""])
            if "host_core_ms_per_frame" in v:
                rows.append(["e2e", f"{k} host CPU", v["host_core_ms_per_frame"], "core-ms/frame", "", ""])
            if v.get("gpu_busy") is not None:
                rows.append(["e2e", f"{k} GPU busy", v["gpu_busy"], "fraction", "", ""])
    for n, b in data.get("bounds", {}).items():
        for k in ("stage_bound_frames_per_s", "flop_bound_frames_per_s"):
            if k in b:
                rows.append(
                    [
                        "bounds",
                        f"{n} people {k.split('_')[0]} bound",
                        b[k],
                        "frames/s",
                        "",
                        b.get(k.replace("_frames_per_s", "_fraction"), ""),
                    ]
                )
    r = ph.get("research", {})
    if "ratio" in r:
        rows.append(["research", "research-style s / ours s", r["ratio"], "x", "", ""])
    for name, g in data.get("goals", {}).items():
        rows.append(
            [
                "goal",
                name,
                g["measured"] if g["measured"] is not None else "-",
                g["unit"],
                g["goal"],
                g["ratio"] if g["ratio"] is not None else "-",
            ]
        )
    return rows
