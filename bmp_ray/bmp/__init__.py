"""The BBox-Mask-Pose loop: pure rules (``rules``), their settings (``config``) and the loop (``loop``)."""

from bmp_ray.bmp.config import BMPConfig
from bmp_ray.bmp.loop import BMPLoop

__all__ = ["BMPConfig", "BMPLoop"]
