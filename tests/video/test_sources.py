import fsspec
import pytest

from bmp_ray.errors import VideoError
from bmp_ray.fs import is_url
from bmp_ray.video import list_inputs


def test_folder_lists_media_recursively_with_relative_ids(tmp_path, make_video):
    (tmp_path / "day1").mkdir()
    make_video("a.mp4")
    (tmp_path / "day1" / "b.mkv").write_bytes(b"x")
    (tmp_path / "day1" / "notes.txt").write_text("not media")
    (tmp_path / "img.JPG").write_bytes(b"y")
    got = list_inputs([str(tmp_path)])
    assert [(s.video_id, s.kind) for s in got] == [("a.mp4", "video"), ("day1/b.mkv", "video"), ("img.JPG", "image")]


def test_glob_ids_are_relative_to_the_fixed_prefix(tmp_path, make_video):
    (tmp_path / "x").mkdir()
    make_video("x/c.mp4")
    make_video("d.mp4")
    got = list_inputs([str(tmp_path / "**" / "*.mp4")])
    assert sorted(s.video_id for s in got) == ["d.mp4", "x/c.mp4"]


def test_named_file_is_kept_even_if_missing_or_oddly_named(tmp_path):
    got = list_inputs([str(tmp_path / "missing.mp4"), str(tmp_path / "weird.bin")])
    assert [s.video_id for s in got] == ["missing.mp4", "weird.bin"]


def test_duplicates_are_dropped_and_id_collisions_rejected(tmp_path, make_video):
    a = make_video("a.mp4")
    assert len(list_inputs([str(a), str(a), str(tmp_path)])) == 1
    (tmp_path / "sub").mkdir()
    make_video("sub/a.mp4")
    with pytest.raises(ValueError, match="same video_id 'a.mp4'"):
        list_inputs([str(a), str(tmp_path / "sub" / "a.mp4")])


def test_remote_folder_through_fsspec_memory(make_video):
    fs = fsspec.filesystem("memory")
    fs.pipe("/archive/cam1/a.mp4", make_video("a.mp4").read_bytes())
    fs.pipe("/archive/readme.txt", b"skip me")
    got = list_inputs(["memory://archive"])
    assert [(s.video_id, s.uri) for s in got] == [("cam1/a.mp4", "memory://archive/cam1/a.mp4")]
    assert is_url(got[0].uri)


def test_file_url_through_pyarrow(make_video, tmp_path):
    make_video("a.mp4")
    got = list_inputs([f"file://{tmp_path}"])
    assert [s.video_id for s in got] == ["a.mp4"]


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(VideoError, match="nosuchscheme://"):
        list_inputs(["nosuchscheme://bucket/x.mp4"])
