"""The single-process path: the same decode, loop, part writer, commit and finalize in one process, no
Ray (the oracle of the Ray pipeline in tests and benchmarks, and ``bmp-ray run --no-ray``)."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Sequence

import numpy as np

from bmp_ray.bmp.loop import BMPLoop
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.decode import decode_item, transported, working
from bmp_ray.pipeline.models import build_model
from bmp_ray.pipeline.parts import END, receipts_of, write_parts
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.pipeline.sink import Sink
from bmp_ray.video import FrameBatch

log = logging.getLogger(__name__)


def _rows(name: str, results) -> dict[str, np.ndarray]:
    """The last model stage's rows for ``results`` (what ``write_parts`` takes on the Ray path)."""
    return {
        "name": np.array([name] * len(results)),
        "frame_index": np.array([r.frame_index for r in results]),
        "summary": np.array([""] * len(results)),
        "result": np.array([pickle.dumps(r, protocol=5) for r in results], object),
    }


def _end_row(name: str, summary: dict) -> dict[str, np.ndarray]:
    return {
        "name": np.array([name]),
        "frame_index": np.array([END]),
        "summary": np.array([json.dumps(summary)]),
        "result": np.array([b""], object),
    }


def run_local(items: Sequence[WorkItem], config: RunConfig, sink: Sink) -> None:
    """Process ``items`` in order: decode each, run the BMP loop on every frame batch, write its parts
    and hand the receipts to ``sink``. The models are loaded once; torch uses all CPU threads unless the
    stages' ``threads`` are set (float results depend slightly on the thread count: compare paths at
    equal counts)."""
    roles = ("detector", "pose", "sam")
    loop = BMPLoop(
        *(build_model(r, config, set_threads=getattr(config, r).threads is not None) for r in roles), config.bmp
    )
    for item in items:
        for part in decode_item(item, config.decode):
            if isinstance(part, FrameBatch):
                part, size = working(part, config.decode.max_side)
                results = loop(
                    transported(part.frames, config.decode.frame_transport),
                    video_id=item.source.video_id,
                    frame_indices=part.frame_index,
                    pts_s=part.pts_s,
                    sizes=[size] * len(part.frame_index),  # the video's own pixels
                )
                sink.receive(receipts_of(write_parts(_rows(item.name, results), out=sink.out)))
            else:
                sink.receive(receipts_of(write_parts(_end_row(item.name, part), out=sink.out)))
    sink.close()
