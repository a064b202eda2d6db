"""The single-process path: the same decode, loop and writer in one process, no Ray (the oracle of the
Ray pipeline in tests and benchmarks, and ``bmp-ray run --no-ray``)."""

from __future__ import annotations

import logging
from typing import Sequence

from bmp_ray.bmp.loop import BMPLoop
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.decode import decode_item
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.pipeline.stages import build_model
from bmp_ray.pipeline.writer import ResultWriter
from bmp_ray.video import FrameBatch

log = logging.getLogger(__name__)


def run_local(items: Sequence[WorkItem], config: RunConfig, writer: ResultWriter) -> None:
    """Process ``items`` in order: decode each, run the BMP loop on every frame batch, hand results to
    ``writer``. The models are loaded once; torch uses all CPU threads unless the stages' ``threads``
    are set (float results depend slightly on the thread count: compare paths at equal counts)."""
    roles = ("detector", "pose", "sam")
    loop = BMPLoop(*(build_model(r, config, set_threads=getattr(config, r).threads is not None) for r in roles),
                   config.bmp)
    for item in items:
        for part in decode_item(item, config.decode):
            if isinstance(part, FrameBatch):
                results = loop(part.frames, video_id=item.source.video_id, frame_indices=part.frame_index,
                               pts_s=part.pts_s)
                for r in results:
                    writer.add(item.name, r)
            else:
                writer.end(item.name, part)
