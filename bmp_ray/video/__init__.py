"""Video input: list an archive, probe its files, decode frames in batches."""

from bmp_ray.video.decode import FrameBatch, FrameReader, decode_all
from bmp_ray.video.probe import VideoInfo, probe
from bmp_ray.video.sampling import Sampling
from bmp_ray.video.segments import Segment, split_segments
from bmp_ray.video.sources import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Source,
    list_inputs,
)

__all__ = [
    "FrameBatch",
    "FrameReader",
    "IMAGE_EXTENSIONS",
    "Sampling",
    "Segment",
    "Source",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "decode_all",
    "list_inputs",
    "probe",
    "split_segments",
]
