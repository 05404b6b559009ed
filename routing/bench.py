"""Matrix benchmark: compiled-CSR many-to-many against a networkx Dijkstra baseline
measured in the same run (on a sample of sources, extrapolated)."""

from __future__ import annotations

import resource
import time
from typing import Any

import networkx as nx
import numpy as np

from routing.compiled import compile_graph
from routing.matrix import TravelMatrix
from routing.network import RoadNetwork
from routing.snap import snap


def _peak_rss_mb() -> float:
    """Peak resident memory so far of this process or any finished worker, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def random_places(network: RoadNetwork, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` seeded (lon, lat) points near random graph nodes."""
    rng = np.random.default_rng(seed)
    nodes = list(network.graph.nodes)
    pick = rng.choice(len(nodes), size=n, replace=n > len(nodes))
    g = network.graph
    return [
        (g.nodes[nodes[i]]["x"] + rng.normal(0, 2e-4), g.nodes[nodes[i]]["y"] + rng.normal(0, 2e-4))
        for i in pick
    ]


def run_matrix_bench(
    network: RoadNetwork,
    *,
    sizes: list[int],
    seed: int = 1,
    profile: str = "light_truck",
    baseline_sources: int = 10,
    workers: int = 1,
    label: str = "bundled",
) -> list[dict[str, Any]]:
    """Time an N x N matrix for each size; report the speed-up over networkx."""
    cg = compile_graph(network, profile)
    # networkx baseline: single-source Dijkstra on a DiGraph with the same integer weights.
    dg = nx.DiGraph()
    for e in range(len(cg.eu)):
        u, v, w = int(cg.eu[e]), int(cg.ev[e]), int(cg.ems[e])
        if not dg.has_edge(u, v) or dg[u][v]["w"] > w:
            dg.add_edge(u, v, w=w)
    rows = []
    for n in sizes:
        pts = random_places(network, n, seed + n)
        snaps = [snap(cg, x, y, max_distance_m=10_000) for x, y in pts]
        t = time.perf_counter()
        TravelMatrix(cg, snaps, workers=workers)
        secs = time.perf_counter() - t
        k = min(baseline_sources, n)
        t = time.perf_counter()
        for s in snaps[:k]:
            nx.single_source_dijkstra_path_length(dg, int(cg.ev[s.edge]), weight="w")
        nx_secs = (time.perf_counter() - t) / k * n
        rows.append(
            {
                "graph": label,
                "workers": workers,
                "graph_nodes": len(cg.osm_ids),
                "n": n,
                "seconds": secs,
                "peak_rss_mb": _peak_rss_mb(),
                "networkx_seconds_est": nx_secs,
                "speedup_vs_networkx": nx_secs / secs if secs else 0.0,
            }
        )
    return rows
