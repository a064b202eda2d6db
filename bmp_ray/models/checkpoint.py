"""Write checkpoints in the official file layouts; ``weights`` finds, verifies and reads them.

An MMEngine checkpoint is ``{"meta": model_meta(spec) + extras, "state_dict": {...}}`` with plain
Python types only in its meta, so ``weights.load_checkpoint`` (``weights_only=True``) reads it back.
Files are written atomically, and a folder's ``SHA256SUMS`` (what ``weights.verify_sums`` checks)
lists each file written into it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bmp_ray.fs import atomic_path
from bmp_ray.models import registry
from bmp_ray.models.build import mm_config
from bmp_ray.models.weights import SUMS, sha256_of


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


def write_checkpoint(obj: dict, dest: Path) -> Path:
    """``torch.save`` to ``dest`` atomically (``fs.atomic_path``); return ``dest``."""
    with atomic_path(dest) as tmp:
        torch.save(obj, tmp)
    return Path(dest)


def update_sums(out: Path, files: list[Path]) -> None:
    """Add or refresh ``files``' lines in ``out/SHA256SUMS`` (paths relative to ``out``)."""
    sums = out / SUMS
    lines = (
        dict(ln.split("  ", 1)[::-1] for ln in sums.read_text().splitlines() if "  " in ln) if sums.is_file() else {}
    )
    for dest in files:
        lines[dest.relative_to(out).as_posix()] = sha256_of(dest)
    sums.write_text("".join(f"{h}  {p}\n" for p, h in sorted(lines.items())))
