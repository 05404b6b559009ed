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
from scipy.sparse.csgraph import connected_components
from shapely.geometry import LineString

from routing.network import RoadNetwork
from routing.restrictions import ClassSpec, barred_reason
from routing.speeds import SIGNAL_DELAY_S, edge_speed_kmh

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

    spec: ClassSpec
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
    barred: dict[str, int] = field(default_factory=dict)  # edges removed for the class, by reason
    edge_of: dict[tuple[int, int], list[int]] = field(default_factory=dict)  # OSM (u, v) -> edges
    _variants: dict[frozenset[int], tuple[sp.csr_matrix, dict[tuple[int, int], int]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def profile(self) -> str:
        """The speed profile name."""
        return self.spec.profile

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

    def variant(self, excluded: frozenset[int]) -> tuple[sp.csr_matrix, dict[tuple[int, int], int]]:
        """The CSR and cheapest-edge map without the ``excluded`` edge indices (memoised)."""
        if not excluded:
            return self.csr, self.best
        hit = self._variants.get(excluded)
        if hit is None:
            keep = np.ones(len(self.eu), dtype=bool)
            keep[list(excluded)] = False
            hit = _min_csr(self.eu, self.ev, self.ems, self.edm, len(self.osm_ids), keep)
            if len(self._variants) > 64:
                self._variants.clear()
            self._variants[excluded] = hit
        return hit

    def edges_between(self, pairs: frozenset[tuple[int, int]]) -> frozenset[int]:
        """Edge indices of the OSM ``(u, v)`` pairs (both parallel edges if there are two)."""
        return frozenset(e for p in pairs for e in self.edge_of.get(p, ()))

    def edge_osm(self, e: int) -> tuple[int, int]:
        """OSM node ids of edge ``e``."""
        return int(self.osm_ids[self.eu[e]]), int(self.osm_ids[self.ev[e]])


def _min_csr(
    eu: np.ndarray, ev: np.ndarray, ems: np.ndarray, edm: np.ndarray, n: int, keep: np.ndarray
) -> tuple[sp.csr_matrix, dict[tuple[int, int], int]]:
    """CSR of encoded weights holding the minimum over parallel kept edges, and the edge chosen."""
    idx = np.flatnonzero(keep)
    enc = ems[idx].astype(np.float64) * DM_BASE + edm[idx].astype(np.float64)
    # Sort by (tail, head, weight) and keep the first of each pair: a COO->CSR conversion
    # would *sum* parallel edges instead.
    order = np.lexsort((enc, ev[idx], eu[idx]))
    pair = eu[idx][order] * n + ev[idx][order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    sel = order[first]
    chosen = idx[sel]
    csr = sp.csr_matrix((enc[sel], (eu[chosen], ev[chosen])), shape=(n, n))
    best = {(int(eu[e]), int(ev[e])): int(e) for e in chosen}
    return csr, best


def compile_graph(network: RoadNetwork, spec: ClassSpec | str) -> CompiledGraph:
    """Compile ``network`` for a vehicle class (cached on the network object).

    Edges the class may never use (``hgv=no``, ``maxweight`` below its weight, ...) are
    left out, so neither snapping nor routing can touch them; edges that this cuts off
    from the class's largest strongly connected part are kept for routing but never
    snapped to. A plain profile name compiles for a light goods vehicle of that profile
    with no dimension limits hit.

    Raises
    ------
    ProblemError
        When the profile is unknown.
    """
    if isinstance(spec, str):
        spec = ClassSpec(spec)
    cached = network._compiled.get(spec)
    if cached is not None:
        return cached
    overrides = dict(spec.speed_overrides)
    g = network.graph
    osm_ids = np.fromiter(g.nodes, dtype=np.int64, count=g.number_of_nodes())
    index_of = {int(n): i for i, n in enumerate(osm_ids)}
    lon = np.array([g.nodes[n]["x"] for n in osm_ids], dtype=float)
    lat = np.array([g.nodes[n]["y"] for n in osm_ids], dtype=float)
    signals = np.array([g.nodes[n].get("highway") == "traffic_signals" for n in osm_ids])
    origin = (float(lon.mean()), float(lat.mean()))

    barred: dict[str, int] = {}
    eu, ev, ekey, ems, edm, geoms = [], [], [], [], [], []
    cos0 = math.cos(math.radians(origin[1]))
    for u, v, k, d in g.edges(keys=True, data=True):
        if u == v:
            continue  # a self-loop never shortens a path
        reason = barred_reason(spec, d)
        if reason is not None:
            barred[reason] = barred.get(reason, 0) + 1
            continue
        ui, vi = index_of[u], index_of[v]
        length = float(d.get("length", 0.0))
        kmh = edge_speed_kmh(spec.profile, d.get("highway"), d.get("maxspeed"), overrides=overrides)
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
    n = len(osm_ids)
    csr, best = _min_csr(eu_a, ev_a, ems_a, edm_a, n, np.ones(len(eu_a), dtype=bool))
    # Barred edges can cut off pockets the class may enter but not leave (or the reverse):
    # only edges inside its largest strongly connected part are offered to snapping.
    _, label = connected_components(csr, directed=True, connection="strong")
    main = np.bincount(label).argmax() if n else 0
    snappable = (label[eu_a] == main) & (label[ev_a] == main)

    cg = CompiledGraph(
        spec=spec,
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
        tree=shapely.STRtree(
            [gm if ok else LineString() for gm, ok in zip(geoms, snappable, strict=True)]
        ),
        origin=origin,
        best=best,
        barred=barred,
    )
    for e in range(len(eu_a)):
        cg.edge_of.setdefault((int(osm_ids[eu_a[e]]), int(osm_ids[ev_a[e]])), []).append(e)
    network._compiled[spec] = cg
    return cg
