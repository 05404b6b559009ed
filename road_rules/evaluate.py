"""Evaluate rules for a vehicle and a date: time bands and their forbidden edges,
stationing windows of collection points, and where a van may stop."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import cast

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from road_rules.calendar import ChinaCalendar, default_calendar
from road_rules.edges import EdgeTable
from road_rules.hours import day_windows
from road_rules.model import BLOCKING, Permit, Rule, RuleSet, VehicleInfo, Where

DAY_S = 86_400


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


def _intervals(
    valid: bool,
    days: str,
    when: str | None,
    except_when: str | None,
    day: dt.date,
    calendar: ChinaCalendar | None,
) -> list[tuple[int, int]]:
    cal = calendar or default_calendar()
    if not valid:
        return []
    if days == "workdays" and not cal.is_workday(day):
        return []
    if days == "non_workdays" and cal.is_workday(day):
        return []
    if when is not None:
        return day_windows(when, day, cal)
    if except_when is not None:
        out, t = [], 0
        for a, b in day_windows(except_when, day, cal):
            if a > t:
                out.append((t, a))
            t = max(t, b)
        if t < DAY_S:
            out.append((t, DAY_S))
        return out
    return [(0, DAY_S)]


def active_intervals(
    rule: Rule, day: dt.date, calendar: ChinaCalendar | None = None
) -> list[tuple[int, int]]:
    """When ``rule`` is in force on ``day``: seconds after midnight, half-open intervals."""
    return _intervals(rule.valid_on(day), rule.days, rule.when, rule.except_when, day, calendar)


def permit_intervals(
    permit: Permit, day: dt.date, calendar: ChinaCalendar | None = None
) -> list[tuple[int, int]]:
    """When a declared permit is in force on ``day``."""
    return _intervals(
        permit.valid_on(day), permit.days, permit.when, permit.except_when, day, calendar
    )


def _area_mask(table: EdgeTable, area: BaseGeometry) -> np.ndarray:
    key = ("area", area.wkb)
    hit = table._memo.get(key)
    if hit is None:
        hit = np.zeros(len(table), dtype=bool)
        hit[table.tree.query(area, predicate="intersects")] = True
        table._memo[key] = hit
    return hit


def _name_mask(table: EdgeTable, names: frozenset[str]) -> np.ndarray:
    """Edges carrying any of ``names`` (normalised; a trailing ``*`` matches a prefix)."""
    exact = {n for n in names if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    return np.array(
        [
            bool(n & exact) or any(x.startswith(prefixes) for x in n)
            if prefixes
            else bool(n & exact)
            for n in table.names
        ],
        dtype=bool,
    )


def where_mask(table: EdgeTable, where: Where, territory: BaseGeometry | None = None) -> np.ndarray:
    """Boolean per edge: does the selection ``where`` (inside ``territory``) pick it
    (memoised per table)."""
    key = (
        "where",
        where.area.wkb if where.area is not None else None,
        territory.wkb if territory is not None else None,
        where.highways,
        where.road_names,
        where.way_ids,
        where.points,
        where.edges,
    )
    hit = table._memo.get(key)
    if hit is not None:
        return hit
    w = where
    mask = np.ones(len(table), dtype=bool)
    if w.edges:
        mask[:] = False
        mask[sorted(w.edges)] = True
    if territory is not None:
        mask &= _area_mask(table, territory)
    if w.area is not None:
        mask &= _area_mask(table, w.area)
    if w.highways:
        mask &= np.array([bool(h & w.highways) for h in table.highways], dtype=bool)
    if w.road_names:
        mask &= _name_mask(table, w.road_names)
    if w.way_ids:
        mask &= np.array([bool(x & w.way_ids) for x in table.way_ids], dtype=bool)
    if w.points and w.area is None and not (w.highways or w.road_names or w.way_ids):
        mask[:] = False  # a rule about named collection points selects no road
    table._memo[key] = mask
    return mask


def edge_mask(rule: Rule, table: EdgeTable) -> np.ndarray:
    """Boolean per edge: does the rule select it — its *where*, inside its territory."""
    return where_mask(table, rule.where, rule.territory)


Piece = tuple[int, int, np.ndarray]  # [start, end) seconds, edges forbidden during it


def _split_by_exemptions(
    iv: list[tuple[int, int]], mask: np.ndarray, exemptions: list[Piece]
) -> list[Piece]:
    """``mask`` over ``iv``, minus the edges an exemption covers while it is in force."""
    out: list[Piece] = []
    for a, b in iv:
        cuts = sorted({a, b} | {x for ea, eb, _ in exemptions for x in (ea, eb) if a < x < b})
        for x, y in itertools.pairwise(cuts):
            m = mask
            for ea, eb, em in exemptions:
                if ea <= x and y <= eb:
                    m = m & ~em
            if m.any():
                if out and out[-1][1] == x and np.array_equal(out[-1][2], m):
                    out[-1] = (out[-1][0], y, m)
                else:
                    out.append((x, y, m))
    return out


def _permit_exemptions(
    rules: RuleSet,
    held: frozenset[str],
    day: dt.date,
    table: EdgeTable,
    calendar: ChinaCalendar | None,
    *,
    district: str = "",
    osm_only: bool = False,
) -> list[Piece] | None:
    """Where and when the permits ``held`` exempt their holder from a rule of
    ``district``: as that district's file declares them; None (everywhere, always) for a
    permit the district does not declare. For OSM ``permit`` roads (``osm_only``), the
    declarations with ``grants_osm_permit`` of every district, each in its own zone."""
    out: list[Piece] = []
    for pid in sorted(held):
        decls = rules.permit(pid)
        if not osm_only:
            decls = tuple(d for d in decls if d.district == district)
        if osm_only:
            decls = tuple(d for d in decls if d.grants_osm_permit)
            if not decls:
                continue
        elif not decls:
            return None
        for d in decls:
            m = where_mask(table, d.where, d.territory)
            out += [(a, b, m) for a, b in permit_intervals(d, day, calendar)]
    return out


def _osm_pieces(
    rules: RuleSet,
    rule: Rule,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    calendar: ChinaCalendar | None,
    verdicts: tuple[str, ...],
) -> list[Piece]:
    from road_rules.access import access_periods

    mask = edge_mask(rule, table)
    out: list[Piece] = []
    permits: list[Piece] | None = None
    for a, b, acc in access_periods(dict(rule.osm_tags), vehicle, day, calendar):
        if acc.value == "permit" and "permit" in verdicts:
            if permits is None:
                permits = (
                    _permit_exemptions(rules, vehicle.permits, day, table, calendar, osm_only=True)
                    or []
                )
            out += _split_by_exemptions([(a, b)], mask, permits)
        elif acc.value in verdicts:
            out.append((a, b, mask))
    return out


def rule_pieces(
    rules: RuleSet,
    rule: Rule,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    calendar: ChinaCalendar | None = None,
    *,
    verdicts: tuple[str, ...] = ("no", "permit"),
) -> list[Piece]:
    """When, and on which edges, ``rule`` binds ``vehicle`` on ``day``.

    One decision for every user of the rules (planner bands, the replay, the map): the
    rule selects the vehicle, is in force, and selects the edge inside its territory,
    and no permit the vehicle holds covers that edge at that time. For OSM access rules,
    ``verdicts`` says which access verdicts count (``destination`` too, for the planner,
    which never drives through such roads).
    """
    key = ("pieces", id(table), rule.id, rule.origin, vehicle, day, verdicts)
    hit = rules._memo.get(key)
    if hit is not None:
        return cast(list[Piece], hit)
    out: list[Piece]
    if rule.effect == "osm_access":
        out = _osm_pieces(rules, rule, vehicle, day, table, calendar, verdicts)
    elif not rule.selects(vehicle):
        out = []
    else:
        iv = active_intervals(rule, day, calendar)
        mask = edge_mask(rule, table)
        held = rule.exempt_permits & vehicle.permits
        if not iv:
            out = []
        elif not held:
            out = [(a, b, mask) for a, b in iv]
        else:
            ex = _permit_exemptions(rules, held, day, table, calendar, district=rule.district)
            out = [] if ex is None else _split_by_exemptions(iv, mask, ex)
    rules._memo[key] = out
    return out


def _edge_index(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    calendar: ChinaCalendar | None,
    effects: tuple[str, ...],
    verdicts: tuple[str, ...] = ("no", "permit"),
) -> dict[int, list[tuple[int, int, Rule]]]:
    """Edge -> (start, end, rule) of every piece binding ``vehicle`` there (memoised)."""
    key = ("edge_index", id(table), vehicle, day, effects, verdicts)
    hit = rules._memo.get(key)
    if hit is not None:
        return cast(dict[int, list[tuple[int, int, Rule]]], hit)
    idx: dict[int, list[tuple[int, int, Rule]]] = {}
    for r in rules.rules:
        if r.effect not in effects:
            continue
        for a, b, m in rule_pieces(rules, r, vehicle, day, table, calendar, verdicts=verdicts):
            for e in np.flatnonzero(m).tolist():
                idx.setdefault(e, []).append((a, b, r))
    rules._memo[key] = idx
    return idx


def _onsets(
    idx: dict[int, list[tuple[int, int, Rule]]], edge: int, start: int, end: int
) -> list[tuple[int, Rule]]:
    """(first second in force, rule) of each rule of ``idx`` on ``edge`` in force at any
    second of ``[start, end)`` (``start == end``: the instant ``start``), by time."""
    end = max(end, start + 1)
    out: dict[tuple[str, str], tuple[int, Rule]] = {}
    for a, b, r in idx.get(edge, ()):
        if a < end and start < b:
            t, key = max(a, start), (r.id, r.origin)
            if key not in out or t < out[key][0]:
                out[key] = (t, r)
    return sorted(out.values(), key=lambda x: (x[0], x[1].id))


def blocking_onsets(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    edge: int,
    start: int,
    end: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[tuple[int, Rule]]:
    """:func:`blocking_rules_during`, each rule with the first second it forbids the edge."""
    return _onsets(_edge_index(rules, vehicle, day, table, calendar, BLOCKING), edge, start, end)


def no_stopping_onsets(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    edge: int,
    start: int,
    end: int,
    *,
    calendar: ChinaCalendar | None = None,
) -> list[tuple[int, Rule]]:
    """:func:`no_stopping_rules`, each rule with the first second it bans stopping there."""
    idx = _edge_index(rules, vehicle, day, table, calendar, ("no_stopping",))
    return _onsets(idx, edge, start, end)


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
    set exactly when some rule in force over the band forbids it for this vehicle (OSM
    ``destination`` roads included: the planner never drives through them).
    """
    pieces: list[tuple[int, int, np.ndarray, str]] = []
    cuts = {0, DAY_S}
    for r in rules.rules:
        if r.effect not in BLOCKING:
            continue
        verdicts = ("no", "permit", "destination")
        for a, b, m in rule_pieces(rules, r, vehicle, day, table, calendar, verdicts=verdicts):
            pieces.append((a, b, m, r.id))
            cuts.update((a, b))
    points = sorted(cuts)
    out: list[Band] = []
    for a, b in itertools.pairwise(points):
        in_force = [(m, rid) for x, y, m, rid in pieces if x <= a and b <= y]
        ids = tuple(sorted({rid for _, rid in in_force}))
        if out and out[-1].rules == ids and not ids:
            out[-1] = Band(out[-1].start, b, ids, out[-1].forbidden)
            continue
        if in_force:
            mask = np.zeros(len(table), dtype=bool)
            for m, _ in in_force:
                mask |= m
            forbidden = table.pairs(np.flatnonzero(mask))
        else:
            forbidden = frozenset()
        if out and out[-1].rules == ids and out[-1].forbidden == forbidden:
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
    return blocking_rules_during(rules, vehicle, day, table, edge, t, t, calendar=calendar)


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
    ``[start, end)`` (``start == end``: the instant ``start``): driving it, or standing on it.

    OSM ``destination`` roads are not in it: whether a leg may use one depends on the
    leg (see :func:`destination_edges`).
    """
    return [
        r
        for _, r in blocking_onsets(rules, vehicle, day, table, edge, start, end, calendar=calendar)
    ]


def destination_edges(
    rules: RuleSet,
    vehicle: VehicleInfo,
    day: dt.date,
    table: EdgeTable,
    *,
    calendar: ChinaCalendar | None = None,
) -> dict[int, list[tuple[int, int, Rule]]]:
    """Edge -> (start, end, rule): when OSM tags make the edge access=destination (or
    delivery) for ``vehicle``: usable only by a leg that starts or ends on a stop reached
    through it."""
    return _edge_index(rules, vehicle, day, table, calendar, ("osm_access",), ("destination",))


def covering_stationing_rules(rules: RuleSet, point_ref: str, lon: float, lat: float) -> list[Rule]:
    """The ``stationing_allowed`` rules that govern a collection point: of those whose
    *where* covers it (inside their district), the most specific ones — named points over
    named roads over a polygon or road types over the whole district."""
    pt = Point(lon, lat)
    out = []
    for r in rules.rules:
        if r.effect != "stationing_allowed":
            continue
        w = r.where
        if w.points and point_ref not in w.points:
            continue
        if w.area is not None and not w.area.covers(pt):
            continue
        if r.territory is not None and not r.territory.covers(pt):
            continue
        out.append(r)
    if not out:
        return []
    top = max(r.where.specificity for r in out)
    return [r for r in out if r.where.specificity == top]


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
    then govern alone); otherwise the union of the windows of the most specific covering
    rules (:func:`covering_stationing_rules`).
    """
    covering = covering_stationing_rules(rules, point_ref, lon, lat)
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
    return [
        r
        for _, r in no_stopping_onsets(
            rules, vehicle, day, table, edge, start, end, calendar=calendar
        )
    ]


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
        if r.effect != "no_stopping":
            continue
        for a, b, m in rule_pieces(rules, r, vehicle, day, table, calendar):
            if a < end and start < b:
                ok &= ~m
    return ok
