"""Plan lifecycle: draft -> approved -> published -> in_progress -> completed
(or rejected / superseded). One live plan per district and date."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.booking import set_status
from dispatch.errors import Conflict, NotFound
from dispatch.export import plan_json

LIVE = ("approved", "published", "in_progress")


def get_plan(session: Session, plan_id: int) -> m.Plan:
    """The plan, or :class:`NotFound`."""
    plan = session.get(m.Plan, plan_id)
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    return plan


def approve(session: Session, plan_id: int, *, by: str) -> m.Plan:
    """Approve a draft; records who and when.

    Raises
    ------
    Conflict
        When the plan is not a draft (approving twice, a superseded plan, ...).
    """
    plan = get_plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a draft can be approved")
    plan.status = "approved"
    plan.approved_by = by
    plan.approved_at = m.utcnow()
    session.add(
        m.AuditLog(
            actor=by, action="plan.approve", entity="plan", entity_id=str(plan_id), detail={}
        )
    )
    session.flush()
    return plan


def reject(session: Session, plan_id: int, *, by: str, reason: str) -> m.Plan:
    """Reject a draft or an approved (unpublished) plan."""
    plan = get_plan(session, plan_id)
    if plan.status not in ("draft", "approved"):
        raise Conflict(f"plan {plan_id} is {plan.status}; it can no longer be rejected")
    plan.status = "rejected"
    session.add(
        m.AuditLog(
            actor=by,
            action="plan.reject",
            entity="plan",
            entity_id=str(plan_id),
            detail={"reason": reason},
        )
    )
    session.flush()
    return plan


def publish(session: Session, plan_id: int, *, by: str) -> m.Plan:
    """Publish an approved plan: a new route version per driver; bookings become dispatched.

    Any other live plan of the same district and date is superseded.

    Raises
    ------
    Conflict
        When the plan is not approved.
    """
    plan = get_plan(session, plan_id)
    if plan.status != "approved":
        raise Conflict(f"plan {plan_id} is {plan.status}; only an approved plan can be published")
    for other in session.scalars(
        select(m.Plan).where(
            m.Plan.district_id == plan.district_id,
            m.Plan.date == plan.date,
            m.Plan.id != plan.id,
            m.Plan.status.in_(LIVE),
        )
    ):
        other.status = "superseded"
    doc = plan_json(session, plan)
    by_vehicle = {r["vehicle"]: r for r in doc["routes"]}
    for route in plan.routes:
        last = (
            session.scalar(
                select(func.max(m.RouteVersion.version))
                .join(m.Route)
                .join(m.Plan)
                .where(m.Route.vehicle_id == route.vehicle_id, m.Plan.date == plan.date)
            )
            or 0
        )
        route.version = last + 1
        payload = {
            "plan": doc["plan"],
            "vehicle": next(v for v in doc["vehicles"] if v["plate"] == route.vehicle.plate),
            "route": by_vehicle[route.vehicle.plate],
            "version": route.version,
        }
        payload["route"]["version"] = route.version
        session.add(
            m.RouteVersion(
                route_id=route.id, version=route.version, published_by=by, payload=payload
            )
        )
        for stop in route.stops:
            if stop.booking is not None and stop.booking.status in ("queued", "planned"):
                set_status(session, stop.booking, "dispatched", actor=by, note=f"plan {plan_id}")
    plan.status = "published"
    plan.published_by = by
    plan.published_at = m.utcnow()
    session.add(
        m.AuditLog(
            actor=by,
            action="plan.publish",
            entity="plan",
            entity_id=str(plan_id),
            detail={"routes": len(plan.routes)},
        )
    )
    session.flush()
    return plan
