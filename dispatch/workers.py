"""Worker backends for district solves: a local process pool, or Celery on Redis.

A request to build plans becomes one :class:`~dispatch.models.PlanJob` row per district.
The rows are the source of truth for progress ("running on worker X, attempt 2") and for
exactly-once completion: :func:`run_job` stores the plan and marks its job done in one
transaction, guarded by ``status != 'done'``, so a task delivered twice — a Celery worker
killed mid-solve and the task redelivered, or a redelivery while the first copy still
runs — leaves one plan, never two, and never none.

The backend is chosen by configuration: Celery when ``LOOPVAN_BROKER_URL`` is set (tasks
acknowledge late, so a lost worker's task goes back to the queue), otherwise local
processes (``LOOPVAN_WORKERS``, default one per core, at most one per district).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import CursorResult, Engine, select, update

from dispatch import models as m
from dispatch.db import make_engine, session_scope
from dispatch.errors import InvalidInput
from dispatch.planning import PlanningError, build_plan
from dispatch.settings import Settings
from road_rules.calendar import CalendarError
from road_rules.errors import RuleError
from routing.network import RoadNetwork, load_network
from routing.problem import Limits

log = logging.getLogger(__name__)

FINISHED = ("done", "failed")

_engines: dict[str, Engine] = {}
_networks: dict[str, RoadNetwork] = {}


def _engine_for(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def _network_for(settings: Settings) -> RoadNetwork:
    key = str(settings.osm_path)
    if key not in _networks:
        _networks[key] = load_network(settings.osm_path)
    return _networks[key]


def enqueue(
    engine: Engine,
    districts: Sequence[str],
    day: dt.date,
    seconds: float,
    *,
    backend: str,
    by: str = "system",
) -> list[int]:
    """Create one queued job per district; return their ids (in the districts' order)."""
    if seconds <= 0:
        raise InvalidInput({"seconds": f"must be positive, got {seconds}"})
    batch = uuid.uuid4().hex[:12]
    with session_scope(engine) as s:
        known = set(s.scalars(select(m.District.code)))
        unknown = [d for d in districts if d not in known]
        if unknown:
            raise InvalidInput({"district": f"unknown district(s) {', '.join(unknown)}"})
        jobs = [
            m.PlanJob(
                key=f"{code}:{day.isoformat()}:{batch}",
                district_code=code,
                date=day,
                seconds=seconds,
                status="queued",
                backend=backend,
                attempts=0,
                worker="",
                error="",
                requested_by=by,
            )
            for code in districts
        ]
        s.add_all(jobs)
        s.flush()
        return [j.id for j in jobs]


def run_job(database_url: str, job_id: int, *, worker: str | None = None) -> int | None:
    """Run one job in this process and return its plan id (``None`` if the build failed).

    Safe to call again for the same job, even concurrently: the first completed attempt
    wins, later ones roll back everything they did and return the winner's plan.
    """
    engine = _engine_for(database_url)
    settings = dataclasses.replace(Settings.from_env(), database_url=database_url)
    name = worker or f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(engine) as s:
        job = s.get(m.PlanJob, job_id)
        if job is None:
            raise LookupError(f"no plan job {job_id}")
        if job.status == "done":
            return job.plan_id
        job.status = "running"
        job.attempts += 1
        job.worker = name
        job.started_at = m.utcnow()
        code, day, seconds, actor = job.district_code, job.date, job.seconds, job.requested_by
    network = _network_for(settings)
    try:
        with session_scope(engine) as s:
            plan = build_plan(
                s,
                network,
                code,
                day,
                limits=Limits(time_limit_s=seconds),
                actor=actor,
                speeds_path=settings.speeds_path,
                rules_dir=settings.rules_dir,
            )
            done: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                update(m.PlanJob)
                .where(m.PlanJob.id == job_id, m.PlanJob.status != "done")
                .values(status="done", plan_id=plan.id, finished_at=m.utcnow(), error="")
            )
            if done.rowcount != 1:
                raise _AlreadyDone
            plan.solver_stats = {**plan.solver_stats, "worker": name, "plan_job": job_id}
            plan_id = plan.id
    except _AlreadyDone:
        with session_scope(engine) as s:
            log.info("plan job %s was completed by another attempt", job_id)
            return s.get_one(m.PlanJob, job_id).plan_id
    except (PlanningError, RuleError, CalendarError) as exc:
        # A plan that cannot be built (bad rule file, a year without an official calendar)
        # fails its job with the reason, on either worker backend.
        with session_scope(engine) as s:
            s.execute(
                update(m.PlanJob)
                .where(m.PlanJob.id == job_id, m.PlanJob.status != "done")
                .values(status="failed", error=str(exc), finished_at=m.utcnow())
            )
        return None
    log.info("plan job %s (%s %s) -> plan %s on %s", job_id, code, day, plan_id, name)
    return plan_id


class _AlreadyDone(Exception):
    """Another attempt stored this job's plan first."""


def _child_init() -> None:
    # Pooled connections inherited through fork belong to the parent: never reuse them.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


def _run_in_child(database_url: str, job_id: int) -> int | None:
    try:
        return run_job(database_url, job_id)
    except Exception as exc:  # report on the job row; the parent reads it
        with session_scope(_engine_for(database_url)) as s:
            s.execute(
                update(m.PlanJob)
                .where(m.PlanJob.id == job_id, m.PlanJob.status != "done")
                .values(status="failed", error=f"{type(exc).__name__}: {exc}")
            )
        return None


Progress = Callable[[list[m.PlanJob]], None]


class Backend(Protocol):
    name: str

    def submit(self, database_url: str, job_ids: Sequence[int]) -> None: ...

    def close(self) -> None: ...


@dataclasses.dataclass
class LocalBackend:
    """Solves in this machine's processes (forked, so the loaded road graph is shared);
    one district alone is solved on a thread of this process."""

    processes: int = 0  # 0: one per core
    name: str = "local"
    _pool: Executor | None = dataclasses.field(default=None, repr=False)

    def submit(self, database_url: str, job_ids: Sequence[int]) -> None:
        n = min(len(job_ids), self.processes or os.cpu_count() or 1)
        if n <= 1:
            self._pool = ThreadPoolExecutor(max_workers=1)
        else:
            # Load the graph before forking so every child inherits it instead of reading it.
            _network_for(Settings.from_env())
            ctx = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_child_init)
        for jid in job_ids:
            self._pool.submit(_run_in_child, database_url, jid)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclasses.dataclass
class CeleryBackend:
    """Sends each job to the Celery queue; any worker on the broker may take it."""

    name: str = "celery"

    def submit(self, database_url: str, job_ids: Sequence[int]) -> None:
        from dispatch import celery_app

        # A fresh connection: it carries the current broker settings (see configure_from_env).
        with celery_app.app.connection_for_write() as conn:
            for jid in job_ids:
                celery_app.build_district.apply_async(
                    args=(database_url, jid),
                    task_id=f"loopvan-plan-job-{jid}",
                    queue=celery_app.QUEUE,
                    connection=conn,
                )

    def close(self) -> None:
        """Nothing to release: the tasks live on the broker."""


def backend_from_env() -> Backend:
    """Celery when ``LOOPVAN_BROKER_URL`` is set, else local processes."""
    if os.environ.get("LOOPVAN_BROKER_URL"):
        return CeleryBackend()
    return LocalBackend(int(os.environ.get("LOOPVAN_WORKERS", "0") or 0))


def wait(
    engine: Engine,
    job_ids: Sequence[int],
    *,
    timeout_s: float,
    progress: Progress | None = None,
    poll_s: float = 0.5,
) -> list[m.PlanJob]:
    """Poll the jobs until all are done or failed; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: tuple[Any, ...] = ()
    while True:
        with session_scope(engine) as s:
            jobs = list(s.scalars(select(m.PlanJob).where(m.PlanJob.id.in_(job_ids))))
            s.expunge_all()
        state = tuple((j.id, j.status, j.attempts, j.worker) for j in jobs)
        if progress and state != last:
            progress(jobs)
            last = state
        if all(j.status in FINISHED for j in jobs):
            return sorted(jobs, key=lambda j: list(job_ids).index(j.id))
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"plan jobs {sorted(j.id for j in jobs if j.status not in FINISHED)} "
                f"not finished after {timeout_s:.0f}s"
            )
        time.sleep(poll_s)


def build_districts(
    settings: Settings,
    districts: Sequence[str],
    day: dt.date,
    seconds: float,
    *,
    backend: Backend | None = None,
    by: str = "system",
    progress: Progress | None = None,
    timeout_s: float | None = None,
) -> list[m.PlanJob]:
    """Build a draft plan per district through the backend; return the finished jobs."""
    be = backend or backend_from_env()
    ids = enqueue(
        _engine_for(settings.database_url), districts, day, seconds, backend=be.name, by=by
    )
    limit = timeout_s if timeout_s is not None else 600 + 4 * seconds * len(ids)
    return run_jobs(settings.database_url, ids, be, timeout_s=limit, progress=progress)


def run_jobs(
    database_url: str,
    job_ids: Sequence[int],
    backend: Backend,
    *,
    timeout_s: float,
    progress: Progress | None = None,
) -> list[m.PlanJob]:
    """Hand enqueued jobs to ``backend`` and follow them to the end."""
    try:
        backend.submit(database_url, job_ids)
        return wait(_engine_for(database_url), job_ids, timeout_s=timeout_s, progress=progress)
    finally:
        backend.close()
