"""Shared fixtures: the real test data (through bmp_ray.testdata), and small videos made on the fly."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest

from bmp_ray.testdata import data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_dir()
    if root is None:
        pytest.skip("real test data absent: set BMP_RAY_TEST_DATA or put it at ../shared/data")
    return root


@pytest.fixture(scope="session")
def shared_videos(shared_data) -> list[Path]:
    return sorted((shared_data / "videos").glob("*.mp4"))


def synthetic_frames(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) uint8 RGB frames with moving blocks, so that every frame differs."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), np.uint8))[:height, :width]
    return np.stack([np.roll(big, 4 * i, axis=1) for i in range(n)])


def write_video(
    path: Path,
    n: int = 24,
    width: int = 96,
    height: int = 64,
    fps: int = 12,
    codec: str = "libx264",
    rotation: int = 0,
    faststart: bool = False,
    pts_gaps: dict[int, int] | None = None,
) -> Path:
    """Encode a small video with PyAV. ``pts_gaps`` {frame: extra ticks} makes variable frame rate."""
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.codec_context.time_base = fractions.Fraction(1, fps * 10)
        if codec == "libx264":
            s.options = {"g": "6", "bf": "2"}  # keyframe every 6 frames, B-frames: seeks are real
        if rotation:
            s.set_display_rotation(rotation)
        extra = 0
        for i, img in enumerate(synthetic_frames(n, width, height)):
            extra += (pts_gaps or {}).get(i, 0)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i * 10 + extra
            f.time_base = s.codec_context.time_base
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.fixture
def make_video(tmp_path):
    def make(name: str = "clip.mp4", **kw) -> Path:
        return write_video(tmp_path / name, **kw)

    return make


def corrupt_packets(src: Path, dst: Path, packets: list[int]) -> Path:
    """Copy ``src`` to ``dst`` with the payload of the given packet numbers overwritten by noise."""
    with av.open(str(src)) as c:
        pk = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(1)
    for i in packets:
        pos, size = pk[i]
        data[pos + 8 : pos + size] = rng.integers(0, 255, size - 8, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="session")
def test_weights(tmp_path_factory):
    """Seeded random checkpoints of the three test variants the pipeline runs, official layout."""
    from bmp_ray.models.synth import synthesize
    from bmp_ray.pipeline.config import PRESETS

    out = tmp_path_factory.mktemp("pipeline-weights")
    synthesize(out, list(PRESETS["test"].values()))
    return out
