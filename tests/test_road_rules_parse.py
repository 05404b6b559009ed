"""Rule files (YAML) -> RuleSet: every refusal names the file, the rule id and the field."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon, shape

from road_rules.errors import RuleError
from road_rules.geo import gcj02_to_wgs84, wgs84_to_gcj02
from road_rules.parse import load_rules, parse_rules_text

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "data" / "rules"
DISTRICTS = ROOT / "data" / "boundaries" / "shenzhen-districts.geojson"
DEMO_CLASSES = ["light_electric", "light_diesel", "box_tail_lift"]
SQUARE = "[[114.00, 22.50], [114.01, 22.50], [114.01, 22.51], [114.00, 22.51], [114.00, 22.50]]"


def _areas() -> dict[str, Any]:
    fc = json.loads(DISTRICTS.read_text(encoding="utf-8"))
    return {
        (f["properties"].get("code") or f["properties"]["name_en"].lower()): shape(f["geometry"])
        for f in fc["features"]
    }


def _file(*rules: str, district: str = "440304") -> str:
    """A rule file with the given rule entries (each a YAML block starting with 'id:')."""
    body = "".join("  - " + r.strip().replace("\n", "\n    ") + "\n" for r in rules)
    return f'district: "{district}"\nrules:\n{body}'


def _refusal(text: str, source: str = "bad.yaml", **kw: Any) -> list[str]:
    with pytest.raises(RuleError) as exc:
        parse_rules_text(text, source, **kw)
    assert str(exc.value).startswith("rules refused")
    return exc.value.problems


def _one_problem(problems: list[str], *fragments: str) -> str:
    hits = [p for p in problems if all(f in p for f in fragments)]
    assert hits, f"no problem mentions {fragments}: {problems}"
    return hits[0]


# --------------------------------------------------------------------------- valid files


def test_shipped_rule_files_load_with_district_polygons_and_demo_classes() -> None:
    """The shipped Futian and Nanshan files load cleanly (with the demo's vehicle classes)."""
    rs = load_rules([RULES_DIR], known_classes=DEMO_CLASSES, district_areas=_areas())
    ids = {r.id for r in rs.rules}
    assert {"FT-GLZ-01", "FT-PEAK-01", "FT-STATION-01", "NS-PEAK-01", "NS-STATION-01"} <= ids
    assert len(ids) == len(rs.rules)
    assert {Path(f).name for f in rs.files} == {"futian.yaml", "nanshan.yaml"}
    station = next(r for r in rs.rules if r.id == "FT-STATION-01")
    assert station.where.area is not None
    assert station.where.area.equals(_areas()["440304"])  # where: {district: true}
    peak = next(r for r in rs.rules if r.id == "FT-PEAK-01")
    assert peak.days == "workdays" and peak.exempt_permits == frozenset({"SZ-EV-LOGISTICS"})
    assert peak.where.highways >= {"primary", "trunk"}
    assert rs.for_district("440305").rules and all(
        r.district == "440305" for r in rs.for_district("440305").rules
    )


def test_a_valid_rule_is_read_field_by_field() -> None:
    """Every field of a valid rule lands in the Rule: dates, vehicles, where, hours, origin."""
    text = _file(
        f"""
id: T-1
title: test rule
source: notice 2026-01
valid_from: 2026-01-01
valid_to: 2026-12-31
vehicles: {{classes: [light_diesel], weight_classes: [light], fuels: [diesel], min_gross_weight_kg: 3501}}
where: {{polygon: {SQUARE}, highways: [primary], road_names: [深南大道], way_ids: [42, "43"]}}
when: "Mo-Fr 07:00-09:00"
days: workdays
effect: max_weight
max_weight_t: 4.5
exempt_permits: PERMIT-A
"""
    )
    (r,) = parse_rules_text(text, "t.yaml", known_classes=DEMO_CLASSES).rules
    assert (r.id, r.title, r.district, r.effect, r.source) == (
        "T-1",
        "test rule",
        "440304",
        "max_weight",
        "notice 2026-01",
    )
    assert (r.valid_from, r.valid_to) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert r.vehicles.classes == {"light_diesel"} and r.vehicles.min_gross_weight_kg == 3501
    assert r.where.way_ids == {42, 43} and r.where.road_names == {"深南大道"}
    assert r.where.area is not None and r.where.area.bounds == (114.0, 22.5, 114.01, 22.51)
    assert (r.when, r.except_when, r.days, r.max_weight_t) == (
        "Mo-Fr 07:00-09:00",
        None,
        "workdays",
        4.5,
    )
    assert r.exempt_permits == {"PERMIT-A"} and r.origin == "t.yaml"


def test_district_true_intersected_with_a_polygon() -> None:
    """``where: {district: true, polygon: ...}`` is the part of the polygon inside the district."""
    district = Polygon([(114.0, 22.5), (114.005, 22.5), (114.005, 22.51), (114.0, 22.51)])
    text = _file(
        f"id: T-1\nwhere: {{district: true, polygon: {SQUARE}}}\nwhen: 24/7\neffect: no_entry"
    )
    (r,) = parse_rules_text(text, "t.yaml", district_areas={"440304": district}).rules
    assert r.where.area is not None
    assert r.where.area.bounds == pytest.approx((114.0, 22.5, 114.005, 22.51))


# --------------------------------------------------------------------------- refusals


def test_bad_opening_hours_names_file_rule_and_field() -> None:
    """A rule whose ``when`` is not an opening_hours expression is refused (file, id, field)."""
    problems = _refusal(_file('id: FT-X-01\nwhen: "Mo-Fx 07:00-09:00"\neffect: no_entry'))
    p = _one_problem(problems, "bad.yaml", "rule FT-X-01", "field 'when'")
    assert "Mo-Fx 07:00-09:00" in p


def test_bad_except_when_names_its_field() -> None:
    """An invalid ``except_when`` is refused naming the field ``except_when``."""
    problems = _refusal(_file('id: T-2\nexcept_when: "7am-9am"\neffect: no_entry'))
    _one_problem(problems, "bad.yaml", "rule T-2", "field 'except_when'")


def test_unknown_vehicle_class_names_file_rule_and_field() -> None:
    """A vehicle class outside ``known_classes`` is refused with the class and the known ones."""
    text = _file("id: T-3\nvehicles: {classes: [hovercraft]}\neffect: no_entry")
    problems = _refusal(text, known_classes=DEMO_CLASSES)
    p = _one_problem(problems, "bad.yaml", "rule T-3", "field 'vehicles.classes'")
    assert "hovercraft" in p and "light_diesel" in p
    # Without a list of known classes any class is accepted.
    assert parse_rules_text(text, "ok.yaml").rules[0].vehicles.classes == {"hovercraft"}


def test_unclosed_polygon_names_file_rule_and_field() -> None:
    """A polygon whose last point is not its first is refused as unclosed."""
    poly = "[[114.00, 22.50], [114.01, 22.50], [114.01, 22.51], [114.00, 22.51]]"
    problems = _refusal(_file(f"id: T-4\nwhere: {{polygon: {poly}}}\neffect: no_entry"))
    p = _one_problem(problems, "bad.yaml", "rule T-4", "field 'where.polygon'")
    assert "unclosed" in p


def test_valid_to_before_valid_from_names_file_rule_and_field() -> None:
    """``valid_to`` earlier than ``valid_from`` is refused on the field ``valid_to``."""
    text = _file("id: T-5\nvalid_from: 2026-06-01\nvalid_to: 2026-05-31\neffect: no_entry")
    p = _one_problem(_refusal(text), "bad.yaml", "rule T-5", "field 'valid_to'")
    assert "2026-05-31" in p and "2026-06-01" in p


def test_duplicate_ids_in_one_file_are_refused() -> None:
    """Two rules with the same id in one file: the second is refused on field ``id``."""
    text = _file("id: T-6\neffect: no_entry", "id: T-6\neffect: no_stopping")
    p = _one_problem(_refusal(text), "bad.yaml", "rule T-6", "field 'id'")
    assert "duplicate" in p


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    """The same id in two files is refused by load_rules (ids must be unique across files)."""
    (tmp_path / "a.yaml").write_text(_file("id: T-7\neffect: no_entry"), encoding="utf-8")
    (tmp_path / "b.yml").write_text(
        _file("id: T-7\neffect: no_entry", district="440305"), encoding="utf-8"
    )
    with pytest.raises(RuleError) as exc:
        load_rules([tmp_path])
    _one_problem(exc.value.problems, "T-7", "more than one file")


def test_unknown_effect_is_refused() -> None:
    """An effect outside no_entry/no_stopping/stationing_allowed/max_weight is refused."""
    p = _one_problem(
        _refusal(_file("id: T-8\neffect: no_parking")), "bad.yaml", "rule T-8", "field 'effect'"
    )
    assert "no_parking" in p


@pytest.mark.parametrize(
    "mw", ["", "max_weight_t: 0\n", "max_weight_t: true\n", "max_weight_t: ten\n"]
)
def test_max_weight_without_a_positive_limit_is_refused(mw: str) -> None:
    """A max_weight rule needs a positive number of tonnes in ``max_weight_t``."""
    text = _file(f"id: T-9\n{mw}effect: max_weight")
    _one_problem(_refusal(text), "bad.yaml", "rule T-9", "field 'max_weight_t'")


@pytest.mark.parametrize(
    ("entry", "field", "fragment"),
    [
        ("title: no id\neffect: no_entry", "id", "missing"),
        ("id: T-10\neffect: no_entry\ndays: weekends", "days", "weekends"),
        (
            "id: T-10\neffect: no_entry\nwhen: '08:00-09:00'\nexcept_when: '10:00-11:00'",
            "except_when",
            "not both",
        ),
        (
            "id: T-10\neffect: no_entry\nvehicles: {weight_classes: [giant]}",
            "vehicles.weight_classes",
            "giant",
        ),
        ("id: T-10\neffect: no_entry\nvehicles: {fuels: [steam]}", "vehicles.fuels", "steam"),
        ("id: T-10\neffect: no_entry\nvehicles: [light]", "vehicles", "mapping"),
        ("id: T-10\neffect: no_entry\nvalid_from: 2026-13-01", "valid_from", "not a date"),
        ("id: T-10\neffect: no_entry\nwhere: {district: true}", "where.district", "440304"),
        ("id: T-10\neffect: no_entry\nwhere: {way_ids: [abc]}", "where.way_ids", "way ids"),
        (
            "id: T-10\neffect: no_entry\nwhere: {polygon: [[1, 2], [3, 4]]}",
            "where.polygon",
            "at least 4",
        ),
        (
            f"id: T-10\neffect: no_entry\nwhere: {{polygon: {SQUARE}, coordinates: bd09}}",
            "where.coordinates",
            "bd09",
        ),
        (
            "id: T-10\neffect: no_entry\nwhere: {polygon: [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]}",
            "where.polygon",
            "crosses itself",
        ),
    ],
)
def test_each_field_error_names_file_rule_and_field(entry: str, field: str, fragment: str) -> None:
    """Each kind of field error is refused with ``file: rule ID: field 'X': ...``."""
    problems = _refusal(_file(entry))
    rid = "T-10" if entry.startswith("id:") else "#1"
    _one_problem(problems, f"bad.yaml: rule {rid}: field '{field}'", fragment)


def test_non_numeric_min_gross_weight_is_a_rule_error() -> None:
    """``min_gross_weight_kg`` that is not a number is a RuleError on its field (not a crash)."""
    text = _file("id: T-11\nvehicles: {min_gross_weight_kg: heavy}\neffect: no_entry")
    p = _one_problem(
        _refusal(text), "bad.yaml", "rule T-11", "field 'vehicles.min_gross_weight_kg'"
    )
    assert "heavy" in p


def test_a_date_with_a_time_is_refused_not_kept() -> None:
    """``valid_from: 2026-01-01 10:00`` (a YAML datetime) is refused; it would break date checks."""
    text = _file("id: T-12\nvalid_from: 2026-01-01 10:00:00\neffect: no_entry")
    _one_problem(_refusal(text), "bad.yaml", "rule T-12", "field 'valid_from'")


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    """A file with several bad rules lists one problem per rule, each naming its own rule id."""
    text = _file(
        "id: A-1\neffect: nope",
        "id: A-2\nwhen: 'xx'\neffect: no_entry",
        "id: A-3\neffect: no_entry",  # fine
        "id: A-4\nvalid_from: 2026-02-02\nvalid_to: 2026-02-01\neffect: no_entry",
    )
    problems = _refusal(text)
    assert len(problems) == 3
    for rid, fld in (("A-1", "effect"), ("A-2", "when"), ("A-4", "valid_to")):
        _one_problem(problems, f"rule {rid}: field '{fld}'")
    assert not any("A-3" in p for p in problems)


def test_file_level_errors() -> None:
    """Not YAML, not a mapping, no district or no rule list: refused naming the file."""
    assert "not valid YAML" in _refusal("rules: [", source="x.yaml")[0]
    assert "x.yaml" in _refusal("- 1\n- 2", source="x.yaml")[0]
    _one_problem(_refusal("rules: []", source="x.yaml"), "x.yaml", "field 'district'")
    _one_problem(_refusal('district: "1"\nrules: 3', source="x.yaml"), "x.yaml", "field 'rules'")


def test_load_rules_names_every_bad_file_and_missing_paths(tmp_path: Path) -> None:
    """load_rules gathers the problems of every file; a missing path is refused by name."""
    (tmp_path / "a.yaml").write_text(_file("id: B-1\neffect: x"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        _file("id: B-2\nwhen: 'no'\neffect: no_entry"), encoding="utf-8"
    )
    with pytest.raises(RuleError) as exc:
        load_rules([tmp_path])
    _one_problem(exc.value.problems, "a.yaml", "rule B-1", "field 'effect'")
    _one_problem(exc.value.problems, "b.yaml", "rule B-2", "field 'when'")
    with pytest.raises(RuleError, match="no such rule file"):
        load_rules([tmp_path / "missing"])


# --------------------------------------------------------------------------- GCJ-02


def test_gcj02_polygon_is_converted_to_wgs84() -> None:
    """``coordinates: gcj02`` shifts the polygon ~500 m west (and ~300 m north) to WGS-84."""
    raw = "[[114.05, 22.53], [114.07, 22.53], [114.07, 22.55], [114.05, 22.55], [114.05, 22.53]]"
    wgs = parse_rules_text(
        _file(f"id: G-1\nwhere: {{polygon: {raw}}}\neffect: no_entry"), "g.yaml"
    ).rules[0]
    gcj = parse_rules_text(
        _file(f"id: G-1\nwhere: {{polygon: {raw}, coordinates: gcj02}}\neffect: no_entry"),
        "g.yaml",
    ).rules[0]
    assert wgs.where.area is not None and gcj.where.area is not None
    a, b = wgs.where.area.centroid, gcj.where.area.centroid
    lat = math.radians(a.y)
    east_m = (b.x - a.x) * 111_320 * math.cos(lat)
    north_m = (b.y - a.y) * 110_574
    assert -650 < east_m < -400, east_m
    assert 150 < north_m < 450, north_m
    assert gcj.where.area.area == pytest.approx(wgs.where.area.area, rel=1e-2)
    # Each vertex is the exact inverse of the forward GCJ-02 transform.
    for (x, y), (gx, gy) in zip(
        wgs.where.area.exterior.coords, gcj.where.area.exterior.coords, strict=True
    ):
        assert (gx, gy) == pytest.approx(gcj02_to_wgs84(x, y), abs=1e-12)
        fx, fy = wgs84_to_gcj02(gx, gy)
        assert abs(fx - x) < 1e-8 and abs(fy - y) < 1e-8
