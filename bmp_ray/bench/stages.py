"""``bmp-ray bench stages``: bmp_ray's batched stages against the libraries' own per-item APIs.

On the shared real images (COCO + OCHuman, ground-truth boxes and keypoints as inputs), with the same
weights on both sides (seeded random weights of the test variants by default, written to a temporary
folder; ``--weights DIR`` and ``--detector/--pose/--sam`` choose others), alternating runs:

- detector: ``Detector`` on all frames at once vs ``mmdet.apis.inference_detector`` per image;
- pose: ``PoseEstimator`` on all people of all frames at once vs ``mmpose.apis.inference_topdown`` per
  image (flip test on both sides);
- SAM decoder: ``SamSegmenter.segment`` on all people of a frame at once vs ``SamPredictor.predict`` once
  per person, both from the same image embedding;
- SAM encoder: ``SamSegmenter.embed`` on batches of frames vs ``SamPredictor.set_image`` per frame;
- SAM 2.1 decoder and encoder (``--sam2``): ``Sam2Segmenter`` the same way against
  ``SAM2ImagePredictor.predict`` (``multimask_output=False``) and ``set_image``;
- MaskPose dimming inside the crop vs at full resolution: time per person and mean pixel difference.

Ratios are ours over the reference in items per second (> 1: bmp_ray is faster).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from bmp_ray import masks as _masks
from bmp_ray.bench import add_model_arguments, median, stages_from
from bmp_ray.errors import ConfigError
from bmp_ray.testdata import annotated_images, data_dir, keypoint_prompts, middle_masks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="weights folder (default: synthesize the test variants to a temp dir)")
    add_model_arguments(p)
    p.add_argument("--sam2", default="sam2.1-tiny", help="the SAM 2.1 model benchmarked beside --sam")
    p.add_argument("--device", default="cpu")
    p.add_argument("--copies", type=int, default=2, help="times the image set is repeated per run")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs of each side (median kept)")


def _timed(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, runs alternating, after one warm-up run each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: median(v) for k, v in times.items()}


def run(args: argparse.Namespace) -> dict:
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    from mmpose.apis import inference_topdown
    from segment_anything import SamPredictor

    from bmp_ray.models.detector import Detector
    from bmp_ray.models.pose import PoseEstimator
    from bmp_ray.models.segmenter import build_segmenter

    root = data_dir()
    if root is None:
        raise ConfigError("bench stages: no test data found; set BMP_RAY_TEST_DATA")
    samples = (annotated_images(root, "coco") + annotated_images(root, "ochuman")) * max(1, args.copies)
    frames = [s.rgb for s in samples]
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    boxes = [s.boxes for s in samples]
    people = sum(len(b) for b in boxes)
    det, pose, seg = stages_from(
        args,
        lambda w: (
            Detector(args.detector, w, device=args.device),
            PoseEstimator(args.pose, w, device=args.device, conditioning=False),
            build_segmenter(args.sam, w, device=args.device),
        ),
    )
    reps = args.repeats
    rows = [["stage", "unit", "bmp_ray /s", "reference /s", "ratio", "reference API"]]
    out: dict = {}

    def det_reference():
        with DefaultScope.overwrite_default_scope("mmdet"):  # inference_detector does not set it
            return [inference_detector(det.model, b) for b in bgr]

    t = _timed({"ours": lambda: det(frames), "ref": det_reference}, reps)
    out["ratio_detector"] = t["ref"] / t["ours"]
    rows.append(
        [
            "detector",
            "frames",
            len(frames) / t["ours"],
            len(frames) / t["ref"],
            out["ratio_detector"],
            "inference_detector per image",
        ]
    )

    t = _timed(
        {
            "ours": lambda: pose(frames, boxes),
            "ref": lambda: [inference_topdown(pose.model, b, bx, "xyxy") for b, bx in zip(bgr, boxes)],
        },
        reps,
    )
    out["ratio_pose"] = t["ref"] / t["ours"]
    rows.append(
        [
            "pose (flip test)",
            "people",
            people / t["ours"],
            people / t["ref"],
            out["ratio_pose"],
            "inference_topdown per image",
        ]
    )

    prompts = [keypoint_prompts(s) for s in samples]
    first = frames[: max(2, len(frames) // 4)]

    def v1_image(predictor, e):
        predictor.features, predictor.original_size, predictor.input_size = (
            e.features[None],
            e.original_size,
            e.input_size,
        )
        predictor.is_image_set = True

    rows += _sam_rows("SAM", seg, SamPredictor(seg.model), v1_image, frames, first, prompts, reps, out, "sam")
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    def v2_image(predictor, e):
        predictor._features = {"image_embed": e.features[None], "high_res_feats": [f[None] for f in e.high_res_feats]}
        predictor._orig_hw, predictor._is_image_set = [e.original_size], True

    seg2 = _segmenter_from(args, args.sam2)
    rows += _sam_rows(
        "SAM 2.1", seg2, SAM2ImagePredictor(seg2.model), v2_image, frames, first, prompts, reps, out, "sam2"
    )

    # MaskPose dimming: inside the crop (ours) vs the full-resolution reference, same masks
    cond_crop = _reuse(pose, "crop")
    cond_frame = _reuse(pose, "frame")
    rles = [np.array(_masks.encode(middle_masks(s)), object) for s in samples]
    t = _timed(
        {
            "ours": lambda: [cond_crop.crops(f, b, r) for f, b, r in zip(frames, boxes, rles)],
            "ref": lambda: [cond_frame.crops(f, b, r) for f, b, r in zip(frames, boxes, rles)],
        },
        reps,
    )
    diffs = [np.abs(cond_crop.crops(f, b, r)[0] - cond_frame.crops(f, b, r)[0]) for f, b, r in zip(frames, boxes, rles)]
    out["ratio_dimming"] = t["ref"] / t["ours"]
    out["dimming_mean_abs_diff"] = float(np.mean([d.mean() for d in diffs]))
    out["dimming_pixels_off_by_more_than_1"] = float(np.mean([(d > 1).mean() for d in diffs]))
    rows.append(
        [
            "MaskPose dimming",
            "people",
            people / t["ours"],
            people / t["ref"],
            out["ratio_dimming"],
            "dim the full frame, then crop",
        ]
    )
    return {
        "benchmark": "stages",
        "frames": len(frames),
        "people": people,
        "repeats": reps,
        "models": [args.detector, args.pose, args.sam, args.sam2],
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        **out,
        "rows": rows,
    }


def _segmenter_from(args, name: str):
    """``build_segmenter(name)`` with ``args.weights``, or with its seeded random checkpoint written to a
    temporary folder."""
    import tempfile

    from bmp_ray.models.segmenter import build_segmenter
    from bmp_ray.models.synth import synthesize

    if args.weights is not None:
        return build_segmenter(name, args.weights, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, [name])
        return build_segmenter(name, tmp, device=args.device)


def _sam_rows(
    label: str, seg, predictor, set_embedding, frames, first, prompts, reps: int, out: dict, key: str
) -> list[list]:
    """The decoder row (all people of a frame at once vs ``predictor.predict`` per person, from the same
    embedding, which ``set_embedding(predictor, emb)`` hands the predictor) and the encoder row (batches
    vs ``predictor.set_image`` per frame) of one segmenter; the ratios go to ``out``."""
    embs = seg.embed(frames)
    people = sum(len(ps) for ps in prompts)
    name = type(predictor).__name__

    def per_person():
        for e, ps in zip(embs, prompts):
            set_embedding(predictor, e)
            for p in ps:
                predictor.predict(p, np.ones(len(p)), multimask_output=False)

    t = _timed({"ours": lambda: [seg.segment(e, ps) for e, ps in zip(embs, prompts)], "ref": per_person}, reps)
    out[f"ratio_{key}_decoder"] = t["ref"] / t["ours"]
    rows = [
        [
            f"{label} decoder",
            "people",
            people / t["ours"],
            people / t["ref"],
            out[f"ratio_{key}_decoder"],
            f"{name}.predict per person",
        ]
    ]
    t = _timed(
        {"ours": lambda: seg.embed(first), "ref": lambda: [predictor.set_image(f) for f in first]}, max(1, reps - 1)
    )
    out[f"ratio_{key}_encoder"] = t["ref"] / t["ours"]
    rows.append(
        [
            f"{label} encoder",
            "frames",
            len(first) / t["ours"],
            len(first) / t["ref"],
            out[f"ratio_{key}_encoder"],
            f"{name}.set_image per frame",
        ]
    )
    return rows


def _reuse(est, where: str):
    """A shallow copy of a loaded pose stage with MaskPose conditioning on at ``where``."""
    import copy

    other = copy.copy(est)
    other.conditioning, other.condition_at = True, where
    return other
