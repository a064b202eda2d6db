"""Person identities across the frames of one video: an offline tracker on BMP's boxes, masks and
keypoints (pure numpy/scipy, deterministic, no Ray).

Use::

    from bmp_ray.track import TrackConfig, track, track_video

    tracked = track_video(results)            # list[FrameResult], track_ids filled
    out = track(results, TrackConfig())       # TrackOutput: .results, .interpolated, .summary()

Output contract:

- ``FrameResult.track_ids`` (N,) int64: ids 1, 2, ... numbered by first appearance (frame, then row),
  unique within the video, the same for the same inputs and settings; -1 for people left untracked
  (below ``low_score``, unmatched low-score detections, tracks shorter than ``min_track_rows``).
  Every other column of the results is returned unchanged: detected rows keep their boxes exactly.
- Interpolated rows are not ``FrameResult`` rows (they have no mask and no detector output): they come
  apart, in ``TrackOutput.interpolated`` (``Interpolated``: ``frame_index`` (M,) int64, ``track_id``
  (M,) int64, ``boxes`` (M, 4) float32 xyxy, ``keypoints`` (M, K, 3) float32; ordered by frame, then
  id). A frame holds an interpolated row of a track only where that track has no detected row.
- ``TrackOutput.summary()`` / ``track_summary(out)``: per track, (T,) int64 columns ``track_id``,
  ``first_frame``, ``last_frame`` (source frame indices), ``length`` (rows, detected plus interpolated),
  ``interpolated`` (rows).

How: ``tracker`` (the steps), ``online`` (one pass), ``kalman``, ``cues``, ``assign``, ``tracklets``
(forward/backward consensus), ``link``, ``interpolate``, ``windows``; settings in ``TrackConfig``.
"""

from bmp_ray.track.config import TrackConfig
from bmp_ray.track.interpolate import Interpolated
from bmp_ray.track.tracker import TrackOutput, track, track_summary, track_video

__all__ = ["Interpolated", "TrackConfig", "TrackOutput", "track", "track_summary", "track_video"]
