"""The data model and its migrations, on SQLite always and on PostgreSQL when
``TEST_DATABASE_URL`` is set (CI). Each PostgreSQL test runs in a fresh schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import pg_schema
from sqlalchemy import Engine, delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.db import make_engine, session_scope, upgrade

BIG_NODE = 2**33 + 12345  # OSM node ids passed 2**31 long ago
UTC = dt.UTC


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database: a SQLite file, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'models.db'}")
        yield eng
        eng.dispose()
        return
    with pg_schema("model") as url:
        eng = make_engine(url)
        try:
            with eng.connect() as conn:
                assert conn.scalar(text("SELECT current_schema()")).startswith("loopvan_model_")
            yield eng
        finally:
            eng.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A database migrated to the head revision."""
    upgrade(empty_engine)
    return empty_engine


def _aware(t: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC; PostgreSQL an aware time. Compare them as aware UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _world(s: Session) -> dict[str, int]:
    """District, depot, class, vehicle, booking, plan, route, stop and event; return ids."""
    district = m.District(
        code="440304",
        name_zh="福田",
        name_en="Futian",
        boundary={
            "type": "Polygon",
            "coordinates": [[[114.0, 22.5], [114.1, 22.5], [114.1, 22.6], [114.0, 22.5]]],
        },
    )
    depot = m.Depot(ref="DEP-1", name="福田车队基地", district=district, lat=22.54, lon=114.05)
    vclass = m.VehicleClass(
        code="light_electric",
        name="纯电动轻型厢式货车",
        weight_class="light",
        gross_weight_kg=4495,
        fuel="electric",
        speed_profile="light_electric",
        tail_lift=False,
    )
    vehicle = m.Vehicle(
        plate="粤BD12345",
        vehicle_class=vclass,
        depot=depot,
        capacity_kg=1200,
        capacity_m3=6.0,
        shift_start=dt.time(8, 0),
        shift_end=dt.time(18, 0),
        break_start=dt.time(12, 0),
        break_end=dt.time(14, 0),
        break_minutes=30,
        permits=["SZ-2026-001"],
    )
    booking = m.Booking(
        reference="BK-261201-0001",
        idempotency_key="idem-0001",
        resident_name="李芳",
        resident_phone="13900000001",
        address="深圳市福田区景田花园3栋1201",
        district=district,
        lat=22.55,
        lon=114.04,
        materials=[{"material": "paper", "kg": 12, "m3": 0.08}],
        est_kg=12.0,
        est_m3=0.08,
        date=dt.date(2026, 12, 1),
        window_start=dt.time(9, 0),
        window_end=dt.time(11, 0),
    )
    plan = m.Plan(
        district=district,
        date=dt.date(2026, 12, 1),
        solver_stats={"status": "solved", "objective": 123},
        facilities=[{"id": "TS-01"}],
    )
    route = m.Route(plan=plan, vehicle=vehicle, distance_m=12_345, duration_s=7_200)
    stops = [
        m.Stop(
            route=route,
            sequence=0,
            kind="depot",
            depot_id=None,
            lat=22.54,
            lon=114.05,
            node=BIG_NODE - 1,
            arrival_s=28_800,
            start_s=28_800,
            departure_s=28_800,
            load_kg=0,
            load_m3=0.0,
        ),
        m.Stop(
            route=route,
            sequence=1,
            kind="pickup",
            booking=booking,
            lat=22.55,
            lon=114.04,
            node=BIG_NODE,
            arrival_s=32_400,
            start_s=32_400,
            departure_s=33_000,
            load_kg=12,
            load_m3=0.08,
            windows=[[32_400, 39_600]],
            leg={"nodes": [BIG_NODE - 1, BIG_NODE], "offsets_ms": [0, 60_000]},
        ),
    ]
    s.add_all([district, depot, vclass, vehicle, booking, plan, route, *stops])
    s.flush()
    stops[0].depot_id = depot.id
    event = m.StopEvent(
        client_event_id="evt-0001",
        stop_id=stops[1].id,
        kind="collected",
        recorded_at=dt.datetime(2026, 12, 1, 1, 30, tzinfo=UTC),
        payload={"kg": {"paper": 11.5}},
    )
    audit = m.AuditLog(
        actor="tester", action="plan.create", entity="plan", entity_id=str(plan.id), detail={}
    )
    s.add_all([event, audit])
    s.flush()
    return {
        "plan": plan.id,
        "route": route.id,
        "pickup": stops[1].id,
        "vehicle": vehicle.id,
        "booking": booking.id,
        "district": district.id,
    }


# --------------------------------------------------------------------------- schema


def test_upgrade_creates_every_model_table(empty_engine: Engine) -> None:
    """Migrating an empty database to head creates every table of the models' metadata,
    and running it again is harmless."""
    assert not set(m.Base.metadata.tables) & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine)
    upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(m.Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_match_models(engine: Engine) -> None:
    """Alembic autogenerate finds no difference between the migrated schema and the models,
    so no model change is missing a migration."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, m.Base.metadata)
    assert diff == []


def test_stop_node_column_is_64_bit(engine: Engine) -> None:
    """The OSM node id column of stops is a BIGINT in the migrated schema."""
    cols = {c["name"]: c for c in inspect(engine).get_columns("stops")}
    assert "BIGINT" in str(cols["node"]["type"]).upper()


def test_sqlite_engine_pragmas(tmp_path: Path) -> None:
    """SQLite connections have foreign keys enforced and the WAL journal."""
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'pragmas.db'}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "sub").is_dir()  # the parent folder is created
    finally:
        eng.dispose()


# --------------------------------------------------------------------------- data


def test_round_trip_of_every_kind_of_record(engine: Engine) -> None:
    """Records written in one session read back equal in another, including a 64-bit OSM
    node id, times of day, dates, JSON and timezone-aware timestamps."""
    with session_scope(engine) as s:
        ids = _world(s)
    with session_scope(engine) as s:
        plan = s.get(m.Plan, ids["plan"])
        assert plan is not None
        assert plan.district.code == "440304" and plan.district.name_zh == "福田"
        assert plan.district.boundary["type"] == "Polygon"
        assert plan.date == dt.date(2026, 12, 1)
        assert plan.status == "draft" and plan.version == 1
        assert plan.solver_stats == {"status": "solved", "objective": 123}
        assert plan.facilities == [{"id": "TS-01"}]
        (route,) = plan.routes
        assert route.distance_m == 12_345 and route.duration_s == 7_200
        assert route.vehicle.plate == "粤BD12345"
        assert route.vehicle.vehicle_class.code == "light_electric"
        assert route.vehicle.depot.name == "福田车队基地"
        assert route.vehicle.shift_start == dt.time(8, 0)
        assert route.vehicle.break_end == dt.time(14, 0)
        assert route.vehicle.permits == ["SZ-2026-001"]
        assert route.vehicle.active is True
        depot_stop, pickup = route.stops
        assert [depot_stop.sequence, pickup.sequence] == [0, 1]
        assert depot_stop.depot_id == route.vehicle.depot_id
        assert pickup.node == BIG_NODE
        assert depot_stop.node == BIG_NODE - 1
        assert pickup.windows == [[32_400, 39_600]]
        assert pickup.leg["nodes"] == [BIG_NODE - 1, BIG_NODE]
        assert pickup.load_m3 == pytest.approx(0.08)
        booking = pickup.booking
        assert booking is not None
        assert booking.resident_name == "李芳"
        assert booking.window_start == dt.time(9, 0)
        assert booking.materials == [{"material": "paper", "kg": 12, "m3": 0.08}]
        assert booking.status == "queued" and booking.priority == 0
        assert abs(_aware(booking.created_at) - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)
        event = s.scalar(select(m.StopEvent))
        assert event is not None and event.stop_id == pickup.id
        assert _aware(event.recorded_at) == dt.datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
        assert event.payload == {"kg": {"paper": 11.5}}
        audit = s.scalar(select(m.AuditLog))
        assert audit is not None and audit.entity_id == str(plan.id)
    # The big node id survives a raw query too, not just the ORM.
    with engine.connect() as conn:
        assert conn.scalar(select(func.max(m.Stop.node))) == BIG_NODE


def test_booking_idempotency_key_is_unique(engine: Engine) -> None:
    """Two bookings may not share an idempotency key (a retried request books once)."""
    with session_scope(engine) as s:
        _world(s)
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        first = s.scalar(select(m.Booking))
        assert first is not None
        s.add(
            m.Booking(
                reference="BK-261201-0002",
                idempotency_key=first.idempotency_key,
                resident_name="张强",
                resident_phone="13900000002",
                address="深圳市福田区香蜜新村5栋302",
                district_id=first.district_id,
                lat=22.55,
                lon=114.04,
                materials=[],
                est_kg=0.0,
                est_m3=0.0,
                date=dt.date(2026, 12, 1),
                window_start=dt.time(9, 0),
                window_end=dt.time(11, 0),
            )
        )
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(m.Booking)) == 1


def test_vehicle_plate_is_unique(engine: Engine) -> None:
    """Two vehicles may not carry the same plate."""
    with session_scope(engine) as s:
        ids = _world(s)
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        v = s.get(m.Vehicle, ids["vehicle"])
        assert v is not None
        s.add(
            m.Vehicle(
                plate=v.plate,
                class_id=v.class_id,
                depot_id=v.depot_id,
                capacity_kg=1000,
                capacity_m3=5.0,
                shift_start=dt.time(8, 0),
                shift_end=dt.time(18, 0),
            )
        )
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(m.Vehicle)) == 1


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    """A depot in a district that does not exist is rejected by the database."""
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(m.Depot(ref="DEP-X", name="nowhere", district_id=999_999, lat=22.5, lon=114.0))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(m.Depot)) == 0


def _route_and_stop_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        routes = conn.scalar(select(func.count()).select_from(m.Route)) or 0
        stops = conn.scalar(select(func.count()).select_from(m.Stop)) or 0
        return routes, stops


def test_deleting_plan_cascades_in_orm(engine: Engine) -> None:
    """Deleting a plan through the ORM deletes its routes and their stops."""
    with session_scope(engine) as s:
        ids = _world(s)
        s.execute(delete(m.StopEvent))  # events are history: they keep their stop alive
    assert _route_and_stop_counts(engine) == (1, 2)
    with session_scope(engine) as s:
        plan = s.get(m.Plan, ids["plan"])
        s.delete(plan)
    assert _route_and_stop_counts(engine) == (0, 0)
    with engine.connect() as conn:  # what the plan referred to stays
        assert conn.scalar(select(func.count()).select_from(m.Vehicle)) == 1
        assert conn.scalar(select(func.count()).select_from(m.Booking)) == 1


def test_deleting_plan_cascades_in_database(engine: Engine) -> None:
    """A plain SQL DELETE of a plan removes its routes and stops (ON DELETE CASCADE)."""
    with session_scope(engine) as s:
        ids = _world(s)
        s.execute(delete(m.StopEvent))
    with engine.begin() as conn:
        conn.execute(delete(m.Plan).where(m.Plan.id == ids["plan"]))
    assert _route_and_stop_counts(engine) == (0, 0)
