"""REST API v1: one blueprint per audience, documented by flask-smorest (OpenAPI 3 at
``/api/v1/openapi.json``, interactive docs at ``/api/v1/docs``).

Errors are JSON of one shape — ``{"code", "status", "message", "errors": {"json": {field:
[problem]}}}`` — whether marshmallow refused a field or a dispatch rule did.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, abort, current_app, jsonify, request, send_from_directory
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from dispatch import accounts, approval, booking, execution, rights, slots, statistics, views
from dispatch import models as m
from dispatch.carbon import period_balance, plan_balance
from dispatch.editing import edit_plan
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.planning import snap_check
from dispatch.replanning import add_closure, replan
from dispatch.workers import backend_from_env, enqueue, run_jobs
from routing.problem import Limits
from routing.streets import MAX_QUERY, StreetIndex
from web import state
from web.auth import current, require

bookings_bp = Blueprint(
    "api-bookings", __name__, url_prefix="/api/v1/bookings",
    description="Residents book, follow and cancel pickups; dispatchers see the queue.",
)  # fmt: skip
plans_bp = Blueprint(
    "api-plans", __name__, url_prefix="/api/v1",
    description="Dispatchers build, read, edit, approve, publish and re-plan plans.",
)  # fmt: skip
driver_bp = Blueprint(
    "api-driver", __name__, url_prefix="/api/v1/driver",
    description="A driver's tablet: today's route (ETag) and events (idempotent).",
)  # fmt: skip
stats_bp = Blueprint(
    "api-statistics", __name__, url_prefix="/api/v1/stats",
    description="Kilograms, coverage and the carbon balance.",
)  # fmt: skip


# --- schemas -------------------------------------------------------------------------

MAX_ID = 2**63 - 1  # database ids are signed 64-bit integers
#: Dates and times the API takes: arithmetic on them (a week before, a day after, to UTC)
#: cannot leave Python's calendar.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
_IN_CALENDAR = validate.Range(min=EARLIEST, max=LATEST)
_HHMM = validate.Regexp(
    r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$", error="must be HH:MM (local time, no offset)"
)


class Resident(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    phone = fields.String(required=True, validate=validate.Length(min=5, max=32))


class Material(Schema):
    material = fields.String(required=True)
    kg = fields.Float(required=True)
    m3 = fields.Float(load_default=0.0)


class WindowIn(Schema):
    start = fields.String(required=True, validate=_HHMM, metadata={"example": "09:00"})
    end = fields.String(required=True, validate=_HHMM, metadata={"example": "11:00"})


class BookingIn(Schema):
    class Meta:
        unknown = EXCLUDE

    resident = fields.Nested(Resident, required=True)
    address = fields.String(required=True, validate=validate.Length(min=1, max=255))
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    coordinates = fields.String(load_default="wgs84", validate=validate.OneOf(["wgs84", "gcj02"]))
    materials = fields.List(fields.Nested(Material), required=True)
    date = fields.String(required=True, metadata={"example": "2026-12-01"})
    window = fields.Nested(WindowIn, required=True)
    priority = fields.Integer(load_default=0)
    idempotency_key = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=8, max=128)
    )


class SlotsIn(Schema):
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    coordinates = fields.String(load_default="wgs84", validate=validate.OneOf(["wgs84", "gcj02"]))
    materials = fields.List(fields.Nested(Material), required=True)
    days = fields.Integer(load_default=3)


class CancelIn(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class QueueArgs(Schema):
    date = fields.Date(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(booking.STATUSES))


class BuildIn(Schema):
    district = fields.List(fields.String(), load_default=None)
    date = fields.Date(required=True)
    seconds = fields.Float(load_default=None, validate=validate.Range(min=0.5, max=600))


class EditIn(Schema):
    routes = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), required=True,
        metadata={"description": "plate -> stop references in order (the whole new plan)"},
    )  # fmt: skip
    check_only = fields.Boolean(
        load_default=False, metadata={"description": "check and show, do not save"}
    )
    pinned = fields.List(
        fields.String(), load_default=None, allow_none=True,
        metadata={"description": "vans whose routes re-planning keeps whole (default: as before)"},
    )  # fmt: skip


class ByIn(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class ReplanIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    broken = fields.String(load_default=None, allow_none=True)
    at = fields.AwareDateTime(
        load_default=None, allow_none=True,
        validate=validate.Range(
            min=dt.datetime.combine(EARLIEST, dt.time(), dt.UTC),
            max=dt.datetime.combine(LATEST, dt.time(), dt.UTC),
        ),
    )  # fmt: skip
    seconds = fields.Float(load_default=None, validate=validate.Range(min=0.5, max=120))


class ClosureIn(Schema):
    district = fields.String(required=True)
    date = fields.Date(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    start = fields.String(required=True, metadata={"example": "11:00"})
    end = fields.String(required=True, metadata={"example": "18:00"})
    road_names = fields.List(fields.String(), load_default=list)
    way_ids = fields.List(fields.Integer(), load_default=list)


class EventsIn(Schema):
    events = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=500))


class PeriodArgs(Schema):
    start = fields.Date(data_key="from", load_default=None, validate=_IN_CALENDAR)
    end = fields.Date(data_key="to", load_default=None, validate=_IN_CALENDAR)


class CarbonArgs(PeriodArgs):
    plan = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))


class ResidentHeader(Schema):
    class Meta:
        unknown = EXCLUDE

    phone = fields.String(
        data_key="X-Resident-Phone", load_default=None,
        metadata={"description": "the phone number the booking was made with"},
    )  # fmt: skip


# --- helpers -------------------------------------------------------------------------


def _now() -> dt.datetime:
    """Now in Shenzhen."""
    return state.now()


def _today() -> dt.date:
    return _now().date()


def _settings() -> Any:
    return current_app.config["LOOPVAN_SETTINGS"]


def _snap_distance() -> Any:
    return snap_check(state.network(), _settings().max_snap_m)


def _who() -> str:
    ident = current()
    return ident.name or ident.role


def _booking_for_caller(s: Any, reference: str, phone: str | None) -> m.Booking:
    if current().staff:
        return booking.get_booking(s, reference)
    if not phone:
        abort(401, description="send X-Resident-Phone: the phone number of the booking")
    return accounts.booking_for_resident(s, reference, phone)


# --- bookings ------------------------------------------------------------------------


@bookings_bp.route("")
class Bookings(MethodView):
    @bookings_bp.arguments(BookingIn)
    @bookings_bp.response(201)
    @bookings_bp.alt_response(200, description="the same idempotency key again")
    def post(self, body: dict[str, Any]) -> Any:
        """Book a pickup (anyone). ``idempotency_key``: a retry returns the same booking."""
        with state.db() as s:
            b, created = booking.create_booking(
                s, body, today=_today(), snap_distance=_snap_distance(),
                actor=_who() if current().staff else "resident",
                same_day=current().staff, now=_now().time(),
            )  # fmt: skip
            doc = views.booking_doc(s, b)
        return doc, 201 if created else 200

    @require("staff")
    @bookings_bp.arguments(QueueArgs, location="query")
    @bookings_bp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """The booking queue (dispatchers)."""
        with state.db() as s:
            return views.booking_queue(s, args.get("date"), args.get("status"))


@bookings_bp.route("/slots", methods=["POST"])
@bookings_bp.arguments(SlotsIn)
@bookings_bp.response(200)
def booking_slots(body: dict[str, Any]) -> Any:
    """Windows of the next days that can take this booking, best first (anyone)."""
    days = body.pop("days")
    with state.db() as s:
        return slots.suggest(
            s, state.network(), body, today=_today(), days=days,
            max_snap_m=_settings().max_snap_m, rules_dir=_settings().rules_dir,
        )  # fmt: skip


@bookings_bp.route("/<string:reference>")
@bookings_bp.arguments(ResidentHeader, location="headers")
@bookings_bp.response(200)
def booking_read(headers: dict[str, Any], reference: str) -> Any:
    """A booking and its history: its resident (reference + phone) or a dispatcher."""
    with state.db() as s:
        b = _booking_for_caller(s, reference, headers.get("phone"))
        doc = views.booking_doc(s, b)
        if current().staff:
            doc["custody"] = execution.custody(s, reference)
        return doc


@bookings_bp.route("/<string:reference>/cancel", methods=["POST"])
@bookings_bp.arguments(ResidentHeader, location="headers")
@bookings_bp.arguments(CancelIn)
@bookings_bp.response(200)
def booking_cancel(headers: dict[str, Any], body: dict[str, Any], reference: str) -> Any:
    """Cancel a booking not yet sent to a driver: its resident or a dispatcher."""
    with state.db() as s:
        b = _booking_for_caller(s, reference, headers.get("phone"))
        actor = _who() if current().staff else "resident"
        b = booking.cancel_booking(s, b.reference, actor=actor, reason=body["reason"])
        return views.booking_doc(s, b)


# --- plans ---------------------------------------------------------------------------


def _plan_doc(s: Any, plan_id: int) -> dict[str, Any]:
    doc = views.get_plan_json(s, plan_id)
    if doc is None:
        raise NotFound(f"no plan with id {plan_id}")
    return doc


def _job_doc(j: m.PlanJob) -> dict[str, Any]:
    return {
        "id": j.id,
        "district": j.district_code,
        "date": j.date.isoformat(),
        "status": j.status,
        "attempts": j.attempts,
        "worker": j.worker,
        "plan_id": j.plan_id,
        "error": j.error,
        "backend": j.backend,
    }


@plans_bp.route("/plans")
class Plans(MethodView):
    @require("staff")
    @plans_bp.response(200)
    def get(self) -> Any:
        """Every plan with its headline figures."""
        with state.db() as s:
            return views.list_plans(s)

    @require("staff")
    @plans_bp.arguments(BuildIn)
    @plans_bp.response(202)
    def post(self, body: dict[str, Any]) -> Any:
        """Build draft plans on the worker backend; follow them at ``/plan-jobs/{id}``."""
        settings = _settings()
        engine = state.engine()
        with state.db() as s:
            codes = body["district"] or sorted(
                {d.district.code for d in s.scalars(select(m.Depot))}
            )
        seconds = body["seconds"] or settings.solver_time_limit_s
        ids = enqueue(
            engine, codes, body["date"], seconds, backend=backend_from_env().name, by=_who()
        )

        threading.Thread(
            target=run_jobs,
            args=(settings.database_url, ids, backend_from_env()),
            kwargs={"timeout_s": 600 + 4 * seconds * len(ids)},
            name="plan-build",
            daemon=True,
        ).start()
        return {"jobs": ids, "follow": [f"/api/v1/plan-jobs/{i}" for i in ids]}


@plans_bp.route("/plan-jobs/<int:job_id>")
@require("staff")
@plans_bp.response(200)
def plan_job(job_id: int) -> Any:
    """A plan build's progress: queued, running (on which worker, which attempt), done."""
    with state.db() as s:
        j = s.get(m.PlanJob, job_id)
        if j is None:
            raise NotFound(f"no plan job {job_id}")
        return _job_doc(j)


@plans_bp.route("/plans/<int:plan_id>")
@require("staff")
@plans_bp.response(200)
def plan_read(plan_id: int) -> Any:
    """One plan as plan JSON, with its per-route figures."""
    with state.db() as s:
        doc = _plan_doc(s, plan_id)
        plan = s.get_one(m.Plan, plan_id)
        doc["summary"] = views.plan_summary(doc)
        doc["carbon"] = plan_balance(s, plan_id)
        if "diff" in (plan.solver_stats or {}):
            doc["replan"] = {
                "replan": plan.solver_stats["replan"],
                "diff": plan.solver_stats["diff"],
            }
        return doc


@plans_bp.route("/plans/<int:plan_id>/geojson")
@require("staff")
@plans_bp.response(200)
def plan_geojson(plan_id: int) -> Any:
    """Routes (road-following lines) and numbered stops as GeoJSON."""
    with state.db() as s:
        doc = _plan_doc(s, plan_id)
    return views.plan_geojson(doc, state.network())


@plans_bp.route("/plans/<int:plan_id>/rules.geojson")
@require("staff")
@plans_bp.response(200)
def plan_rules(plan_id: int) -> Any:
    """The road rights a van of the plan may meet: every district's zones and restricted
    roads (rules bind on their own district's roads, whoever drives them), closures, and
    OSM access restrictions."""
    with state.db() as s:
        _plan_doc(s, plan_id)  # 404 for a plan that does not exist
        # The closures are part of the rule set: the memo is keyed by them.
        closures = tuple(
            s.scalars(
                select(m.TemporaryRule.id)
                .where(m.TemporaryRule.active.is_(True))
                .order_by(m.TemporaryRule.id)
            )
        )
        c = state.cache()
        key = f"rules:{closures}"
        if key not in c:
            rr = rights.session_rights(s, state.network(), _settings().rules_dir)
            c[key] = rights.district_rules_geojson(rr)
    return c[key]


@plans_bp.route("/plans/<int:plan_id>/edit", methods=["POST"])
@require("staff")
@plans_bp.arguments(EditIn)
@plans_bp.response(201)
@plans_bp.alt_response(200, description="check_only: the verdict, nothing saved")
def plan_edit(body: dict[str, Any], plan_id: int) -> Any:
    """Apply an edit: re-timed and checked; saved as a new draft version, or refused (422)
    with the violations. ``check_only`` shows the verdict without saving."""
    with state.db() as s:
        if body["check_only"]:
            with s.begin_nested() as sp:
                new = edit_plan(s, state.network(), plan_id, body["routes"], by=_who(),
                                rules_dir=_settings().rules_dir,
                                pin_routes=body["pinned"])  # fmt: skip
                doc = views.get_plan_json(s, new.id)
                sp.rollback()
            return {"legal": True, "violations": [], "preview": doc}, 200
        new = edit_plan(s, state.network(), plan_id, body["routes"], by=_who(),
                        rules_dir=_settings().rules_dir, pin_routes=body["pinned"])  # fmt: skip
        return {"plan_id": new.id, "version": new.version, "status": new.status}, 201


def _state_change(plan_id: int, action: str, reason: str = "") -> dict[str, Any]:
    with state.db() as s:
        if action == "approve":
            p = approval.approve(s, plan_id, by=_who())
        elif action == "publish":
            p = approval.publish(s, plan_id, by=_who())
        else:
            p = approval.reject(s, plan_id, by=_who(), reason=reason)
        return {"plan_id": p.id, "status": p.status, "version": p.version}


@plans_bp.route("/plans/<int:plan_id>/approve", methods=["POST"])
@require("staff")
@plans_bp.response(200)
def plan_approve(plan_id: int) -> Any:
    """Approve a draft (once); records who and when."""
    return _state_change(plan_id, "approve")


@plans_bp.route("/plans/<int:plan_id>/publish", methods=["POST"])
@require("staff")
@plans_bp.response(200)
def plan_publish(plan_id: int) -> Any:
    """Publish an approved plan: a new route version for each driver."""
    return _state_change(plan_id, "publish")


@plans_bp.route("/plans/<int:plan_id>/reject", methods=["POST"])
@require("staff")
@plans_bp.arguments(ByIn)
@plans_bp.response(200)
def plan_reject(body: dict[str, Any], plan_id: int) -> Any:
    """Reject a draft or approved plan, with a reason."""
    if not body["reason"].strip():
        raise InvalidInput({"reason": "say why the plan is rejected"})
    return _state_change(plan_id, "reject", body["reason"])


@plans_bp.route("/plans/<int:plan_id>/replan", methods=["POST"])
@require("staff")
@plans_bp.arguments(ReplanIn)
@plans_bp.response(201)
def plan_replan(body: dict[str, Any], plan_id: int) -> Any:
    """Re-plan the rest of a live plan's day; a new draft version with its difference."""
    now = body["at"] or _now()
    with state.db() as s:
        new = replan(
            s, state.network(), plan_id, by=_who(), now=now, reason=body["reason"],
            broken=body["broken"], rules_dir=_settings().rules_dir,
            limits=Limits(time_limit_s=body["seconds"] or _settings().solver_time_limit_s),
        )  # fmt: skip
        return {"plan_id": new.id, "version": new.version, **new.solver_stats["replan"],
                "diff": new.solver_stats["diff"]}  # fmt: skip


@plans_bp.route("/closures", methods=["POST"])
@require("staff")
@plans_bp.arguments(ClosureIn)
@plans_bp.response(201)
def closure_add(body: dict[str, Any]) -> Any:
    """A temporary road closure (a no-entry rule for some hours of one day)."""
    with state.db() as s:
        row = add_closure(
            s, body["district"], body["date"], title=body["title"], start=body["start"],
            end=body["end"], road_names=body["road_names"], way_ids=body["way_ids"], by=_who(),
            network=state.network(),
        )  # fmt: skip
        return {"id": row.id, "rule": row.rule}


@plans_bp.route("/plans/<int:plan_id>/live")
@require("staff")
@plans_bp.doc(responses={200: {"description": "text/event-stream of driver events"}})
def plan_live(plan_id: int) -> Any:
    """Server-sent events: each driver event on the plan as it arrives (and a heartbeat)."""
    engine = state.engine()
    with state.db() as s:
        _plan_doc(s, plan_id)
    once = request.args.get("once") == "1"
    since = int(request.headers.get("Last-Event-ID", request.args.get("since", "0")) or 0)

    def stream() -> Iterator[str]:
        from dispatch.db import session_scope

        last = since
        yield "retry: 3000\n\n"
        while True:
            with session_scope(engine) as s:
                rows = s.execute(
                    select(m.StopEvent, m.Stop, m.Route)
                    .join(m.Stop, m.StopEvent.stop_id == m.Stop.id)
                    .join(m.Route, m.Stop.route_id == m.Route.id)
                    .where(m.Route.plan_id == plan_id, m.StopEvent.id > last)
                    .order_by(m.StopEvent.id)
                ).all()
                out = []
                for ev, st, r in rows:
                    last = ev.id
                    data = {"event_id": ev.id, "kind": ev.kind, "stop_id": st.id,
                            "seq": st.sequence, "vehicle": r.vehicle.plate,
                            "recorded_at": m.as_utc(ev.recorded_at), "payload": ev.payload}  # fmt: skip
                    out.append(f"id: {ev.id}\nevent: stop\ndata: {json.dumps(data)}\n\n")
            yield from out
            if once:
                return
            yield ": heartbeat\n\n"
            time.sleep(2)

    return Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


class StreetsArgs(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=MAX_QUERY))
    limit = fields.Integer(load_default=8, validate=validate.Range(min=1, max=20))


@plans_bp.route("/streets")
@plans_bp.arguments(StreetsArgs, location="query")
@plans_bp.response(200)
def streets(args: dict[str, Any]) -> Any:
    """Streets of the road graph by (part of) their name or in an address, best first
    (anyone): a point on each for the map, its extent and its served district."""
    c = state.cache()
    if "streets" not in c:
        c["streets"] = StreetIndex.from_network(state.network())
    with state.db() as s:
        return views.street_search(
            s, c["streets"], args["q"], args["limit"], c.setdefault("street_districts", {})
        )


@plans_bp.route("/network.geojson")
@plans_bp.response(200)
def network_geojson() -> Any:
    """The road graph as the maps' offline base layer."""
    c = state.cache()
    if "network" not in c:
        c["network"] = jsonify(views.network_geojson(state.network())).get_data()
    return Response(
        c["network"], mimetype="application/json", headers={"Cache-Control": "max-age=3600"}
    )


# --- driver --------------------------------------------------------------------------


def _driver() -> m.Driver:
    ident = current()
    if ident.role != "driver" or ident.driver_id is None:
        abort(401, description="send Authorization: Bearer <device token>")
    with state.db() as s:
        d = s.get_one(m.Driver, ident.driver_id)
        s.expunge(d)
        return d


@driver_bp.route("/route")
@require("driver")
@driver_bp.response(200)
@driver_bp.alt_response(304, description="unchanged since If-None-Match")
def driver_route() -> Any:
    """This driver's current route version with ETAs; ``ETag`` / ``If-None-Match``."""
    d = _driver()
    sent = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    with state.db() as s:
        etag = views.driver_route_etag(s, d.vehicle_id)
        if etag is not None and etag in sent:  # unchanged: answered without building it
            return Response(status=304, headers={"ETag": etag})
        cache = state.cache().setdefault("driver-routes", {})
        body = cache.get(etag) if etag is not None else None
        if body is None:
            doc = views.driver_route(s, s.get_one(m.Driver, d.id))
            if doc is None:
                raise NotFound("no published route for you yet")
            etag = doc.pop("etag")
            body = jsonify(doc).get_data()
            if len(cache) > 512:
                cache.clear()
            cache[etag] = body
    resp = Response(body, mimetype="application/json")
    resp.headers["ETag"] = str(etag)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@driver_bp.route("/events", methods=["POST"])
@require("driver")
@driver_bp.arguments(EventsIn)
@driver_bp.response(200)
def driver_events(body: dict[str, Any]) -> Any:
    """Record events (a tablet's queue, in any order, resent at will): one result each."""
    d = _driver()
    results = []
    for ev in body["events"]:
        eid = ev.get("event_id") if isinstance(ev, dict) else None
        try:
            with state.db() as s:
                rec, created = execution.record_event(s, s.get_one(m.Driver, d.id), ev)
                results.append({"event_id": eid, "result": "stored" if created else "duplicate",
                                "id": rec.id})  # fmt: skip
        except InvalidInput as exc:
            results.append({"event_id": eid, "result": "invalid", "status": 422,
                            "errors": {k: [v] for k, v in exc.problems.items()}})  # fmt: skip
        except DispatchError as exc:  # refused (not yours, a conflict): reported per event
            results.append({"event_id": eid, "result": "refused", "status": exc.status,
                            "message": str(exc)})  # fmt: skip
    return {"results": results}


# --- statistics ----------------------------------------------------------------------


def _period(args: dict[str, Any]) -> tuple[dt.date, dt.date]:
    end = args.get("end") or _today()
    start = args.get("start") or end - dt.timedelta(days=6)
    if start > end:
        raise InvalidInput({"from": f"{start} is after to={end}"})
    return start, end


@stats_bp.route("")
@require("staff")
@stats_bp.arguments(PeriodArgs, location="query")
@stats_bp.response(200)
def stats(args: dict[str, Any]) -> Any:
    """Kilograms by date, district and material; collection-point coverage for the week."""
    start, end = _period(args)
    with state.db() as s:
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "tonnage": statistics.tonnage(s, start, end),
            "coverage": statistics.coverage(s, end),
        }


@stats_bp.route("/carbon")
@require("staff")
@stats_bp.arguments(CarbonArgs, location="query")
@stats_bp.response(200)
def carbon(args: dict[str, Any]) -> Any:
    """Carbon balance of one plan (``plan``) or of a period (``from``/``to``)."""
    with state.db() as s:
        if args.get("plan"):
            return plan_balance(s, args["plan"])
        start, end = _period(args)
        return period_balance(s, start, end)


# --- wiring --------------------------------------------------------------------------


class IdConverter(IntegerConverter):
    """``<int:...>`` in paths: a database id, so a larger number matches no route (404)
    instead of overflowing the database driver (500)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="Loopvan",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
    )
    api = Api(app)
    for bp in (bookings_bp, plans_bp, driver_bp, stats_bp):
        api.register_blueprint(bp)
    api.spec.components.security_scheme(
        "deviceToken", {"type": "http", "scheme": "bearer", "description": "driver tablets"}
    )
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "session",
                    "description": "dispatchers: sign in at /login; send X-CSRF-Token on writes"},
    )  # fmt: skip

    @app.get("/api/v1/docs/assets/<path:filename>")
    def swagger_assets(filename: str) -> Any:
        """Swagger UI from the installed swagger-ui-bundle package (no CDN)."""
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)
