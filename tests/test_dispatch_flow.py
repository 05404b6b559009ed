"""Dispatch: bookings (idempotent, validated, concurrent), plan lifecycle, driver events."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import pg_schema
from sqlalchemy import func, select

from dispatch import approval, booking, execution
from dispatch import models as m
from dispatch.cli import _demo_scenario, build_plans, do_import
from dispatch.db import make_engine, session_scope
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.settings import Settings
from routing.compiled import compile_graph
from routing.errors import SnapError
from routing.network import RoadNetwork
from routing.snap import snap

DAY = dt.date(2026, 12, 1)
TODAY = DAY - dt.timedelta(days=1)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The demo scenario and its plans in a fresh database (SQLite file or PostgreSQL schema)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('flow') / 'flow.db'}"
        else:
            url = stack.enter_context(pg_schema("dispatch"))
        s = dataclasses.replace(Settings.from_env(), database_url=url)
        do_import(s, _demo_scenario(s, DAY, 7), None)
        build_plans(s, DAY, None, 2.0)
        yield s


@pytest.fixture(scope="module")
def snapper(network: RoadNetwork) -> Any:
    cg = compile_graph(network, "light_truck")

    def dist(lon: float, lat: float) -> float:
        try:
            return snap(cg, lon, lat).distance_m
        except SnapError as exc:
            return exc.distance_m or float("inf")

    return dist


def request_body(key: str | None = None, **over: Any) -> dict[str, Any]:
    body = {
        "resident": {"name": "王芳", "phone": "13800138000"},
        "address": "福田区景田花园3栋1201",
        "lat": 22.5370,
        "lon": 114.0250,
        "materials": [{"material": "paper", "kg": 12, "m3": 0.1}],
        "date": DAY.isoformat(),
        "window": {"start": "09:00", "end": "11:00"},
        "idempotency_key": key,
    }
    body.update(over)
    return body


def test_create_is_idempotent_and_keeps_a_history(world: Settings, snapper: Any) -> None:
    """A retried request returns the same booking; the history shows requested then queued."""
    eng = make_engine(world.database_url)
    key = f"k-{uuid.uuid4().hex}"
    with session_scope(eng) as s:
        b1, created1 = booking.create_booking(
            s, request_body(key), today=TODAY, snap_distance=snapper
        )
        ref = b1.reference
    with session_scope(eng) as s:
        b2, created2 = booking.create_booking(
            s, request_body(key), today=TODAY, snap_distance=snapper
        )
        assert (created1, created2) == (True, False) and b2.reference == ref
        assert [h["to"] for h in booking.history(s, ref)] == ["requested", "queued"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"materials": [{"material": "uranium", "kg": 1}]}, "materials[0].material"),
        ({"materials": [{"material": "paper", "kg": -3}]}, "materials[0].kg"),
        ({"lat": 22.72, "lon": 114.25}, "lat/lon"),  # Longgang: not a served district
        ({"window": {"start": "11:00", "end": "09:00"}}, "window"),
        ({"date": "2026-11-30"}, "date"),
    ],
)
def test_bad_bookings_are_refused_naming_the_field(
    world: Settings, snapper: Any, over: dict[str, Any], field: str
) -> None:
    """Bad input gets an error naming the field, and nothing is stored."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        before = s.scalar(select(func.count()).select_from(m.Booking))
    with pytest.raises(InvalidInput) as err, session_scope(eng) as s:
        booking.create_booking(
            s, request_body(f"bad-{uuid.uuid4().hex}", **over), today=TODAY, snap_distance=snapper
        )
    assert field in err.value.problems
    with session_scope(eng) as s:
        assert s.scalar(select(func.count()).select_from(m.Booking)) == before


def test_concurrent_clients_store_each_booking_once(
    world: Settings, snapper: Any, network: RoadNetwork
) -> None:
    """1,000 requests from 50 clients (every request retried) while a plan is built: one booking per key."""
    eng = make_engine(world.database_url)
    keys = [f"c-{uuid.uuid4().hex}" for _ in range(500)]
    results: dict[str, set[str]] = {k: set() for k in keys}
    lock = threading.Lock()

    def client(i: int) -> None:
        for k in keys[i * 10 : (i + 1) * 10]:
            for _attempt in range(2):  # the retry after a dropped connection
                with session_scope(eng) as s:
                    b, _ = booking.create_booking(
                        s, request_body(k), today=TODAY, snap_distance=snapper
                    )
                    with lock:
                        results[k].add(b.reference)

    built: list[int] = []

    def planner() -> None:
        from dispatch.planning import build_plan
        from routing.problem import Limits

        with session_scope(eng) as s:
            built.append(
                build_plan(
                    s,
                    network,
                    "440305",
                    DAY,
                    limits=Limits(time_limit_s=2),
                    rules_dir=world.rules_dir,
                ).id
            )

    t = threading.Thread(target=planner)
    t.start()
    with ThreadPoolExecutor(50) as ex:
        list(ex.map(client, range(50)))
    t.join()
    assert all(len(v) == 1 for v in results.values())
    with session_scope(eng) as s:
        n = s.scalar(
            select(func.count()).select_from(m.Booking).where(m.Booking.idempotency_key.in_(keys))
        )
    assert n == 500
    assert built, "the plan build was disturbed"
    # Leave the day as it was for the tests after this one (500 extra pickups on one day
    # would turn their 2-second plans into a capacity and time-limit question).
    with session_scope(eng) as s:
        for b in s.scalars(select(m.Booking).where(m.Booking.idempotency_key.in_(keys))):
            booking.cancel_booking(s, b.reference, actor="test", reason="load test done")


def _live(s: Any, code: str) -> m.Plan:
    d = s.scalar(select(m.District).where(m.District.code == code))
    return s.scalar(
        select(m.Plan)
        .where(m.Plan.district_id == d.id, m.Plan.status == "draft")
        .order_by(m.Plan.id.desc())
    )


def test_lifecycle_approve_publish_and_events(world: Settings) -> None:
    """Approve once, publish once; events are idempotent, out of order fine, and close bookings."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        plan = _live(s, "440304")
        pid = plan.id
        approval.approve(s, pid, by="dispatcher-li")
        assert plan.approved_by == "dispatcher-li" and plan.approved_at is not None
    with pytest.raises(Conflict), session_scope(eng) as s:
        approval.approve(s, pid, by="dispatcher-li")
    with session_scope(eng) as s:
        approval.publish(s, pid, by="dispatcher-li")
    with pytest.raises(Conflict), session_scope(eng) as s:
        approval.publish(s, pid, by="dispatcher-li")
    with session_scope(eng) as s:
        plan = s.get(m.Plan, pid)
        assert plan.status == "published"
        versions = s.scalar(
            select(func.count())
            .select_from(m.RouteVersion)
            .join(m.Route)
            .where(m.Route.plan_id == pid)
        )
        assert versions == len(plan.routes)
        route = plan.routes[0]
        driver = s.scalar(select(m.Driver).where(m.Driver.vehicle_id == route.vehicle_id))
        other = s.scalar(select(m.Driver).where(m.Driver.vehicle_id != route.vehicle_id))
        pickups = [x for x in route.stops if x.kind in ("pickup", "station")]
        assert all(x.booking.status == "dispatched" for x in pickups if x.booking is not None)
        events = []
        for i, x in enumerate(pickups):
            events.append(
                {
                    "event_id": f"ev-{pid}-{i:04d}-c",
                    "stop_id": x.id,
                    "kind": "collected",
                    "recorded_at": f"{DAY}T10:00:00+08:00",
                    "kg": {"paper": 10.0 + i},
                }
            )
        # Pad to 100 events with arrivals at the same stops.
        k = 0
        while len(events) < 100:
            x = pickups[k % len(pickups)]
            events.append(
                {
                    "event_id": f"ev-{pid}-{k:04d}-a",
                    "stop_id": x.id,
                    "kind": "arrived",
                    "recorded_at": f"{DAY}T09:00:00+08:00",
                }
            )
            k += 1
        driver_id, other_id = driver.id, other.id
        stop_ids = [x.id for x in pickups]
    # Sent twice, the second time in reverse order, each in its own request.
    for ev in events + events[::-1]:
        with session_scope(eng) as s:
            execution.record_event(s, s.get(m.Driver, driver_id), ev)
    with session_scope(eng) as s:
        n = s.scalar(
            select(func.count()).select_from(m.StopEvent).where(m.StopEvent.driver_id == driver_id)
        )
        assert n == 100
        totals = execution.collected_totals(s, pid)
        assert totals["paper"] == pytest.approx(sum(10.0 + i for i in range(len(stop_ids))))
        for sid in stop_ids:
            st = s.get(m.Stop, sid)
            if st.booking is not None:
                assert st.booking.status == "collected"
        assert s.get(m.Plan, pid).status == "in_progress"
    # Someone else's route: refused, nothing stored.
    with pytest.raises(NotFound), session_scope(eng) as s:
        execution.record_event(
            s,
            s.get(m.Driver, other_id),
            {
                "event_id": f"ev-{pid}-intruder",
                "stop_id": stop_ids[0],
                "kind": "arrived",
                "recorded_at": f"{DAY}T09:00:00+08:00",
            },
        )
    with pytest.raises(InvalidInput) as err, session_scope(eng) as s:
        execution.record_event(
            s,
            s.get(m.Driver, driver_id),
            {
                "event_id": f"ev-{pid}-negative",
                "stop_id": stop_ids[0],
                "kind": "collected",
                "recorded_at": f"{DAY}T09:00:00+08:00",
                "kg": {"paper": -5},
            },
        )
    assert "kg.paper" in err.value.problems


def test_skipped_pickup_rolls_to_the_next_day_with_higher_priority(world: Settings) -> None:
    """A skipped pickup is missed, then queued for the next day with its priority raised."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        plan = _live(s, "440305")
        approval.approve(s, plan.id, by="d")
        approval.publish(s, plan.id, by="d")
        route = plan.routes[0]
        stop = next(x for x in route.stops if x.booking is not None)
        driver = s.scalar(select(m.Driver).where(m.Driver.vehicle_id == route.vehicle_id))
        ref, prio, day = stop.booking.reference, stop.booking.priority, stop.booking.date
        execution.record_event(
            s,
            driver,
            {
                "event_id": f"skip-{uuid.uuid4().hex[:8]}",
                "stop_id": stop.id,
                "kind": "skipped",
                "recorded_at": f"{DAY}T10:00:00+08:00",
                "reason": "nobody home",
            },
        )
    with session_scope(eng) as s:
        b = booking.get_booking(s, ref)
        assert (
            b.status == "queued" and b.date == day + dt.timedelta(days=1) and b.priority == prio + 1
        )
        assert [h["to"] for h in booking.history(s, ref)][-2:] == ["missed", "queued"]


def test_cancel_only_before_dispatch(world: Settings, snapper: Any) -> None:
    """A queued booking can be cancelled; a dispatched one cannot."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        b, _ = booking.create_booking(
            s, request_body(f"x-{uuid.uuid4().hex}"), today=TODAY, snap_distance=snapper
        )
        ref = b.reference
    with session_scope(eng) as s:
        assert booking.cancel_booking(s, ref, actor="resident").status == "cancelled"
    with session_scope(eng) as s:
        dispatched = s.scalar(
            select(m.Booking.reference).where(m.Booking.status == "dispatched").limit(1)
        )
    if dispatched:
        with pytest.raises(Conflict), session_scope(eng) as s:
            booking.cancel_booking(s, dispatched, actor="resident")


def test_an_edit_moving_a_stop_is_retimed_checked_and_saved_as_a_new_version(
    world: Settings, network: RoadNetwork
) -> None:
    """Moving a stop to another van re-times both routes, passes the replay, and supersedes the old draft."""
    from dispatch.editing import current_sequences, edit_plan

    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        d = s.scalar(select(m.District).where(m.District.code == "440304"))
        plan = build_plans_one(s, network, world, d)
        seqs = current_sequences(plan)
        # Find a move the re-timer accepts (most moves into a full day are refused: windows).
        from dispatch.planning import build_problem
        from dispatch.rights import session_rights
        from routing.errors import ProblemError
        from routing.retime import retime

        rights = session_rights(s, network, world.rules_dir)
        prob = build_problem(s, network, d, DAY, rights=rights).problem
        stops: dict[str, Any] = {x.id.split(":", 1)[1]: x for x in prob.stops}
        stops.update({f.id: f for f in prob.facilities})  # unload trips stay where they are
        vans = {v.id: v for v in prob.vehicles}

        def fits(van: str, seq: list[str]) -> bool:
            nonlocal refused, last_reason
            try:
                retime(prob, vans[van], [stops[r] for r in seq])
            except ProblemError as exc:
                refused += 1
                last_reason = str(exc)
                return False
            return True

        def candidates() -> Iterator[tuple[str, str, str, int, str | None]]:
            """(from van, stop, to van, position, stop of the target van left out or None):
            plain moves first; in a day so full that none fits, a move that leaves out the
            target van's stop at that position (the dispatcher unassigns it)."""
            for drop in (False, True):
                for a, seq_a in seqs.items():
                    for moved in reversed(seq_a):
                        if not hasattr(stops[moved], "needs_tail_lift"):
                            continue  # an unload trip, not a stop
                        for b, seq_b in seqs.items():
                            if b == a or (stops[moved].needs_tail_lift and not vans[b].tail_lift):
                                continue
                            for pos in range(len(seq_b), -1, -1):
                                if not drop:
                                    yield a, moved, b, pos, None
                                elif pos < len(seq_b) and hasattr(
                                    stops[seq_b[pos]], "needs_tail_lift"
                                ):
                                    yield a, moved, b, pos, seq_b[pos]

        move = None
        refused = 0
        last_reason = ""
        for a, moved, b, pos, out in candidates():
            seq_b = [r for r in seqs[b] if r != out]
            if fits(b, [*seq_b[:pos], moved, *seq_b[pos:]]) and fits(
                a, [r for r in seqs[a] if r != moved]
            ):
                move = (a, moved, b, pos, out)
                break
        assert move is not None, (
            f"no stop fits on another van ({refused} tried; e.g. {last_reason}; {seqs})"
        )
        a, moved, b, pos, out = move
        seqs[a].remove(moved)
        if out is not None:
            seqs[b].remove(out)
        seqs[b].insert(pos, moved)
        new = edit_plan(s, network, plan.id, seqs, by="dispatcher-li", rules_dir=world.rules_dir)
        assert current_sequences(new)[b][pos] == moved
        assert new.id != plan.id and new.version == plan.version + 1 and plan.status == "superseded"
        assert moved not in current_sequences(new)[a]
        if out is not None:  # the stop it displaced is unassigned, with the dispatcher as reason
            left = {
                u.booking.reference if u.booking else u.collection_point.ref
                for u in new.unassigned
                if u.booking or u.collection_point
            }
            assert out in left


def test_an_edit_that_cannot_work_is_refused_and_changes_nothing(
    world: Settings, network: RoadNetwork
) -> None:
    """Piling every stop on one van cannot be scheduled: refused with reasons; the plan is untouched."""
    from dispatch.editing import current_sequences, edit_plan

    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        d = s.scalar(select(m.District).where(m.District.code == "440304"))
        plan = build_plans_one(s, network, world, d)
        pid = plan.id
        seqs = current_sequences(plan)
        first = next(iter(seqs))
        everything = [r for seq in seqs.values() for r in seq]
    with pytest.raises(InvalidInput) as err, session_scope(eng) as s:
        edit_plan(s, network, pid, {first: everything}, by="d", rules_dir=world.rules_dir)
    assert any(k.startswith("routes") for k in err.value.problems)
    assert "too late" in str(err.value) or "after the shift" in str(err.value)
    with pytest.raises(InvalidInput), session_scope(eng) as s:
        edit_plan(s, network, pid, {"粤Z00000": []}, by="d", rules_dir=world.rules_dir)
    with session_scope(eng) as s:
        assert s.get(m.Plan, pid).status == "draft"


def build_plans_one(s: Any, network: RoadNetwork, world: Settings, d: m.District) -> m.Plan:
    from dispatch.planning import build_plan
    from routing.problem import Limits

    return build_plan(
        s, network, d.code, DAY, limits=Limits(time_limit_s=2), rules_dir=world.rules_dir
    )


def test_a_reference_clash_draws_a_new_reference(
    world: Settings, snapper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bookings drawing the same reference: the second gets a fresh one, both stored."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        first, _ = booking.create_booking(
            s, request_body(f"clash-a-{uuid.uuid4().hex}"), today=TODAY, snap_distance=snapper
        )
        taken = first.reference
    draws = iter([taken, "BK-261201-ZZZZZ9"])
    monkeypatch.setattr(booking, "_reference", lambda day: next(draws))
    with session_scope(eng) as s:
        second, created = booking.create_booking(
            s, request_body(f"clash-b-{uuid.uuid4().hex}"), today=TODAY, snap_distance=snapper
        )
        assert created and second.reference == "BK-261201-ZZZZZ9"
        assert [h["to"] for h in booking.history(s, second.reference)] == ["requested", "queued"]
    with session_scope(eng) as s:
        assert booking.get_booking(s, taken).id == first.id


def test_an_unchanged_plan_re_times_as_it_stands(world: Settings, network: RoadNetwork) -> None:
    """Saving a plan's own routes as an edit (unload trips where they are) is accepted: the
    re-timer agrees with the solver, so a dispatcher's small change starts from firm ground."""
    from dispatch.editing import current_sequences, edit_plan

    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        d = s.scalar(select(m.District).where(m.District.code == "440304"))
        plan = build_plans_one(s, network, world, d)
        seqs = current_sequences(plan)
        new = edit_plan(s, network, plan.id, seqs, by="d", rules_dir=world.rules_dir)
        assert current_sequences(new) == seqs
        assert new.solver_stats["distance_m"] <= plan.solver_stats["distance_m"] * 1.02


def test_out_of_range_event_and_offset_window_are_named(world: Settings, snapper: Any) -> None:
    """Numbers and times the database could not hold are refused up front, by field."""
    eng = make_engine(world.database_url)
    with session_scope(eng) as s:
        driver = s.scalars(select(m.Driver).where(m.Driver.vehicle_id.is_not(None))).first()
        with pytest.raises(InvalidInput) as err:
            execution.record_event(
                s, driver,
                {"event_id": "range-ev-0001", "stop_id": 2**70, "kind": "arrived",
                 "recorded_at": "9999-12-31T23:59:59-23:59"},
            )  # fmt: skip
        assert {"stop_id", "recorded_at"} <= set(err.value.problems)
        with pytest.raises(InvalidInput) as err:
            booking.create_booking(
                s, request_body(window={"start": "09:00+08:00", "end": "11:00"}),
                today=TODAY, snap_distance=snapper,
            )  # fmt: skip
        assert "window" in err.value.problems


def test_an_urgent_booking_for_a_window_already_over_is_refused(
    world: Settings, snapper: Any
) -> None:
    """A dispatcher's same-day booking: a window over by now is named; a later one is taken."""
    eng = make_engine(world.database_url)
    body = request_body(f"urgent-{uuid.uuid4().hex}", date=DAY.isoformat(), priority=9)
    with pytest.raises(InvalidInput) as err, session_scope(eng) as s:
        booking.create_booking(
            s, body, today=DAY, snap_distance=snapper, same_day=True, now=dt.time(11, 30)
        )
    assert "passed today" in err.value.problems["window"]
    with session_scope(eng) as s:
        b, created = booking.create_booking(
            s, body, today=DAY, snap_distance=snapper, same_day=True, now=dt.time(8, 0)
        )
        assert created and b.date == DAY and b.priority == 9
