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
import uuid
from pathlib import Path

import torch

from bmp_ray.models import registry
from bmp_ray.models.build import mm_config, new_model
from bmp_ray.models.weights import sha256_of

log = logging.getLogger(__name__)


def _seed_for(name: str, seed: int) -> int:
    return seed * 1_000_003 + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)


def model_meta(spec: registry.ModelSpec) -> dict:
    """The ``meta`` of an MMEngine checkpoint of ``spec`` as mmdet / mmpose write it, in plain Python
    types only: library version and ``dataset_meta`` (detector classes; pose dataset info). SAM: empty."""
    if spec.family == "detector":
        import mmdet
        from mmdet.evaluation import get_classes

        return {"mmdet_version": mmdet.__version__, "dataset_meta": {"classes": list(get_classes("coco"))}}
    if spec.family == "pose":
        import mmpose
        from mmengine import Config

        info = Config.fromfile(mm_config(spec).dataset_info_file).dataset_info.to_dict()
        return {"mmpose_version": mmpose.__version__, "dataset_meta": info}
    return {}


def _meta(spec: registry.ModelSpec, seed: int) -> dict:
    return {"bmp_ray_synthetic": True, "seed": seed, "model": spec.name, **model_meta(spec)}


def write_checkpoint(obj: dict, dest: Path) -> Path:
    """``torch.save`` to ``dest`` atomically (a hidden temporary file, then a rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, dest)
    return dest


def update_sums(out: Path, files: list[Path]) -> None:
    """Add or refresh ``files``' lines in ``out/SHA256SUMS`` (paths relative to ``out``)."""
    sums = out / "SHA256SUMS"
    lines = dict(ln.split("  ", 1)[::-1] for ln in sums.read_text().splitlines() if "  " in ln) \
        if sums.is_file() else {}
    for dest in files:
        lines[dest.relative_to(out).as_posix()] = sha256_of(dest)
    sums.write_text("".join(f"{h}  {p}\n" for p, h in sorted(lines.items())))


def _favour_people(model: torch.nn.Module) -> None:
    """Set the classifier biases so that a random detector reports people (score about 0.9, other
    classes about 0.01), which makes random-weight runs exercise the person paths end to end."""
    with torch.no_grad():
        for conv in model.bbox_head.rtm_cls:
            conv.bias.fill_(-4.595)  # logit of 0.01, mmdet's own prior for RTMDet
            conv.bias[0] = 2.2


def synthesize(out: str | os.PathLike, names: list[str] | None = None, *, full: bool = False,
               seed: int = 0) -> dict[str, Path]:
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
