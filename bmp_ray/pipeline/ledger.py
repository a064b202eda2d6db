"""The driver's ledger of one run: which parts each open segment has, which of its frames they cover,
its decode summary, and which segments and videos are ready to commit and to finalize.

Pure bookkeeping (no I/O, no Ray), so every order of receipts can be unit-tested. Receipts are keyed
by part path: a retried write that repeats a receipt counts once. Parts that overlap (a batch retried
with other frames) are all kept; the commit takes each frame from the first part, in path order, that
covers it (``commit.merge_parts``). Receipts of segments this run does not process, or that arrive
after their segment was committed (a zombie retry), are ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Iterable, Mapping, Sequence

from bmp_ray.export.schema import USABLE  # decode statuses whose frames are committed

log = logging.getLogger(__name__)
OPEN, COMMITTING, COMMITTED, FAILED = "open", "committing", "committed", "failed"


@dataclasses.dataclass
class SegmentEntry:
    video_id: str
    parts: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)  # path -> frame indices
    covered: set[int] = dataclasses.field(default_factory=set)
    summary: dict | None = None
    state: str = OPEN
    frames: int = 0  # written by the commit
    people: int = 0


class Ledger:
    """Segments of one run and the videos they belong to.

    Args:
        todo: segment name -> video id, for the segments this run processes.
        videos: video id -> the names of all its segments (also those committed by earlier runs).
        committed: names already committed in the output folder.
    """

    def __init__(self, todo: Mapping[str, str], videos: Mapping[str, Sequence[str]], committed: Iterable[str] = ()):
        self.segments = {name: SegmentEntry(vid) for name, vid in todo.items()}
        self.videos = {vid: tuple(names) for vid, names in videos.items()}
        done_before = set(committed)
        self.remaining = {vid: sum(n not in done_before for n in names) for vid, names in self.videos.items()}
        self._ready = [vid for vid, left in self.remaining.items() if left == 0]  # only a finalize left
        self.duplicates = 0  # receipts counted once already
        self.ignored = 0  # receipts of segments not (or no longer) open

    def add(self, receipt: Mapping) -> list[str]:
        """Record one receipt; returns the segments it made ready to commit (zero or one)."""
        entry = self.segments.get(receipt["name"])
        if entry is None or entry.state != OPEN:
            self.ignored += 1
            log.debug("receipt for %s ignored (%s)", receipt["name"], entry.state if entry else "not in this run")
            return []
        if receipt["kind"] == "end":
            summary = json.loads(receipt["summary"]) if isinstance(receipt["summary"], str) else receipt["summary"]
            if entry.summary is not None:
                self.duplicates += 1
                if summary.get("frames_decoded") != entry.summary.get("frames_decoded"):
                    log.warning(
                        "%s: a retried decode gave %s frames, the first %s; keeping the first",
                        receipt["name"],
                        summary.get("frames_decoded"),
                        entry.summary.get("frames_decoded"),
                    )
                return []
            entry.summary = summary
        else:
            path = receipt["path"]
            if path in entry.parts:
                self.duplicates += 1
                return []
            frames = json.loads(receipt["frames"]) if isinstance(receipt["frames"], str) else receipt["frames"]
            entry.parts[path] = tuple(int(f) for f in frames)
            entry.covered.update(entry.parts[path])
        if self.ready(receipt["name"]):
            entry.state = COMMITTING
            return [receipt["name"]]
        if entry.summary is not None and entry.summary.get("status") not in USABLE:
            self._final(receipt["name"], FAILED)
        return []

    def ready(self, name: str) -> bool:
        """The summary is in, decoding gave frames (``USABLE``), and every decoded frame is covered by a part."""
        e = self.segments[name]
        return (
            e.state == OPEN
            and e.summary is not None
            and e.summary.get("status") in USABLE
            and len(e.covered) >= e.summary["frames_decoded"]
        )

    def parts(self, name: str) -> list[tuple[str, tuple[int, ...]]]:
        """The segment's parts in path order (the order the commit takes frames in)."""
        return sorted(self.segments[name].parts.items())

    def summary(self, name: str) -> dict:
        return self.segments[name].summary or {}

    def _final(self, name: str, state: str) -> None:
        e = self.segments[name]
        if e.state in (COMMITTED, FAILED):
            return
        e.state = state
        e.parts, e.covered = {}, set()  # the commit has its list: the driver keeps open segments only
        if e.video_id in self.remaining:
            self.remaining[e.video_id] -= 1
            if self.remaining[e.video_id] == 0:
                self._ready.append(e.video_id)

    def committed(self, name: str, frames: int, people: int) -> None:
        e = self.segments[name]
        e.frames, e.people = frames, people
        self._final(name, COMMITTED)

    def failed(self, name: str, error: str) -> None:
        """A segment whose commit failed for good: an error summary, nothing written."""
        e = self.segments[name]
        e.summary = dict(e.summary or {}, status="error", error=error)
        self._final(name, FAILED)

    def failures(self, video_id: str) -> dict[str, dict]:
        """Summaries of the video's segments that failed in this run (name -> summary)."""
        return {
            n: self.segments[n].summary or {}
            for n in self.videos.get(video_id, ())
            if n in self.segments and self.segments[n].state == FAILED
        }

    def finished(self) -> list[str]:
        """Segments of this run committed or failed for good."""
        return [n for n, e in self.segments.items() if e.state in (COMMITTED, FAILED)]

    def frames_seen(self) -> int:
        """Frames with results so far: committed, plus those in the parts of open segments."""
        return self.frames + sum(len(e.covered) for e in self.segments.values() if e.state in (OPEN, COMMITTING))

    def ready_videos(self) -> list[str]:
        """Videos whose every segment is now committed or failed (each returned once)."""
        out, self._ready = self._ready, []
        return out

    def open_segments(self) -> list[str]:
        """Segments without a final state (empty once a run has finished)."""
        return [n for n, e in self.segments.items() if e.state in (OPEN, COMMITTING)]

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.segments.values())

    @property
    def people(self) -> int:
        return sum(e.people for e in self.segments.values())
