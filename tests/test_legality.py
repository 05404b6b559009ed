"""The legality replay (road_rules.legality.check_plan): each violation type is reported with
the right rule id on a hand-made route, and its fixed twin is legal; the demo plans are legal
under the shipped rules and a diesel route moved into the workday peak is caught."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, box, shape

from road_rules.edges import EdgeTable
from road_rules.legality import Violation, check_plan
from road_rules.model import RuleSet
from road_rules.osm_tags import rules_from_tags
from road_rules.parse import load_rules, parse_rules_text
from routing.network import RoadNetwork
from routing.rules_bridge import edge_table

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-12-01"  # a Tuesday (a workday)
TZ = dt.timezone(dt.timedelta(hours=8))

# --------------------------------------------------------------------------- a synthetic district

NODES = {
    1: (114.000, 22.500),
    2: (114.002, 22.500),
    3: (114.004, 22.500),
    4: (114.006, 22.500),
    5: (114.003, 22.499),
    6: (114.006, 22.502),
    7: (114.008, 22.502),
}
# Two-way roads: (a, b, way id, highway, name)
ROADS = [
    (1, 2, 101, "residential", "Lianhua Rd"),
    (2, 3, 102, "primary", "Shennan Blvd"),
    (3, 4, 103, "tertiary", "Futian St"),
    (2, 5, 105, "tertiary", "Side St"),
    (5, 3, 106, "tertiary", "Side St"),
    (4, 6, 107, "service", None),
    (6, 7, 108, "residential", "Garden Ln"),
    (3, 6, 109, "secondary", "Old Bridge Rd"),
]
DISTRICT = box(113.99, 22.49, 114.02, 22.51)

RULES_YAML = """
district: "440304"
rules:
  - id: T-PEAK
    title: light and medium trucks banned on primary roads at workday peaks
    vehicles: {weight_classes: [light, medium]}
    where: {highways: [primary]}
    when: "07:00-09:30,17:00-20:00"
    days: workdays
    effect: no_entry
    exempt_permits: [SZ-EV-LOGISTICS]
  - id: T-BRIDGE
    title: old bridge, 3.5 t limit
    where: {way_ids: [109]}
    effect: max_weight
    max_weight_t: 3.5
  - id: T-NOSTOP
    title: no stopping on primary roads
    where: {highways: [primary]}
    when: "24/7"
    effect: no_stopping
  - id: T-STATION
    title: stationing Mo-Sa 09:00-11:30, 14:30-17:00, not on public holidays
    where: {district: true}
    when: "Mo-Sa 09:00-11:30,14:30-17:00; PH off"
    effect: stationing_allowed
"""


def make_table() -> EdgeTable:
    """Both directions of every road, as the routing bridge would hand them over."""
    rows = []
    for a, b, way, hw, name in ROADS:
        rows += [(a, b, way, hw, name), (b, a, way, hw, name)]
    return EdgeTable(
        u=[r[0] for r in rows],
        v=[r[1] for r in rows],
        way_ids=[frozenset({r[2]}) for r in rows],
        highways=[frozenset({r[3]}) for r in rows],
        names=[frozenset({r[4]}) if r[4] else frozenset() for r in rows],
        geoms=[LineString([NODES[r[0]], NODES[r[1]]]) for r in rows],
        tags=[{} for _ in rows],
    )


def make_rules() -> RuleSet:
    """The synthetic district's rule file."""
    return parse_rules_text(RULES_YAML, "test-rules.yaml", district_areas={"440304": DISTRICT})


def t(hhmm: str) -> str:
    """'HH:MM[:SS]' on the plan day as ISO-8601 +08:00."""
    parts = [int(x) for x in hhmm.split(":")] + [0]
    return dt.datetime(2026, 12, 1, parts[0], parts[1], parts[2], tzinfo=TZ).isoformat()


def leg(
    start_edge: list[int], nodes: list[int], times: list[str], end_edge: list[int], dur: int
) -> dict[str, Any]:
    """A leg: leave along ``start_edge``, enter ``nodes[i]`` at ``times[i]``, stop on ``end_edge``."""
    return {
        "duration_s": dur,
        "distance_m": 200 * max(len(nodes), 1),
        "nodes": nodes,
        "enter_times": [t(x) for x in times],
        "start_edge": start_edge,
        "end_edge": end_edge,
    }


def stop(
    kind: str,
    sid: str,
    node: int,
    arr: str,
    start: str,
    dep: str,
    kg: float = 0,
    m3: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """A stop of plan JSON."""
    lon, lat = NODES[node]
    return {
        "kind": kind,
        "id": sid,
        "name": sid,
        "lat": lat,
        "lon": lon,
        "node": node,
        "arrival": t(arr),
        "start": t(start),
        "departure": t(dep),
        "load_after": {"kg": kg, "m3": m3},
        "materials": [],
        **extra,
    }


def booking(ref: str, *items: tuple[str, float, float]) -> dict[str, Any]:
    """A pickup's booking as dispatch.export writes it: the replay loads the van from it."""
    return {
        "reference": ref,
        "materials": [{"material": a, "kg": kg, "m3": m3} for a, kg, m3 in items],
        "est_kg": float(sum(x[1] for x in items)),
        "est_m3": float(sum(x[2] for x in items)),
    }


def vehicle(plate: str = "粤BL0001", **kw: Any) -> dict[str, Any]:
    """A light diesel van as dispatch.export writes it."""
    v = {
        "plate": plate,
        "class": "light_diesel",
        "fuel": "diesel",
        "tail_lift": False,
        "capacity_kg": 1500,
        "capacity_m3": 8.0,
        "depot": "DEP-1",
        "shift": {"start": t("07:30"), "end": t("18:00")},
        "weight_class": "light",
        "gross_weight_kg": 4495,
        "height_m": 2.9,
        "width_m": 2.05,
        "length_m": 5.99,
        "permits": [],
        "break": {"start": t("12:00"), "end": t("14:00"), "minutes": 30},
    }
    v.update(kw)
    return v


def test_a_vehicle_whose_dimensions_the_plan_leaves_out_cannot_be_checked() -> None:
    """Height, width, length, weight, weight class and fuel decide which rules bind: a plan
    that leaves one out (or states 0) is refused, naming the missing facts."""
    plan = legal_plan()
    v = plan["vehicles"][0]
    del v["height_m"]
    v["gross_weight_kg"] = 0
    (found,) = replay(plan)
    assert found.rule == "vehicle" and "gross_weight_kg, height_m" in found.message


def legal_plan() -> dict[str, Any]:
    """One legal route: depot, pickup, stationing, pickup, break, unload, depot."""
    stops = [
        stop("depot", "DEP-1", 1, "07:30", "08:00", "08:00"),
        stop(
            "pickup",
            "BK-1",
            4,
            "08:05",
            "08:05",
            "08:20",
            300,
            1.0,
            windows=[[t("08:00"), t("09:00")]],
            materials=["paper"],
            booking=booking("BK-1", ("paper", 300, 1.0)),
            # Around the primary road (2->3) during the peak: 2 -> 5 -> 3.
            leg=leg(
                [2, 1], [1, 2, 5, 3], ["08:00:30", "08:01:30", "08:02:30", "08:03:30"], [3, 4], 300
            ),
        ),
        stop(
            "station",
            "CP-1",
            7,
            "08:55",
            "09:00",
            "09:45",
            500,
            3.0,
            windows=[[t("09:00"), t("11:30")], [t("14:30"), t("17:00")]],
            materials=["paper", "metal"],
            collection_point={"compound": "CP-1", "expected_kg": 200, "expected_m3": 2.0},
            # Not over the 3.5 t bridge (3->6): 4 -> 6.
            leg=leg([3, 4], [4, 6], ["08:50", "08:52"], [6, 7], 240),
        ),
        stop(
            "pickup",
            "BK-2",
            5,
            "10:08",
            "10:08",
            "10:30",
            650,
            3.5,
            windows=[[t("10:00"), t("12:00")]],
            materials=["metal"],
            booking=booking("BK-2", ("metal", 150, 0.5)),
            leg=leg(
                [6, 7], [7, 6, 4, 3, 5], ["10:00", "10:01", "10:02", "10:03", "10:04"], [5, 2], 400
            ),
        ),
        stop(
            "break",
            "break",
            5,
            "12:30",
            "12:30",
            "13:00",
            650,
            3.5,
            leg=leg([5, 2], [], [], [5, 2], 0),
        ),
        stop(
            "unload",
            "TS-01",
            6,
            "15:05",
            "15:05",
            "15:25",
            # The primary road is fine outside the peak.
            leg=leg([5, 2], [2, 3, 4], ["15:00", "15:01", "15:03"], [4, 6], 300),
        ),
        stop(
            "depot",
            "DEP-1",
            1,
            "15:35",
            "15:35",
            "15:35",
            leg=leg(
                [4, 6], [6, 4, 3, 5, 2], ["15:26", "15:27", "15:28", "15:29", "15:30"], [2, 1], 360
            ),
        ),
    ]
    for i, s in enumerate(stops):
        s["seq"] = i
    return {
        "format": "loopvan-plan/1",
        "plan": {"id": 1, "date": DAY, "utc_offset": "+08:00", "district": {"code": "440304"}},
        "vehicles": [vehicle()],
        "facilities": [
            {
                "id": "TS-01",
                "accepts": ["glass", "metal", "paper", "plastic"],
                "open": [[t("07:00"), t("21:00")]],
            }
        ],
        "routes": [{"vehicle": "粤BL0001", "stops": stops}],
        "unassigned": [],
    }


def replay(plan: dict[str, Any]) -> list[Violation]:
    """check_plan with the synthetic graph and rules."""
    table = make_table()
    pairs = set(zip(table.u, table.v, strict=True))
    return check_plan(plan, has_edge=lambda a, b: (a, b) in pairs, rules=make_rules(), edges=table)


def rule_ids(plan: dict[str, Any]) -> list[str]:
    """The sorted rule ids of every violation in ``plan``."""
    return sorted(v.rule for v in replay(plan))


def stops_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The stops of the only route."""
    return plan["routes"][0]["stops"]


# --------------------------------------------------------------------------- the legal route


def test_the_hand_made_route_is_legal() -> None:
    """The base route breaks nothing: it detours around the peak ban and the weight limit,
    stations inside the windows, stops off the primary road, takes its break, ends empty."""
    assert replay(legal_plan()) == []


def test_without_rules_or_graph_road_rights_are_not_checked() -> None:
    """With no rules/edges given, only the plan's own facts are checked (a peak use passes)."""
    plan = legal_plan()
    stops_of(plan)[1]["leg"] = leg(
        [2, 1], [1, 2, 3], ["08:00:30", "08:01:30", "08:03:30"], [3, 4], 300
    )
    assert check_plan(plan) == []
    assert rule_ids(plan) == ["T-PEAK"]


# --------------------------------------------------------------------------- edges used while forbidden


def test_primary_road_in_the_peak_is_reported_with_the_no_entry_rule_id() -> None:
    """Driving the primary road 2->3 at 08:01:30 on a workday breaks T-PEAK (cited with the
    edge, the stop and the time); the same van detouring via 2->5->3 is legal."""
    plan = legal_plan()
    stops_of(plan)[1]["leg"] = leg(
        [2, 1], [1, 2, 3], ["08:00:30", "08:01:30", "08:03:30"], [3, 4], 300
    )
    (v,) = replay(plan)
    assert (v.rule, v.vehicle, v.stop, v.at) == ("T-PEAK", "粤BL0001", "pickup:BK-1", t("08:01:30"))
    assert "2->3" in v.message and "Shennan Blvd" in v.message
    assert replay(legal_plan()) == []


def test_the_peak_ban_spares_permit_holders() -> None:
    """The same peak-hour use of the primary road is legal for an EV holding SZ-EV-LOGISTICS."""
    plan = legal_plan()
    stops_of(plan)[1]["leg"] = leg(
        [2, 1], [1, 2, 3], ["08:00:30", "08:01:30", "08:03:30"], [3, 4], 300
    )
    plan["vehicles"] = [vehicle(fuel="electric", permits=["SZ-EV-LOGISTICS"])]
    assert replay(plan) == []


def test_weight_limited_bridge_is_reported_with_the_max_weight_rule_id() -> None:
    """A 4.5 t van over the 3.5 t bridge (3->6) breaks T-BRIDGE; via 4->6 it is legal, and a
    2.8 t van may take the bridge."""
    plan = legal_plan()
    stops_of(plan)[2]["leg"] = leg([3, 4], [4, 3, 6], ["08:50", "08:51", "08:52"], [6, 7], 240)
    (v,) = replay(plan)
    assert (v.rule, v.stop, v.at) == ("T-BRIDGE", "station:CP-1", t("08:51"))
    assert "3->6" in v.message and "Old Bridge Rd" in v.message
    plan["vehicles"] = [vehicle(gross_weight_kg=2800, weight_class="mini")]
    assert replay(plan) == []


def test_a_destination_only_road_may_end_a_leg_but_not_be_driven_through() -> None:
    """With Garden Ln 6->7 tagged access=destination, the route stays legal: the stationing
    visit CP-1 is reached along it and the leg to BK-2 leaves along it. Tagging 5->3 instead,
    which the leg to BK-1 drives through (2->5->3 and on to 3->4), is a violation citing the
    OSM rule."""
    for pair, bad in (((6, 7), False), ((5, 3), True)):
        table = make_table()
        i = next(k for k in range(len(table)) if (table.u[k], table.v[k]) == pair)
        table.tags[i] = {"access": "destination", "highway": "tertiary"}
        osm, _ = rules_from_tags(table)
        pairs = set(zip(table.u, table.v, strict=True))
        out = check_plan(
            legal_plan(),
            has_edge=lambda a, b, pairs=pairs: (a, b) in pairs,
            rules=make_rules() + osm,
            edges=table,
        )
        if not bad:
            assert out == []
        else:
            (v,) = out
            assert (v.rule, v.stop, v.at) == (
                "osm:access=destination#1",
                "pickup:BK-1",
                t("08:02:30"),
            )
            assert "5->3" in v.message


# --------------------------------------------------------------------------- windows and stationing


def test_pickup_outside_its_booked_window() -> None:
    """A pickup served 08:05-08:20 against a booked window 08:30-09:30 is a 'window'
    violation; waiting until 08:30 fixes it."""
    plan = legal_plan()
    stops_of(plan)[1]["windows"] = [[t("08:30"), t("09:30")]]
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("window", "pickup:BK-1")
    s = stops_of(plan)[1]
    s["start"], s["departure"] = t("08:30"), t("08:45")
    assert replay(plan) == []


def test_stationing_outside_the_district_windows_cites_the_stationing_rule() -> None:
    """Stationing 08:25-08:55 is inside the point's own window (08:00-11:30) but outside the
    district's stationing windows: reported as T-STATION, not 'window'."""
    plan = legal_plan()
    s = stops_of(plan)[2]
    s["leg"] = leg([3, 4], [4, 6], ["08:21", "08:23"], [6, 7], 240)
    s["arrival"], s["start"], s["departure"] = t("08:25"), t("08:25"), t("08:55")
    s["windows"] = [[t("08:00"), t("11:30")]]
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("T-STATION", "station:CP-1")
    s["start"], s["departure"] = t("09:00"), t("09:30")  # wait for the district window
    assert replay(plan) == []


def test_stopping_where_no_stopping_applies() -> None:
    """A pickup on the primary road (end edge 3->2) breaks T-NOSTOP even outside the peak, and
    so does the break taken there (the wait from 10:30 and the break itself); the same pickup
    and break on the side street 5->2 are legal."""
    plan = legal_plan()
    stops_of(plan)[3]["leg"] = leg(
        [6, 7], [7, 6, 4, 3], ["10:00", "10:01", "10:02", "10:03"], [3, 2], 400
    )
    for k in (4, 5):
        stops_of(plan)[k]["leg"]["start_edge"] = [3, 2]
    stops_of(plan)[4]["leg"]["end_edge"] = [3, 2]
    v, b = replay(plan)
    assert (v.rule, v.stop, v.at) == ("T-NOSTOP", "pickup:BK-2", t("10:08"))
    assert "Shennan Blvd" in v.message
    assert (b.rule, b.stop, b.at) == ("T-NOSTOP", "break:break", t("10:30"))
    assert replay(legal_plan()) == []


# --------------------------------------------------------------------------- load and stations


def test_capacity_exceeded() -> None:
    """A booking of 1100 kg makes the load 1600 kg on a 1500 kg van: a 'capacity' violation at
    each stop it is carried, though the plan states that load honestly; stating only the
    old 650 kg is a 'load' violation too (the load is recomputed from the bookings)."""
    plan = legal_plan()
    stops_of(plan)[3]["booking"] = booking("BK-2", ("metal", 1100, 0.5))
    out = replay(plan)
    assert [(v.rule, v.stop) for v in out] == [
        ("capacity", "pickup:BK-2"),
        ("load", "pickup:BK-2"),
        ("capacity", "break:break"),
        ("load", "break:break"),
    ]
    for k in (3, 4):
        stops_of(plan)[k]["load_after"] = {"kg": 1600, "m3": 3.5}
    out = replay(plan)
    assert [(v.rule, v.stop) for v in out] == [
        ("capacity", "pickup:BK-2"),
        ("capacity", "break:break"),
    ]


def test_volume_over_capacity_and_negative_load() -> None:
    """A stated volume over capacity_m3 and a negative load are 'capacity' violations too (the
    volume, unlike the bookings', is also a 'load' violation)."""
    plan = legal_plan()
    stops_of(plan)[1]["load_after"] = {"kg": 300, "m3": 8.5}
    stops_of(plan)[2]["load_after"] = {"kg": -1, "m3": 3.0}
    assert rule_ids(plan) == ["capacity", "capacity", "load"]


def test_unloading_at_a_closed_transfer_station() -> None:
    """Unloading at 15:05 at a station open 07:00-15:00 is 'station_closed'; unloading at 14:00
    (the route moved earlier) is legal."""
    plan = legal_plan()
    plan["facilities"][0]["open"] = [[t("07:00"), t("15:00")]]
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("station_closed", "unload:TS-01")
    unload, depot = stops_of(plan)[5], stops_of(plan)[6]
    unload["leg"] = leg([5, 2], [2, 3, 4], ["14:00", "14:01", "14:03"], [4, 6], 300)
    unload["arrival"], unload["start"], unload["departure"] = t("14:05"), t("14:05"), t("14:25")
    depot["leg"] = leg(
        [4, 6], [6, 4, 3, 5, 2], ["14:26", "14:27", "14:28", "14:29", "14:30"], [2, 1], 360
    )
    depot["arrival"] = depot["start"] = depot["departure"] = t("14:35")
    assert replay(plan) == []


def test_unloading_a_material_the_station_does_not_accept() -> None:
    """Bringing e-waste to a station that takes only glass/metal/paper/plastic is
    'station_material'; the same route carrying metal is legal."""
    plan = legal_plan()
    stops_of(plan)[3]["materials"] = ["e_waste"]
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("station_material", "unload:TS-01")
    assert "e_waste" in v.message
    stops_of(plan)[3]["materials"] = ["metal"]
    assert replay(plan) == []


def test_unloading_at_an_unknown_station() -> None:
    """An unload at a station missing from the plan's facilities is reported."""
    plan = legal_plan()
    plan["facilities"] = []
    assert rule_ids(plan) == ["station"]


# --------------------------------------------------------------------------- shift, break, end


def test_leaving_before_the_shift_starts() -> None:
    """Leaving the depot at 07:00 when the shift starts at 07:30 is a 'shift' violation."""
    plan = legal_plan()
    s = stops_of(plan)[0]
    s["arrival"] = s["start"] = s["departure"] = t("07:00")
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("shift", "depot:DEP-1")
    s["start"] = s["departure"] = t("07:30")
    assert replay(plan) == []


def test_returning_after_the_shift_ends() -> None:
    """Returning at 18:30 when the shift ends at 18:00 is a 'shift' violation."""
    plan = legal_plan()
    s = stops_of(plan)[6]
    s["arrival"] = s["start"] = s["departure"] = t("18:30")
    assert rule_ids(plan) == ["shift"]
    s["arrival"] = s["start"] = s["departure"] = t("17:59")
    assert replay(plan) == []


def test_missing_or_short_break() -> None:
    """A van out across the whole 12:00-14:00 break window needs a 30-minute break in it:
    none, or only 20 minutes, is a 'break' violation."""
    plan = legal_plan()
    del stops_of(plan)[4]
    (v,) = replay(plan)
    assert (v.rule, v.stop, v.at) == ("break", "-", t("12:00"))
    plan = legal_plan()
    stops_of(plan)[4]["departure"] = t("12:50")
    assert rule_ids(plan) == ["break"]
    plan = legal_plan()  # a break outside the window does not count
    b = stops_of(plan)[4]
    b["arrival"] = b["start"] = t("11:00")
    b["departure"] = t("11:30")
    assert rule_ids(plan) == ["break"]


def test_no_break_is_owed_when_back_before_the_window_ends() -> None:
    """A route back at the depot by 13:30 owes no break on the road."""
    plan = legal_plan()
    stops = stops_of(plan)
    del stops[4]
    unload, depot = stops[4], stops[5]
    unload["leg"] = leg([5, 2], [2, 3, 4], ["12:00", "12:01", "12:03"], [4, 6], 300)
    unload["arrival"], unload["start"], unload["departure"] = t("12:05"), t("12:05"), t("12:25")
    depot["leg"] = leg(
        [4, 6], [6, 4, 3, 5, 2], ["12:26", "12:27", "12:28", "12:29", "12:30"], [2, 1], 360
    )
    depot["arrival"] = depot["start"] = depot["departure"] = t("12:35")
    assert replay(plan) == []


def test_route_not_ending_empty_or_not_at_the_depot() -> None:
    """Skipping the unload leaves the van loaded at the depot ('route_end'); a route that stops
    before the depot is 'route_end' too."""
    plan = legal_plan()
    stops = stops_of(plan)
    del stops[5]
    stops[5]["leg"]["start_edge"] = [5, 2]
    stops[5]["load_after"] = {"kg": 650, "m3": 3.5}
    # (the depot's leg no longer joins the stop before it: a 'path' violation as well)
    (v,) = [v for v in replay(plan) if v.rule != "path"]
    assert (v.rule, v.stop) == ("route_end", "depot:DEP-1")
    assert "empty" in v.message
    plan = legal_plan()
    del stops_of(plan)[6]
    (v,) = replay(plan)
    assert (v.rule, v.stop) == ("route_end", "unload:TS-01")
    assert "depot" in v.message


# --------------------------------------------------------------------------- paths and timing


def test_a_path_step_that_is_not_an_edge() -> None:
    """A leg jumping 2->4 (no such road) is a 'path' violation; so is a start edge that does
    not exist."""
    plan = legal_plan()
    stops_of(plan)[1]["leg"] = leg(
        [2, 1], [1, 2, 4], ["08:00:30", "08:01:30", "08:03:30"], [3, 4], 300
    )
    found = replay(plan)
    assert {v.rule for v in found} == {"path"}  # and its end no longer joins the end edge
    (v,) = [v for v in found if "2->4" in v.message]
    assert v.stop == "pickup:BK-1"
    plan = legal_plan()
    stops_of(plan)[2]["leg"]["start_edge"] = [3, 7]
    assert set(rule_ids(plan)) == {"path"}  # no such edge, and the leg no longer joins up


def test_impossible_timings() -> None:
    """Arriving sooner than the leg's travel time, or entering the path at decreasing times,
    is a 'timing' violation."""
    plan = legal_plan()
    stops_of(plan)[1]["leg"]["duration_s"] = 900
    assert rule_ids(plan) == ["timing"]
    plan = legal_plan()
    stops_of(plan)[3]["leg"]["enter_times"][2] = t("09:59")
    assert "timing" in rule_ids(plan)


def test_a_route_for_an_unknown_vehicle() -> None:
    """A route whose vehicle is not among the plan's vehicles is reported, not crashed on."""
    plan = legal_plan()
    plan["routes"][0]["vehicle"] = "粤B00000"
    assert rule_ids(plan) == ["unknown_vehicle"]


# --------------------------------------------------------------------------- the demo plans


def _shipped_rules(table: EdgeTable) -> RuleSet:
    """Rule files and OSM tag rules, as dispatch.rights.road_rights assembles them."""
    fc = json.loads((ROOT / "data/boundaries/shenzhen-districts.geojson").read_text("utf-8"))
    areas = {
        (f["properties"].get("code") or f["properties"]["name_en"].lower()): shape(f["geometry"])
        for f in fc["features"]
    }
    osm, _ = rules_from_tags(table)
    return load_rules([ROOT / "data" / "rules"], district_areas=areas) + osm


def _plans(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc.get("plans", [doc])


def test_demo_plans_are_legal_under_the_shipped_rules(
    demo_plan: dict[str, Any], network: RoadNetwork
) -> None:
    """Every demo plan replays without a violation under the shipped rule files + OSM tags."""
    table = edge_table(network)
    rules = _shipped_rules(table)
    plans = _plans(demo_plan)
    assert len(plans) == 2
    for p in plans:
        code = p["plan"]["district"]["code"]
        assert (
            check_plan(
                p, has_edge=network.graph.has_edge, rules=rules.for_district(code), edges=table
            )
            == []
        )


def _shift_route(route: dict[str, Any], delta: dt.timedelta) -> None:
    """Move every time of ``route`` by ``delta``."""

    def mv(iso: str) -> str:
        return (dt.datetime.fromisoformat(iso) + delta).isoformat()

    for s in route["stops"]:
        for k in ("arrival", "start", "departure"):
            s[k] = mv(s[k])
        if s.get("leg"):
            s["leg"]["enter_times"] = [mv(x) for x in s["leg"]["enter_times"]]


def test_diesel_route_moved_into_the_peak_breaks_ft_peak_01(
    demo_plan: dict[str, Any], network: RoadNetwork
) -> None:
    """Moving a Futian light-diesel route so that it enters a primary/trunk road at 08:00 on the
    (working) Tuesday is caught with FT-PEAK-01 at that edge and time; the same moved route
    driven by an EV with the SZ-EV-LOGISTICS permit is not."""
    table = edge_table(network)
    rules = _shipped_rules(table).for_district("440304")
    peak = next(r for r in rules.rules if r.id == "FT-PEAK-01")
    first_edge: dict[tuple[int, int], int] = {}
    for i, pair in enumerate(zip(table.u, table.v, strict=True)):
        first_edge.setdefault(pair, i)
    plan = copy.deepcopy(
        next(p for p in _plans(demo_plan) if p["plan"]["district"]["code"] == "440304")
    )
    vehicles = {v["plate"]: v for v in plan["vehicles"]}
    found = None
    for route in plan["routes"]:
        if vehicles[route["vehicle"]]["class"] != "light_diesel":
            continue
        for s in route["stops"]:
            lg = s.get("leg") or {}
            steps = itertools.pairwise(lg.get("nodes", []))
            for (a, b), when in zip(steps, lg.get("enter_times", []), strict=False):
                e = first_edge.get((a, b))
                if e is not None and table.highways[e] & peak.where.highways:
                    found = (route, (a, b), dt.datetime.fromisoformat(when))
                    break
            if found:
                break
        if found:
            break
    assert found is not None, "no light-diesel route of the demo uses a primary/trunk road"
    route, (a, b), when = found
    eight = dt.datetime(when.year, when.month, when.day, 8, 0, tzinfo=when.tzinfo)
    _shift_route(route, eight - when)
    plan["routes"] = [route]
    out = check_plan(plan, has_edge=network.graph.has_edge, rules=rules, edges=table)
    hits = [v for v in out if v.rule == "FT-PEAK-01"]
    assert hits and all(v.vehicle == route["vehicle"] for v in hits)
    assert any(v.at == eight.isoformat() and f"{a}->{b}" in v.message for v in hits)
    # The same moved route driven by a permit-holding EV does not break FT-PEAK-01.
    ev = dict(
        vehicles[route["vehicle"]],
        plate="粤BD00000",
        fuel="electric",
        permits=["SZ-EV-LOGISTICS"],
    )
    plan["vehicles"], route["vehicle"] = [ev], ev["plate"]
    assert not [v for v in check_plan(plan, rules=rules, edges=table) if v.rule == "FT-PEAK-01"]


@pytest.mark.parametrize(
    ("hhmm", "banned"), [("06:59:59", False), ("07:00", True), ("09:29:59", True), ("09:30", False)]
)
def test_ft_peak_01_band_limits_on_a_real_primary_road(
    hhmm: str, banned: bool, network: RoadNetwork
) -> None:
    """FT-PEAK-01 forbids a light diesel van a real primary road of the bundled graph from
    07:00 up to, not including, 09:30 on a workday: the van is on the road for the one
    second from ``hhmm``."""
    table = edge_table(network)
    rules = _shipped_rules(table).for_district("440304")
    first: dict[tuple[int, int], int] = {}
    for i, pair in enumerate(zip(table.u, table.v, strict=True)):
        first.setdefault(pair, i)
    a, b = next(pair for pair, i in first.items() if "primary" in table.highways[i])
    s0 = stop("depot", "DEP-1", 1, "06:00", "06:00", "06:00")
    s0["departure"] = t(hhmm)
    s1 = stop("depot", "DEP-1", 1, "10:00", "10:00", "10:00")
    on_road = (dt.datetime.fromisoformat(t(hhmm)) + dt.timedelta(seconds=1)).isoformat()
    s1["arrival"] = s1["start"] = s1["departure"] = on_road
    s1["leg"] = {
        "duration_s": 0,
        "distance_m": 0,
        "nodes": [],
        "enter_times": [],
        "start_edge": [a, b],
        "end_edge": [a, b],
    }
    plan = legal_plan()
    plan["vehicles"] = [vehicle(shift={"start": t("06:00"), "end": t("18:00")}, **{"break": None})]
    plan["routes"] = [{"vehicle": "粤BL0001", "stops": [s0, s1]}]
    out = check_plan(plan, rules=rules, edges=table)
    assert ("FT-PEAK-01" in [v.rule for v in out]) is banned
