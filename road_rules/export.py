"""Rules as GeoJSON for the dispatcher map: zones as polygons, restricted roads as lines."""

from __future__ import annotations

from typing import Any

import numpy as np
from shapely.geometry import MultiLineString, mapping

from road_rules.edges import EdgeTable
from road_rules.evaluate import edge_mask
from road_rules.model import RuleSet


def rules_geojson(rules: RuleSet, table: EdgeTable) -> dict[str, Any]:
    """One feature per rule: its area (polygon) or the roads it selects (lines)."""
    feats = []
    for r in rules.rules:
        props = {
            "rule": r.id,
            "title": r.title,
            "effect": r.effect,
            "when": r.when,
            "except_when": r.except_when,
            "days": r.days,
            "vehicles": {
                "classes": sorted(r.vehicles.classes),
                "weight_classes": sorted(r.vehicles.weight_classes),
                "fuels": sorted(r.vehicles.fuels),
            },
            "exempt_permits": sorted(r.exempt_permits),
            "max_weight_t": r.max_weight_t,
            "max_height_m": r.max_height_m,
            "max_length_m": r.max_length_m,
            "max_width_m": r.max_width_m,
            "plate_last_digits": sorted(r.vehicles.plate_last_digits),
            "district": r.district,
            "osm_tags": {k: list(v) if isinstance(v, tuple) else v for k, v in r.osm_tags},
            "source": r.source,
            "origin": r.origin,
        }
        w = r.where
        if w.area is not None and not (w.highways or w.road_names or w.way_ids):
            if (
                r.effect == "stationing_allowed"
                and r.where.everywhere is False
                and w.area.area > 0.005
            ):
                continue  # the whole district: not worth drawing
            feats.append({"type": "Feature", "geometry": mapping(w.area), "properties": props})
            continue
        idx = np.flatnonzero(edge_mask(r, table))
        if len(idx) == 0:
            continue
        lines = MultiLineString([table.geoms[i] for i in idx[:5000]])
        feats.append({"type": "Feature", "geometry": mapping(lines), "properties": props})
    return {"type": "FeatureCollection", "features": feats}
