"""The error types of bmp_ray. Each names the thing that was wrong and, where there is one, the fix."""

from __future__ import annotations


class BmpRayError(Exception):
    """Base class of every error bmp_ray raises on purpose."""


class VideoError(BmpRayError):
    """An input video or image cannot be listed, probed or decoded.

    Attributes:
        path: the input as the user gave it (local path or URL).
        cause: a short machine-readable reason: ``missing``, ``empty``, ``not_video``, ``corrupt``,
            ``truncated``, ``unsupported_codec``, ``unreadable``, ``too_large``.
    """

    def __init__(self, path: str, cause: str, detail: str):
        self.path = str(path)
        self.cause = cause
        self.detail = detail
        super().__init__(f"{self.path}: {cause}: {detail}")

    def __reduce__(self):  # keep the attributes across pickling (Ray tasks, multiprocessing)
        return (type(self), (self.path, self.cause, self.detail))


class ConfigError(BmpRayError, ValueError):
    """A configuration value is wrong: the message names the field, what was expected and what came."""


class OutputError(BmpRayError):
    """The output folder cannot take this run: unwritable, in use by another run, or holding results of
    other settings. The message names the folder, the reason and the fix."""


class SchemaError(BmpRayError, ValueError):
    """A table or result does not have the shape, type or schema version bmp_ray expects."""


class CheckpointError(BmpRayError):
    """A checkpoint cannot be found, downloaded, verified or loaded, or has the wrong layout."""


class DatasetError(BmpRayError, ValueError):
    """A training annotation file or image is missing or malformed: the message names the file and entry."""
