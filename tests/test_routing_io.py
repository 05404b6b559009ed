"""Reading .osm.pbf, the network CLI, the matrix cache and the matrix benchmark's report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dispatch.cli import main
from routing.bench import run_matrix_bench
from routing.compiled import compile_graph
from routing.errors import NetworkError
from routing.matrix import MatrixCache, TravelMatrix
from routing.network import DEFAULT_OSM, RoadNetwork, load_network
from routing.snap import snap
from routing.synthetic import grid_network

osmium = pytest.importorskip("osmium", reason="pyosmium (extra 'pbf') is not installed")


@pytest.fixture(scope="module")
def pbf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled extract re-encoded as .osm.pbf with pyosmium."""
    out = tmp_path_factory.mktemp("pbf") / "sz.osm.pbf"
    w = osmium.SimpleWriter(str(out))
    for o in osmium.FileProcessor(str(DEFAULT_OSM)):
        if isinstance(o, osmium.osm.Node):
            w.add_node(o)
        elif isinstance(o, osmium.osm.Way):
            w.add_way(o)
    w.close()
    return out


def test_pbf_loads_to_the_same_graph_as_xml(
    pbf_file: Path, network: RoadNetwork, tmp_path: Path
) -> None:
    """An .osm.pbf of the same data gives the same drivable graph as the OSM XML."""
    net = load_network(pbf_file, cache_dir=tmp_path)
    assert net.report.nodes == network.report.nodes
    assert net.report.edges == network.report.edges
    assert set(net.graph.nodes) == set(network.graph.nodes)


def test_a_broken_pbf_is_a_network_error(tmp_path: Path) -> None:
    """A file named .osm.pbf that is not one gets a NetworkError, not a crash."""
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(NetworkError, match=r"bad\.osm\.pbf"):
        load_network(bad, cache_dir=tmp_path)


def test_network_build_cli_reports_dropped_and_barred(capsys: pytest.CaptureFixture[str]) -> None:
    """`loopvan network build` prints what was dropped and what each class may not use."""
    assert main(["network", "build"]) == 0
    out = capsys.readouterr().out
    assert "dropped nodes" in out and "barred by" in out
    assert "motor_vehicle=private" in out and "highway=busway" in out  # the deciding tags


def test_matrix_cache_computes_once_per_key(network: RoadNetwork) -> None:
    """The same (class, places, forbidden set) is computed once; a new forbidden set is a new matrix."""
    cg = compile_graph(network, "light_truck")
    g = network.graph
    nodes = list(g.nodes)[:12]
    snaps = [snap(cg, g.nodes[n]["x"], g.nodes[n]["y"]) for n in nodes]
    cache = MatrixCache()
    a = cache.get(cg, snaps)
    b = cache.get(cg, snaps)
    assert a is b and cache.hits == 1 and cache.misses == 1
    leg = a.leg(0, 5)
    forbidden = (
        frozenset({(leg.nodes[0], leg.nodes[1])})
        if len(leg.nodes) > 1
        else frozenset({leg.end_edge})
    )
    c = cache.get(cg, snaps, forbidden)
    assert c is not a and cache.misses == 2
    assert np.all(c.seconds >= a.seconds)


def test_worker_processes_give_the_same_matrix(network: RoadNetwork) -> None:
    """Splitting the Dijkstra runs over two processes changes nothing in the result."""
    cg = compile_graph(network, "light_truck")
    g = network.graph
    nodes = list(g.nodes)[::97][:40]
    snaps = [snap(cg, g.nodes[n]["x"], g.nodes[n]["y"]) for n in nodes]
    one = TravelMatrix(cg, snaps)
    two = TravelMatrix(cg, snaps, workers=2)
    assert np.array_equal(one.seconds, two.seconds)
    assert np.array_equal(one.metres, two.metres)


def test_synthetic_grid_is_strongly_connected_with_parallel_edges() -> None:
    """The benchmark's generated grid is one strongly connected graph and has parallel edges."""
    import networkx as nx

    net = grid_network(2_500, seed=3)
    assert net.graph.number_of_nodes() == 2_500
    assert nx.is_strongly_connected(net.graph)
    assert any(k > 0 for _u, _v, k in net.graph.edges(keys=True))


def test_matrix_bench_reports_the_documented_fields() -> None:
    """Each benchmark row carries graph_nodes, n, seconds, peak_rss_mb and speedup_vs_networkx."""
    rows = run_matrix_bench(
        grid_network(900, seed=1), sizes=[20, 40], baseline_sources=3, label="grid"
    )
    assert [r["n"] for r in rows] == [20, 40]
    for r in rows:
        for key in ("graph_nodes", "n", "seconds", "peak_rss_mb", "speedup_vs_networkx"):
            assert key in r
        assert r["graph_nodes"] == 900 and r["seconds"] > 0 and r["peak_rss_mb"] > 0
