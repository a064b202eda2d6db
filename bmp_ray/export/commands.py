"""The ``bmp-ray render``, ``export`` and ``report`` commands: parse, check, call the library, print.

``bmp-ray render OUT [--video ID ...] [--out DIR] [--frames] [--side-by-side]``  overlays as MP4 / PNGs
``bmp-ray export OUT --format coco|posetrack --out PATH [--gt COCO.json]``        COCO / PoseTrack JSON
``bmp-ray report OUT [--out DIR]``                                                 a static HTML report

Each prints one JSON line per thing written and returns an exit code: 0, 1 when some video could not be
rendered, 2 on bad input (a ``BmpRayError`` with a one-line message, which ``bmp_ray.cli.main`` logs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from bmp_ray.cli import emit
from bmp_ray.errors import ConfigError, OutputError
from bmp_ray.fs import is_url

log = logging.getLogger(__name__)


def _fraction(name: str, low_open: bool = False):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: expected a number, got {text!r}") from None
        if not (0.0 < v <= 1.0 if low_open else 0.0 <= v <= 1.0):
            raise argparse.ArgumentTypeError(f"{name}: expected a number in {'(0' if low_open else '[0'}, 1], got {v}")
        return v

    return parse


def _local_folder(option: str, path: str) -> str:
    if is_url(path):
        raise ConfigError(f"{option} {path!r}: expected a local folder (videos and pages are written to disk)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{option} {path!r}: expected a folder, it is a file")
    return path


def _cmd_render(args: argparse.Namespace) -> int:
    from bmp_ray.export.read import read_results, read_run
    from bmp_ray.render.annotators import default_overlay
    from bmp_ray.render.video import render_video

    dest = _local_folder("--out", args.dest)
    overlay = default_overlay(args.threshold, args.opacity)
    run = read_run(args.folder)
    failed = 0
    for video in read_results(args.folder, args.video):
        if not video.committed:
            log.info("%s: skipped, no frames (%s)", video.video_id, video.row.get("error") or video.row.get("status"))
            continue
        try:
            done = render_video(video, run, dest, frames=args.frames, side_by_side=args.side_by_side, overlay=overlay)
        except OutputError as exc:
            failed += 1
            emit(json.dumps({"video_id": video.video_id, "ok": False, "error": str(exc)}))
            continue
        emit(json.dumps({**done, "ok": True}))
    return 1 if failed else 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.format == "posetrack":
        from bmp_ray.export.posetrack import export_posetrack

        if args.gt:
            raise ConfigError("--gt: evaluation is for --format coco; PoseTrack files go to PoseTrack's own tools")
        emit(json.dumps(export_posetrack(args.folder, args.dest, videos=args.video, threshold=args.threshold)))
        return 0
    from bmp_ray.export.coco import export_coco
    from bmp_ray.export.coco_eval import load_ground_truth

    gt = None
    if args.gt:
        if not os.path.isfile(args.gt):
            raise ConfigError(f"--gt {args.gt!r}: not found; expected a COCO annotation file (images and annotations)")
        try:
            gt = load_ground_truth(args.gt)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"--gt {args.gt!r}: expected a COCO annotation file, got one that fails to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    emit(json.dumps(export_coco(args.folder, args.dest, videos=args.video, score=args.score, gt=gt)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bmp_ray.report.page import write_report

    emit(json.dumps(write_report(args.folder, _local_folder("--out", args.dest), args.video)))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="OUT", help="the output folder of a run (local path or URL)")
    p.add_argument(
        "--video",
        action="append",
        metavar="ID",
        help="only this video id, as in videos.parquet (repeatable; default: every video)",
    )


def add_parsers(sub) -> None:
    """Register ``render``, ``export`` and ``report`` on the ``bmp-ray`` subparsers ``sub``."""
    pr = sub.add_parser("render", help="draw masks, boxes, skeletons and labels on the videos as MP4 or PNGs")
    _common(pr)
    pr.add_argument(
        "--out", dest="dest", metavar="DIR", default="render", help="folder for <video>.mp4 (default ./render)"
    )
    pr.add_argument("--frames", action="store_true", help="one PNG per frame in <video>/ instead of an MP4")
    pr.add_argument("--side-by-side", action="store_true", help="the original frame left of the overlay")
    pr.add_argument(
        "--threshold",
        type=_fraction("--threshold"),
        default=0.3,
        help="keypoints scoring below this are left out (default 0.3)",
    )
    pr.add_argument(
        "--opacity", type=_fraction("--opacity", low_open=True), default=0.5, help="mask opacity (default 0.5)"
    )
    pr.set_defaults(func=_cmd_render)

    pe = sub.add_parser("export", help="COCO results JSON (and COCO AP with --gt) or PoseTrack18 JSON per video")
    _common(pe)
    pe.add_argument("--format", required=True, choices=("coco", "posetrack"))
    pe.add_argument(
        "--out",
        dest="dest",
        metavar="PATH",
        required=True,
        help="coco: the results file (the image id mapping goes beside it as .images.json); "
        "posetrack: a folder for one JSON per video",
    )
    pe.add_argument("--gt", help="coco: COCO ground truth; matched by file_name, prints AP per type")
    pe.add_argument(
        "--score",
        choices=("box", "pose"),
        default="box",
        help="coco: each entry's score, the detector's or the pose score (default box)",
    )
    pe.add_argument(
        "--threshold",
        type=_fraction("--threshold"),
        default=0.3,
        help="posetrack: keypoints scoring below this are not visible (default 0.3)",
    )
    pe.set_defaults(func=_cmd_export)

    pp = sub.add_parser("report", help="a static HTML page with plots of a run's results")
    _common(pp)
    pp.add_argument(
        "--out", dest="dest", metavar="DIR", default="report", help="folder for index.html and PNGs (default ./report)"
    )
    pp.set_defaults(func=_cmd_report)
