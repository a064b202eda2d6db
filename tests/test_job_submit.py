"""``ray job submit`` against a local Ray head started here: jobs/process_archive.py over the shared
videos ends SUCCEEDED with the expected files. Ends with ``ray stop --force`` (every Ray process)."""

import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.conftest import TEST_SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(monkeypatch):
    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # token authentication, as on a real cluster: the head and the job client share the token
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    port, dash = _free_port(), _free_port()
    subprocess.run(
        [
            "ray",
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
    )
    yield f"http://127.0.0.1:{dash}"
    subprocess.run(["ray", "stop", "--force"], capture_output=True)


def test_ray_job_submit_processes_the_archive(ray_head, shared_data, test_weights, tmp_path):
    out = tmp_path / "out"
    settings = [a for s in TEST_SETTINGS + ["decode.stop=1", "models.max_people=2"] for a in ("--set", s)]
    submit = subprocess.run(
        [
            "ray",
            "job",
            "submit",
            "--address",
            ray_head,
            "--working-dir",
            str(ROOT),
            "--runtime-env-json",
            '{"excludes": [".venv", "out", "weights", ".git"]}',
            "--",
            "python",
            "jobs/process_archive.py",
            str(shared_data / "videos"),
            "--out",
            str(out),
            "--weights",
            str(test_weights),
            *settings,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    job_id = re.search(r"raysubmit_\w+", submit.stdout).group(0)
    # a fresh process: this one may hold another Ray cluster's token from earlier tests
    status = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ray.job_submission import JobSubmissionClient; "
            "print(JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2]))",
            ray_head,
            job_id,
        ],
        capture_output=True,
        text=True,
    )
    assert status.stdout.strip() == "SUCCEEDED", status.stdout + status.stderr[-2000:]

    m = pd.read_parquet(out / "videos.parquet")
    assert sorted(m.video_id) == sorted(p.name for p in (shared_data / "videos").glob("*.mp4"))
    assert (m.status == "ok").all() and (m.frames_written == 1).all()
    assert len(list((out / "poses").glob("*.parquet"))) == len(m) == len(list((out / "frames").glob("*.parquet")))
