"""Find, download, cache, verify and load checkpoints.

A :class:`CheckpointSource` says where the official file lives: a Hugging Face repository and file
(downloaded with ``huggingface_hub``, into its cache, honouring ``HF_ENDPOINT``) and/or a plain URL
(downloaded into ``$BMP_RAY_CACHE``, default ``~/.cache/bmp_ray``), with its sha256 when known.
``resolve`` also takes a local file, or a folder laid out like the official repository, which is how
air-gapped clusters and tests use it. Offline mode (``offline=True``, ``BMP_RAY_OFFLINE=1`` or
``HF_HUB_OFFLINE=1``) uses only what is cached.

Loading is ``torch.load(..., weights_only=True)`` always: MMEngine checkpoints whose meta holds numpy
scalars or dtypes are loaded with exactly those numpy types allow-listed; anything else that needs
full unpickling is refused with an error that names the type, because unpickling runs arbitrary code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from bmp_ray.errors import CheckpointError
from bmp_ray.fs import atomic_path

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class CheckpointSource:
    """Where a checkpoint lives.

    Attributes:
        filename: path of the file inside the official repository (``"MaskPose/MaskPose-b-1.0.0.pth"``);
            also where it is looked for inside a local weights folder.
        hf_repo: Hugging Face repository id, or None.
        url: direct download URL, or None (tried when there is no ``hf_repo``, or the hub does not give
            the file: not there, not reachable, or not cached when offline).
        sha256: expected hex digest, or its first 8 or more digits (OpenMMLab publishes the first 8 in
            its file names), or None when not published.
        revision: Hugging Face revision (branch, tag or commit).
    """

    filename: str
    hf_repo: str | None = None
    url: str | None = None
    sha256: str | None = None
    revision: str = "main"


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    return _env_true("BMP_RAY_OFFLINE") or _env_true("HF_HUB_OFFLINE")


def cache_dir() -> Path:
    return Path(os.environ.get("BMP_RAY_CACHE") or Path.home() / ".cache" / "bmp_ray")


_DIGESTS: dict[tuple, str] = {}
SUMS = "SHA256SUMS"
_SUMS_LEVELS = 3  # how many folders up from a checkpoint a SHA256SUMS may list it


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, remembered per (path, size, mtime) within this process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def listed_sha256(path: Path) -> tuple[Path, str] | None:
    """The ``SHA256SUMS`` (``sha256sum`` format) in ``path``'s folder or up to two above it that lists
    ``path``, and the digest it lists; None when no such file lists it."""
    path = Path(path).resolve()
    for folder in list(path.parents)[:_SUMS_LEVELS]:
        sums = folder / SUMS
        if not sums.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        for line in sums.read_text(errors="replace").splitlines():
            digest, _, name = line.partition("  ")
            if name.strip().lstrip("*") == rel:
                return sums, digest.strip().lower()
    return None


def verify_sums(path: Path) -> None:
    """Raise ``CheckpointError`` when a ``SHA256SUMS`` beside ``path`` lists another digest for it
    (``weights synth`` and ``train --export`` write one): the file changed after it was written."""
    listed = listed_sha256(path)
    if listed is None:
        return
    sums, want = listed
    got = sha256_of(path)
    if got != want:
        raise CheckpointError(
            f"{path}: sha256 {got} but {sums} lists {want}; the file was damaged or replaced after it "
            f"was written: write it again (or, if the new file is right, update its line in {sums})"
        )


def verify(path: Path, sha256: str | None) -> None:
    """Raise ``CheckpointError`` when ``path``'s digest is not ``sha256`` (no-op when None)."""
    if sha256 is None:
        return
    got = sha256_of(path)
    if not (len(sha256) >= 8 and got.startswith(sha256.lower())):
        raise CheckpointError(
            f"{path}: sha256 {got} but {sha256} was expected; the file is damaged or not the official "
            "one: delete it so that it is downloaded again, or pass the right file"
        )


def _from_folder(folder: Path, source: CheckpointSource) -> Path:
    for candidate in (folder / source.filename, folder / Path(source.filename).name):
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{folder}: no {source.filename} (nor {Path(source.filename).name}) in this weights folder; "
        "lay it out like the official repository, or pass the file itself"
    )


def _download_url(url: str, dest: Path) -> None:
    try:
        with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            while chunk := r.read(_CHUNK):
                f.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise CheckpointError(
            f"{url}: download failed ({exc}); check the network, or pass a local file or folder with --weights"
        ) from exc


def _from_hub(source: CheckpointSource, offline: bool, cache: Path | None) -> Path:
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(
            huggingface_hub.hf_hub_download(
                source.hf_repo,
                source.filename,
                revision=source.revision,
                local_files_only=offline,
                cache_dir=str(cache) if cache else None,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )
        )
    except LocalEntryNotFoundError as exc:
        what = "offline mode is on and it is not cached" if offline else "the hub cannot be reached"
        raise CheckpointError(
            f"{source.hf_repo}/{source.filename}: {what}; download it once where the hub is reachable "
            "(or set HF_ENDPOINT to a mirror), or pass a local file or folder with --weights"
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        why = " ".join(str(exc).split())  # huggingface_hub's messages span lines: the error is one
        raise CheckpointError(f"{source.hf_repo}/{source.filename}: download failed ({why})") from exc


def _from_url(source: CheckpointSource, offline: bool, cache: Path | None) -> Path:
    """``source.url`` through the URL cache (``cache_dir()/urls/<sha1 of the URL>/<file name>``)."""
    key = hashlib.sha1(source.url.encode()).hexdigest()[:16]
    path = (cache or cache_dir()) / "urls" / key / Path(source.filename).name
    if not path.is_file():
        if offline:
            raise CheckpointError(
                f"{source.url}: offline mode is on and {path} is not cached; pass a local file or folder with --weights"
            )
        log.info("downloading %s to %s", source.url, path)
        _download_url(source.url, path)
    return path


def resolve(
    source: CheckpointSource,
    weights: str | os.PathLike | None = None,
    *,
    offline: bool | None = None,
    cache: Path | None = None,
) -> Path:
    """Return the local path of a verified checkpoint.

    Args:
        source: where the official file lives.
        weights: None (download or reuse the cache), a checkpoint file, or a folder laid out like the
            official repository.
        offline: use only local files and caches (default: ``is_offline()``).
        cache: cache folder (default: Hugging Face's own cache for hub files, ``cache_dir()`` for URLs).

    Raises:
        CheckpointError: missing, not downloadable, or the checksum differs.
    """
    offline = is_offline() if offline is None else offline
    if weights is not None:
        p = Path(weights).expanduser()
        if p.is_dir():
            path = _from_folder(p, source)
        elif p.is_file():
            path = p
        else:
            raise CheckpointError(f"{p}: no such checkpoint file or weights folder")
    elif source.hf_repo and source.url:  # both (SAM 2.1: Meta's URL and facebook/ on the hub): the first that has it
        try:
            path = _from_hub(source, offline, cache)
        except CheckpointError as hub_error:
            log.warning("%s; trying %s", hub_error, source.url)
            try:
                path = _from_url(source, offline, cache)
            except CheckpointError as url_error:
                raise CheckpointError(f"{hub_error}; and {url_error}") from url_error
    elif source.hf_repo:
        path = _from_hub(source, offline, cache)
    elif source.url:
        path = _from_url(source, offline, cache)
    else:
        raise CheckpointError(f"{source.filename}: no hub repository or URL is known for it; pass --weights")
    verify(path, source.sha256)
    verify_sums(path)
    return path


# Types that MMEngine checkpoints keep in their meta: numpy scalars, dtypes and arrays (dataset_meta's
# sigmas). Plain data: no code runs when they load.
_SAFE_NUMPY = [np.dtype, np.ndarray] + sorted(
    {
        type(np.dtype(t))
        for t in (np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64)
    },
    key=str,
)
try:  # numpy >= 2 keeps the reconstructors in numpy._core; older in numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.multiarray import scalar as _np_scalar
_SAFE_NUMPY += [_np_scalar, _np_reconstruct]
TRUST_ENV = "BMP_RAY_TRUST_CHECKPOINTS"


def load_checkpoint(path: Path, trusted: bool | None = None, mmap: bool = False) -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU, with the plain-data types above allowed.

    ``mmap=True`` maps the tensors instead of reading them (a layout check reads only the header).

    Where the format does not allow it (a training checkpoint whose ``message_hub`` holds mmengine
    ``HistoryBuffer`` objects, or any other Python object) the file is refused unless it is trusted
    (``trusted=True`` or ``BMP_RAY_TRUST_CHECKPOINTS=1``): unpickling arbitrary objects runs code.

    Raises:
        CheckpointError: not a torch file, truncated, or it needs unsafe unpickling (names the type).
    """
    trusted = _env_true(TRUST_ENV) if trusted is None else trusted
    mmap = mmap and zipfile.is_zipfile(path)  # torch maps only its zip format, not the legacy one
    try:
        with torch.serialization.safe_globals(_SAFE_NUMPY):
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap or None)
    except pickle.UnpicklingError as exc:
        unsafe = [ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln]
        if unsafe and trusted:
            log.warning("%s: loading with full unpickling because it is trusted (%s): %s", path, TRUST_ENV, unsafe[0])
            obj = _load_trusted(path)
        else:
            _refuse(path, exc, unsafe)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        # torch's weights-only unpickler fails on a cut file with KeyError/IndexError as well
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint (truncated or damaged?): {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return dict(obj)


def _refuse(path: Path, exc: Exception, unsafe: list[str]) -> None:
    """Raise the error for a file weights_only loading rejected: an unsafe type, or damage."""
    if unsafe:
        raise CheckpointError(
            f"{path}: refusing to unpickle it: {unsafe[0]}. weights_only loading allows tensors, "
            "plain containers and numpy data, because unpickling other types runs code; re-save "
            f"the checkpoint with plain types, or set {TRUST_ENV}=1 if you trust this file"
        ) from exc
    raise CheckpointError(
        f"{path}: not a readable torch checkpoint (truncated or damaged?): {str(exc).splitlines()[0]}"
    ) from exc


def _load_trusted(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise CheckpointError(f"{path}: not a readable torch checkpoint: {type(exc).__name__}: {exc}") from exc


def state_dict_of(checkpoint: Mapping, path: Path) -> dict[str, torch.Tensor]:
    """The weights of an MMEngine checkpoint (``{"meta", "state_dict"}``) or of a plain state dict."""
    sd = checkpoint.get("state_dict", checkpoint)
    if not isinstance(sd, Mapping) or not sd:
        raise CheckpointError(f"{path}: no weights found (expected a 'state_dict' entry or a plain state dict)")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {bad[:5]}")
    return {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}


def check_layout(
    state_dict: Mapping[str, torch.Tensor],
    model: torch.nn.Module | Mapping[str, tuple[int, ...]],
    path: Path,
    name: str,
    ignore: tuple[str, ...] = (),
    adapt: tuple[str, ...] = (),
) -> None:
    """Raise ``CheckpointError`` listing missing, unexpected and wrongly shaped keys.

    ``model`` is the architecture, or its layout (key -> shape: ``models.layouts``).

    ``ignore`` lists key prefixes that may be absent or extra (buffers a model computes itself);
    ``adapt`` lists keys whose shape may differ because the model's own load hook adapts them
    (mmpretrain's ViT drops the class token from ``pos_embed`` and resizes it).
    """
    layout = model if isinstance(model, Mapping) else {k: v.shape for k, v in model.state_dict().items()}
    want = {k: tuple(v) for k, v in layout.items() if not k.startswith(ignore)}
    got = {k: tuple(v.shape) for k, v in state_dict.items() if not k.startswith(ignore)}
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    shapes = sorted(f"{k} {got[k]} != {want[k]}" for k in set(want) & set(got) if got[k] != want[k] and k not in adapt)
    if missing or unexpected or shapes:

        def few(keys):
            return ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")

        parts = [
            f"missing keys: {few(missing)}" if missing else "",
            f"unexpected keys: {few(unexpected)}" if unexpected else "",
            f"wrong shapes (checkpoint != model): {few(shapes)}" if shapes else "",
        ]
        raise CheckpointError(f"{path}: not a {name} checkpoint; " + "; ".join(p for p in parts if p))
