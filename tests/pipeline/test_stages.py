"""The Ray stage classes as plain callables (no Ray): chained with pickled rows they equal the loop."""

import dataclasses
import json
import pickle

import numpy as np
import pyarrow as pa
import pytest

from bmp_ray.bmp.loop import BMPLoop
from bmp_ray.pipeline import columns
from bmp_ray.pipeline.decode import unpacked
from bmp_ray.pipeline.models import build_model
from bmp_ray.pipeline.plan import make_plan
from bmp_ray.pipeline.stages import (
    END,
    DetectStage,
    PoseStage,
    SamStage,
    decode_rows,
)


def _addresses(chunked):
    return [b.address for c in chunked.chunks for b in c.buffers() if b is not None]


def _rows(batches):
    """Concatenate decode_rows' output blocks into one batch (their frames may differ in shape)."""

    def column(c):
        values, kind = [v for b in batches for v in columns.rows(b, c)], batches[0].schema.field(c).type
        if kind == columns.BINARY:
            return columns.binary(values)
        return columns.tensors(values) if isinstance(kind, pa.ExtensionType) else pa.array(values, kind)

    return pa.table({c: column(c) for c in batches[0].column_names})


@pytest.mark.parametrize(
    ("max_side", "transport", "frames"),
    [(0, "fp32", "rgb"), (320, "fp32", "rgb"), (0, "fp16", "rgb"), (320, "fp16", "i420")],
)
def test_stage_chain_equals_the_loop(shared_data, small_config, max_side, transport, frames):
    """With ``decode.max_side`` the stages see working frames (960 x 540 -> 320 x 180) and write their
    results in the video's own pixels: the loop on those frames, resized. With a half-precision SAM
    embedding (``models.sam_transport``) the pickled rows give the loop's results exactly (the embedding
    is held in that precision in both). With I420 frames (``decode.frame_transport``) the rows carry
    half the frame bytes and every stage reads the frames the loop reads (``decode.transported``)."""
    small_config = dataclasses.replace(
        small_config,
        decode=dataclasses.replace(small_config.decode, max_side=max_side, frame_transport=frames),
        models=dataclasses.replace(small_config.models, sam_transport=transport),
    )
    video = str(shared_data / "videos" / "mmpose_demo.mp4")
    (item,) = make_plan([video], small_config).items
    blocks = list(decode_rows({"item": np.array([pickle.dumps(item)], object)}, config=small_config))
    batch = _rows(blocks)
    assert batch["frame_index"].to_pylist() == [0, 1, END]
    end = json.loads(batch["summary"][-1].as_py())
    assert end["status"] == "ok" and end["frames_decoded"] == 2 and end["name"] == item.name

    for it in (1, 2):
        for cls in (DetectStage, PoseStage, SamStage):
            came = pickle.loads(pickle.dumps(batch))  # rows cross a process boundary
            batch = cls(small_config, it)(came)
            if cls is not SamStage:  # the embedding (and the frame, but after the last pose stage) pass on
                kept = ("embedding", "frame") if (cls, it) != (PoseStage, 2) else ("embedding",)
                assert all(_addresses(batch[c]) == _addresses(came[c]) for c in kept)
            if (cls, it) == (SamStage, 1):
                assert all(len(e) for e in columns.rows(batch, "embedding")[:2])  # both frames have people
            if (cls, it) == (PoseStage, 2):  # the last SAM stage reads no pixel: they stay behind
                h, w = (180, 320) if max_side else (540, 960)
                left = zip(columns.rows(batch, "frame"), batch["frame_index"].to_pylist())
                assert [f.shape for f, k in left if k != END] == [(0, h, w)] * 2
    assert batch.column_names == ["name", "frame_index", "summary", "result"]
    got = [pickle.loads(b) for b, k in zip(columns.rows(batch, "result"), batch["frame_index"].to_pylist()) if k != END]

    loop = BMPLoop(*(build_model(r, small_config) for r in ("detector", "pose", "sam")), small_config.bmp)
    sent = [f for f, k in zip(columns.rows(_rows(blocks), "frame"), batch["frame_index"].to_pylist()) if k != END]
    h, w = (180, 320) if max_side else (540, 960)
    assert {f.shape for f in sent} == {(h * 3 // 2, w, 1) if frames == "i420" else (h, w, 3)}
    rgb = np.stack([unpacked(f) for f in sent])
    want = loop(rgb, video_id="mmpose_demo.mp4", frame_indices=[0, 1], pts_s=_rows(blocks)["pts_s"].to_pylist()[:2])
    want = [r.resized(540, 960) for r in want]
    assert len(got) == 2 and sum(len(r) for r in got) > 0 and {(r.height, r.width) for r in got} == {(540, 960)}
    assert all(a.equals(b) for a, b in zip(got, want))
    assert {int(i) for r in got for i in r.iterations} <= {1, 2}


def test_end_rows_pass_through_and_errors_are_summaries(small_config, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    (item,) = make_plan([str(bad)], small_config).items
    (block,) = decode_rows({"item": np.array([pickle.dumps(item)], object)}, config=small_config)
    assert block["frame_index"].to_pylist() == [END]
    s = json.loads(block["summary"][0].as_py())
    assert s["status"] == "error" and "broken.mp4" in s["error"] and s["frames_decoded"] == 0
    out = DetectStage(small_config, 1)(block)
    assert out.equals(block)  # an end row passes on as it came


def test_building_a_stage_routes_library_warnings(small_config):
    import logging

    logging.getLogger("py.warnings").setLevel(logging.NOTSET)
    build_model("pose", small_config)
    assert logging.getLogger("py.warnings").level == logging.ERROR  # a Ray worker is as quiet as the driver
