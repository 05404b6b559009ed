"""Road graph loading, compilation, snapping and travel matrices on the bundled extract."""

from __future__ import annotations

import bz2
import itertools
import math
import random
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point

from dispatch.cli import main as cli_main
from routing.compiled import DM_BASE, CompiledGraph, compile_graph
from routing.errors import NetworkError, ProblemError, SnapError
from routing.matrix import TravelMatrix
from routing.network import LoadReport, RoadNetwork, load_network
from routing.snap import Snap, snap

# --------------------------------------------------------------------------- helpers

_FOOTWAY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="loopvan-tests">
  <node id="1" lat="22.5400" lon="114.0500"/>
  <node id="2" lat="22.5410" lon="114.0500"/>
  <node id="3" lat="22.5410" lon="114.0510"/>
  <node id="4" lat="22.5420" lon="114.0510"/>
  <way id="10">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="footway"/>
  </way>
  <way id="11">
    <nd ref="3"/><nd ref="4"/>
    <tag k="highway" v="steps"/>
  </way>
</osm>
"""

_TWO_ROADS_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="loopvan-tests">
  <node id="1" lat="22.5400" lon="114.0500"/>
  <node id="2" lat="22.5410" lon="114.0500"/>
  <node id="3" lat="22.5420" lon="114.0500"/>
  <node id="4" lat="22.5410" lon="114.0510"/>
  <way id="10">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="11">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="footway"/>
  </way>
</osm>
"""


def _encoded(cg: CompiledGraph, e: int) -> int:
    """The exact integer weight the CSR holds for edge ``e``."""
    return int(cg.ems[e]) * (1 << 24) + int(cg.edm[e])


def _beside(cg: CompiledGraph, e: int, side: int, offset_m: float = 5.0) -> tuple[float, float]:
    """A point ``offset_m`` from the middle of edge ``e``: side +1 is its right, -1 its left."""
    line = cg.geoms[e]
    half = line.length / 2
    a, b, mid = line.interpolate(half - 1), line.interpolate(half + 1), line.interpolate(half)
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy)
    rx, ry = dy / norm, -dx / norm  # right-hand normal of the direction of travel
    return mid.x + side * offset_m * rx, mid.y + side * offset_m * ry


def _lonely_edges(cg: CompiledGraph, graph: nx.MultiDiGraph, *, two_way: bool) -> list[int]:
    """Edges >= 60 m whose middle has no other road within 25 m (but its own twin)."""
    out = []
    for e in range(len(cg.eu)):
        if cg.geoms[e].length < 60:
            continue
        u, v = cg.edge_osm(e)
        if graph.has_edge(v, u) != two_way:
            continue
        if two_way and graph.number_of_edges(u, v) + graph.number_of_edges(v, u) != 2:
            continue
        near = cg.tree.query(Point(*_beside(cg, e, 1, 0.0)).buffer(25))
        if len(near) == (2 if two_way else 1):
            out.append(e)
    return out


@pytest.fixture(scope="module")
def seeded_snaps(light_truck_graph: CompiledGraph) -> list[Snap]:
    """About 30 seeded random places in Futian, snapped (places off the network skipped)."""
    rng = random.Random(20241006)
    snaps = []
    for _ in range(32):
        lon, lat = rng.uniform(114.00, 114.07), rng.uniform(22.52, 22.56)
        try:
            snaps.append(snap(light_truck_graph, lon, lat))
        except SnapError:
            continue
    assert len(snaps) >= 25, "too few seeded places snapped to test the matrix"
    return snaps


@pytest.fixture(scope="module")
def seeded_matrix(light_truck_graph: CompiledGraph, seeded_snaps: list[Snap]) -> TravelMatrix:
    """The travel matrix over the seeded places."""
    return TravelMatrix(light_truck_graph, seeded_snaps)


# --------------------------------------------------------------------------- matrix


def test_matrix_matches_networkx_shortest_paths(
    light_truck_graph: CompiledGraph, seeded_snaps: list[Snap], seeded_matrix: TravelMatrix
) -> None:
    """Every matrix entry equals an independent networkx Dijkstra over the same edge weights
    (min over parallel edges) plus the partial edges at both ends: within 1 s and 1 m."""
    cg = light_truck_graph
    dg = nx.DiGraph()
    for e in range(len(cg.eu)):
        u, v, w = int(cg.eu[e]), int(cg.ev[e]), _encoded(cg, e)
        if not dg.has_edge(u, v) or dg[u][v]["w"] > w:
            dg.add_edge(u, v, w=w)
    n = len(seeded_snaps)
    checked = 0
    for i, a in enumerate(seeded_snaps):
        head = int(cg.ev[a.edge])
        dist = nx.single_source_dijkstra_path_length(dg, head, weight="w")
        for j, b in enumerate(seeded_snaps):
            if i == j:
                exp_ms, exp_dm = 0.0, 0.0
            elif a.edge == b.edge and b.fraction >= a.fraction:
                exp_ms = (b.fraction - a.fraction) * cg.ems[a.edge]
                exp_dm = (b.fraction - a.fraction) * cg.edm[a.edge]
            else:
                mid = dist[int(cg.eu[b.edge])]
                mid_ms, mid_dm = divmod(mid, 1 << 24)
                exp_ms = (1 - a.fraction) * cg.ems[a.edge] + mid_ms + b.fraction * cg.ems[b.edge]
                exp_dm = (1 - a.fraction) * cg.edm[a.edge] + mid_dm + b.fraction * cg.edm[b.edge]
            assert abs(seeded_matrix.seconds[i, j] - exp_ms / 1000) <= 1.0, (i, j)
            assert abs(seeded_matrix.metres[i, j] - exp_dm / 10) <= 1.0, (i, j)
            checked += 1
    assert checked == n * n
    off_diag = seeded_matrix.seconds[~np.eye(n, dtype=bool)]
    assert (off_diag > 0).all(), "distinct places must be a positive drive apart"


def test_matrix_has_zero_diagonal_and_is_asymmetric(seeded_matrix: TravelMatrix) -> None:
    """A place is 0 s from itself; one-way streets make at least some legs asymmetric."""
    assert (np.diag(seeded_matrix.seconds) == 0).all()
    assert (np.diag(seeded_matrix.metres) == 0).all()
    assert (seeded_matrix.seconds != seeded_matrix.seconds.T).any()


def test_leg_nodes_follow_graph_edges(
    bundled_network: RoadNetwork, seeded_snaps: list[Snap], seeded_matrix: TravelMatrix
) -> None:
    """Each leg runs head-of-start-edge to tail-of-end-edge over real graph edges, its node
    enter offsets never decrease, and it ends when the matrix says it arrives (within 1 s)."""
    g = bundled_network.graph
    cg = seeded_matrix.cg
    n = len(seeded_snaps)
    walked = 0
    for i, j in itertools.product(range(n), range(n)):
        leg = seeded_matrix.leg(i, j)
        assert leg.seconds == seeded_matrix.seconds[i, j]
        assert leg.metres == seeded_matrix.metres[i, j]
        if not leg.nodes:
            continue
        walked += 1
        assert leg.nodes[0] == leg.start_edge[1]
        assert leg.nodes[-1] == leg.end_edge[0]
        assert g.has_edge(*leg.start_edge)
        assert g.has_edge(*leg.end_edge)
        for u, v in itertools.pairwise(leg.nodes):
            assert g.has_edge(u, v), f"leg {i}->{j}: {u}->{v} is not a road of the graph"
        assert len(leg.node_offsets_ms) == len(leg.nodes)
        assert all(a <= b for a, b in itertools.pairwise(leg.node_offsets_ms))
        b = seeded_snaps[j]
        arrive_ms = leg.node_offsets_ms[-1] + b.fraction * float(cg.ems[b.edge])
        assert abs(arrive_ms / 1000 - leg.seconds) <= 1.0
    assert walked >= n * (n - 1) // 2, "most legs should cross at least one node"


# --------------------------------------------------------------------------- parallel edges


def test_csr_keeps_minimum_of_parallel_edges_in_bundled_graph(
    light_truck_graph: CompiledGraph,
) -> None:
    """For node pairs joined by several edges, the CSR holds the cheapest, not their sum."""
    cg = light_truck_graph
    by_pair: dict[tuple[int, int], list[int]] = {}
    for e in range(len(cg.eu)):
        by_pair.setdefault((int(cg.eu[e]), int(cg.ev[e])), []).append(e)
    parallel = {p: es for p, es in by_pair.items() if len(es) > 1}
    assert parallel, "the bundled graph is expected to hold parallel edges"
    for (u, v), es in parallel.items():
        weights = [_encoded(cg, e) for e in es]
        assert cg.csr[u, v] == min(weights)
        assert cg.best_edge(u, v) in es
        assert _encoded(cg, cg.best_edge(u, v)) == min(weights)


def test_csr_keeps_minimum_of_parallel_edges_synthetic() -> None:
    """Two parallel roads of 100 m and 300 m between the same nodes compile to the 100 m one."""
    g = nx.MultiDiGraph()
    g.add_node(1, x=114.05, y=22.54)
    g.add_node(2, x=114.051, y=22.54)
    g.add_edge(1, 2, key=0, length=300.0, highway="residential")
    g.add_edge(1, 2, key=1, length=100.0, highway="residential")
    g.add_edge(2, 1, key=0, length=100.0, highway="residential")
    net = RoadNetwork(g, LoadReport("synthetic", "0" * 64, 2, 3, 0, 0, False))
    cg = compile_graph(net, "light_truck")
    i, j = cg.index_of[1], cg.index_of[2]
    short = next(e for e in range(len(cg.eu)) if cg.ekey[e] == 1)
    long_ = next(
        e for e in range(len(cg.eu)) if cg.ekey[e] == 0 and cg.eu[e] == i and cg.ev[e] == j
    )
    assert cg.edm[short] == 1000 and cg.edm[long_] == 3000
    assert cg.csr[i, j] == _encoded(cg, short)
    assert cg.csr[i, j] < _encoded(cg, short) + _encoded(cg, long_)
    assert cg.best_edge(i, j) == short
    assert cg.csr[i, j] % DM_BASE == 1000  # the exact decimetres survive the encoding
    with pytest.raises(ProblemError):
        compile_graph(net, "hovercraft")


# --------------------------------------------------------------------------- snapping


def test_snap_beside_one_way_keeps_its_direction(
    bundled_network: RoadNetwork, light_truck_graph: CompiledGraph
) -> None:
    """A place 5 m either side of a one-way street snaps onto that street's legal direction."""
    g, cg = bundled_network.graph, light_truck_graph
    edges = _lonely_edges(cg, g, two_way=False)[:10]
    assert edges, "the bundled graph is expected to hold isolated one-way streets"
    for e in edges:
        u, v = cg.edge_osm(e)
        assert not g.has_edge(v, u)
        for side in (1, -1):
            lon, lat = cg.from_local(*_beside(cg, e, side))
            s = snap(cg, lon, lat)
            assert cg.edge_osm(s.edge) == (u, v)
            assert g.has_edge(*cg.edge_osm(s.edge))
            assert s.distance_m == pytest.approx(5.0, abs=0.05)
            assert 0.4 < s.fraction < 0.6


def test_snap_on_two_way_street_takes_the_right_hand_kerb(
    bundled_network: RoadNetwork, light_truck_graph: CompiledGraph
) -> None:
    """On a two-way street a place is reached along the direction whose right side faces it
    (China drives on the right), on whichever side of the street it stands."""
    g, cg = bundled_network.graph, light_truck_graph
    edges = _lonely_edges(cg, g, two_way=True)[:60]
    assert len(edges) >= 30
    for e in edges:
        u, v = cg.edge_osm(e)
        for side, expected in ((1, (u, v)), (-1, (v, u))):
            lon, lat = cg.from_local(*_beside(cg, e, side))
            assert cg.edge_osm(snap(cg, lon, lat).edge) == expected, (e, side)


def test_snap_far_from_any_road_raises_with_distance(light_truck_graph: CompiledGraph) -> None:
    """A place more than 500 m from every road is refused, naming how far it is."""
    with pytest.raises(SnapError) as info:
        snap(light_truck_graph, 114.03, 22.49, label="booking BK-1")
    err = info.value
    assert err.distance_m is not None and err.distance_m > 500
    assert f"{err.distance_m:.0f} m" in str(err)
    assert "booking BK-1" in str(err)
    assert "limit 500 m" in str(err)


def test_snap_limit_is_configurable(
    bundled_network: RoadNetwork, light_truck_graph: CompiledGraph
) -> None:
    """A place 5 m from a road passes a 10 m limit and fails a 2 m one."""
    cg = light_truck_graph
    e = _lonely_edges(cg, bundled_network.graph, two_way=False)[0]
    lon, lat = cg.from_local(*_beside(cg, e, 1))
    assert snap(cg, lon, lat, max_distance_m=10).distance_m < 10
    with pytest.raises(SnapError):
        snap(cg, lon, lat, max_distance_m=2)


# --------------------------------------------------------------------------- loading


def test_bundled_network_is_strongly_connected(bundled_network: RoadNetwork) -> None:
    """The loaded graph is one strongly connected component of drivable roads only."""
    g = bundled_network.graph
    assert g.number_of_nodes() > 1000
    assert nx.is_strongly_connected(g)
    assert bundled_network.report.nodes == g.number_of_nodes()
    assert bundled_network.report.edges == g.number_of_edges()
    kinds = {k for _u, _v, hw in g.edges(data="highway") for k in np.atleast_1d(hw)}
    assert not kinds & {"footway", "steps", "cycleway", "path", "pedestrian"}


def test_load_uses_and_fills_the_cache(tmp_path: Path) -> None:
    """A second load of the same file comes from the cache and yields the same graph."""
    src = tmp_path / "two.osm"
    src.write_text(_TWO_ROADS_OSM, encoding="utf-8")
    first = load_network(src, cache_dir=tmp_path / "cache")
    second = load_network(src, cache_dir=tmp_path / "cache")
    assert not first.report.from_cache
    assert second.report.from_cache
    assert sorted(first.graph.edges()) == sorted(second.graph.edges())
    assert list((tmp_path / "cache").glob("graph-*.pickle"))


def test_load_drops_footways_next_to_roads(tmp_path: Path) -> None:
    """Footways in an otherwise drivable file are not part of the road graph."""
    src = tmp_path / "mixed.osm"
    src.write_text(_TWO_ROADS_OSM, encoding="utf-8")
    g = load_network(src, use_cache=False).graph
    assert g.number_of_edges() == 4  # the residential street, split where the footway met it
    assert 4 not in g
    assert {d["highway"] for _u, _v, d in g.edges(data=True)} == {"residential"}


def test_load_text_file_is_not_osm(tmp_path: Path) -> None:
    """A file that is not OSM XML is refused with a plain message."""
    bad = tmp_path / "notes.osm"
    bad.write_text("these are not the roads you are looking for\n", encoding="utf-8")
    with pytest.raises(NetworkError, match="not an OpenStreetMap XML"):
        load_network(bad, use_cache=False)


def test_load_bz2_text_file_is_not_osm(tmp_path: Path) -> None:
    """A bz2 file whose content is not OSM XML is refused the same way."""
    bad = tmp_path / "notes.osm.bz2"
    bad.write_bytes(bz2.compress(b"name,lat,lon\nx,22.5,114.0\n"))
    with pytest.raises(NetworkError, match="not an OpenStreetMap XML"):
        load_network(bad, use_cache=False)


def test_load_osm_without_drivable_way(tmp_path: Path) -> None:
    """Valid OSM XML holding only footways and steps is refused: no drivable way."""
    src = tmp_path / "park.osm"
    src.write_text(_FOOTWAY_OSM, encoding="utf-8")
    with pytest.raises(NetworkError, match="holds no drivable way"):
        load_network(src, use_cache=False)


def test_load_osm_without_ways(tmp_path: Path) -> None:
    """Valid OSM XML with nodes but no way at all is refused as NetworkError too."""
    src = tmp_path / "nodes.osm"
    src.write_text(
        '<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="22.5" lon="114.0"/></osm>\n',
        encoding="utf-8",
    )
    with pytest.raises(NetworkError, match="holds no drivable way"):
        load_network(src, use_cache=False)


def test_load_missing_file(tmp_path: Path) -> None:
    """A missing file is refused as NetworkError naming the path."""
    missing = tmp_path / "nowhere.osm.bz2"
    with pytest.raises(NetworkError, match="no such file") as info:
        load_network(missing, use_cache=False)
    assert str(missing) in str(info.value)


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("content", ["not xml at all\n", _FOOTWAY_OSM])
def test_cli_network_build_bad_file_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
) -> None:
    """`loopvan network build --osm BAD` exits 2 with a one-line error and no traceback."""
    monkeypatch.setenv("LOOPVAN_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "bad.osm"
    bad.write_text(content, encoding="utf-8")
    code = cli_main(["network", "build", "--osm", str(bad)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("loopvan: error:")
    assert str(bad) in err
    assert "Traceback" not in err and "Traceback" not in out
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_cli_network_build_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`loopvan network build --osm MISSING` exits 2 saying the file does not exist."""
    code = cli_main(["network", "build", "--osm", str(tmp_path / "absent.osm"), "--no-cache"])
    _out, err = capsys.readouterr()
    assert code == 2
    assert "no such file" in err
    assert "Traceback" not in err
