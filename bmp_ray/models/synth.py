"""Write seeded random checkpoints in exactly the official file layouts.

mmdet/mmpose models are saved as MMEngine checkpoints ``{"meta": {...}, "state_dict": {...}}`` whose
meta holds only plain Python types (so ``weights_only=True`` loads them); SAM v1 as a plain state dict,
SAM 2.1 as Meta's ``{"model": state_dict}``.
Weights are PyTorch's default initialisation under a per-model seed; detectors get one prior on top
(``_favour_people``) so that their random boxes are people.
Files go to ``OUT/<the official path>`` (``MaskPose/MaskPose-b-1.0.0.pth``, ...), so ``OUT`` can be
passed as ``--weights`` or served as a Hugging Face repository. ``SHA256SUMS`` lists every file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch

from bmp_ray.models import registry
from bmp_ray.models.build import new_model
from bmp_ray.models.checkpoint import model_meta, update_sums, write_checkpoint

log = logging.getLogger(__name__)


def _seed_for(name: str, seed: int) -> int:
    return seed * 1_000_003 + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)


def _meta(spec: registry.ModelSpec, seed: int) -> dict:
    return {"bmp_ray_synthetic": True, "seed": seed, "model": spec.name, **model_meta(spec)}


def _favour_people(model: torch.nn.Module) -> None:
    """Set the classifier biases so that a random detector reports people (score about 0.9, other
    classes about 0.01), which makes random-weight runs exercise the person paths end to end."""
    with torch.no_grad():
        for conv in model.bbox_head.rtm_cls:
            conv.bias.fill_(-4.595)  # logit of 0.01, mmdet's own prior for RTMDet
            conv.bias[0] = 2.2


def synthesize(
    out: str | os.PathLike, names: list[str] | None = None, *, full: bool = False, seed: int = 0
) -> dict[str, Path]:
    """Write random checkpoints; return ``{model name: file}``.

    Args:
        out: output folder (created).
        names: models to write (default: every test variant, plus the full-size models when ``full``).
        full: include the full-size official architectures (hundreds of MB each; SAM ViT-H 2.5 GB).
        seed: the same seed writes bit-identical weights.
    """
    out = Path(out)
    if names is None:
        names = registry.names(test_variants=None if full else True)
    written = {}
    for name in names:
        spec = registry.get(name)
        torch.manual_seed(_seed_for(name, seed))
        model = new_model(spec)
        if spec.family == "detector":
            _favour_people(model)
        sd = model.state_dict()
        if isinstance(spec.arch, registry.Sam2Arch):
            obj = {"model": sd}
        else:
            obj = sd if spec.family == "sam" else {"meta": _meta(spec, seed), "state_dict": sd}
        written[name] = write_checkpoint(obj, out / spec.checkpoint.filename)
        log.info("wrote %s (%d tensors) to %s", name, len(sd), written[name])
    update_sums(out, list(written.values()))
    return written
