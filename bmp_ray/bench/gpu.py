"""``bmp-ray bench gpu``: the stages and the loop on one GPU against the goals, in one ~8 minute command.

``python -m bmp_ray.bench.gpu`` is the same without the CLI's imports (the GPU machine's command: see
``gpu_pack``). Spec: ``shared/spec/gpu-bench.md``; tested on the CPU with ``--device cpu --quick``.

Phases, each behind a wall-clock budget (what is left of a phase when its budget is spent is recorded
as skipped), JSON (``gpu.json``) and a table (``gpu.txt``) written to ``--out`` after every phase.
With ``--deadline-s`` (the GPU command sets it 20 s inside its ``timeout``), a run that has fallen
behind gives each phase still to run its share of the time left, in proportion to the budgets
(``fitted``), so an overrun early (a slow start, a long compile) shortens the later phases instead of
the ``timeout`` killing them; a phase reached after the deadline is recorded as skipped:

start (versions, clocks, the carried wheels, the stand-ins) -> ceilings (matmul, copies) -> build (SAM
ViT-B, RTMDet-Ins-L, MaskPose-B with seeded random weights in the official architectures; the ``*-tiny``
variants with ``--quick``) -> stages (eager, fp32 vs bf16, batch sweeps, the SAM decoder batched vs per
person) -> variants (SDPA, torch.compile, CUDA graphs, channels_last) -> e2e (``BMPLoop`` at 10 and 20
people per frame on the shared 1080p video, best variants) -> research (``bench loop``'s comparison).

Every goal of the issue is reported as ``ratio_<goal>`` = measured / goal (>= 1: met). No Ray here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import traceback

log = logging.getLogger(__name__)
DEFAULT_VIDEO = "videos/mmtracking_demo.mp4"
PHASES = {"start": 30, "ceilings": 10, "build": 20, "stages": 90, "variants": 180, "e2e": 90, "research": 45}
QUICK_BUDGET_SCALE = 5.0  # a CPU test run guards nothing in earnest: its budgets only stop runaways
# goal name -> (what is compared, goal); ratio = measured / goal
GOALS = {
    "sam_encoder_bf16_eager": ("img/s", 120.0),
    "sam_encoder_compiled": ("img/s", 200.0),
    "pose": ("crops/s", 5000.0),
    "detector_batched": ("img/s, whole stage", 400.0),
    "decoder_batched_speedup": ("x per-person loop", 10.0),
    "e2e_vs_stage_bound": ("fraction, most people", 0.8),
    "e2e_vs_flop_bound": ("fraction, most people", 0.2),
    "e2e_frames_per_s": ("frames/s, most people", 53.0),
    "loop_vs_research": ("x research-style", 3.0),
    "gpu_busy": ("fraction, most people", 0.85),
}
# published rates (gpu-bench.md), for the "vs published" figures
PUBLISHED = {
    "sam_encoder_bf16_eager": 39.8,
    "sam_encoder_compiled": 54.7,
    "sam_encoder_sdpa": 73.2,
    "pose": 944.0,
    "detector_batched": 1 / 3.68e-3,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="test variants and small sizes (CI on the CPU)")
    p.add_argument("--out", help="folder for gpu.json / gpu.txt after every phase (default: $OUT, else a temp dir)")
    p.add_argument("--weights", help="weights folder (default: seeded random weights synthesized to a temp dir)")
    p.add_argument("--wheels", help="folder of carried *.whl to unpack onto sys.path first (bench gpu_pack)")
    p.add_argument(
        "--video", help=f"the 1080p video (default: $BMP_RAY_TEST_DATA/{DEFAULT_VIDEO}, else WHEELS/data/*.mp4)"
    )
    p.add_argument(
        "--budget-s",
        action="append",
        default=[],
        metavar="PHASE=SECONDS",
        help=f"a phase's wall-clock budget (defaults: {PHASES})",
    )
    p.add_argument(
        "--budget-scale",
        type=float,
        help=f"multiply every phase budget (default 1; {QUICK_BUDGET_SCALE:g} with --quick)",
    )
    p.add_argument("--compile-backend", help="torch.compile backend (default: inductor; eager with --quick)")
    p.add_argument(
        "--deadline-s",
        type=float,
        help="seconds from the start by which the whole run must end (default: none; see fitted)",
    )


class Report:
    """The run's results, written as JSON and a table after every phase."""

    def __init__(self, out_dir: str, args: argparse.Namespace):
        self.out_dir = out_dir
        self.data: dict = {"benchmark": "gpu", "quick": bool(args.quick), "phases": {}, "mmcv_ops_stand_in": False}
        os.makedirs(out_dir, exist_ok=True)

    def phase(
        self, name: str, status: str, seconds: float, budget: float, result: dict | None, ctx: dict, error: str = ""
    ):
        from bmp_ray.bench.gpu_report import goals

        self.data["phases"][name] = {
            "status": status,
            "seconds": seconds,
            "budget_s": budget,
            **({"error": error} if error else {}),
            **(result or {}),
        }
        self.data.update(goals(ctx, GOALS, PUBLISHED))
        self.write()

    def write(self) -> None:
        from bmp_ray.bench import format_table
        from bmp_ray.fs import atomic_path

        for name, text in (
            ("gpu.json", json.dumps(_jsonable(self.data), indent=1)),
            ("gpu.txt", format_table(rows(self.data)) + "\n"),
        ):
            with atomic_path(os.path.join(self.out_dir, name)) as tmp:
                tmp.write_text(text)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items() if not callable(v)}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _budgets(args) -> dict[str, float]:
    scale = args.budget_scale if args.budget_scale is not None else QUICK_BUDGET_SCALE if args.quick else 1.0
    b = {k: v * scale for k, v in PHASES.items()}
    for item in args.budget_s:
        name, _, sec = item.partition("=")
        if name not in PHASES or not sec:
            from bmp_ray.errors import ConfigError

            raise ConfigError(f"--budget-s {item!r}: expected PHASE=SECONDS with PHASE one of {', '.join(PHASES)}")
        b[name] = float(sec)
    return b


def fitted(budgets: dict[str, float], name: str, left: float | None) -> float:
    """Phase ``name``'s budget when ``left`` seconds remain before the run's deadline (None: no deadline).

    ``budgets`` holds every phase in run order. The phase gets its own budget while the phases still to
    run (this one and those after it) fit in ``left``; otherwise its share of ``left`` in proportion to
    their budgets, so each later phase keeps its share too.
    """
    own = budgets[name]
    if left is None:
        return own
    names = list(budgets)
    rest = sum(budgets[n] for n in names[names.index(name) :])
    return own if rest <= left else max(left, 0.0) * own / rest


def _video(args) -> str:
    from pathlib import Path

    from bmp_ray.testdata import data_dir

    if args.video:
        return args.video
    root = data_dir()
    if root is not None and (root / DEFAULT_VIDEO).is_file():
        return str(root / DEFAULT_VIDEO)
    if args.wheels:
        found = sorted((Path(args.wheels) / "data").glob("*.mp4"))
        if found:
            return str(found[0])
    from bmp_ray.errors import ConfigError

    raise ConfigError("bench gpu: no video: pass --video, set BMP_RAY_TEST_DATA, or carry one in WHEELS/data/")


def run(args: argparse.Namespace) -> dict:
    t_start = time.perf_counter()
    if args.deadline_s is not None and not args.deadline_s > 0:
        from bmp_ray.errors import ConfigError

        raise ConfigError(f"--deadline-s: expected seconds > 0, got {args.deadline_s}")
    start: dict = {}
    if args.wheels:
        from bmp_ray.bench.gpu_env import add_wheels

        start["wheels"] = add_wheels(args.wheels)
    from bmp_ray.bench import gpu_env

    stand_ins = gpu_env.install_stand_ins()
    import torch

    from bmp_ray.bench import gpu_e2e, gpu_stages, gpu_variants
    from bmp_ray.bench.gpu_timing import Budget
    from bmp_ray.models.build import check_device

    device = check_device(args.device)
    sizes = gpu_stages.Sizes.of(args.quick)
    budgets = _budgets(args)
    out_dir = args.out or os.environ.get("OUT") or tempfile.mkdtemp(prefix="bmp_ray_bench_gpu_")
    report = Report(out_dir, args)
    report.data.update(
        device=str(device),
        out=out_dir,
        budgets=budgets,
        mmcv_ops_stand_in=stand_ins["mmcv.ops"] is not None,
        stand_ins={k: v for k, v in stand_ins.items()},
    )
    backend = args.compile_backend or ("eager" if args.quick else "inductor")
    ctx: dict = {"precision": "bf16" if device.type == "cuda" else "fp32"}

    def phase(name, fn):
        t = time.perf_counter()
        left = None if args.deadline_s is None else args.deadline_s - (t - t_start)
        if left is not None and left <= 0:
            log.warning("phase %s skipped: the run's deadline (--deadline-s %g) has passed", name, args.deadline_s)
            report.phase(name, "skipped: the run's deadline has passed", 0.0, 0.0, None, ctx)
            return
        given = fitted(budgets, name, left)
        if given < budgets[name]:
            log.warning("phase %s: %.0f s of its %.0f s budget, to end by the deadline", name, given, budgets[name])
        budget = Budget(given)
        try:
            result = fn(budget)
            status = "partial" if any("skipped" in str(v) for v in _leaves(result)) else "ok"
            report.phase(name, status, time.perf_counter() - t, given, result, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded; later phases that need it are skipped
            log.error("phase %s failed: %s", name, exc)
            report.phase(
                name,
                "error",
                time.perf_counter() - t,
                given,
                None,
                ctx,
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}",
            )

    def p_start(_b):
        info = gpu_env.machine(device)
        torch.manual_seed(0)
        return {**start, **info, "seconds_to_start": time.perf_counter() - t_start}

    phase("start", p_start)
    phase("ceilings", lambda b: ctx.setdefault("ceil", gpu_stages.ceilings(device, sizes, b)))

    def p_build(_b):
        from bmp_ray.models.synth import synthesize
        from bmp_ray.pipeline.config import PRESETS

        names = PRESETS["test" if args.quick else "bmp"]
        frames = gpu_e2e.read_frames(_video(args), sizes.frames, sizes.scale)
        weights = args.weights
        t = time.perf_counter()
        if weights is None:
            ctx["tmp"] = tempfile.TemporaryDirectory(prefix="bmp_ray_gpu_weights_")
            weights = ctx["tmp"].name
            synthesize(weights, list(names.values()), full=not args.quick)
        synth_s = time.perf_counter() - t
        models, info = gpu_stages.build(names, weights, device, frames[0])
        models.det.model.bbox_head.test_cfg["max_per_img"] = max(sizes.people)
        ctx.update(models=models, frames=frames)
        ctx["flops"] = gpu_stages.count_flops(models, frames[0])
        return {
            **info,
            "synthesize_s": synth_s,
            "weights": "random (seeded)" if args.weights is None else weights,
            "flops_per_item": ctx["flops"],
        }

    phase("build", p_build)
    if "models" not in ctx:
        return finish(report, ctx)
    m = ctx["models"]
    phase(
        "stages",
        lambda b: ctx.setdefault(
            "eager",
            gpu_stages.eager(m, ctx["frames"][0], sizes, b, ctx["flops"], ctx.get("ceil", {}), ctx["precision"]),
        ),
    )
    applied = gpu_variants.Applied()
    if "eager" in ctx:
        phase(
            "variants",
            lambda b: ctx.setdefault(
                "variants", gpu_variants.run(m, sizes, b, ctx["eager"], backend, applied, ctx["precision"])
            ),
        )

    def p_e2e(b):
        from bmp_ray.bench.gpu_stages import best

        half = torch.bfloat16 if device.type == "cuda" else None
        # each stage in bf16 on CUDA, unless its whole-stage bf16 call failed in the stages phase
        det_ok = half is not None and best(ctx.get("eager", {}).get("rows", []), "detector_stage", "bf16")
        m.det.dtype, m.pose.dtype, m.seg.dtype = half if det_ok else None, half, half
        out = ctx["e2e"] = {
            "precision": "bf16" if half else "fp32",
            "variants": list(applied.names),
            "detector_precision": "bf16" if det_ok else "fp32",
        }
        for n in sizes.people:
            if b.over():
                out[f"people_{n}"] = "skipped: budget spent"
                continue
            run_n = lambda: gpu_e2e.run_people(  # noqa: E731
                m,
                ctx["frames"],
                n,
                1 if args.quick else 5,
                b,
                out_dir,
                warmup=not args.quick,
                breakdown=not args.quick or n == sizes.people[-1],
            )
            try:
                out[f"people_{n}"] = run_n()
            except Exception as exc:  # noqa: BLE001 - once more with every stage in fp32, the error kept
                if all(x.dtype is None for x in (m.det, m.pose, m.seg)):
                    raise
                log.warning("e2e at %d people failed (%s); again in fp32", n, exc)
                out.setdefault("errors", {})[str(n)] = f"{type(exc).__name__}: {exc}"[:800]
                m.det.dtype = m.pose.dtype = m.seg.dtype = None
                out["precision"] = out["detector_precision"] = "fp32"
                out[f"people_{n}"] = run_n()
        return out

    phase("e2e", p_e2e)
    applied.restore()
    phase(
        "research",
        lambda b: ctx.setdefault(
            "research",
            gpu_e2e.research(
                m, ctx["frames"][0], sizes.research_people, 1 if args.quick else 2, b, warmup=not args.quick
            ),
        ),
    )
    return finish(report, ctx)


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, list):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def finish(report: Report, ctx: dict) -> dict:
    ctx.pop("tmp", None)
    return {**_jsonable(report.data), "rows": rows(report.data)}


def rows(data: dict) -> list[list]:
    from bmp_ray.bench.gpu_report import table

    return table(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bmp_ray.bench.gpu", description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--json", action="store_true", help="print the JSON (default: the table)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run(args)
    from bmp_ray.bench import format_table

    text = (
        json.dumps(_jsonable({k: v for k, v in result.items() if k != "rows"}), sort_keys=True)
        if args.json
        else format_table(result["rows"])
    )
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
