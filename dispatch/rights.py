"""Road rights: the one rule set that planning, edits, re-plans, slot suggestions,
``check-plan``, ``rules show/geojson`` and the dispatcher map's rule layer all use.

Every district's rule file, every active temporary closure (of every district) and the
graph's OSM access tags, over the road graph's edge table. Rules are territorial: a
district's rules bind every vehicle on the roads inside that district's polygon,
whatever district the vehicle is planned for (see docs/road-rules.md), so nothing here
depends on the district being planned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import models as m
from dispatch.settings import Settings
from road_rules.edges import EdgeTable
from road_rules.errors import RuleError
from road_rules.evaluate import where_mask
from road_rules.export import rules_geojson
from road_rules.model import Rule, RuleSet, Where
from road_rules.osm_tags import rules_from_tags
from road_rules.parse import load_rules, parse_rules_text
from routing.network import RoadNetwork
from routing.rules_bridge import edge_table

#: The source name of the dispatchers' temporary closures in messages and rule origins.
CLOSURES = "temporary rules (database)"


@dataclass
class RoadRights:
    """All rules (files + closures + OSM tags) over the road graph's edge table."""

    rules: RuleSet
    table: EdgeTable
    skipped_tags: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What loading reported without refusing: conflicts, selections matching nothing."""
        return self.rules.warnings


def district_areas(settings: Settings) -> dict[str, Any]:
    """District code -> polygon, from the bundled (or configured) GeoJSON."""
    fc = json.loads(Path(settings.districts_path).read_text(encoding="utf-8"))
    return {
        (f["properties"].get("code") or f["properties"]["name_en"].lower()): shape(f["geometry"])
        for f in fc["features"]
    }


def unmatched(
    rules: Iterable[Rule], table: EdgeTable, point_refs: frozenset[str] | None = None
) -> tuple[list[str], list[str]]:
    """Rules whose named roads, road types, ways or points select nothing in their
    district: (errors, warnings). Each road name is tried on its own, so one misspelt
    name among three is reported. A rule with ``allow_unmatched: true`` gives a warning."""
    errors: list[str] = []
    warnings: list[str] = []
    for r in rules:
        if r.origin == "osm":
            continue
        w = r.where
        found: list[str] = []
        # Names and ways one by one (a typo hides in a list); road types as a group (a
        # district without motorways is no mistake).
        singles: list[tuple[str, Any, Where]] = [
            ("road_names", n, Where(area=w.area, road_names=frozenset({n})))
            for n in sorted(w.road_names)
        ]
        singles += [
            ("way_ids", x, Where(area=w.area, way_ids=frozenset({x}))) for x in sorted(w.way_ids)
        ]
        if w.highways:
            singles.append(
                ("highways", sorted(w.highways), Where(area=w.area, highways=w.highways))
            )
        for fld, shown, one in singles:
            if not np.any(where_mask(table, one, r.territory)):
                found.append(
                    f"field 'where.{fld}': {shown!r} matches no road in district {r.district}"
                    + (" (inside the rule's polygon)" if w.area is not None else "")
                )
        if (
            (w.road_names or w.highways or w.way_ids)
            and not found
            and not np.any(where_mask(table, w, r.territory))
        ):
            found.append("field 'where': the criteria together select no road")
        if point_refs is not None:
            for ref in sorted(w.points - point_refs):
                found.append(f"field 'where.points': no collection point {ref!r}")
        for msg in found:
            line = f"{r.origin}: rule {r.id}: {msg}"
            (warnings if r.allow_unmatched or r.origin == CLOSURES else errors).append(line)
    return errors, warnings


def road_rights(
    network: RoadNetwork,
    rules_dir: Path | None,
    *,
    areas: Mapping[str, BaseGeometry],
    known_classes: Iterable[str] | None = None,
    closures: Mapping[str, list[dict[str, Any]]] | None = None,
    point_refs: frozenset[str] | None = None,
) -> RoadRights:
    """The one rule set: rule files under ``rules_dir``, temporary closures (district code
    -> rule entries), and the graph's OSM access tags.

    Raises
    ------
    road_rules.errors.RuleError
        A rule file is invalid, or a rule's roads or points match nothing (file, rule id
        and field named).
    """
    rules = RuleSet(())
    if rules_dir is not None:
        # A rules directory that is missing or empty is a mistake, never "no rules".
        folder = Path(rules_dir)
        if not folder.is_dir():
            raise RuleError([f"{folder}: no such rule directory"])
        if not [*folder.glob("*.yaml"), *folder.glob("*.yml")]:
            raise RuleError([f"{folder}: holds no rule file (*.yaml)"])
        rules = load_rules([folder], known_classes=known_classes, district_areas=areas)
    table = edge_table(network)
    osm, skipped = rules_from_tags(table)
    for code, entries in sorted((closures or {}).items()):
        if entries:
            text = yaml.safe_dump({"district": code, "rules": entries}, allow_unicode=True)
            rules = rules + parse_rules_text(text, CLOSURES, district_areas=areas)
    errors, warnings = unmatched(rules.rules, table, point_refs)
    if errors:
        raise RuleError(errors)
    rules = rules + osm
    return RoadRights(
        RuleSet(rules.rules, rules.files, rules.permits, rules.warnings + tuple(warnings)),
        table,
        skipped,
    )


def session_rights(session: Session, network: RoadNetwork, rules_dir: Path | None) -> RoadRights:
    """:func:`road_rights` with districts, vehicle classes, collection points and every
    active temporary closure read from the database."""
    areas = {d.code: shape(d.boundary) for d in session.scalars(select(m.District))}
    known = list(session.scalars(select(m.VehicleClass.code)))
    points = frozenset(session.scalars(select(m.CollectionPoint.ref)))
    closures: dict[str, list[dict[str, Any]]] = {}
    for row, code in session.execute(
        select(m.TemporaryRule, m.District.code)
        .join(m.District)
        .where(m.TemporaryRule.active.is_(True))
        .order_by(m.TemporaryRule.id)
    ):
        closures.setdefault(code, []).append(row.rule)
    return road_rights(
        network,
        rules_dir,
        areas=areas,
        known_classes=known or None,
        closures=closures,
        point_refs=points or None,
    )


def file_rights(settings: Settings, network: RoadNetwork, rules_dir: Path | None) -> RoadRights:
    """:func:`road_rights` from the files alone (no database: no closures), with the
    districts of the bundled (or configured) GeoJSON."""
    return road_rights(network, rules_dir, areas=district_areas(settings))


def district_rules_geojson(
    rights: RoadRights, code: str | None = None, *, include_osm: bool = True
) -> dict[str, Any]:
    """Zones and restricted roads for the dispatcher map: one district's own rules and
    closures (``code``), or every district's (None: what a van may meet anywhere); and
    the OSM access rules."""
    own = RuleSet(
        tuple(
            r
            for r in rights.rules.rules
            if (r.origin == "osm" and include_osm)
            or (r.origin != "osm" and (code is None or r.district == code))
        )
    )
    return rules_geojson(own, rights.table)


__all__ = [
    "CLOSURES",
    "RoadRights",
    "RuleError",
    "district_areas",
    "district_rules_geojson",
    "file_rights",
    "road_rights",
    "session_rights",
    "unmatched",
]
