"""Sixteen deliberately illegal edits of a legal plan, each refused by ``loopvan check-plan``
naming the rule: the replay recomputes loads, depots, leg timings, and every interval a van
is on an edge or stopped, instead of trusting the plan's own figures.

The legal plan is the real planner's demo plan (conftest ``demo_plan``); the replay runs
through the CLI with the shipped rule files, plus a small rule file of the test's own for
the bans and no-stopping rules that must start at a chosen place and time.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from shapely.geometry import shape

import dispatch.cli
from dispatch.cli import main
from road_rules.edges import EdgeTable
from routing.edge_times import edge_seconds, spec_from_vehicle
from routing.network import RoadNetwork
from routing.rules_bridge import edge_table

ROOT = Path(__file__).resolve().parent.parent
Plan = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _plans(doc: dict[str, Any]) -> list[Plan]:
    return [copy.deepcopy(p) for p in doc.get("plans", [doc])]


def _day(plan: Plan) -> dt.date:
    return dt.date.fromisoformat(plan["plan"]["date"])


def _secs(plan: Plan, iso: str) -> int:
    t = dt.datetime.fromisoformat(iso)
    return int((t - dt.datetime.combine(_day(plan), dt.time(), tzinfo=t.tzinfo)).total_seconds())


def _iso(plan: Plan, s: int) -> str:
    tz = dt.timezone(dt.timedelta(hours=8))
    return (
        dt.datetime.combine(_day(plan), dt.time(), tzinfo=tz) + dt.timedelta(seconds=s)
    ).isoformat()


def _hhmm(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def _next_minute(s: int) -> int:
    """The first whole minute strictly after second ``s``."""
    return (s // 60 + 1) * 60


def _sid(s: dict[str, Any]) -> str:
    return f"{s['kind']}:{s['id']}"


def _stops(plans: list[Plan]) -> Iterator[tuple[Plan, dict[str, Any], int, dict[str, Any]]]:
    for p in plans:
        for r in p["routes"]:
            for k, s in enumerate(r["stops"]):
                yield p, r, k, s


def _only(plan: Plan, route: dict[str, Any]) -> Plan:
    """``plan`` with ``route`` as its only route."""
    plan["routes"] = [route]
    return plan


@dataclass
class World:
    """The graph's edge table, the district polygons and edge times for the plan's vans."""

    network: RoadNetwork
    table: EdgeTable
    areas: dict[str, Any]
    seconds: Callable[[dict[str, Any], int, int, int | None], float | None]

    def edge(self, u: int, v: int, key: int) -> int:
        """The edge table index of ``(u, v, key)``."""
        return next(
            i
            for i in range(len(self.table))
            if self.table.u[i] == u and self.table.v[i] == v and self.table.keys[i] == key
        )

    def inside(self, plan: Plan, u: int, v: int, key: int) -> bool:
        """Whether the edge lies in the plan's district (where that district's rules bind)."""
        area = self.areas[plan["plan"]["district"]["code"]]
        return bool(area.covers(self.table.geoms[self._index()[(u, v, key)]]))

    def ways(self, u: int, v: int, key: int) -> list[int]:
        return sorted(self.table.way_ids[self._index()[(u, v, key)]])

    def _index(self) -> dict[tuple[int, int, int], int]:
        idx: dict[tuple[int, int, int], int] | None = self.table._memo.get("test_keys")
        if idx is None:
            idx = {
                (a, b, k): i
                for i, (a, b, k) in enumerate(
                    zip(self.table.u, self.table.v, self.table.keys, strict=True)
                )
            }
            self.table._memo["test_keys"] = idx
        return idx


@pytest.fixture(scope="module")
def world(network: RoadNetwork) -> World:
    fc = json.loads((ROOT / "data/boundaries/shenzhen-districts.geojson").read_text("utf-8"))
    areas = {
        (f["properties"].get("code") or f["properties"]["name_en"].lower()): shape(f["geometry"])
        for f in fc["features"]
    }
    return World(
        network,
        edge_table(network),
        areas,
        edge_seconds(network, lambda veh: spec_from_vehicle(veh)[0]),
    )


def _rule_file(plan: Plan, rid: str, effect: str, ways: list[int], start: int, end: int) -> str:
    """A rule file of the plan's district: ``effect`` on ``ways`` from ``start`` to ``end``."""
    return yaml.safe_dump(
        {
            "district": plan["plan"]["district"]["code"],
            "rules": [
                {
                    "id": rid,
                    "title": f"tamper test {effect} {_hhmm(start)}-{_hhmm(end)}",
                    "where": {"way_ids": ways},
                    "when": f"{_hhmm(start)}-{_hhmm(end)}",
                    "effect": effect,
                }
            ],
        },
        allow_unicode=True,
    )


@dataclass
class Tamper:
    """An edited plan (and rules of its own), and what check-plan must name."""

    plan: Plan
    rule: str
    stop: str
    rules_yaml: str | None = None
    at: str | None = None  # the time check-plan must give
    text: str | None = None  # in the problem it states


def _check_plan_cli(
    tmp_path: Path,
    doc: dict[str, Any],
    rules_yaml: str | None,
    network: RoadNetwork,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, list[list[str]]]:
    """``loopvan check-plan FILE --rules DIR`` (the shipped rule files, plus ``rules_yaml``):
    exit status and the rows of its violation table."""
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for f in (ROOT / "data" / "rules").glob("*.yaml"):
        shutil.copy(f, rules / f.name)
    extra = rules / "zz-tamper.yaml"
    extra.unlink(missing_ok=True)
    if rules_yaml is not None:
        extra.write_text(rules_yaml, encoding="utf-8")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(dispatch.cli, "_network", lambda settings: network)
    capsys.readouterr()
    rc = main(["check-plan", str(path), "--rules", str(rules)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    rows = []
    if rc == 1:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("district")) + 2
        rows = [re.split(r"\s{2,}", ln.strip(), maxsplit=5) for ln in lines[start:] if ln.strip()]
    return rc, rows


# --------------------------------------------------------------------------- the sixteen tampers


def booking_kg_raised(plans: list[Plan], w: World) -> Tamper:
    """A booking's kilograms raised by 400 kg, its ``load_after`` left as it was."""
    p, r, _k, s = next(x for x in _stops(plans) if x[3]["kind"] == "pickup")
    s["booking"]["materials"][0]["kg"] += 400
    s["booking"]["est_kg"] += 400
    return Tamper(_only(p, r), "load", _sid(s), text="the bookings and stationing estimates give")


def station_estimate_raised(plans: list[Plan], w: World) -> Tamper:
    """A collection point's stationing estimate raised by 300 kg."""
    p, r, _k, s = next(x for x in _stops(plans) if x[3]["kind"] == "station")
    s["collection_point"]["expected_kg"] += 300
    return Tamper(_only(p, r), "load", _sid(s))


def load_after_lowered(plans: list[Plan], w: World) -> Tamper:
    """``load_after`` lowered by 100 kg from a pickup up to the unload, hiding a load."""
    p, r, k, s = next(
        x for x in _stops(plans) if x[3]["kind"] == "pickup" and x[3]["load_after"]["kg"] >= 100
    )
    for later in r["stops"][k:]:
        if later["kind"] == "unload":
            break
        later["load_after"]["kg"] -= 100
    return Tamper(_only(p, r), "load", _sid(s))


def unload_leaves_250_kg(plans: list[Plan], w: World) -> Tamper:
    """An unload that leaves 250 kg on board (and the stops after it carrying them)."""
    p, r, k, s = next(x for x in _stops(plans) if x[3]["kind"] == "unload")
    for later in r["stops"][k:]:
        if later["kind"] == "unload" and later is not s:
            break
        later["load_after"]["kg"] += 250
    return Tamper(_only(p, r), "unload_residue", _sid(s))


def _other_depot(plans: list[Plan], own: str) -> str:
    return next(v["depot"] for p in plans for v in p["vehicles"] if v["depot"] != own)


def route_ends_at_another_depot(plans: list[Plan], w: World) -> Tamper:
    """The route's last stop is another depot."""
    p = plans[0]
    r = p["routes"][0]
    own = next(v["depot"] for v in p["vehicles"] if v["plate"] == r["vehicle"])
    last = r["stops"][-1]
    last["id"] = _other_depot(plans, own)
    return Tamper(_only(p, r), "depot", _sid(last), text="not at its vehicle's depot")


def route_starts_at_another_depot(plans: list[Plan], w: World) -> Tamper:
    """The route's first stop is another depot."""
    p = plans[0]
    r = p["routes"][0]
    own = next(v["depot"] for v in p["vehicles"] if v["plate"] == r["vehicle"])
    first = r["stops"][0]
    first["id"] = _other_depot(plans, own)
    return Tamper(_only(p, r), "depot", _sid(first), text="not at its vehicle's depot")


def four_km_in_30_s(plans: list[Plan], w: World) -> Tamper:
    """A leg of over 4 km 'driven' in 30 s: arrival, duration and enter times squeezed."""
    p, r, k, s = next(
        x
        for x in _stops(plans)
        if x[3].get("leg") and x[3]["leg"]["distance_m"] >= 4000 and len(x[3]["leg"]["nodes"]) > 2
    )
    dep = _secs(p, r["stops"][k - 1]["departure"])
    leg = s["leg"]
    n = len(leg["nodes"])
    leg["enter_times"] = [_iso(p, dep + 1 + (28 * i) // max(1, n - 1)) for i in range(n)]
    leg["duration_s"] = 30
    s["arrival"] = _iso(p, dep + 30)
    return Tamper(_only(p, r), "timing", _sid(s), text="leg driven in 30 s")


def enter_times_compressed(plans: list[Plan], w: World) -> Tamper:
    """A leg's nodes all 'entered' at the same second, arrival unchanged."""
    p, r, _k, s = next(
        x for x in _stops(plans) if x[3].get("leg") and len(x[3]["leg"]["nodes"]) >= 5
    )
    leg = s["leg"]
    leg["enter_times"] = [leg["enter_times"][0]] * len(leg["enter_times"])
    return Tamper(_only(p, r), "timing", _sid(s), text=" in 0 s; it takes")


def _spans(p: Plan, r: dict[str, Any], k: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(u, v, key, entered, left) for every whole edge of the leg into stop ``k``."""
    leg = r["stops"][k]["leg"]
    times = [_secs(p, x) for x in leg["enter_times"]]
    arr = _secs(p, r["stops"][k]["arrival"])
    for i, ((a, b), key) in enumerate(
        zip(itertools.pairwise(leg["nodes"]), leg["keys"], strict=True)
    ):
        yield a, b, key, times[i], times[i + 1] if i + 1 < len(times) else arr


def ban_starts_while_on_an_edge(plans: list[Plan], w: World) -> Tamper:
    """A ban on a road that starts while the van is on it (entered legally a moment before):
    the van is on that one edge for the whole minute the ban lasts."""
    for p, r, k, s in _stops(plans):
        if not s.get("leg"):
            continue
        for a, b, key, t0, t1 in _spans(p, r, k):
            m = _next_minute(t0)
            if m + 60 <= t1 and w.inside(p, a, b, key):
                yaml_text = _rule_file(p, "TAMPER-ONSET", "no_entry", w.ways(a, b, key), m, m + 60)
                return Tamper(
                    _only(p, r), "TAMPER-ONSET", _sid(s), yaml_text, _iso(p, m), "as a ban starts"
                )
    raise AssertionError("no edge of the demo plans is driven for over a minute")


def _standing(plans: list[Plan], w: World, ok: Callable[[Plan, dict[str, Any]], bool]) -> Any:
    for p, r, k, s in _stops(plans):
        leg = s.get("leg")
        if s["kind"] == "depot" or not leg or not ok(p, s):
            continue
        u, v, key = leg["end_edge"]
        if w.inside(p, u, v, key):
            return p, r, k, s, w.ways(u, v, key)
    raise AssertionError("no stop of the demo plans fits")


def ban_starts_while_parked(plans: list[Plan], w: World) -> Tamper:
    """A ban on the road a van is parked on that starts during the visit."""

    def fits(p: Plan, s: dict[str, Any]) -> bool:
        return s["kind"] == "pickup" and _next_minute(_secs(p, s["arrival"])) + 60 <= _secs(
            p, s["departure"]
        )

    p, r, _k, s, ways = _standing(plans, w, fits)
    m = _next_minute(_secs(p, s["arrival"]))
    yaml_text = _rule_file(p, "TAMPER-PARKED", "no_entry", ways, m, m + 60)
    return Tamper(_only(p, r), "TAMPER-PARKED", _sid(s), yaml_text, _iso(p, m), "parked on")


def no_stopping_at_an_unload(plans: list[Plan], w: World) -> Tamper:
    """No stopping on the transfer station's road while the van unloads there."""

    def fits(p: Plan, s: dict[str, Any]) -> bool:
        return s["kind"] == "unload" and _next_minute(_secs(p, s["start"])) + 60 <= _secs(
            p, s["departure"]
        )

    p, r, _k, s, ways = _standing(plans, w, fits)
    m = _next_minute(_secs(p, s["start"]))
    yaml_text = _rule_file(p, "TAMPER-NOSTOP-UNLOAD", "no_stopping", ways, m, m + 60)
    return Tamper(_only(p, r), "TAMPER-NOSTOP-UNLOAD", _sid(s), yaml_text, _iso(p, m))


def no_stopping_at_a_break(plans: list[Plan], w: World) -> Tamper:
    """No stopping on the road where the driver takes the break, during the break."""

    def fits(p: Plan, s: dict[str, Any]) -> bool:
        return s["kind"] == "break" and _next_minute(_secs(p, s["start"])) + 60 <= _secs(
            p, s["departure"]
        )

    p, r, _k, s, ways = _standing(plans, w, fits)
    m = _next_minute(_secs(p, s["start"]))
    yaml_text = _rule_file(p, "TAMPER-NOSTOP-BREAK", "no_stopping", ways, m, m + 60)
    return Tamper(_only(p, r), "TAMPER-NOSTOP-BREAK", _sid(s), yaml_text, _iso(p, m))


def no_stopping_during_a_wait(plans: list[Plan], w: World) -> Tamper:
    """No stopping while the van waits for a visit's window (arrival to start only)."""

    def fits(p: Plan, s: dict[str, Any]) -> bool:
        return s["kind"] in ("pickup", "station") and _next_minute(
            _secs(p, s["arrival"])
        ) + 60 <= _secs(p, s["start"])

    p, r, _k, s, ways = _standing(plans, w, fits)
    m = _next_minute(_secs(p, s["arrival"]))
    yaml_text = _rule_file(p, "TAMPER-NOSTOP-WAIT", "no_stopping", ways, m, m + 60)
    return Tamper(_only(p, r), "TAMPER-NOSTOP-WAIT", _sid(s), yaml_text, _iso(p, m))


def _twin(
    plans: list[Plan], w: World
) -> tuple[Plan, dict[str, Any], int, int, int, int, list[int]]:
    """A leg step on a node pair with a parallel edge of other ways (none of which the route
    uses anywhere) that the van may drive: (plan, route, stop index, step index, used key,
    twin key, twin's ways)."""
    g = w.network.graph
    vehicles = {v["plate"]: v for p in plans for v in p["vehicles"]}
    for p in plans:
        for r in p["routes"]:
            used: set[int] = set()
            for s in r["stops"]:
                for a, b, key in _edges_of(s.get("leg") or {}):
                    used |= set(w.ways(a, b, key))
            for k, s in enumerate(r["stops"]):
                leg = s.get("leg")
                if not leg:
                    continue
                for i, ((a, b), key) in enumerate(
                    zip(itertools.pairwise(leg["nodes"]), leg["keys"], strict=True)
                ):
                    for twin in g[a][b]:
                        if twin == key or not w.inside(p, a, b, twin):
                            continue
                        ways = w.ways(a, b, twin)
                        if used & set(ways):
                            continue
                        if w.seconds(vehicles[r["vehicle"]], a, b, twin) is not None:
                            return p, r, k, i, key, twin, ways
    raise AssertionError("no leg of the demo plans uses a node pair with a parallel edge")


def _edges_of(leg: dict[str, Any]) -> list[tuple[int, int, int]]:
    """Every edge a leg names: its start and end edges and each step."""
    if not leg:
        return []
    steps = [
        (a, b, k) for (a, b), k in zip(itertools.pairwise(leg["nodes"]), leg["keys"], strict=True)
    ]
    ends = [(int(e[0]), int(e[1]), int(e[2])) for e in (leg["start_edge"], leg["end_edge"])]
    return [ends[0], *steps, ends[1]]


def parallel_edge_swapped_to_its_forbidden_twin(plans: list[Plan], w: World) -> Tamper:
    """A leg step's key swapped to the parallel edge of another road, which a rule closes all
    day: the key names that edge alone, so the ban binds."""
    p, r, k, i, _key, twin, ways = _twin(plans, w)
    r["stops"][k]["leg"]["keys"][i] = twin
    yaml_text = _rule_file(p, "TAMPER-TWIN", "no_entry", ways, 0, 24 * 3600)
    return Tamper(_only(p, r), "TAMPER-TWIN", _sid(r["stops"][k]), yaml_text)


def key_that_does_not_exist(plans: list[Plan], w: World) -> Tamper:
    """A leg step naming an edge key no edge of that node pair has."""
    p, r, _k, s = next(x for x in _stops(plans) if x[3].get("leg") and x[3]["leg"]["keys"])
    s["leg"]["keys"][0] = 99
    return Tamper(_only(p, r), "path", _sid(s), text="has no edge with key 99")


def stop_moved_outside_its_window(plans: list[Plan], w: World) -> Tamper:
    """A pickup served an hour after its booked window closed."""
    p, r, _k, s = next(x for x in _stops(plans) if x[3]["kind"] == "pickup" and x[3]["windows"])
    late = _secs(p, s["windows"][-1][1]) + 3600
    service = _secs(p, s["departure"]) - _secs(p, s["start"])
    s["start"], s["departure"] = _iso(p, late), _iso(p, late + service)
    return Tamper(_only(p, r), "window", _sid(s))


# --------------------------------------------------------------------------- jumps (review)


def _mid_stop(plans: list[Plan]) -> tuple[Plan, dict[str, Any], int, dict[str, Any]]:
    return next(
        x
        for x in _stops(plans)
        if x[3]["kind"] == "pickup" and x[3].get("leg") and len(x[3]["leg"]["nodes"]) > 3
    )


def leg_deleted(plans: list[Plan], w: World) -> Tamper:
    """The road path into a stop removed: the route would jump there."""
    p, r, _k, s = _mid_stop(plans)
    del s["leg"]
    return Tamper(_only(p, r), "path", _sid(s), text="no road path into this stop")


def leg_nodes_emptied(plans: list[Plan], w: World) -> Tamper:
    """A leg's node path emptied between two different edges."""
    p, r, _k, s = _mid_stop(plans)
    s["leg"]["nodes"], s["leg"]["enter_times"], s["leg"]["keys"] = [], [], []
    return Tamper(_only(p, r), "path", _sid(s), text="no node path between two different edges")


def leg_cut_short(plans: list[Plan], w: World) -> Tamper:
    """A leg's path cut off before its end edge (the banned stretch left out)."""
    p, r, _k, s = _mid_stop(plans)
    for key in ("nodes", "enter_times", "keys"):
        s["leg"][key] = s["leg"][key][:2]
    return Tamper(_only(p, r), "path", _sid(s), text="does not join its start and end edges")


def stop_edge_removed(plans: list[Plan], w: World) -> Tamper:
    """The edge a stop stands on removed from its leg (hiding it from no-stopping rules)."""
    p, r, _k, s = _mid_stop(plans)
    s["leg"]["end_edge"] = None
    return Tamper(_only(p, r), "path", _sid(s), text="leg or its edges missing")


def route_moved_to_the_next_day(plans: list[Plan], w: World) -> Tamper:
    """Every time of a route moved 24 h later, the plan's date unchanged."""
    p, r, _k, s = _mid_stop(plans)

    def later(iso: str) -> str:
        return (dt.datetime.fromisoformat(iso) + dt.timedelta(days=1)).isoformat()

    for st in r["stops"]:
        for f in ("arrival", "start", "departure"):
            st[f] = later(st[f])
        if st.get("leg"):
            st["leg"]["enter_times"] = [later(x) for x in st["leg"]["enter_times"]]
    return Tamper(_only(p, r), "timing", _sid(s), text="outside the plan's day")


TAMPERS = [
    leg_deleted,
    leg_nodes_emptied,
    leg_cut_short,
    stop_edge_removed,
    route_moved_to_the_next_day,
    booking_kg_raised,
    station_estimate_raised,
    load_after_lowered,
    unload_leaves_250_kg,
    route_ends_at_another_depot,
    route_starts_at_another_depot,
    four_km_in_30_s,
    enter_times_compressed,
    ban_starts_while_on_an_edge,
    ban_starts_while_parked,
    no_stopping_at_an_unload,
    no_stopping_at_a_break,
    no_stopping_during_a_wait,
    parallel_edge_swapped_to_its_forbidden_twin,
    key_that_does_not_exist,
    stop_moved_outside_its_window,
]


#: Tampers that leave the plan as it is and add a rule that starts at the chosen moment.
RULES_ONLY = {
    ban_starts_while_on_an_edge,
    ban_starts_while_parked,
    no_stopping_at_an_unload,
    no_stopping_at_a_break,
    no_stopping_during_a_wait,
}


# --------------------------------------------------------------------------- tests


def test_the_untampered_demo_plans_are_legal(
    demo_plan: dict[str, Any],
    network: RoadNetwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check-plan, recomputing loads, depots, timings and occupancy with the shipped rules,
    finds nothing in the real planner's plans."""
    doc = {"format": "loopvan-plans/1", "plans": _plans(demo_plan)}
    rc, rows = _check_plan_cli(tmp_path, doc, None, network, monkeypatch, capsys)
    assert (rc, rows) == (0, [])


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_each_tamper_is_refused_naming_the_rule(
    tamper: Callable[[list[Plan], World], Tamper],
    demo_plan: dict[str, Any],
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check-plan exits 1 and names the rule at the tampered stop (and time); the same plan
    untampered breaks no such rule there."""
    plans = _plans(demo_plan)
    t = tamper(plans, world)
    rc, rows = _check_plan_cli(tmp_path, t.plan, t.rules_yaml, world.network, monkeypatch, capsys)
    assert rc == 1
    hits = [row for row in rows if row[1] == t.rule and row[3] == t.stop]
    assert hits, f"{t.rule} at {t.stop} not in {rows}"
    if t.at is not None:
        assert any(row[4] == t.at for row in hits), hits
    if t.text is not None:
        assert any(t.text in row[5] for row in hits), hits
    # The same route untampered (with the tamper's rules, unless they are the tamper): not
    # that violation there.
    plate = t.plan["routes"][0]["vehicle"]
    clean = next(
        _only(p, r) for p in _plans(demo_plan) for r in p["routes"] if r["vehicle"] == plate
    )
    rules = None if tamper in RULES_ONLY else t.rules_yaml
    _rc, before = _check_plan_cli(tmp_path, clean, rules, world.network, monkeypatch, capsys)
    assert not [row for row in before if row[1] == t.rule and row[3] == t.stop]


def test_a_leg_without_keys_counts_any_parallel_edge(
    demo_plan: dict[str, Any],
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With its edge keys the step names the open edge and the twin's ban does not bind; a
    plan exported before keys names the node pair only, and a ban on either parallel edge
    counts (as the planner avoids the pair)."""
    plans = _plans(demo_plan)
    p, r, k, _i, _key, _twin_key, ways = _twin(plans, world)
    rules = _rule_file(p, "TAMPER-TWIN", "no_entry", ways, 0, 24 * 3600)
    sid = _sid(r["stops"][k])
    _only(p, r)
    _rc, rows = _check_plan_cli(tmp_path, p, rules, world.network, monkeypatch, capsys)
    assert not [row for row in rows if row[1] == "TAMPER-TWIN" and row[3] == sid]
    for s in r["stops"]:
        if s.get("leg"):
            del s["leg"]["keys"]
            s["leg"]["start_edge"] = s["leg"]["start_edge"][:2]
            s["leg"]["end_edge"] = s["leg"]["end_edge"][:2]
    rc, rows = _check_plan_cli(tmp_path, p, rules, world.network, monkeypatch, capsys)
    assert rc == 1 and [row for row in rows if row[1] == "TAMPER-TWIN" and row[3] == sid]


def test_plan_json_names_the_exact_edges_and_what_loads_are_recomputed_from(
    demo_plan: dict[str, Any], network: RoadNetwork
) -> None:
    """Legs carry ``[u, v, key]`` ends and a key per node pair, each an edge of the graph;
    vehicles their speed profile and dimensions; pickups their booking's kg and volume,
    stationing visits the collection point's estimate."""
    g = network.graph
    for p in _plans(demo_plan):
        for v in p["vehicles"]:
            assert v["speed_profile"] and v["height_m"] > 0 and v["length_m"] > 0
        for _p, _r, _k, s in _stops([p]):
            leg = s.get("leg")
            if leg:
                assert len(leg["keys"]) == max(0, len(leg["nodes"]) - 1)
                for a, b, key in [
                    leg["start_edge"],
                    leg["end_edge"],
                    *[
                        (a, b, k)
                        for (a, b), k in zip(
                            itertools.pairwise(leg["nodes"]), leg["keys"], strict=True
                        )
                    ],
                ]:
                    assert g.has_edge(a, b, key)
            if s["kind"] == "pickup":
                assert {"est_kg", "est_m3", "materials"} <= set(s["booking"])
            if s["kind"] == "station":
                assert {"expected_kg", "expected_m3"} <= set(s["collection_point"])
