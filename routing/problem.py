"""Immutable inputs of the routing model.

All times are integer seconds after midnight of the plan date (local time), all
distances integer metres, all volumes integer litres. Parameter objects check
themselves in ``__post_init__`` so a malformed problem fails where it is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from routing.errors import ProblemError

StopKind = Literal["pickup", "station"]


@dataclass(frozen=True)
class Window:
    """A closed interval of seconds after midnight."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ProblemError(f"window ends ({self.end}) before it starts ({self.start})")

    def contains(self, t: int) -> bool:
        """Whether ``t`` lies in the window."""
        return self.start <= t <= self.end


@dataclass(frozen=True)
class Place:
    """A WGS-84 location that has been snapped to the road network."""

    label: str
    lon: float
    lat: float
    node: int  # OSM id of the head node of the edge it snapped to
    snap_m: float


@dataclass(frozen=True)
class Vehicle:
    """One van for one day."""

    id: str
    profile: str  # speed profile (and matrix) of its class
    depot_place: int
    shift: Window
    capacity_kg: int
    capacity_l: int
    tail_lift: bool = False
    fixed_cost: int = 600
    break_window: Window | None = None  # the driver's break must start and end inside it
    break_s: int = 0

    def __post_init__(self) -> None:
        if self.capacity_kg < 0 or self.capacity_l < 0:
            raise ProblemError(f"vehicle {self.id}: negative capacity")
        if self.shift.end <= self.shift.start:
            raise ProblemError(f"vehicle {self.id}: shift ends before it starts")
        if (
            self.break_window is not None
            and self.break_s > self.break_window.end - self.break_window.start
        ):
            raise ProblemError(f"vehicle {self.id}: break longer than its window")


@dataclass(frozen=True)
class Stop:
    """A stationing visit at a collection point or a door-to-door pickup."""

    id: str
    kind: StopKind
    place: int
    service_s: int
    windows: tuple[Window, ...]
    demand_kg: int
    demand_l: int
    materials: tuple[str, ...] = ()
    needs_tail_lift: bool = False
    priority: int = 0

    def __post_init__(self) -> None:
        if self.service_s < 0:
            raise ProblemError(f"stop {self.id}: negative service time")
        if self.demand_kg < 0 or self.demand_l < 0:
            raise ProblemError(f"stop {self.id}: negative demand")
        # A visit of service_s must fit inside one window.
        object.__setattr__(
            self, "windows", tuple(w for w in self.windows if w.end - w.start >= self.service_s)
        )


@dataclass(frozen=True)
class Facility:
    """A transfer station where vans unload."""

    id: str
    place: int
    open: tuple[Window, ...]
    accepts: frozenset[str]
    unload_s: int
    daily_intake_kg: int | None = None


@dataclass(frozen=True)
class Problem:
    """One district's routing problem for one day.

    ``seconds`` and ``metres`` map each speed profile to square matrices over ``places``.
    """

    places: tuple[Place, ...]
    vehicles: tuple[Vehicle, ...]
    stops: tuple[Stop, ...]
    facilities: tuple[Facility, ...]
    seconds: dict[str, np.ndarray] = field(hash=False)
    metres: dict[str, np.ndarray] = field(hash=False)
    #: Warm start: vehicle id -> stop ids in order (e.g. the current plan's routes); a
    #: facility id in the sequence is an unload trip there.
    initial_routes: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    #: Pinned prefixes: vehicle id -> stop ids that must open its route in this order
    #: (finished and current stops during intraday re-planning).
    pinned: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        n = len(self.places)
        for prof, m in self.seconds.items():
            if m.shape != (n, n) or self.metres[prof].shape != (n, n):
                raise ProblemError(f"matrix for profile {prof} is not {n}x{n}")
        for v in self.vehicles:
            if v.profile not in self.seconds:
                raise ProblemError(f"vehicle {v.id}: no matrix for profile {v.profile}")
        ids = [s.id for s in self.stops]
        if len(set(ids)) != len(ids):
            raise ProblemError("stop ids are not unique")
        vids = {v.id for v in self.vehicles}
        known = set(ids)
        for what, table in (("initial route", self.initial_routes), ("pinned route", self.pinned)):
            for vid, seq in table.items():
                if vid not in vids:
                    raise ProblemError(f"{what} for unknown vehicle {vid!r}")
                if set(seq) - known - {f.id for f in self.facilities}:
                    raise ProblemError(
                        f"{what} of {vid} names unknown stops {sorted(set(seq) - known)}"
                    )
        pinned_ids = [sid for seq in self.pinned.values() for sid in seq]
        if len(pinned_ids) != len(set(pinned_ids)):
            raise ProblemError("a stop is pinned to two routes")


@dataclass(frozen=True)
class Limits:
    """How long and how the solver may search."""

    time_limit_s: float = 10.0
    seed: int = 0
    #: OR-Tools first-solution strategy name; None picks by size (insertion for small
    #: problems, path-cheapest-arc for large ones, where insertion is too slow).
    first_solution: str | None = None

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ProblemError("time_limit_s must be positive")
