"""Intraday re-planning: an urgent booking, a broken-down van, or a temporary road closure.

The remaining work of a published (or running) plan is solved again with what is done
pinned: for each van, every stop up to the last one it has reported on (or that was due
to start by now) opens its route in the same order, and may not move past "now"; every
other stop may not start before "now". A broken-down van keeps only what it has done
(and goes home); its remaining stops are shared among the others.

The answer is stored as a new draft version of the plan, replayed by the legality
checker with the closure in force, together with its difference from the live plan; the
dispatcher approves and publishes it as usual, which gives each driver a new route
version and supersedes the old plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.approval import get_plan
from dispatch.editing import current_sequences, stop_ref, under_way_windows, visits_by_ref
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.export import seconds_of_day
from dispatch.planning import _store, build_day_under_way, replay
from dispatch.rights import unmatched
from dispatch.settings import TIMEZONE
from road_rules.errors import RuleError
from road_rules.parse import parse_rules_text
from routing.errors import ProblemError
from routing.network import RoadNetwork
from routing.problem import Limits, Stop
from routing.result import Result
from routing.retime import retime
from routing.rules_bridge import edge_table
from routing.solver import solve

_TZ = ZoneInfo(TIMEZONE)
REPLANNABLE = ("published", "in_progress")
#: Seconds after "now" before a van may start anything it had not started.
LEAD_S = 0
_HHMM = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")


def add_closure(
    session: Session,
    district_code: str,
    day: dt.date,
    *,
    title: str,
    start: str,
    end: str,
    road_names: list[str] | None = None,
    way_ids: list[int] | None = None,
    by: str,
    network: RoadNetwork | None = None,
) -> m.TemporaryRule:
    """Store a temporary no-entry rule for all vans on the named roads, ``start``-``end``
    on ``day`` (local time). It binds planning, edits and the legality replay at once.

    Raises
    ------
    InvalidInput
        Naming the field (times, roads, district).
    """
    p: dict[str, str] = {}
    district = session.scalar(select(m.District).where(m.District.code == district_code))
    if district is None:
        p["district"] = f"unknown district {district_code!r}"
    if not str(title).strip():
        p["title"] = "missing"
    for name, v in (("start", start), ("end", end)):
        if not isinstance(v, str) or not _HHMM.match(v):
            p[name] = f"must be HH:MM, got {v!r}"
    if "start" not in p and "end" not in p and end <= start:
        p["end"] = f"{end} is not after {start}"
    names = [str(x).strip() for x in (road_names or []) if str(x).strip()]
    ways = list(way_ids or [])
    if not names and not ways:
        p["road_names"] = "name at least one road (or give way_ids)"
    if any(isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in ways):
        p["way_ids"] = "must be positive OSM way ids"
    if p:
        raise InvalidInput(p)
    assert district is not None
    n = 1 + len(
        list(
            session.scalars(
                select(m.TemporaryRule.id).where(
                    m.TemporaryRule.district_id == district.id, m.TemporaryRule.date == day
                )
            )
        )
    )
    where: dict[str, Any] = {}
    if names:
        where["road_names"] = names
    if ways:
        where["way_ids"] = ways
    rule = {
        "id": f"TMP-{district_code}-{day:%y%m%d}-{n}",
        "title": str(title).strip(),
        "source": f"temporary closure entered by {by}",
        "valid_from": day.isoformat(),
        "valid_to": day.isoformat(),
        "where": where,
        "when": f"{start}-{end}",
        "effect": "no_entry",
    }
    try:
        parsed = parse_rules_text(
            yaml.safe_dump({"district": district_code, "rules": [rule]}, allow_unicode=True),
            "closure",
            district_areas={district_code: shape(district.boundary)},
        )
    except RuleError as exc:
        raise InvalidInput({"rule": str(exc)}) from exc
    if network is not None:  # the roads must exist in the district, or the closure is void
        errors, _ = unmatched(parsed.rules, edge_table(network))
        if errors:
            field = "way_ids" if "way_ids" in errors[0] else "road_names"
            raise InvalidInput({field: "; ".join(e.split(": ", 2)[-1] for e in errors)})
    row = m.TemporaryRule(district_id=district.id, date=day, rule=rule, active=True, created_by=by)
    session.add(row)
    session.add(
        m.AuditLog(
            actor=by, action="rule.closure", entity="district", entity_id=district_code, detail=rule
        )
    )
    session.flush()
    return row


def replan(
    session: Session,
    network: RoadNetwork,
    plan_id: int,
    *,
    by: str,
    now: dt.datetime,
    reason: str,
    broken: str | None = None,
    rules_dir: Path | None,
    limits: Limits | None = None,
) -> m.Plan:
    """Re-solve the remaining work of a live plan; return the new draft version.

    Raises
    ------
    Conflict
        The plan is not published or running, or its day is over.
    InvalidInput
        Unknown broken-down vehicle, no reason, or ``now`` without a UTC offset.
    IllegalPlanError
        Should the answer break a rule (it is then not stored).
    """
    plan = get_plan(session, plan_id)
    if plan.status not in REPLANNABLE:
        raise Conflict(
            f"plan {plan_id} is {plan.status}; only a published or running plan is re-planned "
            "(edit a draft or approved plan instead)"
        )
    if now.tzinfo is None:
        raise InvalidInput({"now": "must carry a UTC offset"})
    if not str(reason).strip():
        raise InvalidInput({"reason": "say why the plan is re-planned"})
    local = now.astimezone(_TZ)
    if local.date() > plan.date:
        raise Conflict(f"plan {plan_id} is for {plan.date}, which is over")
    now_s = seconds_of_day(local.time().replace(microsecond=0)) if local.date() == plan.date else 0
    plates = {r.vehicle.plate for r in plan.routes}
    if broken is not None and broken not in plates:
        raise InvalidInput({"broken": f"{broken!r} has no route on plan {plan_id}"})
    rights, built = build_day_under_way(session, network, plan, rules_dir)
    prob = built.problem
    stop_of = {s.id: s for s in prob.stops}
    sid_of = {sid.split(":", 1)[1]: sid for sid in stop_of}
    reported = set(
        session.scalars(
            select(m.StopEvent.stop_id).join(m.Stop).join(m.Route).where(m.Route.plan_id == plan.id)
        )
    )
    pinned: dict[str, tuple[str, ...]] = {}
    latest: dict[str, int] = {}  # pinned stop id -> latest start (it happened by now)
    for route in plan.routes:
        last = -1
        for k, st in enumerate(route.stops):
            if stop_ref(st) is not None and (st.id in reported or st.start_s <= now_s):
                last = k
        seq = []
        for st in route.stops[: last + 1]:
            ref = stop_ref(st)
            if ref is not None and ref in sid_of:
                seq.append(sid_of[ref])
                latest[sid_of[ref]] = max(now_s, st.start_s)
        pinned[route.vehicle.plate] = tuple(seq)
    # what later edits of this version must keep: done stops first on their van, in order
    under_way = {
        "now_s": now_s + LEAD_S,
        "done": {
            plate: [[sid.split(":", 1)[1], latest[sid]] for sid in seq]
            for plate, seq in pinned.items()
            if seq
        },
    }
    # A route the dispatcher pinned is kept whole, in order, on its van, which takes
    # nothing else: it is re-timed on its own (what was not done still starts after now).
    fixed: dict[str, list[str]] = {}
    fac_of = {f.id: f for f in prob.facilities}
    visits = visits_by_ref(prob)
    for plate, refs in current_sequences(plan).items():
        if plate in plan.solver_stats.get("pinned_routes", []) and plate != broken:
            fixed[plate] = [visits[r].id for r in refs if r in visits]
            pinned.pop(plate, None)
    fixed_ids = {sid for seq in fixed.values() for sid in seq if sid not in fac_of}
    done_by_broken = pinned.pop(broken, ()) if broken else ()
    stops = []
    for s in prob.stops:
        if s.id in done_by_broken:
            continue
        # done by now: it started no later than now (or than planned, if later)
        stops.append(under_way_windows(s, now_s + LEAD_S, latest.get(s.id)))
    cut_of = {x.id: x for x in stops}
    fixed_routes = []
    for plate, kept in fixed.items():
        van = next(v for v in prob.vehicles if v.id == plate)
        try:
            fixed_routes.append(
                retime(prob, van, [fac_of[x] if x in fac_of else cut_of[x] for x in kept])
            )
        except ProblemError as exc:
            raise Conflict(f"{plate}: its pinned route no longer works: {exc}") from exc
    vans = {v.id: v for v in prob.vehicles if v.id != broken and v.id not in fixed}
    sub = dataclasses.replace(
        prob,
        stops=tuple(x for x in stops if x.id not in fixed_ids),
        vehicles=tuple(vans.values()),
    )
    warm: dict[str, tuple[str, ...]] = {}
    for plate, refs in current_sequences(plan).items():
        if plate not in vans:
            continue
        pin = [cut_of[x] for x in pinned.get(plate, ())]
        try:
            timed = retime(sub, vans[plate], pin)
        except ProblemError as exc:
            raise Conflict(f"{plate}: its done stops cannot be kept as they are: {exc}") from exc
        # the rest of today's route, as far as it still fits: the solver's warm start
        keep: list[Stop] = list(pin)
        for ref in refs:
            x = cut_of.get(sid_of.get(ref, ""))
            if x is None or x.id in pinned.get(plate, ()):
                continue
            try:
                timed = retime(sub, vans[plate], [*keep, x])
            except ProblemError:
                continue
            keep.append(x)
        order = [v.ref for v in timed.visits if v.kind in ("pickup", "station", "unload")]
        while order and order[-1] not in cut_of:  # the solver adds the last unload itself
            order.pop()
        warm[plate] = tuple(order)
    sub = dataclasses.replace(
        sub, pinned={k: v for k, v in pinned.items() if v}, initial_routes=warm
    )
    try:
        result = solve(sub, limits or Limits(time_limit_s=10))
    except ProblemError as exc:
        raise Conflict(f"the done stops cannot be kept as they are: {exc}") from exc
    routes = list(result.routes) + fixed_routes
    if broken and done_by_broken:
        van = next(v for v in prob.vehicles if v.id == broken)
        routes.append(retime(prob, van, [stop_of[s] for s in done_by_broken]))
    stats = {
        **result.stats,
        "vehicles_used": len(routes),
        "stops_served": sum(1 for r in routes for v in r.visits if v.ref in stop_of),
        "distance_m": sum(r.distance_m for r in routes),
        "duration_s": sum(r.duration_s for r in routes),
    }
    result = Result(tuple(routes), result.unassigned, stats)
    new = _store(session, built, result, plan.district, plan.date)
    new.version = plan.version + 1
    replay(session, network, new, rights)
    diff = plan_diff(plan, new)
    new.solver_stats = json.loads(
        json.dumps(
            {
                **new.solver_stats,
                "replan": {
                    "from_plan": plan.id,
                    "at": local.isoformat(timespec="minutes"),
                    "reason": str(reason).strip(),
                    "broken": broken,
                    "pinned_stops": sum(len(v) for v in pinned.values()) + len(done_by_broken),
                },
                "diff": diff,
                "under_way": under_way,
                "pinned_routes": [p for p in plan.solver_stats.get("pinned_routes", [])
                                  if p != broken],
            }
        )
    )  # fmt: skip
    for other in session.scalars(
        select(m.Plan).where(
            m.Plan.district_id == plan.district_id,
            m.Plan.date == plan.date,
            m.Plan.status == "draft",
            m.Plan.id != new.id,
        )
    ):
        other.status = "superseded"
    session.add(
        m.AuditLog(
            actor=by,
            action="plan.replan",
            entity="plan",
            entity_id=str(new.id),
            detail=new.solver_stats["replan"],
        )
    )
    session.flush()
    return new


def plan_diff(old: m.Plan, new: m.Plan) -> dict[str, Any]:
    """What changed between two versions of a plan, per van and for unassigned stops."""

    def hhmm(s: int) -> str:
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}"

    def routes(p: m.Plan) -> dict[str, list[tuple[str, int]]]:
        return {
            r.vehicle.plate: [(ref, st.start_s) for st in r.stops if (ref := stop_ref(st))]
            for r in p.routes
        }

    a, b = routes(old), routes(new)
    where_a = {ref: plate for plate, seq in a.items() for ref, _ in seq}
    vans = []
    for plate in sorted(set(a) | set(b)):
        sa, sb = a.get(plate, []), b.get(plate, [])
        ra, rb = [x for x, _ in sa], [x for x, _ in sb]
        ta = dict(sa)
        added = [x for x in rb if x not in ra]
        shifts = [
            {"stop": ref, "from": hhmm(ta[ref]), "to": hhmm(t)}
            for ref, t in sb
            if ref in ta and abs(t - ta[ref]) >= 300
        ]
        common_a = [x for x in ra if x in rb]
        common_b = [x for x in rb if x in ra]
        vans.append(
            {
                "vehicle": plate,
                "added": [{"stop": x, "from_vehicle": where_a.get(x)} for x in added],
                "removed": [x for x in ra if x not in rb],
                "order_changed": common_a != common_b,
                "eta_shifts": shifts,
                "changed": bool(added or len(ra) != len(common_a) or common_a != common_b),
            }
        )

    def unassigned(p: m.Plan) -> set[str]:
        out = set()
        for u in p.unassigned:
            if u.booking is not None:
                out.add(u.booking.reference)
            elif u.collection_point is not None:
                out.add(u.collection_point.ref)
        return out

    ua, ub = unassigned(old), unassigned(new)
    served_b = {x for seq in b.values() for x, _ in seq}
    return {
        "vehicles": vans,
        "newly_unassigned": sorted(ub - ua),
        "newly_served": sorted((ua - ub) & served_b | (served_b - set(where_a) - ua)),
    }


def get_replan(session: Session, plan_id: int) -> dict[str, Any]:
    """The re-planning record and difference stored with a plan version."""
    plan = get_plan(session, plan_id)
    if "replan" not in plan.solver_stats:
        raise NotFound(f"plan {plan_id} is not a re-planned version")
    return {"replan": plan.solver_stats["replan"], "diff": plan.solver_stats["diff"]}
