"""``bmp-ray bench host``: host CPU per 1080p frame by component, and object-store bytes per frame.

The pipeline's own stage classes (``pipeline.stages``: decode rows, then per BMP iteration the
detector, pose and SAM stages, then the part writer) run in this process without Ray, on the first
frames of a 1080p shared video, with the test variants' seeded random weights and the detector
capped so that about ``--people`` people are kept per frame (``people / iterations`` per pass).
Between operators every batch goes through the block Ray Data would store (``host_store``): its
bytes are the object-store bytes of that operator, as ``bmp-ray bench pipeline`` reads them from
Ray Data's stats (``--ray-check`` runs that benchmark on the same inputs for comparison).

Host CPU (``time.process_time``: all threads, core-ms) and wall time are charged to components by
timed wrappers (``host_meter``), each function's time net of the instrumented calls inside it:
decode (PyAV to RGB rows; excluded from the goal), preprocessing, post-processing, RLE,
serialisation, and "other" (the stages' row handling no wrapper covers); the model forwards are
timed and excluded. torch runs on ``--threads`` threads (1 by default: core-ms then also read as
wall ms). The figures are a run's steady state: the default 4 frames are one batch of the stages'
default batch size, and a segment's end rows (its decode summary through every operator, once per
segment) are timed apart (``host_ms_per_segment``) and spread over the config's ``segment_frames``.

Two configurations on the same video frames and stage objects: "today", every transport option
the stage objects have (``host_store.OPTIONS``: SAM embedding precision, pose crop backend) and
every decode option of the run config (``host_store.DECODE_OPTIONS``: working resolution, frame
transport) at its old value, and "new", each at its new value (none found: new is today, ratio 1).
Each is checked against its oracle, the single-process ``BMPLoop`` with today's stage options on
the frames its models read (the new ones at the working resolution, through I420; results mapped
back to the video's pixels); the new results are also compared with today's oracle (how far the
working frames move them).
With random weights SAM's masks are speckle over the whole frame, which inflates every mask step;
``host_masks`` runs those steps again on real people's masks (the shared COCO / OCHuman instances),
and ``people_masks`` reports the host work on any machine with those labels swapped in.
Each configuration then runs again with every forward handing back the output it gave in one recorded
run (``forwards_replayed``, ``host_meter.Replay``): the host work with its caches warm, as on a GPU
machine's host, whose caches the forwards do not sweep; the results must equal the recorded run's.
The recorded run also counts the torch operators each step dispatches (``torch_ops_per_frame``,
``host_meter.OpCounter``): each one that computes is a kernel launch on a GPU. A GPU host's host work
is at least the replayed glue on people's masks plus those operators' dispatch at its measured cost
here (``gpu_host_lower_bound``, ``host_meter.dispatch_us``): a lower bound, which only a GPU run can
show under the goal.
Goals: host work at most 20 core-ms per frame outside decoding and forwards; object-store bytes per
frame at most a quarter of today's; results equal to the oracle (today: exactly; new: within
``TOLERANCE``).
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import platform
import tempfile
from collections import defaultdict

import numpy as np
import pyarrow as pa

from bmp_ray.bench import data_path, host_masks, host_meter, host_store, stages_from
from bmp_ray.bench.host_meter import COMPONENTS, DECODE, FORWARD, OTHER, SER, Meter
from bmp_ray.models.segmenter import DECODER_BATCH

DEFAULT_VIDEO = "videos/mmtracking_demo.mp4"
HOST_GOAL_MS = 20.0
STORE_GOAL = 0.25
# the new configuration against the oracle: boxes within half a pixel, 99 % of keypoints within a pixel
# (random weights give flat heatmaps whose maximum a grey level of the crop can move), refined masks
# overlapping at IoU 0.98 or more
TOLERANCE = {"box_px": 0.5, "keypoint_px": 1.0, "keypoint_share": 0.99, "mask_iou": 0.98}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", help=f"a 1080p video (default: $BMP_RAY_TEST_DATA/{DEFAULT_VIDEO})")
    p.add_argument(
        "--frames", type=int, default=4, help="first frames of the video measured (default 4: one batch of the stages)"
    )
    p.add_argument("--people", type=int, default=20, help="people per frame, over all iterations (default 20)")
    p.add_argument("--weights", help="weights folder (default: synthesize the test variants to a temp dir)")
    p.add_argument("--preset", default="test", help="model preset (default: test)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads of every stage (default 1)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config overrides (both configurations)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs of each configuration; every figure is the median over them (default 3)",
    )
    p.add_argument("--quick", action="store_true", help="1 frame, 4 people, 1 run (tests)")
    p.add_argument(
        "--ray-check",
        action="store_true",
        help="also run `bench pipeline` (Ray) on the same inputs and report its bytes per operator",
    )


class Chain:
    """The pipeline's operators in one process: stage objects of one config (each model loaded once;
    later iterations' stages are copies sharing it), every output through a Ray Data block."""

    def __init__(self, config):
        from bmp_ray.pipeline.stages import DetectStage, PoseStage, SamStage, operator_name

        first = [cls(config, 1) for cls in (DetectStage, PoseStage, SamStage)]
        self.models = tuple(s.model for s in first)
        self.config = config
        self.replay: host_meter.Replay | None = None  # the forwards recorded or replayed (``measure``)
        self.stages, self.item_bytes = [], 0
        for it in range(1, config.bmp.iterations + 1):
            for s in first:
                c = copy.copy(s) if it > 1 else s
                c.iteration = it
                self.stages.append((operator_name(s, it), c))

    def decode(self, item, meter: Meter, config=None) -> list[pa.Table]:
        """``decode_rows``' blocks of ``item`` with ``config`` (default: the chain's), timed as decode
        except the frames' conversion for transport (preprocessing)."""
        from bmp_ray.pipeline import stages

        rows = {"item": np.array([pickle.dumps(item)], object)}
        self.item_bytes = host_store.block_bytes(host_store.to_block(rows))  # Ray Data's FromItems block
        pack = [t for t in host_meter.targets(*self.models) if t[:2] == (stages, "packed")]
        pack += host_meter.transport_targets()  # the rows' Arrow batch is serialisation
        with host_meter.instrument(meter, pack):
            return meter.timed(
                DECODE,
                "PyAV decode to RGB rows (decode_rows)",
                lambda: list(stages.decode_rows(rows, config=config or self.config)),
            )()

    def run(
        self, blocks: list[pa.Table], meter: Meter, out: str, segment_meter: Meter | None = None
    ) -> tuple[list, dict[str, int]]:
        """Results of the decoded ``blocks`` and the stored bytes per operator. With ``segment_meter``, a
        block of end rows only (a segment's decode summary: once per segment, not per frame) is timed
        there instead of in ``meter``."""
        from bmp_ray.pipeline import parts

        stored: dict[str, int] = defaultdict(int)
        stored["FromItems"] = self.item_bytes

        def carry(op: str, batch, batch_format: str):
            block = host_store.to_block(batch)
            stored[op] += host_store.block_bytes(block)
            return host_store.from_block(block, batch_format)

        results = []
        if self.replay is not None:
            self.replay.rewind()  # each run of the same work replays from its first forward
        for block in blocks:
            ends = block.num_rows and all(k == parts.END for k in block["frame_index"].to_pylist())
            m = segment_meter if ends and segment_meter is not None else meter
            timed = m.timed(SER, "Ray Data blocks (batch to Arrow block and back)", carry)
            with host_meter.instrumented(*self.models, m, self.replay):
                batch = timed("MapBatches(decode_rows)", block, "pyarrow")
                for j, (name, stage) in enumerate(self.stages):
                    emitted = m.timed(OTHER, "stage rows in and out", stage)(batch)
                    fmt = "pyarrow" if j + 1 < len(self.stages) else "numpy"  # the part writer reads numpy
                    batch = timed(f"MapBatches({name})", emitted, fmt)
                results += [pickle.loads(b) for b, k in zip(batch["result"], batch["frame_index"]) if k != parts.END]
                timed("MapBatches(write_parts)", parts.write_parts(batch, out=out), "numpy")
        return results, dict(stored)


def config_of(args, weights: str, options: list[str] = ()):
    """The run config of a configuration: the test preset, the detector capped at ``people /
    iterations`` per pass, the first ``frames`` frames, torch on ``threads`` threads, the decode
    ``options`` of the configuration, then ``--set``."""
    from bmp_ray.pipeline import config as run_config

    sets = [
        f"models.preset={args.preset}",
        f"models.weights={weights}",
        "decode.stride=1",
        f"decode.stop={args.frames}",
        *(f"{r}.threads={args.threads}" for r in ("detector", "pose", "sam")),
        *options,
        *args.set,
    ]
    it = run_config.load(overrides=sets).bmp.iterations
    return run_config.load(overrides=[*sets, f"models.max_people={max(1, -(-args.people // it))}"])


def measure(chain: Chain, blocks: list[pa.Table], decode_meter: Meter, repeats: int = 1) -> dict:
    """``repeats`` timed runs of ``chain`` on ``blocks`` after a warm-up on one frame: results and
    figures, each label's time the median over the runs (``Meter.median``). What a segment's end rows
    cost (once per segment) is added to the per-frame figures over the config's ``segment_frames``
    frames, as in a run, and reported on its own (``host_ms_per_segment``).

    Then ``forwards_replayed``, as a GPU machine's host would run: the same figures from ``repeats``
    more runs in which the forwards hand back the outputs recorded in one run before them
    (``host_meter.Replay``), so that the host work runs with warm caches, and SAM's decoder takes the
    people it takes per call on a GPU (``segmenter.DECODER_BATCH``). ``results_equal``: those runs'
    results equal the recorded run's; ``results_vs_computed``: the recorded run's against the timed
    runs' (another decoder batch: in tolerance, not bit-equal). The recorded run also counts the torch
    operators of every step (``torch_ops_per_frame``)."""
    warm = _first(blocks)
    with tempfile.TemporaryDirectory() as tmp:
        chain.run(warm, Meter(), os.path.join(tmp, "warm"))
        results, stored, runs = _runs(chain, blocks, repeats, os.path.join(tmp, "computed"))
        chain.replay = host_meter.Replay()
        sam, cpu_batch = chain.models[2], chain.models[2].decoder_batch
        sam.decoder_batch = DECODER_BATCH["cuda"]  # people per decoder call on a GPU
        try:
            chain.replay.start("record")
            counted = Meter()
            with host_meter.OpCounter(counted) as ops:
                recorded, _ = chain.run(blocks, counted, os.path.join(tmp, "record"), Meter())
            chain.replay.start("replay")
            replayed, _, replayed_runs = _runs(chain, blocks, repeats, os.path.join(tmp, "replayed"))
        finally:
            chain.replay, sam.decoder_batch = None, cpu_batch
    out = {
        "results": results,
        "frames": len(results),
        "people_per_frame": sum(len(r) for r in results) / max(len(results), 1),
        "size": f"{results[0].width}x{results[0].height}" if results else "",
        **_figures(chain, runs, decode_meter, len(results)),
        "object_store_mb_per_frame": {op: b / 1e6 / max(len(results), 1) for op, b in stored.items()},
        "object_store_bytes": stored,
    }
    out["torch_ops_per_frame"] = _op_counts(ops, len(recorded))
    out["forwards_replayed"] = {
        "results_equal": compare(replayed, recorded)["exact"],
        "results_vs_computed": compare(recorded, results),  # another decoder batch: within tolerance
        **_figures(chain, replayed_runs, decode_meter, len(replayed)),
    }
    return out


def _op_counts(ops: host_meter.OpCounter, frames: int) -> dict:
    """Per frame: the torch operators that compute (kernel launches on a GPU) in the forwards, in the
    steps that run on the stage's device and in the rest, by label; and the scalar reads."""
    n = max(frames, 1)
    by = {f"{c}: {d}": k / n for (c, d), k in sorted(ops.ops.items(), key=lambda kv: -kv[1])}

    def total(which) -> float:
        return sum(k for (c, d), k in ops.ops.items() if which(c, d)) / n

    return {
        "forwards": total(lambda c, d: c == FORWARD),
        "device_ops": total(lambda c, d: c != FORWARD and d in host_meter.DEVICE_OPS),
        "any_machine": total(lambda c, d: c != FORWARD and d not in host_meter.DEVICE_OPS),
        "scalar_reads": sum(ops.scalar_reads.values()) / n,
        "by_detail": by,
        "scalar_reads_by_detail": {f"{c}: {d}": k / n for (c, d), k in ops.scalar_reads.items() if k},
    }


def _runs(chain: Chain, blocks: list[pa.Table], repeats: int, out: str) -> tuple[list, dict, list[tuple]]:
    """``repeats`` runs of ``chain`` on ``blocks``: the last run's results and stored bytes, and each
    run's (frame meter, segment meter)."""
    runs = []
    for r in range(repeats):
        runs.append((Meter(), Meter()))
        results, stored = chain.run(blocks, runs[-1][0], f"{out}{r}", runs[-1][1])
    return results, stored, runs


def _figures(chain: Chain, runs: list[tuple[Meter, Meter]], decode_meter: Meter, frames: int) -> dict:
    """Per-frame figures of ``runs`` (the median of each label over them, a segment's end rows spread
    over the config's ``segment_frames``, decoding from ``decode_meter``)."""
    meter, segment = Meter.median([r[0] for r in runs]), Meter.median([r[1] for r in runs])
    n = max(frames, 1)
    segment_frames = chain.config.decode.segment_frames
    meter.add(segment, n / segment_frames)
    for k in decode_meter.cpu:
        meter.cpu[k] += decode_meter.cpu[k]
        meter.wall[k] += decode_meter.wall[k]
    cpu, wall = meter.by_component("cpu"), meter.by_component("wall")
    host = (*COMPONENTS, OTHER)
    per = {c: 1e3 * cpu.get(c, 0.0) / n for c in (DECODE, *host, FORWARD)}
    per_wall = {c: 1e3 * wall.get(c, 0.0) / n for c in (DECODE, *host, FORWARD)}
    details = sorted(((1e3 * s / n, c, d) for (c, d), s in meter.cpu.items()), reverse=True)
    device = sum(ms for ms, c, d in details if d in host_meter.DEVICE_OPS and c in host)
    return {
        "host_ms_per_frame": sum(per[c] for c in host),
        "host_wall_ms_per_frame": sum(per_wall[c] for c in host),
        "host_ms_per_segment": 1e3 * sum(v for (c, _), v in segment.cpu.items() if c in host),
        "segment_frames": segment_frames,
        "host_ms_by_component": per,
        "host_wall_ms_by_component": per_wall,
        "host_ms_device_ops_per_frame": device,
        "host_ms_any_machine_per_frame": sum(per[c] for c in host) - device,
        "host_ms_by_detail": {f"{c}: {d}": ms for ms, c, d in details},
        "host_ms_by_caller": _by_caller(meter, n),
    }


def _by_caller(meter: Meter, n: int) -> dict[str, float]:
    """Core-ms per frame of the RLE and serialisation labels by the instrumented call they ran in."""
    rows = sorted(((1e3 * s / n, k, c) for (k, c), s in meter.by_caller.items() if k[0] in ("RLE", SER)), reverse=True)
    return {f"{k[0]}: {k[1]} <- {c[1] if c else '-'}": ms for ms, k, c in rows}


def compare(got, want) -> dict:
    """How far results ``got`` are from the oracle's ``want`` (same frames, in order): boxes and
    keypoints in frame pixels, the share of keypoints within ``keypoint_px`` of the oracle's, the lowest
    refined-mask IoU."""
    from bmp_ray import masks

    same = len(got) == len(want) and all(len(a) == len(b) for a, b in zip(got, want))
    out = {"exact": same and all(a.equals(b) for a, b in zip(got, want)), "same_people": same}
    if not same:
        return {**out, "within_tolerance": False}
    box = kpt = 0.0
    iou, near, total = 1.0, 0, 0
    for a, b in zip(got, want):
        if not len(a):
            continue
        box = max(box, float(np.abs(a.boxes - b.boxes).max()))
        d = np.abs(a.keypoints[..., :2] - b.keypoints[..., :2]).max(-1)  # (N, K)
        kpt, near, total = max(kpt, float(d.max())), near + int((d <= TOLERANCE["keypoint_px"]).sum()), total + d.size
        ma, mb = masks.decode(a.masks, a.height, a.width), masks.decode(b.masks, b.height, b.width)
        inter, union = (ma & mb).sum((1, 2)), (ma | mb).sum((1, 2))
        iou = min(iou, float(np.min(np.where(union > 0, inter / np.maximum(union, 1), 1.0))))
    share = near / total if total else 1.0
    ok = box <= TOLERANCE["box_px"] and share >= TOLERANCE["keypoint_share"] and iou >= TOLERANCE["mask_iou"]
    return {
        **out,
        "max_box_px": box,
        "max_keypoint_px": kpt,
        "keypoint_share_within": share,
        "min_mask_iou": iou,
        "within_tolerance": ok,
    }


def _first(blocks: list[pa.Table]) -> list[pa.Table]:
    """The first frame row of ``blocks``, as a block of its own."""
    return [next(b for b in blocks if b.num_rows and b["frame_index"][0].as_py() != -1).slice(0, 1)]


def each_option(chain: Chain, blocks: list[pa.Table], options, ref: list, dec=(), decoded=None) -> dict[str, dict]:
    """Per option, the chain's results on the first frame with only that option new, against the
    oracle's first frame (which option moves the results, and how far). ``decoded(key)``: the blocks
    decoded with only the decode option ``key`` of ``dec`` new; those results are also checked against the
    oracle on the same frames (the transport alone changes nothing)."""
    out = {}
    host_store.apply_options(chain.models, options, "today")
    with tempfile.TemporaryDirectory() as tmp:
        for o in options:
            host_store.apply_options(chain.models, options, "today")
            host_store.apply_options(chain.models, [o], "new")
            results, _ = chain.run(_first(blocks), Meter(), os.path.join(tmp, o[0] + o[1]))
            out[f"{o[0]}.{o[1]}={o[3]}"] = compare(results, ref[:1])
        host_store.apply_options(chain.models, options, "today")
        for key, _, value, _ in dec if decoded else ():
            one = _first(decoded(key))
            results, _ = chain.run(one, Meter(), os.path.join(tmp, key))
            out[f"{key}={value}"] = {
                **compare(results, ref[:1]),
                "vs_oracle_same_frames": compare(results, oracle(chain, one)),
            }
    host_store.apply_options(chain.models, options, "new")
    return out


def oracle(chain: Chain, blocks: list[pa.Table]) -> list:
    """The single-process ``BMPLoop`` on the frames of ``blocks`` (as the models read them), with the
    chain's stage objects, results in the video's pixels."""
    from bmp_ray.bmp import BMPLoop
    from bmp_ray.pipeline.decode import unpacked

    loop = BMPLoop(*chain.models, chain.config.bmp)
    out = []
    for b in map(host_store.from_block, blocks):
        rows = [i for i, k in enumerate(b["frame_index"]) if k != -1]
        if rows:
            results = loop(
                np.stack([unpacked(b["frame"][i]) for i in rows]),
                video_id=str(b["video_id"][rows[0]]),
                frame_indices=[int(b["frame_index"][i]) for i in rows],
                pts_s=[float(b["pts_s"][i]) for i in rows],
            )
            out += [r.resized(*b["size"][i]) for r, i in zip(results, rows)]  # decode.max_side: own pixels
    return out


def _ray_check(args, config) -> dict[str, float]:
    """MB per frame per operator of ``bench pipeline`` (Ray) on the same frames and config."""
    from bmp_ray.bench import pipeline

    m = config.models
    a = argparse.Namespace(
        inputs=[args.video],
        weights=m.weights,
        preset=m.preset,
        stride=1,
        max_people=m.max_people,
        set=[
            f"decode.stop={args.frames}",
            *(f"{r}.threads={args.threads}" for r in ("detector", "pose", "sam")),
            *args.set,
        ],
    )
    out = pipeline.run(a)
    return {op: b / 1e6 / max(out["frames"], 1) for op, b in out["object_store_bytes"].items()}


def run(args: argparse.Namespace) -> dict:
    if args.quick:
        args.frames, args.people, args.repeats = 1, 4, 1
    if min(args.frames, args.people, args.threads, args.repeats) < 1:
        raise ValueError(
            f"bench host: --frames, --people, --threads and --repeats must be >= 1, got "
            f"{args.frames}, {args.people}, {args.threads}, {args.repeats}"
        )
    args.video = data_path("host", args.video, DEFAULT_VIDEO)
    from bmp_ray.pipeline import config as run_config

    args.detector, args.pose, args.sam = (run_config.PRESETS[args.preset][r] for r in ("detector", "pose", "sam"))

    dec = host_store.decode_options()

    def both(weights):
        from bmp_ray.pipeline.plan import make_plan

        new_keys = {"today": (), "new": [k for k, *_ in dec]}
        cfg = {w: config_of(args, weights, host_store.decode_overrides(dec, new_keys[w])) for w in new_keys}
        chain = Chain(cfg["today"])

        def decoded(config, meter=None):
            (item,) = make_plan([args.video], config).items
            return chain.decode(item, meter or Meter(), config)

        meters = {w: Meter() for w in cfg}
        blocks = {w: decoded(cfg[w], meters[w]) for w in cfg}
        found = host_store.transport_options(chain.models)
        host_store.apply_options(chain.models, found, "today")
        today = measure(chain, blocks["today"], meters["today"], args.repeats)
        ref = ref_new = oracle(chain, blocks["today"])
        new, alone = today, {}
        if found or dec:
            ref_new = oracle(chain, blocks["new"])
            host_store.apply_options(chain.models, found, "new")
            new = measure(chain, blocks["new"], meters["new"], args.repeats)
            alone = each_option(
                chain,
                blocks["today"],
                found,
                ref,
                dec,
                lambda key: decoded(config_of(args, weights, host_store.decode_overrides(dec, (key,)))),
            )
        checked = _ray_check(args, cfg["today"]) if args.ray_check else None
        return today, new, found, ref, ref_new, alone, checked

    today, new, found, ref, ref_new, alone, checked = stages_from(args, both)
    eq_today, eq_new = compare(today["results"], ref), compare(new["results"], ref_new)
    people = _people_masks(args, new)
    total = {k: sum(m["object_store_mb_per_frame"].values()) for k, m in (("today", today), ("new", new))}
    ratio_store = total["new"] / total["today"] if total["today"] else 0.0
    out = {
        "benchmark": "host",
        "video": os.path.basename(args.video),
        "size": new["size"],
        "frames": new["frames"],
        "people_per_frame": new["people_per_frame"],
        "people_per_frame_today": today["people_per_frame"],
        "models": [args.detector, args.pose, args.sam],
        "threads": args.threads,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "new_options": [f"{r}.{a}: {t!r} -> {n!r} ({w})" for r, a, t, n, w in found]
        + [f"{k}: {t!r} -> {n!r} ({w})" for k, t, n, w in dec],
        "host_ms_per_frame": new["host_ms_per_frame"],
        "host_ms_per_segment": new["host_ms_per_segment"],
        "segment_frames": new["segment_frames"],
        "host_wall_ms_per_frame": new["host_wall_ms_per_frame"],
        "host_ms_by_component": new["host_ms_by_component"],
        "host_ms_device_ops_per_frame": new["host_ms_device_ops_per_frame"],
        "host_ms_any_machine_per_frame": new["host_ms_any_machine_per_frame"],
        "people_masks": people,
        "forwards_replayed": _replayed(today, new, people, host_meter.dispatch_us()),
        "torch_ops_per_frame": {**new["torch_ops_per_frame"], "today": today["torch_ops_per_frame"]},
        "host_wall_ms_by_component": new["host_wall_ms_by_component"],
        "host_ms_by_detail": new["host_ms_by_detail"],
        "host_ms_by_caller": new["host_ms_by_caller"],
        "object_store_mb_per_frame": new["object_store_mb_per_frame"],
        "object_store_mb_per_frame_total": total["new"],
        "today": {
            k: today[k]
            for k in (
                "host_ms_per_frame",
                "host_ms_per_segment",
                "host_ms_any_machine_per_frame",
                "host_wall_ms_per_frame",
                "host_ms_by_component",
                "host_wall_ms_by_component",
                "host_ms_device_ops_per_frame",
                "host_ms_by_detail",
                "host_ms_by_caller",
                "object_store_mb_per_frame",
            )
        },
        "object_store_mb_per_frame_total_today": total["today"],
        "ratio_object_store": ratio_store,
        "ratio_host_budget": new["host_ms_per_frame"] / HOST_GOAL_MS,
        "results_vs_oracle_today": eq_today,
        "results_vs_oracle_new": eq_new,
        "results_vs_full_resolution": compare(new["results"], ref),
        "results_vs_oracle_by_option": alone,
        "tolerance": TOLERANCE,
    }
    if checked is not None:
        out["ray_object_store_mb_per_frame"] = checked
        out["ratio_ray_check"] = sum(checked.values()) / total["today"] if total["today"] else 0.0
    low = out["forwards_replayed"]["gpu_host_lower_bound"]["host_ms_per_frame"]
    goals = [
        ["goal", "target", "measured", "met"],
        [
            "host core-ms/frame outside decode and forwards",
            f"<= {HOST_GOAL_MS:g}",
            new["host_ms_per_frame"],
            "yes" if new["host_ms_per_frame"] <= HOST_GOAL_MS else "no",
        ],
        [
            "host core-ms/frame on a GPU host, lower bound",
            f"<= {HOST_GOAL_MS:g}",
            low,
            "no" if low > HOST_GOAL_MS else "the GPU run decides",
        ],
        [
            "object-store bytes/frame new/today",
            f"<= {STORE_GOAL:g}",
            ratio_store,
            "yes" if ratio_store <= STORE_GOAL else "no",
        ],
        [
            "results equal to the oracle",
            "today exact, new in tolerance",
            f"{'exact' if eq_today['exact'] else 'differ'} / "
            f"{'exact' if eq_new['exact'] else 'in tolerance' if eq_new['within_tolerance'] else 'differ'}",
            "yes" if eq_today["exact"] and eq_new["within_tolerance"] else "no",
        ],
    ]
    out["goals"] = {g[0]: {"target": g[1], "measured": g[2], "met": g[3] == "yes", "status": g[3]} for g in goals[1:]}
    out["rows"] = _rows(today, new, checked, goals, out["forwards_replayed"], people)
    return out


def _people_masks(args, new: dict) -> dict | None:
    """``host_masks``' check on people's masks (None without the shared test data), and the new
    configuration's host work on any machine with its mask-step labels taken from that check instead."""
    from bmp_ray.testdata import data_dir

    root = data_dir()
    if root is None:
        return None
    people = host_masks.measure(root, frames=args.frames, people=args.people, repeats=args.repeats)
    swapped = host_masks.swap(new["host_ms_by_detail"], people["host_ms_by_detail"])
    return {**people, **swapped, "host_ms_any_machine_per_frame": _any_machine_people(new, swapped)}


def _any_machine_people(figures: dict, swapped: dict) -> float:
    """``figures``' host work on any machine with the mask-step labels of ``swapped`` (``host_masks.swap``
    of its ``host_ms_by_detail``) measured on people's masks."""
    return figures["host_ms_any_machine_per_frame"] - swapped["bench_ms"] + swapped["people_ms"]


def _replayed(today: dict, new: dict, people: dict | None, dispatch_us: float) -> dict:
    """Both configurations' figures with the forwards replayed (``measure``), the new one's host work on
    any machine also with the people's mask steps swapped in (as ``_people_masks``), and
    ``gpu_host_lower_bound``: that host work plus the dispatch of the device steps' torch operators
    (``torch_ops_per_frame``) at ``dispatch_us`` each (``host_meter.dispatch_us``), what a GPU machine's
    host would spend at least on the same work (each operator's kernel launch comes on top)."""
    keep = (
        "results_equal",
        "results_vs_computed",
        "host_ms_per_frame",
        "host_ms_by_component",
        "host_ms_device_ops_per_frame",
        "host_ms_any_machine_per_frame",
        "host_ms_by_detail",
    )
    out = {k: new["forwards_replayed"][k] for k in keep}
    out["today"] = {k: today["forwards_replayed"][k] for k in keep}
    if people is not None:
        swapped = host_masks.swap(out["host_ms_by_detail"], people["host_ms_by_detail"])
        out["host_ms_any_machine_people_masks"] = _any_machine_people(out, swapped)
    glue = out.get("host_ms_any_machine_people_masks", out["host_ms_any_machine_per_frame"])
    ops = new["torch_ops_per_frame"]["device_ops"]
    out["gpu_host_lower_bound"] = {
        "host_ms_any_machine": glue,
        "device_step_operators": ops,
        "dispatch_us_per_operator": dispatch_us,
        "dispatch_ms": ops * dispatch_us / 1e3,
        "host_ms_per_frame": glue + ops * dispatch_us / 1e3,
    }
    return out


def _rows(
    today: dict, new: dict, checked: dict | None, goals: list, replayed: dict, people: dict | None = None
) -> list[list]:
    t, n = today["host_ms_by_component"], new["host_ms_by_component"]
    tw, nw = today["host_wall_ms_by_component"], new["host_wall_ms_by_component"]
    rows = [["host, per frame", "today core-ms", "today wall ms", "new core-ms", "new wall ms"]]
    names = {DECODE: "decode (excluded)", OTHER: "other (stage rows)", FORWARD: "model forwards (excluded)"}
    for c in (DECODE, *COMPONENTS, OTHER):
        rows.append([names.get(c, c), t[c], tw[c], n[c], nw[c]])
    rows.append(
        [
            f"host total (goal <= {HOST_GOAL_MS:g})",
            today["host_ms_per_frame"],
            today["host_wall_ms_per_frame"],
            new["host_ms_per_frame"],
            new["host_wall_ms_per_frame"],
        ]
    )
    rows.append(
        [
            "  of which torch ops on the stage device",
            today["host_ms_device_ops_per_frame"],
            "",
            new["host_ms_device_ops_per_frame"],
            "",
        ]
    )
    rows.append(
        [
            "  host work on any machine",
            today["host_ms_any_machine_per_frame"],
            "",
            new["host_ms_any_machine_per_frame"],
            "",
        ]
    )
    if people is not None:
        rows.append(["  the same with people's masks (below)", "", "", people["host_ms_any_machine_per_frame"], ""])
    rows.append([names[FORWARD], t[FORWARD], tw[FORWARD], n[FORWARD], nw[FORWARD]])
    tr = replayed["today"]
    rows.append(["forwards replayed (warm caches, as a GPU host)", "", "", "", ""])
    rows.append(["  host total", tr["host_ms_per_frame"], "", replayed["host_ms_per_frame"], ""])
    rows.append(
        [
            "  host work on any machine",
            tr["host_ms_any_machine_per_frame"],
            "",
            replayed["host_ms_any_machine_per_frame"],
            "",
        ]
    )
    if "host_ms_any_machine_people_masks" in replayed:
        rows.append(["  the same with people's masks", "", "", replayed["host_ms_any_machine_people_masks"], ""])
    low = replayed["gpu_host_lower_bound"]
    rows.append(
        [
            f"  + {low['device_step_operators']:.0f} device-step operators' dispatch at "
            f"{low['dispatch_us_per_operator']:.2f} us",
            "",
            "",
            low["dispatch_ms"],
            "",
        ]
    )
    rows.append(["  a GPU host's host work, lower bound", "", "", low["host_ms_per_frame"], ""])
    same = tr["results_equal"] and replayed["results_equal"]
    rows.append(["  results equal to the recorded run's", "", "", "yes" if same else "no", ""])
    vs = [r["results_vs_computed"] for r in (tr, replayed)]
    near = (
        "exact" if all(v["exact"] for v in vs) else "in tolerance" if all(v["within_tolerance"] for v in vs) else "no"
    )
    rows.append(["  results vs the computed runs' (decoder batch)", "", "", near, ""])
    to, no = today["torch_ops_per_frame"], new["torch_ops_per_frame"]
    rows.append(["torch operators per frame (kernel launches on a GPU)", "today", "", "new", ""])
    for key, name in (
        ("forwards", "model forwards"),
        ("device_ops", "steps on the stage device"),
        ("any_machine", "the other host steps"),
        ("scalar_reads", "scalar reads (.item())"),
    ):
        rows.append([f"  {name}", to[key], "", no[key], ""])
    rows += [
        [""] * 5,
        [
            "object store, per frame",
            "today MB",
            "new MB",
            "new/today",
            "Ray (bench pipeline) MB" if checked is not None else "",
        ],
    ]
    for op, a in today["object_store_mb_per_frame"].items():
        b = new["object_store_mb_per_frame"].get(op, 0.0)
        rows.append([op, a, b, b / a if a else 0.0, checked.get(op, "-") if checked is not None else ""])
    ta, tb = (sum(m["object_store_mb_per_frame"].values()) for m in (today, new))
    rows.append(["all operators", ta, tb, tb / ta if ta else 0.0, sum(checked.values()) if checked is not None else ""])
    rows += [[""] * 5, ["largest host items (new)", "core-ms", "", "", ""]]
    host = [(k, v) for k, v in new["host_ms_by_detail"].items() if not k.startswith((FORWARD, DECODE))]
    rows += [[k, v, "", "", ""] for k, v in host[:10]]
    if people is not None:
        rows += [[""] * 5, ["mask steps (new), per frame", "bench core-ms", "people's masks core-ms", "", ""]]
        rows += [[k, v["bench"], v["people"], "", ""] for k, v in people["by_label"].items()]
        rows.append(["all of them", people["bench_ms"], people["people_ms"], "", ""])
    rows += [[""] * 5] + [g + [""] * (5 - len(g)) for g in goals]
    return rows
