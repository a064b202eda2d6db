"""The output folder: its run file, its lock, the committed listing and the clean-up of a dead run."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from bmp_ray.errors import OutputError
from bmp_ray.pipeline import outdir
from bmp_ray.pipeline.outdir import OutputFolder

RECORD = {
    "fingerprint": "fp-1",
    "models": {"detector": "d", "pose": "p", "sam": "s"},
    "bmp": {"iterations": 2},
    "sampling": {"stride": 1},
    "segment_frames": 30,
    "created": "2025-01-01",
}


@pytest.fixture
def folder(tmp_path):
    f = OutputFolder(str(tmp_path / "out"))
    yield f
    f.release()


def test_the_run_file_is_written_the_first_time_and_accepted_again(folder, tmp_path):
    folder.check_run(RECORD)
    run_file = tmp_path / "out" / outdir.RUN_FILE
    assert json.loads(run_file.read_text()) == RECORD
    written = run_file.stat().st_mtime_ns
    OutputFolder(str(tmp_path / "out")).check_run(dict(RECORD, created="2025-02-02"))  # not decisive
    assert run_file.stat().st_mtime_ns == written and json.loads(run_file.read_text()) == RECORD


def test_a_run_with_another_segment_length_is_refused_with_the_fix(folder, tmp_path):
    folder.check_run(RECORD)
    other = dict(RECORD, segment_frames=20, fingerprint="fp-2")
    with pytest.raises(OutputError) as err:
        OutputFolder(str(tmp_path / "out")).check_run(other)
    msg = str(err.value)
    assert "segment_frames: folder 30, this run 20" in msg
    assert "models" not in msg  # only the keys that differ
    assert "new --out folder" in msg and str(tmp_path / "out" / outdir.RUN_FILE) in msg
    assert json.loads((tmp_path / "out" / outdir.RUN_FILE).read_text())["segment_frames"] == 30


def test_another_fingerprint_alone_is_refused(folder, tmp_path):
    folder.check_run(RECORD)
    with pytest.raises(OutputError, match=r"other settings \(fingerprint\)"):
        folder.check_run(dict(RECORD, fingerprint="fp-other"))


def test_results_without_a_run_file_are_refused(tmp_path):
    (tmp_path / "out" / "frames").mkdir(parents=True)
    (tmp_path / "out" / "frames" / "old.parquet").write_bytes(b"PAR1")
    with pytest.raises(OutputError, match="no _run.json"):
        OutputFolder(str(tmp_path / "out")).check_run(RECORD)
    assert not (tmp_path / "out" / outdir.RUN_FILE).exists()


def test_an_unwritable_out_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    with pytest.raises(OutputError, match="cannot write there"):
        OutputFolder(str(tmp_path / "file" / "out")).check_run(RECORD)


def test_a_second_run_is_refused_while_the_first_holds_the_lock(folder, tmp_path):
    folder.acquire()
    lock = json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())
    assert (lock["run_id"], lock["host"], lock["pid"]) == (folder.run_id, socket.gethostname(), os.getpid())
    second = OutputFolder(str(tmp_path / "out"))
    with pytest.raises(OutputError) as err:
        second.acquire()
    msg = str(err.value)
    assert folder.run_id in msg and socket.gethostname() in msg and f"pid {os.getpid()}" in msg
    folder.release()
    assert not (tmp_path / "out" / outdir.LOCK_FILE).exists()
    second.acquire()
    assert json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())["run_id"] == second.run_id
    second.release()


def test_release_leaves_another_runs_lock_alone(folder, tmp_path):
    folder.acquire()
    OutputFolder(str(tmp_path / "out")).release()  # never held it
    assert json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())["run_id"] == folder.run_id


def _write_lock(tmp_path, **kw):
    (tmp_path / "out").mkdir(exist_ok=True)
    now = time.time()
    lock = {"run_id": "dead0000beef", "host": socket.gethostname(), "pid": 0, "started": now, "heartbeat": now, **kw}
    (tmp_path / "out" / outdir.LOCK_FILE).write_text(json.dumps(lock))


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over(folder, tmp_path):
    done = subprocess.Popen(["true"])
    done.wait()
    _write_lock(tmp_path, pid=done.pid)
    folder.acquire()
    assert json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())["run_id"] == folder.run_id


def test_a_live_holder_with_a_stale_heartbeat_is_taken_over(folder, tmp_path, monkeypatch):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        _write_lock(tmp_path, pid=sleeper.pid, heartbeat=time.time() - 20)
        with pytest.raises(OutputError, match="dead0000beef"):  # alive, heartbeat within LOCK_STALE_S
            folder.acquire()
        monkeypatch.setattr(outdir, "LOCK_STALE_S", 5.0)
        folder.acquire()
        assert json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())["run_id"] == folder.run_id
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_live_holder_on_another_host_is_refused_until_stale(folder, tmp_path, monkeypatch):
    _write_lock(tmp_path, host="some-other-node", pid=1, heartbeat=time.time() - 20)
    with pytest.raises(OutputError, match="some-other-node"):
        folder.acquire()
    monkeypatch.setattr(outdir, "LOCK_STALE_S", 5.0)
    folder.acquire()


def test_a_half_written_lock_is_taken_over(folder, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / outdir.LOCK_FILE).write_text('{"run_id": "x", "ho')
    folder.acquire()
    assert json.loads((tmp_path / "out" / outdir.LOCK_FILE).read_text())["run_id"] == folder.run_id


def test_clean_removes_what_a_dead_run_left_and_keeps_committed_pairs(tmp_path):
    out = tmp_path / "out"
    for rel in (
        "_parts/seg-a/00000000-00000001-2-abc.arrow",
        "_parts/seg-b/00000004-00000004-1-def.arrow",
        "poses/.ok.parquet.tmp-0123",
        "frames/.cut.parquet.tmp-4567",
        "._run.json.tmp-89ab",
        "poses/ok.parquet",
        "frames/ok.parquet",
        "poses/cut.parquet",
        "_run.json",
    ):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"x")
    f = OutputFolder(str(out))
    assert f.committed() == {"ok"}
    counts = f.clean()
    assert counts == {"segments_with_parts": 2, "temporary_files": 3, "poses_without_frames": 1}
    assert not (out / "_parts").exists()
    assert sorted(os.listdir(out / "poses")) == ["ok.parquet"]
    assert sorted(os.listdir(out / "frames")) == ["ok.parquet"]
    assert sorted(p for p in os.listdir(out) if os.path.isfile(out / p)) == ["_run.json"]
    assert f.committed() == {"ok"}
    assert f.clean() == {"segments_with_parts": 0, "temporary_files": 0, "poses_without_frames": 0}


def test_clean_removes_a_temporary_video_marker(tmp_path):
    """A run killed while writing a video marker leaves ``_videos/.<stem>.json.tmp-*``: also a temporary
    file of a dead run (nothing else ever removes it, and "no temporary files after success" fails)."""
    out = tmp_path / "out"
    (out / "_videos").mkdir(parents=True)
    (out / "_videos" / "a.mp4.0123abcd.json").write_text("{}")
    (out / "_videos" / ".a.mp4.0123abcd.json.tmp-89ab").write_text("{")
    assert OutputFolder(str(out)).clean()["temporary_files"] == 1
    assert os.listdir(out / "_videos") == ["a.mp4.0123abcd.json"]


def test_clean_and_committed_of_an_empty_folder(tmp_path):
    f = OutputFolder(str(tmp_path / "nothing-yet"))
    assert f.committed() == set()
    assert f.clean() == {"segments_with_parts": 0, "temporary_files": 0, "poses_without_frames": 0}


def test_a_heartbeat_in_flight_does_not_bring_the_lock_back_after_release(tmp_path, monkeypatch):
    """``release`` must stop the heartbeat before removing the lock: a beat that was writing when the run
    released would otherwise put the lock back, and this (live) process would hold the folder for
    ``LOCK_STALE_S``."""
    write = outdir.store.write_bytes
    writing = threading.Event()

    def slow_write(uri, data):
        writing.set()
        time.sleep(0.3)
        return write(uri, data)

    monkeypatch.setattr(outdir, "HEARTBEAT_S", 0.01)
    f = OutputFolder(str(tmp_path / "out"))
    f.acquire()
    monkeypatch.setattr(outdir.store, "write_bytes", slow_write)
    assert writing.wait(5)  # a beat is writing now
    f.release()
    time.sleep(0.6)
    assert not (tmp_path / "out" / outdir.LOCK_FILE).exists()
    again = OutputFolder(str(tmp_path / "out"))
    again.acquire()
    again.release()
