"""Every Python block of the README runs as written, in its test-variant form: the substitutions
below (small test models with synthesized weights on the CPU, shared test data for the placeholder
paths) and nothing else. Blocks run in order in one namespace, as a reader pastes them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def test_variant(tmp_path_factory, shared_data, test_weights):
    """The substitutions: placeholder -> test value."""
    from bmp_ray.pipeline import config as run_config
    from bmp_ray.pipeline.runner import run
    from tests.pipeline.conftest import TEST_SETTINGS

    archive = tmp_path_factory.mktemp("archive")
    shutil.copy(shared_data / "videos" / "mmpose_demo.mp4", archive / "street.mp4")
    out = tmp_path_factory.mktemp("readme-out")
    cfg = run_config.load(overrides=TEST_SETTINGS + [f"models.weights={test_weights}"])
    run([str(archive)], str(out), cfg, use_ray=False)
    return {
        '"s3://bucket/archive/"': repr(str(archive)),
        '"street.mp4"': repr(str(archive / "street.mp4")),
        '"rtmdet-ins-l-bmp"': '"rtmdet-ins-tiny"', '"maskpose-b"': '"maskpose-tiny"', '"sam-vit-b"': '"sam-tiny"',
        'device="cuda", precision="fp16"': f'device="cpu", weights={str(test_weights)!r}',
        'device="cuda"': f'device="cpu", weights={str(test_weights)!r}',
        '"out/': f'"{out}/', "'out/": f"'{out}/",
    }


def test_every_python_block_of_the_readme_runs(test_variant):
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 5
    ns: dict = {}
    for i, block in enumerate(blocks):
        code = block
        for placeholder, value in test_variant.items():
            code = code.replace(placeholder, value)
        code = code.replace("\n        ...\n", "\n        pass\n")
        try:
            exec(compile(code, f"README python block {i + 1}", "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - the message names the block
            raise AssertionError(f"README python block {i + 1} fails: {type(exc).__name__}: {exc}\n{code}") from exc
    assert len(ns["results"]) == 2 and ns["masks"].ndim == 3 and len(ns["people"]) == len(ns["poses"])
