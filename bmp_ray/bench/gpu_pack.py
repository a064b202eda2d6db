"""Prepare what ``bench gpu`` carries to the GPU machine: ``python -m bmp_ray.bench.gpu_pack [OUTDIR]``.

The GPU machine (Python 3.12, torch + CUDA, timm, opencv, pyarrow, pandas, numpy; no OpenMMLab, no
segment-anything, no pycocotools, nothing downloadable) gets, in the git-ignored ``OUTDIR`` (default
``.whl/gpu``), travelling with the working tree (64 MiB in all):

- the wheels of what bmp_ray's stages import there, pinned by ``.ci/constraints.txt``
  (``pip download --only-binary=:all: --no-deps`` for the target Python and platform);
- mmcv 2.1.0 built WITHOUT its compiled ops (``MMCV_WITH_OPS=0``: a pure-Python wheel, cached in
  ``OUTDIR/../cache``); ``bench gpu`` puts its stand-in ``mmcv.ops`` beside it;
- ``data/``: the shared 1080p multi-person video (8 frames, 0.4 MB), decoded there with OpenCV.

It checks the size (wheels + video + the working tree below 64 MiB) and prints the one command to
run there. Wheels are unpacked by ``bench gpu --wheels`` itself (appended to ``sys.path``: what the
machine has wins), so the command needs neither pip nor an installed bmp_ray.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 2**20  # what the run tool carries, working tree included
# what the stages import (found by running `bench gpu --quick` in a venv holding only torch, numpy,
# opencv, pyarrow, pandas and these): OpenMMLab, SAM, pycocotools and their import-time needs;
# setuptools < 81 for pkg_resources (mmengine); pyyaml and pillow in case timm came without its deps.
# scipy (35 MB; imported by mmpose/mmdet at module level only) is stubbed where absent (gpu_env).
WHEELS = [
    "mmengine",
    "mmdet",
    "mmpose",
    "mmpretrain",
    "segment-anything",
    "pycocotools",
    "addict",
    "yapf",
    "termcolor",
    "rich",
    "markdown-it-py",
    "mdurl",
    "pygments",
    "platformdirs",
    "json-tricks",
    "munkres",
    "terminaltables",
    "shapely",
    "einops",
    "mat4py",
    "model-index",
    "ordered-set",
    "markdown",
    "click",
    "importlib-metadata",
    "zipp",
    "lazy-importer",
    "packaging",
    "setuptools<81",
    "tqdm",
    "six",
    "matplotlib",
    "contourpy",
    "cycler",
    "fonttools",
    "kiwisolver",
    "pyparsing",
    "python-dateutil",
    "pyyaml",
    "pillow",
]
MMCV = "mmcv==2.1.0"
VIDEO = "videos/mmtracking_demo.mp4"


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of what the run tool copies besides carried paths: tracked and untracked-not-ignored files."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    return sum((root / p).stat().st_size for p in out.split("\0") if p and (root / p).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def command(outdir: str = ".whl/gpu", timeout_s: int = 540) -> str:
    """The one bash command for the GPU machine (run from the repository root; ``$OUT`` comes back): the
    run's deadline 20 s inside the ``timeout``, so a run that fell behind shortens its last phases
    rather than being killed in them (``bench.gpu.fitted``)."""
    return (
        f"export PYTHONPATH=$PWD; timeout {timeout_s} python -m bmp_ray.bench.gpu --wheels {outdir} "
        f'--deadline-s {timeout_s - 20} --out "$OUT" 2> "$OUT/log.txt"; rc=$?; tail -n 30 "$OUT/log.txt"; '
        'cat "$OUT/gpu.txt"; exit $rc'
    )


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log.info("%s", " ".join(cmd))
    subprocess.run(cmd, check=True)


def download(dest: Path, python_version: str, platforms: list[str], constraints: Path | None) -> None:
    """The wheels of ``WHEELS`` for the target Python and platform, no dependencies resolved."""
    plat = [a for p in platforms for a in ("--platform", p)]
    cons = ["-c", str(constraints)] if constraints and constraints.is_file() else []
    _pip(
        "download",
        "--only-binary=:all:",
        "--no-deps",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        *plat,
        *cons,
        "-d",
        str(dest),
        *WHEELS,
    )


def mmcv_no_ops(dest: Path, cache: Path) -> Path:
    """mmcv 2.1.0 without compiled ops as a pure-Python wheel (built from the sdist once, then cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob("mmcv*-2.1.0-py2.py3-none-any.whl"))
    if not found:
        # without build isolation: mmcv's setup.py needs pkg_resources (setuptools < 81) and wheel, which
        # an isolated build (the newest setuptools) lacks; the download's metadata is built with the ops
        # setting unset (with MMCV_WITH_OPS=0 the project calls itself mmcv-lite, which pip rejects there)
        env = {k: v for k, v in os.environ.items() if k != "MMCV_WITH_OPS"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--disable-pip-version-check",
                "download",
                "--no-deps",
                "--no-build-isolation",
                "--no-binary",
                ":all:",
                MMCV,
                "-d",
                str(cache),
            ],
            check=True,
            env=env,
        )
        env["MMCV_WITH_OPS"] = "0"
        sdist = sorted(cache.glob("mmcv-2.1.0.tar.gz"))[0]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--disable-pip-version-check",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                str(sdist),
                "-w",
                str(cache),
            ],
            check=True,
            env=env,
        )
        found = sorted(cache.glob("mmcv*-2.1.0-py2.py3-none-any.whl"))
    shutil.copy2(found[0], dest / found[0].name)
    return dest / found[0].name


def _shared_video() -> Path | None:
    try:
        from bmp_ray.testdata import data_dir
    except ImportError:  # a bare build interpreter without numpy: the same rule as bmp_ray.testdata
        env = os.environ.get("BMP_RAY_TEST_DATA")
        root = Path(env) if env else ROOT.parent / "shared" / "data"
        return root / VIDEO if (root / "MANIFEST.md").is_file() else None
    root = data_dir()
    return root / VIDEO if root else None


def account(outdir: Path, tree: int, limit: int = LIMIT) -> dict:
    """Sizes: the carried folder, the tree, their sum against ``limit``; ``ok`` when it fits."""
    carried = folder_bytes(outdir)
    total = carried + tree
    return {
        "carried_bytes": carried,
        "tree_bytes": tree,
        "total_bytes": total,
        "limit_bytes": limit,
        "ok": total < limit,
        "wheels": sorted(p.name for p in outdir.glob("*.whl")),
    }


def pack(
    outdir: str | os.PathLike = ROOT / ".whl" / "gpu",
    *,
    python_version: str = "3.12",
    platforms: tuple[str, ...] = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
    video: str | os.PathLike | None = None,
    offline: bool = False,
) -> dict:
    """Fill ``outdir`` (wheels, ``data/`` video) and return the size accounting and the command.

    Args:
        offline: only account for and print what is there already (no pip).

    Raises:
        RuntimeError: the carried folder and the tree do not fit in 64 MiB.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if not offline:
        download(out, python_version, list(platforms), ROOT / ".ci" / "constraints.txt")
        mmcv_no_ops(out, out.parent / "cache")
    src = Path(video) if video else _shared_video()
    if src is not None and src.is_file():
        (out / "data").mkdir(exist_ok=True)
        shutil.copy2(src, out / "data" / src.name)
    elif not list(out.glob("data/*.mp4")):
        log.warning("no video copied (none given and no shared data): bench gpu will need --video there")
    sizes = account(out, tree_bytes(), LIMIT)
    try:
        rel = out.resolve().relative_to(ROOT)
    except ValueError:
        rel = out
    sizes["carry"] = [str(rel)]
    sizes["command"] = command(str(rel))
    if not sizes["ok"]:
        raise RuntimeError(
            f"{out}: {sizes['carried_bytes'] / 2**20:.1f} MiB carried + "
            f"{sizes['tree_bytes'] / 2**20:.1f} MiB tree exceed the {LIMIT / 2**20:.0f} MiB "
            "the run tool carries"
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bmp_ray.bench.gpu_pack", description=__doc__.splitlines()[0])
    p.add_argument("outdir", nargs="?", default=str(ROOT / ".whl" / "gpu"), help="default: .whl/gpu (git-ignored)")
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    p.add_argument("--video", help=f"the video to carry (default: the shared data's {VIDEO})")
    p.add_argument("--offline", action="store_true", help="no pip: account for what is there and print the command")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    s = pack(args.outdir, python_version=args.python_version, video=args.video, offline=args.offline)
    sys.stdout.write(
        f"carried {s['carried_bytes'] / 2**20:.1f} MiB ({len(s['wheels'])} wheels) + tree "
        f"{s['tree_bytes'] / 2**20:.1f} MiB = {s['total_bytes'] / 2**20:.1f} MiB of "
        f"{s['limit_bytes'] / 2**20:.0f} MiB\n"
        f"run tool: carry={s['carry']}\ncommand: {s['command']}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
