"""An output folder as PoseTrack18 JSON, one file per video, in the layout of PoseTrack18's own files.

Per video ``DIR/<output_name(video_id)>.json``::

    {"categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": [17 names],
                     "skeleton": [[a, b], ...] (1-based)}],
     "images": [{"has_no_densepose": true, "is_labeled": true, "file_name": "images/<video>/<frame:06d>.jpg",
                 "nframes": source frames, "frame_id": id, "vid_id": "dddddd", "ignore_regions_y": [],
                 "ignore_regions_x": [], "id": id, "width": w, "height": h, "mask_file": ""}],
     "annotations": [{"bbox_head": [x, y, w, h], "keypoints": [x, y, v] x 17, "track_id": int,
                      "image_id": id, "bbox": [x, y, w, h], "scores": [17 keypoint scores],
                      "category_id": 1, "id": image id x 1000 + person index, "iscrowd": false,
                      "num_keypoints": visible keypoints}]}

The 17 PoseTrack keypoints come from our 21 through ``keypoints.POSETRACK_FROM_21`` (head bottom = upper
neck); ``v`` is 1 where the keypoint's score is at least ``threshold``, else 0 (and x, y are 0). From
17-keypoint output head bottom and head top are 0. ``bbox_head`` bounds the visible head keypoints (zeros
when none). ``vid_id`` is the first run of exactly six digits in the video's file name (PoseTrack's
own videos, e.g. ``012834_mpii_test``), else six digits of a hash of its id; image ids are
PoseTrack's ``int("1" + vid_id + frame:04d)``. ``track_id`` is the output's; an untracked person (null
track id) is written as -1 with a warning, since PoseTrack tools need identities.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from typing import Sequence

import numpy as np

from bmp_ray import keypoints as kp
from bmp_ray.boxes import xyxy_to_xywh
from bmp_ray.export import store
from bmp_ray.export.parquet import output_name
from bmp_ray.export.read import VideoResults, read_results
from bmp_ray.fs import join_uri
from bmp_ray.result import FrameResult

log = logging.getLogger(__name__)
CATEGORY = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(kp.POSETRACK_NAMES),
    "skeleton": kp.one_based(kp.POSETRACK_SKELETON),
}


def vid_id(video_id: str) -> str:
    """Six digits naming the video: the first run of exactly six digits in its file name (PoseTrack's
    ``012834_mpii_test``), else six digits of sha1 of its id."""
    m = re.search(r"(?<!\d)(\d{6})(?!\d)", posixpath.basename(video_id))
    return m.group(1) if m else f"{int(hashlib.sha1(video_id.encode()).hexdigest()[:8], 16) % 10**6:06d}"


def to_posetrack(keypoints: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) keypoints (x, y, score; K 17 or 21) -> (17, 3) PoseTrack x, y, v and (17,) scores."""
    k = keypoints.shape[0]
    src = np.array(kp.POSETRACK_FROM_21)
    have = src < k
    out = np.zeros((len(src), 3), np.float32)
    out[have] = keypoints[src[have]]
    scores = out[:, 2].copy()
    visible = have & (scores >= threshold)
    out[~visible] = 0.0
    out[visible, 2] = 1.0
    return out, scores


def _xywh(box) -> list[float]:
    """PoseTrack's ``[x, y, w, h]`` of an xyxy box at 2 decimals, from its corners rounded first."""
    corners = [round(float(v), 2) for v in box]
    return [round(v, 2) for v in xyxy_to_xywh(corners, np.float64)[0].tolist()]


def _annotations(r: FrameResult, image_id: int, threshold: float) -> list[dict]:
    out = []
    for j in range(len(r)):
        pts, scores = to_posetrack(r.keypoints[j], threshold)
        head = pts[list(kp.POSETRACK_HEAD)]
        head = head[head[:, 2] > 0, :2]
        bbox_head = _xywh([*head.min(0), *head.max(0)]) if len(head) else [0.0, 0.0, 0.0, 0.0]
        out.append(
            {
                "bbox_head": bbox_head,
                "keypoints": [round(float(v), 2) for v in pts.reshape(-1)],
                "track_id": int(r.track_ids[j]),
                "image_id": image_id,
                "bbox": _xywh(r.boxes[j]),
                "scores": [round(float(s), 4) for s in scores],
                "category_id": 1,
                "id": image_id * 1000 + j,
                "iscrowd": False,
                "num_keypoints": int(pts[:, 2].sum()),
            }
        )
    return out


def video_json(video: VideoResults, threshold: float = 0.3) -> dict:
    """The PoseTrack18 file of one video (see the module docstring)."""
    vid = vid_id(video.video_id)
    folder = posixpath.splitext(video.video_id)[0]
    nframes = int(video.row.get("num_frames") or video.row.get("frames_written") or 0)
    images, annotations, untracked = [], [], 0
    for r in video.frames():
        image_id = int(f"1{vid}{r.frame_index:04d}")
        images.append(
            {
                "has_no_densepose": True,
                "is_labeled": True,
                "file_name": f"images/{folder}/{r.frame_index:06d}.jpg",
                "nframes": nframes,
                "frame_id": image_id,
                "vid_id": vid,
                "ignore_regions_y": [],
                "ignore_regions_x": [],
                "id": image_id,
                "width": r.width,
                "height": r.height,
                "mask_file": "",
            }
        )
        annotations.extend(_annotations(r, image_id, threshold))
        untracked += int((r.track_ids < 0).sum())
    if untracked:
        log.warning(
            "%s: %d people have no track id (written as -1); PoseTrack tools need tracked output",
            video.video_id,
            untracked,
        )
    return {"categories": [CATEGORY], "images": images, "annotations": annotations}


def export_posetrack(out: str, dest: str, *, videos: Sequence[str] | None = None, threshold: float = 0.3) -> dict:
    """One PoseTrack18 JSON per video of ``out`` that has frames into the folder ``dest``.
    Returns ``{"files": [paths], "frames", "people"}``."""
    files, frames, people = [], 0, 0
    for video in read_results(out, videos):
        if not video.committed:
            log.info("%s: skipped, no frames (%s)", video.video_id, video.row.get("error") or video.row.get("status"))
            continue
        data = video_json(video, threshold)
        path = join_uri(dest, f"{output_name(video.video_id)}.json")
        store.write_bytes(path, json.dumps(data).encode())
        files.append(path)
        frames += len(data["images"])
        people += len(data["annotations"])
    log.info("wrote %d PoseTrack files (%d frames, %d people) to %s", len(files), frames, people, dest)
    return {"files": files, "frames": frames, "people": people}
