"""Host CPU time by component for ``bmp-ray bench host``: functions wrapped with timers, exclusive times.

Each instrumented function is replaced (for the duration of a ``with instrument(...)`` block) by a
wrapper that charges its CPU time (``time.process_time``: every thread of the process, so core-ms)
and wall time to a ``(component, detail)`` label, MINUS the time of the instrumented calls nested in
it. A model forward inside the detector's ``_candidates`` is charged to ``forward``, the RLE encoding
inside ``pickle.dumps`` of a state to ``RLE``, and so on; the sums over labels never double count.
What no label covers inside the outermost call lands on its own label (``other``).

``targets(det, pose, sam)`` says which function is which component; the forwards are the torch
modules' ``forward`` (patched on the instances, which ``nn.Module.__call__`` reads first).
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import time
import types
from collections import defaultdict

import numpy as np

FORWARD, DECODE, OTHER = "forward", "decode", "other"
COMPONENTS = ("preprocessing", "post-processing", "RLE", "serialisation")  # the host work of the goal
PRE, POST, RLE, SER = COMPONENTS
# details that are torch operations on the stage's device: device work on a GPU (host work here, on the CPU)
DEVICE_OPS = frozenset(
    {
        "detector data_preprocessor (normalise, stack)",
        "detector head post-processing (NMS, low-res masks)",
        "detector mask upsampling (kept people)",
        "detector mask run boundaries, to host",
        "pose crops, torch (warp, MaskPose dimming)",
        "pose normalise, batches",
        "pose flip-test batch",
        "pose flip-test average",
        "pose heatmap decoding, torch (UDP, DARK)",
        "SAM frames to the device, stacked",
        "SAM normalise, pad",
        "SAM mask upsampling in windows",
    }
)


class Meter:
    """Exclusive CPU and wall seconds, and call counts, per ``(component, detail)`` label; CPU seconds
    also per label and the label of the instrumented call it ran in (``by_caller``)."""

    def __init__(self):
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.wall: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.by_caller: dict[tuple[tuple[str, str], tuple[str, str] | None], float] = defaultdict(float)
        self._stack: list[list] = []  # per open call: [nested cpu, nested wall, its label]

    def timed(self, component: str, detail: str, fn):
        """``fn`` charging its exclusive time to ``(component, detail)``."""
        key = (component, detail)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            nested = [0.0, 0.0, key]
            self._stack.append(nested)
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dc, dw = time.process_time() - c0, time.perf_counter() - w0
                self._stack.pop()
                self.cpu[key] += dc - nested[0]
                self.wall[key] += dw - nested[1]
                self.calls[key] += 1
                self.by_caller[key, self._stack[-1][2] if self._stack else None] += dc - nested[0]
                if self._stack:
                    self._stack[-1][0] += dc
                    self._stack[-1][1] += dw

        return wrapper

    def by_component(self, which: str = "cpu") -> dict[str, float]:
        """Seconds per component (summed over details)."""
        out: dict[str, float] = defaultdict(float)
        for (c, _), s in getattr(self, which).items():
            out[c] += s
        return dict(out)

    @classmethod
    def median(cls, meters: list["Meter"]) -> "Meter":
        """A meter holding, per label, the median of ``meters``' seconds (a label a run did not record
        counts 0 there) and the first one's call counts: repeated runs of the same work, run-to-run
        noise left out."""
        out = cls()
        for name in ("cpu", "wall", "by_caller"):
            keys = set().union(*(getattr(m, name) for m in meters))
            for k in keys:
                getattr(out, name)[k] = float(np.median([getattr(m, name).get(k, 0.0) for m in meters]))
        out.calls.update(meters[0].calls)
        return out

    def add(self, other: "Meter", scale: float = 1.0) -> None:
        """Add ``other``'s seconds, times ``scale``, to this meter's (label by label)."""
        for name in ("cpu", "wall", "by_caller"):
            mine = getattr(self, name)
            for k, v in getattr(other, name).items():
                mine[k] += v * scale

    def reset(self) -> None:
        for d in (self.cpu, self.wall, self.calls, self.by_caller):
            d.clear()


class Replay:
    """The model forwards of one run recorded, then replayed in later runs of the same work.

    ``start("record")`` keeps a clone of every forward's output, in call order per forward;
    ``start("replay")`` hands those clones back in the same order without computing. The host work
    between the forwards then runs as on a GPU machine's host, whose caches the forwards do not sweep:
    on this CPU the small calls right after a forward ran 10-100x slower than the same calls alone.
    A replayed run that calls the forwards in another order, or more often, raises ``RuntimeError``;
    its results must also equal the recorded run's (``bench host`` checks them).
    """

    def __init__(self):
        self.mode = "off"
        self.outputs: dict[tuple[str, str], list] = defaultdict(list)
        self._next: dict[tuple[str, str], int] = defaultdict(int)

    def start(self, mode: str) -> None:
        """``mode``: "record" (forget what was recorded, record anew), "replay" or "off" (compute)."""
        if mode not in ("off", "record", "replay"):
            raise ValueError(f"Replay.start: mode must be 'off', 'record' or 'replay', got {mode!r}")
        if mode == "replay" and not self.outputs:
            raise RuntimeError("Replay.start('replay'): nothing was recorded; run once with 'record' first")
        if mode == "record":
            self.outputs.clear()
        self.mode = mode
        self._next.clear()

    def rewind(self) -> None:
        """Replay from the first recorded call again (each run of the same work)."""
        self._next.clear()

    def wrap(self, key: tuple[str, str], fn):
        """``fn`` recorded under ``key`` or replayed from it, as the mode says."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self.mode == "replay":
                i, done = self._next[key], self.outputs.get(key, [])
                if i >= len(done):
                    raise RuntimeError(f"Replay: {key} called {i + 1} times, recorded {len(done)}")
                self._next[key] = i + 1
                return _clone(done[i])
            out = fn(*args, **kwargs)
            if self.mode == "record":
                from torch.utils._python_dispatch import _disable_current_modes

                with _disable_current_modes():  # the copies are no forward's work (``OpCounter``)
                    self.outputs[key].append(_clone(out))
            return out

        return wrapper


class OpCounter:
    """The torch operators each label of ``meter`` dispatches while active (``with OpCounter(meter)``):
    on a GPU each one that computes is a kernel launch, host work of its own (``bench host``'s
    ``torch_ops_per_frame``). Counted: operators that write memory (a new tensor or an in-place change);
    not counted: views and operators that hand an input's memory back (a ``.to`` to the device it is
    on, ``.contiguous()`` of a contiguous tensor), told by the outputs' storage rather than by the
    schema (``contiguous`` is declared aliasing, and copies when its input is not contiguous). On a CPU
    a transfer to the host is such a no-op, so ``.cpu()`` is not counted (one per step on a GPU).
    Scalar reads (``.item()``, a synchronisation on a GPU) are counted apart. Only calls inside one of
    ``meter``'s labels count."""

    def __init__(self, meter: Meter):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                counter._count(func, args, kwargs or {}, out)
                return out

        self.meter, self._mode = meter, _Mode()
        self.ops: dict[tuple[str, str], int] = defaultdict(int)
        self.scalar_reads: dict[tuple[str, str], int] = defaultdict(int)

    def __enter__(self) -> OpCounter:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)

    def _count(self, func, args, kwargs, out) -> None:
        import torch
        from torch.utils._pytree import tree_leaves

        if not self.meter._stack:
            return
        label = self.meter._stack[-1][2]
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if not outs:
            self.scalar_reads[label] += func.overloadpacket in (torch.ops.aten.item, torch.ops.aten._local_scalar_dense)
            return
        given = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        if func._schema.is_mutable or any(t.untyped_storage().data_ptr() not in given for t in outs):
            self.ops[label] += 1


def dispatch_us(calls: int = 300, passes: int = 5) -> float:
    """Host CPU per torch operator on tiny CPU tensors, in µs (the median over ``passes`` of ``calls``
    rounds of ten operators of the kinds the device steps issue: arithmetic, comparison, ``where``,
    clamp, indexing, ``cat``, a reduction, bilinear resampling), in inference mode on one
    thread as the stages run. What an operator costs the host apart from its work: on a GPU each one
    also pays its kernel launch, so operators x this is a lower bound of the device steps' host cost."""
    import torch
    import torch.nn.functional as F

    a, b, idx = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), torch.tensor([0])
    ops = (
        lambda: a + b,
        lambda: a * b,
        lambda: a > b,
        lambda: torch.where(a > 0.5, a, b),  # two operators
        lambda: a.clamp(0.1, 0.9),
        lambda: a[idx],
        lambda: torch.cat([a, b]),
        lambda: a.sum(),
        lambda: F.interpolate(a, size=(8, 8), mode="bilinear", align_corners=False),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for f in ops:
                f()
            times = []
            for _ in range(passes):
                t = time.process_time()
                for _ in range(calls):
                    for f in ops:
                        f()
                times.append((time.process_time() - t) / (calls * (len(ops) + 1)))
    finally:
        torch.set_num_threads(threads)
    return float(np.median(times)) * 1e6


def _clone(value):
    """A copy of a forward's output: tensors cloned, containers rebuilt, anything else deep-copied."""
    import copy

    import torch

    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        out = [_clone(v) for v in value]
        return type(value)(out) if not hasattr(value, "_fields") else type(value)(*out)
    if isinstance(value, dict):
        return type(value)((k, _clone(v)) for k, v in value.items())
    return copy.deepcopy(value)


@contextlib.contextmanager
def instrument(meter: Meter, targets: list[tuple[object, str, str, str]], replay: Replay | None = None):
    """Replace each ``(owner, attribute, component, detail)`` by its timed wrapper; restore on exit.
    With ``replay``, the forwards are recorded or replayed there (inside their timers).

    An attribute the owner holds itself is put back; one it inherits (a method of its class) is
    removed again, so the owner reads its class's once more.
    """
    saved = []
    try:
        for owner, attr, component, detail in targets:
            own = attr in vars(owner)
            saved.append((owner, attr, own, vars(owner).get(attr)))
            fn = getattr(owner, attr)
            if replay is not None and component == FORWARD:
                fn = replay.wrap((detail, attr), fn)
            setattr(owner, attr, meter.timed(component, detail, fn))
        yield meter
    finally:
        for owner, attr, own, value in reversed(saved):
            if own:
                setattr(owner, attr, value)
            else:
                delattr(owner, attr)


def timed_pickle(meter: Meter, detail: str) -> types.SimpleNamespace:
    """A stand-in for the ``pickle`` module whose ``dumps`` / ``loads`` are serialisation."""
    return types.SimpleNamespace(
        dumps=meter.timed(SER, f"{detail} pickle.dumps", pickle.dumps),
        loads=meter.timed(SER, f"{detail} pickle.loads", pickle.loads),
    )


def targets(det, pose, sam) -> list[tuple[object, str, str, str]]:
    """What is instrumented, and as what: the stage objects' own functions, the BMP loop's steps and
    the pipeline stages' transport (``loop_targets``). ``det``, ``pose``, ``sam``: ``Detector``,
    ``PoseEstimator``, SAM segmenter. Special methods (``__call__``) are patched on the class: Python looks
    them up there. A function this checkout does not have is left out (its callers' time then holds its
    own)."""
    from bmp_ray.pipeline import stages

    m, pm, sm = det.model, pose.model, sam.model
    det_masks, pose_mod, segmenter = (_module(f"bmp_ray.models.{n}") for n in ("det_masks", "pose", "segmenter"))
    resample = _module("bmp_ray.models.sam_resample")
    wanted = [
        # the model forwards (excluded from the host work)
        (m.backbone, "forward", FORWARD, "detector backbone"),
        (m.neck, "forward", FORWARD, "detector neck"),
        (m.bbox_head, "forward", FORWARD, "detector head"),
        (pm, "extract_feat", FORWARD, "pose backbone"),
        (pose._head, "forward", FORWARD, "pose head"),
        (sm.image_encoder, "forward", FORWARD, "SAM image encoder"),
        (sm.prompt_encoder, "forward", FORWARD, "SAM prompt encoder"),
        (sm.prompt_encoder, "get_dense_pe", FORWARD, "SAM prompt encoder"),
        (sm.mask_decoder, "forward", FORWARD, "SAM mask decoder"),
        # preprocessing
        (type(det), "__call__", PRE, "detector frames: BGR copy, erase, collate"),
        (det, "pipeline", PRE, "detector mmdet pipeline (letterbox, pad)"),
        (m.data_preprocessor, "forward", PRE, "detector data_preprocessor (normalise, stack)"),
        (pose, "crops", PRE, "pose crops, cv2 (warp, MaskPose dimming)"),
        (pose, "crops_torch", PRE, "pose crops, torch (warp, MaskPose dimming)"),
        (pose, "heatmaps", PRE, "pose normalise, to/from device"),
        (pose, "_heatmaps_of", PRE, "pose normalise, batches"),
        (pose, "_forward", PRE, "pose flip-test batch"),
        (sam, "embed", PRE, "SAM frames to encoder batches"),
        (sam, "_encode", PRE, "SAM frames to encoder batches"),
        (sam, "_input_batch", PRE, "SAM frames to the device, stacked"),
        (getattr(sam, "transform", None), "apply_image", PRE, "SAM resize to the encoder size"),
        (sm, "preprocess", PRE, "SAM normalise, pad"),
        (sam, "segment_windows", PRE, "SAM prompts: group, stack"),
        (stages, "packed", PRE, "frames to I420 planes at decode (decode.frame_transport)"),
        (stages, "unpacked", PRE, "frames from I420 planes to RGB in each stage"),
        # post-processing
        (det, "_candidates", POST, "detector candidates glue"),
        (det_masks, "candidates", POST, "detector head post-processing (NMS, low-res masks)"),
        (det_masks, "upsample", POST, "detector mask upsampling (kept people)"),
        (det, "_convert", POST, "detector person rule, masks to host"),
        (type(pose), "__call__", POST, "pose batching, keypoints to frame pixels"),
        (pose, "_batched", POST, "pose heatmaps to keypoints, to host"),
        (pose, "_to_frame", POST, "pose keypoints to frame pixels"),
        (pose, "_flip_heatmaps", POST, "pose flip-test average"),
        (pose.codec, "decode", POST, "pose heatmap decoding, mmpose (UDP, DARK)"),
        (pose_mod, "decode_udp_dark", POST, "pose heatmap decoding, torch (UDP, DARK)"),
        (sam, "_decode", POST, "SAM prompts to the decoder, IoU to host"),
        (getattr(resample, "MaskResampler", None), "__call__", POST, "SAM mask upsampling in windows"),
        (det_masks, "changes_to_host", RLE, "detector mask run boundaries, to host"),
        (getattr(segmenter, "TensorEmbedding", None), "to", SER, "SAM embedding unpacked to the device"),
        *transport_targets(),
    ]
    return [t for t in wanted + loop_targets() if t[0] is not None and hasattr(t[0], t[1])]


def transport_targets() -> list[tuple[object, str, str, str]]:
    """How rows cross the stages: the states' pickles and the stages' Arrow batches (read, built,
    replaced columns); the frames' I420 packing is preprocessing (``targets``)."""
    from bmp_ray.bmp import loop

    columns = _module("bmp_ray.pipeline.columns")
    wanted = [
        (loop.FrameState, "split", SER, "stage rows pickle.dumps"),
        (loop.FrameState, "joined", SER, "stage rows pickle.loads"),
        *((columns, f, SER, f"stage batches: Arrow columns, {f}") for f in columns.__all__),
    ]
    return [t for t in wanted if t[0] is not None and hasattr(t[0], t[1])]


def loop_targets() -> list[tuple[object, str, str, str]]:
    """The model-free part of ``targets``: the BMP loop's steps and rules, the masks' encodings and the
    part writer (what ``host_masks`` times on people's masks)."""
    from bmp_ray import masks
    from bmp_ray.bmp import loop
    from bmp_ray.pipeline import parts, stages
    from bmp_ray.result import FrameResult

    wanted = [
        (loop, "pose_nms", POST, "BMP pose NMS"),
        (loop, "select_prompts", POST, "BMP prompt selection"),
        (loop.FrameState, "add_exclusive", POST, "BMP exclusive masks"),
        (loop.FrameState, "erase", POST, "BMP erase map"),
        (stages, "detect_step", POST, "BMP loop steps"),
        (stages, "pose_step", POST, "BMP loop steps"),
        (stages, "sam_step", POST, "BMP loop steps"),
        (stages, "frame_result", POST, "frame_result (full-frame masks)"),
        (FrameResult, "resized", POST, "results to the video's pixels (decode.max_side)"),
        # RLE
        (masks, "encode", RLE, "masks.encode"),
        (masks, "decode", RLE, "masks.decode"),
        (masks, "encode_window", RLE, "masks.encode_window"),
        (masks, "encode_windows", RLE, "masks.encode_windows"),
        (masks, "encode_padded", RLE, "masks.encode_padded"),
        (masks, "resize_windows", RLE, "masks.resize_windows (refined masks to the video's pixels)"),
        (masks, "resize_many", RLE, "masks.resize_many (detector masks to the video's pixels)"),
        (masks, "from_changes", RLE, "masks.from_changes"),
        (masks, "to_runs", RLE, "masks.to_runs (window masks between stages)"),
        (masks, "from_runs", RLE, "masks.from_runs (window masks between stages)"),
        # serialisation (the stages' pickle module is swapped by ``instrumented``)
        (parts, "write_parts", SER, "part writer (Arrow IPC, write)"),
    ]
    return [t for t in wanted if t[0] is not None and hasattr(t[0], t[1])]


def _module(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def instrumented(det, pose, sam, meter: Meter, replay: Replay | None = None):
    """``instrument(meter, targets(...), replay)`` with the stages' ``pickle`` module timed as
    serialisation."""
    stack = contextlib.ExitStack()
    stack.enter_context(instrument(meter, targets(det, pose, sam), replay))
    from bmp_ray.pipeline import stages

    stack.enter_context(_swap(stages, "pickle", timed_pickle(meter, "stage rows")))
    return stack


@contextlib.contextmanager
def _swap(owner, attr: str, value):
    old = getattr(owner, attr)
    setattr(owner, attr, value)
    try:
        yield
    finally:
        setattr(owner, attr, old)
