"""Territorial rules, permits with zones and hours, plate digits, dimension limits, road
names, precedence and load-time reports — one test per row of docs/road-rules.md
("How rules combine"), on a small synthetic road table spanning two districts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LineString, box

from dispatch.rights import unmatched
from road_rules.edges import EdgeTable, normalise_name
from road_rules.errors import RuleError
from road_rules.evaluate import (
    bands,
    blocking_rules_during,
    covering_stationing_rules,
    edge_mask,
    stationing_windows,
)
from road_rules.model import RuleSet, VehicleInfo, plate_last_digit
from road_rules.osm_tags import rules_from_tags
from road_rules.parse import load_rules, parse_rules_text

#: Two districts side by side: A = lon 0..1, B = lon 1..2 (lat 0..1).
AREAS = {"A": box(0.0, 0.0, 1.0, 1.0), "B": box(1.0, 0.0, 2.0, 1.0)}
TUESDAY = dt.date(2026, 12, 1)
MONDAY = dt.date(2026, 11, 30)


def h(hhmm: str) -> int:
    a, b = hhmm.split(":")
    return int(a) * 3600 + int(b) * 60


# (u, v, highway, names, lon0, lon1): a road along lat 0.5 from district A into B
EDGES: list[tuple[int, int, str, tuple[str, ...], float, float]] = [
    (1, 2, "primary", ("深南大道", "Shennan Boulevard"), 0.2, 0.4),
    (2, 3, "primary", ("深南大道",), 0.4, 0.8),
    (3, 4, "primary", ("深南大道",), 1.2, 1.6),  # in B
    (4, 5, "residential", ("侨香路", "Qiaoxiang Road"), 1.6, 1.8),  # in B
    (5, 6, "residential", ("红荔路",), 0.6, 0.7),  # in A
    (6, 7, "service", (), 0.1, 0.15),  # in A, OSM-tagged below
]


def table(tags: dict[int, dict[str, Any]] | None = None) -> EdgeTable:
    tags = tags or {}
    return EdgeTable(
        u=[e[0] for e in EDGES],
        v=[e[1] for e in EDGES],
        way_ids=[frozenset({100 + i}) for i in range(len(EDGES))],
        highways=[frozenset({e[2]}) for e in EDGES],
        names=[frozenset(normalise_name(n) for n in e[3]) for e in EDGES],
        geoms=[LineString([(e[4], 0.5), (e[5], 0.5)]) for e in EDGES],
        tags=[dict(tags.get(i, {})) for i in range(len(EDGES))],
    )


DIESEL = VehicleInfo(
    "粤BL0016", "light_diesel", "light", "diesel", 4495, height_m=2.9, length_m=6.0, width_m=2.05
)
BOX = VehicleInfo(
    "粤BC0001", "box_tail_lift", "medium", "diesel", 7500, height_m=3.4, length_m=7.2, width_m=2.3
)


def rules_of(*files: tuple[str, str]) -> RuleSet:
    """Parse (district, rules YAML body) pairs as separate files, like load_rules."""
    out = RuleSet(())
    for n, (district, body) in enumerate(files):
        text = f'district: "{district}"\n' + body
        out = out + parse_rules_text(text, f"{district}-{n}.yaml", district_areas=AREAS)
    return out


def banned(rs: RuleSet, v: VehicleInfo, t: int, tb: EdgeTable, day: dt.date = TUESDAY) -> set[int]:
    """Edge indices ``v`` may not be on at second ``t`` (via the replay's function)."""
    return {i for i in range(len(tb)) if blocking_rules_during(rs, v, day, tb, i, t, t + 1)}


# --------------------------------------------------------------------------- territory


def test_a_districts_rule_binds_every_van_on_its_roads_and_only_there() -> None:
    """A's ban on primary roads binds on A's roads (whoever drives them), never in B;
    B's own rule binds in B."""
    rs = rules_of(
        ("A", "rules:\n- {id: A-1, effect: no_entry, where: {highways: [primary]}}\n"),
        ("B", "rules:\n- {id: B-1, effect: no_entry, where: {road_names: [侨香路]}}\n"),
    )
    tb = table()
    assert banned(rs, DIESEL, h("12:00"), tb) == {0, 1, 3}
    assert {r.id for r in blocking_rules_during(rs, DIESEL, TUESDAY, tb, 3, 0, 60)} == {"B-1"}
    # The planner's bands say the same (one decision for both).
    (band,) = bands(rs, DIESEL, TUESDAY, tb)
    assert band.forbidden == {(1, 2), (2, 3), (4, 5)}


def test_a_district_wide_rule_without_where_covers_its_district_only() -> None:
    rs = rules_of(("B", "rules:\n- {id: B-ALL, effect: no_entry, when: '10:00-11:00'}\n"))
    tb = table()
    assert banned(rs, DIESEL, h("10:30"), tb) == {2, 3}
    assert banned(rs, DIESEL, h("11:30"), tb) == set()


# --------------------------------------------------------------------------- permits

PERMIT_FILE = """
rules:
- {id: A-DAY, effect: no_entry, where: {highways: [primary, residential]}, when: '08:00-18:00',
   exempt_permits: [YCDK]}
permits:
- id: YCDK
  title: 以车代库 permit, west half of A, 09:00-17:00
  where: {polygon: [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0], [0.0, 0.0]]}
  when: '09:00-17:00'
"""


def test_a_permit_exempts_only_inside_its_zone_while_in_force() -> None:
    rs = rules_of(("A", PERMIT_FILE))
    tb = table()
    holder = VehicleInfo("粤BD1", "light_electric", "light", "electric", 4495, frozenset({"YCDK"}))
    # 12:00: in force; the permit covers the western edges (0 crosses 0.2-0.4, 1 runs to 0.8)
    assert banned(rs, holder, h("12:00"), tb) == {4}  # 红荔路 at lon 0.6-0.7 is outside the zone
    # 08:30: the rule is in force, the permit not yet
    assert banned(rs, holder, h("08:30"), tb) == {0, 1, 4}
    # no permit: everything the rule selects
    assert banned(rs, DIESEL, h("12:00"), tb) == {0, 1, 4}


def test_an_undeclared_permit_exempts_everywhere_and_anothers_declaration_does_not_limit() -> None:
    """B's rule lists YCDK, which only A declares: in B the permit is unrestricted."""
    rs = rules_of(
        ("A", PERMIT_FILE),
        (
            "B",
            "rules:\n- {id: B-DAY, effect: no_entry, where: {highways: [primary]}, "
            "exempt_permits: [YCDK]}\n",
        ),
    )
    tb = table()
    holder = VehicleInfo("粤BD1", "light_electric", "light", "electric", 4495, frozenset({"YCDK"}))
    assert 2 not in banned(rs, holder, h("20:00"), tb)
    assert 2 in banned(rs, DIESEL, h("20:00"), tb)


def test_osm_permit_roads_need_a_declared_permit_that_grants_them() -> None:
    tb = table({5: {"highway": "service", "motor_vehicle": "permit"}})
    osm, _ = rules_from_tags(tb)
    grant = """
rules: []
permits:
- {id: ERXIAN, title: 二线 road permit, grants_osm_permit: true, when: '06:00-22:00'}
"""
    rs = rules_of(("A", grant)) + osm
    holder = VehicleInfo(
        "粤BD1", "light_electric", "light", "electric", 4495, frozenset({"ERXIAN"})
    )
    assert 5 in banned(rs, DIESEL, h("12:00"), tb)
    assert 5 not in banned(rs, holder, h("12:00"), tb)
    assert 5 in banned(rs, holder, h("23:00"), tb)  # outside the permit's hours
    (rid,) = {r.id for r in blocking_rules_during(rs, DIESEL, TUESDAY, tb, 5, 0, 1)}
    assert rid.startswith("osm:motor_vehicle=permit")


# --------------------------------------------------------------------------- vehicles


@pytest.mark.parametrize(
    ("plate", "digit"), [("粤BL0016", 6), ("粤B1234D", 4), ("粤BD15739", 9), ("粤B", None)]
)
def test_plate_last_digit(plate: str, digit: int | None) -> None:
    assert plate_last_digit(plate) == digit


def test_plate_rules_bind_by_last_digit_and_weekday() -> None:
    rs = rules_of(
        (
            "A",
            "rules:\n- {id: A-MO, effect: no_entry, where: {road_names: [深南大道]}, "
            "when: 'Mo 07:00-20:00', vehicles: {plate_last_digits: [1, 6]}}\n",
        )
    )
    tb = table()
    other = VehicleInfo("粤BL0017", "light_diesel", "light", "diesel", 4495)
    assert banned(rs, DIESEL, h("12:00"), tb, MONDAY) == {0, 1}
    assert banned(rs, other, h("12:00"), tb, MONDAY) == set()
    assert banned(rs, DIESEL, h("12:00"), tb, TUESDAY) == set()


@pytest.mark.parametrize(
    ("effect", "field", "limit", "binds_box", "binds_van"),
    [
        ("max_height", "max_height_m", 3.2, True, False),
        ("max_length", "max_length_m", 7.0, True, False),
        ("max_width", "max_width_m", 2.2, True, False),
        ("max_weight", "max_weight_t", 5, True, False),
        ("max_height", "max_height_m", 2.5, True, True),
    ],
)
def test_dimension_limits_bind_vehicles_over_them(
    effect: str, field: str, limit: float, binds_box: bool, binds_van: bool
) -> None:
    rs = rules_of(
        (
            "A",
            f"rules:\n- {{id: A-LIM, effect: {effect}, {field}: {limit}, "
            "where: {road_names: [红荔路]}}\n",
        )
    )
    tb = table()
    assert (4 in banned(rs, BOX, 0, tb)) is binds_box
    assert (4 in banned(rs, DIESEL, 0, tb)) is binds_van


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "edges"),
    [
        ("深南大道", {0, 1}),
        ("Shennan Boulevard", {0}),
        ("shennan   BOULEVARD", {0}),
        ("深南*", {0, 1}),
        ("深南大", set()),
    ],
)
def test_road_names_match_normalised_names_and_prefixes(name: str, edges: set[int]) -> None:
    rs = rules_of(
        ("A", f"rules:\n- {{id: A-N, effect: no_entry, where: {{road_names: ['{name}']}}}}\n")
    )
    mask = edge_mask(rs.rules[0], table())
    assert set(np.flatnonzero(mask).tolist()) == edges


def test_a_road_name_matching_nothing_is_an_error_naming_the_rule_or_a_warning_when_allowed() -> (
    None
):
    rs = rules_of(
        (
            "A",
            "rules:\n- {id: A-TYPO, effect: no_entry, where: {road_names: [深南大道, 深南大到]}}\n"
            "- {id: A-OK, effect: no_entry, where: {road_names: [Nowhere Rd]}, allow_unmatched: true}\n"
            "- {id: A-PT, effect: stationing_allowed, where: {points: [CP-999]}, when: '09:00-10:00'}\n",
        )
    )
    errors, warnings = unmatched(rs.rules, table(), frozenset({"CP-001"}))
    assert len(errors) == 2
    assert "A-0.yaml: rule A-TYPO: field 'where.road_names': '深南大到'" in errors[0]
    assert "rule A-PT: field 'where.points': no collection point 'CP-999'" in errors[1]
    assert len(warnings) == 1 and "A-OK" in warnings[0]


# --------------------------------------------------------------------------- precedence


def test_the_narrower_stationing_rule_wins_and_equal_conflicts_are_reported(tmp_path: Any) -> None:
    (tmp_path / "a.yaml").write_text(
        'district: "A"\nrules:\n'
        "- {id: A-ALL, effect: stationing_allowed, where: {district: true}, when: '09:00-17:00'}\n"
        "- {id: A-SIX, effect: stationing_allowed, where: {points: [CP-1, CP-2]}, when: '15:00-16:30'}\n"
        "- {id: A-TWO, effect: stationing_allowed, where: {points: [CP-2]}, when: '08:00-09:00'}\n",
        encoding="utf-8",
    )
    rs = load_rules([tmp_path], district_areas=AREAS)
    assert stationing_windows(rs, TUESDAY, "CP-1", 0.5, 0.5) == [(h("15:00"), h("16:30"))]
    assert stationing_windows(rs, TUESDAY, "CP-9", 0.5, 0.5) == [(h("09:00"), h("17:00"))]
    assert stationing_windows(rs, TUESDAY, "CP-1", 1.5, 0.5) is None  # in B: A's rules silent
    assert {r.id for r in covering_stationing_rules(rs, "CP-2", 0.5, 0.5)} == {"A-SIX", "A-TWO"}
    (w,) = rs.warnings
    assert "A-SIX" in w and "A-TWO" in w and "united" in w


def test_bans_accumulate_whatever_their_specificity() -> None:
    """A named-road ban does not lift a road-type ban on the same road: both bind."""
    rs = rules_of(
        (
            "A",
            "rules:\n- {id: A-TYPE, effect: no_entry, where: {highways: [primary]}, when: '07:00-09:00'}\n"
            "- {id: A-NAME, effect: no_entry, where: {road_names: [深南大道]}, when: '10:00-17:00'}\n",
        )
    )
    tb = table()
    assert 0 in banned(rs, DIESEL, h("08:00"), tb)
    assert 0 in banned(rs, DIESEL, h("12:00"), tb)
    assert 0 not in banned(rs, DIESEL, h("09:30"), tb)


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            "- {id: X, effect: no_entry, vehicles: {plate_last_digits: [12]}}",
            "vehicles.plate_last_digits",
        ),
        ("- {id: X, effect: max_height}", "max_height_m"),
        ("- {id: X, effect: no_entry, max_length_m: 7}", "max_length_m"),
        ("- {id: X, effect: no_entry, allow_unmatched: maybe}", "allow_unmatched"),
        ("- {id: X, effect: no_entry, where: {roads: [a]}}", "where.roads"),
        ("- {id: X, effect: no_entry, where: {road_names: 5}}", "where.road_names"),
        ("- {id: X, effect: no_entry, where: {highways: {a: 1}}}", "where.highways"),
        ("- {id: X, effect: no_entry, where: {way_ids: '123'}}", "where.way_ids"),
        ("- {id: X, effect: no_entry, vehicles: {classes: 5}}", "vehicles.classes"),
        ("- {id: X, effect: no_entry, vehicles: {fule: [diesel]}}", "vehicles.fule"),
        ("- {id: X, effect: no_entry, exempt_permits: 5}", "exempt_permits"),
        ("- {id: X, effect: no_entry, whne: '09:00-10:00'}", "whne"),
        ("- {id: X, effect: max_height, max_height_m: .nan}", "max_height_m"),
        (
            "- {id: X, effect: no_entry, where: {polygon: [[0, 0], [.nan, 0], [1, 1], [0, 0]]}}",
            "where.polygon",
        ),
        ("- {id: X, effect: no_entry, where: {points: [CP-1]}}", "where.points"),
        (
            "- {id: X, effect: stationing_allowed, where: {road_names: [a]}, when: '09:00-10:00'}",
            "where.road_names",
        ),
        (
            "- {id: X, effect: stationing_allowed, vehicles: {fuels: [electric]}, "
            "when: '09:00-10:00'}",
            "vehicles",
        ),
    ],
)
def test_bad_rules_name_file_rule_and_field(body: str, field: str) -> None:
    with pytest.raises(RuleError) as exc:
        parse_rules_text(f'district: "A"\nrules:\n{body}\n', "bad.yaml", district_areas=AREAS)
    assert f"bad.yaml: rule X: field '{field}'" in str(exc.value)


def test_bad_permits_name_file_permit_and_field() -> None:
    with pytest.raises(RuleError) as exc:
        parse_rules_text(
            'district: "A"\nrules: []\npermits:\n- {id: P, when: "25:00-26:00"}\n',
            "bad.yaml",
            district_areas=AREAS,
        )
    assert "bad.yaml: permit P: field 'when'" in str(exc.value)


def test_a_file_for_an_unknown_district_or_with_unknown_keys_is_refused() -> None:
    with pytest.raises(RuleError) as exc:
        parse_rules_text('district: "Z"\nrules: []\n', "z.yaml", district_areas=AREAS)
    assert "z.yaml: field 'district': no polygon known for district 'Z'" in str(exc.value)
    with pytest.raises(RuleError) as exc:
        parse_rules_text('district: "A"\nrule: []\nrules: []\n', "a.yaml", district_areas=AREAS)
    assert "a.yaml: field 'rule': unknown key" in str(exc.value)
    with pytest.raises(RuleError) as exc:
        parse_rules_text(
            'district: "A"\nrules: []\npermits:\n- {id: P, wehn: "09:00-10:00"}\n',
            "p.yaml",
            district_areas=AREAS,
        )
    assert "p.yaml: permit P: field 'wehn': unknown key" in str(exc.value)


def test_a_missing_or_empty_rules_directory_is_an_error_not_no_rules(tmp_path: Any) -> None:
    from dispatch.rights import road_rights

    with pytest.raises(RuleError, match="no such rule directory"):
        road_rights(None, tmp_path / "nope", areas=AREAS)  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="holds no rule file"):
        road_rights(None, tmp_path, areas=AREAS)  # type: ignore[arg-type]
