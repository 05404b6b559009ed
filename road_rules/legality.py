"""Replay a plan (plan JSON, see docs/plan-format.md) and list every violation.

The replay trusts nothing in the plan that it can recompute. Each route is replayed stop
by stop and leg by leg along its road path:

* loads are recomputed from the bookings' kilograms and volumes (rounded up to whole kg
  and litres per booking, as the planner does) and the collection points' stationing
  estimates, emptied by every unload; the plan's ``load_after`` is only compared with them;
* the route must start and end at its vehicle's own depot;
* with ``edge_seconds`` (the graph and the vehicle's speed profile), each leg's timing is
  recomputed: the gap between entering two consecutive nodes must be at least the time to
  drive the edge between them, and departure to arrival at least the sum over the leg's
  whole edges (the partly driven start and end edges are not counted: a lower bound);
  both within :data:`TOLERANCE_S` per edge plus :data:`TOLERANCE_SHARE` (rounding to whole
  seconds; speed configuration drift);
* with an edge table, each leg step names one edge: ``[u, v, key]`` (the osmnx key) resolves
  to exactly one edge, so parallel edges are never ambiguous; a leg without keys (plans
  exported before keys) counts a rule on *any* edge joining the pair;
* the van occupies each edge from the time it enters it until it enters the next (the
  start edge from departure, the end edge until arrival), and stands on its stop's edge
  from arrival to departure: every such interval is checked against every blocking rule in
  force at any second of it, so a ban that starts while the van is on an edge or parked
  on it is caught; no-stopping rules apply at every stop that is not the depot (pickups,
  stationing, unloads, breaks, and the wait before a visit starts).

Reported, each with the rule id, the place and the time:

* ``path``: a leg step that is not a drivable edge of the graph (or not for this vehicle),
  or an edge key that does not exist;
* a road-rights rule id (``no_entry``/``max_weight``/... rules, files or OSM tags): an edge
  used or stood on while the rule forbids it for that vehicle; an OSM destination-only road
  driven through (not at either end of a leg);
* ``window``: a pickup or stationing visit outside its booked or permitted window;
* a stationing rule id: stationing where or when the district's rules do not allow;
* a ``no_stopping`` rule id: a stop (any kind but the depot) on a road where stopping is banned;
* ``capacity``: the recomputed (or the claimed) load over capacity, or a negative claim;
* ``load``: the plan's ``load_after`` differs from the recomputed load, or a load cannot be
  recomputed (a pickup without booking kg, a stationing visit without its estimate);
* ``unload_residue``: the plan claims a load left on board after an unload;
* ``depot``: a route that does not start, or end, at its own vehicle's depot;
* ``route_end``: a route that does not end at a depot, or not empty;
* ``station``, ``station_closed``, ``station_material``, ``station_intake``: an unknown
  transfer station, closed, not accepting the load, or given more than its daily intake;
* ``shift``, ``break``: shift limits, the driver's break;
* ``timing``: times out of order, or faster than the road allows;
* ``distance``: a leg shorter than its whole edges (when the edge table has lengths).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point

from road_rules.calendar import ChinaCalendar
from road_rules.edges import EdgeTable
from road_rules.evaluate import (
    blocking_onsets,
    covering_stationing_rules,
    destination_edges,
    no_stopping_onsets,
    stationing_windows,
)
from road_rules.model import Rule, RuleSet, VehicleInfo

EdgeCheck = Callable[[int, int], bool]
#: ``edge_seconds(vehicle JSON, u, v, key)``: seconds to drive the whole edge for that
#: vehicle (``key`` None: the fastest of the parallel edges), None when it may not use it.
EdgeSeconds = Callable[[dict[str, Any], int, int, int | None], float | None]

#: Timing tolerance per edge: rounding of per-edge milliseconds to whole seconds.
TOLERANCE_S = 1
#: Timing tolerance as a share of the recomputed time (speed configuration drift).
TOLERANCE_SHARE = 0.02
#: Distance tolerance per edge, metres (decimetre rounding of lengths).
DISTANCE_TOLERANCE_M = 1
#: Volumes in plan JSON are rounded to whole litres.
M3_TOLERANCE = 0.0015


@dataclass(frozen=True)
class Violation:
    """One broken rule, where and when."""

    rule: str
    vehicle: str
    stop: str
    at: str
    message: str


def _secs(iso: str, day: dt.date) -> int:
    t = dt.datetime.fromisoformat(iso)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=t.tzinfo)
    return int((t - midnight).total_seconds())


def _iso(day: dt.date, s: int) -> str:
    tz = dt.timezone(dt.timedelta(hours=8))
    return (dt.datetime.combine(day, dt.time(), tzinfo=tz) + dt.timedelta(seconds=s)).isoformat()


def _hm(day: dt.date, s: int) -> str:
    return _iso(day, s)[11:19]


def vehicle_info(v: dict[str, Any]) -> VehicleInfo:
    """The rule-relevant facts of a plan JSON vehicle."""
    return VehicleInfo(
        plate=v["plate"],
        vehicle_class=v.get("class", ""),
        weight_class=v.get("weight_class", "light"),
        fuel=v.get("fuel", ""),
        gross_weight_kg=int(v.get("gross_weight_kg", 0)),
        permits=frozenset(v.get("permits", [])),
        height_m=float(v.get("height_m") or 0.0),
        width_m=float(v.get("width_m") or 0.0),
        length_m=float(v.get("length_m") or 0.0),
        axle_load_t=float(v.get("axle_load_t") or 0.0),
    )


#: What the rules select vehicles by; a plan that leaves one out cannot be checked.
VEHICLE_FACTS = ("gross_weight_kg", "height_m", "width_m", "length_m", "weight_class", "fuel")


def _missing_facts(v: dict[str, Any]) -> list[str]:
    out = []
    for f in VEHICLE_FACTS:
        x = v.get(f)
        if f in ("weight_class", "fuel"):
            if not isinstance(x, str) or not x:
                out.append(f)
        elif isinstance(x, bool) or not isinstance(x, int | float) or not x > 0:
            out.append(f)
    return out


#: A leg step as the plan names it: OSM (u, v) and the osmnx key (None: not given).
Step = tuple[int, int, int | None]


class _Edges:
    """(u, v[, key]) -> edge indices over an edge table."""

    def __init__(self, table: EdgeTable) -> None:
        self.table = table
        idx = table._memo.get("pair_index")
        if idx is None:
            idx = {}
            for i, (a, b) in enumerate(zip(table.u, table.v, strict=True)):
                idx.setdefault((a, b), []).append(i)
            table._memo["pair_index"] = idx
        self.idx: dict[tuple[int, int], list[int]] = idx
        keyed = table._memo.get("key_index")
        if keyed is None:
            keyed = {}
            if len(table.keys) == len(table):
                for i, (a, b, k) in enumerate(zip(table.u, table.v, table.keys, strict=True)):
                    keyed[(a, b, k)] = i
            table._memo["key_index"] = keyed
        self.keyed: dict[tuple[int, int, int], int] = keyed

    def resolve(self, step: Step) -> list[int] | None:
        """The edge indices a step names: exactly one with a key (when the table knows keys),
        every parallel edge of the pair without; None when the keyed edge does not exist."""
        a, b, k = step
        if k is None or not self.keyed:
            return self.idx.get((a, b), [])
        i = self.keyed.get((a, b, k))
        return None if i is None else [i]

    def name(self, step: Step) -> str:
        ii = self.resolve(step) or []
        names = sorted({n for i in ii for n in self.table.names[i]})
        key = f"#{step[2]}" if step[2] is not None else ""
        return f"{step[0]}->{step[1]}{key}" + (f" ({'/'.join(names)})" if names else "")

    def length(self, step: Step) -> float | None:
        """Metres of the step's edge (the shortest parallel one without a key)."""
        if len(self.table.lengths) != len(self.table):
            return None
        ii = self.resolve(step)
        if not ii:
            return None
        return min(self.table.lengths[i] for i in ii)


def _edge_step(e: Any) -> Step | None:
    """``[u, v]`` or ``[u, v, key]`` as a step."""
    if not e:
        return None
    return (int(e[0]), int(e[1]), int(e[2]) if len(e) > 2 and e[2] is not None else None)


@dataclass
class _Ctx:
    """What a route's replay needs, and where it reports."""

    day: dt.date
    veh: dict[str, Any]
    info: VehicleInfo
    has_edge: EdgeCheck | None
    rules: RuleSet | None
    lookup: _Edges | None
    calendar: ChinaCalendar | None
    edge_seconds: EdgeSeconds | None
    out: list[Violation] = field(default_factory=list)
    unloaded: list[tuple[str, int, str]] = field(default_factory=list)  # station, kg, arrival

    def report(self, rule: str, sid: str, at: int | str, msg: str) -> None:
        when = at if isinstance(at, str) else _iso(self.day, at)
        self.out.append(Violation(rule, self.info.plate, sid, when, msg))

    @property
    def road_rights(self) -> bool:
        return self.rules is not None and self.lookup is not None


def check_plan(
    plan: dict[str, Any],
    *,
    has_edge: EdgeCheck | None = None,
    rules: RuleSet | None = None,
    edges: EdgeTable | None = None,
    calendar: ChinaCalendar | None = None,
    edge_seconds: EdgeSeconds | None = None,
) -> list[Violation]:
    """All violations in ``plan``; an empty list means legal.

    Parameters
    ----------
    has_edge
        ``has_edge(u, v)``: are OSM nodes ``u -> v`` joined by a drivable edge; paths
        are not checked against the graph when omitted.
    rules, edges
        The district's road rights and the road graph's edge table; road rights are not
        checked when either is omitted. With ``edges`` alone, edge keys (and lengths, when
        the table has them) are still checked.
    calendar
        The official calendar (workdays, public holidays) rules are read with.
    edge_seconds
        ``edge_seconds(vehicle, u, v, key)``: seconds for that vehicle to drive the whole
        edge (None: it may not use it); leg timings are not recomputed when omitted.
    """
    day = dt.date.fromisoformat(plan["plan"]["date"])
    vehicles = {v["plate"]: v for v in plan.get("vehicles", [])}
    facilities = {f["id"]: f for f in plan.get("facilities", [])}
    lookup = _Edges(edges) if edges is not None else None
    out: list[Violation] = []
    unloaded: list[tuple[str, int, str]] = []
    for route in plan.get("routes", []):
        plate = route["vehicle"]
        veh = vehicles.get(plate)
        if veh is None:
            out.append(
                Violation("unknown_vehicle", plate, "-", "-", "route for a vehicle not in the plan")
            )
            continue
        if rules is not None:
            missing = _missing_facts(veh)
            if missing:
                out.append(
                    Violation(
                        "vehicle",
                        plate,
                        "-",
                        "-",
                        f"the plan does not state the vehicle's {', '.join(missing)}: "
                        "the rules that depend on them cannot be checked",
                    )
                )
        ctx = _Ctx(day, veh, vehicle_info(veh), has_edge, rules, lookup, calendar, edge_seconds)
        _check_route(ctx, route["stops"], facilities)
        out += ctx.out
        unloaded += ctx.unloaded
    out += _check_intake(unloaded, facilities)
    return out


def _check_intake(
    unloaded: list[tuple[str, int, str]], facilities: dict[str, dict[str, Any]]
) -> list[Violation]:
    """The recomputed kilograms unloaded at each station over all routes stay within its
    daily intake."""
    total: dict[str, int] = {}
    last: dict[str, str] = {}
    for sid, kg, at in unloaded:
        total[sid] = total.get(sid, 0) + kg
        last[sid] = max(last.get(sid, at), at)
    out = []
    for sid, kg in sorted(total.items()):
        cap = facilities.get(sid, {}).get("daily_intake_kg")
        if cap is not None and kg > cap + 1e-6:
            out.append(
                Violation(
                    "station_intake",
                    "-",
                    f"unload:{sid}",
                    last[sid],
                    f"{kg} kg unloaded at {sid}, over its daily intake of {cap} kg",
                )
            )
    return out


# --------------------------------------------------------------------------- loads


def _sum(items: list[Any], key: str) -> float | None:
    """The sum of ``key`` over booking material items, None unless every item has it."""
    vals = [x.get(key) for x in items if isinstance(x, dict)]
    nums = [float(v) for v in vals if isinstance(v, int | float)]
    if not nums or len(nums) != len(items):
        return None
    return sum(nums)


def _demand(s: dict[str, Any]) -> tuple[int, int] | None:
    """(kg, litres) a pickup or stationing visit puts on board, as the planner rounds them:
    a booking's kg and volume rounded up (the larger of its stated total and the sum of its
    materials), a collection point's expected kg and volume. None: not in the plan."""
    if s["kind"] == "pickup":
        b = s.get("booking") or {}
        mats = b.get("materials") or []
        kgs = [x for x in (b.get("est_kg"), _sum(mats, "kg")) if isinstance(x, int | float)]
        m3s = [x for x in (b.get("est_m3"), _sum(mats, "m3")) if isinstance(x, int | float)]
        if not kgs or not m3s:
            return None
        return math.ceil(max(kgs)), math.ceil(max(m3s) * 1000)
    cp = s.get("collection_point") or {}
    kg, m3 = cp.get("expected_kg"), cp.get("expected_m3")
    if not isinstance(kg, int | float) or not isinstance(m3, int | float):
        return None
    return int(kg), math.ceil(m3 * 1000)


def _materials(s: dict[str, Any]) -> set[str]:
    """What a stop puts on board: the stop's materials and its booking's."""
    mats = set(s.get("materials", []))
    for x in (s.get("booking") or {}).get("materials") or []:
        if isinstance(x, dict) and "material" in x:
            mats.add(str(x["material"]))
    return mats


def _check_load(ctx: _Ctx, s: dict[str, Any], sid: str, prev: tuple[int, int]) -> tuple[int, int]:
    """Recompute the load after stop ``s`` from the one before it; report what is wrong."""
    veh, at = ctx.veh, s["arrival"]
    claim = s.get("load_after") or {}
    c_kg, c_m3 = float(claim.get("kg", 0) or 0), float(claim.get("m3", 0) or 0)
    kind = s["kind"]
    if kind in ("pickup", "station"):
        d = _demand(s)
        if d is None:
            what = "booking kg and volume" if kind == "pickup" else "stationing estimate"
            ctx.report("load", sid, at, f"the plan gives no {what}: its load cannot be recomputed")
            # Go on with the plan's own increase, so one gap does not flag every later stop.
            d = (max(0, math.ceil(c_kg) - prev[0]), max(0, math.ceil(c_m3 * 1000) - prev[1]))
        kg, litres = prev[0] + d[0], prev[1] + d[1]
    elif kind == "unload":
        ctx.unloaded.append((s["id"], prev[0], at))
        kg, litres = 0, 0
        if c_kg > 1e-6 or c_m3 > 1e-6:
            ctx.report(
                "unload_residue",
                sid,
                at,
                f"the plan has {claim} left on board after unloading; an unload empties the van",
            )
    else:
        kg, litres = prev
    cap_kg, cap_m3 = float(veh["capacity_kg"]), float(veh["capacity_m3"])
    if kg > cap_kg + 1e-6 or litres > cap_m3 * 1000 + 1e-6:
        ctx.report(
            "capacity",
            sid,
            at,
            f"load {kg} kg / {litres / 1000:.3f} m³ (recomputed from the bookings and stationing "
            f"estimates) exceeds capacity {veh['capacity_kg']} kg / {veh['capacity_m3']} m³",
        )
    elif c_kg > cap_kg + 1e-6 or c_m3 > cap_m3 + 1e-6:
        ctx.report(
            "capacity",
            sid,
            at,
            f"the plan's load {claim} exceeds capacity {veh['capacity_kg']} kg / "
            f"{veh['capacity_m3']} m³",
        )
    if c_kg < -1e-6 or c_m3 < -1e-6:
        ctx.report("capacity", sid, at, f"negative load {claim}")
    elif kind != "unload" and (abs(c_kg - kg) > 1e-6 or abs(c_m3 - litres / 1000) > M3_TOLERANCE):
        ctx.report(
            "load",
            sid,
            at,
            f"the plan says {claim} on board, the bookings and stationing estimates give "
            f"{kg} kg / {litres / 1000:.3f} m³",
        )
    return kg, litres


# --------------------------------------------------------------------------- routes


#: How far a stop may lie from the road edge its leg ends on (snapping reaches this far).
MAX_STOP_TO_EDGE_M = 1000.0
DAY_S = 86_400


def _check_continuity(
    ctx: _Ctx, s: dict[str, Any], sid: str, leg: Any, prev_end: Step | None
) -> None:
    """The leg into a stop exists and joins up: it leaves from the edge the van stood on
    at the stop before, its node path runs from the start edge's head to the end edge's
    tail (or start and end edge are one, for a stop further along the same edge), and it
    ends on an edge at the stop. A route cannot jump."""
    here = s["arrival"]
    if not isinstance(leg, dict) or not leg.get("start_edge") or not leg.get("end_edge"):
        ctx.report("path", sid, here, "no road path into this stop (leg or its edges missing)")
        return
    a, b = _edge_step(leg["start_edge"]), _edge_step(leg["end_edge"])
    assert a is not None and b is not None
    nodes = [int(n) for n in leg.get("nodes") or []]

    def same(x: Step, y: Step) -> bool:
        return x[:2] == y[:2] and (x[2] is None or y[2] is None or x[2] == y[2])

    if prev_end is not None and not same(a, prev_end):
        ctx.report(
            "path",
            sid,
            here,
            f"leg leaves from {a[0]}->{a[1]}, not from the edge the van stood on "
            f"({prev_end[0]}->{prev_end[1]})",
        )
    if nodes:
        if nodes[0] != a[1] or nodes[-1] != b[0]:
            ctx.report("path", sid, here, "leg's node path does not join its start and end edges")
    elif not same(a, b):
        ctx.report("path", sid, here, "leg has no node path between two different edges")
    if ctx.lookup is not None and s.get("lon") is not None and s.get("lat") is not None:
        ii = ctx.lookup.resolve(b)
        if ii:
            g = ctx.lookup.table.geoms[ii[0]]
            lon, lat = float(s["lon"]), float(s["lat"])
            # degrees -> metres; east-west degrees are shorter here, so this overestimates
            dx = g.distance(Point(lon, lat)) * 111_320.0
            if dx > MAX_STOP_TO_EDGE_M * 1.5:
                ctx.report(
                    "path",
                    sid,
                    here,
                    f"the stop lies {dx:.0f} m from the edge its leg ends on ({b[0]}->{b[1]})",
                )


def _check_route(
    ctx: _Ctx, stops: list[dict[str, Any]], facilities: dict[str, dict[str, Any]]
) -> None:
    day, veh = ctx.day, ctx.veh
    shift_a = _secs(veh["shift"]["start"], day)
    shift_b = _secs(veh["shift"]["end"], day)
    prev_dep: int | None = None
    onboard: set[str] = set()
    load = (0, 0)
    standing: Step | None = None  # the edge the van stands on at the previous stop
    prev_pos: tuple[Any, Any] | None = None
    for k, s in enumerate(stops):
        sid = f"{s['kind']}:{s['id']}"
        arr, start, dep = (_secs(s[f], day) for f in ("arrival", "start", "departure"))
        here = s["arrival"]
        if not (arr <= start <= dep):
            ctx.report("timing", sid, here, "arrival, start and departure are out of order")
        if k == 0:
            if dep < shift_a:
                ctx.report(
                    "shift",
                    sid,
                    here,
                    f"leaves the depot before the shift starts ({veh['shift']['start']})",
                )
            if s["kind"] != "depot" or s["id"] != veh.get("depot"):
                ctx.report(
                    "depot",
                    sid,
                    here,
                    f"route starts at {sid}, not at its vehicle's depot {veh.get('depot')}",
                )
        if k == len(stops) - 1 and arr > shift_b:
            ctx.report(
                "shift",
                sid,
                here,
                f"returns to the depot after the shift ends ({veh['shift']['end']})",
            )
        leg = s.get("leg")
        if not (0 <= arr <= dep < DAY_S):
            ctx.report("timing", sid, here, "times fall outside the plan's day")
        if s["kind"] == "depot" and 0 < k < len(stops) - 1:
            ctx.report("depot", sid, here, "a depot stop in the middle of a route")
        if k > 0:
            _check_continuity(ctx, s, sid, leg, standing if k > 1 else None)
        end_step = _edge_step(leg.get("end_edge")) if leg else None
        # Not driven to: the same place as the stop before, so the van stood there all along.
        same_place = (
            prev_dep is not None
            and leg is not None
            and s["kind"] != "depot"
            and not leg.get("nodes")
            and end_step is not None
            and end_step == standing
            and (s.get("lat"), s.get("lon")) == prev_pos
        )
        if prev_dep is not None and leg is not None:
            _check_leg(ctx, sid, prev_dep, arr, leg, occupancy=not same_place)
        if s["kind"] != "depot":
            place = end_step if end_step is not None else standing
            if place is not None:
                since = prev_dep if same_place and prev_dep is not None else arr
                _check_standing(ctx, sid, place, since, max(dep, arr + 1))
            standing = place
        else:
            standing = end_step
        prev_pos = (s.get("lat"), s.get("lon"))
        _check_visit(ctx, s, sid, start, dep)
        load = _check_load(ctx, s, sid, load)
        onboard |= _materials(s)
        if s["kind"] == "unload":
            fac = facilities.get(s["id"])
            if fac is None:
                ctx.report("station", sid, here, "unloads at an unknown transfer station")
            else:
                refused = sorted(onboard - set(fac["accepts"]))
                if refused:
                    ctx.report(
                        "station_material",
                        sid,
                        here,
                        f"station {s['id']} does not accept {refused}",
                    )
                if not any(_secs(a, day) <= start and dep <= _secs(b, day) for a, b in fac["open"]):
                    ctx.report(
                        "station_closed",
                        sid,
                        here,
                        f"station {s['id']} is closed at {s['start'][11:16]}",
                    )
            onboard = set()
        prev_dep = dep
    if not stops:
        return
    last = stops[-1]
    lid = f"{last['kind']}:{last['id']}"
    if last["kind"] != "depot":
        ctx.report("route_end", lid, last["arrival"], "route does not end at its depot")
    elif last["id"] != veh.get("depot"):
        ctx.report(
            "depot",
            lid,
            last["arrival"],
            f"route ends at depot {last['id']}, not at its vehicle's depot {veh.get('depot')}",
        )
    claim = last.get("load_after") or {}
    if load != (0, 0) or float(claim.get("kg", 0) or 0) > 0 or float(claim.get("m3", 0) or 0) > 0:
        ctx.report(
            "route_end",
            lid,
            last["arrival"],
            f"route does not end empty ({load[0]} kg / {load[1] / 1000:.3f} m³ on board "
            "after the last unload)",
        )
    ctx.out.extend(_check_break(day, veh, stops))


def _check_visit(ctx: _Ctx, s: dict[str, Any], sid: str, start: int, dep: int) -> None:
    """Booked and permitted windows, and the district's stationing rules."""
    day, here = ctx.day, s["arrival"]
    windows = s.get("windows")
    if s["kind"] in ("pickup", "station") and windows is not None:
        ok = any(
            a <= start and dep <= b
            for a, b in ((_secs(w[0], day), _secs(w[1], day)) for w in windows)
        )
        if not ok:
            ctx.report(
                "window",
                sid,
                here,
                f"served {s['start'][11:16]}–{s['departure'][11:16]}, outside every permitted window",
            )
    if ctx.rules is not None and s["kind"] == "station":
        allowed = stationing_windows(
            ctx.rules, day, s["id"], s["lon"], s["lat"], calendar=ctx.calendar
        )
        if allowed is not None and not any(a <= start and dep <= b for a, b in allowed):
            ids = [r.id for r in covering_stationing_rules(ctx.rules, s["id"], s["lon"], s["lat"])]
            ctx.report(
                "/".join(ids) or "stationing",
                sid,
                here,
                f"stations {s['start'][11:16]}–{s['departure'][11:16]}, outside the district's "
                "stationing windows",
            )


Onsets = Callable[..., list[tuple[int, Rule]]]


def _first_onsets(
    ctx: _Ctx, onsets: Onsets, edges: list[int], start: int, end: int
) -> list[tuple[int, Rule]]:
    """(first second, rule) of each rule ``onsets`` finds on any of ``edges`` during
    ``[start, end)``, by time."""
    assert ctx.rules is not None and ctx.lookup is not None
    found: dict[tuple[str, str], tuple[int, Rule]] = {}
    for e in edges:
        for t, r in onsets(
            ctx.rules, ctx.info, ctx.day, ctx.lookup.table, e, start, end, calendar=ctx.calendar
        ):
            key = (r.id, r.origin)
            if key not in found or t < found[key][0]:
                found[key] = (t, r)
    return sorted(found.values(), key=lambda x: (x[0], x[1].id))


def _blocking(ctx: _Ctx, edges: list[int], start: int, end: int) -> list[tuple[int, Rule]]:
    """(first second, rule) of each blocking rule in force on any of ``edges`` during
    ``[start, end)``."""
    return _first_onsets(ctx, blocking_onsets, edges, start, end)


def _check_standing(ctx: _Ctx, sid: str, step: Step, start: int, end: int) -> None:
    """The van stands on ``step``'s edge over ``[start, end)``: no-stopping rules, and bans
    that start while it is parked there."""
    if not ctx.road_rights:
        return
    assert ctx.rules is not None and ctx.lookup is not None
    edges = ctx.lookup.resolve(step)
    if not edges:
        return  # an unknown edge is reported with the leg
    name = ctx.lookup.name(step)
    for t, r in _first_onsets(ctx, no_stopping_onsets, edges, start, end):
        ctx.report(
            r.id,
            sid,
            t,
            f"stands on {name} from {_hm(ctx.day, start)} to {_hm(ctx.day, end)}, where "
            f"stopping is banned ({r.title})",
        )
    for t, r in _blocking(ctx, edges, start, end):
        ctx.report(
            r.id,
            sid,
            t,
            f"parked on {name} from {_hm(ctx.day, start)} to {_hm(ctx.day, end)} while "
            f"forbidden from {_hm(ctx.day, t)}: {r.title}",
        )


def _leg_steps(leg: dict[str, Any]) -> tuple[list[Step], str | None]:
    """The leg's node path as steps with their keys, or a reason it is malformed."""
    nodes = [int(n) for n in leg.get("nodes", [])]
    keys = leg.get("keys")
    pairs = list(itertools.pairwise(nodes))
    if keys is None:
        return [(a, b, None) for a, b in pairs], None
    if len(keys) != len(pairs):
        return [(a, b, None) for a, b in pairs], (
            f"leg names {len(keys)} edge keys for {len(pairs)} node pairs"
        )
    return [(a, b, int(k)) for (a, b), k in zip(pairs, keys, strict=True)], None


def _check_leg(
    ctx: _Ctx, sid: str, prev_dep: int, arr: int, leg: dict[str, Any], *, occupancy: bool = True
) -> None:
    """Path, keys, timing and distance of a leg; with ``occupancy``, the rules in force on
    each edge while the van is on it (without: it stood still, checked as standing)."""
    day = ctx.day
    if arr + TOLERANCE_S < prev_dep + int(leg.get("duration_s", 0)):
        ctx.report("timing", sid, arr, "arrives sooner than the leg's own travel time allows")
    steps, malformed = _leg_steps(leg)
    if malformed:
        ctx.report("path", sid, prev_dep, malformed)
    times = [_secs(x, day) for x in leg.get("enter_times", [])]
    nodes = leg.get("nodes", [])
    if len(times) != len(nodes):
        ctx.report(
            "timing", sid, prev_dep, f"{len(times)} enter times for {len(nodes)} nodes of the path"
        )
    start_step = _edge_step(leg.get("start_edge"))
    end_step = _edge_step(leg.get("end_edge"))

    # Every edge named exists (with its key), and this vehicle may drive it.
    bad_path = False
    named = [("start edge", start_step), *(("leg", x) for x in steps), ("end edge", end_step)]
    secs: dict[Step, float | None] = {}
    for what, step in named:
        if step is None or bad_path:
            continue
        a, b, key = step
        if ctx.has_edge is not None and not ctx.has_edge(a, b):
            ctx.report("path", sid, prev_dep, f"{what} {a}->{b} is not a drivable edge")
            bad_path = True
        elif key is not None and ctx.lookup is not None and ctx.lookup.resolve(step) is None:
            ctx.report("path", sid, prev_dep, f"{what} {a}->{b} has no edge with key {key}")
            bad_path = True
        elif ctx.edge_seconds is not None:
            secs[step] = ctx.edge_seconds(ctx.veh, a, b, key)
            if secs[step] is None:
                ctx.report(
                    "path",
                    sid,
                    prev_dep,
                    f"{what} {a}->{b}"
                    + (f"#{key}" if key is not None else "")
                    + f" is not drivable for a {ctx.veh.get('class', '?')} vehicle",
                )
                bad_path = True

    # Times: in order, inside the leg, no faster than the road allows.
    if any(b < a for a, b in itertools.pairwise(times)):
        ctx.report("timing", sid, prev_dep, "road path entered at decreasing times")
    if times and (times[0] < prev_dep or times[-1] > arr + TOLERANCE_S):
        ctx.report("timing", sid, prev_dep, "road path times fall outside the leg")
    if ctx.edge_seconds is not None and not bad_path:
        need_total = 0.0
        too_fast = False  # the first edge driven too fast is reported, not every one
        for i, step in enumerate(steps):
            need = secs.get(step)
            if need is None:
                continue
            need_total += need
            if i + 1 < len(times) and not too_fast:
                gap = times[i + 1] - times[i]
                if gap < need * (1 - TOLERANCE_SHARE) - TOLERANCE_S:
                    ctx.report(
                        "timing",
                        sid,
                        times[i],
                        f"drives {_name(ctx, step)} in {gap} s; it takes {need:.0f} s",
                    )
                    too_fast = True
        if arr - prev_dep < need_total * (1 - TOLERANCE_SHARE) - TOLERANCE_S:
            ctx.report(
                "timing",
                sid,
                arr,
                f"leg driven in {arr - prev_dep} s; its {len(steps)} whole edges alone take "
                f"{need_total:.0f} s for this vehicle",
            )
    if ctx.lookup is not None and steps and not bad_path:
        lengths = [ctx.lookup.length(x) for x in steps]
        if all(x is not None for x in lengths):
            total = sum(x for x in lengths if x is not None)
            claimed = float(leg.get("distance_m", 0))
            if claimed < total * (1 - TOLERANCE_SHARE) - DISTANCE_TOLERANCE_M * len(steps):
                ctx.report(
                    "distance",
                    sid,
                    prev_dep,
                    f"leg of {claimed:.0f} m; its {len(steps)} whole edges alone are {total:.0f} m",
                )

    # Occupancy: each edge from entering it until entering the next.
    if not ctx.road_rights or bad_path or not occupancy:
        return
    spans: list[tuple[Step, int, int]] = []
    if not steps and not times:
        for step in dict.fromkeys(x for x in (start_step, end_step) if x is not None):
            spans.append((step, prev_dep, arr))
    else:
        if start_step is not None:
            spans.append((start_step, prev_dep, times[0] if times else prev_dep))
        for i, step in enumerate(steps):
            if i < len(times):
                spans.append((step, times[i], times[i + 1] if i + 1 < len(times) else arr))
        if end_step is not None:
            spans.append((end_step, times[-1] if times else prev_dep, arr))
    assert ctx.lookup is not None
    for step, a, b in spans:
        edges = ctx.lookup.resolve(step) or []
        for t, r in _blocking(ctx, edges, a, b):
            when = "while forbidden" if t <= a else f"as a ban starts at {_hm(day, t)}"
            ctx.report(
                r.id,
                sid,
                t,
                f"drives {_name(ctx, step)} ({_hm(day, a)}–{_hm(day, b)}) {when}: {r.title}",
            )
    _check_through(ctx, sid, spans)


def _check_through(ctx: _Ctx, sid: str, spans: list[tuple[Step, int, int]]) -> None:
    """Roads only for access to places on them (OSM ``destination``/``delivery``): a leg may
    drive them only leaving the stop before or reaching this one (a run at either end of
    the leg), never through."""
    assert ctx.rules is not None and ctx.lookup is not None
    dest = destination_edges(ctx.rules, ctx.info, ctx.day, ctx.lookup.table, calendar=ctx.calendar)
    if not dest:
        return
    flags: list[tuple[int, Rule] | None] = []
    for step, a, b in spans:
        hit = None
        for e in ctx.lookup.resolve(step) or []:
            for x, y, r in dest.get(e, ()):
                if x < max(b, a + 1) and a < y:
                    hit = (max(a, x), r)
                    break
            if hit is not None:
                break
        flags.append(hit)
    lead = next((i for i, f in enumerate(flags) if f is None), len(flags))
    trail = next((i for i, f in enumerate(reversed(flags)) if f is None), len(flags))
    seen: set[str] = set()
    for (step, _a, _b), f in list(zip(spans, flags, strict=True))[lead : len(flags) - trail]:
        if f is None or f[1].id in seen:
            continue
        t, r = f
        seen.add(r.id)
        ctx.report(
            r.id,
            sid,
            t,
            f"drives through {_name(ctx, step)}, a road only for access to places on it "
            f"({r.title}), neither leaving the stop before nor reaching this one",
        )


def _name(ctx: _Ctx, step: Step) -> str:
    if ctx.lookup is not None:
        return ctx.lookup.name(step)
    return f"{step[0]}->{step[1]}" + (f"#{step[2]}" if step[2] is not None else "")


def _check_break(day: dt.date, veh: dict[str, Any], stops: list[dict[str, Any]]) -> list[Violation]:
    brk = veh.get("break")
    if not brk:
        return []
    ws, we, minutes = _secs(brk["start"], day), _secs(brk["end"], day), int(brk["minutes"])
    out_from = _secs(stops[0]["departure"], day)
    back = _secs(stops[-1]["arrival"], day)
    if not (out_from < ws and back > we):
        return []  # the van is not out for the whole break window: no break is owed on the road
    taken = [
        s
        for s in stops
        if s["kind"] == "break"
        and _secs(s["start"], day) >= ws
        and _secs(s["departure"], day) <= we
        and _secs(s["departure"], day) - _secs(s["start"], day) >= minutes * 60
    ]
    if taken:
        return []
    return [
        Violation(
            "break",
            veh["plate"],
            "-",
            brk["start"],
            f"no {minutes}-minute break between {brk['start'][11:16]} and {brk['end'][11:16]}",
        )
    ]
