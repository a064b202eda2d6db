"""What ``bench gpu`` needs before any OpenMMLab import: the carried wheels on ``sys.path``, the
benchmark-only stand-ins for what the GPU machine cannot have, and a record of the machine.

- ``add_wheels(folder)`` unpacks every ``*.whl`` of the folder (the pure-Python OpenMMLab wheels,
  segment-anything, pycocotools, ...) into one site folder and APPENDS it to ``sys.path``: packages the
  machine has win, the carried ones fill the gaps (the same files ``pip install --no-deps --target``
  writes; no pip needed).
- ``install_stand_ins()``: where ``import mmcv.ops`` fails (mmcv without its compiled ops), a stand-in
  ``mmcv.ops`` whose ``nms`` / ``batched_nms`` are mmcv's own Python code (``mmcv/ops/nms.py``) over
  ``torchvision.ops.nms`` (or a pure-torch greedy NMS without torchvision), every other op a class that
  raises when used; where torchvision, xtcocotools or scipy do not import, stubs of the names the
  inference paths import (``gpu_tv``; placeholders that raise when used). These belong to this
  benchmark only, never to the product, and the report says which were used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)
FORCE_ENV = "BMP_RAY_BENCH_FORCE_STAND_IN"  # "1": the mmcv.ops stand-in even where mmcv.ops imports


def add_wheels(folder: str | os.PathLike, site: str | os.PathLike | None = None) -> dict:
    """Unpack ``folder/*.whl`` into ``site`` (default ``$TMPDIR/bmp_ray_gpu_site``), append it to
    ``sys.path``; return ``{"wheels": [names], "seconds": s, "site": path}``."""
    t = time.perf_counter()
    folder = Path(folder)
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(
            f"{folder}: expected *.whl files (written by `python -m bmp_ray.bench.gpu_pack`), found none"
        )
    site = Path(site or Path(os.environ.get("TMPDIR", "/tmp")) / "bmp_ray_gpu_site")
    site.mkdir(parents=True, exist_ok=True)
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            z.extractall(site)
    for data in site.glob("*.data"):  # a wheel's purelib / platlib trees belong in site itself
        for sub in ("purelib", "platlib"):
            if (data / sub).is_dir():
                shutil.copytree(data / sub, site, dirs_exist_ok=True)
    if str(site) not in sys.path:
        sys.path.append(str(site))
    importlib.invalidate_caches()
    return {"wheels": [w.name for w in wheels], "seconds": time.perf_counter() - t, "site": str(site)}


# -- stand-ins -------------------------------------------------------------------------------------


def _missing(module: str, name: str):
    """A placeholder class for ``module.name``: it can be imported and subclassed, never used."""
    import torch

    def init(self, *a, **k):
        raise NotImplementedError(
            f"{module}.{name} is not available: bench gpu's stand-in for {module} "
            "provides only what RTMDet-Ins / ViTPose / SAM inference runs"
        )

    return type(name, (torch.nn.Module,), {"__init__": init, "__module__": module})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _missing(self.__name__, name)
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Any ``PREFIX.<sub>`` module not found otherwise becomes a stub module."""

    def __init__(self, prefixes: tuple[str, ...]):
        self.prefixes = prefixes

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname.startswith(p + ".") for p in self.prefixes):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def greedy_nms(boxes, scores, iou_threshold: float):
    """Indices kept by greedy NMS (IoU > threshold suppresses), by decreasing score: torchvision's
    ``nms`` in plain torch (IoU matrix on the boxes' device, the greedy pass on the host)."""
    import numpy as np
    import torch

    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.sort(0, descending=True)[1]
    b = boxes[order].float()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(b[:, None, :2], b[None, :, :2])
    rb = torch.min(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    over = (inter / (area[:, None] + area[None, :] - inter) > iou_threshold).cpu().numpy()
    alive = np.ones(len(b), bool)
    keep = []
    for i in range(len(b)):
        if alive[i]:
            keep.append(i)
            alive &= ~over[i]
    return order[torch.as_tensor(keep, device=boxes.device)]


def _nms_kernel():
    try:
        from torchvision.ops import nms

        if getattr(sys.modules.get("torchvision"), "_bmp_ray_stand_in", False):
            return greedy_nms, "torch"
        return nms, "torchvision.ops.nms"
    except Exception:  # noqa: BLE001 - any import failure: the pure-torch kernel
        return greedy_nms, "torch"


class _Ext:
    """mmcv's ``_ext`` as ``mmcv/ops/nms.py`` calls it: ``nms`` only."""

    def __init__(self, kernel):
        self.kernel = kernel

    def nms(self, bboxes, scores, iou_threshold: float, offset: int = 0):
        if offset != 0:
            raise NotImplementedError("bench gpu's mmcv.ops stand-in: nms with offset != 0")
        # in float32: under bf16 autocast RTMDet's boxes come as bfloat16, which mmcv's and
        # torchvision's kernels refuse (float and half only); same boxes, same result in float32
        return self.kernel(bboxes.float(), scores.float(), float(iou_threshold))

    def __getattr__(self, name):
        raise NotImplementedError(f"mmcv's compiled op {name} is not available (bench gpu's stand-in)")


def install_mmcv_ops(force: bool = False) -> dict | None:
    """The ``mmcv.ops`` stand-in where ``import mmcv.ops`` fails (or ``force``); None when not needed."""
    if not force:
        try:
            import mmcv.ops  # noqa: F401

            return None
        except ImportError as exc:
            reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "forced"
    for k in [k for k in sys.modules if k == "mmcv.ops" or k.startswith("mmcv.ops.")]:
        del sys.modules[k]
    import mmcv
    from mmcv.utils import ext_loader

    ops = _StubModule("mmcv.ops")
    ops.__path__, ops.__package__ = [], "mmcv.ops"
    sys.modules["mmcv.ops"] = ops
    mmcv.ops = ops
    kernel, kernel_name = _nms_kernel()
    spec = importlib.util.spec_from_file_location("mmcv.ops.nms", Path(mmcv.__file__).parent / "ops" / "nms.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mmcv.ops.nms"] = mod
    load_ext, ext_loader.load_ext = ext_loader.load_ext, lambda name, funcs: _Ext(kernel)
    try:
        spec.loader.exec_module(mod)
    finally:
        ext_loader.load_ext = load_ext
    ops.nms, ops.batched_nms, ops.NMSop = mod.nms, mod.batched_nms, mod.NMSop
    sys.meta_path.insert(0, _StubFinder(("mmcv.ops",)))
    log.warning(
        "mmcv.ops stand-in installed (%s): nms / batched_nms over %s, every other op raises", reason, kernel_name
    )
    return {"reason": reason, "nms_kernel": kernel_name}


def install_stub(package: str, probe: str) -> dict | None:
    """Stub ``package`` (and any of its submodules) where ``import probe`` fails: for packages the
    inference paths import only at module level (xtcocotools in mmpose's datasets and metrics, scipy
    in mmpose's training transforms and mmdet's assigners); any use raises."""
    try:
        importlib.import_module(probe)
        return None
    except ImportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        del sys.modules[k]
    m = _StubModule(package)
    m.__path__ = []
    sys.modules[package] = m
    sys.meta_path.insert(0, _StubFinder((package,)))
    log.warning("%s stub installed (%s)", package, reason)
    return {"reason": reason}


def install_torchvision() -> dict | None:
    """Stub ``torchvision`` where it does not import: ``ops.nms`` / ``ops.batched_nms`` in plain torch and
    ``transforms.functional.resize`` / ``to_pil_image`` on PIL images (what SAM's ``ResizeLongestSide``
    and bmp_ray's person NMS call); everything else raises when used."""
    try:
        import torchvision  # noqa: F401

        return None
    except Exception as exc:  # noqa: BLE001 - ImportError, or a RuntimeError of a mismatched build
        reason = f"{type(exc).__name__}: {exc}"
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]
    from bmp_ray.bench import gpu_tv

    root = gpu_tv.build(_StubModule, greedy_nms)
    for name, mod in root.items():
        sys.modules[name] = mod
    sys.meta_path.insert(0, _StubFinder(("torchvision",)))
    log.warning("torchvision stub installed (%s)", reason)
    return {"reason": reason}


def install_stand_ins(force_mmcv_ops: bool | None = None) -> dict:
    """Every stand-in this process needs: ``{"torchvision": ..., "xtcocotools": ..., "scipy": ...,
    "mmcv.ops": ...}``
    (None where the real module imports)."""
    force = os.environ.get(FORCE_ENV) == "1" if force_mmcv_ops is None else force_mmcv_ops
    tv = install_torchvision()
    return {
        "torchvision": tv,
        "xtcocotools": install_stub("xtcocotools", "xtcocotools.coco"),
        "scipy": install_stub("scipy", "scipy.stats"),
        "mmcv.ops": install_mmcv_ops(force),
    }


# -- the machine -----------------------------------------------------------------------------------


def _version(name: str) -> str | None:
    try:
        mod = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - absent or broken: recorded as None
        return None
    return str(getattr(mod, "__version__", "?"))


def machine(device) -> dict:
    """Versions, device name and properties, clocks (``nvidia-smi`` where present)."""
    import torch

    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "versions": {
            n: _version(n)
            for n in (
                "torch",
                "torchvision",
                "numpy",
                "cv2",
                "mmcv",
                "mmengine",
                "mmdet",
                "mmpose",
                "mmpretrain",
                "segment_anything",
                "pycocotools",
                "timm",
            )
        },
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(
            device_name=p.name,
            capability=f"{p.major}.{p.minor}",
            sm_count=p.multi_processor_count,
            memory_gib=p.total_memory / 2**30,
        )
        if shutil.which("nvidia-smi"):
            q = (
                "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.draw,power.limit,"
                "temperature.gpu,utilization.gpu"
            )
            try:
                r = subprocess.run(
                    ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                info["nvidia_smi"] = dict(zip(q.split(","), (v.strip() for v in r.stdout.splitlines()[0].split(","))))
            except (OSError, subprocess.SubprocessError, IndexError) as exc:
                info["nvidia_smi"] = f"failed: {exc}"
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info
