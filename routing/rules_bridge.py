"""The road graph handed to road_rules as a plain edge table (no graph library there)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import LineString

from road_rules.edges import EdgeTable
from routing.network import RoadNetwork

_RULE_TAGS = ("hgv", "goods", "motor_vehicle", "access", "maxweight")


def _set(v: Any) -> frozenset[Any]:
    if v is None:
        return frozenset()
    return frozenset(v) if isinstance(v, list) else frozenset({v})


def edge_table(network: RoadNetwork) -> EdgeTable:
    """Every directed edge of ``network`` with ways, road types, names, geometry, access tags."""
    cached: EdgeTable | None = network._compiled.get("edge_table")
    if cached is not None:
        return cached
    g = network.graph
    u, v, ways, hws, names, geoms, tags = [], [], [], [], [], [], []
    for a, b, d in g.edges(data=True):
        u.append(int(a))
        v.append(int(b))
        ways.append(frozenset(int(x) for x in _set(d.get("osmid"))))
        hws.append(frozenset(str(x) for x in _set(d.get("highway"))))
        names.append(frozenset(str(x) for x in _set(d.get("name"))))
        geom = d.get("geometry")
        geoms.append(
            geom
            if geom is not None
            else LineString(
                [(g.nodes[a]["x"], g.nodes[a]["y"]), (g.nodes[b]["x"], g.nodes[b]["y"])]
            )
        )
        tags.append({k: d[k] for k in d if k in _RULE_TAGS or k.endswith(":conditional")})
    table = EdgeTable(u, v, ways, hws, names, geoms, tags)
    network._compiled["edge_table"] = table
    return table
