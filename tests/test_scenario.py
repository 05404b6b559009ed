"""Scenario import: all-or-nothing validation on a real SQLite database and road graph."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Engine, func, select

from dispatch import models as m
from dispatch.db import make_engine, session_scope, upgrade
from dispatch.scenario import FORMAT, ScenarioError, ensure_districts, import_scenario
from dispatch.settings import DEFAULT_DISTRICTS
from road_rules.geo import gcj02_to_wgs84, wgs84_to_gcj02
from routing.compiled import CompiledGraph
from routing.errors import SnapError
from routing.network import RoadNetwork
from routing.snap import snap

FUTIAN = "440304"
#: Futian mangroves / Shenzhen Bay shore: inside Futian's polygon, far from any road.
FAR_IN_FUTIAN = (22.515, 114.005)  # lat, lon
#: Shenzhen Bay water, outside every district polygon.
BAY = (22.49, 114.03)

Places = list[tuple[float, float]]  # (lat, lon)
SnapDistance = Callable[[float, float], float]


def _futian_polygon() -> Any:
    fc = json.loads(Path(DEFAULT_DISTRICTS).read_text(encoding="utf-8"))
    (feat,) = [f for f in fc["features"] if f["properties"].get("code") == FUTIAN]
    return shape(feat["geometry"])


@pytest.fixture(scope="module")
def futian_places(bundled_network: RoadNetwork) -> Places:
    """Eight road-graph node locations spread over Futian (deterministic choice)."""
    poly = _futian_polygon()
    g = bundled_network.graph
    inside = sorted(
        n
        for n, d in g.nodes(data=True)
        if d["x"] < 114.08 and poly.contains(Point(d["x"], d["y"]).buffer(0.002))
    )
    assert len(inside) > 200
    step = len(inside) // 8
    return [(g.nodes[n]["y"], g.nodes[n]["x"]) for n in inside[::step][:8]]


@pytest.fixture(scope="module")
def snap_distance(light_truck_graph: CompiledGraph) -> SnapDistance:
    """Metres from a WGS-84 point to the nearest road, as the CLI computes it."""

    def dist(lon: float, lat: float) -> float:
        try:
            return snap(light_truck_graph, lon, lat).distance_m
        except SnapError as exc:
            assert exc.distance_m is not None
            return exc.distance_m

    return dist


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database holding Shenzhen's district polygons."""
    eng = make_engine(f"sqlite:///{tmp_path / 'loopvan.db'}")
    upgrade(eng)
    with session_scope(eng) as s:
        assert ensure_districts(s, DEFAULT_DISTRICTS) >= 10
    yield eng
    eng.dispose()


def build_scenario(places: Places, tag: str = "A") -> dict[str, Any]:
    """A small valid scenario; ``tag`` makes every id, plate and reference distinct."""
    p = places
    return {
        "format": FORMAT,
        "coordinates": "wgs84",
        "date": "2026-12-01",
        "vehicle_classes": [
            {
                "code": f"light_diesel_{tag}",
                "name": "柴油轻型厢式货车",
                "weight_class": "light",
                "gross_weight_kg": 4495,
                "fuel": "diesel",
                "speed_profile": "light_truck",
                "tail_lift": False,
            }
        ],
        "depots": [{"id": f"DEP-{tag}1", "name": "福田车队基地", "lat": p[0][0], "lon": p[0][1]}],
        "transfer_stations": [
            {
                "id": f"TS-{tag}1",
                "name": "莲花综合中转站",
                "lat": p[1][0],
                "lon": p[1][1],
                "opening_hours": "Mo-Su 07:00-21:00",
                "accepts": ["paper", "metal", "plastic"],
                "unload_minutes": 20,
                "daily_intake_kg": 20000,
            }
        ],
        "collection_points": [
            {
                "id": f"CP-{tag}01",
                "name": "景田花园回收点",
                "compound": "景田花园",
                "lat": p[2][0],
                "lon": p[2][1],
                "households": 800,
                "stationing_hours": "Tu,Th,Sa 09:00-11:30; PH off",
                "dwell_minutes": 30,
                "expected_kg": 60,
                "expected_m3": 0.5,
            }
        ],
        "vehicles": [
            {
                "plate": f"粤B{tag}1001",
                "class": f"light_diesel_{tag}",
                "depot": f"DEP-{tag}1",
                "capacity_kg": 1500,
                "capacity_m3": 8.0,
                "shift": {"start": "08:00", "end": "18:00"},
                "break": {"start": "12:00", "end": "14:00", "minutes": 30},
                "permits": [],
            },
            {
                "plate": f"粤B{tag}1002",
                "class": f"light_diesel_{tag}",
                "depot": f"DEP-{tag}1",
                "capacity_kg": 1200,
                "capacity_m3": 6.0,
                "shift": {"start": "07:30", "end": "17:30"},
            },
        ],
        "drivers": [
            {
                "id": f"DRV-{tag}1",
                "name": "王伟",
                "phone": "13800000001",
                "vehicle": f"粤B{tag}1001",
            }
        ],
        "bookings": [
            {
                "reference": f"BK-{tag}-001",
                "resident": {"name": "李芳", "phone": "13900000001"},
                "address": "深圳市福田区景田花园3栋1201",
                "lat": p[3][0],
                "lon": p[3][1],
                "materials": [
                    {"material": "paper", "kg": 12, "m3": 0.08},
                    {"material": "metal", "kg": 5},
                ],
                "window": {"start": "09:00", "end": "11:00"},
            },
            {
                "reference": f"BK-{tag}-002",
                "resident": {"name": "张强", "phone": "13900000002"},
                "address": "深圳市福田区香蜜新村5栋302",
                "lat": p[4][0],
                "lon": p[4][1],
                "materials": [{"material": "textiles", "kg": 8, "m3": 0.06}],
                "date": "2026-12-02",
                "window": {"start": "14:00", "end": "16:00"},
                "priority": 1,
            },
        ],
    }


EXPECTED_COUNTS = {
    "vehicle_classes": 1,
    "depots": 1,
    "transfer_stations": 1,
    "collection_points": 1,
    "vehicles": 2,
    "drivers": 1,
    "bookings": 2,
}


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table."""
    with engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in m.Base.metadata.sorted_tables
        }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in m.Base.metadata.sorted_tables
        }


def do_import(engine: Engine, data: dict[str, Any], dist: SnapDistance) -> dict[str, int]:
    """Import ``data`` in its own committed session; return the summary counts."""
    with session_scope(engine) as s:
        return import_scenario(s, data, snap_distance=dist).counts


# --------------------------------------------------------------------------- valid import


def test_valid_scenario_imports_with_matching_counts(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """A valid scenario is written whole: the summary and the tables hold every record."""
    counts = do_import(engine, build_scenario(futian_places), snap_distance)
    assert counts == EXPECTED_COUNTS
    rows = row_counts(engine)
    for table, n in EXPECTED_COUNTS.items():
        assert rows[table] == n, table
    assert rows["audit_log"] == 1
    with session_scope(engine) as s:
        futian = s.scalar(select(m.District).where(m.District.code == FUTIAN))
        assert futian is not None
        for model in (m.Depot, m.TransferStation, m.CollectionPoint, m.Booking):
            assert {r.district_id for r in s.scalars(select(model))} == {futian.id}
        b1, b2 = s.scalars(select(m.Booking).order_by(m.Booking.reference))
        assert str(b1.date) == "2026-12-01"  # the scenario's default date
        assert str(b2.date) == "2026-12-02"
        assert b1.est_kg == 17 and b1.est_m3 == pytest.approx(0.08)
        assert b1.status == "queued" and b2.priority == 1
        v = s.scalar(select(m.Vehicle).where(m.Vehicle.plate == "粤BA1001"))
        assert v is not None and v.break_minutes == 30 and v.vehicle_class.code == "light_diesel_A"
        drv = s.scalar(select(m.Driver))
        assert drv is not None and drv.vehicle_id == v.id


def test_reimport_updates_in_place(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """Importing the same scenario twice updates records by their ids: no duplicates."""
    sc = build_scenario(futian_places)
    do_import(engine, sc, snap_distance)
    sc["vehicles"][0]["capacity_kg"] = 1400
    do_import(engine, sc, snap_distance)
    rows = row_counts(engine)
    for table, n in EXPECTED_COUNTS.items():
        assert rows[table] == n, table
    with session_scope(engine) as s:
        v = s.scalar(select(m.Vehicle).where(m.Vehicle.plate == "粤BA1001"))
        assert v is not None and v.capacity_kg == 1400


# --------------------------------------------------------------------------- refused imports


def _drop_depot_name(sc: dict[str, Any]) -> None:
    del sc["depots"][0]["name"]


def _unknown_material(sc: dict[str, Any]) -> None:
    sc["bookings"][0]["materials"][1]["material"] = "plutonium"


def _far_from_road_in_futian(sc: dict[str, Any]) -> None:
    sc["bookings"][1]["lat"], sc["bookings"][1]["lon"] = FAR_IN_FUTIAN


def _depot_in_the_bay(sc: dict[str, Any]) -> None:
    sc["depots"][0]["lat"], sc["depots"][0]["lon"] = BAY


def _negative_capacity(sc: dict[str, Any]) -> None:
    sc["vehicles"][0]["capacity_kg"] = -5


def _window_backwards(sc: dict[str, Any]) -> None:
    sc["bookings"][0]["window"] = {"start": "11:00", "end": "09:00"}


def _bad_opening_hours(sc: dict[str, Any]) -> None:
    sc["transfer_stations"][0]["opening_hours"] = "Mo-Su 25:00-26:99"


def _unknown_class(sc: dict[str, Any]) -> None:
    sc["vehicles"][1]["class"] = "hovercraft"


BAD_CASES = [
    pytest.param(_drop_depot_name, "depots[0] (id DEP-B1): field 'name': missing", id="no-name"),
    pytest.param(
        _unknown_material,
        "bookings[0] (reference BK-B-001): field 'materials[1].material': "
        "unknown material 'plutonium'",
        id="material",
    ),
    pytest.param(
        _far_from_road_in_futian,
        "bookings[1] (reference BK-B-002): field 'lat/lon': (22.515000, 114.005000) is ",
        id="far-in-futian",
    ),
    pytest.param(
        _depot_in_the_bay,
        "depots[0] (id DEP-B1): field 'lat/lon': (22.490000, 114.030000) is ",
        id="bay",
    ),
    pytest.param(
        _negative_capacity,
        "vehicles[0] (plate 粤BB1001): field 'capacity_kg': must be >= 0, got -5",
        id="capacity",
    ),
    pytest.param(
        _window_backwards,
        "bookings[0] (reference BK-B-001): field 'window': ends (09:00) before it starts (11:00)",
        id="window",
    ),
    pytest.param(
        _bad_opening_hours,
        "transfer_stations[0] (id TS-B1): field 'opening_hours': "
        "invalid opening_hours 'Mo-Su 25:00-26:99'",
        id="hours",
    ),
    pytest.param(
        _unknown_class,
        "vehicles[1] (plate 粤BB1002): field 'class': unknown vehicle class 'hovercraft'",
        id="class",
    ),
]


@pytest.mark.parametrize(("spoil", "expected"), BAD_CASES)
def test_bad_record_refuses_whole_scenario(
    engine: Engine,
    futian_places: Places,
    snap_distance: SnapDistance,
    spoil: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    """One bad record refuses the whole import with a message naming the record and the
    field, and leaves the database exactly as it was."""
    do_import(engine, build_scenario(futian_places, "A"), snap_distance)
    before = snapshot(engine)
    bad = build_scenario(futian_places, "B")  # all-new ids: any partial write adds rows
    spoil(bad)
    with pytest.raises(ScenarioError) as info:
        do_import(engine, bad, snap_distance)
    err = info.value
    assert len(err.problems) == 1, err.problems
    assert err.problems[0].startswith(expected), err.problems
    assert expected in str(err)
    assert snapshot(engine) == before
    counts = row_counts(engine)
    assert {t: counts[t] for t in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert counts["audit_log"] == 1


def test_far_points_are_where_the_cases_say(
    snap_distance: SnapDistance, futian_places: Places
) -> None:
    """Preconditions of the refusal cases: the Futian point lies in Futian's polygon and
    both far points are more than 500 m from any road; the chosen places are on roads."""
    lat, lon = FAR_IN_FUTIAN
    assert _futian_polygon().covers(Point(lon, lat))
    assert snap_distance(lon, lat) > 500
    assert snap_distance(BAY[1], BAY[0]) > 500
    assert all(snap_distance(lon, lat) < 1.0 for lat, lon in futian_places)


def test_far_point_message_gives_the_distance(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """The refusal of a place far from the road network says how far and what the limit is."""
    bad = build_scenario(futian_places, "B")
    _far_from_road_in_futian(bad)
    with pytest.raises(ScenarioError) as info:
        do_import(engine, bad, snap_distance)
    far = snap_distance(FAR_IN_FUTIAN[1], FAR_IN_FUTIAN[0])
    assert f"is {far:.0f} m from the nearest road of the network (limit 500 m)" in str(info.value)


def test_point_outside_every_district_is_refused(engine: Engine, futian_places: Places) -> None:
    """A place near a road but in no district polygon is refused naming lat/lon."""
    bad = build_scenario(futian_places, "B")
    bad["depots"][0]["lat"], bad["depots"][0]["lon"] = 22.30, 114.17  # Kowloon, Hong Kong
    with pytest.raises(ScenarioError) as info:
        do_import(engine, bad, lambda _lon, _lat: 0.0)
    assert info.value.problems == [
        "depots[0] (id DEP-B1): field 'lat/lon': (22.300000, 114.170000) lies in no served district"
    ]
    assert row_counts(engine)["depots"] == 0


def test_every_problem_is_listed(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """Several bad records are all reported at once, each with its record, and nothing is
    written."""
    bad = build_scenario(futian_places, "B")
    for spoil in (_negative_capacity, _unknown_class, _window_backwards, _bad_opening_hours):
        spoil(bad)
    with pytest.raises(ScenarioError) as info:
        do_import(engine, bad, snap_distance)
    problems = info.value.problems
    assert len(problems) == 4
    assert {p.split(":", 1)[0] for p in problems} == {
        "vehicles[0] (plate 粤BB1001)",
        "vehicles[1] (plate 粤BB1002)",
        "bookings[0] (reference BK-B-001)",
        "transfer_stations[0] (id TS-B1)",
    }
    assert all(n == 0 for t, n in row_counts(engine).items() if t != "districts")


# --------------------------------------------------------------------------- GCJ-02


def _to_gcj02(sc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(sc)
    out["coordinates"] = "gcj02"
    for section in ("depots", "transfer_stations", "collection_points", "bookings"):
        for rec in out[section]:
            rec["lon"], rec["lat"] = wgs84_to_gcj02(rec["lon"], rec["lat"])
    return out


def _stored_places(engine: Engine) -> dict[str, tuple[float, float]]:
    with session_scope(engine) as s:
        out = {}
        for model, key in (
            (m.Depot, "ref"),
            (m.TransferStation, "ref"),
            (m.CollectionPoint, "ref"),
            (m.Booking, "reference"),
        ):
            for r in s.scalars(select(model)):
                out[getattr(r, key)] = (r.lat, r.lon)
        return out


def test_gcj02_scenario_is_stored_as_wgs84(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """A scenario in GCJ-02 ("coordinates": "gcj02") is converted once: stored lat/lon are
    within 1e-6 degrees of the WGS-84 originals."""
    wgs = build_scenario(futian_places)
    gcj = _to_gcj02(wgs)
    assert abs(gcj["depots"][0]["lon"] - wgs["depots"][0]["lon"]) > 0.004  # really shifted
    do_import(engine, gcj, snap_distance)
    stored = _stored_places(engine)
    expected = {
        rec.get("id", rec.get("reference")): (rec["lat"], rec["lon"])
        for section in ("depots", "transfer_stations", "collection_points", "bookings")
        for rec in wgs[section]
    }
    assert stored.keys() == expected.keys()
    for ref, (lat, lon) in expected.items():
        assert stored[ref][0] == pytest.approx(lat, abs=1e-6), ref
        assert stored[ref][1] == pytest.approx(lon, abs=1e-6), ref
    with session_scope(engine) as s:
        log = s.scalar(select(m.AuditLog))
        assert log is not None and log.detail["coordinates"] == "gcj02"


def test_gcj02_flag_overrides_the_file(
    engine: Engine, futian_places: Places, snap_distance: SnapDistance
) -> None:
    """``gcj02=True`` (the CLI's --gcj02) converts a file that does not say gcj02."""
    wgs = build_scenario(futian_places)
    gcj = _to_gcj02(wgs)
    del gcj["coordinates"]
    with session_scope(engine) as s:
        import_scenario(s, gcj, snap_distance=snap_distance, gcj02=True)
    depot = _stored_places(engine)["DEP-A1"]
    assert depot[0] == pytest.approx(wgs["depots"][0]["lat"], abs=1e-6)
    assert depot[1] == pytest.approx(wgs["depots"][0]["lon"], abs=1e-6)


# --------------------------------------------------------------------------- road_rules.geo


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(114.05, 22.54), (113.93, 22.52), (114.3, 22.7), (116.39, 39.91), (121.47, 31.23)],
)
def test_gcj02_round_trip(lon: float, lat: float) -> None:
    """GCJ-02 -> WGS-84 inverts WGS-84 -> GCJ-02 to better than 1e-8 degrees (~1 mm)."""
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert (glon, glat) != (lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert abs(wlon - lon) < 1e-8
    assert abs(wlat - lat) < 1e-8


def test_gcj02_shift_in_shenzhen() -> None:
    """In Futian GCJ-02 lies about 500 m east and 300 m south of WGS-84."""
    lon, lat = 114.05, 22.54
    glon, glat = wgs84_to_gcj02(lon, lat)
    east_m = (glon - lon) * 111_320 * math.cos(math.radians(lat))
    north_m = (glat - lat) * 110_574
    assert 450 < east_m < 600
    assert -400 < north_m < -200


def test_gcj02_is_identity_outside_china() -> None:
    """Outside mainland China both directions leave coordinates unchanged."""
    for lon, lat in [(151.21, -33.87), (-0.13, 51.51)]:
        assert wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert gcj02_to_wgs84(lon, lat) == (lon, lat)
