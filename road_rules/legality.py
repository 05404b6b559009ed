"""Replay a plan (plan JSON, see docs/plan-format.md) and list every violation.

Each route is replayed leg by leg along its road path with the time the van enters
each edge. Reported, each with the rule id, the place and the time:

* ``path``: a leg step that is not a drivable edge of the graph;
* a road-rights rule id (``no_entry``/``max_weight`` rules, files or OSM tags): an edge
  entered while the rule forbids it for that vehicle;
* ``window``: a pickup or stationing visit outside its booked or permitted window;
* a stationing rule id: stationing where or when the district's rules do not allow;
* a ``no_stopping`` rule id: a pickup or stationing visit on a road where stopping is banned;
* ``capacity``, ``route_end``: load over capacity, negative, or not empty at the end;
* ``station_closed``, ``station_material``, ``station_intake``: a transfer station closed, not
  accepting the load, or given more than its daily intake;
* ``shift``, ``break``, ``timing``: shift limits, the driver's break, impossible timings.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from road_rules.calendar import ChinaCalendar
from road_rules.edges import EdgeTable
from road_rules.evaluate import (
    blocking_rules_at,
    covering_stationing_rules,
    no_stopping_rules,
    stationing_windows,
)
from road_rules.model import RuleSet, VehicleInfo

EdgeCheck = Callable[[int, int], bool]
TOLERANCE_S = 1  # rounding of per-edge milliseconds to whole seconds


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


def vehicle_info(v: dict[str, Any]) -> VehicleInfo:
    """The rule-relevant facts of a plan JSON vehicle."""
    return VehicleInfo(
        plate=v["plate"],
        vehicle_class=v.get("class", ""),
        weight_class=v.get("weight_class", "light"),
        fuel=v.get("fuel", ""),
        gross_weight_kg=int(v.get("gross_weight_kg", 0)),
        permits=frozenset(v.get("permits", [])),
    )


class _Edges:
    """Pair -> edge indices lookup over an edge table."""

    def __init__(self, table: EdgeTable) -> None:
        self.table = table
        idx = table._memo.get("pair_index")
        if idx is None:
            idx = {}
            for i, (a, b) in enumerate(zip(table.u, table.v, strict=True)):
                idx.setdefault((a, b), []).append(i)
            table._memo["pair_index"] = idx
        self.idx: dict[tuple[int, int], list[int]] = idx

    def name(self, pair: tuple[int, int]) -> str:
        ii = self.idx.get(pair, [])
        names = sorted({n for i in ii for n in self.table.names[i]})
        return f"{pair[0]}->{pair[1]}" + (f" ({'/'.join(names)})" if names else "")


def check_plan(
    plan: dict[str, Any],
    *,
    has_edge: EdgeCheck | None = None,
    rules: RuleSet | None = None,
    edges: EdgeTable | None = None,
    calendar: ChinaCalendar | None = None,
) -> list[Violation]:
    """All violations in ``plan``; an empty list means legal.

    Parameters
    ----------
    has_edge
        ``has_edge(u, v)``: are OSM nodes ``u -> v`` joined by a drivable edge; paths
        are not checked against the graph when omitted.
    rules, edges
        The district's road rights and the road graph's edge table; road rights are not
        checked when either is omitted.
    """
    out: list[Violation] = []
    day = dt.date.fromisoformat(plan["plan"]["date"])
    vehicles = {v["plate"]: v for v in plan.get("vehicles", [])}
    facilities = {f["id"]: f for f in plan.get("facilities", [])}
    lookup = _Edges(edges) if edges is not None and rules is not None else None
    for route in plan.get("routes", []):
        plate = route["vehicle"]
        veh = vehicles.get(plate)
        stops = route["stops"]
        if veh is None:
            out.append(
                Violation("unknown_vehicle", plate, "-", "-", "route for a vehicle not in the plan")
            )
            continue
        info = vehicle_info(veh)
        out += _check_route(day, veh, info, stops, facilities, has_edge, rules, lookup, calendar)
    out += _check_intake(plan, facilities)
    return out


def _check_intake(plan: dict[str, Any], facilities: dict[str, dict[str, Any]]) -> list[Violation]:
    """The kilograms unloaded at each station over all routes stay within its daily intake."""
    total: dict[str, float] = {}
    last: dict[str, str] = {}
    for route in plan.get("routes", []):
        before = 0.0
        for s in route["stops"]:
            if s["kind"] == "unload":
                total[s["id"]] = total.get(s["id"], 0.0) + before
                last[s["id"]] = s["arrival"]
            before = float(s.get("load_after", {}).get("kg", 0))
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
                    f"{kg:.0f} kg unloaded at {sid}, over its daily intake of {cap} kg",
                )
            )
    return out


def _check_route(
    day: dt.date,
    veh: dict[str, Any],
    info: VehicleInfo,
    stops: list[dict[str, Any]],
    facilities: dict[str, dict[str, Any]],
    has_edge: EdgeCheck | None,
    rules: RuleSet | None,
    lookup: _Edges | None,
    calendar: ChinaCalendar | None,
) -> list[Violation]:
    out: list[Violation] = []
    plate = info.plate
    shift_a = _secs(veh["shift"]["start"], day)
    shift_b = _secs(veh["shift"]["end"], day)
    prev_dep: int | None = None
    onboard: set[str] = set()
    for k, s in enumerate(stops):
        sid = f"{s['kind']}:{s['id']}"
        arr, start, dep = (_secs(s[f], day) for f in ("arrival", "start", "departure"))

        def v(
            rule: str, msg: str, at: str | None = None, *, _sid: str = sid, _at: str = s["arrival"]
        ) -> None:
            out.append(Violation(rule, plate, _sid, at or _at, msg))

        if not (arr <= start <= dep):
            v("timing", "arrival, start and departure are out of order")
        if k == 0 and dep < shift_a:
            v("shift", f"leaves the depot before the shift starts ({veh['shift']['start']})")
        if k == len(stops) - 1 and arr > shift_b:
            v("shift", f"returns to the depot after the shift ends ({veh['shift']['end']})")
        leg = s.get("leg")
        if prev_dep is not None and leg is not None:
            out.extend(
                _check_leg(day, info, sid, prev_dep, arr, leg, has_edge, rules, lookup, calendar)
            )
        windows = s.get("windows")
        if s["kind"] in ("pickup", "station") and windows is not None:
            ok = any(
                a <= start and dep <= b
                for a, b in ((_secs(w[0], day), _secs(w[1], day)) for w in windows)
            )
            if not ok:
                v(
                    "window",
                    f"served {s['start'][11:16]}–{s['departure'][11:16]}, outside every permitted window",
                )
        if rules is not None and s["kind"] == "station":
            allowed = stationing_windows(rules, day, s["id"], s["lon"], s["lat"], calendar=calendar)
            if allowed is not None and not any(a <= start and dep <= b for a, b in allowed):
                ids = [r.id for r in covering_stationing_rules(rules, s["id"], s["lon"], s["lat"])]
                v(
                    "/".join(ids) or "stationing",
                    f"stations {s['start'][11:16]}–{s['departure'][11:16]}, outside the district's stationing windows",
                )
        if (
            rules is not None
            and lookup is not None
            and s["kind"] in ("pickup", "station")
            and leg is not None
        ):
            pair = (int(leg["end_edge"][0]), int(leg["end_edge"][1]))
            banned = {
                r.id: r
                for e in lookup.idx.get(pair, [])
                for r in no_stopping_rules(
                    rules, info, day, lookup.table, e, start, dep, calendar=calendar
                )
            }
            for r in banned.values():
                v(r.id, f"stops on {lookup.name(pair)}, where stopping is banned ({r.title})")
        load = s.get("load_after", {})
        if (
            load.get("kg", 0) > veh["capacity_kg"] + 1e-6
            or load.get("m3", 0) > veh["capacity_m3"] + 1e-6
        ):
            v(
                "capacity",
                f"load {load} exceeds capacity {veh['capacity_kg']} kg / {veh['capacity_m3']} m³",
            )
        if load.get("kg", 0) < -1e-6 or load.get("m3", 0) < -1e-6:
            v("capacity", "negative load")
        onboard |= set(s.get("materials", []))
        if s["kind"] == "unload":
            fac = facilities.get(s["id"])
            if fac is None:
                v("station", "unloads at an unknown transfer station")
            else:
                refused = sorted(onboard - set(fac["accepts"]))
                if refused:
                    v("station_material", f"station {s['id']} does not accept {refused}")
                if not any(_secs(a, day) <= start and dep <= _secs(b, day) for a, b in fac["open"]):
                    v("station_closed", f"station {s['id']} is closed at {s['start'][11:16]}")
            onboard = set()
        prev_dep = dep
    if stops:
        last = stops[-1]
        lid = f"{last['kind']}:{last['id']}"
        if last["kind"] != "depot":
            out.append(
                Violation(
                    "route_end", plate, lid, last["arrival"], "route does not end at its depot"
                )
            )
        if last.get("load_after", {}).get("kg", 0) > 0:
            out.append(
                Violation("route_end", plate, lid, last["arrival"], "route does not end empty")
            )
        out.extend(_check_break(day, veh, stops))
    return out


def _check_leg(
    day: dt.date,
    info: VehicleInfo,
    sid: str,
    prev_dep: int,
    arr: int,
    leg: dict[str, Any],
    has_edge: EdgeCheck | None,
    rules: RuleSet | None,
    lookup: _Edges | None,
    calendar: ChinaCalendar | None,
) -> list[Violation]:
    out: list[Violation] = []

    def v(rule: str, msg: str, at: int) -> None:
        out.append(Violation(rule, info.plate, sid, _iso(day, at), msg))

    if arr + TOLERANCE_S < prev_dep + int(leg["duration_s"]):
        v("timing", "arrives sooner than the leg's travel time allows", arr)
    nodes = [int(n) for n in leg.get("nodes", [])]
    times = [_secs(t, day) for t in leg.get("enter_times", [])]
    if has_edge is not None:
        for a, b in itertools.pairwise(nodes):
            if not has_edge(a, b):
                v("path", f"leg uses {a}->{b}, which is not a drivable edge", prev_dep)
                break
        for key in ("start_edge", "end_edge"):
            e = leg.get(key)
            if e and not has_edge(int(e[0]), int(e[1])):
                v("path", f"leg {key} {e} is not a drivable edge", prev_dep)
    if any(b < a for a, b in itertools.pairwise(times)):
        v("timing", "road path entered at decreasing times", prev_dep)
    if times and (times[0] < prev_dep or times[-1] > arr + TOLERANCE_S):
        v("timing", "road path times fall outside the leg", prev_dep)
    if rules is None or lookup is None:
        return out
    # Every edge of the leg, with the time the van enters it.
    steps: list[tuple[tuple[int, int], int]] = []
    if leg.get("start_edge"):
        steps.append(((int(leg["start_edge"][0]), int(leg["start_edge"][1])), prev_dep))
    steps += [((a, b), t) for (a, b), t in zip(itertools.pairwise(nodes), times, strict=False)]
    if leg.get("end_edge") and leg.get("end_edge") != leg.get("start_edge"):
        steps.append(
            ((int(leg["end_edge"][0]), int(leg["end_edge"][1])), times[-1] if times else prev_dep)
        )
    for pair, t in steps:
        # Parallel edges between the same nodes: the plan names the pair, so any of them counts
        # (the planner forbids the pair when any of them is forbidden).
        hit = {
            r.id: r
            for e in lookup.idx.get(pair, [])
            for r in blocking_rules_at(rules, info, day, t, lookup.table, e, calendar=calendar)
        }
        for r in hit.values():
            v(r.id, f"drives {lookup.name(pair)} while forbidden: {r.title}", t)
    return out


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
