"""The stage objects of a run: the detector, pose and segmenter a ``RunConfig`` asks for, built the same
way by both run paths (the Ray stages of ``pipeline.stages`` and the one-process ``pipeline.local``)."""

from __future__ import annotations

from bmp_ray.cluster import route_warnings
from bmp_ray.pipeline.config import RunConfig


def build_model(role: str, config: RunConfig, set_threads: bool = True):
    """The stage object of ``role`` ("detector", "pose" or "sam") as the config says (``set_threads``:
    limit torch's CPU threads to the stage's share). On CPU, the process also keeps freed memory for
    reuse unless the stage's ``reuse_memory`` is off."""
    import torch

    from bmp_ray.models.common import reuse_freed_memory

    route_warnings()  # in a Ray worker, library warnings stay as quiet as on the driver
    res = getattr(config, role)
    if set_threads and res.torch_device() == "cpu":
        torch.set_num_threads(res.torch_threads())
    if res.reuses_memory():
        reuse_freed_memory()
    m = config.models
    kw = dict(weights=m.weights, device=res.torch_device(), precision=res.precision, offline=m.offline or None)
    if role == "detector":
        from bmp_ray.models.detector import Detector

        return Detector(m.name(role), max_per_img=m.max_people, **kw)
    if role == "pose":
        from bmp_ray.models.pose import PoseEstimator

        return PoseEstimator(m.name(role), **kw)
    from bmp_ray.models.segmenter import build_segmenter

    return build_segmenter(m.name(role), transport=m.sam_transport, **kw)  # SAM v1 or SAM 2.1, by architecture
