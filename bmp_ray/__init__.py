"""bmp_ray: BBox-Mask-Pose (BMP) over video archives on Ray.

The public surface, imported on first use (``import bmp_ray`` itself loads neither torch nor Ray)::

    from bmp_ray import BMPLoop, BMPConfig, Detector, PoseEstimator, build_segmenter, FrameResult, run

``build_segmenter(name)`` gives the SAM v1 or SAM 2.1 segmenter of a registry name; ``Segmenter`` is
the protocol both follow (what ``BMPLoop`` needs of its SAM stage).
"""

__version__ = "0.1.0"

_PUBLIC = {
    "FrameResult": "bmp_ray.result",
    "BMPConfig": "bmp_ray.bmp.config",
    "BMPLoop": "bmp_ray.bmp.loop",
    "Detector": "bmp_ray.models.detector",
    "PoseEstimator": "bmp_ray.models.pose",
    "Segmenter": "bmp_ray.models.segmenter",
    "build_segmenter": "bmp_ray.models.segmenter",
    "RunConfig": "bmp_ray.pipeline.config",
    "run": "bmp_ray.pipeline.runner",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bmp_ray' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
