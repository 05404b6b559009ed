"""Evaluate rules for a vehicle and a date: time bands and their forbidden edges,
stationing windows of collection points, and where a van may stop."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from road_rules.calendar import ChinaCalendar, default_calendar
from road_rules.edges import EdgeTable
from road_rules.hours import day_windows
from road_rules.model import Rule, RuleSet, VehicleInfo

DAY_S = 86_400
_BLOCKING = ("no_entry", "max_weight")


@dataclass(frozen=True)
class Band:
    """An interval of the day in which the set of active restrictions does not change."""

    start: int  # seconds after midnight, inclusive
    end: int  # exclusive
    rules: tuple[str, ...]  # ids of the blocking rules in force
    forbidden: frozenset[tuple[int, int]]  # OSM (u, v) pairs the vehicle may not use

    def contains(self, t: int) -> bool:
        """Whether second ``t`` of the day lies in the band."""
        return self.start <= t < self.end


def active_intervals(
    rule: Rule, day: dt.date, calendar: ChinaCalendar | None = None
) -> list[tuple[int, int]]:
    """When ``rule`` is in force on ``day``: seconds after midnight, half-open intervals."""
    cal = calendar or default_calendar()
    if not rule.valid_on(day):
        return []
    if rule.days == "workdays" and not cal.is_workday(day):
        return []
    if rule.days == "non_workdays" and cal.is_workday(day):
        return []
    if rule.when is not None:
        return day_windows(rule.when, day, cal)
    if rule.except_when is not None:
        out, t = [], 0
        for a, b in day_windows(rule.except_when, day, cal):
            if a > t:
                out.append((t, a))
            t = max(t, b)
        if t < DAY_S:
            out.append((t, DAY_S))
        return out
    return [(0, DAY_S)]


def _area_mask(table: EdgeTable, area: BaseGeometry) -> np.ndarray:
    mask = np.zeros(len(table), dtype=bool)
    hits = table.tree.query(area, predicate="intersects")
    mask[hits] = True
    return mask


def edge_mask(rule: Rule, table: EdgeTable) -> np.ndarray:
    """Boolean per edge: does the rule's *where* select it (memoised per table)."""
    w0 = rule.where
    # Keyed by the selection itself, so an edited rule reloaded under the same id is re-evaluated.
    key = (
        "mask",
        rule.id,
        rule.origin,
        w0.area.wkb if w0.area is not None else None,
        w0.highways,
        w0.road_names,
        w0.way_ids,
        w0.points,
    )
    hit = table._memo.get(key)
    if hit is not None:
        return hit
    w = rule.where
    mask = np.ones(len(table), dtype=bool)
    if w.area is not None:
        mask &= _area_mask(table, w.area)
    if w.highways:
        mask &= np.array([bool(h & w.highways) for h in table.highways], dtype=bool)
    if w.road_names:
        mask &= np.array([bool(n & w.road_names) for n in table.names], dtype=bool)
    if w.way_ids:
        mask &= np.array([bool(x & w.way_ids) for x in table.way_ids], dtype=bool)
    if w.points and w.area is None and not (w.highways or w.road_names or w.way_ids):
        mask[:] = False  # a rule about named collection points selects no road
    table._memo[key] = mask
    return mask


def bands(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[Band]:
    """The day's time bands for ``vehicle`` with the edges it may not use in each.

    Every instant of the day lies in exactly one band; an edge is in a band's forbidden
    set exactly when some rule in force over the band forbids it for this vehicle.
    """
    active: list[tuple[Rule, list[tuple[int, int]]]] = []
    cuts = {0, DAY_S}
    for r in rules.rules:
        if r.effect not in _BLOCKING or not r.applies_to(vehicle):
            continue
        iv = active_intervals(r, day, calendar)
        if iv:
            active.append((r, iv))
            for a, b in iv:
                cuts.update((a, b))
    points = sorted(cuts)
    out: list[Band] = []
    for a, b in itertools.pairwise(points):
        in_force = [r for r, iv in active if any(x <= a and b <= y for x, y in iv)]
        if in_force:
            mask = np.zeros(len(table), dtype=bool)
            for r in in_force:
                mask |= edge_mask(r, table)
            forbidden = table.pairs(np.flatnonzero(mask))
        else:
            forbidden = frozenset()
        ids = tuple(sorted(r.id for r in in_force))
        if out and out[-1].rules == ids:
            out[-1] = Band(out[-1].start, b, ids, out[-1].forbidden)
        else:
            out.append(Band(a, b, ids, forbidden))
    return out


def blocking_rules_at(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    t: int,
    table: EdgeTable,
    edge: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[Rule]:
    """The rules that forbid ``vehicle`` to be on edge index ``edge`` at second ``t``."""
    out = []
    for r in rules.rules:
        if r.effect not in _BLOCKING or not r.applies_to(vehicle):
            continue
        if not edge_mask(r, table)[edge]:
            continue
        if any(a <= t < b for a, b in active_intervals(r, day, calendar)):
            out.append(r)
    return out


def blocking_rules_during(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    edge: int,
    start: int,
    end: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[Rule]:
    """The rules that forbid ``vehicle`` to be on edge index ``edge`` at any second of
    ``[start, end)`` (``start == end``: the instant ``start``): driving it, or standing on it."""
    end = max(end, start + 1)
    out = []
    for r in rules.rules:
        if r.effect not in _BLOCKING or not r.applies_to(vehicle):
            continue
        if not edge_mask(r, table)[edge]:
            continue
        if any(a < end and start < b for a, b in active_intervals(r, day, calendar)):
            out.append(r)
    return out


def stationing_windows(
    rules: RuleSet,
    day: dt.date,
    point_ref: str,
    lon: float,
    lat: float,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[tuple[int, int]] | None:
    """Windows in which a van may station at a collection point on ``day``.

    ``None`` when no ``stationing_allowed`` rule covers the point (the point's own hours
    then govern alone); otherwise the union of the covering rules' windows.
    """
    pt = Point(lon, lat)
    covering = []
    for r in rules.rules:
        if r.effect != "stationing_allowed":
            continue
        w = r.where
        if w.points and point_ref not in w.points:
            continue
        if w.area is not None and not w.area.covers(pt):
            continue
        covering.append(r)
    if not covering:
        return None
    iv = sorted(x for r in covering for x in active_intervals(r, day, calendar))
    merged: list[tuple[int, int]] = []
    for a, b in iv:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Intersection of two sorted interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def no_stopping_rules(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    edge: int,
    start: int,
    end: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[Rule]:
    """``no_stopping`` rules that a stop on ``edge`` from ``start`` to ``end`` would break."""
    out = []
    for r in rules.rules:
        if r.effect != "no_stopping" or not r.applies_to(vehicle) or not edge_mask(r, table)[edge]:
            continue
        if any(a < end and start < b for a, b in active_intervals(r, day, calendar)):
            out.append(r)
    return out


def covering_stationing_rules(rules: RuleSet, point_ref: str, lon: float, lat: float) -> list[Rule]:
    """The ``stationing_allowed`` rules whose *where* covers a collection point."""
    pt = Point(lon, lat)
    out = []
    for r in rules.rules:
        if r.effect != "stationing_allowed":
            continue
        if r.where.points and point_ref not in r.where.points:
            continue
        if r.where.area is not None and not r.where.area.covers(pt):
            continue
        out.append(r)
    return out


def stopping_edges(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    start: int,
    end: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> np.ndarray:
    """Boolean per edge: may ``vehicle`` stop there for the whole of ``[start, end)``."""
    ok = np.ones(len(table), dtype=bool)
    for r in rules.rules:
        if r.effect != "no_stopping" or not r.applies_to(vehicle):
            continue
        if any(a < end and start < b for a, b in active_intervals(r, day, calendar)):
            ok &= ~edge_mask(r, table)
    return ok
