"""Benchmarks: each measures bmp_ray against a reference side by side in one run and reports a ratio.

Every benchmark is a function ``run(args) -> dict`` whose dict holds the figures, a ``ratio`` key and
a ``rows`` list for the human-readable table. ``bmp-ray bench NAME [--json]`` runs one.
"""

from __future__ import annotations

import statistics


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:.0f}" if abs(c) >= 100 else f"{c:.3g}"
    return str(c)


def format_table(rows: list[list]) -> str:
    """Rows of cells (the first row is the header) as an aligned plain-text table."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def data_path(bench: str, given: str | None, default: str) -> str:
    """``given``, or ``default`` inside the shared test data; ``ConfigError`` naming ``bench`` if absent."""
    from bmp_ray.errors import ConfigError
    from bmp_ray.testdata import data_dir

    if given is not None:
        return given
    root = data_dir()
    if root is None:
        raise ConfigError(f"bench {bench}: no input given and no test data found; set BMP_RAY_TEST_DATA")
    return str(root / default)


def add_model_arguments(p) -> None:
    """``--detector``, ``--pose`` and ``--sam`` (registry names; default: the ``test`` preset's) for
    ``stages_from``."""
    from bmp_ray.pipeline.config import PRESETS

    for role, name in PRESETS["test"].items():
        p.add_argument(f"--{role}", default=name, help=f"{role} model (default: {name})")


def stages_from(args, build):
    """``build(weights)`` with ``args.weights``, or with the seeded random checkpoints of
    ``args.detector``, ``args.pose`` and ``args.sam`` written to a temporary folder."""
    import tempfile

    from bmp_ray.models.synth import synthesize

    if args.weights is not None:
        return build(args.weights)
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, [args.detector, args.pose, args.sam])
        return build(tmp)
