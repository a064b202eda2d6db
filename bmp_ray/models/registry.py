"""Named models: architecture, checkpoint source and preprocessing of each.

The official models (``rtmdet-ins-l-bmp``, ``maskpose-b``, ``vitpose-b-multi``, ``sam-vit-b/l/h``,
``sam2.1-hiera-tiny/small/base-plus/large``) and small test variants of each family (``*-tiny``): the
same code paths with narrow and shallow networks, whose checkpoints exist only as seeded random
weights written by ``bmp-ray weights synth`` in the same file layouts. ``get(name)`` looks a model up;
an unknown name lists the known ones.

mmdet/mmpose architectures are our own config files in ``bmp_ray/models/configs`` (for mmdet 3.3,
mmpose 1.3, mmpretrain 1.2); SAM v1 architectures are segment-anything's own builders (``SamArch``),
SAM 2.1 ones the ``sam2`` package's hydra configs (``Sam2Arch``). Both are family "sam": either can be
a run's segmenter.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from bmp_ray.errors import ConfigError
from bmp_ray.models.weights import CheckpointSource

CONFIG_DIR = Path(__file__).parent / "configs"
BMP_HF_REPO = "vrg-prague/BBoxMaskPose"
# the test variants' "repository": it exists only where `bmp-ray weights synth` output is served
TEST_HF_REPO = "bmp-ray/test-variants"
SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
MMDET_URL = "https://download.openmmlab.com/mmdetection/v3.0/rtmdet/"

Family = Literal["detector", "pose", "sam"]


@dataclasses.dataclass(frozen=True)
class SamArch:
    """Arguments of ``segment_anything.build_sam._build_sam`` (image encoder size)."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Sam2Arch:
    """A SAM 2 model as ``sam2.build_sam.build_sam2`` builds it: one of the package's hydra configs
    (``configs/sam2.1/sam2.1_hiera_b+.yaml``) with hydra ``overrides`` (the test variant's smaller
    Hiera). Checkpoints are Meta's layout, ``{"model": state_dict}``."""

    config: str
    overrides: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One named model.

    Attributes:
        name: registry name.
        family: "detector" (mmdet RTMDet-Ins), "pose" (mmpose top-down heatmap) or "sam" (SAM v1 or 2.1).
        arch: config file name in ``configs/`` (detector, pose), a ``SamArch`` (SAM v1) or a ``Sam2Arch``.
        checkpoint: where the weights live and the official file layout.
        conditioning: pose only: MaskPose conditioning (dim the background) on or off.
        test_variant: True for the small random-weight variants (never downloaded).
        full: the full-size model a test variant stands in for.
        starts_from: the published starting point of its fine-tuning (``bmp-ray train``'s default
            ``model.init_model``); None: itself.
    """

    name: str
    family: Family
    arch: str | SamArch | Sam2Arch
    checkpoint: CheckpointSource
    conditioning: bool = False
    test_variant: bool = False
    full: str | None = None
    starts_from: str | None = None
    description: str = ""

    @property
    def config_path(self) -> Path:
        if not isinstance(self.arch, str):
            raise ConfigError(f"{self.name}: a {self.family} model has no mm config file")
        return CONFIG_DIR / self.arch


_SAM_ARCHS = {
    "vit_b": SamArch(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArch(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArch(1280, 32, 16, (7, 15, 23, 31)),
    "tiny": SamArch(64, 2, 2, (1,)),
}
# the test variant: Hiera-T's config with a 5-block 16-wide trunk (one block in each of the first three
# stages, two in the last, the second of them global: Hiera cannot pool queries in a global block) and one
# memory-attention layer (unused on images); the neck and the decoder keep their 256 width
_SAM2_TINY = tuple(
    f"++model.{k}={v}"
    for k, v in {
        "image_encoder.trunk.embed_dim": 16,
        "image_encoder.trunk.num_heads": 1,
        "image_encoder.trunk.stages": "[1,1,1,2]",
        "image_encoder.trunk.global_att_blocks": "[4]",
        "image_encoder.neck.backbone_channel_list": "[128,64,32,16]",
        "memory_attention.num_layers": 1,
    }.items()
)


def _sam2(size: str, config: str, label: str) -> ModelSpec:
    filename = f"sam2.1_hiera_{size.replace('-', '_')}.pt"
    return ModelSpec(
        f"sam2.1-hiera-{size}",
        "sam",
        Sam2Arch(f"configs/sam2.1/{config}"),
        CheckpointSource(filename, hf_repo=f"facebook/sam2.1-hiera-{size}", url=SAM2_URL + filename),
        description=f"Segment Anything 2.1 Hiera-{label} (Meta), 1024 px",
    )


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "rtmdet-ins-l-bmp",
            "detector",
            "rtmdet_ins_l_bmp.py",
            CheckpointSource("rtmdet-ins-l-mask.pth", hf_repo=BMP_HF_REPO),
            starts_from="rtmdet-ins-l",
            description="RTMDet-Ins-L fine-tuned by BMP to ignore blacked-out people (80 COCO classes)",
        ),
        ModelSpec(
            "rtmdet-ins-l",
            "detector",
            "rtmdet_ins_l_bmp.py",
            CheckpointSource(
                "rtmdet-ins_l_8xb32-300e_coco_20221124_103237-78d1d652.pth",
                url=MMDET_URL + "rtmdet-ins_l_8xb32-300e_coco/"
                "rtmdet-ins_l_8xb32-300e_coco_20221124_103237-78d1d652.pth",
                sha256="78d1d652",
            ),
            description="mmdet's COCO RTMDet-Ins-L, the starting point of the BMP detector (80 COCO classes)",
        ),
        ModelSpec(
            "maskpose-b",
            "pose",
            "vitpose_b_21kpt.py",
            CheckpointSource("MaskPose/MaskPose-b-1.0.0.pth", hf_repo=BMP_HF_REPO),
            conditioning=True,
            starts_from="vitpose-b-multi",
            description="MaskPose-B: ViT-B pose model conditioned by the person's mask, 21 keypoints",
        ),
        ModelSpec(
            "vitpose-b-multi",
            "pose",
            "vitpose_b_21kpt.py",
            CheckpointSource("ViTPose-b-multi_mmpose20.pth", hf_repo=BMP_HF_REPO),
            description="ViTPose-B multi-dataset baseline, 21 keypoints, no mask input",
        ),
        ModelSpec(
            "sam-vit-b",
            "sam",
            _SAM_ARCHS["vit_b"],
            CheckpointSource("sam_vit_b_01ec64.pth", url=SAM_URL + "sam_vit_b_01ec64.pth"),
            description="Segment Anything ViT-B (Meta)",
        ),
        ModelSpec(
            "sam-vit-l",
            "sam",
            _SAM_ARCHS["vit_l"],
            CheckpointSource("sam_vit_l_0b3195.pth", url=SAM_URL + "sam_vit_l_0b3195.pth"),
            description="Segment Anything ViT-L (Meta)",
        ),
        ModelSpec(
            "sam-vit-h",
            "sam",
            _SAM_ARCHS["vit_h"],
            CheckpointSource("sam_vit_h_4b8939.pth", url=SAM_URL + "sam_vit_h_4b8939.pth"),
            description="Segment Anything ViT-H (Meta)",
        ),
        _sam2("tiny", "sam2.1_hiera_t.yaml", "T"),
        _sam2("small", "sam2.1_hiera_s.yaml", "S"),
        _sam2("base-plus", "sam2.1_hiera_b+.yaml", "B+"),
        _sam2("large", "sam2.1_hiera_l.yaml", "L"),
        # test variants: same code paths, small networks, seeded random weights from `weights synth`
        ModelSpec(
            "rtmdet-ins-tiny",
            "detector",
            "rtmdet_ins_tiny.py",
            CheckpointSource("rtmdet-ins-tiny-mask.pth", hf_repo=TEST_HF_REPO),
            test_variant=True,
            full="rtmdet-ins-l-bmp",
            description="RTMDet-Ins tiny widths, 320 px letterbox (tests)",
        ),
        ModelSpec(
            "maskpose-tiny",
            "pose",
            "vitpose_tiny_21kpt.py",
            CheckpointSource("MaskPose/MaskPose-tiny.pth", hf_repo=TEST_HF_REPO),
            conditioning=True,
            test_variant=True,
            starts_from="vitpose-tiny",
            full="maskpose-b",
            description="2-layer 64-wide ViT MaskPose (tests)",
        ),
        ModelSpec(
            "vitpose-tiny",
            "pose",
            "vitpose_tiny_21kpt.py",
            CheckpointSource("ViTPose-tiny.pth", hf_repo=TEST_HF_REPO),
            test_variant=True,
            full="vitpose-b-multi",
            description="2-layer 64-wide ViTPose, no mask input (tests)",
        ),
        ModelSpec(
            "sam-tiny",
            "sam",
            _SAM_ARCHS["tiny"],
            CheckpointSource("sam_tiny.pth", hf_repo=TEST_HF_REPO),
            test_variant=True,
            full="sam-vit-b",
            description="SAM with a 2-block 64-wide image encoder (tests)",
        ),
        ModelSpec(
            "sam2.1-tiny",
            "sam",
            Sam2Arch("configs/sam2.1/sam2.1_hiera_t.yaml", _SAM2_TINY),
            CheckpointSource("sam2.1_tiny.pt", hf_repo=TEST_HF_REPO),
            test_variant=True,
            full="sam2.1-hiera-base-plus",
            description="SAM 2.1 with a 5-block 16-wide Hiera (tests)",
        ),
    ]
}


def get(name: str | ModelSpec, family: Family | None = None) -> ModelSpec:
    """The spec of a registered model; ``ConfigError`` listing the known names otherwise."""
    spec = name if isinstance(name, ModelSpec) else MODELS.get(name)
    if spec is None:
        known = ", ".join(n for n, s in MODELS.items() if family in (None, s.family))
        raise ConfigError(f"unknown model {name!r}; known {family or ''} models: {known}".replace("  ", " "))
    if family is not None and spec.family != family:
        raise ConfigError(
            f"model {spec.name!r} is a {spec.family} model, but a {family} model is "
            f"needed here; {family} models: " + ", ".join(n for n, s in MODELS.items() if s.family == family)
        )
    return spec


def names(family: Family | None = None, test_variants: bool | None = None) -> list[str]:
    return [n for n, s in MODELS.items() if family in (None, s.family) and test_variants in (None, s.test_variant)]
