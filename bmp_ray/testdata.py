"""Where the shared real test data lives: ``$BMP_RAY_TEST_DATA``, else ``../shared/data`` beside the repo.

Tests and benchmarks reach the data only through :func:`data_dir`; nothing is ever copied into the
repository.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "BMP_RAY_TEST_DATA"


def data_dir() -> Path | None:
    """The data folder, or None when it is absent (callers skip or ask for a path)."""
    env = os.environ.get(ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if (path / "MANIFEST.md").is_file() else None
