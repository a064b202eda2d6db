"""Drawing results onto frames (annotators) and rendering an output folder's videos to MP4 or PNGs."""

from bmp_ray.render.annotators import (
    BoxAnnotator,
    LabelAnnotator,
    MaskAnnotator,
    Overlay,
    SkeletonAnnotator,
    default_overlay,
)

__all__ = ["BoxAnnotator", "LabelAnnotator", "MaskAnnotator", "Overlay", "SkeletonAnnotator", "default_overlay"]
