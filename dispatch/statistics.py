"""Statistics for city administrators: kilograms by material, district and day, and
collection-point coverage per week — from what drivers recorded, each event counted once.

The carbon balance (issue #6, item 7) needs documented emission factors and is not here yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m


def tonnage(session: Session, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Collected kg per (date, district, material) for plan dates in ``[start, end]``."""
    rows = session.execute(
        select(m.StopEvent.payload, m.Plan.date, m.District.code, m.District.name_en)
        .join(m.Stop, m.StopEvent.stop_id == m.Stop.id)
        .join(m.Route, m.Stop.route_id == m.Route.id)
        .join(m.Plan, m.Route.plan_id == m.Plan.id)
        .join(m.District, m.Plan.district_id == m.District.id)
        .where(m.StopEvent.kind == "collected", m.Plan.date >= start, m.Plan.date <= end)
    )
    acc: dict[tuple[dt.date, str, str, str], float] = {}
    for payload, day, code, name in rows:
        for mat, kg in (payload or {}).get("kg", {}).items():
            key = (day, code, name, mat)
            acc[key] = acc.get(key, 0.0) + float(kg)
    return [
        {
            "date": d.isoformat(),
            "district": code,
            "district_name": name,
            "material": mat,
            "kg": round(kg, 1),
        }
        for (d, code, name, mat), kg in sorted(acc.items())
    ]


def coverage(session: Session, week_of: dt.date) -> list[dict[str, Any]]:
    """Per district: collection points with a collection recorded in the ISO week of ``week_of``."""
    monday = week_of - dt.timedelta(days=week_of.weekday())
    sunday = monday + dt.timedelta(days=6)
    served = set(
        session.scalars(
            select(m.Stop.collection_point_id)
            .join(m.StopEvent, m.StopEvent.stop_id == m.Stop.id)
            .join(m.Route, m.Stop.route_id == m.Route.id)
            .join(m.Plan, m.Route.plan_id == m.Plan.id)
            .where(
                m.StopEvent.kind == "collected",
                m.Stop.collection_point_id.is_not(None),
                m.Plan.date >= monday,
                m.Plan.date <= sunday,
            )
        )
    )
    out = []
    for d in session.scalars(select(m.District).order_by(m.District.code)):
        points = list(
            session.scalars(
                select(m.CollectionPoint.id).where(m.CollectionPoint.district_id == d.id)
            )
        )
        if not points:
            continue
        n = sum(1 for p in points if p in served)
        out.append(
            {
                "week": f"{monday.isoformat()}..{sunday.isoformat()}",
                "district": d.code,
                "district_name": d.name_en,
                "points": len(points),
                "served": n,
                "share": round(n / len(points), 3),
            }
        )
    return out
