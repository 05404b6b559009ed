"""Scheduled dispatch: the nightly cut-off and publishing at shift start.

Two jobs run on APScheduler 3, persisted by its SQLAlchemy job store (table
``apscheduler_jobs`` in the Loopvan database):

* :func:`nightly_cutoff` (cron, default 20:00 Asia/Shanghai) builds tomorrow's draft plan
  for every district that has a depot;
* :func:`publish_due` (every few minutes) publishes approved plans for today once the
  earliest shift start of the plan's vans is less than the lead time away.

Both are module-level functions whose only arguments are strings, so the job store can
pickle them; each opens its own engine from the database URL.

Exactly one scheduler runs per database, however many web workers or ``loopvan
scheduler`` processes are started: :class:`SchedulerLease` is a lease row in table
``scheduler_lease`` (created here with SQLAlchemy Core, outside the Alembic schema).
Taking it is one conditional ``UPDATE`` (or an ``INSERT`` when the row does not exist
yet), atomic on SQLite and PostgreSQL; the holder renews it from a heartbeat job and a
scheduler that loses it stops. :class:`SingleScheduler` ties the lease to a scheduler;
:func:`run` is the entry point for the command line.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    case,
    delete,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from dispatch import approval
from dispatch import models as m
from dispatch.db import make_engine, session_scope
from dispatch.errors import DispatchError
from dispatch.planning import PlanningError
from dispatch.settings import TIMEZONE, Settings
from dispatch.workers import build_districts

log = logging.getLogger(__name__)

ACTOR = "scheduler"
CUTOFF_JOB_ID = "loopvan.nightly_cutoff"
PUBLISH_JOB_ID = "loopvan.publish_due"
HEARTBEAT_JOB_ID = "loopvan.lease_heartbeat"
DEFAULT_LEASE_NAME = "loopvan-scheduler"
DEFAULT_CUTOFF = "20:00"
PUBLISH_LEAD_MINUTES = 30.0
JOBS_TABLE = "apscheduler_jobs"


def _zone() -> dt.tzinfo:
    try:
        return ZoneInfo(TIMEZONE)
    except ZoneInfoNotFoundError:  # no tz database: China has had no DST since 1991
        return dt.timezone(dt.timedelta(hours=8), TIMEZONE)


TZ = _zone()


def local_now(now_iso: str | None = None) -> dt.datetime:
    """``now_iso`` (ISO-8601; without an offset it is Shanghai time), or now, in Shanghai."""
    if now_iso is None:
        return dt.datetime.now(TZ)
    now = dt.datetime.fromisoformat(now_iso)
    return now.replace(tzinfo=TZ) if now.tzinfo is None else now.astimezone(TZ)


def tomorrow_local(now: dt.datetime | None = None) -> dt.date:
    """The date after ``now`` (default: now) in Shanghai."""
    now = dt.datetime.now(TZ) if now is None else now.astimezone(TZ)
    return now.date() + dt.timedelta(days=1)


def _utc(t: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored value is UTC.
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def parse_cutoff(cutoff: str) -> tuple[int, int]:
    """``"HH:MM"`` as (hour, minute); :class:`ValueError` otherwise."""
    try:
        t = dt.time.fromisoformat(cutoff)
    except ValueError:
        raise ValueError(f"cut-off must be a time of day HH:MM, not {cutoff!r}") from None
    if t.second or t.microsecond or t.tzinfo is not None:
        raise ValueError(f"cut-off must be a time of day HH:MM, not {cutoff!r}")
    return t.hour, t.minute


# --- jobs ------------------------------------------------------------------------------


def _audit(
    engine: Engine, action: str, entity: str, entity_id: str, detail: dict[str, Any]
) -> None:
    """An audit row in its own transaction; a failure to write it is logged, not raised."""
    try:
        with session_scope(engine) as s:
            s.add(
                m.AuditLog(
                    actor=ACTOR, action=action, entity=entity, entity_id=entity_id, detail=detail
                )
            )
    except Exception:
        log.exception("could not record %s for %s %s", action, entity, entity_id)


def _build_failed(engine: Engine, code: str, day: dt.date, exc: BaseException) -> None:
    detail = {"district": code, "date": day.isoformat(), "error": str(exc)}
    detail["error_type"] = type(exc).__name__
    _audit(engine, "plan.build_failed", "district", code, detail)


def nightly_cutoff(database_url: str, day_iso: str | None = None) -> list[int]:
    """Build a draft plan for ``day_iso`` (default: tomorrow in Shanghai) in every district
    that has a depot; return the new plans' ids.

    Each district is planned in its own transaction. A district that fails is logged and
    recorded as ``plan.build_failed`` in the audit log; the others are still planned.
    Road network, speeds, rules and solver time come from :meth:`Settings.from_env`, with
    ``database_url`` in place of ``LOOPVAN_DATABASE_URL``.
    """
    day = dt.date.fromisoformat(day_iso) if day_iso else tomorrow_local()
    settings = dataclasses.replace(Settings.from_env(), database_url=database_url)
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            codes = list(
                s.scalars(
                    select(m.District.code)
                    .join(m.Depot, m.Depot.district_id == m.District.id)
                    .distinct()
                    .order_by(m.District.code)
                )
            )
        if not codes:
            log.warning("nightly cut-off for %s: no district has a depot", day)
            return []
        log.info("nightly cut-off: planning %s for districts %s", day, ", ".join(codes))
        try:
            # local worker processes, or Celery workers when LOOPVAN_BROKER_URL is set:
            # the solves never hold up this process (and its lease heartbeat)
            jobs = build_districts(settings, codes, day, settings.solver_time_limit_s, by=ACTOR)
        except Exception as exc:
            log.exception("nightly cut-off for %s: the solves could not be run", day)
            for code in codes:
                _build_failed(engine, code, day, exc)
            return []
        ids: list[int] = []
        for job in jobs:
            if job.plan_id is None:
                log.warning(
                    "nightly cut-off: no plan for district %s on %s: %s",
                    job.district_code,
                    day,
                    job.error,
                )
                _build_failed(engine, job.district_code, day, PlanningError(job.error))
                continue
            ids.append(job.plan_id)
            log.info(
                "nightly cut-off: draft plan %d for district %s on %s (plan job %d, %s)",
                job.plan_id,
                job.district_code,
                day,
                job.id,
                job.worker,
            )
        return ids
    finally:
        engine.dispose()


def _first_shift_start(plan: m.Plan) -> dt.time | None:
    return min((r.vehicle.shift_start for r in plan.routes), default=None)


def _approval_key(plan: m.Plan) -> tuple[dt.datetime, int]:
    at = plan.approved_at or plan.created_at or dt.datetime.min.replace(tzinfo=dt.UTC)
    return _utc(at), plan.id


def publish_due(
    database_url: str, now_iso: str | None = None, lead_minutes: float = PUBLISH_LEAD_MINUTES
) -> list[int]:
    """Publish approved plans for today whose first shift starts within ``lead_minutes``.

    "Today" and "now" are Shanghai time; ``now_iso`` overrides the clock. The first shift
    start is the earliest ``shift_start`` of the vans on the plan's routes (a plan without
    routes is due at once). Of several approved plans of one district and day only the
    latest approved is published (publishing supersedes the others). Approved plans for
    past dates are left alone, logged and recorded once as ``plan.publish_skipped``. Each plan is published in its own
    transaction, so one failure does not hold back the others. Returns the published ids.
    """
    now = local_now(now_iso)
    today = now.date()
    lead = dt.timedelta(minutes=lead_minutes)
    engine = make_engine(database_url)
    try:
        due: dict[int, m.Plan] = {}  # by district
        stale: dict[int, dt.date] = {}
        with session_scope(engine) as s:
            for plan in s.scalars(
                select(m.Plan)
                .where(m.Plan.status == "approved", m.Plan.date <= today)
                .order_by(m.Plan.date, m.Plan.id)
            ):
                if plan.date < today:
                    stale[plan.id] = plan.date
                    continue
                first = _first_shift_start(plan)
                if first is None or dt.datetime.combine(today, first, tzinfo=TZ) - lead <= now:
                    other = due.get(plan.district_id)
                    if other is None or _approval_key(plan) > _approval_key(other):
                        due[plan.district_id] = plan
            due_ids = sorted(p.id for p in due.values())
            if stale:
                recorded = set(
                    s.scalars(
                        select(m.AuditLog.entity_id).where(
                            m.AuditLog.action == "plan.publish_skipped",
                            m.AuditLog.entity == "plan",
                            m.AuditLog.entity_id.in_([str(i) for i in stale]),
                        )
                    )
                )
                for plan_id, day in stale.items():
                    if str(plan_id) in recorded:
                        continue
                    log.warning(
                        "plan %d was approved for %s but never published; not publishing it on %s",
                        plan_id,
                        day,
                        today,
                    )
                    s.add(
                        m.AuditLog(
                            actor=ACTOR,
                            action="plan.publish_skipped",
                            entity="plan",
                            entity_id=str(plan_id),
                            detail={
                                "date": day.isoformat(),
                                "today": today.isoformat(),
                                "reason": "plan date has passed",
                            },
                        )
                    )
        published: list[int] = []
        for plan_id in due_ids:
            try:
                with session_scope(engine) as s:
                    # Lock the row (PostgreSQL) so a dispatcher's reject cannot interleave.
                    status = s.scalar(
                        select(m.Plan.status).where(m.Plan.id == plan_id).with_for_update()
                    )
                    if status != "approved":
                        log.info("plan %d is now %s; not publishing it", plan_id, status)
                        continue
                    plan = approval.publish(s, plan_id, by=ACTOR)
                    routes = len(plan.routes)
            except DispatchError as exc:
                log.warning("plan %d was not published: %s", plan_id, exc)
                continue
            except Exception:
                log.exception("publishing plan %d failed", plan_id)
                continue
            published.append(plan_id)
            log.info("published plan %d (%d routes) at %s", plan_id, routes, now.isoformat())
        return published
    finally:
        engine.dispose()


# --- the lease ---------------------------------------------------------------------------

_lease_metadata = MetaData()
LEASES = Table(
    "scheduler_lease",
    _lease_metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def default_holder() -> str:
    """``host:pid:random``: unique per process, readable in the lease table and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease, since when and until when (UTC)."""

    holder: str
    acquired_at: dt.datetime
    expires_at: dt.datetime


class SchedulerLease:
    """A named lease row that at most one holder has at a time.

    ``acquire`` takes the row when it is missing, expired or already ours; ``renew``
    extends it while it is still ours; ``release`` gives it up. Expiry uses this process's
    clock (``clock``, timezone-aware UTC), so hosts sharing a database need synchronised
    clocks, well within ``duration_s``.
    """

    def __init__(
        self,
        engine: Engine | str,
        name: str = DEFAULT_LEASE_NAME,
        *,
        duration_s: float = 60.0,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if duration_s <= 0:
            raise ValueError("the lease duration must be positive")
        self._owns_engine = isinstance(engine, str)
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        self.name = name
        self.duration = dt.timedelta(seconds=duration_s)
        self.holder = holder or default_holder()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._table_ready = False

    def _now(self) -> dt.datetime:
        return _utc(self._clock())

    def ensure_table(self) -> None:
        """Create ``scheduler_lease`` if it is missing (a concurrent creator is fine)."""
        if self._table_ready:
            return
        try:
            LEASES.create(self.engine, checkfirst=True)
        except (IntegrityError, OperationalError, ProgrammingError):
            if not inspect(self.engine).has_table(LEASES.name):
                raise
        self._table_ready = True

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or ours; True when we hold it now."""
        self.ensure_table()
        now = self._now()
        t = LEASES.c
        with self.engine.begin() as c:
            taken = c.execute(
                update(LEASES)
                .where(t.name == self.name, or_(t.expires_at < now, t.holder == self.holder))
                .values(
                    holder=self.holder,
                    expires_at=now + self.duration,
                    acquired_at=case(
                        (t.holder == self.holder, t.acquired_at),
                        else_=literal(now, DateTime(timezone=True)),
                    ),
                )
            ).rowcount
        if taken == 1:
            return True
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(LEASES).values(
                        name=self.name,
                        holder=self.holder,
                        acquired_at=now,
                        expires_at=now + self.duration,
                    )
                )
        except IntegrityError:  # the row exists and someone else holds it
            return False
        return True

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (taken over or released)."""
        self.ensure_table()
        now = self._now()
        with self.engine.begin() as c:
            n = c.execute(
                update(LEASES)
                .where(LEASES.c.name == self.name, LEASES.c.holder == self.holder)
                .values(expires_at=now + self.duration)
            ).rowcount
        return n == 1

    def release(self) -> None:
        """Give the lease up if we hold it."""
        self.ensure_table()
        with self.engine.begin() as c:
            c.execute(
                delete(LEASES).where(LEASES.c.name == self.name, LEASES.c.holder == self.holder)
            )

    def close(self) -> None:
        """Close the database connections of an engine this lease made from a URL."""
        if self._owns_engine:
            self.engine.dispose()

    def current(self) -> LeaseInfo | None:
        """The lease row as stored (possibly expired), or None."""
        self.ensure_table()
        with self.engine.connect() as c:
            row = c.execute(
                select(LEASES.c.holder, LEASES.c.acquired_at, LEASES.c.expires_at).where(
                    LEASES.c.name == self.name
                )
            ).first()
        if row is None:
            return None
        return LeaseInfo(row.holder, _utc(row.acquired_at), _utc(row.expires_at))


# --- the scheduler -----------------------------------------------------------------------


def _cutoff_grace_s(hour: int, minute: int) -> int:
    """How late a missed cut-off may still run: up to 3 h, ending 15 min before midnight,
    so that "tomorrow" is still the day the cut-off was for."""
    to_midnight = 24 * 3600 - (hour * 3600 + minute * 60)
    return max(60, min(3 * 3600, to_midnight - 15 * 60))


def _stored_next_run(engine: Engine, job_id: str) -> dt.datetime | None:
    """The next run time the job store holds for ``job_id``, if any."""
    try:
        if not inspect(engine).has_table(JOBS_TABLE):
            return None
        jobs = Table(JOBS_TABLE, MetaData(), autoload_with=engine)
        with engine.connect() as c:
            ts = c.execute(select(jobs.c.next_run_time).where(jobs.c.id == job_id)).scalar()
    except Exception:
        log.exception("could not read %s", JOBS_TABLE)
        return None
    return None if ts is None else dt.datetime.fromtimestamp(float(ts), dt.UTC)


def build_scheduler(
    database_url: str,
    *,
    cutoff: str = DEFAULT_CUTOFF,
    publish_every_minutes: float = 5,
    publish_lead_minutes: float = PUBLISH_LEAD_MINUTES,
    blocking: bool = False,
    engine: Engine | None = None,
) -> BackgroundScheduler | BlockingScheduler:
    """An APScheduler 3 scheduler (not started) with Loopvan's two jobs in the database.

    The job store uses ``engine`` when given (its owner disposes of it), else its own
    engine for ``database_url``; the jobs always get ``database_url``.

    Jobs have fixed ids and ``replace_existing``, so a restart updates them rather than
    adding copies; a cut-off missed while no scheduler ran (a restart or a fail-over just
    before the cut-off) keeps its stored run time and still runs within its grace time.
    Call :meth:`start` only while holding the lease (see :class:`SingleScheduler`).
    """
    hour, minute = parse_cutoff(cutoff)
    if publish_every_minutes <= 0:
        raise ValueError("publish_every_minutes must be positive")
    store_engine = engine if engine is not None else make_engine(database_url)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    sched = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=store_engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=TZ,
    )
    cutoff_kwargs: dict[str, Any] = {}
    stored = _stored_next_run(store_engine, CUTOFF_JOB_ID)
    if stored is not None and stored <= dt.datetime.now(dt.UTC):
        local = stored.astimezone(TZ)
        if (local.hour, local.minute) == (hour, minute):
            log.warning("the cut-off of %s did not run; it runs now if within its grace", local)
            cutoff_kwargs["next_run_time"] = stored
    sched.add_job(
        nightly_cutoff,
        CronTrigger(hour=hour, minute=minute, timezone=TZ),
        args=[database_url],
        id=CUTOFF_JOB_ID,
        name=f"nightly cut-off at {hour:02d}:{minute:02d}: draft plans for tomorrow",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=_cutoff_grace_s(hour, minute),
        **cutoff_kwargs,
    )
    every_s = max(1, round(publish_every_minutes * 60))
    sched.add_job(
        publish_due,
        IntervalTrigger(seconds=every_s, timezone=TZ),
        args=[database_url],
        kwargs={"lead_minutes": publish_lead_minutes},
        id=PUBLISH_JOB_ID,
        name="publish approved plans before shift start",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=every_s,
    )
    return sched


def default_lease_seconds(settings: Settings | None = None) -> float:
    """60 s, or three solver time limits when longer.

    The OR-Tools solve holds the GIL for up to its time limit, so during the nightly
    cut-off the heartbeat thread can be starved that long; the lease must outlast it.
    """
    settings = settings or Settings.from_env()
    return max(60.0, 3 * settings.solver_time_limit_s)


class SingleScheduler:
    """The scheduler of one database, running only while this process holds the lease.

    ``start`` takes the lease (or, with ``wait``, keeps trying), builds the scheduler with
    :func:`build_scheduler` and starts it in the background with a heartbeat job (kept in
    memory, not in the database) that renews the lease every ``heartbeat_seconds`` (default:
    a quarter of ``lease_seconds``, itself :func:`default_lease_seconds`). If the
    lease is lost (taken over after this process stalled, or the database unreachable for
    about as long as the lease), the heartbeat pauses the scheduler, so it runs no more
    jobs, and sets :attr:`lost`; the owner then calls :meth:`stop`.
    """

    def __init__(
        self,
        database_url: str,
        *,
        lease_name: str = DEFAULT_LEASE_NAME,
        lease_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        cutoff: str = DEFAULT_CUTOFF,
        publish_every_minutes: float = 5,
        publish_lead_minutes: float = PUBLISH_LEAD_MINUTES,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if lease_seconds is None:
            lease_seconds = default_lease_seconds()
        heartbeat = lease_seconds / 4 if heartbeat_seconds is None else heartbeat_seconds
        if not 0 < heartbeat < lease_seconds:
            raise ValueError("the heartbeat must be shorter than the lease")
        parse_cutoff(cutoff)
        self.database_url = database_url
        self.cutoff = cutoff
        self.publish_every_minutes = publish_every_minutes
        self.publish_lead_minutes = publish_lead_minutes
        self.heartbeat_seconds = heartbeat
        self.engine = make_engine(database_url)  # the lease's and the job store's
        self.lease = SchedulerLease(
            self.engine, lease_name, duration_s=lease_seconds, holder=holder, clock=clock
        )
        self.scheduler: BackgroundScheduler | None = None
        self.lost = threading.Event()
        self._last_renewal = 0.0

    @property
    def holder(self) -> str:
        """This process's holder id."""
        return self.lease.holder

    @property
    def running(self) -> bool:
        """True while the scheduler runs jobs (not after losing the lease or stopping)."""
        return self.scheduler is not None and self.scheduler.state == STATE_RUNNING

    def acquire(
        self,
        *,
        wait: bool = False,
        retry_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Take the lease; with ``wait``, retry until taken or ``stop`` is set."""
        delay = (
            retry_seconds if retry_seconds is not None else self.lease.duration.total_seconds() / 2
        )
        seen: str | None = None
        while True:
            if self.lease.acquire():
                self._last_renewal = time.monotonic()
                log.info("scheduler lease %r taken by %s", self.lease.name, self.holder)
                return True
            info = self.lease.current()
            other = info.holder if info else "unknown"
            if other != seen:
                log.info(
                    "scheduler lease %r is held by %s until %s",
                    self.lease.name,
                    other,
                    info.expires_at.isoformat() if info else "?",
                )
                seen = other
            if not wait:
                return False
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                time.sleep(delay)

    def start(
        self,
        *,
        wait: bool = False,
        retry_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Take the lease and start the scheduler in the background.

        Returns False, starting nothing, when another holder has the lease (and ``wait`` is
        false, or ``stop`` was set while waiting).
        """
        if self.scheduler is not None:
            raise RuntimeError("this scheduler has already been started")
        if not self.acquire(wait=wait, retry_seconds=retry_seconds, stop=stop):
            return False
        self.lost.clear()
        try:
            sched = build_scheduler(
                self.database_url,
                cutoff=self.cutoff,
                publish_every_minutes=self.publish_every_minutes,
                publish_lead_minutes=self.publish_lead_minutes,
                engine=self.engine,
            )
            assert isinstance(sched, BackgroundScheduler)
            sched.add_jobstore(MemoryJobStore(), "local")
            sched.add_executor(ThreadPoolExecutor(max_workers=1), "lease")
            # Two INFO lines per beat would drown the log; failures still show.
            logging.getLogger("apscheduler.executors.lease").setLevel(logging.WARNING)
            sched.add_job(
                self._heartbeat,
                IntervalTrigger(seconds=self.heartbeat_seconds, timezone=TZ),
                id=HEARTBEAT_JOB_ID,
                name="scheduler lease heartbeat",
                jobstore="local",
                executor="lease",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(self.heartbeat_seconds)),
            )
            self.scheduler = sched
            sched.start()
        except BaseException:
            self.scheduler = None
            self.lease.release()
            raise
        log.info(
            "scheduler started by %s: cut-off %s, publishing every %s min",
            self.holder,
            self.cutoff,
            self.publish_every_minutes,
        )
        return True

    def _heartbeat(self) -> None:
        try:
            ok = self.lease.renew()
        except Exception:
            elapsed = time.monotonic() - self._last_renewal
            log.exception("renewing the scheduler lease failed (last renewed %.0f s ago)", elapsed)
            if elapsed < self.lease.duration.total_seconds() - self.heartbeat_seconds:
                return  # still ours for a while: try again at the next beat
            ok = False
        if ok:
            self._last_renewal = time.monotonic()
            return
        info = None
        try:
            info = self.lease.current()
        except Exception:
            log.debug("could not read the lease", exc_info=True)
        log.error(
            "scheduler lease %r lost by %s (now held by %s); stopping this scheduler",
            self.lease.name,
            self.holder,
            info.holder if info else "nobody",
        )
        sched = self.scheduler
        if sched is not None and sched.state == STATE_RUNNING:
            sched.pause()  # runs no more jobs; shutting down from a job thread would race
        self.lost.set()

    def stop(self, *, wait: bool = True) -> None:
        """Shut the scheduler down (``wait``: let running jobs finish) and release the lease."""
        sched, self.scheduler = self.scheduler, None
        if sched is not None and sched.running:
            sched.shutdown(wait=wait)
        try:
            self.lease.release()
        except Exception:
            log.exception("could not release the scheduler lease; it expires by itself")
        # After the job store closed its connections the scheduler thread's last pass may
        # have opened new ones: close those too.
        self.engine.dispose()


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop``; return a function that restores the handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the scheduler", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore


def run(
    database_url: str,
    *,
    block: bool = True,
    wait: bool = False,
    lease_name: str = DEFAULT_LEASE_NAME,
    lease_seconds: float | None = None,
    cutoff: str = DEFAULT_CUTOFF,
    publish_every_minutes: float = 5,
    publish_lead_minutes: float = PUBLISH_LEAD_MINUTES,
) -> int:
    """Run this database's scheduler if no other process does; the exit code.

    1 with "another scheduler (holder X) is running" on stderr when the lease is held
    elsewhere (unless ``wait``: then keep trying until it is free or a signal arrives).
    With ``block`` it runs until SIGINT/SIGTERM (0) or until the lease is lost (1);
    otherwise it returns 0 at once and runs in background threads until the process exits.
    The schema must be current (``dispatch.db.upgrade``) before the jobs run.
    """
    single = SingleScheduler(
        database_url,
        lease_name=lease_name,
        lease_seconds=lease_seconds,
        cutoff=cutoff,
        publish_every_minutes=publish_every_minutes,
        publish_lead_minutes=publish_lead_minutes,
    )
    stop = threading.Event()
    restore = _on_signals(stop) if block or wait else (lambda: None)
    try:
        if not single.start(wait=wait, stop=stop):
            interrupted = stop.is_set()
            info = None if interrupted else single.lease.current()
            single.engine.dispose()
            if interrupted:
                return 0
            msg = f"another scheduler (holder {info.holder if info else 'unknown'}) is running"
            log.info(msg)
            print(msg, file=sys.stderr)
            return 1
        if not block:
            atexit.register(single.stop, wait=False)
            return 0
        try:
            while not stop.is_set() and not single.lost.is_set():
                stop.wait(1.0)
        finally:
            single.stop()
        if single.lost.is_set():
            print("the scheduler lease was lost; stopped", file=sys.stderr)
            return 1
        return 0
    finally:
        restore()
