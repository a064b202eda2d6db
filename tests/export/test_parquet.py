import os
import subprocess
import sys

import fsspec
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from bmp_ray.export import (
    output_name,
    read_results,
    store,
    write_manifest,
    write_results,
)
from tests.export.test_schema import frame


def test_output_names_are_deterministic_safe_and_distinct():
    a = output_name("clips/day 1/a.mp4")
    assert a == output_name("clips/day 1/a.mp4") and a.startswith("clips__day_1__a.mp4.")
    assert output_name("clips/day_1/a.mp4") != a  # same readable part, different hash
    assert output_name("x.mp4", "-s0002").endswith("-s0002") and "/" not in output_name("../../etc/passwd")


def test_write_then_read_back(tmp_path):
    results = [frame(0, 2), frame(1, 0), frame(2, 1)]
    write_results(str(tmp_path), output_name("cam/a.mp4"), results, run={"x": 1})
    write_results(str(tmp_path), output_name("b.mp4"), [frame(0, 1, vid="b.mp4")])
    assert sorted(os.listdir(tmp_path / "poses")) == sorted(
        [output_name("cam/a.mp4") + ".parquet", output_name("b.mp4") + ".parquet"]
    )
    back = read_results(str(tmp_path), output_name("cam/a.mp4"))
    assert all(x.equals(y) for x, y in zip(results, back))
    assert [r.video_id for r in read_results(str(tmp_path))] == ["b.mp4", "cam/a.mp4", "cam/a.mp4", "cam/a.mp4"]


def test_rewrite_replaces_never_duplicates(tmp_path):
    for _ in range(2):
        write_results(str(tmp_path), "v", [frame(0, 2), frame(1, 3)])
    assert pq.read_table(tmp_path / "poses").num_rows == 5


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    class FullDisk(LocalFileSystem):
        def mv(self, *args, **kwargs):
            raise OSError("disk full")

    fs = pafs.PyFileSystem(pafs.FSSpecHandler(FullDisk()))
    monkeypatch.setattr(store, "filesystem", lambda uri: (fs, os.path.abspath(uri)))
    with pytest.raises(OSError, match="disk full"):
        write_results(str(tmp_path), "v", [frame(0, 2)])
    assert os.listdir(tmp_path / "poses") == []


def test_temporary_files_are_hidden_from_readers(tmp_path):
    write_results(str(tmp_path), "v", [frame(0, 2)])
    (tmp_path / "poses" / ".w.parquet.tmp-123").write_bytes(b"partial garbage")
    assert pq.read_table(tmp_path / "poses").num_rows == 2


def test_manifest_and_remote_output():
    out = "memory://bmp-out/run1"
    write_results(out, "v", [frame(0, 2)])
    table = write_manifest(
        out,
        [
            {"video_id": "v", "path": "/v.mp4", "status": "ok", "frames_decoded": 1, "frames_written": 1, "fps": 25.0},
            {"video_id": "bad", "path": "/bad.mp4", "status": "error", "error": "x: missing"},
        ],
    )
    assert table.column("error").to_pylist() == [None, "x: missing"]
    fs = fsspec.filesystem("memory")
    assert fs.exists("/bmp-out/run1/videos.parquet") and fs.exists("/bmp-out/run1/poses/v.parquet")
    assert len(read_results(out)) == 1


def test_pandas_and_duckdb_read_without_bmp_ray_or_ray(tmp_path):
    write_results(str(tmp_path), output_name("a.mp4"), [frame(0, 2, k=21, vid="a.mp4"), frame(1, 0, vid="a.mp4", k=21)])
    write_manifest(str(tmp_path), [{"video_id": "a.mp4", "path": "/a.mp4", "status": "ok"}])
    code = f"""
import sys
sys.modules["bmp_ray"] = None; sys.modules["ray"] = None  # importing either now fails
import duckdb, pandas as pd
poses = pd.read_parquet({str(tmp_path / "poses")!r})
assert len(poses) == 2 and len(poses.keypoints[0]) == 63, poses
frames = pd.read_parquet({str(tmp_path / "frames")!r})
assert frames.num_people.tolist() == [2, 0]
n, k = duckdb.sql("select count(*), max(len(keypoints)) from '{tmp_path}/poses/*.parquet'").fetchall()[0]
assert (n, k) == (2, 63)
assert duckdb.sql("select status from '{tmp_path}/videos.parquet'").fetchall()[0] == ("ok",)
print("read ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0 and "read ok" in r.stdout, r.stderr
