"""The ``bmp-ray`` command. Subcommands are thin: they parse, call the library, and print results.

``bmp-ray run INPUT... --out DIR``   BMP over videos and images into Parquet (Ray, or ``--no-ray``)
``bmp-ray track OUT``       track the videos of an output folder again (no model runs)
``bmp-ray train``           fine-tune a model with Ray Train (``--config``, ``--set``; see README)
``bmp-ray maskout-preview`` a picture of detector training samples with people masked out
``bmp-ray probe PATH...``   one JSON object per input: the probe, or the error
``bmp-ray bench NAME``      a side-by-side benchmark (table, or one JSON object with ``--json``)
``bmp-ray weights list``    the registered models and where their checkpoints come from
``bmp-ray weights fetch``   download (or find), verify and layout-check checkpoints; print their paths
``bmp-ray weights synth``   seeded random checkpoints in the official layouts (tests, benchmarks)
``bmp-ray render OUT``      overlay videos (or PNGs) of an output folder's results
``bmp-ray export OUT``      COCO results or PoseTrack18 JSON of an output folder (``--gt``: COCO AP)
``bmp-ray report OUT``      a static HTML report with plots
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import logging
import os
import sys
from typing import Sequence

from bmp_ray.cluster import VERBOSE_ENV, route_warnings
from bmp_ray.errors import BmpRayError, VideoError

log = logging.getLogger("bmp_ray")
BENCHMARKS = {
    "decode": "bmp_ray.bench.decode",
    "stages": "bmp_ray.bench.stages",
    "loop": "bmp_ray.bench.loop",
    "pipeline": "bmp_ray.bench.pipeline",
    "sink": "bmp_ray.bench.sink",
    "track": "bmp_ray.bench.track",
    "memory": "bmp_ray.bench.memory",
    "host": "bmp_ray.bench.host",
    "gpu": "bmp_ray.bench.gpu",
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``bmp-ray run: error: ... (see bmp-ray run --help)``, exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def emit(text: str) -> None:
    """The CLI's output to the user (results go to stdout; logs go to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _cmd_probe(args: argparse.Namespace) -> int:
    from bmp_ray.video import list_inputs, probe

    failed = 0
    try:
        sources = list_inputs(args.paths)
    except (VideoError, ValueError) as exc:
        emit(json.dumps({"input": " ".join(args.paths), "ok": False, "error": str(exc)}))
        return 1
    for src in sources:
        try:
            info = probe(src.uri, count_frames=args.count_frames)
            emit(json.dumps({"video_id": src.video_id, "ok": True, **info.to_dict()}))
        except VideoError as exc:
            failed += 1
            emit(
                json.dumps(
                    {"video_id": src.video_id, "uri": src.uri, "ok": False, "cause": exc.cause, "error": str(exc)}
                )
            )
    log.info("probed %d inputs, %d failed", len(sources), failed)
    return 1 if failed else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from bmp_ray.bench import format_table

    mod = importlib.import_module(BENCHMARKS[args.name])
    result = mod.run(args)
    if args.json:
        emit(json.dumps({k: v for k, v in result.items() if k != "rows"}, sort_keys=True))
    else:
        emit(format_table(result["rows"]))
        for key in sorted(k for k in result if k.startswith("ratio")):
            goal = f" (goal {result['goal']})" if key == "ratio" and "goal" in result else ""
            emit(f"{key}: {result[key]:.3f}{goal}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from bmp_ray.pipeline import config as run_config
    from bmp_ray.pipeline.runner import run

    cfg = run_config.load(
        args.config,
        args.set,
        **{
            "models.preset": args.preset,
            "models.weights": args.weights,
            "models.offline": args.offline or None,
            "decode.stride": args.stride,
            "decode.target_fps": args.target_fps,
            "bmp.iterations": args.iterations,
        },
    )
    summary = run(args.inputs, args.out, cfg, address=args.address, use_ray=not args.no_ray)
    emit(json.dumps(summary.to_dict(), sort_keys=True))
    if not (args.fail_on_error and summary.failed):
        return 0
    return 2 if summary.ok == 0 and summary.skipped == 0 else 1  # 2: nothing at all could be processed


def _cmd_track(args: argparse.Namespace) -> int:
    from bmp_ray.pipeline.retrack import retrack

    emit(json.dumps(retrack(args.out, config_path=args.config, overrides=args.set, videos=args.video), sort_keys=True))
    return 0


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bmp-ray run`` (also those of ``jobs/process_archive.py``)."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video/image files, folders, globs or URLs")
    p.add_argument("--out", required=True, help="output folder (local path, s3://, gs://, ...)")
    p.add_argument("--config", help="a TOML or YAML run config (see README)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config field, e.g. sam.num_gpus=0.5 (repeatable)",
    )
    from bmp_ray.pipeline.config import PRESETS

    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="model set: bmp (official, default), bmp-paper (SAM 2.1 Hiera-B+, the research "
        "configuration) or test (small variants)",
    )
    p.add_argument("--weights", help="checkpoint folder in the official layout (default: hub cache)")
    p.add_argument("--offline", action="store_true", help="never download weights")
    p.add_argument("--stride", type=int, help="keep every Nth frame")
    p.add_argument("--target-fps", type=float, help="keep frames at about this rate")
    p.add_argument("--iterations", type=int, help="BMP iterations (default 2)")
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--no-ray", action="store_true", help="run in this process, without Ray")
    p.add_argument(
        "--fail-on-error", action="store_true", help="exit 1 when any input failed, 2 when every input failed"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from bmp_ray.train import config as train_config
    from bmp_ray.train.trainer import fit

    task = args.model if args.model in train_config.TASK_NAMES else None
    cfg = train_config.load(
        args.config,
        args.set,
        **{
            "model.task": task,
            "model.name": None if task else args.model,
            "model.init": args.init,
            "run.name": args.name,
            "run.storage_path": args.storage,
            "run.num_workers": args.workers,
            "run.use_gpu": args.gpu or None,
            "run.export": args.export,
            "optim.epochs": args.epochs,
        },
    )
    summary = fit(cfg, address=args.address)
    emit(json.dumps(summary.to_dict(), sort_keys=True))
    return 0


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bmp-ray train`` (also those of ``jobs/finetune.py``)."""
    p.add_argument("--config", help="a TOML or YAML training config (see README)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config field, e.g. optim.lr=1e-4 (repeatable)",
    )
    p.add_argument(
        "--model",
        help="what to train: 'pose' (MaskPose-B, the default), 'detector' (the BMP "
        "RTMDet-Ins-L, people masked out) or a registry name (e.g. rtmdet-ins-tiny)",
    )
    p.add_argument("--init", help="weights folder or file to start from (default: hub cache)")
    p.add_argument("--name", help="run name; the same name and storage resumes the run")
    p.add_argument("--storage", help="checkpoint storage: a folder shared by all nodes, s3:// or gs://")
    p.add_argument("--workers", type=int, help="DDP workers (default 2)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker (NCCL)")
    p.add_argument("--epochs", type=int, help="epochs (default: the recipe's, pose 210, detector 10)")
    p.add_argument("--export", help="write the final weights here in the official layout")
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")


def _cmd_maskout_preview(args: argparse.Namespace) -> int:
    from bmp_ray.train.preview import maskout_preview

    out = maskout_preview(args.ann_file, args.img_dir, args.out, draws=args.draws, seed=args.seed, width=args.width)
    emit(json.dumps({"out": str(out)}))
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from bmp_ray.models import registry

    if args.action == "list":
        for name, spec in registry.MODELS.items():
            c = spec.checkpoint
            where = f"hf://{c.hf_repo}/{c.filename}" if c.hf_repo else (c.url or c.filename)
            emit(
                json.dumps(
                    {
                        "name": name,
                        "family": spec.family,
                        "test_variant": spec.test_variant,
                        "checkpoint": where,
                        "sha256": c.sha256,
                        "description": spec.description,
                    }
                )
            )
        return 0
    if args.action == "synth":
        from bmp_ray.models.synth import synthesize

        written = synthesize(args.out, args.model or None, full=args.full, seed=args.seed)
        for name, path in written.items():
            emit(json.dumps({"name": name, "path": str(path)}))
        return 0
    from bmp_ray.models.build import load_model

    for name in args.model:
        loaded = load_model(name, args.weights, offline=args.offline or None)
        emit(json.dumps({"name": name, "path": str(loaded.path)}))
    return 0


def _summary(modname: str) -> str:
    """The first line of a module's docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(modname)
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else modname


def _bench_named(argv: Sequence[str]) -> str | None:
    """The NAME of ``bmp-ray [-v] bench NAME ...`` in ``argv``, else None."""
    words = [a for a in argv if not a.startswith("-")]
    return words[1] if len(words) > 1 and words[0] == "bench" else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``argv`` (default ``sys.argv[1:]``) names the one benchmark whose options are loaded."""
    bench = _bench_named(sys.argv[1:] if argv is None else argv)
    p = Parser(prog="bmp-ray", description="BBox-Mask-Pose over video archives on Ray.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pp = sub.add_parser("probe", help="probe videos and images; one JSON line per input")
    pp.add_argument("paths", nargs="+", help="files, folders, globs or URLs (s3://, gs://, ...)")
    pp.add_argument("--count-frames", action="store_true", help="count frames exactly by demuxing")
    pp.set_defaults(func=_cmd_probe)

    pr = sub.add_parser("run", help="run BMP over videos and images into Parquet")
    add_run_arguments(pr)
    pr.set_defaults(func=_cmd_run)

    pk = sub.add_parser("track", help="track the videos of an output folder again (e.g. with other [track] settings)")
    pk.add_argument("out", help="an output folder of `bmp-ray run`")
    pk.add_argument("--config", help="a config file whose [track] section to use (other sections are ignored)")
    pk.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="track.KEY=VALUE",
        help="override a tracker setting, e.g. track.max_age=60 (repeatable)",
    )
    pk.add_argument("--video", action="append", metavar="VIDEO_ID", help="only this video (repeatable)")
    pk.set_defaults(func=_cmd_track)

    pt = sub.add_parser("train", help="fine-tune a model with Ray Train (DDP), with checkpoints and resume")
    add_train_arguments(pt)
    pt.set_defaults(func=_cmd_train)

    pm = sub.add_parser("maskout-preview", help="a picture of detector training samples with people masked out")
    pm.add_argument("ann_file", help="COCO instances json")
    pm.add_argument("img_dir", help="its images")
    pm.add_argument("--out", required=True, help="the picture (.jpg or .png)")
    pm.add_argument("--draws", type=int, default=3, help="augmented samples per image (default 3)")
    pm.add_argument("--seed", type=int, default=0)
    pm.add_argument("--width", type=int, default=1200, help="picture width in pixels")
    pm.set_defaults(func=_cmd_maskout_preview)

    pw = sub.add_parser("weights", help="list, fetch or synthesize model checkpoints")
    wsub = pw.add_subparsers(dest="action", required=True, metavar="ACTION")
    wsub.add_parser("list", help="registered models, one JSON line each")
    wf = wsub.add_parser("fetch", help="download or find, verify and load checkpoints (prints paths)")
    wf.add_argument("model", nargs="+", help="registry names (see `weights list`)")
    wf.add_argument("--weights", help="a checkpoint file or a folder in the official layout")
    wf.add_argument("--offline", action="store_true", help="use only local files and caches")
    ws = wsub.add_parser("synth", help="write seeded random checkpoints in the official layouts")
    ws.add_argument("--out", required=True, help="output folder")
    ws.add_argument("--full", action="store_true", help="also the full-size models (several GB)")
    ws.add_argument("--model", action="append", help="only this model (repeatable)")
    ws.add_argument("--seed", type=int, default=0)
    pw.set_defaults(func=_cmd_weights)

    pb = sub.add_parser("bench", help="side-by-side benchmarks (see README)")
    bsub = pb.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, modname in BENCHMARKS.items():
        b = bsub.add_parser(name, help=_summary(modname))
        b.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        if name == bench:  # only the benchmark asked for is imported (they import torch, Ray, ...)
            importlib.import_module(modname).add_arguments(b)
    pb.set_defaults(func=_cmd_bench)

    from bmp_ray.export.commands import add_parsers  # render, export, report (it imports emit from here)

    add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # a local Ray started by this process passes it to its workers
    route_warnings(bool(args.verbose))  # library warnings (deprecations...) become log records: shown with -v
    try:
        return args.func(args)
    except BmpRayError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
