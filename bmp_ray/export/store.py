"""Files of an output folder on any filesystem: atomic writes, listings and removal.

On a local disk (and HDFS) a file is written under a hidden temporary name in its own folder and then
renamed, so a reader never sees part of it. On object stores (``s3://``, ``gs://``, any fsspec
filesystem such as ``memory://``) a rename is a copy, while an object only appears once its one PUT
completes: there the file is written straight to its name. Names that start with ``.`` or ``_`` are
never results: pyarrow datasets, DuckDB and Spark globs skip them.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bmp_ray.fs import filesystem, read_bytes

__all__ = [
    "delete_dir",
    "delete_file",
    "exists",
    "list_dirs",
    "list_files",
    "read_bytes",
    "read_many",
    "renames_atomically",
    "write_atomic",
    "write_bytes",
    "write_table",
]

log = logging.getLogger(__name__)
_RENAMING = ("local", "hdfs")  # pyarrow type names of filesystems with an atomic rename


def renames_atomically(fs: pafs.FileSystem) -> bool:
    """Local disks and HDFS (also behind fsspec's local filesystem); not object stores."""
    if fs.type_name in _RENAMING:
        return True
    handler = getattr(fs, "handler", None)  # a pyarrow PyFileSystem around an fsspec filesystem
    protocol = getattr(getattr(handler, "fs", None), "protocol", ())
    return bool({"file", "local"} & set((protocol,) if isinstance(protocol, str) else protocol))


def _split(path: str) -> tuple[str, str]:
    return tuple(path.rsplit("/", 1)) if "/" in path else ("", path)  # type: ignore[return-value]


def write_atomic(uri: str, write: Callable[[pa.NativeFile], None]) -> None:
    """Write the file ``uri`` with ``write(stream)`` so that it appears whole or not at all."""
    fs, path = filesystem(uri)
    folder, name = _split(path)
    if folder:
        fs.create_dir(folder, recursive=True)
    if not renames_atomically(fs):
        buf = pa.BufferOutputStream()
        write(buf)  # a failure here leaves nothing: closing a stream that raised would still upload it
        data = buf.getvalue()
        with fs.open_output_stream(path) as stream:  # one PUT: the object appears when it is closed
            stream.write(data)
        return
    tmp = f"{folder}/.{name}.tmp-{uuid.uuid4().hex}" if folder else f".{name}.tmp-{uuid.uuid4().hex}"
    try:
        with fs.open_output_stream(tmp) as stream:
            write(stream)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def write_bytes(uri: str, data: bytes | pa.Buffer) -> int:
    """Write ``data`` to ``uri`` atomically; returns its size."""
    write_atomic(uri, lambda s: s.write(data))
    return len(data) if isinstance(data, bytes) else data.size


def write_table(table: pa.Table, uri: str, compression: str = "zstd") -> None:
    """Write ``table`` as Parquet to ``uri`` atomically."""
    write_atomic(uri, lambda s: pq.write_table(table, s, compression=compression))


def list_files(folder_uri: str, suffix: str = "", *, hidden: bool = False) -> list[str]:
    """Base names of the files directly in ``folder_uri`` that end with ``suffix`` (sorted; a missing
    folder is empty). ``hidden``: also names starting with ``.`` (temporary files)."""
    fs, path = filesystem(folder_uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.File and i.base_name.endswith(suffix) and (hidden or not i.base_name.startswith("."))
    )


def list_dirs(folder_uri: str) -> list[str]:
    """Base names of the folders directly in ``folder_uri`` (sorted; a missing folder is empty)."""
    fs, path = filesystem(folder_uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def delete_file(uri: str) -> None:
    """Remove a file; a missing one is fine."""
    fs, path = filesystem(uri)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
    except OSError:
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            raise


def delete_dir(uri: str) -> None:
    """Remove a folder and everything under it; a missing one is fine."""
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


def read_many(uris: Iterable[str], read: Callable[[str], object], threads: int = 16) -> list:
    """``[read(u) for u in uris]`` with up to ``threads`` reads in flight (many small remote files)."""
    uris = list(uris)
    if len(uris) < 4:
        return [read(u) for u in uris]
    with ThreadPoolExecutor(min(threads, len(uris))) as pool:
        return list(pool.map(read, uris))
