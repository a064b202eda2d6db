"""Collect frame results as they arrive (in any order), write each work item once it is complete, and
build the ``videos`` manifest.

An item is complete when its decode summary has arrived and as many results as it decoded frames.
Its rows are then sorted by frame index and written (``poses`` then ``frames``, each atomically), with
the summary and the run's fingerprint in the metadata. An item whose decoding failed writes no file,
so a rerun tries it again; its error is a manifest row.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterable

from bmp_ray.export.parquet import write_manifest, write_results
from bmp_ray.pipeline.plan import FINGERPRINT_KEY, SEGMENT_KEY, WorkItem
from bmp_ray.result import FrameResult

log = logging.getLogger(__name__)
_MANIFEST = ("num_frames", "fps", "width", "height", "codec", "duration_s", "rotation")


class ResultWriter:
    """Driver-side sink of one run.

    Args:
        out: output folder (local path or URL).
        run: the run metadata (``plan.run_metadata``).
        items: every work item of the run, in input order.
        done: items already complete in ``out`` (``plan.completed``): name -> summary.
    """

    def __init__(self, out: str, run: dict, items: Iterable[WorkItem], done: dict[str, dict]):
        self.out, self.run = out, run
        self.items = list(items)
        self.summaries: dict[str, dict] = {i.name: done[i.name] for i in self.items if i.name in done}
        self.pending: dict[str, dict[int, FrameResult]] = {}  # name -> frame_index -> result
        self.people = 0
        self.frames = 0
        self.first_result = None  # time.time() of the first result received

    @property
    def todo(self) -> list[WorkItem]:
        return [i for i in self.items if i.name not in self.summaries]

    def add(self, name: str, result: FrameResult) -> None:
        if self.first_result is None:
            self.first_result = time.time()
        self.pending.setdefault(name, {})[result.frame_index] = result  # a retried block may repeat rows
        self._maybe_write(name)

    def end(self, name: str, summary: dict) -> None:
        """The decode summary of ``name`` (its last message)."""
        if self.summaries.get(name, {}).get("frames_written") is not None:
            return  # final already (a retried block repeats a message)
        self.summaries[name] = dict(summary, frames_written=None)
        self._maybe_write(name)

    def _maybe_write(self, name: str) -> None:
        s = self.summaries.get(name)
        if s is None or s.get("frames_written") is not None:
            return
        if s["status"] != "ok":
            s["frames_written"] = 0
            self.pending.pop(name, None)
            return
        by_index = self.pending.get(name, {})
        if len(by_index) < s["frames_decoded"]:
            return
        results = [by_index[i] for i in sorted(by_index)]
        s.update(frames_written=len(results), seconds=round(time.time() - s["started"], 3))
        extra = {SEGMENT_KEY: json.dumps(s, sort_keys=True).encode(),
                 FINGERPRINT_KEY: self.run["fingerprint"].encode()}
        write_results(self.out, name, results, self.run, extra)
        self.pending.pop(name, None)
        self.frames += len(results)
        self.people += sum(len(r) for r in results)
        log.info("wrote %s: %d frames, %d people", name, len(results), sum(len(r) for r in results))

    def incomplete(self) -> list[str]:
        """Items of this run with no final state (should be empty once the pipeline has finished)."""
        return [i.name for i in self.todo if self.summaries.get(i.name, {}).get("frames_written") is None]

    def manifest_rows(self) -> list[dict]:
        """One row per input (segments of a video folded into one row), in input order."""
        rows: dict[str, dict] = {}
        for item in self.items:
            s = self.summaries.get(item.name) or {"status": "error", "error": "not processed (the run stopped)",
                                                  "frames_decoded": 0, "frames_written": 0}
            vid = item.source.video_id
            row = rows.setdefault(vid, {"video_id": vid, "path": item.source.uri, "status": "ok", "error": None,
                                        "frames_decoded": 0, "frames_written": 0, "seconds": 0.0})
            if s["status"] != "ok":
                row["status"] = "error"
                row["error"] = "; ".join(e for e in (row["error"], s.get("error")) if e)
            row["frames_decoded"] += s.get("frames_decoded") or 0
            row["frames_written"] += s.get("frames_written") or 0
            row["seconds"] += s.get("seconds") or 0.0
            for k in _MANIFEST:
                if row.get(k) is None and s.get(k) is not None:
                    row[k] = s[k]
        return list(rows.values())

    def write_manifest(self) -> list[dict]:
        """Write ``out/videos.parquet``; returns its rows."""
        rows = self.manifest_rows()
        write_manifest(self.out, rows, self.run)
        return rows
