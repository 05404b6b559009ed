"""Scheduler: one lease holder per database, jobs persisted once, cut-off and publishing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import pg_schema
from sqlalchemy import func, select, text, update

from dispatch import models as m
from dispatch import scheduler as sch
from dispatch.db import make_engine, session_scope, upgrade

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 12, 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema in ``TEST_DATABASE_URL``."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sched.db"
        return
    with pg_schema("scheduler") as url:
        yield url


@pytest.fixture
def lease(db_url: str) -> Iterator[Callable[..., sch.SchedulerLease]]:
    """Makes leases on ``db_url``; closes their connections afterwards."""
    made: list[sch.SchedulerLease] = []

    def make(holder: str, **kw: Any) -> sch.SchedulerLease:
        made.append(sch.SchedulerLease(db_url, holder=holder, **kw))
        return made[-1]

    yield make
    for x in made:
        x.close()


class FakeClock:
    """A settable UTC clock shared by lease contenders."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


# --- the lease


def test_one_holder_until_released(lease: Callable[..., sch.SchedulerLease]) -> None:
    """Of two contenders only one holds the lease; the other gets it once it is released."""
    a, b = lease("a", duration_s=30), lease("b", duration_s=30)
    assert a.acquire()
    assert not b.acquire()
    info = b.current()
    assert info is not None and info.holder == "a" and info.expires_at > info.acquired_at
    assert a.acquire() and a.renew()  # re-entrant for the holder
    assert not b.renew()
    a.release()
    assert b.acquire()
    assert not a.acquire() and not a.renew()
    b.release()
    assert b.current() is None


def test_expired_lease_is_taken_over(lease: Callable[..., sch.SchedulerLease]) -> None:
    """A holder that stops renewing loses the lease once it expires, and notices."""
    clock = FakeClock()
    a, b = lease("a", duration_s=30, clock=clock), lease("b", duration_s=30, clock=clock)
    assert a.acquire()
    clock.advance(20)
    assert not b.acquire()
    assert a.renew()  # now expires at +50
    clock.advance(29)
    assert not b.acquire()
    clock.advance(2)
    assert b.acquire()
    assert not a.renew() and not a.acquire()
    info = a.current()
    assert info is not None and info.holder == "b"


def test_short_lease_expires_in_real_time(lease: Callable[..., sch.SchedulerLease]) -> None:
    """The duration is a parameter: with a 0.3 s lease the second contender waits 0.3 s."""
    a, b = lease("a", duration_s=0.3), lease("b", duration_s=0.3)
    assert a.acquire() and not b.acquire()
    time.sleep(0.4)
    assert b.acquire()


def test_concurrent_contenders_get_one_winner(lease: Callable[..., sch.SchedulerLease]) -> None:
    """Contenders racing on a fresh database (table not yet created): exactly one wins."""
    n = 6
    leases = [lease(f"h{i}", duration_s=30) for i in range(n)]
    barrier = threading.Barrier(n)
    results: dict[int, bool | BaseException] = {}

    def contend(i: int) -> None:
        barrier.wait()
        try:
            results[i] = leases[i].acquire()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values(), key=str) == [False] * (n - 1) + [True], results
    winner = next(i for i, ok in results.items() if ok is True)
    info = leases[0].current()
    assert info is not None and info.holder == f"h{winner}"


# --- one running scheduler


def _single(url: str, holder: str, **kw: float) -> sch.SingleScheduler:
    return sch.SingleScheduler(
        url, holder=holder, lease_seconds=kw.get("lease", 1.0), heartbeat_seconds=0.2
    )


def test_second_scheduler_does_not_start(db_url: str) -> None:
    """The heartbeat keeps the lease past its duration; the second starts after the first stops."""
    first, second = _single(db_url, "first"), _single(db_url, "second")
    try:
        assert first.start() and first.running
        assert not second.start() and second.scheduler is None
        time.sleep(1.5)  # longer than the 1 s lease: only the heartbeat keeps it
        assert not second.start()
        assert first.running and not first.lost.is_set()
        first.stop()
        assert second.start() and second.running
    finally:
        first.stop()
        second.stop()


def test_crashed_holder_is_replaced_after_expiry(db_url: str) -> None:
    """A holder that dies without releasing blocks others only until its lease expires."""
    first, second = _single(db_url, "first"), _single(db_url, "second")
    try:
        assert first.start()
        assert first.scheduler is not None
        first.scheduler.shutdown(wait=False)  # "crash": no heartbeat, no release
        assert not second.start()
        assert second.start(wait=True, retry_seconds=0.1)
        info = second.lease.current()
        assert info is not None and info.holder == "second"
    finally:
        first.stop()
        second.stop()


def test_scheduler_stops_when_its_lease_is_taken(db_url: str) -> None:
    """If another holder took the lease (this one stalled), the heartbeat stops the scheduler."""
    first = _single(db_url, "first")
    try:
        assert first.start()
        with first.lease.engine.begin() as c:
            c.execute(update(sch.LEASES).values(holder="intruder"))
        assert first.lost.wait(3.0)
        assert not first.running  # paused: runs no more jobs, not even the heartbeat
        info = first.lease.current()
        assert info is not None and info.holder == "intruder"
    finally:
        first.stop()


def test_run_refuses_when_another_holds_the_lease(
    db_url: str, lease: Callable[..., sch.SchedulerLease], capsys: pytest.CaptureFixture[str]
) -> None:
    other = lease("web-worker-3", duration_s=60)
    assert other.acquire()
    assert sch.run(db_url, block=False) == 1
    assert "another scheduler (holder web-worker-3) is running" in capsys.readouterr().err


# --- persisted jobs


def _stored_jobs(url: str) -> dict[str, float]:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            rows = c.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    finally:
        eng.dispose()
    return {r[0]: r[1] for r in rows}


def _build_and_persist(url: str, cutoff: str = "20:00") -> dict[str, dt.datetime]:
    eng = make_engine(url)
    s = sch.build_scheduler(url, cutoff=cutoff, engine=eng)
    s.start(paused=True)  # writes the pending jobs to the job store, runs nothing
    try:
        return {j.id: j.next_run_time for j in s.get_jobs()}
    finally:
        s.shutdown(wait=False)
        eng.dispose()


def test_restarts_do_not_duplicate_jobs(db_url: str) -> None:
    """Two builds against one database leave exactly the two job ids; cut-off at 20:00 local."""
    before = dt.datetime.now(SHANGHAI)
    _build_and_persist(db_url)
    jobs = _build_and_persist(db_url)
    stored = _stored_jobs(db_url)
    assert sorted(stored) == sorted([sch.CUTOFF_JOB_ID, sch.PUBLISH_JOB_ID])
    assert sorted(jobs) == sorted(stored)
    cut = jobs[sch.CUTOFF_JOB_ID].astimezone(SHANGHAI)
    assert (cut.hour, cut.minute, cut.second) == (20, 0, 0)
    assert before < cut <= before + dt.timedelta(days=1)
    assert stored[sch.CUTOFF_JOB_ID] == pytest.approx(cut.timestamp())

    jobs = _build_and_persist(db_url, cutoff="21:30")  # a changed cut-off replaces the job
    assert sorted(_stored_jobs(db_url)) == sorted([sch.CUTOFF_JOB_ID, sch.PUBLISH_JOB_ID])
    cut = jobs[sch.CUTOFF_JOB_ID].astimezone(SHANGHAI)
    assert (cut.hour, cut.minute) == (21, 30)


def test_jobs_are_stored_as_plain_functions(db_url: str) -> None:
    eng = make_engine(db_url)
    s = sch.build_scheduler(db_url, engine=eng)
    s.start(paused=True)
    try:
        job = s.get_job(sch.CUTOFF_JOB_ID)
        assert job.func_ref == "dispatch.scheduler:nightly_cutoff"
        assert tuple(job.args) == (db_url,)
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert 0 < job.misfire_grace_time <= 4 * 3600
        assert s.get_job(sch.PUBLISH_JOB_ID).func_ref == "dispatch.scheduler:publish_due"
    finally:
        s.shutdown(wait=False)
        eng.dispose()


def _pending_next_run(url: str, cutoff: str = "20:00") -> dt.datetime | None:
    """The cut-off job's run time as build_scheduler sets it (None: from the trigger).

    The scheduler is not started: APScheduler's shutdown would then submit the overdue job
    to its closed executor."""
    eng = make_engine(url)
    try:
        s = sch.build_scheduler(url, cutoff=cutoff, engine=eng)
        return getattr(s.get_job(sch.CUTOFF_JOB_ID), "next_run_time", None)
    finally:
        eng.dispose()


def test_missed_cutoff_survives_a_restart(db_url: str) -> None:
    """A cut-off time that passed while no scheduler ran is kept, so it still runs (in grace)."""
    _build_and_persist(db_url)
    assert _pending_next_run(db_url) is None  # stored time in the future: the trigger decides
    now = dt.datetime.now(SHANGHAI)
    missed = now.replace(hour=20, minute=0, second=0, microsecond=0)
    if missed > now:
        missed -= dt.timedelta(days=1)
    eng = make_engine(db_url)
    with eng.begin() as c:
        c.execute(
            text("UPDATE apscheduler_jobs SET next_run_time = :t WHERE id = :id"),
            {"t": missed.timestamp(), "id": sch.CUTOFF_JOB_ID},
        )
    eng.dispose()
    assert _pending_next_run(db_url) == missed
    assert _pending_next_run(db_url, cutoff="21:00") is None  # another schedule: recomputed


def test_cutoff_and_clock_helpers() -> None:
    assert sch.parse_cutoff("20:00") == (20, 0)
    for bad in ("8pm", "25:00", "20:00:30", "20:00+08:00"):
        with pytest.raises(ValueError):
            sch.parse_cutoff(bad)
    # 17:00 UTC on 30 Nov is 01:00 on 1 Dec in Shenzhen: tomorrow is 2 Dec
    assert sch.tomorrow_local(dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)) == dt.date(
        2026, 12, 2
    )
    assert sch.local_now("2026-12-01T07:45") == dt.datetime(2026, 12, 1, 7, 45, tzinfo=SHANGHAI)
    assert sch._cutoff_grace_s(20, 0) == 3 * 3600
    assert sch._cutoff_grace_s(23, 30) == 15 * 60
    assert sch._cutoff_grace_s(23, 55) == 60


# --- publishing at shift start


def _plan_world(url: str, day: dt.date = DAY, first: dt.time = dt.time(8, 0)) -> dict[str, int]:
    """Five one-van plans in five districts; returns plan ids by name."""
    eng = make_engine(url)
    upgrade(eng)
    cases = {
        "due": ("approved", day, first),
        "later": ("approved", day, dt.time(14, 0)),
        "draft": ("draft", day, first),
        "stale": ("approved", day - dt.timedelta(days=1), first),
        "tomorrow": ("approved", day + dt.timedelta(days=1), dt.time(6, 0)),
    }
    ids = {}
    with session_scope(eng) as s:
        vc = m.VehicleClass(
            code="light_electric",
            name="纯电动轻型厢式货车",
            weight_class="light",
            gross_weight_kg=4495,
            fuel="electric",
            speed_profile="light_electric",
            tail_lift=False,
        )
        for i, (name, (status, day, shift)) in enumerate(cases.items()):
            d = m.District(code=f"T{i}", name_zh=f"区{i}", name_en=f"D{i}", boundary={})
            depot = m.Depot(ref=f"DEP-{i}", name=f"基地{i}", district=d, lat=22.54, lon=114.05)
            van = m.Vehicle(
                plate=f"粤B{i}0000D",
                vehicle_class=vc,
                depot=depot,
                capacity_kg=1200,
                capacity_m3=8.0,
                shift_start=shift,
                shift_end=dt.time(18, 0),
                break_minutes=0,
                permits=[],
            )
            plan = m.Plan(district=d, date=day, status=status, solver_stats={}, facilities=[])
            route = m.Route(plan=plan, vehicle=van, distance_m=0, duration_s=0)
            s.add_all([d, depot, van, plan, route])
            s.flush()
            t0 = shift.hour * 3600 + shift.minute * 60
            for seq in (0, 1):
                s.add(
                    m.Stop(
                        route_id=route.id,
                        sequence=seq,
                        kind="depot",
                        depot_id=depot.id,
                        lat=depot.lat,
                        lon=depot.lon,
                        node=1,
                        arrival_s=t0,
                        start_s=t0,
                        departure_s=t0,
                        load_kg=0,
                        load_m3=0.0,
                    )
                )
            ids[name] = plan.id
    eng.dispose()
    return ids


def _statuses(url: str) -> dict[int, str]:
    eng = make_engine(url)
    with session_scope(eng) as s:
        out = {p.id: p.status for p in s.scalars(select(m.Plan))}
    eng.dispose()
    return out


def test_publish_due_publishes_plans_near_shift_start(db_url: str) -> None:
    ids = _plan_world(db_url)
    # 07:45 in Shenzhen, given in UTC: the 08:00 shift is within the 30 min lead
    assert sch.publish_due(db_url, "2026-11-30T23:45:00+00:00") == [ids["due"]]
    st = _statuses(db_url)
    assert st[ids["due"]] == "published"
    assert {st[ids[k]] for k in ("later", "stale", "tomorrow")} == {"approved"}
    assert st[ids["draft"]] == "draft"

    eng = make_engine(db_url)
    with session_scope(eng) as s:
        versions = s.execute(select(m.RouteVersion.route_id, m.Route.plan_id).join(m.Route)).all()
        assert [plan_id for _, plan_id in versions] == [ids["due"]]
        plan = s.get(m.Plan, ids["due"])
        assert plan is not None and plan.published_by == "scheduler"
        skipped = list(
            s.scalars(select(m.AuditLog).where(m.AuditLog.action == "plan.publish_skipped"))
        )
        assert [(a.entity_id, a.actor) for a in skipped] == [(str(ids["stale"]), "scheduler")]

    # an hour before the 14:00 shift: not yet; idempotent; the skip is recorded only once
    assert sch.publish_due(db_url, "2026-12-01T13:00:00+08:00") == []
    assert sch.publish_due(db_url, "2026-12-01T13:35:00+08:00") == [ids["later"]]
    with session_scope(eng) as s:
        n = s.scalar(
            select(func.count())
            .select_from(m.AuditLog)
            .where(m.AuditLog.action == "plan.publish_skipped")
        )
        assert n == 1
    eng.dispose()
    assert _statuses(db_url)[ids["stale"]] == "approved"


def test_publish_due_publishes_the_latest_approval_of_a_district(db_url: str) -> None:
    """Two approved plans for one district and day: the later approval goes out, the other is
    superseded."""
    ids = _plan_world(db_url)
    eng = make_engine(db_url)
    with session_scope(eng) as s:
        old = s.get(m.Plan, ids["due"])
        assert old is not None
        old.approved_at = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
        new = m.Plan(
            district_id=old.district_id,
            date=old.date,
            status="approved",
            approved_at=dt.datetime(2026, 11, 30, 11, 0, tzinfo=dt.UTC),
            solver_stats={},
            facilities=[],
        )
        new.routes = [m.Route(vehicle_id=old.routes[0].vehicle_id, distance_m=0, duration_s=0)]
        s.add(new)
        s.flush()
        new_id = new.id
    eng.dispose()
    assert sch.publish_due(db_url, "2026-12-01T07:45:00+08:00") == [new_id]
    st = _statuses(db_url)
    assert (st[new_id], st[ids["due"]]) == ("published", "superseded")


def test_publish_due_lead_time_is_a_parameter(db_url: str) -> None:
    ids = _plan_world(db_url)
    assert sch.publish_due(db_url, "2026-12-01T07:45:00+08:00", lead_minutes=10) == []
    assert sch.publish_due(db_url, "2026-12-01T07:50:00+08:00", lead_minutes=10) == [ids["due"]]


def test_running_scheduler_publishes_through_the_job_store(db_url: str) -> None:
    """The persisted publish job really runs: an approved plan for today at 00:00 goes out."""
    ids = _plan_world(db_url, dt.datetime.now(SHANGHAI).date(), dt.time(0, 0))
    single = sch.SingleScheduler(db_url, publish_every_minutes=0.01, holder="live")
    try:
        assert single.start()
        deadline = time.monotonic() + 10
        while _statuses(db_url)[ids["due"]] != "published" and time.monotonic() < deadline:
            time.sleep(0.2)
        st = _statuses(db_url)
        assert (st[ids["due"]], st[ids["draft"]], st[ids["stale"]]) == (
            "published",
            "draft",
            "approved",
        )
    finally:
        single.stop()


def test_run_blocks_until_sigterm_and_releases(tmp_path: os.PathLike[str]) -> None:
    """``run`` as a process: a second one is refused (1); SIGTERM stops the first (0)."""
    url = f"sqlite:///{tmp_path}/run.db"
    code = (
        f"import sys; from dispatch.scheduler import run; sys.exit(run({url!r}, lease_seconds=2))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    probe = sch.SchedulerLease(url, holder="probe")
    try:
        deadline = time.monotonic() + 30
        while (info := probe.current()) is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        assert info is not None and f":{proc.pid}:" in info.holder
        assert sch.run(url, block=False) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.communicate()[1]
        assert probe.current() is None  # released: the next one starts at once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        probe.close()


# --- the nightly cut-off over the demo data


@pytest.mark.slow
def test_nightly_cutoff_builds_every_district(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One draft per district with a depot; a district that cannot be planned is audited and
    does not stop the others; the drafts can then be approved and published on time."""
    from dispatch import approval
    from dispatch.cli import _demo_scenario, do_import
    from dispatch.settings import Settings

    url = f"sqlite:///{tmp_path}/cutoff.db"
    monkeypatch.setenv("LOOPVAN_SOLVER_SECONDS", "2")
    settings = dataclasses.replace(Settings.from_env(), database_url=url)
    do_import(settings, _demo_scenario(settings, DAY, 7), None)
    eng = make_engine(url)
    with session_scope(eng) as s:
        planned = sorted({d.district.code for d in s.scalars(select(m.Depot))})
        luohu = s.scalar(select(m.District).where(m.District.name_en == "Luohu"))
        assert luohu is not None and luohu.code not in planned
        # a depot without vans: build_plan refuses this district
        s.add(m.Depot(ref="DEP-EMPTY", name="空基地", district=luohu, lat=22.548, lon=114.118))

    ids = sch.nightly_cutoff(url, DAY.isoformat())

    with session_scope(eng) as s:
        plans = [s.get(m.Plan, i) for i in ids]
        assert sorted(p.district.code for p in plans if p) == planned
        assert all(p and p.status == "draft" and p.date == DAY for p in plans)
        failed = list(s.scalars(select(m.AuditLog).where(m.AuditLog.action == "plan.build_failed")))
        assert [(a.entity_id, a.actor) for a in failed] == [(luohu.code, "scheduler")]
        assert failed[0].detail["date"] == DAY.isoformat()
        built = s.scalars(
            select(m.AuditLog.entity_id).where(
                m.AuditLog.action == "plan.build", m.AuditLog.actor == "scheduler"
            )
        )
        assert sorted(int(x) for x in built) == sorted(ids)
        approval.approve(s, ids[0], by="dispatcher")
        plan = s.get(m.Plan, ids[0])
        assert plan is not None
        first = min(r.vehicle.shift_start for r in plan.routes)
    eng.dispose()

    shift = dt.datetime.combine(DAY, first, tzinfo=SHANGHAI)
    early = (shift - dt.timedelta(minutes=45)).isoformat()
    assert sch.publish_due(url, early) == []
    assert sch.publish_due(url, (shift - dt.timedelta(minutes=20)).isoformat()) == [ids[0]]
    assert _statuses(url)[ids[0]] == "published"
