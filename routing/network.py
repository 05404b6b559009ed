"""Load the OpenStreetMap road graph, keep its largest strongly connected part, cache it.

The cache lives outside git (``LOOPVAN_CACHE_DIR``, default ``~/.cache/loopvan``) and is
keyed by the SHA-256 of the source file and the loader version, so editing the source
file or this loader invalidates it.
"""

from __future__ import annotations

import bz2
import hashlib
import os
import pickle
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from road_rules.access import ACCESS_TAGS
from routing.errors import NetworkError
from routing.speeds import PROFILES

#: Bump when the way the graph is built changes, to invalidate caches.
#: 3: name:en kept (street search); 4: every tag road_rules.access reads (vehicle,
#: maxwidth, maxaxleload, their :conditional forms ...) and the other names kept.
LOADER_VERSION = 4

#: OSM ``highway`` values a van may drive on: the road types the speed profiles know.
DRIVABLE_HIGHWAYS = frozenset(k for table in PROFILES.values() for k in table)

#: Way tags kept on the graph in addition to osmnx's defaults: road rights read them
#: (``reversed`` and ``oneway`` are edge attributes osmnx sets itself).
TRUCK_TAGS = [t for t in (*ACCESS_TAGS, "service") if t not in {"highway", "oneway", "reversed"}]

#: Further way tags kept: the names rules and street search match (routing.streets,
#: road_rules ``road_names``).
NAME_TAGS = ["name:en", "alt_name", "official_name", "ref"]

DEFAULT_OSM = (
    Path(__file__).resolve().parent.parent / "data" / "osm" / "shenzhen-futian-nanshan.osm.bz2"
)


@dataclass(frozen=True)
class LoadReport:
    """What loading kept and dropped."""

    source: str
    sha256: str
    nodes: int
    edges: int
    dropped_nodes: int
    dropped_edges: int
    from_cache: bool


@dataclass(frozen=True)
class RoadNetwork:
    """An immutable-by-convention drivable road graph (osmnx MultiDiGraph, WGS-84)."""

    graph: nx.MultiDiGraph
    report: LoadReport
    _compiled: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


def default_cache_dir() -> Path:
    """The graph cache directory: ``$LOOPVAN_CACHE_DIR`` or ``~/.cache/loopvan``."""
    env = os.environ.get("LOOPVAN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "loopvan"


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_osm_xml(path: Path) -> None:
    """Fail early, with a plain message, when a file is not OSM XML."""
    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise NetworkError(f"{path}: cannot read the file ({exc})") from exc
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not (text.startswith("<?xml") or text.startswith("<osm")) or "<osm" not in text:
        raise NetworkError(f"{path}: not an OpenStreetMap XML file (expected an <osm> document)")


def _drivable(highway: object) -> bool:
    """Whether an edge's ``highway`` tag (a list on merged ways) names a drivable road."""
    kinds = highway if isinstance(highway, list) else [highway]
    return any(isinstance(k, str) and k in DRIVABLE_HIGHWAYS for k in kinds)


def pbf_to_xml(pbf: Path, out: Path) -> Path:
    """Write the highway ways of an ``.osm.pbf`` file and their nodes to OSM XML.

    Two passes with pyosmium: collect the node ids of ways tagged ``highway``, then
    write those nodes and ways. Other features are dropped, which keeps country
    extracts small enough for osmnx.

    Raises
    ------
    NetworkError
        When pyosmium is not installed or the file cannot be read.
    """
    try:
        import osmium
    except ImportError:
        raise NetworkError(
            f"{pbf}: reading .osm.pbf needs the 'osmium' package (pip install 'loopvan[pbf]')"
        ) from None
    needed: set[int] = set()
    try:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Way) and "highway" in obj.tags:
                needed.update(n.ref for n in obj.nodes)
        out.unlink(missing_ok=True)
        writer = osmium.SimpleWriter(str(out))
        try:
            for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
                if isinstance(obj, osmium.osm.Node) and obj.id in needed:
                    writer.add_node(obj)
                elif isinstance(obj, osmium.osm.Way) and "highway" in obj.tags:
                    writer.add_way(obj)
        finally:
            writer.close()
    except RuntimeError as exc:
        raise NetworkError(f"{pbf}: cannot read the .osm.pbf file ({exc})") from exc
    return out


def _build(path: Path) -> tuple[nx.MultiDiGraph, int, int]:
    import tempfile

    import osmnx as ox

    if path.name.endswith(".pbf"):
        with tempfile.TemporaryDirectory() as tmp:
            xml = pbf_to_xml(path, Path(tmp) / "roads.osm")
            return _build(xml)
    _check_osm_xml(path)
    for tag in [*TRUCK_TAGS, *NAME_TAGS]:
        if tag not in ox.settings.useful_tags_way:
            ox.settings.useful_tags_way = [*ox.settings.useful_tags_way, tag]
    try:
        graph = ox.graph_from_xml(path, simplify=True, retain_all=True)
    except (ET.ParseError, ValueError, KeyError, OSError) as exc:
        raise NetworkError(f"{path}: cannot read road network: {exc}") from exc
    before_nodes, before_edges = graph.number_of_nodes(), graph.number_of_edges()
    # osmnx keeps every highway=* way (footway, steps, cycleway ...): drop what no van can use.
    graph.remove_edges_from(
        [(u, v, k) for u, v, k, hw in graph.edges(keys=True, data="highway") if not _drivable(hw)]
    )
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{path}: the file holds no drivable way")
    # Keep the largest strongly connected component so every place can reach every other.
    biggest = max(nx.strongly_connected_components(graph), key=len)
    dropped_nodes = before_nodes - len(biggest)
    graph = graph.subgraph(biggest).copy()
    return graph, dropped_nodes, before_edges - graph.number_of_edges()


def load_network(
    path: Path | str | None = None, *, cache_dir: Path | None = None, use_cache: bool = True
) -> RoadNetwork:
    """Load a drivable road network from an OSM XML file (``.osm`` or ``.osm.bz2``).

    Parameters
    ----------
    path
        The OSM file; the bundled Futian/Nanshan extract when omitted.
    cache_dir
        Where to keep the compiled graph; see :func:`default_cache_dir`.
    use_cache
        Read and write the cache.

    Returns
    -------
    RoadNetwork
        The graph restricted to its largest strongly connected component.

    Raises
    ------
    NetworkError
        The file is missing, is not OSM XML, or holds no drivable way.
    """
    src = Path(path) if path else DEFAULT_OSM
    if not src.is_file():
        raise NetworkError(f"{src}: no such file")
    digest = file_sha256(src)
    cdir = cache_dir or default_cache_dir()
    cache_file = cdir / f"graph-{digest[:20]}-v{LOADER_VERSION}.pickle"
    if use_cache and cache_file.is_file():
        try:
            with cache_file.open("rb") as f:
                graph, dropped_nodes, dropped_edges = pickle.load(f)
            return RoadNetwork(
                graph,
                LoadReport(
                    str(src),
                    digest,
                    graph.number_of_nodes(),
                    graph.number_of_edges(),
                    dropped_nodes,
                    dropped_edges,
                    True,
                ),
            )
        except Exception:
            cache_file.unlink(missing_ok=True)
    graph, dropped_nodes, dropped_edges = _build(src)
    if use_cache:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as f:
            pickle.dump((graph, dropped_nodes, dropped_edges), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache_file)
    return RoadNetwork(
        graph,
        LoadReport(
            str(src),
            digest,
            graph.number_of_nodes(),
            graph.number_of_edges(),
            dropped_nodes,
            dropped_edges,
            False,
        ),
    )
