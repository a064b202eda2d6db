"""The filesystem layer: local paths and URLs through one API; atomic local writes."""

import pytest

from bmp_ray.errors import VideoError
from bmp_ray.fs import atomic_path, filesystem, is_url, join_uri, read_bytes


def test_atomic_path_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "sub" / "a.txt"
    with atomic_path(dest) as tmp:
        tmp.write_text("one")
        assert not dest.exists() and tmp.parent == dest.parent and tmp.name.startswith(".")
    assert dest.read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert dest.read_text() == "one"  # the old file stays whole
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.txt"]  # no temporary left behind


def test_urls_and_local_paths_read_through_one_api(tmp_path):
    import fsspec

    (tmp_path / "x.bin").write_bytes(b"abcdef")
    fsspec.filesystem("memory").pipe("/fs-test/y.bin", b"123456")
    assert read_bytes(str(tmp_path / "x.bin"), 3) == b"abc"
    assert read_bytes("memory://fs-test/y.bin") == b"123456"
    assert is_url("s3://b/k") and not is_url(str(tmp_path))
    assert join_uri("s3://b/out/", "poses", "a.parquet") == "s3://b/out/poses/a.parquet"
    with pytest.raises(VideoError, match="no filesystem for nosuch://"):
        filesystem("nosuch://x/y")
