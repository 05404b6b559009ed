"""The road-rights rule model: who, where, when, and what is forbidden or allowed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from shapely.geometry.base import BaseGeometry

Effect = Literal["no_entry", "no_stopping", "stationing_allowed", "max_weight"]
EFFECTS: tuple[str, ...] = ("no_entry", "no_stopping", "stationing_allowed", "max_weight")
WEIGHT_CLASSES: tuple[str, ...] = ("mini", "light", "medium", "heavy")
FUELS: tuple[str, ...] = ("electric", "diesel", "petrol", "lng", "hybrid")
DAY_KINDS: tuple[str, ...] = ("all", "workdays", "non_workdays")


@dataclass(frozen=True)
class VehicleInfo:
    """What the rules need to know of one vehicle."""

    plate: str
    vehicle_class: str
    weight_class: str
    fuel: str
    gross_weight_kg: int
    permits: frozenset[str] = frozenset()
    height_m: float = 0.0  # 0: not known (dimension limits then never bind it)
    width_m: float = 0.0
    length_m: float = 0.0
    axle_load_t: float = 0.0  # heaviest axle, tonnes; 0: estimated as 60 % of gross weight

    @property
    def is_hgv(self) -> bool:
        """OSM's ``hgv``: a goods vehicle over 3.5 t gross; below it, ``goods`` applies."""
        return self.gross_weight_kg > 3500

    @property
    def max_axle_load_t(self) -> float:
        """The heaviest axle's load in tonnes (stated, or 60 % of gross weight)."""
        return self.axle_load_t or 0.6 * self.gross_weight_kg / 1000


@dataclass(frozen=True)
class VehicleSelector:
    """Which vehicles a rule applies to; an empty set means any."""

    classes: frozenset[str] = frozenset()
    weight_classes: frozenset[str] = frozenset()
    fuels: frozenset[str] = frozenset()
    min_gross_weight_kg: int = 0

    def matches(self, v: VehicleInfo) -> bool:
        """Whether the rule applies to ``v`` (all given criteria must hold)."""
        return (
            (not self.classes or v.vehicle_class in self.classes)
            and (not self.weight_classes or v.weight_class in self.weight_classes)
            and (not self.fuels or v.fuel in self.fuels)
            and v.gross_weight_kg >= self.min_gross_weight_kg
        )


@dataclass(frozen=True)
class Where:
    """Where a rule applies. Every given criterion must hold (AND); a list is any-of (OR)."""

    area: BaseGeometry | None = (
        None  # a polygon (WGS-84); the district polygon when "district: true"
    )
    road_names: frozenset[str] = frozenset()
    way_ids: frozenset[int] = frozenset()
    highways: frozenset[str] = frozenset()
    points: frozenset[str] = frozenset()  # collection point refs (stationing rules)

    @property
    def everywhere(self) -> bool:
        """No criterion at all: the whole district."""
        return self.area is None and not (
            self.road_names or self.way_ids or self.highways or self.points
        )


@dataclass(frozen=True)
class Rule:
    """One rule of a district's road rights."""

    id: str
    title: str
    district: str
    effect: Effect
    source: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    vehicles: VehicleSelector = field(default_factory=VehicleSelector)
    where: Where = field(default_factory=Where)
    when: str | None = None  # opening_hours: when the rule is in force (None: always)
    except_when: str | None = None  # opening_hours: in force at all other times
    days: str = "all"  # all / workdays / non_workdays (official calendar)
    max_weight_t: float | None = None
    exempt_permits: frozenset[str] = frozenset()
    origin: str = "file"  # file path, or "osm" for rules read from OSM tags

    def valid_on(self, day: dt.date) -> bool:
        """Whether ``day`` is inside the rule's validity dates."""
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
        )

    def applies_to(self, v: VehicleInfo) -> bool:
        """Whether the rule binds ``v`` (selected and not exempt by a permit)."""
        if self.exempt_permits & v.permits:
            return False
        if not self.vehicles.matches(v):
            return False
        if self.effect == "max_weight":
            return self.max_weight_t is not None and v.gross_weight_kg / 1000 > self.max_weight_t
        return True


@dataclass(frozen=True)
class RuleSet:
    """All rules of one or more districts, with the files they came from."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...] = ()

    def for_district(self, code: str) -> RuleSet:
        """The rules of one district plus OSM rules (which apply everywhere)."""
        return RuleSet(tuple(r for r in self.rules if r.district in (code, "*")), self.files)

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules, self.files + other.files)
