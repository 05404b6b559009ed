"""What the solver returns: timed routes, unassigned stops with reasons, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VisitKind = Literal["depot", "station", "pickup", "unload", "break"]


@dataclass(frozen=True)
class Visit:
    """One timed visit on a route. Loads are after the visit."""

    kind: VisitKind
    ref: str  # stop id, facility id, or depot label
    place: int
    arrival: int
    start: int
    departure: int
    load_kg: int
    load_l: int


@dataclass(frozen=True)
class Route:
    """One vehicle's day, from depot to depot."""

    vehicle_id: str
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int


@dataclass(frozen=True)
class Unassigned:
    """A stop left out, and why."""

    stop_id: str
    reason: str  # machine-readable code
    detail: str  # a sentence for the dispatcher


@dataclass(frozen=True)
class Result:
    """A solved plan."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    stats: dict[str, float | int | str] = field(default_factory=dict)
