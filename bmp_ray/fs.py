"""The filesystem layer: local paths and URLs behind one pyarrow API, and atomic local writes.

A URL is any ``scheme://...`` path. ``s3://``, ``gs://``, ``hdfs://`` and ``file://`` go through
pyarrow's native filesystems (no extra packages); any other scheme that fsspec knows (``memory://``,
``az://`` with adlfs, ``http://``...) goes through fsspec wrapped in a pyarrow filesystem, so the rest
of bmp_ray sees one API.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

from bmp_ray.errors import VideoError

_NATIVE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "file")


def is_url(path: str) -> bool:
    return "://" in str(path)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return ``(pyarrow filesystem, path inside it)`` for a URL or local path.

    Raises:
        VideoError: (cause ``unreadable``) the scheme is unknown or its client is not installed.
    """
    if not is_url(uri):
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    scheme = uri.split("://", 1)[0].lower()
    try:
        if scheme in _NATIVE_SCHEMES:
            return pafs.FileSystem.from_uri(uri)
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, path = fsspec.core.url_to_fs(uri)
        return PyFileSystem(FSSpecHandler(fs)), path
    except (ImportError, ValueError, OSError) as exc:
        raise VideoError(
            uri,
            "unreadable",
            f"no filesystem for {scheme}:// ({exc}); install its fsspec client or use s3://, gs://, file://",
        ) from exc


def stat_url(uri: str) -> tuple[pafs.FileSystem, str, pafs.FileInfo]:
    """``(filesystem, path, file info)`` of a URL; ``VideoError`` (``unreadable``) when it cannot be asked."""
    fs, path = filesystem(uri)
    try:
        return fs, path, fs.get_file_info(path)
    except OSError as exc:
        raise VideoError(uri, "unreadable", f"cannot read the remote object: {exc}") from exc


def read_bytes(uri: str, size: int | None = None) -> bytes:
    """The first ``size`` bytes (all when None) of a local file or URL. Raises ``OSError``."""
    if not is_url(uri):
        with open(uri, "rb") as f:
            return f.read() if size is None else f.read(size)
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as f:
        return f.read() if size is None else f.read(size)


def join_uri(base: str, *parts: str) -> str:
    """``base/part/...`` for a local path or a URL (always ``/``, which pyarrow and fsspec accept)."""
    return "/".join([base.rstrip("/"), *parts])


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """A hidden temporary path beside local file ``dest`` to write to; renamed to ``dest`` when the block
    ends without an exception, removed otherwise (a reader never sees a half-written ``dest``).

    Example::

        with atomic_path(out / "index.html") as tmp:
            tmp.write_text(html)
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
