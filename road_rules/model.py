"""The road-rights rule model: who, where, when, and what is forbidden or allowed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from shapely.geometry.base import BaseGeometry

Effect = Literal[
    "no_entry",
    "no_stopping",
    "stationing_allowed",
    "max_weight",
    "max_height",
    "max_length",
    "max_width",
    "osm_access",
]
#: Effects a rule file may use (``osm_access`` is made from the graph's OSM tags only).
EFFECTS: tuple[str, ...] = tuple(e for e in get_args(Effect) if e != "osm_access")
#: Effects that forbid driving (or standing on) the roads they select.
BLOCKING: tuple[str, ...] = (
    "no_entry",
    "max_weight",
    "max_height",
    "max_length",
    "max_width",
    "osm_access",
)
#: Limit effects: the rule binds a vehicle whose dimension exceeds the limit.
LIMIT_FIELDS: dict[str, str] = {
    "max_weight": "max_weight_t",
    "max_height": "max_height_m",
    "max_length": "max_length_m",
    "max_width": "max_width_m",
}
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
    plate_last_digits: frozenset[int] = frozenset()  # 尾号限行: the plate's last digit

    def matches(self, v: VehicleInfo) -> bool:
        """Whether the rule applies to ``v`` (all given criteria must hold)."""
        return (
            (not self.classes or v.vehicle_class in self.classes)
            and (not self.weight_classes or v.weight_class in self.weight_classes)
            and (not self.fuels or v.fuel in self.fuels)
            and v.gross_weight_kg >= self.min_gross_weight_kg
            and (not self.plate_last_digits or plate_last_digit(v.plate) in self.plate_last_digits)
        )


def plate_last_digit(plate: str) -> int | None:
    """The plate's last Arabic digit (尾号): ``粤B12345`` -> 5, ``粤B1234D`` -> 4."""
    for ch in reversed(plate):
        if ch.isascii() and ch.isdigit():
            return int(ch)
    return None


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
    edges: frozenset[int] = frozenset()  # edge-table indices (rules read from OSM tags)
    district_wide: bool = False  # "district: true": the area is the district itself

    @property
    def everywhere(self) -> bool:
        """No criterion at all: the whole district."""
        return self.area is None and not (
            self.road_names or self.way_ids or self.highways or self.points or self.edges
        )

    @property
    def specificity(self) -> int:
        """How narrow the selection is, for precedence among rules of one kind.

        3: named collection points; 2: named roads or OSM ways; 1: a polygon or road
        types; 0: the whole district.
        """
        if self.points:
            return 3
        if self.road_names or self.way_ids or self.edges:
            return 2
        if self.highways or (self.area is not None and not self.district_wide):
            return 1
        return 0


@dataclass(frozen=True)
class Permit:
    """A permit declared in a rule file: where and when it exempts its holders.

    A rule's ``exempt_permits`` spares a holder only on roads inside the permit's zone
    while the permit is in force, as the rule's own district declares the permit; a
    permit that the district does not declare exempts everywhere in it, at all times.
    ``grants_osm_permit`` lets holders use OSM ``*=permit`` roads in the zone.
    """

    id: str
    title: str
    district: str
    where: Where = field(default_factory=Where)
    territory: BaseGeometry | None = None
    when: str | None = None
    except_when: str | None = None
    days: str = "all"
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    grants_osm_permit: bool = False
    origin: str = "file"

    def valid_on(self, day: dt.date) -> bool:
        """Whether ``day`` is inside the permit's validity dates."""
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
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
    max_height_m: float | None = None
    max_length_m: float | None = None
    max_width_m: float | None = None
    exempt_permits: frozenset[str] = frozenset()
    origin: str = "file"  # file path, or "osm" for rules read from OSM tags
    #: The district's polygon: a file's rules bind every vehicle on roads inside it, and
    #: only there (None: no polygon known, or an OSM tag rule, which binds its own edges).
    territory: BaseGeometry | None = None
    allow_unmatched: bool = False  # a selection that matches nothing is a warning, not an error
    osm_tags: tuple[tuple[str, Any], ...] = ()  # osm_access: the access tags of its edges

    def valid_on(self, day: dt.date) -> bool:
        """Whether ``day`` is inside the rule's validity dates."""
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
        )

    def applies_to(self, v: VehicleInfo) -> bool:
        """Whether the rule binds ``v`` (selected and not exempt by a permit)."""
        if self.exempt_permits & v.permits:
            return False
        return self.selects(v)

    def selects(self, v: VehicleInfo) -> bool:
        """Whether the rule binds ``v`` before any permit: selected, and over its limit."""
        if not self.vehicles.matches(v):
            return False
        if self.effect == "max_weight":
            return self.max_weight_t is not None and v.gross_weight_kg / 1000 > self.max_weight_t
        if self.effect == "max_height":
            return self.max_height_m is not None and v.height_m > self.max_height_m
        if self.effect == "max_length":
            return self.max_length_m is not None and v.length_m > self.max_length_m
        if self.effect == "max_width":
            return self.max_width_m is not None and v.width_m > self.max_width_m
        return True


@dataclass(frozen=True)
class RuleSet:
    """All rules of one or more districts, with the files they came from."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...] = ()
    permits: tuple[Permit, ...] = ()
    warnings: tuple[str, ...] = ()  # reported on load: conflicts, selections that match nothing
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def for_district(self, code: str) -> RuleSet:
        """The rules a district's file declares, plus OSM rules (for display: every rule of
        every district binds every vehicle on its roads, see :mod:`road_rules.evaluate`)."""
        return RuleSet(
            tuple(r for r in self.rules if r.district in (code, "*")),
            self.files,
            self.permits,
            self.warnings,
        )

    def permit(self, pid: str) -> tuple[Permit, ...]:
        """The declarations of permit ``pid`` (one per district that declares it)."""
        return tuple(p for p in self.permits if p.id == pid)

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(
            self.rules + other.rules,
            self.files + other.files,
            self.permits + other.permits,
            self.warnings + other.warnings,
        )
