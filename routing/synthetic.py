"""Synthetic road networks for benchmarks: a perturbed street grid of any size.

Not a model of any real city; it gives the matrix benchmark a graph of 100,000+ nodes
with a realistic mix of road types, one-way streets and parallel edges.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from routing.network import LoadReport, RoadNetwork


def grid_network(n_nodes: int, *, seed: int = 0, spacing_m: float = 120.0) -> RoadNetwork:
    """A strongly connected grid of about ``n_nodes`` nodes centred on Shenzhen."""
    side = math.ceil(math.sqrt(n_nodes))
    rng = np.random.default_rng(seed)
    lat0, lon0 = 22.40, 113.80
    dlat = spacing_m / 110_574.0
    dlon = spacing_m / (111_320.0 * math.cos(math.radians(lat0)))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    jitter = rng.normal(0, 0.15, size=(side, side, 2))
    for r in range(side):
        for c in range(side):
            g.add_node(
                r * side + c + 1,
                y=lat0 + (r + jitter[r, c, 0]) * dlat,
                x=lon0 + (c + jitter[r, c, 1]) * dlon,
            )

    def kind(i: int) -> str:
        return (
            "primary"
            if i % 20 == 0
            else "secondary"
            if i % 10 == 0
            else "tertiary"
            if i % 5 == 0
            else "residential"
        )

    def add(a: int, b: int, hw: str, oneway: bool) -> None:
        length = spacing_m * float(rng.uniform(0.9, 1.3))
        g.add_edge(a, b, highway=hw, length=length, oneway=oneway)
        if not oneway:
            g.add_edge(b, a, highway=hw, length=length, oneway=oneway)

    for r in range(side):
        for c in range(side):
            u = r * side + c + 1
            if c + 1 < side:
                hw = kind(r)
                # Residential rows alternate one-way directions, keeping the grid strongly connected.
                oneway = hw == "residential" and r % 3 == 1
                a, b = (u, u + 1) if r % 2 else (u + 1, u)
                add(a, b, hw, oneway)
            if r + 1 < side:
                add(u, u + side, kind(c), False)
    # A few parallel service roads: the CSR must keep the cheaper of the two.
    for u in rng.choice(g.number_of_nodes() - side, size=side, replace=False):
        u = int(u) + 1
        if g.has_edge(u, u + side):
            g.add_edge(u, u + side, highway="service", length=spacing_m * 1.5, oneway=False)
    report = LoadReport(
        "synthetic-grid",
        f"grid-{side}-{seed}",
        g.number_of_nodes(),
        g.number_of_edges(),
        0,
        0,
        False,
    )
    return RoadNetwork(g, report)
