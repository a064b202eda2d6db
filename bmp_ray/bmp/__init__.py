"""The BBox-Mask-Pose loop: pure rules (``rules``), their settings (``config``) and the loop (``loop``).

``BMPLoop`` is imported on first use (it needs torch; the config does not).
"""

from bmp_ray.bmp.config import BMPConfig

__all__ = ["BMPConfig", "BMPLoop"]


def __getattr__(name: str):
    if name == "BMPLoop":
        from bmp_ray.bmp.loop import BMPLoop

        return BMPLoop
    raise AttributeError(f"module 'bmp_ray.bmp' has no attribute {name!r}")
