"""Routing per vehicle class: forbidden edge sets, barred edges, tag parsing, speed overrides."""

from __future__ import annotations

import itertools
import math
import random
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.compiled import CompiledGraph, compile_graph
from routing.errors import ProblemError, RoutingError, SnapError
from routing.matrix import UNREACHABLE, Leg, TravelMatrix
from routing.network import LoadReport, RoadNetwork
from routing.restrictions import ClassSpec, barred_reason, parse_metres, parse_tonnes
from routing.snap import Snap, snap
from routing.speeds import load_speed_config

Pair = tuple[int, int]

# --------------------------------------------------------------------------- helpers


def _seeded_snaps(cg: CompiledGraph, seed: int, count: int) -> list[Snap]:
    """Seeded random places in Futian snapped on ``cg`` (places off the network skipped)."""
    rng = random.Random(seed)
    snaps: list[Snap] = []
    for _ in range(count):
        lon, lat = rng.uniform(114.00, 114.07), rng.uniform(22.52, 22.56)
        try:
            snaps.append(snap(cg, lon, lat))
        except SnapError:
            continue
    return snaps


def _assert_chain(g: nx.MultiDiGraph, leg: Leg, forbidden: frozenset[Pair] = frozenset()) -> None:
    """A leg with nodes runs head-of-start-edge .. tail-of-end-edge over graph edges, none
    of them (nor its start or end edge) a forbidden OSM pair."""
    assert leg.start_edge not in forbidden and leg.end_edge not in forbidden
    if not leg.nodes:
        return
    assert leg.nodes[0] == leg.start_edge[1]
    assert leg.nodes[-1] == leg.end_edge[0]
    for u, v in itertools.pairwise(leg.nodes):
        assert g.has_edge(u, v), f"{u}->{v} is not a road of the graph"
        assert (u, v) not in forbidden, f"leg uses forbidden pair {(u, v)}"


def _blocked_places(cg: CompiledGraph, snaps: list[Snap], forbidden: frozenset[Pair]) -> set[int]:
    """Places whose own snapped edge is one of the forbidden OSM pairs."""
    return {k for k, s in enumerate(snaps) if cg.edge_osm(s.edge) in forbidden}


def _numbers(value: Any) -> list[float]:
    """Every decimal number written in a tag value (a list on merged ways): test-side parser."""
    vals = value if isinstance(value, list) else [value]
    return [float(x) for v in vals if v is not None for x in re.findall(r"\d+(?:\.\d+)?", str(v))]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def places(light_truck_graph: CompiledGraph) -> list[Snap]:
    """About 30 seeded places snapped for the light truck."""
    snaps = _seeded_snaps(light_truck_graph, 770301, 32)
    assert len(snaps) >= 25, "too few seeded places snapped to test the matrix"
    return snaps


@pytest.fixture(scope="module")
def base_matrix(light_truck_graph: CompiledGraph, places: list[Snap]) -> TravelMatrix:
    """The unforbidden light-truck matrix over :func:`places`; every pair is reachable."""
    m = TravelMatrix(light_truck_graph, places)
    assert m.reachable.all(), "the seeded places are expected to reach each other"
    return m


@pytest.fixture(scope="module")
def path_pairs(base_matrix: TravelMatrix) -> list[Pair]:
    """OSM ``(u, v)`` pairs driven by the legs leaving the first three places."""
    out: set[Pair] = set()
    n = len(base_matrix.snaps)
    for i, j in itertools.product(range(3), range(n)):
        out.update(itertools.pairwise(base_matrix.leg(i, j).nodes))
    assert len(out) >= 20
    return sorted(out)


# --------------------------------------------------------------------------- forbidden edges


def test_forbidding_a_path_edge_reroutes_the_leg_and_never_shortens_the_matrix(
    bundled_network: RoadNetwork,
    light_truck_graph: CompiledGraph,
    places: list[Snap],
    base_matrix: TravelMatrix,
) -> None:
    """Forbidding an edge in the middle of a leg's path gives that leg a new path that avoids
    the pair, is a chain of graph edges and is no faster; no matrix entry gets faster."""
    cg, g = light_truck_graph, bundled_network.graph
    n = len(places)
    i, j = max(
        ((a, b) for a in range(n) for b in range(n) if a != b),
        key=lambda p: len(base_matrix.leg(*p).nodes),
    )
    old = base_matrix.leg(i, j)
    assert len(old.nodes) >= 4
    mid = len(old.nodes) // 2
    pair = (old.nodes[mid - 1], old.nodes[mid])
    forbidden = frozenset({pair})
    m = TravelMatrix(cg, places, forbidden=forbidden)

    assert m.reachable[i, j]
    new = m.leg(i, j)
    assert pair not in set(itertools.pairwise(new.nodes))
    assert new.nodes != old.nodes
    assert new.seconds >= old.seconds
    assert (new.start_edge, new.end_edge) == (old.start_edge, old.end_edge)
    _assert_chain(g, new, forbidden)
    # Time can only grow when roads are taken away (distance may not: a slower path can be
    # shorter, so metres are not compared).
    assert (m.seconds >= base_matrix.seconds).all()
    assert (m.seconds[m.reachable] < UNREACHABLE).all()


@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=st.data())
def test_forbidden_subsets_never_shorten_or_get_used(
    data: st.DataObject,
    bundled_network: RoadNetwork,
    light_truck_graph: CompiledGraph,
    places: list[Snap],
    base_matrix: TravelMatrix,
    path_pairs: list[Pair],
) -> None:
    """For any subset of the edges on leg paths: no entry gets faster, unreachable pairs
    read UNREACHABLE, and no leg drives over (or starts/ends on) a forbidden pair; a leg
    that used a forbidden pair gets a different path."""
    forbidden = frozenset(
        data.draw(st.lists(st.sampled_from(path_pairs), min_size=1, max_size=8, unique=True))
    )
    cg, g = light_truck_graph, bundled_network.graph
    m = TravelMatrix(cg, places, forbidden=forbidden)
    assert (m.seconds >= base_matrix.seconds).all()
    assert (m.seconds[~m.reachable] == UNREACHABLE).all()
    assert (m.metres[~m.reachable] == UNREACHABLE).all()
    for k in _blocked_places(cg, places, forbidden):
        off = np.arange(len(places)) != k
        assert not m.reachable[k, off].any() and not m.reachable[off, k].any()
    n = len(places)
    for i, j in itertools.product(range(n), range(n)):
        if i == j:
            continue  # staying put: reachable in 0 s even on a forbidden edge (tested elsewhere)
        if not m.reachable[i, j]:
            with pytest.raises(RoutingError):
                m.leg(i, j)
            continue
        leg = m.leg(i, j)
        assert leg.seconds == m.seconds[i, j]
        _assert_chain(g, leg, forbidden)
        if forbidden & set(itertools.pairwise(base_matrix.leg(i, j).nodes)):
            assert leg.nodes != base_matrix.leg(i, j).nodes


@pytest.mark.parametrize("k", [0, 7, 19])
def test_forbidding_a_places_own_edge_makes_it_unreachable(
    light_truck_graph: CompiledGraph, places: list[Snap], base_matrix: TravelMatrix, k: int
) -> None:
    """A place whose snapped edge is forbidden can be neither left nor reached: its row and
    column (off the diagonal) are unreachable, read UNREACHABLE, and its legs raise
    RoutingError; the other places still reach each other, no faster than before."""
    cg = light_truck_graph
    forbidden = frozenset({cg.edge_osm(places[k].edge)})
    m = TravelMatrix(cg, places, forbidden=forbidden)
    blocked = _blocked_places(cg, places, forbidden)
    assert k in blocked
    n = len(places)
    for j in range(n):
        if j == k:
            assert m.reachable[k, k] and m.seconds[k, k] == 0
            continue
        for a, b in ((k, j), (j, k)):
            assert not m.reachable[a, b]
            assert m.seconds[a, b] == UNREACHABLE
            assert m.metres[a, b] == UNREACHABLE
            with pytest.raises(RoutingError):
                m.leg(a, b)
    free = np.array([p not in blocked for p in range(n)])
    assert m.reachable[np.ix_(free, free)].all()
    assert (m.seconds[np.ix_(free, free)] >= base_matrix.seconds[np.ix_(free, free)]).all()


# --------------------------------------------------------------------------- class restrictions

# A west-east street W-A-B-E with a detour A-C-B north of the short block A-B.
_NODES = {1: (114.048, 22.540), 2: (114.050, 22.540), 3: (114.052, 22.540)}
_NODES |= {4: (114.054, 22.540), 5: (114.051, 22.542)}
_WEST, _EAST = (114.049, 22.53996), (114.053, 22.53996)  # right-hand kerb of W->A, B->E
_BESIDE_AB = (114.051, 22.53996)  # 4.4 m south of the middle of A-B
_AB = {(2, 3), (3, 2)}


def _metres(a: int, b: int) -> float:
    (x1, y1), (x2, y2) = _NODES[a], _NODES[b]
    dx = (x2 - x1) * 111_320.0 * math.cos(math.radians(22.54))
    return math.hypot(dx, (y2 - y1) * 110_574.0)


def _diamond(ab_tags: dict[str, Any]) -> RoadNetwork:
    """The synthetic street, every road two-way residential, block A-B carrying ``ab_tags``."""
    g = nx.MultiDiGraph()
    for n, (x, y) in _NODES.items():
        g.add_node(n, x=x, y=y)
    for a, b in [(1, 2), (2, 3), (3, 4), (2, 5), (5, 3)]:
        tags = ab_tags if {a, b} == {2, 3} else {}
        for u, v in ((a, b), (b, a)):
            g.add_edge(u, v, key=0, length=_metres(u, v), highway="residential", **tags)
    return RoadNetwork(g, LoadReport("synthetic", "0" * 64, 5, 10, 0, 0, False))


_CASES = [
    ({"maxweight": "5"}, ClassSpec("box_truck", gross_weight_kg=7500), "maxweight"),
    ({"maxweight": "5"}, ClassSpec("light_truck", gross_weight_kg=3500), None),
    ({"maxweight": "5"}, ClassSpec("box_truck", gross_weight_kg=5000), None),
    ({"maxweight": "5 t"}, ClassSpec("box_truck", gross_weight_kg=5001), "maxweight"),
    ({"hgv": "no"}, ClassSpec("light_truck", gross_weight_kg=3500), None),
    ({"hgv": "no"}, ClassSpec("box_truck", gross_weight_kg=3600), "hgv=no"),
    ({"hgv": "no"}, ClassSpec("box_truck", gross_weight_kg=7500), "hgv=no"),
    ({"maxheight": "3.2"}, ClassSpec("box_truck", height_m=3.5), "maxheight"),
    ({"maxheight": "3.2"}, ClassSpec("box_truck", height_m=2.8), None),
    ({"maxheight": "3.2"}, ClassSpec("box_truck", height_m=3.2), None),
]


@pytest.mark.parametrize(("tags", "spec", "reason"), _CASES)
def test_class_restriction_on_synthetic_street(
    tags: dict[str, Any], spec: ClassSpec, reason: str | None
) -> None:
    """A class barred from block A-B (maxweight below its weight, hgv=no when over 3.5 t,
    maxheight below its height) has both directions removed and drives round by C both
    ways; a class the tags allow takes the short block."""
    net = _diamond(tags)
    cg = compile_graph(net, spec)
    assert barred_reason(spec, tags) == reason
    assert cg.barred == ({reason: 2} if reason else {})
    assert all(cg.edge_osm(e) not in _AB for e in range(len(cg.eu))) == (reason is not None)
    snaps = [snap(cg, *_WEST), snap(cg, *_EAST)]
    assert [cg.edge_osm(s.edge) for s in snaps] == [(1, 2), (3, 4)]
    m = TravelMatrix(cg, snaps)
    assert m.reachable.all()
    there, back = m.leg(0, 1), m.leg(1, 0)
    if reason:
        assert there.nodes == [2, 5, 3]
        assert back.nodes == [4, 3, 5, 2, 1]
    else:
        assert there.nodes == [2, 3]
        assert back.nodes == [4, 3, 2, 1]


def test_heavy_class_detour_is_slower_than_light_short_cut() -> None:
    """On the maxweight=5 street a 7.5 t box truck drives exactly the detour's extra
    metres over a 3.5 t box truck (same speed profile) and takes longer."""
    net = _diamond({"maxweight": "5"})
    light = compile_graph(net, ClassSpec("box_truck", gross_weight_kg=3500))
    heavy = compile_graph(net, ClassSpec("box_truck", gross_weight_kg=7500))
    ml = TravelMatrix(light, [snap(light, *_WEST), snap(light, *_EAST)])
    mh = TravelMatrix(heavy, [snap(heavy, *_WEST), snap(heavy, *_EAST)])
    detour_m = _metres(2, 5) + _metres(5, 3) - _metres(2, 3)
    assert mh.metres[0, 1] - ml.metres[0, 1] == pytest.approx(detour_m, abs=2)
    assert mh.seconds[0, 1] > ml.seconds[0, 1]


def test_snap_beside_a_barred_edge_takes_a_usable_edge() -> None:
    """A place 4 m from block A-B snaps onto A-B for a class allowed on it, and for a class
    barred from it onto another (usable) road, farther away."""
    net = _diamond({"maxweight": "5"})
    light = compile_graph(net, ClassSpec("light_truck", gross_weight_kg=3500))
    heavy_spec = ClassSpec("box_truck", gross_weight_kg=7500)
    heavy = compile_graph(net, heavy_spec)
    s_light = snap(light, *_BESIDE_AB)
    assert light.edge_osm(s_light.edge) == (2, 3)
    assert s_light.distance_m == pytest.approx(4.4, abs=0.2)
    s_heavy = snap(heavy, *_BESIDE_AB)
    u, v = heavy.edge_osm(s_heavy.edge)
    assert (u, v) not in _AB
    assert barred_reason(heavy_spec, net.graph[u][v][0]) is None
    assert s_heavy.distance_m > 50
    m = TravelMatrix(heavy, [s_heavy, snap(heavy, *_WEST)])
    assert m.reachable.all()


def test_heavy_class_avoids_low_maxweight_edges_on_bundled_graph(
    bundled_network: RoadNetwork, light_truck_graph: CompiledGraph
) -> None:
    """A 40 t class never drives, starts or ends on an edge whose maxweight tag is below
    40 t; the two places either side of such a block show the light class does use it."""
    g = bundled_network.graph
    spec = ClassSpec("box_truck", gross_weight_kg=40000)
    low = {
        (u, v, k)
        for u, v, k, w in g.edges(keys=True, data="maxweight")
        if w is not None and _numbers(w) and min(_numbers(w)) < 40
    }
    if not low:
        pytest.skip("the bundled extract holds no maxweight below 40 t")
    heavy = compile_graph(bundled_network, spec)
    assert heavy.barred.get("maxweight", 0) >= len(low)
    kept = {(*heavy.edge_osm(e), int(heavy.ekey[e])) for e in range(len(heavy.eu))}
    assert not kept & low

    # Places on the roads into and out of one low block: the light class crosses it.
    u, v, _k = min(low)
    before = next(iter(g.predecessors(u)))
    after = next(iter(g.successors(v)))
    probes = []
    for a, b in ((before, u), (v, after)):
        e = light_truck_graph.edge_of[(a, b)][0]
        mid = light_truck_graph.geoms[e].interpolate(0.5, normalized=True)
        probes.append(light_truck_graph.from_local(mid.x, mid.y))
    light_m = TravelMatrix(light_truck_graph, [snap(light_truck_graph, *p) for p in probes])
    assert (u, v) in set(itertools.pairwise(light_m.leg(0, 1).nodes)), "probe misses the block"

    # A place on the low block itself is snapped elsewhere for the heavy class.
    e_low = light_truck_graph.edge_of[(u, v)][0]
    mid = light_truck_graph.geoms[e_low].interpolate(0.5, normalized=True)
    on_block = snap(heavy, *light_truck_graph.from_local(mid.x, mid.y))
    assert heavy.edge_osm(on_block.edge) != (u, v)

    snaps = [snap(heavy, *p) for p in probes] + _seeded_snaps(heavy, 510077, 20)
    assert len(snaps) >= 18
    m = TravelMatrix(heavy, snaps)
    n = len(snaps)
    assert m.reachable.all(), "every place the heavy class snaps to must be reachable"
    assert m.seconds[0, 1] > light_m.seconds[0, 1]

    def usable(a: int, b: int) -> bool:
        """Some edge a->b is not a low-maxweight edge."""
        return any((a, b, k) not in low for k in g[a][b])

    walked = 0
    for i, j in itertools.product(range(n), range(n)):
        if not m.reachable[i, j]:
            continue
        leg = m.leg(i, j)
        _assert_chain(g, leg)
        for a, b in [leg.start_edge, leg.end_edge, *itertools.pairwise(leg.nodes)]:
            assert usable(a, b), f"leg {i}->{j} drives over low-maxweight edge {a}->{b}"
            ea = heavy.best_edge(heavy.index_of[a], heavy.index_of[b])
            assert (a, b, int(heavy.ekey[ea])) not in low
        walked += 1
    assert walked >= n * (n - 1) // 2


def test_snap_avoids_pockets_a_class_cannot_leave() -> None:
    """A one-way spur A->P whose only exit P->B is barred by maxweight is a pocket for a
    heavy class: a place on the spur snaps there for the light class but onto the street
    for the heavy one, and every place stays reachable both ways."""
    g = nx.MultiDiGraph()
    nodes = {
        1: (114.048, 22.540),
        2: (114.050, 22.540),
        3: (114.052, 22.540),
        6: (114.051, 22.5385),
    }
    for k, (x, y) in nodes.items():
        g.add_node(k, x=x, y=y)

    def road(u: int, v: int, **tags: Any) -> None:
        (x1, y1), (x2, y2) = nodes[u], nodes[v]
        dx = (x2 - x1) * 111_320.0 * math.cos(math.radians(22.54))
        length = math.hypot(dx, (y2 - y1) * 110_574.0)
        g.add_edge(u, v, key=0, length=length, highway="residential", **tags)

    for a, b in [(1, 2), (2, 3)]:
        road(a, b)
        road(b, a)
    road(2, 6)
    road(6, 3, maxweight="5")
    net = RoadNetwork(g, LoadReport("synthetic", "0" * 64, 4, 6, 0, 0, False))
    on_spur = (114.0505, 22.53925)  # the middle of A->P
    light = compile_graph(net, ClassSpec("light_truck", gross_weight_kg=3500))
    heavy = compile_graph(net, ClassSpec("box_truck", gross_weight_kg=7500))
    assert heavy.barred == {"maxweight": 1}
    assert light.edge_osm(snap(light, *on_spur).edge) == (2, 6)
    s = snap(heavy, *on_spur)
    assert heavy.edge_osm(s.edge) in {(1, 2), (2, 1), (2, 3), (3, 2)}
    assert s.distance_m > 50
    m = TravelMatrix(heavy, [s, snap(heavy, 114.049, 22.53996)])
    assert m.reachable.all()
    assert m.leg(0, 1).nodes and m.leg(1, 0).nodes


# --------------------------------------------------------------------------- tag parsing


@pytest.mark.parametrize(
    ("value", "tonnes"),
    [
        ("10", 10.0),
        ("5.5 t", 5.5),
        ("5.5t", 5.5),
        ("3500 kg", 3.5),
        (" 7.5 T ", 7.5),
        (12, 12.0),
        (["10", "5.5 t"], 5.5),
        (["3500 kg", "20"], 3.5),
        (["heavy", "8"], 8.0),
        ("heavy", None),
        ("none", None),
        ("", None),
        ("-5", None),
        (["x", "y"], None),
        ([], None),
        (None, None),
    ],
)
def test_parse_tonnes(value: Any, tonnes: float | None) -> None:
    """maxweight reads plain tonnes, "t" and "kg" units, the minimum of a list, and None
    for values it cannot read."""
    got = parse_tonnes(value)
    assert got == (None if tonnes is None else pytest.approx(tonnes))


@pytest.mark.parametrize(
    ("value", "metres"),
    [
        ("3.5", 3.5),
        ("3.5 m", 3.5),
        ("4m", 4.0),
        ("12'6\"", 12 * 0.3048 + 6 * 0.0254),
        ("12' 6\"", 12 * 0.3048 + 6 * 0.0254),
        ("13'", 13 * 0.3048),
        (["5", "4.2"], 4.2),
        (["default", "3.8"], 3.8),
        ("default", None),
        ("below_default", None),
        ("tall", None),
        (None, None),
    ],
)
def test_parse_metres(value: Any, metres: float | None) -> None:
    """maxheight/maxlength read metres with or without "m", feet and inches, the minimum
    of a list, and None for values it cannot read."""
    got = parse_metres(value)
    assert got == (None if metres is None else pytest.approx(metres))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.integers(1, 60_000), st.sampled_from(["", " t", "t", " kg", "kg"])),
        min_size=1,
        max_size=4,
    )
)
def test_parse_tonnes_list_is_minimum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    """A list of weights parses to the smallest of them, each converted to tonnes."""
    values = [f"{x}{unit}" for x, unit in parts]
    expected = min(x / 1000 if "kg" in unit else float(x) for x, unit in parts)
    assert parse_tonnes(values) == pytest.approx(expected)
    assert all(parse_tonnes(v) is not None for v in values)


# --------------------------------------------------------------------------- speed overrides


def _max_kmh(value: Any) -> float | None:
    nums = _numbers(value)
    return min(nums) if nums else None


def test_speed_config_slows_residential_edges(
    tmp_path: Path, bundled_network: RoadNetwork, light_truck_graph: CompiledGraph
) -> None:
    """A YAML file setting light_truck residential to 5 km/h makes every residential edge
    slower (except where a maxspeed of 5 or less already caps it) and no other edge."""
    path = tmp_path / "speeds.yaml"
    path.write_text("light_truck:\n  residential: 5\n", encoding="utf-8")
    cfg = load_speed_config(path)
    assert cfg == {"light_truck": {"residential": 5.0}}
    spec = ClassSpec("light_truck", speed_overrides=tuple(cfg["light_truck"].items()))
    slow, base = compile_graph(bundled_network, spec), light_truck_graph
    assert slow is not base
    for arr in ("eu", "ev", "ekey", "edm"):
        assert np.array_equal(getattr(slow, arr), getattr(base, arr))
    g = bundled_network.graph
    slower = capped = 0
    for e in range(len(base.eu)):
        u, v = base.edge_osm(e)
        d = g[u][v][int(base.ekey[e])]
        kinds = d["highway"] if isinstance(d["highway"], list) else [d["highway"]]
        cap = _max_kmh(d.get("maxspeed"))
        if "residential" not in kinds:
            assert slow.ems[e] == base.ems[e], (u, v)
        elif cap is not None and cap <= 5:
            assert slow.ems[e] == base.ems[e], (u, v)
            capped += 1
        else:
            assert slow.ems[e] > base.ems[e], (u, v)
            slower += 1
    assert slower > 1000
    assert capped >= 1, "the bundled extract has residential ways with maxspeed=5"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("hovercraft:\n  residential: 5\n", "'hovercraft'"),
        ("light_truck:\n  residential: fast\n", "light_truck.residential"),
        ("light_truck:\n  residential: '5'\n", "light_truck.residential"),
        ("light_truck:\n  residential: yes\n", "light_truck.residential"),
        ("light_truck:\n  residential: 0\n", "light_truck.residential"),
        ("box_truck:\n  primary: 500\n", "box_truck.primary"),
        ("box_truck: 30\n", "box_truck"),
        ("- light_truck\n", "must map profile names"),
        ("light_truck: [\n", "not valid YAML"),
    ],
)
def test_speed_config_errors_name_file_and_key(tmp_path: Path, text: str, named: str) -> None:
    """A bad speed config raises ProblemError naming the file and the offending key."""
    path = tmp_path / "speeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProblemError) as info:
        load_speed_config(path)
    assert str(path) in str(info.value)
    assert named in str(info.value)


def test_speed_config_missing_file(tmp_path: Path) -> None:
    """A missing speed config file raises ProblemError naming the path."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ProblemError, match="no such speed config file") as info:
        load_speed_config(path)
    assert str(path) in str(info.value)
