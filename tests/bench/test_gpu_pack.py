"""The GPU-machine packer: size accounting against the 64 MiB the run tool carries, the command it
prints; the real downloads only with BMP_RAY_TEST_PIP_DOWNLOAD=1 (they need PyPI)."""

import os
import zipfile

import pytest

from bmp_ray.bench import gpu_pack


def _fake_wheels(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(sizes):
        (folder / f"pkg{i}-1.0-py3-none-any.whl").write_bytes(b"\0" * n)


def test_offline_pack_accounts_and_prints_the_command(tmp_path):
    out = tmp_path / "gpu"
    _fake_wheels(out, [1000, 2000])
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"v" * 300)
    s = gpu_pack.pack(out, video=video, offline=True)
    assert s["wheels"] == ["pkg0-1.0-py3-none-any.whl", "pkg1-1.0-py3-none-any.whl"]
    assert (out / "data" / "clip.mp4").read_bytes() == b"v" * 300
    assert s["carried_bytes"] == 3300 and s["tree_bytes"] == gpu_pack.tree_bytes() > 100_000
    assert s["total_bytes"] == s["carried_bytes"] + s["tree_bytes"] and s["ok"]
    cmd = s["command"]
    assert len(cmd) <= 2000 and f"--wheels {s['carry'][0]} " in cmd and '--out "$OUT"' in cmd
    assert "python -m bmp_ray.bench.gpu " in cmd and "pip" not in cmd


def test_pack_refuses_what_does_not_fit(tmp_path, monkeypatch):
    out = tmp_path / "gpu"
    _fake_wheels(out, [5000])
    monkeypatch.setattr(gpu_pack, "LIMIT", gpu_pack.tree_bytes() + 4000)
    with pytest.raises(RuntimeError, match="exceed the"):
        gpu_pack.pack(out, video=tmp_path / "absent.mp4", offline=True)


def test_repo_folder_is_carried_relative_and_ignored_by_git():
    import subprocess

    assert gpu_pack.command().startswith(
        "export PYTHONPATH=$PWD; timeout 540 python -m bmp_ray.bench.gpu --wheels .whl/gpu "
    )
    r = subprocess.run(["git", "check-ignore", "-q", ".whl/gpu/x.whl"], cwd=gpu_pack.ROOT)
    assert r.returncode == 0  # the wheels never enter the tree


def test_readme_gives_the_packs_command_with_a_deadline_inside_its_timeout():
    cmd = gpu_pack.command()
    assert "timeout 540 " in cmd and "--deadline-s 520 " in cmd
    assert f"    {cmd}\n" in (gpu_pack.ROOT / "README.md").read_text()  # the command users copy is this one


@pytest.mark.skipif(
    os.environ.get("BMP_RAY_TEST_PIP_DOWNLOAD") != "1", reason="downloads from PyPI: set BMP_RAY_TEST_PIP_DOWNLOAD=1"
)
def test_real_pack_downloads_every_wheel(tmp_path):
    s = gpu_pack.pack(tmp_path / "gpu")
    names = {w.split("-")[0].lower().replace("_", "-") for w in s["wheels"]}
    want = {w.split("<")[0].split("=")[0].lower().replace("_", "-") for w in gpu_pack.WHEELS} | {"mmcv-lite"}
    assert want <= names and s["ok"]
    mmcv = next((tmp_path / "gpu").glob("mmcv_lite-2.1.0-*.whl"))
    with zipfile.ZipFile(mmcv) as z:
        assert "mmcv/ops/nms.py" in z.namelist() and not any(n.endswith(".so") for n in z.namelist())
