"""Snap a WGS-84 place to the nearest point on a drivable edge.

A place attaches to one *directed* edge ``u -> v`` at a fraction of its length: the
van arrives along ``u -> v`` and leaves towards ``v``, so one-way streets are always
approached in their legal direction. On a two-way street the direction whose
right-hand kerb faces the place is chosen (China drives on the right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point

from routing.compiled import CompiledGraph
from routing.errors import SnapError

DEFAULT_MAX_SNAP_M = 500.0
_TIE_M = 1e-3  # edges this much farther than the nearest still count as equally near


@dataclass(frozen=True)
class Snap:
    """Where a place meets the road network."""

    edge: int  # index into the compiled graph's edge arrays
    fraction: float  # 0 at the tail node, 1 at the head node
    distance_m: float  # straight-line distance from the place to the road
    lon: float
    lat: float


def _right_side(cg: CompiledGraph, edge: int, frac: float, px: float, py: float) -> bool:
    line = cg.geoms[edge]
    d = line.length * frac
    a = line.interpolate(max(0.0, d - 1.0))
    b = line.interpolate(min(line.length, d + 1.0))
    cross = (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x)
    return cross <= 0.0


def snap(
    cg: CompiledGraph,
    lon: float,
    lat: float,
    *,
    max_distance_m: float = DEFAULT_MAX_SNAP_M,
    label: str = "place",
    exclude: frozenset[tuple[int, int]] = frozenset(),
) -> Snap:
    """Snap one place to the nearest usable edge.

    ``exclude`` lists OSM ``(u, v)`` edges the place may not attach to (e.g. where
    stopping is banned); the nearest other edge within ``max_distance_m`` is used.

    Raises
    ------
    SnapError
        When the nearest (allowed) road is farther than ``max_distance_m``.
    """
    x, y = cg.to_local(lon, lat)
    pt = Point(x, y)
    hits = cg.tree.query_nearest(pt, all_matches=True, return_distance=True)
    idx, dists = hits
    if len(idx) == 0:
        raise SnapError(f"{label}: the road network is empty")
    dist = float(dists[0])
    if exclude:
        # Widen the search ring until an edge the place may attach to turns up.
        radius = dist + 50.0
        allowed: list[int] = []
        while True:
            around = cg.tree.query(pt, predicate="dwithin", distance=min(radius, max_distance_m))
            allowed = [
                int(i)
                for i in around
                if cg.edge_osm(int(i)) not in exclude and cg.geoms[int(i)].length > 0
            ]
            if allowed or radius >= max_distance_m:
                break
            radius *= 2
        if not allowed:
            raise SnapError(
                f"{label} ({lat:.6f}, {lon:.6f}): no road where a van may stop within {max_distance_m:.0f} m",
                distance_m=float("inf"),
            )
        dist = float(shapely.distance(np.asarray([cg.geoms[i] for i in allowed]), pt).min())
    if dist > max_distance_m:
        raise SnapError(
            f"{label} ({lat:.6f}, {lon:.6f}) is {dist:.0f} m from the nearest road "
            f"(limit {max_distance_m:.0f} m)",
            distance_m=dist,
        )
    # The two directions of a two-way street share one line, but their computed
    # distances can differ in the last bits, so exact ties (``all_matches``) miss the
    # twin: treat every edge within a millimetre of the nearest as tied.
    near = cg.tree.query(pt, predicate="dwithin", distance=dist + _TIE_M)
    candidates = sorted(int(i) for i in near if cg.edge_osm(int(i)) not in exclude) or [
        int(i) for i in idx
    ]
    choice = candidates[0]
    frac = 0.0
    for e in candidates:
        line = cg.geoms[e]
        f = line.project(pt) / line.length if line.length > 0 else 0.0
        if _right_side(cg, e, f, x, y):
            choice, frac = e, f
            break
    else:
        line = cg.geoms[choice]
        frac = line.project(pt) / line.length if line.length > 0 else 0.0
    on = cg.geoms[choice].interpolate(frac, normalized=True)
    slon, slat = cg.from_local(on.x, on.y)
    return Snap(choice, min(max(frac, 0.0), 1.0), dist, slon, slat)
