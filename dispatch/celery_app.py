"""The Celery application for spread solves (used when ``LOOPVAN_BROKER_URL`` is set).

Start workers with ``loopvan worker`` (or ``celery -A dispatch.celery_app worker``) on any
machine that sees the database, the broker and the OSM file.

Tasks acknowledge late and are rejected when their worker is lost, so a worker killed
mid-solve leaves the task unacknowledged on the broker; Redis hands it to another worker
once ``LOOPVAN_VISIBILITY_TIMEOUT`` seconds have passed (set it above the longest solve).
Completion is exactly-once through the job row (see :mod:`dispatch.workers`).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

QUEUE = os.environ.get("LOOPVAN_QUEUE", "loopvan-solves")

app = Celery("loopvan")


def configure_from_env() -> None:
    """(Re)read ``LOOPVAN_BROKER_URL``, ``LOOPVAN_QUEUE``, ``LOOPVAN_VISIBILITY_TIMEOUT``
    and ``LOOPVAN_BROKER_PREFIX`` (a key prefix that keeps several installations apart
    on one Redis)."""
    global QUEUE
    QUEUE = os.environ.get("LOOPVAN_QUEUE", "loopvan-solves")
    visibility = float(os.environ.get("LOOPVAN_VISIBILITY_TIMEOUT", "3600"))
    transport: dict[str, Any] = {
        "visibility_timeout": visibility,
        # look for abandoned (unacknowledged) tasks often enough for the timeout above
        "unacked_restore_interval": max(1, min(10, int(visibility / 4))),
        "unacked_restore_throttle": 1,
    }
    if os.environ.get("LOOPVAN_BROKER_PREFIX"):
        transport["global_keyprefix"] = os.environ["LOOPVAN_BROKER_PREFIX"]
    app.conf.update(
        broker_url=os.environ.get("LOOPVAN_BROKER_URL", "redis://127.0.0.1:6379/0"),
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results live in the database (plan_jobs)
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
    )


configure_from_env()


@app.task(name="loopvan.build_district", bind=True, acks_late=True)
def build_district(self: Any, database_url: str, job_id: int) -> int | None:
    """Build the draft plan of one plan job (see :func:`dispatch.workers.run_job`)."""
    from dispatch.workers import run_job

    return run_job(database_url, job_id, worker=str(self.request.hostname))
