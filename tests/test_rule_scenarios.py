"""One scenario per rule kind: a rule written against what the demo's plan actually
drives is refused in the old plan by the replay (naming the rule), and the planner,
re-planning the district under it, builds a plan that the replay finds legal and that
keeps to the rule.

Kinds: a road named in English (name:en), a plate-number restriction (尾号限行), a
permit with its own hours, a height limit, a narrower stationing rule (precedence), and
an OSM ``motor_vehicle=permit`` tag. (Territory has its own test, test_cross_district.)
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_support import copy_sqlite

from dispatch.db import make_engine, session_scope
from dispatch.export import plan_json
from dispatch.planning import build_plan
from dispatch.rights import RoadRights, file_rights
from dispatch.settings import Settings
from road_rules.evaluate import edge_mask
from road_rules.legality import check_plan
from routing.network import RoadNetwork, load_network
from routing.problem import Limits

ROOT = Path(__file__).resolve().parent.parent
FUTIAN, NANSHAN = "440304", "440305"


def _plan(doc: dict[str, Any], code: str) -> dict[str, Any]:
    (p,) = [p for p in doc["plans"] if p["plan"]["district"]["code"] == code]
    return p


def _pairs(route: dict[str, Any]) -> list[tuple[int, int]]:
    out = []
    for s in route["stops"]:
        leg = s.get("leg")
        if leg:
            out.append((int(leg["start_edge"][0]), int(leg["start_edge"][1])))
            out += [(int(a), int(b)) for a, b in itertools.pairwise(leg["nodes"])]
            out.append((int(leg["end_edge"][0]), int(leg["end_edge"][1])))
    return out


class World:
    """The demo's plan of one district, the shipped rights, and a helper to find roads."""

    def __init__(self, doc: dict[str, Any], settings: Settings, network: RoadNetwork, code: str):
        self.plan = _plan(doc, code)
        self.code = code
        self.settings = settings
        self.network = network
        self.rights = file_rights(settings, network, ROOT / "data" / "rules")
        t = self.rights.table
        self.index: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
        for i, (u, v) in enumerate(zip(t.u, t.v, strict=True)):
            self.index[(u, v)].append(i)
        own = next(r for r in self.rights.rules.rules if r.district == code)
        assert own.territory is not None
        self.inside = np.array([g.within(own.territory) for g in t.geoms])
        self.vehicles = {v["plate"]: v for v in self.plan["vehicles"]}

    def most_driven_road(
        self, want: Callable[[dict[str, Any]], bool] = lambda v: True, english: bool = False
    ) -> tuple[str, str]:
        """(plate, road name) of the named road inside the district driven most by a van
        ``want`` accepts; the name in English (name:en) when ``english``."""
        t = self.rights.table
        count: collections.Counter[tuple[str, str]] = collections.Counter()
        for r in self.plan["routes"]:
            if not want(self.vehicles[r["vehicle"]]):
                continue
            for pair in _pairs(r):
                for i in self.index.get(pair, []):
                    if self.inside[i]:
                        count.update(
                            (r["vehicle"], n) for n in t.names[i] if n.isascii() is english
                        )
        assert count, "the demo plan drives no named road for this scenario"
        return count.most_common(1)[0][0]


def _rules_dir(tmp: Path, code: str, text: str) -> Path:
    d = tmp / "rules"
    d.mkdir()
    for f in (ROOT / "data" / "rules").glob("*.yaml"):
        shutil.copy(f, d / f.name)
    (d / "scenario.yaml").write_text(f'district: "{code}"\n{text}', encoding="utf-8")
    return d


def _replan(
    world: World, rules_dir: Path, tmp: Path, network: RoadNetwork | None = None
) -> dict[str, Any]:
    url = copy_sqlite(world.settings.database_url, tmp / "copy.db")
    day = dt.date.fromisoformat(world.plan["plan"]["date"])
    with session_scope(make_engine(url)) as s:
        plan = build_plan(
            s,
            network or world.network,
            world.code,
            day,
            limits=Limits(time_limit_s=2),
            rules_dir=rules_dir,
        )
        return plan_json(s, plan)


def _replay(plan: dict[str, Any], network: RoadNetwork, rights: RoadRights) -> set[str]:
    found = check_plan(
        plan, has_edge=network.graph.has_edge, rules=rights.rules, edges=rights.table
    )
    return {v.rule for v in found}


def _driven_by(plan: dict[str, Any], plate: str | None = None) -> set[tuple[int, int]]:
    return {p for r in plan["routes"] if plate in (None, r["vehicle"]) for p in _pairs(r)}


def _selected(rights: RoadRights, rule_id: str) -> set[tuple[int, int]]:
    (rule,) = [r for r in rights.rules.rules if r.id == rule_id]
    t = rights.table
    return {(t.u[i], t.v[i]) for i in np.flatnonzero(edge_mask(rule, t))}


@pytest.fixture
def futian(demo_plan: dict[str, Any], demo_settings: Settings, network: RoadNetwork) -> World:
    return World(demo_plan, demo_settings, network, FUTIAN)


@pytest.fixture
def nanshan(demo_plan: dict[str, Any], demo_settings: Settings, network: RoadNetwork) -> World:
    return World(demo_plan, demo_settings, network, NANSHAN)


def test_a_road_named_in_english(futian: World, tmp_path: Path) -> None:
    _plate, road = futian.most_driven_road(english=True)
    d = _rules_dir(
        tmp_path,
        FUTIAN,
        f"rules:\n- {{id: SC-EN, effect: no_entry, where: {{road_names: ['{road.title()}']}}, "
        "when: '06:00-22:00'}\n",
    )
    rights = file_rights(futian.settings, futian.network, d)
    assert "SC-EN" in _replay(futian.plan, futian.network, rights)
    new = _replan(futian, d, tmp_path)
    assert not _selected(rights, "SC-EN") & _driven_by(new)
    assert _replay(new, futian.network, rights) == set()


def test_a_plate_number_restriction(futian: World, tmp_path: Path) -> None:
    plate, road = futian.most_driven_road()
    digit = next(int(c) for c in reversed(plate) if c.isdigit())
    d = _rules_dir(
        tmp_path,
        FUTIAN,
        f"rules:\n- {{id: SC-PLATE, effect: no_entry, where: {{road_names: ['{road}']}}, "
        f"when: '06:00-22:00', vehicles: {{plate_last_digits: [{digit}]}}}}\n",
    )
    rights = file_rights(futian.settings, futian.network, d)
    assert "SC-PLATE" in _replay(futian.plan, futian.network, rights)
    new = _replan(futian, d, tmp_path)
    banned = _selected(rights, "SC-PLATE")
    for r in new["routes"]:
        if str(digit) == next(c for c in reversed(r["vehicle"]) if c.isdigit()):
            assert not banned & set(_pairs(r))
    assert _replay(new, futian.network, rights) == set()


def test_a_permit_with_its_own_hours(futian: World, tmp_path: Path) -> None:
    """The EVs' SZ-EV-LOGISTICS permit, declared valid only 00:00-01:00, no longer spares
    them a daytime ban on a road they drive."""
    _plate, road = futian.most_driven_road(lambda v: "SZ-EV-LOGISTICS" in v.get("permits", []))
    d = _rules_dir(
        tmp_path,
        FUTIAN,
        f"rules:\n- {{id: SC-PERMIT, effect: no_entry, where: {{road_names: ['{road}']}}, "
        "when: '06:00-22:00', exempt_permits: [SZ-EV-LOGISTICS]}\n"
        "permits:\n- {id: SZ-EV-LOGISTICS, title: night only, when: '00:00-01:00'}\n",
    )
    rights = file_rights(futian.settings, futian.network, d)
    assert "SC-PERMIT" in _replay(futian.plan, futian.network, rights)
    new = _replan(futian, d, tmp_path)
    assert not _selected(rights, "SC-PERMIT") & _driven_by(new)
    assert _replay(new, futian.network, rights) == set()


def test_a_height_limit(futian: World, tmp_path: Path) -> None:
    _plate, road = futian.most_driven_road(lambda v: v.get("tail_lift", False))
    d = _rules_dir(
        tmp_path,
        FUTIAN,
        f"rules:\n- {{id: SC-HEIGHT, effect: max_height, max_height_m: 3.0, "
        f"where: {{road_names: ['{road}']}}}}\n",
    )
    rights = file_rights(futian.settings, futian.network, d)
    assert "SC-HEIGHT" in _replay(futian.plan, futian.network, rights)
    new = _replan(futian, d, tmp_path)
    tall = {v["plate"] for v in new["vehicles"] if v.get("tail_lift")}
    banned = _selected(rights, "SC-HEIGHT")
    assert all(not banned & _driven_by(new, p) for p in tall)
    assert _replay(new, futian.network, rights) == set()


def test_a_narrower_stationing_rule_overrides_the_district_wide_one(
    nanshan: World, tmp_path: Path
) -> None:
    """Named points limited to 16:00-17:00 (narrower than NS-STATION-01's district-wide
    windows): morning visits there are refused, the re-plan keeps to 16:00-17:00."""
    visits = [s for r in nanshan.plan["routes"] for s in r["stops"] if s["kind"] == "station"]
    morning = sorted({s["id"] for s in visits if s["start"][11:13] < "12"})[:3]
    assert morning, "no morning stationing visit in the Nanshan demo plan"
    d = _rules_dir(
        tmp_path,
        NANSHAN,
        f"rules:\n- {{id: SC-POINTS, effect: stationing_allowed, where: {{points: {morning}}}, "
        "when: '16:00-17:00'}\n",
    )
    rights = file_rights(nanshan.settings, nanshan.network, d)
    assert "SC-POINTS" in _replay(nanshan.plan, nanshan.network, rights)
    new = _replan(nanshan, d, tmp_path)
    for r in new["routes"]:
        for s in r["stops"]:
            if s["kind"] == "station" and s["id"] in morning:
                assert s["start"][11:16] >= "16:00" and s["departure"][11:16] <= "17:00"
    assert _replay(new, nanshan.network, rights) == set()


def test_an_osm_permit_tag(futian: World, tmp_path: Path) -> None:
    """motor_vehicle=permit put on a road the plan drives (on a private copy of the graph):
    no demo van holds a permit that grants it."""
    _plate, road = futian.most_driven_road()
    net = load_network()  # a fresh object: its tags and compiled caches are this test's own
    tagged = 0
    for _u, _v, data in net.graph.edges(data=True):
        names = data.get("name")
        if road in (names if isinstance(names, list) else [names]):
            data["motor_vehicle"] = "permit"
            tagged += 1
    assert tagged
    d = _rules_dir(tmp_path, FUTIAN, "rules: []\n")
    rights = file_rights(futian.settings, net, d)
    found = _replay(futian.plan, net, rights)
    assert found and all(f.startswith("osm:") and "motor_vehicle=permit" in f for f in found)
    new = _replan(futian, d, tmp_path, network=net)
    permit_pairs = {
        (u, v) for u, v, data in net.graph.edges(data=True) if data.get("motor_vehicle") == "permit"
    }
    assert not permit_pairs & _driven_by(new)
    assert _replay(new, net, rights) == set()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "- {id: BAD-DIGIT, effect: no_entry, vehicles: {plate_last_digits: [12]}}",
            "rule BAD-DIGIT: field 'vehicles.plate_last_digits'",
        ),
        (
            "- {id: BAD-NAME, effect: no_entry, where: {road_names: [深南大到]}}",
            "rule BAD-NAME: field 'where.road_names': '深南大到' matches no road",
        ),
        (
            "- {id: BAD-POINT, effect: stationing_allowed, where: {points: [CP-999]}, "
            "when: '09:00-10:00'}",
            "rule BAD-POINT: field 'where.points': no collection point 'CP-999'",
        ),
    ],
)
def test_a_bad_rule_file_is_refused_naming_file_rule_and_field_and_nothing_stored_changes(
    futian: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rule: str,
    expected: str,
) -> None:
    from sqlalchemy import func, select

    from dispatch import models as m
    from dispatch.cli import main
    from road_rules.errors import RuleError

    d = _rules_dir(tmp_path, FUTIAN, f"rules:\n{rule}\n")
    url = copy_sqlite(futian.settings.database_url, tmp_path / "copy.db")
    engine = make_engine(url)

    def stored() -> tuple[Any, ...]:
        with session_scope(engine) as s:
            return (
                s.scalar(select(func.count()).select_from(m.Plan)),
                tuple(s.execute(select(m.Booking.reference, m.Booking.status)).all()),
            )

    before = stored()
    day = dt.date.fromisoformat(futian.plan["plan"]["date"])
    with pytest.raises(RuleError) as exc, session_scope(engine) as s:
        build_plan(s, futian.network, FUTIAN, day, limits=Limits(time_limit_s=1), rules_dir=d)
    assert f"{d / 'scenario.yaml'}: {expected}" in str(exc.value)
    assert stored() == before
    # The command line says the same and exits 2.
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(__import__("json").dumps(futian.plan, ensure_ascii=False), "utf-8")
    if "CP-999" not in rule:  # without the database, points are not known to check-plan
        code = main(["check-plan", str(plan_file), "--rules", str(d)])
        assert code == 2
        assert expected in capsys.readouterr().err


def test_check_plan_compares_the_plans_vehicles_with_the_fleet(
    futian: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan claiming a lower van (or a permit it does not hold) than the fleet database
    says is refused: the dimension rules would otherwise be judged on the claim."""
    import copy
    import json

    from dispatch.cli import main

    doc = copy.deepcopy(futian.plan)
    tall = next(v for v in doc["vehicles"] if v.get("tail_lift"))
    tall["height_m"] = 2.5
    tall["permits"] = ["SZ-EV-LOGISTICS"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    capsys.readouterr()
    assert main(["check-plan", str(path)]) == 1
    out = capsys.readouterr().out
    assert "the plan says height_m 2.5, the fleet database 3.4" in out
    assert "permits ['SZ-EV-LOGISTICS'], the fleet database []" in out
    path.write_text(json.dumps(futian.plan, ensure_ascii=False), "utf-8")
    assert main(["check-plan", str(path)]) == 0


def test_rules_show_lists_the_districts_rules_and_bands_with_every_territory(
    futian: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`loopvan rules show` for a Futian diesel van: Futian's rules with whether each
    binds, and bands that also hold Nanshan's rules (on Nanshan's roads) and OSM access."""
    from dispatch.cli import main

    plate = next(
        v["plate"] for v in futian.plan["vehicles"] if v["fuel"] == "diesel" and not v["tail_lift"]
    )
    capsys.readouterr()
    assert main(["rules", "show", "--district", "Futian", "--date", "2026-12-01",
                 "--vehicle", plate]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "FT-ROADS-01" in out and "FT-PEAK-01" in out
    bands_part = out.split("forbidden edges", 1)[1]
    assert "NS-PEAK-01" in bands_part and "OSM access" in bands_part
