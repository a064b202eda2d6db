"""Checks on the driver before any cluster work, so that a run that cannot succeed fails in seconds
with one line naming what is wrong and where to set it (``bmp-ray run`` exits 2 on them).

- ``check_checkpoints``: every model's file is read (tensors mapped, not loaded), its checksum checked
  against a ``SHA256SUMS`` beside it, its layout against the architecture's stored layout
  (``models.layouts``: no model library is imported) and its ``dataset_meta`` against the model: the
  checks the actors would make, minutes later, in a traceback per actor.
- ``check_resources``: each stage's actor (CPUs, GPUs, pool resource, node labels) fits some alive node
  of the Ray cluster. On a cluster with an autoscaler it asks for the missing node and waits up to
  ``wait_s`` with a message, then fails; without one it fails at once. Ray would wait silently forever.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Mapping

from bmp_ray.errors import ConfigError
from bmp_ray.pipeline.config import RunConfig

log = logging.getLogger(__name__)
WAIT_ENV = "BMP_RAY_RESOURCE_WAIT_S"
DEFAULT_WAIT_S = 600.0
_POLL_S = 2.0
_STATUS_WAIT_S = 30.0


def check_checkpoints(config: RunConfig, models: Mapping[str, dict]) -> None:
    """Run ``models.build.check_checkpoint`` on each role's resolved file (``plan.checkpoints``).

    Raises:
        CheckpointError: the first file that would not load, naming it and what is wrong.
    """
    from bmp_ray.models.build import check_checkpoint

    for role in ("detector", "pose", "sam"):
        check_checkpoint(models[role]["model"], Path(models[role]["file"]))


@dataclasses.dataclass(frozen=True)
class Demand:
    """What one actor (or task) of a stage asks of the node it runs on."""

    where: str  # the config section that sets it, e.g. "sam"
    cpus: float
    gpus: float
    resources: tuple[tuple[str, float], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    def fits(self, node: Mapping) -> bool:
        """Whether an alive node of ``ray.nodes()`` has room for it when idle (its totals)."""
        have = node.get("Resources", {})
        labels = node.get("Labels", {}) or {}
        return (
            have.get("CPU", 0.0) >= self.cpus
            and have.get("GPU", 0.0) >= self.gpus
            and all(have.get(k, 0.0) >= v for k, v in self.resources)
            and all(labels.get(k) == v for k, v in self.labels)
        )

    def describe(self) -> str:
        parts = [f"{self.cpus:g} CPU"] + ([f"{self.gpus:g} GPU"] if self.gpus else [])
        parts += [f"resource {k!r}" for k, _ in self.resources] + [f"label {k}={v}" for k, v in self.labels]
        return ", ".join(parts)

    def bundle(self) -> dict:
        return {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {}), **dict(self.resources)}


def demands(config: RunConfig) -> list[Demand]:
    """One ``Demand`` per stage: decoding and the output tasks (``decode``), and the three model pools."""
    d = config.decode
    out = [Demand("decode", d.num_cpus, 0.0, ((d.pool, 0.001),) if d.pool else ())]
    for name in ("detector", "pose", "sam"):
        r = getattr(config, name)
        out.append(
            Demand(
                name,
                r.num_cpus,
                r.num_gpus,
                ((r.pool, 0.001),) if r.pool else (),
                tuple(sorted((r.label_selector or {}).items())),
            )
        )
    return out


def minimum(config: RunConfig) -> dict[str, float]:
    """CPUs and GPUs the pipeline holds at the least: every pool's smallest size (each of the
    ``output.coordinators`` runs at least one actor of every pool) in every iteration, and one CPU
    task (decoding or output)."""
    k, n = config.output.coordinators, config.bmp.iterations
    pools = [getattr(config, role) for role in ("detector", "pose", "sam")]
    return {
        "CPU": config.decode.num_cpus + n * sum(max(r.min_size, k) * r.num_cpus for r in pools),
        "GPU": n * sum(max(r.min_size, k) * r.num_gpus for r in pools),
    }


def check_capacity(config: RunConfig) -> None:
    """The pipeline's smallest pools fit the cluster's total CPUs and GPUs (a cluster without an
    autoscaler). Pools that cannot all start leave the run waiting forever (with several
    coordinators, each executor holds actors the others wait for).

    Raises:
        ConfigError: naming the totals and the settings to change.
    """
    total: dict[str, float] = {}
    for node in _nodes():
        for key in ("CPU", "GPU"):
            total[key] = total.get(key, 0.0) + node.get("Resources", {}).get(key, 0.0)
    for key, need in minimum(config).items():
        if need > total.get(key, 0.0) + 1e-9:
            raise ConfigError(
                f"the pipeline's smallest actor pools ask for {need:g} {key}s at once ({config.bmp.iterations} "
                f"iterations x detector, pose and sam pools of max(min_size, output.coordinators = "
                f"{config.output.coordinators}) actors, plus one decode task), but this Ray cluster has "
                f"{total.get(key, 0.0):g}: it would wait forever. Fix: lower [detector]/[pose]/[sam] "
                f"num_{key.lower()}s or min_size, or output.coordinators (--set or the config file), or run on a "
                "larger cluster (--address)"
            )


def _nodes() -> list[dict]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def _has_autoscaler() -> bool:
    """Whether an autoscaler can add nodes to this cluster: autoscaler v2 is on, or the v1 monitor's
    status names node types of a config. A local Ray or a manually started cluster has the monitor too,
    with a read-only provider that makes up one node type per node, which is what is excluded here."""
    import json

    from ray.autoscaler._private.util import format_readonly_node_type
    from ray.autoscaler.v2.utils import is_autoscaler_v2
    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized

    try:
        if is_autoscaler_v2(fetch_from_server=True):
            return True
        types_: dict = {}
        # a cluster just started may not have reported yet, or reported before its nodes had types
        deadline = time.monotonic() + _STATUS_WAIT_S
        while _internal_kv_initialized() and not types_ and time.monotonic() < deadline:
            status = json.loads(_internal_kv_get("__autoscaling_status") or b"{}")
            types_ = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
            if not types_:
                time.sleep(0.5)
    except Exception:  # noqa: BLE001 - a cluster that cannot answer has no autoscaler we can use
        return False
    return any(t != format_readonly_node_type(n) for n, t in types_.items())


def _summary(nodes: list[dict]) -> str:
    seen: dict[str, int] = {}
    for n in nodes:
        res = {
            k: v
            for k, v in n.get("Resources", {}).items()
            if not k.startswith(("node:", "object_store_memory", "memory", "accelerator_type"))
        }
        key = "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(res.items())) + "}"
        seen[key] = seen.get(key, 0) + 1
    return "; ".join(f"{c} x {k}" for k, c in seen.items()) or "none"


def _fix(d: Demand) -> str:
    keys = [
        f"{d.where}.num_gpus" if d.gpus else "",
        f"{d.where}.pool" if d.resources else "",
        f"{d.where}.label_selector" if d.labels else "",
        f"{d.where}.num_cpus",
    ]
    return (
        f"lower or unset {' / '.join(k for k in keys if k)} (--set or the config file's [{d.where}] "
        "section), or run on a cluster with such a node (--address)"
    )


def check_resources(config: RunConfig, wait_s: float | None = None) -> None:
    """Every stage's actor fits some alive node, now or (with an autoscaler) within ``wait_s``.

    Args:
        wait_s: how long to wait for an autoscaler to add nodes (default ``BMP_RAY_RESOURCE_WAIT_S``,
            else 600 s).

    Raises:
        ConfigError: naming the stage, what it asks for, the nodes there are, and the settings to change.
    """
    wait_s = float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S)) if wait_s is None else wait_s
    missing = [d for d in demands(config) if not any(d.fits(n) for n in _nodes())]
    if not missing:
        if not _has_autoscaler():
            check_capacity(config)
        return
    if _has_autoscaler() and wait_s > 0:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[d.bundle() for d in missing])
        log.warning(
            "waiting up to %.0f s for the autoscaler to add nodes for: %s",
            wait_s,
            "; ".join(f"{d.where} ({d.describe()})" for d in missing),
        )
        deadline = time.monotonic() + wait_s
        while missing and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            missing = [d for d in missing if not any(d.fits(n) for n in _nodes())]
        request_resources(bundles=[])
        if not missing:
            return
        waited = f" after waiting {wait_s:.0f} s for the autoscaler ({WAIT_ENV} sets how long)"
    else:
        waited = " and it has no autoscaler to add one"
    d = missing[0]
    raise ConfigError(
        f"[{d.where}] asks each actor for {d.describe()}, but no node of this Ray cluster has "
        f"that{waited}; its nodes: {_summary(_nodes())}. Fix: {_fix(d)}"
    )
