"""Road rights from rule files (no database): for check-plan, the map and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import shape

from dispatch.planning import RoadRights
from dispatch.settings import Settings
from road_rules.export import rules_geojson
from road_rules.osm_tags import rules_from_tags
from road_rules.parse import load_rules
from routing.network import RoadNetwork
from routing.rules_bridge import edge_table


def district_areas(settings: Settings) -> dict[str, Any]:
    """District code -> polygon, from the bundled (or configured) GeoJSON."""
    fc = json.loads(Path(settings.districts_path).read_text(encoding="utf-8"))
    return {
        (f["properties"].get("code") or f["properties"]["name_en"].lower()): shape(f["geometry"])
        for f in fc["features"]
    }


def file_rights(settings: Settings, network: RoadNetwork, rules_dir: Path, code: str) -> RoadRights:
    """A district's rules from files plus the graph's OSM tag rules.

    Raises
    ------
    road_rules.errors.RuleError
        When a rule file is invalid.
    """
    table = edge_table(network)
    osm, skipped = rules_from_tags(table)
    files = load_rules([rules_dir], district_areas=district_areas(settings))
    return RoadRights((files + osm).for_district(code), table, skipped)


def district_rules_geojson(settings: Settings, network: RoadNetwork, code: str) -> dict[str, Any]:
    """Zones and restricted roads of one district for the dispatcher map."""
    if settings.rules_dir is None or not Path(settings.rules_dir).exists():
        return {"type": "FeatureCollection", "features": []}
    rights = file_rights(settings, network, settings.rules_dir, code)
    return rules_geojson(rights.rules, rights.table)
