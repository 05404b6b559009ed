"""Replay a plan (plan JSON, see docs/plan-format.md) and list every violation.

This first version checks what the plan JSON itself carries: each leg's road path
is a chain of real edges entered at non-decreasing times, every visit lies in one of
its permitted windows, loads stay within capacity and the route ends empty, transfer
stations are open and accept what is unloaded, and the shift is respected. Timed
district rules (no-entry bands, stationing rules) join in the road-rules issue.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def check_plan(plan: dict[str, Any], *, has_edge: EdgeCheck | None = None) -> list[Violation]:
    """All violations in ``plan``; an empty list means legal.

    Parameters
    ----------
    has_edge
        ``has_edge(u, v)`` tells whether OSM nodes ``u -> v`` are joined by a drivable
        edge; when omitted, paths are not checked against the graph.
    """
    out: list[Violation] = []
    day = dt.date.fromisoformat(plan["plan"]["date"])
    vehicles = {v["plate"]: v for v in plan.get("vehicles", [])}
    facilities = {f["id"]: f for f in plan.get("facilities", [])}
    for route in plan.get("routes", []):
        plate = route["vehicle"]
        veh = vehicles.get(plate)
        stops = route["stops"]
        if veh is None:
            out.append(
                Violation("unknown_vehicle", plate, "-", "-", "route for a vehicle not in the plan")
            )
            continue
        shift_a = _secs(veh["shift"]["start"], day)
        shift_b = _secs(veh["shift"]["end"], day)
        prev_dep: int | None = None
        onboard: set[str] = set()
        for k, s in enumerate(stops):
            sid = f"{s['kind']}:{s['id']}"
            arr, start, dep = (_secs(s[f], day) for f in ("arrival", "start", "departure"))
            at = s["arrival"]

            def v(rule: str, msg: str, *, _p: str = plate, _sid: str = sid, _at: str = at) -> None:
                out.append(Violation(rule, _p, _sid, _at, msg))

            if not (arr <= start <= dep):
                v("timing", "arrival, start and departure are out of order")
            if k == 0 and dep < shift_a:
                v("shift", f"leaves the depot before the shift starts ({veh['shift']['start']})")
            if k == len(stops) - 1 and arr > shift_b:
                v("shift", f"returns to the depot after the shift ends ({veh['shift']['end']})")
            leg = s.get("leg")
            if prev_dep is not None and leg is not None:
                if arr + TOLERANCE_S < prev_dep + int(leg["duration_s"]):
                    v("timing", "arrives sooner than the leg's travel time allows")
                nodes = leg.get("nodes", [])
                times = leg.get("enter_times", [])
                if has_edge is not None:
                    for a, b in itertools.pairwise(nodes):
                        if not has_edge(int(a), int(b)):
                            v("path", f"leg uses {a}->{b}, which is not a drivable edge")
                            break
                    for edge_key in ("start_edge", "end_edge"):
                        e = leg.get(edge_key)
                        if e and not has_edge(int(e[0]), int(e[1])):
                            v("path", f"leg {edge_key} {e} is not a drivable edge")
                if any(_secs(b, day) < _secs(a, day) for a, b in itertools.pairwise(times)):
                    v("timing", "road path entered at decreasing times")
                if times and (
                    _secs(times[0], day) < prev_dep or _secs(times[-1], day) > arr + TOLERANCE_S
                ):
                    v("timing", "road path times fall outside the leg")
            windows = s.get("windows")
            if s["kind"] in ("pickup", "station") and windows is not None:
                ok = any(
                    a <= start and start + (dep - start) <= b
                    for a, b in ((_secs(w[0], day), _secs(w[1], day)) for w in windows)
                )
                if not ok:
                    v(
                        "window",
                        f"served {s['start']}–{s['departure']}, outside every permitted window",
                    )
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
                    if not any(
                        _secs(a, day) <= start and dep <= _secs(b, day) for a, b in fac["open"]
                    ):
                        v("station_closed", f"station {s['id']} is closed at {s['start']}")
                onboard = set()
            prev_dep = dep
        if stops:
            last = stops[-1]
            if last["kind"] != "depot":
                out.append(
                    Violation(
                        "route_end",
                        plate,
                        f"{last['kind']}:{last['id']}",
                        last["arrival"],
                        "route does not end at its depot",
                    )
                )
            if last.get("load_after", {}).get("kg", 0) > 0:
                out.append(
                    Violation(
                        "route_end",
                        plate,
                        f"{last['kind']}:{last['id']}",
                        last["arrival"],
                        "route does not end empty",
                    )
                )
    return out
