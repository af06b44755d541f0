"""Start or join Ray and decide how many actors of which size to run."""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ray

from pipeline.errors import ConfigError, EnvironmentFault

# Settings where None means "auto" (the config says ``auto``).
AUTO = ("actors", "gpus_per_actor", "jobs_per_batch")
# ``jobs_per_batch: auto``: jobs in flight on a CPU actor (4 measured best there, bench.packing)
# and per whole GPU (256 jobs, 2,560 chains: 6,784 evaluations/s on an H200 against 5,672 at
# 640 chains; 5,120 gave 10,623 but held up to 131 GiB; bench/GPU.md).
CPU_JOBS_PER_BATCH, GPU_JOBS_PER_BATCH = 4, 256
# Settings that are counts: their least value.
_COUNTS = {"actors": 1, "jobs_per_batch": 1, "retries": 0, "local_cpus": 1}
# Settings that are positive numbers.
_POSITIVE = ("num_cpus", "progress_seconds", "connect_timeout")
# The client's HTTP/2 connection preface and an empty SETTINGS frame: a gRPC server (Ray's
# GCS or Ray Client server) answers with its own SETTINGS frame.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4
_POLL = 2.0  # seconds between looks at the cluster's resources while waiting for them
# The least wait for resources that a live node has but holds: Ray frees a killed actor's a
# moment later, so a sweep started right after another in one Ray session finds them held.
RELEASE_SECONDS = 15.0
log = logging.getLogger(__name__)


def _bad(name: str, value: Any, minimum: float, kind: type | tuple[type, ...]) -> bool:
    """Whether ``value`` of setting ``name`` is something other than None, ``"auto"`` (where
    allowed) or a ``kind`` of at least ``minimum``."""
    if value is None or (name in AUTO and value == "auto"):
        return False
    return isinstance(value, bool) or not isinstance(value, kind) or value < minimum


@dataclass(frozen=True)
class ClusterSettings:
    """The ``cluster`` config section (``None`` means ``auto``). Its Hydra schema (types,
    keys, defaults) is built from these fields by :mod:`pipeline.sweep.schema`; the ranges
    are checked here."""

    address: str | None = None
    actors: int | None = None
    num_cpus: float = 1.0
    gpus_per_actor: float | None = None
    jobs_per_batch: int | None = None
    retries: int = 2
    device: str = "auto"
    cache_dir: str | None = None
    local_cpus: int | None = None
    progress_seconds: float = 2.0
    connect_timeout: float = 10.0
    resource_timeout: float = 0.0

    def __post_init__(self) -> None:
        for name, minimum in _COUNTS.items():
            if _bad(name, getattr(self, name), minimum, int):
                auto = " or 'auto'" if name in AUTO else ""
                raise ConfigError(
                    f"cluster.{name} must be an int >= {minimum}{auto}, got {getattr(self, name)!r}"
                )
        for name in _POSITIVE:
            value = getattr(self, name)
            if _bad(name, value, 0, (int, float)) or value == 0:
                raise ConfigError(f"cluster.{name} must be a positive number, got {value!r}")
        if _bad("resource_timeout", self.resource_timeout, 0, (int, float)):
            raise ConfigError(
                f"cluster.resource_timeout must be a number >= 0, got {self.resource_timeout!r}"
            )
        if _bad("gpus_per_actor", self.gpus_per_actor, 0, (int, float)):
            raise ConfigError(
                f"cluster.gpus_per_actor must be >= 0 or 'auto', got {self.gpus_per_actor!r}"
            )

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> ClusterSettings:
        """The settings of a ``cluster`` section (its keys and types checked by the sweep's
        schema): ``auto`` becomes None, an empty ``address`` or ``cache_dir`` None; a value
        out of range raises :class:`ConfigError`."""
        values = dict(section)
        for name in AUTO:
            if values.get(name) == "auto":
                values[name] = None
        for name in ("address", "cache_dir"):
            values[name] = values.get(name) or None
        return cls(**values)


def _bootstrap(address: str) -> tuple[str, int]:
    """``(host, port)`` that ``ray.init(address=address)`` will connect to.

    The one read of Ray internals in connecting, kept here: Ray has no public function that
    resolves ``auto`` (``RAY_ADDRESS``, else the address file of the latest ``ray start`` on
    this machine) without connecting, and ``ray.init`` waits for minutes on a dead head."""
    if address.startswith("ray://"):
        text = address[len("ray://"):]
    else:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:  # resolves "auto" and RAY_ADDRESS as ray.init does
            text = canonicalize_bootstrap_address_or_die(address)
        except (ConnectionError, ValueError) as err:
            fault = EnvironmentFault if isinstance(err, ConnectionError) else ConfigError
            raise fault(
                f"cluster.address={address!r}: {err}".replace("\n", " ")[:300]
                + "; start Ray (ray start --head) or set cluster.address=null for a local one"
            ) from None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"cluster.address must look like host:port or 'auto', got {address!r}")
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float) -> None:
    """Check that a gRPC server (a Ray head) answers at ``address`` within ``timeout`` seconds:
    ``ray.init`` itself waits for minutes on a dead address.

    A head that refuses or stays silent is an :class:`EnvironmentFault` (the cluster is down:
    start it and rerun); a server that answers but is not a Ray head, or a malformed address,
    is a :class:`ConfigError`.
    """
    host, port = _bootstrap(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(_PREFACE)
            answer = conn.recv(9)
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(err, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise EnvironmentFault(
            f"no Ray cluster answers at cluster.address={address!r} ({host}:{port}: {reason}); "
            "start it (or wait for it) and rerun, fix the address, or set cluster.address=null "
            "to run on this machine"
        ) from None
    if len(answer) < 9 or answer[3] != _SETTINGS:
        raise ConfigError(
            f"{host}:{port} (cluster.address={address!r}) answers but is not a Ray head; use the "
            "address `ray start --head` printed (port 6379 by default)"
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
        probe(settings.address, settings.connect_timeout)
        ray.init(address=settings.address, **common)
    else:
        ray.init(
            num_cpus=settings.local_cpus,
            include_dashboard=False,
            dashboard_host="127.0.0.1",
            **common,
        )
    return True


def _fit(have: dict[str, float], num_cpus: float, gpus: float) -> int:
    """How many actors of ``num_cpus`` CPUs and ``gpus`` GPUs fit in one node's resources."""
    fit = math.floor(float(have.get("CPU", 0)) / num_cpus + 1e-9)
    if gpus > 0:
        fit = min(fit, math.floor(float(have.get("GPU", 0)) / gpus + 1e-9))
    return max(0, fit)


def _total(nodes: Iterable[dict[str, float]], num_cpus: float, gpus: float) -> int:
    return sum(_fit(have, num_cpus, gpus) for have in nodes)


def free_per_node() -> list[dict[str, float]]:
    """Each live node's free resources now, as Ray's head (GCS) counts them.

    The one read of Ray internals in the pool's sizing, kept here: Ray 2.58 has no public
    per-node view of free resources that works without the dashboard.
    ``ray.available_resources()`` sums them over the nodes (two nodes with one free CPU each
    would seem to hold a 2-CPU actor); ``ray.util.state.list_nodes`` asks the dashboard,
    which local sweeps and ``jobs/slurm.sbatch`` run without; the autoscaler's
    ``get_cluster_status`` answers from a report made every few seconds (stale right after
    actors start or end). ``available_resources_per_node`` is what ``ray status`` reads."""
    from ray._private.state import available_resources_per_node

    return list(available_resources_per_node().values())


def capacity(num_cpus: float, gpus: float) -> int:
    """How many more actors of ``num_cpus`` CPUs and ``gpus`` GPUs the live nodes can hold now:
    counted from each node's free resources (other jobs' and this sweep's actors hold theirs)."""
    return _total(free_per_node(), num_cpus, gpus)


def _room(num_cpus: float, gpus: float) -> int:
    """How many such actors the live nodes could hold if they were idle (their totals)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    return _total(nodes, num_cpus, gpus)


def wait_for_capacity(num_cpus: float, gpus: float, timeout: float) -> int:
    """:func:`capacity`, waiting up to ``timeout`` seconds for it to reach one actor.

    While waiting, the autoscaler (if the cluster has one) is asked for a node that holds
    an actor, and one message says what the sweep waits for. Where a live node could hold an
    actor but its resources are held, the wait is at least :data:`RELEASE_SECONDS` (Ray gives
    back a just-ended sweep's actors' resources a moment after they are killed). At the
    deadline, an actor that no live node could hold even when idle is a :class:`ConfigError`;
    one that fits but whose resources other work holds is an :class:`EnvironmentFault`.
    """
    fits = capacity(num_cpus, gpus)
    if fits >= 1:
        return fits
    wait = max(timeout, RELEASE_SECONDS) if _room(num_cpus, gpus) >= 1 else timeout
    if wait > 0:
        from ray.autoscaler.sdk import request_resources  # here: an actor never needs it

        shape = {"CPU": num_cpus, **({"GPU": gpus} if gpus > 0 else {})}
        log.warning("no free resources for a sweep actor (%s) yet; waiting up to %g s for a node "
                    "to join or for other work to end", shape, wait)
        request_resources(bundles=[shape])
        deadline = time.monotonic() + wait
        try:
            while fits < 1 and time.monotonic() < deadline:
                time.sleep(_POLL)
                fits = capacity(num_cpus, gpus)
        finally:
            request_resources(bundles=[])
    if fits >= 1:
        return fits
    resources = ray.cluster_resources()
    have = f"{float(resources.get('CPU', 0)):g} CPUs, {float(resources.get('GPU', 0)):g} GPUs"
    setting = f"cluster.num_cpus={num_cpus:g} and cluster.gpus_per_actor={gpus:g}"
    if _room(num_cpus, gpus) < 1:
        raise ConfigError(
            f"no node of the Ray cluster can hold an actor with {setting} (the cluster has "
            f"{have}); lower them (gpus_per_actor=auto uses GPUs only where there are some), "
            "or on an autoscaling cluster set cluster.resource_timeout to wait for a node"
        )
    raise EnvironmentFault(
        f"the Ray cluster ({have}) has no free resources for an actor with {setting}: other work "
        f"holds them (waited {wait:g} s); rerun when they are free, "
        "or set cluster.resource_timeout to wait longer"
    )


def actor_shape(settings: ClusterSettings, jobs: int | None) -> tuple[int, float, float]:
    """``(actors, cpus each, gpus each)`` for the connected cluster and ``jobs`` to run
    (None: not known yet, no limit from it).

    auto: one actor per GPU (``gpus_per_actor`` each) when the cluster has GPUs, else one
    per ``num_cpus`` CPUs; never more actors than jobs, nor than the free resources of the
    nodes can hold (a larger ``cluster.actors`` is lowered, with a warning). When nothing
    fits now, :func:`wait_for_capacity` waits up to ``cluster.resource_timeout`` seconds.
    """
    gpus = float(ray.cluster_resources().get("GPU", 0))
    per_gpu = settings.gpus_per_actor if settings.gpus_per_actor is not None else (
        1.0 if gpus else 0.0)
    fits = wait_for_capacity(settings.num_cpus, per_gpu, settings.resource_timeout)
    count = settings.actors if settings.actors is not None else fits
    if count > fits:
        log.warning(
            "cluster.actors=%d but the Ray cluster's free resources hold only %d actors of %g CPUs "
            "and %g GPUs; running %d", count, fits, settings.num_cpus, per_gpu, fits,
        )
    return max(1, min(count, fits, fits if jobs is None else jobs)), settings.num_cpus, per_gpu


def jobs_per_batch(settings: ClusterSettings, gpus_per_actor: float) -> int:
    """``cluster.jobs_per_batch``, or for ``auto`` :data:`CPU_JOBS_PER_BATCH` on a CPU actor
    and :data:`GPU_JOBS_PER_BATCH` per whole GPU on a GPU actor (at least one)."""
    if settings.jobs_per_batch is not None:
        return settings.jobs_per_batch
    if gpus_per_actor > 0:
        return max(1, round(GPU_JOBS_PER_BATCH * gpus_per_actor))
    return CPU_JOBS_PER_BATCH


def wait_for_nodes(address: str, count: int, timeout: float) -> int:
    """Wait until the Ray head at ``address`` answers and ``count`` nodes are alive; return
    how many are. Past ``timeout`` seconds: an :class:`EnvironmentFault` naming how many
    joined. For cluster scripts (jobs/slurm.sbatch, through :mod:`pipeline.runner.join`), which
    start the nodes themselves."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe(address, max(1.0, min(5.0, deadline - time.monotonic())))
            break
        except EnvironmentFault:
            if time.monotonic() > deadline:
                raise
            time.sleep(_POLL)
    ray.init(address=address, logging_level=logging.WARNING)
    try:
        alive = 0
        while (alive := sum(1 for node in ray.nodes() if node.get("Alive"))) < count:
            if time.monotonic() > deadline:
                raise EnvironmentFault(
                    f"only {alive} of {count} Ray nodes joined {address} within {timeout:g} s; "
                    "check the worker nodes' logs and that they reach the head's address"
                )
            time.sleep(_POLL)
        return alive
    finally:
        ray.shutdown()

