"""Per-app resources: the database engine and the road network, created once."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy.orm import Session

from dispatch.db import make_engine, session_scope, upgrade
from dispatch.settings import TIMEZONE
from routing.network import RoadNetwork, load_network


def init_app(app: Flask) -> None:
    """Create the engine and bring the schema up to date."""
    settings = app.config["LOOPVAN_SETTINGS"]
    engine = make_engine(settings.database_url)
    upgrade(engine)
    app.extensions["loopvan"] = {"engine": engine, "network": None, "cache": {}}


def _ext() -> dict[str, Any]:
    return current_app.extensions["loopvan"]


@contextmanager
def db() -> Iterator[Session]:
    """The request's session (commits on success)."""
    with session_scope(_ext()["engine"]) as s:
        yield s


def network() -> RoadNetwork:
    """The road network, loaded on first use."""
    ext = _ext()
    if ext["network"] is None:
        ext["network"] = load_network(current_app.config["LOOPVAN_SETTINGS"].osm_path)
        # The graph is millions of long-lived objects: keep them out of the collector's
        # full passes, which would otherwise stall every request for ~100 ms.
        gc.collect()
        gc.freeze()
    return ext["network"]


def now() -> dt.datetime:
    """Now in Shenzhen, or the fixed clock a test sets as ``LOOPVAN_NOW`` (an aware datetime)."""
    fixed = current_app.config.get("LOOPVAN_NOW")
    if isinstance(fixed, dt.datetime):
        if fixed.tzinfo is None:
            raise ValueError("LOOPVAN_NOW must carry a UTC offset")
        return fixed.astimezone(ZoneInfo(TIMEZONE))
    return dt.datetime.now(ZoneInfo(TIMEZONE))


def cache() -> dict[str, Any]:
    """A per-app memo for expensive, immutable payloads (the base-layer GeoJSON)."""
    return _ext()["cache"]


def engine() -> Any:
    """The app's database engine (for work outside a request's session)."""
    return _ext()["engine"]
