"""List the videos and still images of an archive: local paths, folders, globs and URLs.

URLs (``s3://``, ``gs://``, any fsspec scheme) are read through ``bmp_ray.fs``.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
from typing import Iterable

import pyarrow.fs as pafs

from bmp_ray.errors import ConfigError
from bmp_ray.fs import is_url, join_uri, stat_url

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".flv", ".wmv"}
)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_GLOB_CHARS = set("*?[")


@dataclasses.dataclass(frozen=True)
class Source:
    """One input file.

    Attributes:
        uri: absolute local path, or a URL with its scheme.
        video_id: stable id: the path relative to the root the user named (a folder, the fixed prefix
            of a glob, or the file's own folder for a file named directly), with ``/`` separators.
        kind: ``"video"`` or ``"image"`` (a still image is a one-frame video).
    """

    uri: str
    video_id: str
    kind: str

    def __post_init__(self):
        if self.kind not in ("video", "image"):
            raise ValueError(f"Source.kind must be 'video' or 'image', got {self.kind!r}")

    @classmethod
    def for_file(cls, path: str) -> "Source":
        """A file named directly: absolute path (URLs kept as given), the file name as its id."""
        uri = str(path) if is_url(path) else os.path.abspath(path)
        return cls(uri, str(path).rstrip("/").rsplit("/", 1)[-1], kind_of(path))


def kind_of(path: str) -> str:
    return "image" if os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS else "video"


def _is_media(path: str) -> bool:
    ext = os.path.splitext(path)[1].lower()
    return ext in VIDEO_EXTENSIONS or ext in IMAGE_EXTENSIONS


def _list_url(uri: str) -> list[Source]:
    fs, path, info = stat_url(uri)
    if info.type == pafs.FileType.Directory:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        found = []
        for f in infos:
            if f.type == pafs.FileType.File and _is_media(f.path):
                rel = os.path.relpath(f.path, path).replace(os.sep, "/")
                found.append(Source(join_uri(uri, rel), rel, kind_of(f.path)))
        return sorted(found, key=lambda s: s.video_id) or [Source.for_file(uri)]  # empty: an error row
    # A file, or a missing object: keep it, so that probing reports it as an error row.
    return [Source.for_file(uri)]


def _glob_root(pattern: str) -> str:
    parts = pattern.split(os.sep)
    fixed = []
    for p in parts:
        if _GLOB_CHARS & set(p):
            break
        fixed.append(p)
    return os.sep.join(fixed) or "."


def _list_local(path: str) -> list[Source]:
    if _GLOB_CHARS & set(path):
        root = _glob_root(path)
        hits = [h for h in glob.glob(path, recursive=True) if os.path.isfile(h) and _is_media(h)]
        if not hits:  # kept as an input: probing it makes an error row that says so
            log.warning("the pattern %s matched no video or image file", path)
            return [Source(os.path.abspath(path), path, "video")]
        return [
            Source(os.path.abspath(h), os.path.relpath(h, root).replace(os.sep, "/"), kind_of(h)) for h in sorted(hits)
        ]
    if os.path.isdir(path):
        found = []
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if _is_media(name) and not name.startswith("."):
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    found.append(Source(os.path.abspath(full), rel, kind_of(name)))
        found.sort(key=lambda s: s.video_id)
        if not found:  # kept as an input: probing it makes an error row that says so
            log.warning(
                "the folder %s holds no video or image file (extensions: %s)",
                path,
                ", ".join(sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS)),
            )
            return [Source.for_file(path)]
        return found
    # A file named directly (existing or not): always an input, whatever its extension.
    return [Source.for_file(path)]


def list_inputs(inputs: Iterable[str]) -> list[Source]:
    """Expand the user's inputs into sources, in a deterministic order, without duplicates.

    Folders are walked recursively and keep only files with a video or image extension; a file named
    directly is kept whatever it is (a missing or broken one then fails at probe time with a
    ``VideoError``, so it becomes an error row instead of vanishing). A folder or glob that holds no
    video or image is kept as one input too, so that it gets an error row saying so.

    Raises:
        VideoError: a URL whose filesystem cannot be reached at all.
        ConfigError: two different files would get the same ``video_id``.
    """
    out: list[Source] = []
    seen_uri: set[str] = set()
    by_id: dict[str, str] = {}
    for raw in inputs:
        raw = str(raw)
        for src in _list_url(raw) if is_url(raw) else _list_local(raw):
            if src.uri in seen_uri:
                continue
            if src.video_id in by_id:
                raise ConfigError(
                    f"two inputs get the same video_id {src.video_id!r}: {by_id[src.video_id]} and "
                    f"{src.uri}; name their common parent folder instead of each file"
                )
            seen_uri.add(src.uri)
            by_id[src.video_id] = src.uri
            out.append(src)
    return out
