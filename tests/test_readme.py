"""Every Python block of the README runs as written, in its test-variant form: the substitutions
below (small test models with synthesized weights on the CPU, shared test data for the placeholder
paths) and nothing else. Blocks run in order in one namespace, as a reader pastes them. Every
``bmp-ray`` command of its shell blocks parses, and the result commands (probe, track, render, export,
report) run on a test-variant output folder."""

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
        '"rtmdet-ins-l-bmp"': '"rtmdet-ins-tiny"',
        '"maskpose-b"': '"maskpose-tiny"',
        '"sam-vit-b"': '"sam-tiny"',
        'device="cuda", precision="fp16"': f'device="cpu", weights={str(test_weights)!r}',
        'device="cuda"': f'device="cpu", weights={str(test_weights)!r}',
        '"out/': f'"{out}/',
        "'out/": f"'{out}/",
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


def command_lines(text: str) -> list[str]:
    """Every ``bmp-ray`` command of the README's shell blocks (continuations joined, comments and prompts
    dropped, ``&&`` chains split), as the words after ``bmp-ray``; synopsis lines (``[...]``, ``...``) left
    out."""
    out = []
    for block in re.findall(r"^```(?:bash|console|sh)\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            for part in line.split("&&"):
                m = re.search(r"(?:^|/)bmp-ray (.*)$", part.strip())
                if m and "..." not in m.group(1) and "[" not in m.group(1):
                    out.append(m.group(1).strip())
    return out


def test_every_bmp_ray_command_of_the_readme_parses():
    import shlex

    from bmp_ray.cli import build_parser

    lines = command_lines((ROOT / "README.md").read_text())
    assert len(lines) >= 15
    for line in lines:
        argv = shlex.split(line)
        try:
            build_parser(argv).parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"README command `bmp-ray {line}` does not parse (exit {exc.code})") from None


def test_the_readmes_result_commands_run_on_a_run(test_variant, shared_data, tmp_path, monkeypatch):
    """probe, track, render, export and report as the README writes them, on a test-variant run."""
    import shlex

    from bmp_ray.cli import main

    out = test_variant['"out/'].strip('"').rstrip("/")
    monkeypatch.chdir(tmp_path)
    ran = set()
    for line in command_lines((ROOT / "README.md").read_text()):
        argv = shlex.split(line)
        if argv[0] not in ("probe", "track", "render", "export", "report") or "--gt" in argv:
            continue
        argv = [
            out
            if a == "out/"
            else a.replace("../shared/data", str(shared_data)).replace("mmpose_demo.mp4", "street.mp4")
            for a in argv
        ]  # the test-variant run holds mmpose_demo.mp4 as street.mp4
        if argv[0] == "render" and "--frames" in argv:
            argv += ["--video", "street.mp4"]
        rc = main(argv)
        assert rc == (1 if argv[0] == "probe" else 0), f"README command `bmp-ray {line}` exited {rc}"
        ran.add(argv[0])
    assert ran == {"probe", "track", "render", "export", "report"}
