"""Rules bind whoever drives the road: a Nanshan van on a Futian road obeys Futian's rules.

Uses the demo (both districts planned under the shipped rules) and the real road graph:
finds the Futian road that Nanshan's vans drive most, bans it in a Futian rule file, and
shows that ``check-plan`` refuses the old Nanshan plan citing the Futian rule, that the
same ban written in Nanshan's file does not reach Futian's roads, and that the planner
re-plans Nanshan around the ban (every stop served or left out with a reason).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_support import copy_sqlite

from dispatch import models as m
from dispatch.db import make_engine, session_scope
from dispatch.export import plan_json
from dispatch.planning import build_plan
from dispatch.rights import RoadRights, file_rights
from dispatch.settings import Settings
from road_rules.evaluate import edge_mask
from road_rules.legality import check_plan
from routing.network import RoadNetwork
from routing.problem import Limits

ROOT = Path(__file__).resolve().parent.parent
FUTIAN, NANSHAN = "440304", "440305"


def _plan(doc: dict[str, Any], code: str) -> dict[str, Any]:
    (p,) = [p for p in doc["plans"] if p["plan"]["district"]["code"] == code]
    return p


def _driven_pairs(plan: dict[str, Any]) -> list[tuple[int, int]]:
    """Every (u, v) a plan's legs drive (start edge, path, end edge)."""
    out = []
    for r in plan["routes"]:
        for s in r["stops"]:
            leg = s.get("leg")
            if not leg:
                continue
            out.append((int(leg["start_edge"][0]), int(leg["start_edge"][1])))
            out += [(int(a), int(b)) for a, b in itertools.pairwise(leg["nodes"])]
            out.append((int(leg["end_edge"][0]), int(leg["end_edge"][1])))
    return out


def _rules_dir(tmp: Path, district: str, road: str) -> Path:
    d = tmp / f"rules-{district}"
    d.mkdir()
    for f in (ROOT / "data" / "rules").glob("*.yaml"):
        shutil.copy(f, d / f.name)
    (d / "extra.yaml").write_text(
        f'district: "{district}"\n'
        "rules:\n"
        f"  - id: XD-BAN\n"
        f"    title: {road} closed to trucks 06:00-22:00\n"
        f"    where: {{road_names: [{road}]}}\n"
        '    when: "06:00-22:00"\n'
        "    effect: no_entry\n",
        encoding="utf-8",
    )
    return d


def _futian_road_nanshan_drives(rights: RoadRights, plan: dict[str, Any]) -> str:
    """The named road inside Futian that the Nanshan plan drives most."""
    futian = next(r for r in rights.rules.rules if r.district == FUTIAN)
    inside = edge_mask(dataclasses.replace(futian, where=type(futian.where)()), rights.table)
    idx: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    for i, (u, v) in enumerate(zip(rights.table.u, rights.table.v, strict=True)):
        idx[(u, v)].append(i)
    names: collections.Counter[str] = collections.Counter()
    for pair in _driven_pairs(plan):
        for i in idx.get(pair, []):
            if inside[i]:
                names.update(n for n in rights.table.names[i] if not n.isascii())
    assert names, "the Nanshan demo plan never drives a named Futian road"
    return names.most_common(1)[0][0]


def test_a_futian_ban_binds_nanshan_vans_and_the_planner_routes_around_it(
    demo_plan: dict[str, Any],
    demo_settings: Settings,
    network: RoadNetwork,
    tmp_path: Path,
) -> None:
    old = _plan(demo_plan, NANSHAN)
    shipped = file_rights(demo_settings, network, ROOT / "data" / "rules")
    road = _futian_road_nanshan_drives(shipped, old)

    # check-plan refuses the old Nanshan plan: it drives the Futian road while banned.
    futian_dir = _rules_dir(tmp_path, FUTIAN, road)
    rights = file_rights(demo_settings, network, futian_dir)
    found = check_plan(old, has_edge=network.graph.has_edge, rules=rights.rules, edges=rights.table)
    assert {v.rule for v in found} == {"XD-BAN"}, found
    assert all(road in v.message for v in found)

    # The same ban in Nanshan's file stops at Nanshan's edge: the Futian stretch is free.
    nanshan_dir = _rules_dir(tmp_path, NANSHAN, road)
    ns_rights = file_rights(demo_settings, network, nanshan_dir)
    (ns_rule,) = [r for r in ns_rights.rules.rules if r.id == "XD-BAN"]
    (ft_rule,) = [r for r in rights.rules.rules if r.id == "XD-BAN"]
    ns_mask, ft_mask = edge_mask(ns_rule, ns_rights.table), edge_mask(ft_rule, rights.table)
    assert (ft_mask & ~ns_mask).any()  # Futian's stretch: Nanshan's rule does not reach it
    assert all(
        ns_rule.territory is not None and ns_rights.table.geoms[i].intersects(ns_rule.territory)
        for i in np.flatnonzero(ns_mask)
    )  # only edges touching Nanshan (a boundary edge belongs to both districts)

    # Re-plan Nanshan (on a copy of the demo database) under the Futian ban.
    url = copy_sqlite(demo_settings.database_url, tmp_path / "copy.db")
    engine = make_engine(url)
    day = dt.date.fromisoformat(old["plan"]["date"])
    with session_scope(engine) as s:
        plan = build_plan(
            s, network, NANSHAN, day, limits=Limits(time_limit_s=2), rules_dir=futian_dir
        )
        new = plan_json(s, plan)
        n_bookings = len(list(s.scalars(m.Booking.__table__.select())))
    assert n_bookings > 0
    banned = {
        (rights.table.u[i], rights.table.v[i])
        for i in np.flatnonzero(edge_mask(ft_rule, rights.table))
    }
    assert banned and not banned & set(_driven_pairs(new))
    assert (
        check_plan(new, has_edge=network.graph.has_edge, rules=rights.rules, edges=rights.table)
        == []
    )
    served = sum(1 for r in new["routes"] for s in r["stops"] if s["kind"] in ("pickup", "station"))
    assert served > 0
    assert all(u["reason"] for u in new["unassigned"])


@pytest.mark.parametrize("code", [FUTIAN, NANSHAN])
def test_demo_plans_never_drive_an_osm_permit_or_busway_edge(
    demo_plan: dict[str, Any], network: RoadNetwork, code: str
) -> None:
    """No van of the demo holds a permit: ``*=permit`` roads and busways stay unused."""
    g = network.graph
    for a, b in _driven_pairs(_plan(demo_plan, code)):
        for d in g[a][b].values():
            vals = [d.get(k) for k in ("access", "motor_vehicle", "goods", "hgv", "highway")]
            flat = {str(x) for v in vals for x in (v if isinstance(v, list) else [v])}
            if "permit" in flat or "busway" in flat:
                # a parallel edge may carry the tag while the one driven does not
                assert len(g[a][b]) > 1, (a, b, d)
