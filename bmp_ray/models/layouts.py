"""The state-dict layout (key -> shape) of every registered model, stored beside the registry.

A layout check needs only names and shapes, but building even a meta-device skeleton imports mmdet,
mmpose or sam2 (about 7 s on a 2-core machine, and hundreds of MB on the Ray driver, which never runs a
model). ``layout(spec)`` reads ``layouts/<name>.json`` instead, written from ``build.skeleton`` by
``python -m bmp_ray.models.layouts`` and pinned to it by ``tests/models/test_layouts.py`` for every
registered model. A spec whose architecture differs from the one the file was written for (an edited
registry entry, a model built outside it) falls back to the skeleton.

File format: ``{"model": name, "arch": arch_digest(spec), "num_keypoints": int | null,
"keys": {key: [shape...]}}`` (``num_keypoints``: the pose head's output channels, which the
``dataset_meta`` check compares).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import torch

from bmp_ray.models import registry
from bmp_ray.models.registry import ModelSpec

log = logging.getLogger(__name__)
LAYOUT_DIR = Path(__file__).parent / "layouts"


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a checkpoint must hold for one architecture.

    Attributes:
        keys: state-dict key -> shape.
        num_keypoints: the pose head's output channels (None for other families).
    """

    keys: dict[str, tuple[int, ...]]
    num_keypoints: int | None = None


def arch_digest(spec: ModelSpec) -> str:
    """sha256 of the architecture's repr (and, for an mmdet / mmpose config name, of every config file, since
    configs inherit): a stored layout is used only for the architecture it was written for."""
    h = hashlib.sha256(repr(spec.arch).encode())
    if isinstance(spec.arch, str):
        for path in sorted(registry.CONFIG_DIR.glob("*.py")):
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def of_module(module: torch.nn.Module, family: str) -> Layout:
    """The layout of a built model (any device, meta included)."""
    keys = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    return Layout(keys, int(module.head.out_channels) if family == "pose" else None)


def stored(spec: ModelSpec | str) -> Layout | None:
    """The layout stored for ``spec``, or None (no file, or written for another architecture)."""
    spec = registry.get(spec)
    path = LAYOUT_DIR / f"{spec.name}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if doc.get("arch") != arch_digest(spec):
        log.debug("%s: written for another architecture of %s; building the skeleton", path, spec.name)
        return None
    return Layout({k: tuple(v) for k, v in doc["keys"].items()}, doc.get("num_keypoints"))


def layout(spec: ModelSpec | str) -> Layout:
    """The layout of ``spec``: the stored one, else from ``build.skeleton`` (imports the model's library)."""
    spec = registry.get(spec)
    found = stored(spec)
    if found is not None:
        return found
    from bmp_ray.models.build import skeleton

    return of_module(skeleton(spec), spec.family)


def write(names: list[str] | None = None, folder: Path = LAYOUT_DIR) -> list[Path]:
    """Write the layouts of ``names`` (default: every registered model) from their skeletons."""
    from bmp_ray.models.build import skeleton

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or registry.names():
        spec = registry.get(name)
        lay = of_module(skeleton(spec), spec.family)
        head = {"model": spec.name, "arch": arch_digest(spec), "num_keypoints": lay.num_keypoints}
        lines = [f"  {json.dumps(k)}: {json.dumps(list(v))}" for k, v in sorted(lay.keys.items())]
        path = folder / f"{spec.name}.json"  # one key a line: a changed architecture reads as a short diff
        path.write_text(json.dumps(head)[:-1] + ', "keys": {\n' + ",\n".join(lines) + "\n}}\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for p in write():
        log.info("wrote %s", p)
