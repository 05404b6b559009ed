"""The road graph handed to road_rules as a plain edge table (no graph library there)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import LineString

from road_rules.access import ACCESS_TAGS
from road_rules.edges import EdgeTable, normalise_name
from routing.network import RoadNetwork

#: The names a rule's ``road_names`` matches (each value split on ";").
NAME_KEYS = ("name", "name:en", "alt_name", "official_name", "ref")


def _set(v: Any) -> frozenset[Any]:
    if v is None:
        return frozenset()
    return frozenset(v) if isinstance(v, list) else frozenset({v})


def _names(d: dict[str, Any]) -> frozenset[str]:
    """The normalised names of an edge (every name key, each value split on ";")."""
    out = set()
    for key in NAME_KEYS:
        for value in _set(d.get(key)):
            for part in str(value).split(";"):
                n = normalise_name(part)
                if n:
                    out.add(n)
    return frozenset(out)


def edge_table(network: RoadNetwork) -> EdgeTable:
    """Every directed edge of ``network`` with ways, road types, names, geometry, access tags.

    ``names`` holds the normalised (:func:`road_rules.edges.normalise_name`) values of
    ``name``, ``name:en``, ``alt_name``, ``official_name`` and ``ref``; ``tags`` every tag
    :data:`road_rules.access.ACCESS_TAGS` lists that the edge carries (``highway`` and
    osmnx's ``oneway`` and ``reversed`` included).
    """
    cached: EdgeTable | None = network._compiled.get("edge_table")
    if cached is not None:
        return cached
    g = network.graph
    u, v, ways, hws, names, geoms, tags = [], [], [], [], [], [], []
    keys: list[int] = []
    lengths: list[float] = []
    for a, b, ek, d in g.edges(keys=True, data=True):
        u.append(int(a))
        v.append(int(b))
        keys.append(int(ek))
        lengths.append(float(d.get("length", 0.0)))
        ways.append(frozenset(int(x) for x in _set(d.get("osmid"))))
        hws.append(frozenset(str(x) for x in _set(d.get("highway"))))
        names.append(_names(d))
        geom = d.get("geometry")
        geoms.append(
            geom
            if geom is not None
            else LineString(
                [(g.nodes[a]["x"], g.nodes[a]["y"]), (g.nodes[b]["x"], g.nodes[b]["y"])]
            )
        )
        tags.append({k: d[k] for k in ACCESS_TAGS if k in d})
    table = EdgeTable(u, v, ways, hws, names, geoms, tags, keys=keys, lengths=lengths)
    network._compiled["edge_table"] = table
    return table
