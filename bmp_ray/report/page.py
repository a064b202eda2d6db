"""The run report: a static HTML page with PNG plots (matplotlib's Agg canvas, no display, no server).

``DIR/index.html`` links ``DIR/*.png``: per video people per frame over time stacked by the BMP iteration
that found them (what the second iteration adds is BMP's point), histograms of the detector, pose and
mask scores, track lengths (when the output has track ids), the failed inputs with their errors, and the
run's config and models. Every link is relative: the folder opens from disk and can be copied whole.
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bmp_ray.export.parquet import output_name
from bmp_ray.fs import atomic_path
from bmp_ray.report.stats import BINS, RunStats, VideoStats, collect

log = logging.getLogger(__name__)


def _save(fig: Figure, path: Path) -> str:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    return path.name


def people_plot(v: VideoStats, path: Path) -> str:
    """People per frame against time, one stacked band per BMP iteration."""
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    order = np.argsort(v.pts_s, kind="stable")
    t = v.pts_s[order]
    its = sorted(v.people)
    if its:
        ax.stackplot(t, *[v.people[i][order] for i in its], labels=[f"iteration {i}" for i in its], step="post")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("people")
    ax.set_title(v.video_id, fontsize=9)
    return _save(fig, path)


def scores_plot(stats: RunStats, path: Path) -> str:
    """The three score histograms side by side."""
    fig = Figure(figsize=(10, 3))
    for i, (name, counts) in enumerate(stats.hist.items()):
        ax = fig.add_subplot(1, len(stats.hist), i + 1)
        ax.bar(BINS[:-1], counts, width=np.diff(BINS), align="edge", edgecolor="white")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("score")
    return _save(fig, path)


def tracks_plot(lengths: Sequence[int], path: Path) -> str:
    """Histogram of track lengths in frames."""
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.hist(lengths, bins=min(30, max(1, len(set(lengths)))))
    ax.set_xlabel("frames per track")
    ax.set_ylabel("tracks")
    return _save(fig, path)


def _table(rows: Sequence[Sequence], head: Sequence[str]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _page(stats: RunStats, out: str, scores: str, tracks: str | None, per_video: list[tuple[VideoStats, str]]) -> str:
    meta, record = stats.run.get("meta", {}), stats.run.get("record", {})
    models = meta.get("models") or record.get("models") or {}
    parts = [
        f"<h1>bmp_ray run report</h1><p>{html.escape(out)}</p>",
        _table(
            [[len(stats.videos), len(stats.failed), stats.frames, stats.people]],
            ["videos with frames", "failed inputs", "frames", "people"],
        ),
        "<h2>Scores</h2>",
        f'<img src="{scores}" alt="score histograms">',
        "<h2>Tracks</h2>",
        f'<img src="{tracks}" alt="track lengths">' if tracks else "<p>No track ids in this output.</p>",
        "<h2>Failed inputs</h2>",
        _table([[r.get("video_id"), r.get("path"), r.get("error")] for r in stats.failed], ["video", "path", "error"])
        if stats.failed
        else "<p>None.</p>",
        "<h2>People per frame</h2>",
    ]
    for v, png in per_video:
        total = int(sum(p.sum() for p in v.people.values()))
        added = int(sum(p.sum() for i, p in v.people.items() if i > 1))
        parts.append(
            f"<h3>{html.escape(v.video_id)}</h3><p>{len(v.pts_s)} frames, {total} people, {added} of "
            f'them found after the first iteration</p><img src="{png}" alt="people per frame">'
        )
    parts += [
        "<h2>Models</h2>",
        _table(
            [[role, m.get("model"), m.get("sha256", "")[:16], m.get("file", "")] for role, m in models.items()],
            ["role", "model", "sha256", "file"],
        ),
        "<h2>Run config</h2>",
        f"<pre>{html.escape(json.dumps(meta.get('config', record), indent=1))}</pre>",
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:90%}img{max-width:100%}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>bmp_ray report</title><style>{style}'
        f"</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(out: str, dest: str | os.PathLike, videos: Sequence[str] | None = None) -> dict:
    """The report of output folder ``out`` into the local folder ``dest``. Returns ``{"html", "pngs"}``."""
    stats = collect(out, videos)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    scores = scores_plot(stats, dest / "scores.png")
    lengths = [n for v in stats.videos for n in v.track_lengths.values()]
    tracks = tracks_plot(lengths, dest / "track_lengths.png") if lengths else None
    per_video = [(v, people_plot(v, dest / f"people_{output_name(v.video_id)}.png")) for v in stats.videos]
    index = dest / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text(_page(stats, out, scores, tracks, per_video))
    pngs = [scores, *([tracks] if tracks else []), *(p for _, p in per_video)]
    log.info("report of %d videos (%d failed inputs) in %s", len(stats.videos), len(stats.failed), index)
    return {"html": str(index), "pngs": [str(dest / p) for p in pngs]}
