"""Many-to-many travel times and distances between snapped places, with leg paths.

One Dijkstra per distinct source node on the compiled CSR graph (scipy csgraph),
weights encoded so the fastest path and its exact length come from a single run.
Sources run in memory-bounded batches, optionally on several processes; leg paths
are rebuilt on demand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from routing.compiled import DM_BASE, CompiledGraph
from routing.errors import RoutingError
from routing.snap import Snap


@dataclass(frozen=True)
class Leg:
    """A leg between two places: the OSM nodes traversed and when each is entered.

    ``keys`` names the exact edge between each consecutive pair of ``nodes`` (the osmnx
    edge key: parallel edges join some node pairs), ``start_key``/``end_key`` those of
    ``start_edge``/``end_edge``; the fractions place the two ends along their edges.
    """

    seconds: int
    metres: int
    nodes: list[int]  # OSM node ids from the head of the start edge to the tail of the end edge
    node_offsets_ms: list[int]  # ms after departure at which each node is entered
    start_edge: tuple[int, int]  # OSM (u, v) of the edge the leg starts on
    end_edge: tuple[int, int]
    keys: list[int] = field(default_factory=list)  # osmnx key per consecutive pair of nodes
    start_key: int = 0  # osmnx key of start_edge
    end_key: int = 0  # osmnx key of end_edge
    start_fraction: float = 0.0  # where the leg starts along start_edge (0: its tail)
    end_fraction: float = 0.0  # where it ends along end_edge


#: Seconds / metres reported for a pair with no path (about 115 days: never feasible).
UNREACHABLE = 10**7


#: Floats held at once per Dijkstra batch (sources x graph nodes): bounds peak memory.
BATCH_FLOATS = 16_000_000

_worker_csr: list[sp.csr_matrix] = []


def _init_worker(csr: sp.csr_matrix) -> None:
    _worker_csr[:] = [csr]


def _batch(args: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    sources, targets = args
    rows: np.ndarray = dijkstra(_worker_csr[0], directed=True, indices=sources)
    return rows[:, targets]


def node_rows(
    csr: sp.csr_matrix, sources: np.ndarray, targets: np.ndarray, *, workers: int = 1
) -> np.ndarray:
    """Encoded shortest-path weights from each source node to each target node.

    Runs Dijkstra in batches so that at most :data:`BATCH_FLOATS` distances are held at
    once, on ``workers`` processes when more than one.
    """
    out = np.empty((len(sources), len(targets)))
    if len(sources) == 0:
        return out
    step = max(1, min(len(sources), BATCH_FLOATS // max(1, csr.shape[0])))
    if workers > 1 and len(sources) > 1:
        step = max(1, min(step, -(-len(sources) // (2 * workers))))
    batches = [(sources[k : k + step], targets) for k in range(0, len(sources), step)]
    if workers > 1 and len(batches) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(csr,)
        ) as ex:
            parts = list(ex.map(_batch, batches))
    else:
        _init_worker(csr)
        parts = [_batch(b) for b in batches]
    k = 0
    for part in parts:
        out[k : k + len(part)] = part
        k += len(part)
    return out


class TravelMatrix:
    """Travel times (s) and distances (m) between places for one compiled graph.

    Parameters
    ----------
    cg
        The road graph compiled for one vehicle class.
    snaps
        The places, snapped with :func:`routing.snap.snap` on ``cg``.
    forbidden
        OSM ``(u, v)`` pairs that may not be used (a road-rules time band); pairs that
        then have no path get :data:`UNREACHABLE` and ``reachable`` False.
    workers
        Processes for the Dijkstra runs (1: in this process).
    """

    def __init__(
        self,
        cg: CompiledGraph,
        snaps: list[Snap],
        forbidden: frozenset[tuple[int, int]] = frozenset(),
        *,
        workers: int = 1,
    ) -> None:
        self.cg = cg
        self.snaps = snaps
        self.forbidden = forbidden
        excluded = cg.edges_between(forbidden)
        csr, self._best = cg.variant(excluded)
        heads = np.array([cg.ev[s.edge] for s in snaps], dtype=np.int64)
        tails = np.array([cg.eu[s.edge] for s in snaps], dtype=np.int64)
        self._csr = csr
        self._pred: dict[int, np.ndarray] = {}
        self._src_nodes, src_pos = np.unique(heads, return_inverse=True)
        rows = node_rows(csr, self._src_nodes, tails, workers=workers)
        enc = rows[src_pos]  # node-to-node part, (n, n)
        finite = np.isfinite(enc)
        enc = np.where(finite, enc, 0.0)
        mid_ms = np.floor(enc / DM_BASE)
        mid_dm = enc - mid_ms * DM_BASE
        e = np.array([s.edge for s in snaps], dtype=np.int64)
        f = np.array([s.fraction for s in snaps], dtype=float)
        e_ms = cg.ems[e].astype(float)
        e_dm = cg.edm[e].astype(float)
        out_ms = (1.0 - f) * e_ms  # from the place to the head of its edge
        out_dm = (1.0 - f) * e_dm
        in_ms = f * e_ms  # from the tail of the edge to the place
        in_dm = f * e_dm
        ms = out_ms[:, None] + mid_ms + in_ms[None, :]
        dm = out_dm[:, None] + mid_dm + in_dm[None, :]
        # Same edge, target ahead of the source: drive straight along it.
        same = (e[:, None] == e[None, :]) & (f[None, :] >= f[:, None])
        ms = np.where(same, (f[None, :] - f[:, None]) * e_ms[:, None], ms)
        dm = np.where(same, (f[None, :] - f[:, None]) * e_dm[:, None], dm)
        # A place whose own edge is forbidden can be neither left nor reached.
        blocked = np.array([s.edge in excluded for s in snaps], dtype=bool)
        ok = (finite | same) & ~blocked[:, None] & ~blocked[None, :]
        np.fill_diagonal(ok, True)
        ms = np.where(ok, ms, 0.0)
        dm = np.where(ok, dm, 0.0)
        np.fill_diagonal(ms, 0.0)
        np.fill_diagonal(dm, 0.0)
        self.reachable = ok
        self.seconds = np.where(ok, np.rint(ms / 1000.0), UNREACHABLE).astype(np.int64)
        self.metres = np.where(ok, np.rint(dm / 10.0), UNREACHABLE).astype(np.int64)

    def leg(self, i: int, j: int) -> Leg:
        """The road path of the leg from place ``i`` to place ``j``.

        Raises
        ------
        RoutingError
            When ``j`` cannot be reached from ``i``.
        """
        cg = self.cg
        if not self.reachable[i, j]:
            raise RoutingError(f"no path from place {i} to place {j} for class {cg.profile}")
        a, b = self.snaps[i], self.snaps[j]
        start_edge = cg.edge_osm(a.edge)
        end_edge = cg.edge_osm(b.edge)
        sk, ek = int(cg.ekey[a.edge]), int(cg.ekey[b.edge])
        sf, ef = float(a.fraction), float(b.fraction)
        if i == j or (a.edge == b.edge and b.fraction >= a.fraction):
            return Leg(
                int(self.seconds[i, j]),
                int(self.metres[i, j]),
                [],
                [],
                start_edge,
                end_edge,
                start_key=sk,
                end_key=ek,
                start_fraction=sf,
                end_fraction=ef,
            )
        src = int(cg.ev[a.edge])
        dst = int(cg.eu[b.edge])
        row = self._pred.get(src)
        if row is None:
            # Paths are rebuilt on demand from one extra single-source run: keeping
            # predecessors for every source would cost sources x graph nodes of memory.
            _, pred = dijkstra(self._csr, directed=True, indices=[src], return_predecessors=True)
            row = pred[0]
            if len(self._pred) > 1024:
                self._pred.clear()
            self._pred[src] = row
        path = [dst]
        while path[-1] != src:
            p = int(row[path[-1]])
            if p < 0:
                raise RoutingError(f"no path from place {i} to place {j}")
            path.append(p)
        path.reverse()
        t = (1.0 - a.fraction) * float(cg.ems[a.edge])
        offsets = [round(t)]
        keys = []
        for u, v in itertools.pairwise(path):
            e = self._best[(u, v)]
            t += float(cg.ems[e])
            offsets.append(round(t))
            keys.append(int(cg.ekey[e]))
        return Leg(
            int(self.seconds[i, j]),
            int(self.metres[i, j]),
            [int(cg.osm_ids[p]) for p in path],
            offsets,
            start_edge,
            end_edge,
            keys,
            start_key=sk,
            end_key=ek,
            start_fraction=sf,
            end_fraction=ef,
        )


class MatrixCache:
    """Matrices computed once per (class, places, forbidden set) within a planning run.

    A run asks for the same matrix many times (one per time band and class, again for
    repair and for legs); keys are the compiled class, the snapped places and the
    forbidden OSM edge pairs.
    """

    def __init__(self, *, workers: int = 1) -> None:
        self.workers = workers
        self._store: dict[tuple[object, ...], TravelMatrix] = {}
        self.hits = 0
        self.misses = 0

    def get(
        self,
        cg: CompiledGraph,
        snaps: list[Snap],
        forbidden: frozenset[tuple[int, int]] = frozenset(),
    ) -> TravelMatrix:
        """The matrix for these inputs, computing it on first use."""
        key = (cg.spec, id(cg), tuple((s.edge, s.fraction) for s in snaps), forbidden)
        tm = self._store.get(key)
        if tm is None:
            self.misses += 1
            tm = TravelMatrix(cg, snaps, forbidden, workers=self.workers)
            self._store[key] = tm
        else:
            self.hits += 1
        return tm
