"""bmp_ray: BBox-Mask-Pose (BMP) over video archives on Ray."""

__version__ = "0.1.0"
