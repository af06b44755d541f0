"""Start or join Ray and decide how many actors of which size to run."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import ray

from pipeline.errors import ConfigError

_KEYS = {
    "address", "actors", "num_cpus", "gpus_per_actor", "jobs_per_batch", "retries", "device",
    "cache_dir", "local_cpus", "progress_seconds",
}


def _count(value: Any, name: str, minimum: int, auto: bool = False) -> int | None:
    if auto and value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = " or 'auto'" if auto else ""
        raise ConfigError(f"cluster.{name} must be an int >= {minimum}{extra}, got {value!r}")
    return value


@dataclass(frozen=True)
class ClusterSettings:
    """The ``cluster`` config section, checked (``None`` means ``auto``)."""

    address: str | None = None
    actors: int | None = None
    num_cpus: float = 1.0
    gpus_per_actor: float | None = None
    jobs_per_batch: int = 4
    retries: int = 2
    device: str = "auto"
    cache_dir: str | None = None
    local_cpus: int | None = None
    progress_seconds: float = 2.0

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> ClusterSettings:
        """Check and convert the ``cluster`` section."""
        unknown = sorted(set(section) - _KEYS)
        if unknown:
            raise ConfigError(f"cluster: unknown keys {unknown}; valid: {sorted(_KEYS)}")
        num_cpus, gpus = section.get("num_cpus", 1), section.get("gpus_per_actor", "auto")
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or num_cpus <= 0:
            raise ConfigError(f"cluster.num_cpus must be a positive number, got {num_cpus!r}")
        if gpus != "auto" and (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                               or gpus < 0):
            raise ConfigError(f"cluster.gpus_per_actor must be >= 0 or 'auto', got {gpus!r}")
        local = section.get("local_cpus")
        return cls(
            address=section.get("address") or None,
            actors=_count(section.get("actors", "auto"), "actors", 1, auto=True),
            num_cpus=float(num_cpus),
            gpus_per_actor=None if gpus == "auto" else float(gpus),
            jobs_per_batch=_count(section.get("jobs_per_batch", 4), "jobs_per_batch", 1),
            retries=_count(section.get("retries", 2), "retries", 0),
            device=str(section.get("device", "auto")),
            cache_dir=section.get("cache_dir") or None,
            local_cpus=None if local is None else _count(local, "local_cpus", 1),
            progress_seconds=float(section.get("progress_seconds", 2.0)),
        )


def connect(settings: ClusterSettings) -> bool:
    """Join the Ray cluster at ``address`` or start a local one; True if this call started it.

    A Ray session that is already initialised in this process is used as it is. A local
    Ray starts without the dashboard, its HTTP servers bound to 127.0.0.1.
    """
    if ray.is_initialized():
        return False
    common = {"logging_level": logging.WARNING, "configure_logging": True}
    if settings.address:
        ray.init(address=settings.address, **common)
    else:
        ray.init(
            num_cpus=settings.local_cpus,
            include_dashboard=False,
            dashboard_host="127.0.0.1",
            **common,
        )
    return True


def actor_shape(settings: ClusterSettings, jobs: int) -> tuple[int, float, float]:
    """``(actors, cpus each, gpus each)`` for the connected cluster and ``jobs`` to run.

    auto: one actor per GPU (``gpus_per_actor`` each) when the cluster has GPUs, else one
    per ``num_cpus`` CPUs; never more actors than jobs.
    """
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    per_gpu = settings.gpus_per_actor if settings.gpus_per_actor is not None else (
        1.0 if gpus else 0.0)
    if settings.actors is not None:
        count = settings.actors
    elif per_gpu > 0:
        count = max(1, math.floor(gpus / per_gpu))
    else:
        count = max(1, math.floor(float(resources.get("CPU", 1)) / settings.num_cpus))
    return max(1, min(count, jobs)), settings.num_cpus, per_gpu
