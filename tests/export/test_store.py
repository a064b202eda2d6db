"""Files of an output folder on a local disk and on an object store (fsspec's ``memory://``)."""

import os
import uuid

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from bmp_ray.export import read_results, store
from bmp_ray.export.parquet import output_name
from bmp_ray.fs import filesystem
from bmp_ray.pipeline import commit, parts
from bmp_ray.pipeline.ledger import Ledger
from bmp_ray.pipeline.outdir import OutputFolder
from bmp_ray.video.segments import Segment
from tests.export.test_schema import frame


@pytest.fixture
def mem():
    """A fresh ``memory://`` folder, removed afterwards (fsspec's memory filesystem is process-wide)."""
    prefix = f"bmp-store-{uuid.uuid4().hex[:8]}"
    yield f"memory://{prefix}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{prefix}"):
        fs.rm(f"/{prefix}", recursive=True)


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path, mem):
    return str(tmp_path / "out") if request.param == "local" else mem


def test_renames_atomically_only_on_disks(tmp_path, mem):
    assert store.renames_atomically(filesystem(str(tmp_path))[0])
    assert not store.renames_atomically(filesystem(mem)[0])
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    assert store.renames_atomically(PyFileSystem(FSSpecHandler(fsspec.filesystem("file"))))


def test_write_read_list_exists_delete(root):
    def u(*p):
        return "/".join([root, *p])

    assert store.write_bytes(u("a", "one.bin"), b"12345") == 5
    store.write_bytes(u("a", "two.parquet"), b"xy")
    store.write_bytes(u("a", "_hidden.json"), b"{}")
    store.write_bytes(u("a", ".x.parquet.tmp-1"), b"t")
    store.write_bytes(u("a", "sub", "deep", "three.bin"), b"3")
    store.write_bytes(u("b", "four.bin"), b"4")
    assert store.read_bytes(u("a", "one.bin")) == b"12345"
    assert store.list_files(u("a")) == ["_hidden.json", "one.bin", "two.parquet"]
    assert store.list_files(u("a"), ".parquet") == ["two.parquet"]
    assert store.list_files(u("a"), hidden=True) == [".x.parquet.tmp-1", "_hidden.json", "one.bin", "two.parquet"]
    assert store.list_files(u("missing")) == [] and store.list_dirs(u("missing")) == []
    assert store.list_dirs(root) == ["a", "b"] and store.list_dirs(u("a")) == ["sub"]
    assert store.exists(u("a", "one.bin")) and store.exists(u("a", "sub"))
    assert not store.exists(u("a", "nope.bin")) and not store.exists(u("zz"))

    store.write_bytes(u("a", "one.bin"), b"replaced")  # a rewrite replaces
    assert store.read_bytes(u("a", "one.bin")) == b"replaced"
    store.delete_file(u("a", "one.bin"))
    store.delete_file(u("a", "one.bin"))  # missing: fine
    assert not store.exists(u("a", "one.bin"))
    store.delete_dir(u("a", "sub"))
    store.delete_dir(u("a", "sub"))  # missing: fine
    assert store.list_dirs(u("a")) == [] and not store.exists(u("a", "sub", "deep", "three.bin"))
    assert store.list_files(u("a")) == ["_hidden.json", "two.parquet"]
    store.delete_dir(root)
    assert store.list_files(u("b")) == [] and not store.exists(u("b", "four.bin"))


def test_read_many_keeps_the_order(root):
    uris = [f"{root}/m/{i:02d}.bin" for i in range(9)]
    for i, x in enumerate(uris):
        store.write_bytes(x, str(i).encode())
    assert store.read_many(uris, store.read_bytes) == [str(i).encode() for i in range(9)]
    assert store.read_many(uris[:2], store.read_bytes) == [b"0", b"1"]


def test_on_a_local_disk_the_temporary_name_is_hidden(tmp_path):
    folder = tmp_path / "poses"
    seen = {}

    def write(stream):
        stream.write(b"half")
        seen["hidden"] = store.list_files(str(folder), hidden=True)
        seen["visible"] = store.list_files(str(folder))

    store.write_atomic(str(folder / "v.parquet"), write)
    assert seen["visible"] == [] and len(seen["hidden"]) == 1
    assert seen["hidden"][0].startswith(".v.parquet.tmp-")
    assert os.listdir(folder) == ["v.parquet"] and (folder / "v.parquet").read_bytes() == b"half"


def test_on_a_local_disk_a_failed_write_leaves_no_file_and_no_temporary(tmp_path):
    folder = tmp_path / "frames"

    def write(stream):
        stream.write(b"the first half of a file")
        raise RuntimeError("killed midway")

    with pytest.raises(RuntimeError, match="killed midway"):
        store.write_atomic(str(folder / "v.parquet"), write)
    assert os.listdir(folder) == []
    store.write_bytes(str(folder / "w.parquet"), b"whole")  # a failed rewrite keeps the old file
    with pytest.raises(RuntimeError):
        store.write_atomic(str(folder / "w.parquet"), write)
    assert os.listdir(folder) == ["w.parquet"] and (folder / "w.parquet").read_bytes() == b"whole"


def test_on_memory_the_write_goes_straight_to_its_name(mem, monkeypatch):
    def no_rename(*args, **kwargs):
        raise AssertionError("an object store must not be written through a rename (a copy there)")

    monkeypatch.setattr(MemoryFileSystem, "mv", no_rename)
    monkeypatch.setattr(MemoryFileSystem, "copy", no_rename)
    seen = {}

    def write(stream):
        stream.write(b"abc")
        seen["during"] = store.list_files(f"{mem}/poses", hidden=True)

    store.write_atomic(f"{mem}/poses/v.parquet", write)
    assert not [n for n in seen["during"] if n.startswith(".") or ".tmp-" in n]  # no temporary object
    assert store.list_files(f"{mem}/poses", hidden=True) == ["v.parquet"]
    assert store.read_bytes(f"{mem}/poses/v.parquet") == b"abc"


def test_on_memory_a_failed_write_leaves_no_object(mem):
    """ "Appears whole or not at all" also on object stores: a write that raises must not complete the PUT."""

    def write(stream):
        stream.write(b"the first half of a file")
        raise RuntimeError("killed midway")

    with pytest.raises(RuntimeError, match="killed midway"):
        store.write_atomic(f"{mem}/frames/v.parquet", write)
    assert store.list_files(f"{mem}/frames", hidden=True) == []
    assert not store.exists(f"{mem}/frames/v.parquet")


VID = "cam/a.mp4"
S0, S1 = output_name(VID, Segment(0, 2, 0, 3).suffix), output_name(VID, Segment(1, 2, 3, 5).suffix)
RUN = {"fingerprint": "fp-mem", "segment_frames": 3}


def _summary(name, decoded):
    return {
        "name": name,
        "video_id": VID,
        "path": "s3://in/cam/a.mp4",
        "status": "ok",
        "error": None,
        "frames_decoded": decoded,
        "num_frames": 5,
        "fps": 25.0,
        "started": 0.0,
    }


def test_the_whole_output_stage_on_memory(mem):
    from tests.pipeline.test_parts import rows

    results = [frame(i, i % 3) for i in range(5)]
    batches = [
        rows([(S0, results[0]), (S0, results[1])]),
        rows([(S0, results[2]), (S0, _summary(S0, 3)), (S1, results[3])]),
        rows([(S1, results[4]), (S1, results[3]), (S1, _summary(S1, 2))]),
    ]  # frame 3 twice
    led = Ledger({S0: VID, S1: VID}, {VID: [S0, S1]})
    ready = []
    for b in batches:
        for r in parts.receipts_of(parts.write_parts(b, out=mem)):
            assert r["path"] == "" or r["path"].startswith(f"{mem}/_parts/")
            ready += led.add(r)
    assert ready == [S0, S1]
    assert store.list_dirs(f"{mem}/_parts") == [S0, S1]
    for name in ready:
        got = commit.commit_segment(mem, name, led.parts(name), led.summary(name), RUN)
        led.committed(name, got["frames"], got["people"])
    assert store.list_dirs(f"{mem}/_parts") == []
    assert store.list_files(f"{mem}/frames") == [f"{S0}.parquet", f"{S1}.parquet"]
    assert led.ready_videos() == [VID]
    row = commit.finalize_video(mem, VID, "s3://in/cam/a.mp4", led.videos[VID], led.failures(VID), RUN)
    assert (row["status"], row["frames_decoded"], row["frames_written"]) == ("ok", 5, 5)

    back = read_results(mem)
    assert [r.frame_index for r in back] == [0, 1, 2, 3, 4]
    assert all(a.equals(b) for a, b in zip(results, back))
    assert [r.frame_index for r in read_results(mem, S1)] == [3, 4]
    assert commit.read_markers(mem)[VID]["row"] == row
    assert OutputFolder(mem).committed() == {S0, S1}
    fs = fsspec.filesystem("memory")
    left = [p for p in fs.find("/" + mem.split("://", 1)[1]) if ".tmp-" in p or "/_parts/" in p]
    assert left == []


def test_the_output_folder_on_memory(mem):
    f = OutputFolder(mem)
    assert f.out == mem
    f.check_run(RUN)
    f.check_run(dict(RUN))
    f.acquire()
    try:
        with pytest.raises(Exception, match=f.run_id):
            OutputFolder(mem).acquire()
    finally:
        f.release()
    assert not store.exists(f"{mem}/_lock.json")
    store.write_bytes(f"{mem}/_parts/x/00000000-00000000-1-aa.arrow", b"p")
    store.write_bytes(f"{mem}/poses/cut.parquet", b"p")
    assert f.clean() == {"segments_with_parts": 1, "temporary_files": 0, "poses_without_frames": 1}
    assert store.list_files(f"{mem}/poses") == [] and store.list_dirs(f"{mem}/_parts") == []
