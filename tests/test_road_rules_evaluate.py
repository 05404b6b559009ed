"""Evaluating road rights: time bands (property-tested against a brute-force oracle), the
official calendar, opening_hours with PH, stationing/no-stopping, and OSM conditional tags."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from road_rules.calendar import default_calendar
from road_rules.edges import EdgeTable
from road_rules.evaluate import (
    DAY_S,
    active_intervals,
    bands,
    blocking_rules_at,
    edge_mask,
    intersect,
    no_stopping_rules,
    stationing_windows,
    stopping_edges,
)
from road_rules.hours import day_windows
from road_rules.model import (
    DAY_KINDS,
    EFFECTS,
    Rule,
    RuleSet,
    VehicleInfo,
    VehicleSelector,
    Where,
)
from road_rules.osm_tags import parse_conditional, rules_from_tags
from road_rules.parse import parse_rules_text

CAL = default_calendar()
D = dt.date
TUESDAY = D(2026, 12, 1)
SATURDAY = D(2026, 12, 5)


def hm(s: str) -> int:
    """'HH:MM' -> seconds after midnight."""
    h, m = s.split(":")
    return int(h) * 3600 + int(m) * 60


# --------------------------------------------------------------------------- a synthetic graph

# (u, v, way ids, highways, names, coordinates)
EDGES: list[tuple[int, int, set[int], set[str], set[str], list[tuple[float, float]]]] = [
    (1, 2, {101}, {"residential"}, {"Lianhua Rd"}, [(114.000, 22.500), (114.002, 22.500)]),
    (2, 1, {101}, {"residential"}, {"Lianhua Rd"}, [(114.002, 22.500), (114.000, 22.500)]),
    (2, 3, {102}, {"primary"}, {"Shennan Blvd"}, [(114.002, 22.500), (114.004, 22.500)]),
    (3, 2, {102}, {"primary"}, {"Shennan Blvd"}, [(114.004, 22.500), (114.002, 22.500)]),
    (3, 4, {103}, {"tertiary"}, {"Futian St"}, [(114.004, 22.500), (114.006, 22.500)]),
    (4, 3, {103}, {"tertiary"}, {"Futian St"}, [(114.006, 22.500), (114.004, 22.500)]),
    (
        4,
        5,
        {104, 105},  # two OSM ways merged into one edge
        {"trunk", "trunk_link"},
        {"Binhe Rd", "Binhe Link"},
        [(114.006, 22.500), (114.008, 22.500)],
    ),
    (5, 6, {106}, {"service"}, set(), [(114.008, 22.500), (114.010, 22.502)]),
    (  # a parallel edge between the same nodes
        5,
        6,
        {107},
        {"living_street"},
        {"Garden Ln"},
        [(114.008, 22.500), (114.009, 22.503), (114.010, 22.502)],
    ),
    (6, 7, {108}, {"secondary"}, {"Old Bridge Rd"}, [(114.010, 22.502), (114.010, 22.504)]),
]
WEST = box(113.999, 22.499, 114.0045, 22.501)  # edges 0-5 touch it
EAST = box(114.0085, 22.5015, 114.0115, 22.505)  # the parallel 5->6 edges and 6->7
NOWHERE = box(114.1, 22.6, 114.2, 22.7)


def make_table(tags: dict[int, dict[str, Any]] | None = None) -> EdgeTable:
    """A fresh synthetic edge table (edge_mask memoises per table, so one per case)."""
    tags = tags or {}
    return EdgeTable(
        u=[e[0] for e in EDGES],
        v=[e[1] for e in EDGES],
        way_ids=[frozenset(e[2]) for e in EDGES],
        highways=[frozenset(e[3]) for e in EDGES],
        names=[frozenset(e[4]) for e in EDGES],
        geoms=[LineString(e[5]) for e in EDGES],
        tags=[dict(tags.get(i, {})) for i in range(len(EDGES))],
    )


LIGHT_DIESEL = VehicleInfo("粤BL0001", "light_diesel", "light", "diesel", 4495)
LIGHT_EV = VehicleInfo(
    "粤BD00001", "light_electric", "light", "electric", 4495, frozenset({"SZ-EV-LOGISTICS"})
)
BOX = VehicleInfo("粤BC0001", "box_tail_lift", "medium", "diesel", 7500)
MINI = VehicleInfo("粤BM0001", "mini_ev", "mini", "electric", 2800)
VEHICLES = [LIGHT_DIESEL, LIGHT_EV, BOX, MINI]


def rule(rid: str, effect: str = "no_entry", **kw: Any) -> Rule:
    """A rule of district 440304 with the given fields."""
    return Rule(id=rid, title=rid, district="440304", effect=effect, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class Hours:
    """What a generated opening_hours expression means, for the brute-force oracle."""

    expr: str
    intervals: tuple[tuple[int, int], ...]  # minutes; a > b means across midnight
    weekdays: frozenset[int] | None  # None: every day
    ph_off: bool

    def open_at(self, day: dt.date, t: int) -> bool:
        """Open at second ``t`` of ``day`` (official holidays; make-up days keep their weekday)."""
        if self.ph_off and CAL.is_holiday(day):
            return False
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return False
        m = t / 60
        return any((a <= m < b) if a < b else (m >= a or m < b) for a, b in self.intervals)


def _hhmm(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


SELECTORS = {
    "Mo-Fr": frozenset(range(5)),
    "Sa,Su": frozenset({5, 6}),
    "Mo-Sa": frozenset(range(6)),
    "Tu,Th": frozenset({1, 3}),
    "Su": frozenset({6}),
}


@st.composite
def hours_st(draw: st.DrawFn) -> Hours:
    """Random opening_hours: 24/7, one interval across midnight, or up to 3 intervals with an
    optional weekday selector and ``PH off``."""
    kind = draw(st.sampled_from(["plain", "plain", "selector", "wrap", "always"]))
    if kind == "always":
        return Hours("24/7", ((0, 1440),), None, False)
    if kind == "wrap":
        a = draw(st.integers(13 * 4, 95)) * 15
        b = draw(st.integers(1, 11 * 4)) * 15
        return Hours(f"{_hhmm(a)}-{_hhmm(b)}", ((a, b),), None, False)
    ivs = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(0, 95)) * 15
        b = draw(st.integers(a // 15 + 1, 96)) * 15
        ivs.append((a, b))
    text = ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in ivs)
    sel = draw(st.sampled_from([None, *SELECTORS])) if kind == "selector" else None
    ph_off = draw(st.booleans()) if kind == "selector" else False
    expr = (f"{sel} " if sel else "") + text + ("; PH off" if ph_off else "")
    return Hours(expr, tuple(ivs), SELECTORS[sel] if sel else None, ph_off)


@dataclass(frozen=True)
class Case:
    """Random rules, with what their hours mean."""

    rules: tuple[Rule, ...]
    hours: dict[str, tuple[str, Hours | None]]  # id -> (mode, hours)


DAYS = [
    TUESDAY,
    SATURDAY,
    D(2026, 12, 6),  # Sunday
    D(2026, 10, 5),  # National Day holiday (a Monday)
    D(2026, 10, 10),  # make-up working Saturday
    D(2026, 9, 20),  # make-up working Sunday
    D(2026, 10, 1),  # holiday (a Thursday)
]
VALIDITY_DATES = [D(2026, 9, 21), D(2026, 10, 5), D(2026, 10, 6), TUESDAY, D(2026, 12, 2)]


def _subset(draw: st.DrawFn, items: list[Any], max_size: int = 2) -> frozenset[Any]:
    return frozenset(draw(st.lists(st.sampled_from(items), min_size=1, max_size=max_size)))


@st.composite
def selector_st(draw: st.DrawFn) -> VehicleSelector:
    """Mostly any vehicle; else one criterion (so that rules often bind)."""
    kind = draw(st.sampled_from(["any", "any", "any", "class", "weight", "fuel", "gross"]))
    if kind == "class":
        return VehicleSelector(
            classes=_subset(draw, ["light_diesel", "light_electric", "box_tail_lift"])
        )
    if kind == "weight":
        return VehicleSelector(weight_classes=_subset(draw, ["mini", "light", "medium", "heavy"]))
    if kind == "fuel":
        return VehicleSelector(fuels=_subset(draw, ["diesel", "electric", "petrol"]))
    if kind == "gross":
        return VehicleSelector(min_gross_weight_kg=draw(st.sampled_from([3501, 5000])))
    return VehicleSelector()


@st.composite
def where_st(draw: st.DrawFn) -> Where:
    """Everywhere, or one or two criteria (AND), or a points-only stationing selector."""
    area = draw(st.sampled_from([WEST, EAST, NOWHERE]))
    names = _subset(draw, ["Lianhua Rd", "Shennan Blvd", "Binhe Link", "Garden Ln", "Nope"])
    ways = _subset(draw, [101, 102, 105, 107, 108, 999])
    hws = _subset(draw, ["residential", "primary", "trunk", "service", "living_street"], 3)
    points = frozenset({"CP-001"})
    return draw(
        st.sampled_from(
            [
                Where(),
                Where(area=area),
                Where(highways=hws),
                Where(road_names=names),
                Where(way_ids=ways),
                Where(area=area, highways=hws),
                Where(road_names=names, way_ids=ways),
                Where(points=points),
                Where(points=points, highways=hws),
            ]
        )
    )


@st.composite
def cases(draw: st.DrawFn, yaml_safe: bool = False) -> Case:
    """Up to five random rules (with what their hours mean)."""
    rules, hours = [], {}
    for i in range(draw(st.integers(0, 5))):
        rid = f"R-{i}"
        kinds = ["no_entry", "no_entry", "max_weight", *EFFECTS[:4]]
        if yaml_safe:  # a file refuses points on road rules and roads on stationing rules
            kinds = [k for k in kinds if k != "stationing_allowed"]
        effect = draw(st.sampled_from(kinds))
        mode = draw(st.sampled_from(["when", "when", "except", "always"]))
        h = draw(hours_st()) if mode != "always" else None
        hours[rid] = (mode, h)
        dates = st.one_of(st.none(), st.none(), st.sampled_from(VALIDITY_DATES))
        vf, vt = draw(dates), draw(dates)
        if yaml_safe and vf is not None and vt is not None and vt < vf:
            vf, vt = vt, vf  # a rule file refuses valid_to before valid_from
        mw: float | None = None
        if effect == "max_weight":
            choices = [3.5, 4.5, 8.0] if yaml_safe else [None, 3.5, 4.5, 8.0]
            mw = draw(st.sampled_from(choices))
        rules.append(
            rule(
                rid,
                effect,
                valid_from=vf,
                valid_to=vt,
                vehicles=draw(selector_st()),
                where=dataclasses.replace(draw(where_st()), points=frozenset())
                if yaml_safe
                else draw(where_st()),
                when=h.expr if h is not None and mode == "when" else None,
                except_when=h.expr if h is not None and mode == "except" else None,
                days=draw(st.sampled_from(["all", "all", *DAY_KINDS])),
                max_weight_t=mw,
                exempt_permits=draw(
                    st.sampled_from([frozenset(), frozenset(), frozenset({"SZ-EV-LOGISTICS"})])
                ),
            )
        )
    return Case(tuple(rules), hours)


def _binds(r: Rule, v: VehicleInfo) -> bool:
    s = r.vehicles
    return (
        not (r.exempt_permits & v.permits)
        and (not s.classes or v.vehicle_class in s.classes)
        and (not s.weight_classes or v.weight_class in s.weight_classes)
        and (not s.fuels or v.fuel in s.fuels)
        and v.gross_weight_kg >= s.min_gross_weight_kg
        and (
            r.effect != "max_weight"
            or (r.max_weight_t is not None and v.gross_weight_kg > r.max_weight_t * 1000)
        )
    )


def _in_force(r: Rule, mode: str, h: Hours | None, day: dt.date, t: int) -> bool:
    if r.valid_from is not None and day < r.valid_from:
        return False
    if r.valid_to is not None and day > r.valid_to:
        return False
    if r.days == "workdays" and not CAL.is_workday(day):
        return False
    if r.days == "non_workdays" and CAL.is_workday(day):
        return False
    if mode == "always":
        return True
    assert h is not None
    return h.open_at(day, t) if mode == "when" else not h.open_at(day, t)


def _selects(r: Rule, table: EdgeTable, i: int) -> bool:
    w = r.where
    if w.points and w.area is None and not (w.highways or w.road_names or w.way_ids):
        return False  # a rule about collection points selects no road
    return (
        (w.area is None or table.geoms[i].intersects(w.area))
        and (not w.highways or bool(w.highways & table.highways[i]))
        and (not w.road_names or bool(w.road_names & table.names[i]))
        and (not w.way_ids or bool(w.way_ids & table.way_ids[i]))
    )


def brute_force(
    case: Case, vehicle: VehicleInfo, day: dt.date, table: EdgeTable, t: int
) -> tuple[tuple[str, ...], frozenset[Any]]:
    """Blocking rules in force for ``vehicle`` at second ``t`` of ``day``, and the edges they
    forbid, recomputed from the rules one by one."""
    ids, forbidden = [], set()
    for r in case.rules:
        mode, h = case.hours[r.id]
        if r.effect not in ("no_entry", "max_weight") or not _binds(r, vehicle):
            continue
        if not _in_force(r, mode, h, day, t):
            continue
        ids.append(r.id)
        forbidden |= {(table.u[i], table.v[i]) for i in range(len(table)) if _selects(r, table, i)}
    return tuple(sorted(ids)), frozenset(forbidden)


# --------------------------------------------------------------------------- property tests


@settings(max_examples=50, deadline=None, derandomize=True)
@given(case=cases(), data=st.data())
def test_bands_partition_the_day_and_forbid_exactly_what_rules_forbid(
    case: Case, data: st.DataObject
) -> None:
    """For every vehicle and day: bands cover [0, 86400) contiguously and in order, each instant
    in exactly one band; at instants of a band its rules and forbidden edges are exactly those
    of a brute-force evaluation of the rules (validity, vehicle, hours, where)."""
    table = make_table()
    rs = RuleSet(case.rules)
    for vehicle, day in itertools.product(VEHICLES, DAYS):
        out = bands(rs, vehicle, day, table)
        assert out and out[0].start == 0 and out[-1].end == DAY_S
        assert all(b.start < b.end for b in out)
        for x, y in itertools.pairwise(out):
            assert x.end == y.start
            assert x.rules != y.rules  # bands are maximal: neighbours differ
        t = data.draw(st.integers(0, DAY_S - 1), label="instant")
        assert sum(b.contains(t) for b in out) == 1
        for b in out:
            t_random = data.draw(st.integers(b.start, b.end - 1), label="t")
            for t in {b.start, b.end - 1, t_random}:
                ids, forbidden = brute_force(case, vehicle, day, table, t)
                assert b.rules == ids, (vehicle.plate, day, b, t)
                assert b.forbidden == forbidden, (vehicle.plate, day, b, t)
                for r in case.rules:  # active_intervals agrees with the oracle, rule by rule
                    mode, h = case.hours[r.id]
                    got = any(a <= t < e for a, e in active_intervals(r, day))
                    assert got == _in_force(r, mode, h, day, t), (r.id, day, t)
            # blocking_rules_at agrees with the band, edge by edge
            for i in range(len(table)):
                got_ids = {r.id for r in blocking_rules_at(rs, vehicle, day, t_random, table, i)}
                assert got_ids == {
                    r.id for r in case.rules if r.id in b.rules and _selects(r, table, i)
                }


def _yaml_rule(r: Rule) -> dict[str, Any]:
    w = r.where
    where: dict[str, Any] = {
        "highways": sorted(w.highways),
        "road_names": sorted(w.road_names),
        "way_ids": sorted(w.way_ids),
        "points": sorted(w.points),
    }
    if w.area is not None:
        where["polygon"] = [list(p) for p in w.area.exterior.coords]
    out: dict[str, Any] = {
        "id": r.id,
        "effect": r.effect,
        "days": r.days,
        "vehicles": {
            "classes": sorted(r.vehicles.classes),
            "weight_classes": sorted(r.vehicles.weight_classes),
            "fuels": sorted(r.vehicles.fuels),
            "min_gross_weight_kg": r.vehicles.min_gross_weight_kg,
        },
        "where": where,
        "exempt_permits": sorted(r.exempt_permits),
    }
    for k in ("valid_from", "valid_to"):
        if getattr(r, k) is not None:
            out[k] = getattr(r, k).isoformat()
    for k in ("when", "except_when", "max_weight_t"):
        if getattr(r, k) is not None:
            out[k] = getattr(r, k)
    return out


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=cases(yaml_safe=True), vehicle=st.sampled_from(VEHICLES), day=st.sampled_from(DAYS))
def test_rules_read_from_yaml_give_the_same_bands(
    case: Case, vehicle: VehicleInfo, day: dt.date
) -> None:
    """The same rules written as a YAML file and parsed give the same bands as Rule objects."""
    text = yaml.safe_dump(
        {"district": "440304", "rules": [_yaml_rule(r) for r in case.rules]}, allow_unicode=True
    )
    parsed = parse_rules_text(text, "gen.yaml")
    assert [r.id for r in parsed.rules] == [r.id for r in case.rules]
    direct = bands(RuleSet(case.rules), vehicle, day, make_table())
    read = bands(parsed, vehicle, day, make_table())
    assert read == direct


# --------------------------------------------------------------------------- rules, unit by unit


def test_active_intervals_when_except_days_and_validity() -> None:
    """``when`` gives its windows, ``except_when`` their complement; ``days`` and validity
    dates switch the rule off for the whole day."""
    peak = rule("P", when="07:00-09:30,17:00-20:00", days="workdays")
    assert active_intervals(peak, TUESDAY) == [
        (hm("07:00"), hm("09:30")),
        (hm("17:00"), hm("20:00")),
    ]
    assert active_intervals(peak, SATURDAY) == []
    market = rule("M", except_when="10:00-11:00,14:00-15:00")
    assert active_intervals(market, TUESDAY) == [
        (0, hm("10:00")),
        (hm("11:00"), hm("14:00")),
        (hm("15:00"), DAY_S),
    ]
    assert active_intervals(rule("A"), TUESDAY) == [(0, DAY_S)]
    assert active_intervals(rule("N", days="non_workdays"), D(2026, 10, 5)) == [(0, DAY_S)]
    assert active_intervals(rule("N", days="non_workdays"), TUESDAY) == []
    dated = rule("V", valid_from=D(2026, 12, 2), valid_to=D(2026, 12, 31))
    assert active_intervals(dated, TUESDAY) == []
    assert active_intervals(dated, D(2026, 12, 2)) == [(0, DAY_S)]
    assert active_intervals(dated, D(2026, 12, 31)) == [(0, DAY_S)]
    assert active_intervals(dated, D(2027, 1, 1)) == []
    night = rule("X", when="22:00-06:00")
    assert active_intervals(night, TUESDAY) == [(0, hm("06:00")), (hm("22:00"), DAY_S)]


def test_edge_mask_ands_criteria_and_ors_list_items() -> None:
    """A rule's where-criteria must all hold (AND); each list is any-of (OR); a points-only
    rule selects no road; no criterion selects every edge."""
    t = make_table()

    def sel(**kw: Any) -> list[int]:
        return np.flatnonzero(
            edge_mask(rule(str(sorted(kw.items())), where=Where(**kw)), t)
        ).tolist()

    assert sel() == list(range(len(EDGES)))
    assert sel(highways=frozenset({"primary", "residential"})) == [0, 1, 2, 3]
    assert sel(
        highways=frozenset({"primary", "residential"}), road_names=frozenset({"Shennan Blvd"})
    ) == [2, 3]
    assert sel(way_ids=frozenset({105})) == [6]  # any of an edge's merged ways
    assert sel(area=WEST) == [0, 1, 2, 3, 4, 5]
    assert sel(area=WEST, highways=frozenset({"residential"})) == [0, 1]
    assert sel(area=EAST) == [7, 8, 9]
    assert sel(area=NOWHERE) == []
    assert sel(points=frozenset({"CP-001"})) == []
    assert sel(points=frozenset({"CP-001"}), highways=frozenset({"secondary"})) == [9]


def test_max_weight_and_permits_decide_who_a_rule_binds() -> None:
    """max_weight binds only vehicles heavier than the limit; an exempting permit frees a van."""
    mw = rule("W", "max_weight", max_weight_t=4.5)
    assert not mw.applies_to(LIGHT_DIESEL)  # 4.495 t
    assert mw.applies_to(BOX)  # 7.5 t
    assert not rule("W0", "max_weight").applies_to(BOX)  # no limit given: binds nobody
    peak = rule(
        "P",
        vehicles=VehicleSelector(weight_classes=frozenset({"light", "medium"})),
        exempt_permits=frozenset({"SZ-EV-LOGISTICS"}),
    )
    assert peak.applies_to(LIGHT_DIESEL) and peak.applies_to(BOX)
    assert not peak.applies_to(LIGHT_EV) and not peak.applies_to(MINI)
    hgv = rule("H", vehicles=VehicleSelector(min_gross_weight_kg=3501))
    assert hgv.applies_to(LIGHT_DIESEL) and not hgv.applies_to(MINI)


def test_peak_ban_bands_for_a_diesel_van_a_permit_holder_and_a_saturday() -> None:
    """A workday peak ban on primary/trunk roads gives five bands for a light diesel van on a
    Tuesday; none for an EV with the permit, nor on a Saturday."""
    peak = rule(
        "FT-PEAK-X",
        vehicles=VehicleSelector(weight_classes=frozenset({"light", "medium"})),
        where=Where(highways=frozenset({"primary", "trunk"})),
        when="07:00-09:30,17:00-20:00",
        days="workdays",
        exempt_permits=frozenset({"SZ-EV-LOGISTICS"}),
    )
    rs = RuleSet((peak,))
    out = bands(rs, LIGHT_DIESEL, TUESDAY, make_table())
    assert [(b.start, b.end) for b in out] == [
        (0, hm("07:00")),
        (hm("07:00"), hm("09:30")),
        (hm("09:30"), hm("17:00")),
        (hm("17:00"), hm("20:00")),
        (hm("20:00"), DAY_S),
    ]
    assert [b.rules for b in out] == [(), ("FT-PEAK-X",), (), ("FT-PEAK-X",), ()]
    assert out[1].forbidden == {(2, 3), (3, 2), (4, 5)}
    assert out[0].forbidden == frozenset()
    for v, day in ((LIGHT_EV, TUESDAY), (LIGHT_DIESEL, SATURDAY)):
        only = bands(rs, v, day, make_table())
        assert [(b.start, b.end, b.forbidden) for b in only] == [(0, DAY_S, frozenset())]
    # A make-up working Sunday is a workday: the ban applies.
    assert len(bands(rs, LIGHT_DIESEL, D(2026, 9, 20), make_table())) == 5


def test_stationing_windows_narrower_rule_wins_equal_ones_unite() -> None:
    """No covering stationing rule -> None; a rule naming the point overrides the
    district-wide one; rules of equal specificity unite their windows."""
    district = box(114.0, 22.49, 114.02, 22.51)
    a = rule(
        "S-1", "stationing_allowed", where=Where(area=district), when="Mo-Sa 09:00-11:30; PH off"
    )
    b = rule(
        "S-2",
        "stationing_allowed",
        where=Where(points=frozenset({"CP-7"})),
        when="11:00-12:00,15:00-16:00",
    )
    rs = RuleSet((a, b, rule("N", "no_entry")))
    assert stationing_windows(rs, TUESDAY, "CP-1", 114.01, 22.50) == [(hm("09:00"), hm("11:30"))]
    assert stationing_windows(rs, TUESDAY, "CP-7", 114.01, 22.50) == [
        (hm("11:00"), hm("12:00")),
        (hm("15:00"), hm("16:00")),
    ]
    c = rule(
        "S-3", "stationing_allowed", where=Where(points=frozenset({"CP-7"})), when="08:00-09:30"
    )
    rs2 = RuleSet((a, b, c))
    assert stationing_windows(rs2, TUESDAY, "CP-7", 114.01, 22.50) == [
        (hm("08:00"), hm("09:30")),
        (hm("11:00"), hm("12:00")),
        (hm("15:00"), hm("16:00")),
    ]
    assert stationing_windows(rs, TUESDAY, "CP-1", 113.5, 22.50) is None  # outside the area
    assert stationing_windows(rs, D(2026, 10, 5), "CP-1", 114.01, 22.50) == []  # PH off
    assert stationing_windows(RuleSet(()), TUESDAY, "CP-1", 114.01, 22.50) is None


def test_no_stopping_overlap_semantics() -> None:
    """A stop is banned when it overlaps the no-stopping hours on a selected road, even partly;
    touching the boundary is not an overlap; other roads and exempt vans are unaffected."""
    ns = rule(
        "NS",
        "no_stopping",
        where=Where(highways=frozenset({"primary"})),
        when="07:00-09:00",
        exempt_permits=frozenset({"SZ-EV-LOGISTICS"}),
    )
    rs, t = RuleSet((ns,)), make_table()

    def banned(edge: int, a: str, b: str, v: VehicleInfo = LIGHT_DIESEL) -> bool:
        return bool(no_stopping_rules(rs, v, TUESDAY, t, edge, hm(a), hm(b)))

    assert banned(2, "08:50", "09:10")
    assert banned(2, "06:50", "07:01")
    assert not banned(2, "09:00", "09:30")
    assert not banned(2, "06:30", "07:00")
    assert not banned(4, "08:00", "08:10")
    assert not banned(2, "08:00", "08:10", LIGHT_EV)
    ok = stopping_edges(rs, LIGHT_DIESEL, TUESDAY, t, hm("08:00"), hm("08:10"))
    assert np.flatnonzero(~ok).tolist() == [2, 3]
    assert stopping_edges(rs, LIGHT_DIESEL, TUESDAY, t, hm("10:00"), hm("10:10")).all()


def test_intersect_of_interval_lists() -> None:
    """intersect() returns the overlap of two sorted interval lists, dropping empty pieces."""
    assert intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert intersect([(0, 10)], [(10, 20)]) == []
    assert intersect([], [(0, 5)]) == []


# --------------------------------------------------------------------------- calendar and hours


def test_official_calendar_holidays_and_makeup_days() -> None:
    """The shipped calendar: National Day week off, make-up Saturdays/Sundays are workdays."""
    assert CAL.is_holiday(D(2026, 10, 5)) and not CAL.is_workday(D(2026, 10, 5))
    assert D(2026, 10, 10).weekday() == 5 and CAL.is_workday(D(2026, 10, 10))
    assert D(2026, 9, 20).weekday() == 6 and CAL.is_workday(D(2026, 9, 20))
    assert CAL.is_makeup_workday(D(2026, 9, 20)) and not CAL.is_holiday(D(2026, 9, 20))
    assert CAL.is_workday(D(2026, 12, 1))
    assert not CAL.is_workday(D(2026, 12, 5))
    assert not CAL.is_workday(D(2026, 10, 2))
    assert CAL.is_holiday(D(2026, 2, 15)) and CAL.is_holiday(D(2026, 2, 23))  # 春节 range
    assert not CAL.is_holiday(D(2026, 2, 24))


def test_day_windows_with_ph_off_and_makeup_days() -> None:
    """``Mo-Sa 09:00-11:30; PH off`` is closed on a holiday Monday and open on a make-up Saturday
    (a Saturday); a make-up Sunday is a Sunday for ``Mo-Fr``; ordinary Sundays are closed."""
    expr = "Mo-Sa 09:00-11:30; PH off"
    assert day_windows(expr, D(2026, 10, 5)) == []
    assert day_windows(expr, D(2026, 10, 10)) == [(hm("09:00"), hm("11:30"))]
    assert day_windows(expr, TUESDAY) == [(hm("09:00"), hm("11:30"))]
    assert day_windows(expr, D(2026, 12, 6)) == []
    assert day_windows("Mo-Fr 07:00-09:00", D(2026, 9, 20)) == []
    assert day_windows("PH 10:00-12:00; Mo-Fr 08:00-09:00", D(2026, 10, 5)) == [
        (hm("10:00"), hm("12:00"))
    ]
    assert day_windows("PH 10:00-12:00; Mo-Fr 08:00-09:00", TUESDAY) == [(hm("08:00"), hm("09:00"))]


def test_workdays_rule_follows_the_official_calendar() -> None:
    """A ``days: workdays`` rule is in force on the make-up Sunday 2026-09-20 and not on the
    National Day holiday 2026-10-02 (a Friday)."""
    r = parse_rules_text(
        'district: "440304"\nrules:\n  - {id: W-1, effect: no_entry, when: "08:00-09:00", days: workdays}\n',
        "w.yaml",
    ).rules[0]
    assert active_intervals(r, D(2026, 9, 20)) == [(hm("08:00"), hm("09:00"))]
    assert active_intervals(r, D(2026, 10, 2)) == []


# --------------------------------------------------------------------------- OSM tags


def test_parse_conditional_splits_values_and_conditions() -> None:
    """``value @ (condition); ...`` splits on ';' outside parentheses."""
    assert parse_conditional("no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)") == [
        ("no", "Mo-Fr 07:00-09:00"),
        ("delivery", "22:00-06:00"),
    ]
    assert parse_conditional("no @ (Mo-Fr 07:00-09:00; Sa 08:00-10:00)") == [
        ("no", "Mo-Fr 07:00-09:00; Sa 08:00-10:00")
    ]
    assert parse_conditional("3.5 @ 22:00-06:00") == [("3.5", "22:00-06:00")]
    assert parse_conditional("garbage") == []


OSM_TAGS = {
    4: {"hgv:conditional": "no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)"},
    5: {"hgv:conditional": "no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)"},
    9: {"maxweight:conditional": "3.5 @ (22:00-06:00)", "motor_vehicle:conditional": "no @ (snow)"},
    0: {"maxweight": "10 t"},
}


def _forbidden_over_day(
    rs: RuleSet, v: VehicleInfo, day: dt.date, pair: tuple[int, int]
) -> list[tuple[int, int]]:
    """When ``pair`` is forbidden to ``v`` on ``day``, adjacent bands merged."""
    out: list[tuple[int, int]] = []
    for b in bands(rs, v, day, make_table(OSM_TAGS)):
        if pair in b.forbidden:
            if out and out[-1][1] == b.start:
                out[-1] = (out[-1][0], b.end)
            else:
                out.append((b.start, b.end))
    return out


def test_rules_from_conditional_tags() -> None:
    """Each distinct set of access tags becomes one osm_access rule over its edges; the
    conditional values bind only in their hours and only vehicles the key speaks for
    (hgv: over 3.5 t); 'delivery' is destination-only (the planner never drives through,
    the replay accepts it at a leg's ends); non-time conditions are reported, not used."""
    rs, skipped = rules_from_tags(make_table(OSM_TAGS))
    assert all(r.effect == "osm_access" and r.district == "*" for r in rs.rules)
    by_edges = {tuple(sorted(r.where.edges)): r for r in rs.rules}
    assert set(by_edges) == {(0,), (4, 5), (9,)}
    hgv = by_edges[(4, 5)]
    assert hgv.id.startswith("osm:hgv:conditional=") and dict(hgv.osm_tags)["hgv:conditional"]
    assert len(skipped) == 1 and "snow" in skipped[0] and "6->7" in skipped[0]
    # A 7.5 t box truck: closed in the tagged hours, destination-only at night (planner view).
    night = [(0, hm("06:00")), (hm("07:00"), hm("09:00")), (hm("22:00"), DAY_S)]
    assert _forbidden_over_day(rs, BOX, TUESDAY, (3, 4)) == night
    assert _forbidden_over_day(rs, BOX, TUESDAY, (4, 3)) == night
    assert _forbidden_over_day(rs, BOX, SATURDAY, (3, 4)) == [
        (0, hm("06:00")),
        (hm("22:00"), DAY_S),
    ]
    # The replay's view: only the 'no' hours block; destination is judged per leg.
    table = make_table(OSM_TAGS)
    assert blocking_rules_at(rs, BOX, TUESDAY, hm("08:00"), table, 4)
    assert not blocking_rules_at(rs, BOX, TUESDAY, hm("23:00"), table, 4)
    # motor_vehicle:conditional=no @ (snow): a condition we cannot tell -> closed all day
    assert _forbidden_over_day(rs, BOX, TUESDAY, (6, 7)) == [(0, DAY_S)]
    assert _forbidden_over_day(rs, LIGHT_DIESEL, TUESDAY, (3, 4)) == night
    # 2.8 t: neither an hgv nor over the 3.5 t limit; only the 'snow' edge is closed.
    assert all(b.forbidden == {(6, 7)} for b in bands(rs, MINI, TUESDAY, make_table(OSM_TAGS)))
    # Untagged roads stay open.
    assert _forbidden_over_day(rs, BOX, TUESDAY, (2, 3)) == []


def test_file_rule_and_tag_on_the_same_edge_the_stricter_wins() -> None:
    """Where a rule file and an OSM tag both restrict an edge, both apply: the forbidden time is
    their union, and a lower tag weight limit wins over a higher file limit (and vice versa)."""
    osm, _ = rules_from_tags(make_table(OSM_TAGS))
    file_rules = parse_rules_text(
        """
district: "440304"
rules:
  - {id: F-1, effect: no_entry, where: {way_ids: [103]}, when: "08:00-10:00", vehicles: {weight_classes: [medium]}}
  - {id: F-2, effect: max_weight, max_weight_t: 20, where: {way_ids: [108]}}
  - {id: F-3, effect: max_weight, max_weight_t: 5, where: {way_ids: [101]}}
""",
        "f.yaml",
    )
    rs = file_rules + osm
    assert rs.for_district("440304").rules == rs.rules  # OSM rules (district '*') are kept
    assert _forbidden_over_day(rs, BOX, TUESDAY, (3, 4)) == [
        (0, hm("06:00")),  # hgv=delivery at night: destination-only, never driven through
        (hm("07:00"), hm("10:00")),
        (hm("22:00"), DAY_S),
    ]
    at_0830 = next(
        b for b in bands(rs, BOX, TUESDAY, make_table(OSM_TAGS)) if b.contains(hm("08:30"))
    )
    assert "F-1" in at_0830.rules and any(
        r.startswith("osm:hgv:conditional") for r in at_0830.rules
    )
    # way 108: file allows 20 t, the tag 3.5 t at night (and closed in 'snow', a condition
    # we cannot tell, so all day) -> the tags win
    assert _forbidden_over_day(rs, BOX, TUESDAY, (6, 7)) == [(0, DAY_S)]
    # way 101: the tag allows 10 t, the file 5 t -> the file wins all day for a 7.5 t truck
    assert _forbidden_over_day(rs, BOX, TUESDAY, (1, 2)) == [(0, DAY_S)]
    assert _forbidden_over_day(rs, LIGHT_DIESEL, TUESDAY, (1, 2)) == []


@pytest.mark.parametrize(
    ("expr", "day", "expected"),
    [
        ("Mo-Sa 09:00-11:30, PH off", "2026-10-05", []),  # additional-rule comma before PH off
        ("Mo-Sa 09:00-11:30, PH off", "2026-12-01", [(32400, 41400)]),
        ("Mo,We,Fr 09:00-11:30", "2026-12-02", [(32400, 41400)]),  # a weekday list is not split
        ("Mo,We,Fr 09:00-11:30", "2026-12-01", []),
        ("Mo-Fr 09:00-11:30, 14:00-15:00", "2026-12-02", [(32400, 41400), (50400, 54000)]),
    ],
)
def test_rule_separators_and_weekday_lists(
    expr: str, day: str, expected: list[tuple[int, int]]
) -> None:
    """Commas separate rules only between a time and a day selector, never inside a weekday list."""
    import datetime as _dt

    from road_rules.hours import day_windows as _dw

    assert _dw(expr, _dt.date.fromisoformat(day)) == expected
