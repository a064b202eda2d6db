"""Probe a video or image: frame count, rate, size, codec, duration, rotation.

Opening is shared with the decoders (:func:`open_container`), so that every way a file can be bad
turns into the same :class:`~bmp_ray.errors.VideoError` with a cause and the file's name. PyAV is
imported on first use (see ``decode``).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
from fractions import Fraction

import numpy as np

from bmp_ray.errors import VideoError
from bmp_ray.fs import filesystem, is_url, read_bytes, stat_url
from bmp_ray.video.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, kind_of

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a probe learns about one input. Sizes are those of decoded frames before rotation.

    Attributes:
        uri: the input.
        kind: ``"video"`` or ``"image"``.
        num_frames: frames in the stream: exact when ``frames_exact``, else estimated from duration x fps.
        fps: average frame rate (frames / duration); 0.0 for an image.
        width, height: decoded frame size in pixels, before ``rotation`` is applied.
        codec: decoder name (``h264``, ``mpeg4``, ``mjpeg``...).
        duration_s: stream duration in seconds (0.0 for an image).
        rotation: clockwise rotation in degrees (0, 90, 180, 270) the player applies for display.
        start_time_s: presentation time of the stream's first frame.
        frames_exact: whether ``num_frames`` was counted rather than estimated.
    """

    uri: str
    kind: str
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str
    duration_s: float
    rotation: int = 0
    start_time_s: float = 0.0
    frames_exact: bool = True

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) after rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_NOTHING_IN_FOLDER = (
    f"a folder with no video or image file in it (extensions: {', '.join(sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS))})"
)


def check_exists(uri: str) -> None:
    """Raise ``VideoError`` (``missing``, ``empty``, ``unreadable``) before any decoder sees the file."""
    if is_url(uri):
        import pyarrow.fs as pafs

        _, _, info = stat_url(uri)
        if info.type == pafs.FileType.NotFound:
            raise VideoError(uri, "missing", "no such object; check the URL and the credentials")
        if info.type == pafs.FileType.Directory:
            raise VideoError(uri, "empty", _NOTHING_IN_FOLDER)
        if info.type != pafs.FileType.File:
            raise VideoError(uri, "unreadable", "not a file (a special object)")
        if info.size == 0:
            raise VideoError(uri, "empty", "the object has zero bytes")
        return
    if not os.path.exists(uri):
        if set("*?[") & set(uri):
            raise VideoError(uri, "empty", "the pattern matched no video or image file")
        raise VideoError(uri, "missing", "no such file; check the path")
    if os.path.isdir(uri):
        raise VideoError(uri, "empty", _NOTHING_IN_FOLDER)
    if not os.access(uri, os.R_OK):
        raise VideoError(uri, "unreadable", "permission denied")
    if os.path.getsize(uri) == 0:
        raise VideoError(uri, "empty", "the file has zero bytes")


_SIGNATURES = (  # (offset, bytes) of container formats FFmpeg reads
    (4, b"ftyp"),
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),  # mp4 / mov
    (0, b"\x1a\x45\xdf\xa3"),  # matroska / webm
    (0, b"RIFF"),
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),
    (0, b"\x47"),  # avi, flv, mpeg-ps, mpeg-ts
)


def _looks_like_video(uri: str) -> bool:
    """Whether the first bytes carry a known video container signature."""
    try:
        head = read_bytes(uri, 16)
    except OSError:
        return False
    return any(head[o : o + len(sig)] == sig for o, sig in _SIGNATURES)


def open_container(uri: str, threads: int = 0):
    """Open ``uri`` with PyAV and return ``(container, video_stream)``.

    Remote objects are streamed through a seekable pyarrow input file. ``threads`` > 0 sets the
    decoder's thread count (0: FFmpeg picks). Frame threading is enabled.

    Raises:
        VideoError: ``missing``, ``empty``, ``unreadable``, ``not_video``, ``corrupt`` or
            ``unsupported_codec``, with FFmpeg's own message.
    """
    import av  # on first use (module docstring)

    check_exists(uri)
    try:
        if is_url(uri):
            fs, path = filesystem(uri)
            container = av.open(fs.open_input_file(path), mode="r")
        else:
            container = av.open(uri, mode="r")
    except av.error.FileNotFoundError as exc:
        raise VideoError(uri, "missing", str(exc)) from exc
    except av.error.InvalidDataError as exc:
        if _looks_like_video(uri):
            raise VideoError(
                uri,
                "truncated",
                "the header says video but the container cannot be read: "
                f"truncated or damaged (re-copy or re-encode it) ({exc})",
            ) from exc
        raise VideoError(uri, "not_video", f"FFmpeg cannot read it as a video or image ({exc})") from exc
    except av.error.FFmpegError as exc:
        cause = "truncated" if getattr(exc, "errno", None) == errno.EIO else "corrupt"
        raise VideoError(uri, cause, f"FFmpeg cannot open it ({exc})") from exc
    except OSError as exc:
        raise VideoError(uri, "unreadable", str(exc)) from exc
    if not container.streams.video:
        container.close()
        raise VideoError(uri, "not_video", "the file has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name:
        container.close()
        raise VideoError(uri, "unsupported_codec", "this FFmpeg build has no decoder for its video stream")
    stream.thread_type = "AUTO"
    if threads:
        stream.codec_context.thread_count = threads
    return container, stream


def open_image(uri: str):
    """Open a still image with Pillow, EXIF orientation applied (a context manager).

    Raises:
        VideoError: ``missing``, ``empty``, ``unreadable``, ``not_video`` (not an image) or ``corrupt``.
    """
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    check_exists(uri)
    try:
        img = Image.open(io.BytesIO(read_bytes(uri))) if is_url(uri) else Image.open(uri)
        img.load()
        fmt = img.format
        img = ImageOps.exif_transpose(img)
        img.format = fmt  # the transposed copy forgets it
        return img
    except UnidentifiedImageError as exc:
        raise VideoError(uri, "not_video", f"not an image Pillow can read ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise VideoError(uri, "corrupt", f"the image cannot be decoded ({exc})") from exc


def _rotation(container, stream) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270), as FFmpeg's players apply it.

    PyAV exposes the display matrix on decoded frames only, so the first frame is decoded; the
    container is rewound.
    """
    import av  # on first use (module docstring)

    try:
        return rotation_of(next(container.decode(stream)))
    except (StopIteration, av.error.FFmpegError):
        return 0
    finally:
        try:
            container.seek(0, stream=stream)
        except av.error.FFmpegError:
            pass


def probe(uri: str, *, count_frames: bool = False) -> VideoInfo:
    """Probe one input (video, or still image as a one-frame video).

    Args:
        uri: local path or URL.
        count_frames: demux every packet to count frames exactly when the container's header does not
            say (mkv, webm, some avi). Costs one read of the file, no decoding.

    Raises:
        VideoError: the file is missing, empty, not a video, corrupt or has no decoder.
    """
    if kind_of(uri) == "image":
        with open_image(uri) as img:
            return VideoInfo(uri, "image", 1, 0.0, img.width, img.height, (img.format or "").lower(), 0.0)
    container, stream = open_container(uri)
    try:
        return describe(uri, container, stream, rotation=_rotation(container, stream), count_frames=count_frames)
    finally:
        container.close()


def describe(uri: str, container, stream, *, rotation: int, count_frames: bool = False) -> VideoInfo:
    """The :class:`VideoInfo` of an open container from its headers alone (no decoding).

    The rotation is passed in: PyAV shows the display matrix only on decoded frames (see ``_rotation``).
    """
    import av  # on first use (module docstring)

    codec = stream.codec_context.name
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise VideoError(uri, "corrupt", "the video stream gives no frame size")
    tb = stream.time_base or Fraction(1, 1)
    start = float((stream.start_time or 0) * tb)
    if stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    n, exact = int(stream.frames or 0), bool(stream.frames)
    if count_frames:
        n, exact = len(frame_times(uri, container=container, stream=stream)), True
    elif not n:
        n, exact = int(round(duration * fps)), False
    if n == 0:
        raise VideoError(uri, "corrupt", "the video stream holds no frames")
    return VideoInfo(uri, "video", n, fps, width, height, codec, duration, rotation, start, exact)


def rotation_of(frame) -> int:
    """Clockwise display rotation (0, 90, 180, 270) of a decoded PyAV frame, as players apply it.

    PyAV's ``frame.rotation`` is FFmpeg's ``av_display_rotation_get``: counter-clockwise degrees.
    """
    return int(round(-float(getattr(frame, "rotation", 0) or 0) / 90.0)) * 90 % 360


def frame_times(uri: str, *, container=None, stream=None) -> np.ndarray:
    """Presentation times (seconds, float64, sorted) of every frame, by demuxing packets (no decoding).

    Index ``i`` of the result is the time of frame ``i`` in presentation order: this is what turns a
    seek target into an exact frame index, also for variable frame rate and streams with gaps.
    """
    import av  # on first use (module docstring)

    own = container is None
    if own:
        container, stream = open_container(uri)
    try:
        if not own:
            container.seek(0, stream=stream)
        tb = float(stream.time_base)
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size]
        return np.sort(np.asarray(pts, dtype=np.int64)) * tb
    except av.error.FFmpegError as exc:
        raise VideoError(uri, "corrupt", f"demuxing failed ({exc})") from exc
    finally:
        if own:
            container.close()
