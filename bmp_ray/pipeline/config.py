"""The run configuration: one typed, validated, frozen tree read from TOML or YAML, overridable by ``--set``.

Sections (every key optional; the defaults run on one CPU-only machine)::

    [models]    preset = "bmp" | "bmp-paper" | "test", detector / pose / sam (registry names; default: the
                preset's; sam may be any SAM v1 or SAM 2.1 model),
                weights (file, folder or None for the hub cache), offline, max_people, sam_transport
    [bmp]       the BMP loop's settings (``BMPConfig``)
    [decode]    backend, stride, target_fps, start, stop, segment_frames, batch_size, num_cpus, pool,
                max_pixels, max_side, frame_transport
    [detector] [pose] [sam]
                per-stage resources (``StageResources``): actor pool sizes, num_cpus, num_gpus,
                batch_size (frames), pool (custom resource), label_selector, device, precision, threads,
                reuse_memory
    [output]    part_frames (rows per part writer task)
    [track]     the tracker (``bmp_ray.track.TrackConfig``): enabled, and its thresholds and windows

Unknown sections and keys are errors that name the known ones; a value of the wrong type or range is
an error that names the key, what was expected and what came.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

from bmp_ray.bmp.config import BMPConfig
from bmp_ray.errors import ConfigError
from bmp_ray.settings import PRECISIONS, build_tree, check, merged, sections
from bmp_ray.track.config import TrackConfig
from bmp_ray.video.decode import check_reader
from bmp_ray.video.sampling import check_sampling
from bmp_ray.video.segments import check_segment_frames

# "bmp": the product's stack (SAM v1 ViT-B, segment-anything); "bmp-paper": the research configuration
# the published OCHuman results come from (SAM 2.1 Hiera-B+); "test": the small random-weight variants
PRESETS = {
    "bmp": {"detector": "rtmdet-ins-l-bmp", "pose": "maskpose-b", "sam": "sam-vit-b"},
    "bmp-paper": {"detector": "rtmdet-ins-l-bmp", "pose": "maskpose-b", "sam": "sam2.1-hiera-base-plus"},
    "test": {"detector": "rtmdet-ins-tiny", "pose": "maskpose-tiny", "sam": "sam-tiny"},
}
DEVICES = ("auto", "cpu", "cuda")
MAX_PIXELS = 4096 * 4096
FRAME_TRANSPORTS = ("rgb", "i420")
SEGMENT_FRAMES = 1800


@dataclasses.dataclass(frozen=True)
class ModelsConfig:
    """Which models run and where their weights come from.

    Attributes:
        preset: "bmp" (the official BMP set, SAM ViT-B), "bmp-paper" (the research configuration: SAM
            2.1 Hiera-B+) or "test" (the small variants).
        detector, pose, sam: registry names overriding the preset's (``bmp-ray weights list``); each
            must be a model of its role's family (sam: SAM v1 or SAM 2.1).
        weights: checkpoint folder in the official layout (None: the Hugging Face / URL cache).
        offline: never download; use only ``weights`` or the cache.
        max_people: at most this many detections per frame and iteration (None: the detector
            config's, 40 for the BMP detector).
        sam_transport: the precision a frame's SAM embedding is held in between SAM steps and crosses
            stage boundaries in: "fp32" (default), "fp16" or "bf16" (half the bytes: 2 MiB instead of 4
            per frame for SAM v1, 8 instead of 16 for SAM 2.1; refined masks at IoU >= 0.996 of fp32's,
            ``bmp-ray bench host``). Part of the run's fingerprint when not "fp32".
    """

    preset: str = "bmp"
    detector: str | None = None
    pose: str | None = None
    sam: str | None = None
    weights: str | None = None
    offline: bool = False
    max_people: int | None = None
    sam_transport: str = "fp32"

    def __post_init__(self):
        check(self.max_people is None or self.max_people >= 1, "models.max_people", "an integer >= 1", self.max_people)
        check(self.sam_transport in PRECISIONS, "models.sam_transport", " or ".join(PRECISIONS), self.sam_transport)
        if self.preset not in PRESETS:
            raise ConfigError(f"models.preset: expected one of {', '.join(PRESETS)}, got {self.preset!r}")
        for role in ("detector", "pose", "sam"):
            name = getattr(self, role)
            if name is not None:
                from bmp_ray.models import registry  # torch: imported only when a name is given

                try:
                    registry.get(name, role)
                except ConfigError as exc:
                    raise ConfigError(f"models.{role}: {exc}") from None

    def name(self, role: str) -> str:
        """Registry name of the model of ``role`` ("detector", "pose" or "sam")."""
        return getattr(self, role) or PRESETS[self.preset][role]


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """Decoding and sampling (``bmp_ray.video``).

    Attributes:
        backend: "pyav" or "decord".
        stride, target_fps, start, stop: the ``Sampling`` of every video (frame indices, [start, stop)).
        segment_frames: split videos into segments of this many source frames (default 1800: 60 s at
            30 fps, 72 s at 25, 30 s at 60), each decoded by its own task, committed to its own files,
            and the unit of retries and resume; 0: one segment per video. Part of the run's
            fingerprint: a folder keeps the length it was started with.
        batch_size: frames per decoded block.
        num_cpus: CPUs reserved by each decode task.
        pool: a custom resource each decode task asks 0.001 of (e.g. "pool_decode"); None: anywhere.
        max_pixels: an input whose working frames (below) have more pixels than this is refused with
            an error row before any model sees it (default 4096 x 4096). The stages' memory grows with
            the frame: one 7000 x 5000 image took 18.4 GB in one process. Raise it on nodes with the
            memory, or set ``max_side``.
        max_side: frames whose longer side is above this are processed at a working resolution with
            that longer side (``cv2.INTER_AREA``), and their results mapped back to the video's own
            pixels (``FrameResult.resized``); 0 (default): every frame at its own resolution. No model
            reads more than 1024 pixels on a side (SAM 1024, the detector 640, pose crops 192 x 256):
            1920 keeps 4K archives' people as at 1080p, with a quarter of the bytes and memory. Part of
            the run's fingerprint when set.
        frame_transport: how working frames cross stage boundaries: "rgb" (default), or "i420", their
            YUV 4:2:0 planes (OpenCV's BT.601 conversion at decode, converted back to RGB in each
            stage and in the one-process path alike): half the bytes of every frame in the object
            store; every model reads the converted-back frame, whose chroma is shared by 2 x 2 pixels
            (the video's own chroma already is). Frames with an odd side cross as RGB. Part of the
            run's fingerprint when set.
    """

    backend: str = "pyav"
    stride: int = 1
    target_fps: float | None = None
    start: int = 0
    stop: int | None = None
    segment_frames: int = SEGMENT_FRAMES
    batch_size: int = 4
    num_cpus: float = 0.5
    pool: str | None = None
    max_pixels: int = MAX_PIXELS
    max_side: int = 0
    frame_transport: str = "rgb"

    def remote_args(self) -> dict:
        """Keyword arguments of the decode ``map_batches`` (one task per work item)."""
        return {"batch_size": 1, "num_cpus": self.num_cpus, **({"resources": {self.pool: 0.001}} if self.pool else {})}

    def __post_init__(self):  # the video package's rules (one place each), named decode.KEY
        check_reader(self.backend, self.batch_size, "decode.")
        check_sampling(self.stride, self.target_fps, self.start, self.stop, "decode.")
        check_segment_frames(self.segment_frames, "decode.segment_frames")
        check(self.num_cpus > 0, "decode.num_cpus", "a number > 0", self.num_cpus)
        check(self.max_pixels >= 1, "decode.max_pixels", "an integer >= 1", self.max_pixels)
        check(self.max_side >= 0, "decode.max_side", "an integer >= 0 (0: full resolution)", self.max_side)
        check(
            self.frame_transport in FRAME_TRANSPORTS,
            "decode.frame_transport",
            " or ".join(FRAME_TRANSPORTS),
            self.frame_transport,
        )


@dataclasses.dataclass(frozen=True)
class StageResources:
    """Resources of one model stage (a Ray Data actor pool).

    Attributes:
        min_size, max_size, initial_size: the ``ActorPoolStrategy`` (initial_size None: min_size).
        num_cpus, num_gpus: per actor (fractions allowed).
        batch_size: frames per ``__call__``.
        pool: a custom resource every actor asks 0.001 of (e.g. "pool_sam"), pinning the stage to the
            nodes that have it; None: anywhere.
        label_selector: node labels the actors require (Ray >= 2.49), e.g. {"bmp-pool": "sam"}.
        device: "auto" (CUDA when num_gpus > 0), "cpu" or "cuda".
        precision: "fp32", or "fp16" / "bf16" autocast on CUDA.
        threads: torch CPU threads per actor (None: every core of the node, torch's own default, which
            Ray would otherwise cap to the actor's num_cpus through OMP_NUM_THREADS).
        reuse_memory: on CPU, keep freed memory in the process for the next batch instead of returning
            it to the OS and page-faulting it in again (``models.common.reuse_freed_memory``; glibc
            only). About 20 % faster for SAM on a CPU; the process keeps its peak memory.
    """

    min_size: int = 1
    max_size: int = 1
    initial_size: int | None = None
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    batch_size: int = 4
    pool: str | None = None
    label_selector: dict | None = None
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None
    reuse_memory: bool = True

    def __post_init__(self):
        check(self.min_size >= 1, "min_size", "an integer >= 1", self.min_size)
        check(self.max_size >= self.min_size, "max_size", f"an integer >= min_size ({self.min_size})", self.max_size)
        check(
            self.initial_size is None or self.min_size <= self.initial_size <= self.max_size,
            "initial_size",
            f"an integer in [{self.min_size}, {self.max_size}]",
            self.initial_size,
        )
        check(self.num_cpus >= 0, "num_cpus", "a number >= 0", self.num_cpus)
        check(self.num_gpus >= 0, "num_gpus", "a number >= 0", self.num_gpus)
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.device in DEVICES, "device", " or ".join(DEVICES), self.device)
        check(self.precision in PRECISIONS, "precision", " or ".join(PRECISIONS), self.precision)
        check(self.threads is None or self.threads >= 1, "threads", "an integer >= 1", self.threads)
        check(
            self.label_selector is None
            or all(isinstance(k, str) and isinstance(v, str) for k, v in self.label_selector.items()),
            "label_selector",
            "a table of string labels",
            self.label_selector,
        )

    def torch_device(self) -> str:
        return ("cuda" if self.num_gpus > 0 else "cpu") if self.device == "auto" else self.device

    def reuses_memory(self) -> bool:
        """Whether the stage's processes keep freed memory (``reuse_memory``, and only on CPU)."""
        return self.reuse_memory and self.torch_device() == "cpu"

    def torch_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def remote_args(self) -> dict:
        """Keyword arguments of ``Dataset.map_batches`` for this stage's resources and placement."""
        import ray.data

        args: dict[str, Any] = {
            "compute": ray.data.ActorPoolStrategy(
                min_size=self.min_size, max_size=self.max_size, initial_size=self.initial_size or self.min_size
            ),
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "batch_size": self.batch_size,
        }
        if self.pool:
            args["resources"] = {self.pool: 0.001}
        if self.label_selector:
            args["label_selector"] = dict(self.label_selector)
        if self.reuses_memory():
            from bmp_ray.models.common import REUSE_MEMORY_ENV

            # glibc reads them when the actor's process starts, before any thread has its own arena
            args["runtime_env"] = {"env_vars": dict(REUSE_MEMORY_ENV)}
        return args


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """The output stage (``pipeline.parts``, ``pipeline.sink``).

    Attributes:
        part_frames: rows a part writer task takes at once on the Ray path (one part per segment in
            them). Ray Data's executor (in the coordinators) costs about the same per task whatever its
            size, so larger parts mean less executor CPU per frame; results wait until that many rows (or the
            end of the input) arrived. The single-process path writes one part per decoded batch.
        coordinators: the processes that run Ray Data's executor on the Ray path
            (``pipeline.coordinator``), on the driver's node; each takes every K-th work item and a
            K-th of every model pool (so each stage's ``max_size`` must be at least K). An
            executor's CPU grows with the frames and operators it schedules (``bmp-ray bench sink``:
            about 0.8 ms per frame for its two operators on this 2-core VM); raise K when one
            process cannot keep up with a cluster's GPUs. The results do not depend on it.
    """

    part_frames: int = 64
    coordinators: int = 1

    def __post_init__(self):
        check(self.part_frames >= 1, "output.part_frames", "an integer >= 1", self.part_frames)
        check(self.coordinators >= 1, "output.coordinators", "an integer >= 1", self.coordinators)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The whole run: models, BMP settings, decoding, and each model stage's resources."""

    models: ModelsConfig = ModelsConfig()
    bmp: BMPConfig = BMPConfig()
    decode: DecodeConfig = DecodeConfig()
    detector: StageResources = StageResources()
    pose: StageResources = StageResources()
    sam: StageResources = StageResources()
    output: OutputConfig = OutputConfig()
    track: TrackConfig = TrackConfig()

    def __post_init__(self):
        k = self.output.coordinators
        for role in ("detector", "pose", "sam"):  # each coordinator gets a share of every pool
            size = getattr(self, role).max_size
            check(
                size >= k,
                f"{role}.max_size",
                f"an integer >= output.coordinators ({k}): each coordinator runs a share of the pool",
                size,
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "RunConfig":
        return build_tree(cls, sections(cls, d))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load(path: str | os.PathLike | None = None, overrides: Sequence[str] = (), **fields: Any) -> RunConfig:
    """The run config: defaults <- file (if given) <- ``--set`` overrides <- ``fields``."""
    return RunConfig.from_dict(merged(path, overrides, fields))


def dumps(config: RunConfig) -> str:
    """The config as canonical JSON (file metadata, fingerprints)."""
    return json.dumps(config.to_dict(), sort_keys=True)
