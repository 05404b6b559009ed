"""A road graph compiled to arrays for one speed profile: the form matrices and snapping use.

Edge costs are integers: milliseconds and decimetres. Shortest paths run on a CSR
matrix that holds, for each ordered node pair, the *minimum* over parallel edges
(building a CSR from COO sums duplicates, which would silently lengthen roads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import shapely
from shapely.geometry import LineString

from routing.network import RoadNetwork
from routing.speeds import PROFILES, SIGNAL_DELAY_S, edge_speed_kmh

#: Weights are encoded as ``ms * 2**DM_BITS + dm`` so one Dijkstra run yields the
#: fastest path (ties broken by distance) *and* its exact integer length.
DM_BITS = 24
DM_BASE = float(1 << DM_BITS)

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


@dataclass
class CompiledGraph:
    """Arrays for one speed profile over one road network.

    Attributes
    ----------
    osm_ids, lon, lat
        Per node index.
    eu, ev, ekey, ems, edm
        Per edge: tail/head node index, osmnx key, time in ms, length in dm.
    csr
        Encoded minimum weight per (tail, head).
    """

    profile: str
    osm_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    ekey: np.ndarray
    ems: np.ndarray
    edm: np.ndarray
    csr: sp.csr_matrix
    index_of: dict[int, int]
    geoms: list[LineString]  # per edge, in local metres
    tree: shapely.STRtree
    origin: tuple[float, float]  # lon0, lat0 of the local projection
    best: dict[tuple[int, int], int] = field(default_factory=dict)  # cheapest edge per pair

    def to_local(self, lon: float, lat: float) -> tuple[float, float]:
        """Project WGS-84 to local metres (equirectangular; ample for a city)."""
        lon0, lat0 = self.origin
        return (
            (lon - lon0) * _M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)),
            (lat - lat0) * _M_PER_DEG_LAT,
        )

    def from_local(self, x: float, y: float) -> tuple[float, float]:
        """Inverse of :meth:`to_local`."""
        lon0, lat0 = self.origin
        return (
            lon0 + x / (_M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))),
            lat0 + y / _M_PER_DEG_LAT,
        )

    def best_edge(self, u: int, v: int) -> int:
        """Index of the cheapest edge from node index ``u`` to ``v``.

        Raises
        ------
        KeyError
            When no edge joins them in that direction.
        """
        return self.best[(u, v)]

    def edge_osm(self, e: int) -> tuple[int, int]:
        """OSM node ids of edge ``e``."""
        return int(self.osm_ids[self.eu[e]]), int(self.osm_ids[self.ev[e]])


def compile_graph(network: RoadNetwork, profile: str) -> CompiledGraph:
    """Compile ``network`` for a speed ``profile`` (cached on the network object).

    Raises
    ------
    KeyError
        When ``profile`` is not a known speed profile.
    """
    if profile not in PROFILES:
        raise KeyError(f"unknown speed profile {profile!r}; known: {sorted(PROFILES)}")
    cached = network._compiled.get(profile)
    if cached is not None:
        return cached
    g = network.graph
    osm_ids = np.fromiter(g.nodes, dtype=np.int64, count=g.number_of_nodes())
    index_of = {int(n): i for i, n in enumerate(osm_ids)}
    lon = np.array([g.nodes[n]["x"] for n in osm_ids], dtype=float)
    lat = np.array([g.nodes[n]["y"] for n in osm_ids], dtype=float)
    signals = np.array([g.nodes[n].get("highway") == "traffic_signals" for n in osm_ids])
    origin = (float(lon.mean()), float(lat.mean()))

    eu, ev, ekey, ems, edm, geoms = [], [], [], [], [], []
    cos0 = math.cos(math.radians(origin[1]))
    for u, v, k, d in g.edges(keys=True, data=True):
        if u == v:
            continue  # a self-loop never shortens a path
        ui, vi = index_of[u], index_of[v]
        length = float(d.get("length", 0.0))
        kmh = edge_speed_kmh(profile, d.get("highway"), d.get("maxspeed"))
        ms = length / (kmh / 3.6) * 1000.0
        if signals[vi]:
            ms += SIGNAL_DELAY_S * 1000.0
        eu.append(ui)
        ev.append(vi)
        ekey.append(k)
        ems.append(max(1, round(ms)))
        edm.append(max(1, round(length * 10.0)))
        geom = d.get("geometry")
        coords = list(geom.coords) if geom is not None else [(lon[ui], lat[ui]), (lon[vi], lat[vi])]
        geoms.append(
            LineString(
                [
                    ((x - origin[0]) * _M_PER_DEG_LON_EQ * cos0, (y - origin[1]) * _M_PER_DEG_LAT)
                    for x, y in coords
                ]
            )
        )
    eu_a = np.array(eu, dtype=np.int64)
    ev_a = np.array(ev, dtype=np.int64)
    ems_a = np.array(ems, dtype=np.int64)
    edm_a = np.array(edm, dtype=np.int64)
    enc = ems_a.astype(np.float64) * DM_BASE + edm_a.astype(np.float64)

    # Minimum over parallel edges: sort by (tail, head, weight) and keep the first of each pair.
    order = np.lexsort((enc, ev_a, eu_a))
    pair = eu_a[order] * len(osm_ids) + ev_a[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    keep = order[first]
    n = len(osm_ids)
    csr = sp.csr_matrix((enc[keep], (eu_a[keep], ev_a[keep])), shape=(n, n))
    best = {(int(eu_a[e]), int(ev_a[e])): int(e) for e in keep}

    cg = CompiledGraph(
        profile=profile,
        osm_ids=osm_ids,
        lon=lon,
        lat=lat,
        eu=eu_a,
        ev=ev_a,
        ekey=np.array(ekey, dtype=np.int64),
        ems=ems_a,
        edm=edm_a,
        csr=csr,
        index_of=index_of,
        geoms=geoms,
        tree=shapely.STRtree(geoms),
        origin=origin,
        best=best,
    )
    network._compiled[profile] = cg
    return cg
