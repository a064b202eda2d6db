"""FFmpeg's own error reports while a video decodes.

A damaged bitstream often decodes without any exception: FFmpeg conceals the broken macroblocks (the
frames look smeared) and says so only in its log ("error while decoding MB 16 8", "concealing 120 DC,
...") . PyAV 18 exposes ``AV_FRAME_FLAG_CORRUPT`` (``frame.is_corrupt``, rarely set by h264) but not the
frames' decode error flags, so the log is the one place where concealment shows. ``decoder_errors``
captures FFmpeg's error-level messages for the duration of a block (PyAV keeps FFmpeg silent
otherwise), so the reader can report them as a problem of the video (status ``partial``).

Messages are counted per decode, not per frame: with frame-threaded decoding FFmpeg reports an error
a few frames before or after the frame it belongs to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Iterator

_lock = threading.Lock()
_active = 0  # decodes capturing now (FFmpeg's log level is process-wide)
_saved_level = None


@dataclasses.dataclass
class DecoderLog:
    """What FFmpeg reported at error level during one decode.

    Attributes:
        messages: ``(component, message)`` pairs, e.g. ``("h264", "error while decoding MB 16 8, ...")``.
    """

    messages: list = dataclasses.field(default_factory=list)

    def summary(self, limit: int = 2) -> str:
        """``'3 decoder errors (h264: error while decoding MB 16 8, ...; ...)'``, or "" when none."""
        if not self.messages:
            return ""
        shown = "; ".join(f"{c}: {m}" for c, m in self.messages[:limit])
        more = "; ..." if len(self.messages) > limit else ""
        return f"{len(self.messages)} decoder errors ({shown}{more})"


@contextlib.contextmanager
def decoder_errors() -> Iterator[DecoderLog]:
    """Capture FFmpeg's error-level log lines while the block runs (its decoder threads included);
    the returned ``DecoderLog`` is filled when the block ends. FFmpeg's level is restored after the
    last concurrent capture of the process ends."""
    import av.logging

    global _active, _saved_level
    report = DecoderLog()
    with _lock:
        if _active == 0:
            _saved_level = av.logging.get_level()
            av.logging.set_level(av.logging.ERROR)
        _active += 1
    try:
        with av.logging.Capture(local=False) as logs:
            yield report
    finally:
        report.messages = [
            (str(name), str(msg).strip())
            for level, name, msg in logs
            if level is not None and level <= av.logging.ERROR
        ]
        with _lock:
            _active -= 1
            if _active == 0:
                av.logging.set_level(_saved_level)
