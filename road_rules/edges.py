"""The road graph as road_rules sees it: a plain table of directed edges.

routing builds it from the OSM graph; road_rules never imports a graph library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import LineString


def normalise_name(name: object) -> str:
    """A road name as rules match it: case-folded, whitespace collapsed (``Shennan  Blvd``
    and ``shennan blvd`` are one name; ``深南大道`` and ``深南大道辅路`` stay two)."""
    return " ".join(str(name).split()).casefold()


@dataclass(eq=False)
class EdgeTable:
    """Directed edges with what rules select on. Index ``i`` is the same edge in every list."""

    u: list[int]  # OSM node id of the tail
    v: list[int]  # OSM node id of the head
    way_ids: list[frozenset[int]]
    highways: list[frozenset[str]]
    names: list[frozenset[str]]
    geoms: list[LineString]  # WGS-84 lon/lat
    tags: list[dict[str, Any]]  # the OSM tags road rights read (hgv, maxweight, *:conditional, ...)
    # osmnx edge key per edge (parallel edges join some node pairs); empty: not known
    keys: list[int] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)  # metres per edge; empty: not known
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.u)

    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index over the edge geometries."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    def pairs(self, indices: Any) -> frozenset[tuple[int, int]]:
        """OSM ``(u, v)`` pairs of edge indices."""
        return frozenset((self.u[i], self.v[i]) for i in indices)
