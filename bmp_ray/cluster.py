"""Joining Ray (or starting a local one) and how library warnings are shown, on the driver and in workers.

``init_ray`` serves both Ray paths (the pipeline and the trainer). ``route_warnings`` turns Python warnings
(mmdet's and mmengine's deprecations, ...) into log records that are shown only when asked for: the CLI
calls it with ``-v``; every Ray worker of bmp_ray calls it when it builds a stage, so workers stay as quiet
as the driver. ``BMP_RAY_VERBOSE=1`` (set by ``bmp-ray -v`` before a local Ray starts, so its workers
inherit it; set it on the cluster's nodes to see them there) keeps them.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
VERBOSE_ENV = "BMP_RAY_VERBOSE"


def route_warnings(verbose: bool | None = None) -> None:
    """Library warnings become ``py.warnings`` log records: shown when ``verbose`` (default: the
    ``BMP_RAY_VERBOSE`` environment variable), dropped otherwise. Idempotent."""
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)


def init_ray(address: str | None = None) -> None:
    """Join ``address`` ("auto", "ray://...", host:port), or the cluster in ``RAY_ADDRESS`` (as under
    ``ray job submit``), or start a local Ray for this process (the embedded default)."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    log.info("Ray resources: %s", ray.cluster_resources())
