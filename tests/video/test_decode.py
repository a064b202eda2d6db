import av
import fsspec
import numpy as np
import pytest

from bmp_ray.errors import ConfigError, VideoError
from bmp_ray.video import (
    FrameReader,
    Sampling,
    decode_all,
    list_inputs,
    probe,
    split_segments,
)
from tests.conftest import corrupt_packets

BACKENDS = ["pyav", "decord"]


def plain_pyav(path):
    """Reference: every frame with PyAV alone, (frames, times)."""
    with av.open(str(path)) as c:
        frames = [(f.to_ndarray(format="rgb24"), f.time) for f in c.decode(video=0)]
    return np.stack([f for f, _ in frames]), np.array([t for _, t in frames])


def collect(reader):
    batches = list(reader)
    if not batches:
        return np.zeros((0, 1, 1, 3), np.uint8), np.zeros(0, np.int64), np.zeros(0)
    return (
        np.concatenate([b.frames for b in batches]),
        np.concatenate([b.frame_index for b in batches]),
        np.concatenate([b.pts_s for b in batches]),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_videos_equal_plain_pyav(shared_videos, backend):
    for path in shared_videos:
        ref, ref_t = plain_pyav(path)
        frames, idx, pts = collect(FrameReader(str(path), backend=backend, batch_size=7))
        assert frames.shape == ref.shape and frames.dtype == np.uint8
        np.testing.assert_array_equal(idx, np.arange(len(ref)))
        np.testing.assert_allclose(pts, ref_t, atol=1e-5)  # decord keeps float32 times
        # Pixels: PyAV is bit-exact; decord is bit-exact on every shared video too (both use swscale's
        # default YUV->RGB), and the documented tolerance for other FFmpeg builds is a mean absolute
        # difference below 1 grey level.
        if not np.array_equal(frames, ref):
            assert backend == "decord", f"{path.name}: PyAV frames differ from plain PyAV"
            assert np.abs(frames.astype(np.int16) - ref).mean() < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_stride_and_fps_sampling_on_shared_videos(shared_videos, backend):
    for path in shared_videos:
        ref, ref_t = plain_pyav(path)
        frames, idx, _ = collect(FrameReader(str(path), backend=backend, sampling=Sampling(stride=3, start=1)))
        np.testing.assert_array_equal(idx, np.arange(1, len(ref), 3))
        assert backend == "decord" or np.array_equal(frames, ref[idx])
        _, idx, pts = collect(FrameReader(str(path), backend=backend, sampling=Sampling(target_fps=2.0)))
        buckets = np.floor(ref_t * 2.0 + 1e-6)
        want = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])  # first frame of every 0.5 s
        np.testing.assert_array_equal(idx, want)
        assert len(idx) <= len(ref) and np.all(np.diff(pts) > 0)


def test_backends_agree_on_a_variable_frame_rate_video(make_video):
    path = make_video(n=30, fps=10, pts_gaps={12: 35, 20: 7})  # 3.5 s and 0.7 s holes
    ref, ref_t = plain_pyav(path)
    for s in (Sampling(), Sampling(target_fps=3.0), Sampling(stride=4, start=2, stop=27)):
        a = collect(FrameReader(str(path), backend="pyav", sampling=s))
        b = collect(FrameReader(str(path), backend="decord", sampling=s))
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[2], b[2], atol=1e-5)
        np.testing.assert_allclose(a[2], ref_t[a[1]], atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_segments_concatenate_to_the_whole_video(make_video, backend):
    path = make_video(n=40, fps=10, pts_gaps={17: 20})
    info = probe(str(path))
    for s in (Sampling(), Sampling(stride=3, start=2), Sampling(target_fps=4.0)):
        whole = collect(FrameReader(str(path), backend=backend, sampling=s))
        parts = [
            collect(FrameReader(str(path), backend=backend, sampling=s.restrict(g.start, g.stop)))
            for g in split_segments(info, 7)
        ]
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole[1])
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts if len(p[1])]), whole[0])


def test_rotation_is_applied_like_a_player(make_video):
    path = make_video(n=4, width=64, height=48, rotation=90)  # 90 counter-clockwise
    ref, _ = plain_pyav(path)
    frames, _, _ = collect(FrameReader(str(path)))
    assert frames.shape == (4, 64, 48, 3)
    np.testing.assert_array_equal(frames, np.rot90(ref, k=1, axes=(1, 2)))
    raw, _, _ = collect(FrameReader(str(path), autorotate=False))
    np.testing.assert_array_equal(raw, ref)


def test_images_are_one_frame_videos(shared_data):
    path = shared_data / "images" / "coco" / "000000000785.jpg"
    batches = list(FrameReader(str(path)))
    assert len(batches) == 1 and batches[0].frames.shape == (1, 425, 640, 3)
    assert batches[0].frame_index.tolist() == [0] and batches[0].pts_s.tolist() == [0.0]


def test_grayscale_image_becomes_rgb(tmp_path):
    from PIL import Image

    p = tmp_path / "g.png"
    Image.fromarray(np.arange(35, dtype=np.uint8).reshape(5, 7)).save(p)
    (batch,) = list(FrameReader(str(p)))
    assert batch.frames.shape == (1, 5, 7, 3) and (batch.frames[0, :, :, 0] == batch.frames[0, :, :, 2]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupt_frames_in_the_middle_are_reported_not_fatal(make_video, tmp_path, backend):
    good = make_video(n=36)
    bad = corrupt_packets(good, tmp_path / "bad.mp4", [14, 15])
    reader = FrameReader(str(bad), backend=backend)
    frames, idx, pts = collect(reader)
    assert 24 <= len(idx) <= 36 and idx[0] == 0 and idx[-1] >= 30  # frames after the damage still come
    if len(idx) < 36:
        assert reader.problems, "frames were lost without a report"
    assert all(str(bad) not in p for p in reader.problems)  # messages are about frames; the log names the file
    ref, ref_t = plain_pyav(good)
    np.testing.assert_allclose(pts, ref_t[idx], atol=1e-5)  # lost frames never shift the indices
    np.testing.assert_array_equal(frames[:6], ref[:6])  # the first GOP, before the damage: untouched


def test_truncated_file_with_index_first_reports_missing_frames(make_video, tmp_path):
    data = make_video(n=40, faststart=True).read_bytes()  # moov first: the header survives the cut
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    reader = FrameReader(str(cut))
    _, idx, _ = collect(reader)
    assert 0 < len(idx) < 40
    assert any("truncated" in p for p in reader.problems)


def test_bad_inputs_do_not_stop_good_ones(make_video, tmp_path):
    good = make_video("good.mp4", n=5)
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello " * 100)
    names = [str(tmp_path / "missing.mp4"), str(tmp_path / "zero.mp4"), str(tmp_path / "text.mp4"), str(good)]
    items = list(decode_all(list_inputs(names)))
    errors = {s.video_id: e.cause for s, e in items if isinstance(e, VideoError)}
    assert errors == {"missing.mp4": "missing", "zero.mp4": "empty", "text.mp4": "not_video"}
    frames = [b for s, b in items if s.video_id == "good.mp4"]
    assert sum(len(b) for b in frames) == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_remote_object_decodes_like_the_local_file(make_video, backend):
    path = make_video(n=9)
    fsspec.filesystem("memory").pipe("/remote/clip.mp4", path.read_bytes())
    local = collect(FrameReader(str(path), backend=backend))
    remote = collect(FrameReader("memory://remote/clip.mp4", backend=backend))
    np.testing.assert_array_equal(local[0], remote[0])
    np.testing.assert_array_equal(local[1], remote[1])


def test_wrong_arguments_are_config_errors(make_video):
    path = str(make_video(n=3))
    with pytest.raises(ConfigError, match="backend: expected 'pyav' or 'decord', got 'opencv'"):
        FrameReader(path, backend="opencv")
    with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1, got 0"):
        FrameReader(path, batch_size=0)


def test_batches_have_the_requested_size(make_video):
    sizes = [len(b) for b in FrameReader(str(make_video(n=10)), batch_size=4)]
    assert sizes == [4, 4, 2]


def test_batches_kept_by_the_consumer_are_never_overwritten(make_video):
    path = str(make_video(n=40))
    kept = list(FrameReader(path, batch_size=4))  # all held at once: each needs its own buffer
    ref, _ = plain_pyav(path)
    np.testing.assert_array_equal(np.concatenate([b.frames for b in kept]), ref)
    views = [b.frames[0] for b in FrameReader(path, batch_size=4)]  # views keep their buffer alive too
    np.testing.assert_array_equal(np.stack(views), ref[::4])


def test_damage_the_decoder_conceals_is_reported(make_video, tmp_path):
    import av.logging

    good = make_video(n=36, width=320, height=240)
    with av.open(str(good)) as c:
        pk = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(good.read_bytes())
    for pos, size in pk[14:18]:  # a few flipped bytes inside slice data: nothing raises, FFmpeg conceals
        for k in range(size // 3, size - 4, max(size // 8, 1)):
            data[pos + k] ^= 0x55
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(data))
    clean = FrameReader(str(good))
    collect(clean)
    assert clean.problems == []
    reader = FrameReader(str(bad))
    _, idx, _ = collect(reader)
    assert len(idx) >= 30
    assert any(p.startswith("damaged bitstream: the decoder reported") for p in reader.problems), reader.problems
    assert av.logging.get_level() is None  # FFmpeg's own logging is quiet again
