"""The output folder as one run sees it: its run file, its lock, what is committed, what to clean.

``OUT/_run.json`` is written by the first run into a folder and records what decides the results (the
fingerprint, and readably the models, BMP settings, sampling and segment length). A later run with
other values is refused before any work, with the differences and the fix in the message.

``OUT/_lock.json`` names the run that is writing (run id, host, pid, start, heartbeat). A second run
into the same folder is refused while the holder lives; it takes the lock over when the holder is gone
(same host and its process has exited, or no heartbeat for ``LOCK_STALE_S``). On local disks the lock
is created exclusively (``O_EXCL``); object stores have no create-if-absent in pyarrow, so there it is
written, read back and checked (a race of two starts within a moment is not excluded).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

from bmp_ray.errors import OutputError
from bmp_ray.export import store
from bmp_ray.fs import filesystem, is_url, join_uri
from bmp_ray.pipeline.commit import VIDEOS
from bmp_ray.pipeline.parts import PARTS

log = logging.getLogger(__name__)
RUN_FILE, LOCK_FILE = "_run.json", "_lock.json"
LOCK_STALE_S = 300.0
HEARTBEAT_S = 30.0
DECISIVE = (
    "fingerprint",
    "models",
    "bmp",
    "sampling",
    "segment_frames",
    "max_side",
    "frame_transport",
    "sam_transport",
    "track",
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputFolder:
    """The output folder ``out`` (local path or URL)."""

    def __init__(self, out: str):
        self.out = out if is_url(out) else os.path.abspath(out)
        self.run_id = uuid.uuid4().hex[:12]
        self._beat: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def uri(self, *parts: str) -> str:
        return join_uri(self.out, *parts)

    # --- the run file -------------------------------------------------------------------------
    def check_run(self, record: dict) -> None:
        """Write the run file if the folder has none, else refuse a run whose record differs.

        Raises:
            OutputError: ``out`` is unusable, holds results without a run file, or its run file
                records other settings (the message lists them).
        """
        uri = self.uri(RUN_FILE)
        try:
            theirs = json.loads(store.read_bytes(uri)) if store.exists(uri) else None
        except (OSError, ValueError) as exc:
            raise OutputError(f"--out {self.out!r}: cannot read {RUN_FILE}: {exc}") from exc
        if theirs is None:
            if store.list_files(self.uri("frames"), ".parquet"):
                raise OutputError(
                    f"--out {self.out!r} holds results but no {RUN_FILE} (an older bmp_ray wrote it); "
                    "use a new --out folder"
                )
            try:
                store.write_bytes(uri, json.dumps(record, sort_keys=True, indent=1).encode())
            except OSError as exc:
                raise OutputError(f"--out {self.out!r}: cannot write there: {exc}; give a writable folder") from exc
            return
        diff = [k for k in DECISIVE if theirs.get(k) != record.get(k)]
        if diff:
            detail = "; ".join(
                f"{k}: folder {json.dumps(theirs.get(k), sort_keys=True)}, this run "
                f"{json.dumps(record.get(k), sort_keys=True)}"
                for k in diff
                if k != "fingerprint"
            )
            retrack = (
                " (to change only the tracker's settings, run `bmp-ray track OUT --set track.KEY=VALUE`)"
                if diff == ["fingerprint", "track"]
                else ""
            )
            raise OutputError(
                f"--out {self.out!r} holds results of other settings ({detail or 'fingerprint'}); rerun with the "
                f"folder's settings (recorded in {uri}), use a new --out folder, or delete it to start over" + retrack
            )

    # --- the lock -----------------------------------------------------------------------------
    def _holder(self) -> dict | None:
        try:
            return json.loads(store.read_bytes(self.uri(LOCK_FILE)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable: taken for a dead holder's half-written lock

    def _gone(self, holder: dict) -> bool:
        if not holder:
            return True
        if holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1))):
            return True
        return time.time() - float(holder.get("heartbeat", 0)) > LOCK_STALE_S

    def _mine(self) -> dict:
        now = time.time()
        return {
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": now,
            "heartbeat": now,
        }

    def acquire(self) -> None:
        """Take the folder's lock, or raise ``OutputError`` naming the live holder."""
        fs, path = filesystem(self.uri(LOCK_FILE))
        for _ in range(3):
            holder = self._holder()
            if holder is not None:
                if not self._gone(holder):
                    raise OutputError(
                        f"--out {self.out!r} is in use by run {holder.get('run_id')} on {holder.get('host')} "
                        f"(pid {holder.get('pid')}, started {time.ctime(holder.get('started', 0))}); wait for it to "
                        f"finish or use another --out folder (a dead run's lock is taken over automatically)"
                    )
                log.warning("taking over the lock of run %s (its process is gone)", holder.get("run_id"))
                store.delete_file(self.uri(LOCK_FILE))
            data = json.dumps(self._mine()).encode()
            if store.renames_atomically(fs) and fs.type_name == "local":
                os.makedirs(os.path.dirname(path), exist_ok=True)
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    continue  # somebody was faster: look again
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            else:
                store.write_bytes(self.uri(LOCK_FILE), data)
                if (self._holder() or {}).get("run_id") != self.run_id:
                    continue
            self._start_heartbeat()
            return
        raise OutputError(f"--out {self.out!r}: could not take {LOCK_FILE} (other runs keep starting)")

    def _start_heartbeat(self) -> None:
        self._beat = threading.Event()
        started = time.time()

        def beat(stop: threading.Event) -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    store.write_bytes(self.uri(LOCK_FILE), json.dumps({**self._mine(), "started": started}).encode())
                except OSError as exc:
                    log.warning("lock heartbeat: %s", exc)

        self._thread = threading.Thread(target=beat, args=(self._beat,), daemon=True, name="bmp_ray-lock")
        self._thread.start()

    def release(self) -> None:
        if self._beat is not None:
            self._beat.set()
            self._thread.join()  # a beat in flight must not write the lock back after it is removed
            self._beat = None
        if (self._holder() or {}).get("run_id") == self.run_id:
            store.delete_file(self.uri(LOCK_FILE))

    # --- what is there ------------------------------------------------------------------------
    def committed(self) -> set[str]:
        """Names of the committed segments: one listing of ``frames/``, no file opened."""
        return {n[: -len(".parquet")] for n in store.list_files(self.uri("frames"), ".parquet")}

    def clean(self) -> dict[str, int]:
        """Remove what a dead run left: every part (no other run writes here, the lock says so),
        temporary files, and poses files whose frames file is missing (a commit cut between the two).
        Returns counts per kind."""
        parts = store.list_dirs(self.uri(PARTS))
        store.delete_dir(self.uri(PARTS))
        tmp = 0
        for folder in ("poses", "frames", VIDEOS, ""):
            for n in store.list_files(self.uri(folder) if folder else self.out, hidden=True):
                if n.startswith(".") and ".tmp-" in n:
                    store.delete_file(self.uri(folder, n) if folder else self.uri(n))
                    tmp += 1
        done = self.committed()
        orphans = [n for n in store.list_files(self.uri("poses"), ".parquet") if n[: -len(".parquet")] not in done]
        for n in orphans:
            store.delete_file(self.uri("poses", n))
        counts = {"segments_with_parts": len(parts), "temporary_files": tmp, "poses_without_frames": len(orphans)}
        if any(counts.values()):
            log.info("cleaned what an earlier run left in %s: %s", self.out, counts)
        return counts
