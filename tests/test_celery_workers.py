"""Spread solves on real Celery workers over the machine's Redis.

The tests start ``celery worker`` processes themselves, on a queue and key prefix of
their own, against a SQLite file both sides can see. One test kills a worker with
SIGKILL in the middle of a solve and starts another: the plan is completed exactly once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dispatch import models as m
from dispatch.cli import _demo_scenario, do_import
from dispatch.db import make_engine, session_scope
from dispatch.settings import REPO_ROOT, Settings
from dispatch.workers import CeleryBackend, build_districts, enqueue, wait

DAY = dt.date(2026, 12, 1)
DISTRICTS = ["440304", "440305"]  # Futian, Nanshan

pytestmark = pytest.mark.slow


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set: Celery worker tests need the machine's Redis")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for this test's own queue on the machine's Redis."""
    url = _redis_url()
    tag = uuid.uuid4().hex[:8]
    env = {
        "LOOPVAN_BROKER_URL": url,
        "LOOPVAN_QUEUE": f"loopvan-test-{tag}",
        "LOOPVAN_BROKER_PREFIX": f"loopvan-test-{tag}:",
        # short, so the killed worker's task comes back quickly in the test
        "LOOPVAN_VISIBILITY_TIMEOUT": "8",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from dispatch import celery_app

    celery_app.configure_from_env()
    yield env
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{env['LOOPVAN_BROKER_PREFIX']}*"):
        client.delete(key)
    client.delete(env["LOOPVAN_QUEUE"])
    monkeypatch.undo()
    celery_app.configure_from_env()


@pytest.fixture
def world(tmp_path: Path) -> Settings:
    settings = dataclasses.replace(
        Settings.from_env(), database_url=f"sqlite:///{tmp_path / 'spread.db'}"
    )
    from dispatch.db import upgrade

    upgrade(make_engine(settings.database_url))
    do_import(settings, _demo_scenario(settings, DAY, 7), None)
    return settings


class Worker:
    """A ``celery worker`` subprocess (solo pool: the solve runs in the process we kill)."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dispatch.celery_app",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"{name}@test",
                "--queues",
                env["LOOPVAN_QUEUE"],
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def _plans(settings: Settings) -> dict[str, int]:
    with session_scope(make_engine(settings.database_url)) as s:
        rows = s.execute(
            select(m.District.code, func.count(m.Plan.id))
            .join(m.Plan, m.Plan.district_id == m.District.id)
            .where(m.Plan.date == DAY)
            .group_by(m.District.code)
        )
        return {code: n for code, n in rows}


def test_a_celery_worker_solves_a_two_district_plan(
    world: Settings, broker: dict[str, str], tmp_path: Path
) -> None:
    w = Worker("solver1", broker, tmp_path / "w1.log")
    try:
        jobs = build_districts(world, DISTRICTS, DAY, 2.0, backend=CeleryBackend(), timeout_s=240)
    finally:
        w.stop()
    assert [j.status for j in jobs] == ["done", "done"], [j.error for j in jobs]
    assert all(j.backend == "celery" and j.worker == "solver1@test" for j in jobs)
    assert _plans(world) == {"440304": 1, "440305": 1}
    with session_scope(make_engine(world.database_url)) as s:
        for j in jobs:
            plan = s.get_one(m.Plan, j.plan_id)
            assert plan.status == "draft"
            assert plan.district.code == j.district_code
            assert plan.routes and plan.solver_stats["stops_served"] > 0


def test_a_worker_killed_mid_solve_is_replaced_and_the_plan_completes_once(
    world: Settings, broker: dict[str, str], tmp_path: Path
) -> None:
    engine = make_engine(world.database_url)
    ids = enqueue(engine, DISTRICTS, DAY, 6.0, backend="celery", by="test")
    first = Worker("doomed", broker, tmp_path / "w1.log")
    second: Worker | None = None
    try:
        CeleryBackend().submit(world.database_url, ids)
        # wait until the first worker is inside a solve, then kill it without warning
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:
            assert time.monotonic() < deadline, (tmp_path / "w1.log").read_text()
            with session_scope(engine) as s:
                victim = s.scalar(
                    select(m.PlanJob.id).where(m.PlanJob.id.in_(ids), m.PlanJob.status == "running")
                )
            time.sleep(0.2)
        time.sleep(1.5)  # well inside the 6 s solve
        first.kill()
        with session_scope(engine) as s:
            job = s.get_one(m.PlanJob, victim)
            assert job.status == "running" and job.plan_id is None  # nothing was stored
            assert job.worker == "doomed@test"
        assert _plans(world) == {}
        second = Worker("rescuer", broker, tmp_path / "w2.log")
        jobs = wait(engine, ids, timeout_s=240)
    finally:
        first.kill()
        if second is not None:
            second.stop()
    assert [j.status for j in jobs] == ["done", "done"], [j.error for j in jobs]
    killed = next(j for j in jobs if j.id == victim)
    assert killed.attempts >= 2 and killed.worker == "rescuer@test"
    # exactly one plan per district: the killed attempt left nothing behind
    assert _plans(world) == {"440304": 1, "440305": 1}
    with session_scope(engine) as s:
        plan_ids = {j.plan_id for j in jobs}
        assert len(plan_ids) == 2
        assert s.scalar(select(func.count(m.Plan.id))) == 2
