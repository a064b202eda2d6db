import av
import pytest

from bmp_ray.errors import VideoError
from bmp_ray.video import probe
from tests.conftest import corrupt_packets


def test_probe_shared_videos_agrees_with_plain_pyav(shared_videos):
    assert len(shared_videos) == 5
    for path in shared_videos:
        info = probe(str(path))
        with av.open(str(path)) as c:
            frames = sum(1 for _ in c.decode(video=0))
            s = c.streams.video[0]
            assert (info.width, info.height, info.codec) == (
                s.codec_context.width,
                s.codec_context.height,
                s.codec_context.name,
            )
        assert info.num_frames == frames and info.frames_exact and info.kind == "video"
        assert info.fps > 0 and info.duration_s > 0 and info.rotation == 0


def test_probe_counts_frames_and_reads_rotation(make_video):
    # a display matrix rotating 90 degrees counter-clockwise = 270 clockwise, as FFmpeg's players show it
    path = make_video(n=10, width=64, height=48, rotation=90)
    info = probe(str(path), count_frames=True)
    assert (info.num_frames, info.width, info.height, info.rotation) == (10, 64, 48, 270)
    assert info.display_size == (48, 64)


def test_probe_image(shared_data):
    info = probe(str(shared_data / "images" / "coco" / "000000000785.jpg"))
    assert (info.kind, info.num_frames, info.width, info.height, info.codec) == ("image", 1, 640, 425, "jpeg")


@pytest.mark.parametrize(
    "name, content, cause",
    [
        ("zero.mp4", b"", "empty"),
        ("text.mp4", b"this is not a video\n" * 50, "not_video"),
        ("text.jpg", b"this is not an image\n" * 50, "not_video"),
    ],
)
def test_bad_files_raise_video_error_naming_file_and_cause(tmp_path, name, content, cause):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(VideoError) as e:
        probe(str(p))
    assert e.value.cause == cause and str(p) in str(e.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(VideoError, match="missing: no such file") as e:
        probe(str(tmp_path / "nope.mp4"))
    assert e.value.cause == "missing"
    with pytest.raises(VideoError, match="empty: a folder with no video or image file in it") as e:
        probe(str(tmp_path))  # a folder reaches probe only when it holds nothing to list: an error row
    assert e.value.cause == "empty"


def test_truncated_mp4_without_index_is_named_truncated(make_video, tmp_path):
    data = make_video(n=24).read_bytes()  # moov atom at the end: cutting the file loses the index
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError) as e:
        probe(str(cut))
    assert e.value.cause == "truncated" and "cut.mp4" in str(e.value)


def test_video_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(VideoError("/a.mp4", "corrupt", "bad")))
    assert (err.path, err.cause, str(err)) == ("/a.mp4", "corrupt", "/a.mp4: corrupt: bad")


def test_remote_missing_object_is_missing():
    with pytest.raises(VideoError) as e:
        probe("memory://archive/does-not-exist.mp4")
    assert e.value.cause == "missing"


def test_corrupt_middle_still_probes(make_video, tmp_path):
    bad = corrupt_packets(make_video(n=24), tmp_path / "bad.mp4", [9, 10])
    assert probe(str(bad)).num_frames == 24
