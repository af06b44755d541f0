"""Where a sweep actor runs: one placement group per actor, through Ray's public API.

Each actor is started inside a placement group of one bundle (its CPUs and GPUs). The
group says, without the dashboard, what the pool needs to know of an actor's placement:
whether Ray has reserved its resources on a node yet (:func:`placed`: a group still
pending after the pool's start timeout is given up), and whether they are given back
(:func:`release` removes the group, which also ends the actor, and :func:`released` says
when Ray has done so). A group is also what the autoscaler, if there is one, sees as a
demand while it waits.
"""

from __future__ import annotations

from typing import Any

from ray.util.placement_group import (
    PlacementGroup,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy


def reserve(cpus: float, gpus: float) -> PlacementGroup:
    """Ask Ray to reserve ``cpus`` CPUs and ``gpus`` GPUs on one node for one actor."""
    bundle = {"CPU": cpus, **({"GPU": gpus} if gpus > 0 else {})}
    return placement_group([bundle])


def strategy(group: PlacementGroup) -> dict[str, Any]:
    """The actor options that run it in ``group``'s bundle."""
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, 0)}


def _state(group: PlacementGroup) -> str | None:
    """The group's state in Ray's placement group table (PENDING, CREATED, RESCHEDULING,
    REMOVED), or None if Ray cannot say."""
    try:
        return placement_group_table(group).get("state")
    except Exception:  # a lost connection to the head: let the caller assume
        return None


def placed(group: PlacementGroup) -> bool:
    """Whether Ray has reserved the group's resources on a node (the actor is then started
    there, though it may still be loading the models); if Ray cannot say, assume it has."""
    return _state(group) in ("CREATED", None)


def release(group: PlacementGroup) -> None:
    """Remove the group: its actor ends and its resources go back to the node."""
    try:
        remove_placement_group(group)
    except Exception:  # already removed, or the head is gone with it
        pass


def released(group: PlacementGroup) -> bool:
    """Whether Ray has removed the group (if Ray cannot say, assume it has)."""
    return _state(group) in ("REMOVED", None)
