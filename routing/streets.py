"""Street search over the road graph: find a place by its street's name, offline.

Residents type an address ("福田区福华三路 88 号 2 栋"); no geocoder is reachable and the
OSM extract holds no house numbers, but it names its streets in Chinese and mostly in
English too. A street is every drivable edge carrying one name; its point is the graph
node nearest the middle of those edges (so it lies on the street), with the bounding box
for the map. A query matches a street whose name is the query, starts with it or holds it
(Chinese or English, any case, spaces and punctuation ignored), or a street whose name
stands inside the query, as in a full address; best match first.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from routing.network import RoadNetwork

#: Longest query taken (a full address fits; the rest is ignored by callers' validation).
MAX_QUERY = 120
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Case-folded, width-folded (NFKC), without spaces or punctuation."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class Street:
    """One named street of the graph."""

    name: str  # as in OSM's ``name`` (Chinese here)
    name_en: str | None
    lon: float  # a node on the street, near its middle
    lat: float
    bbox: tuple[float, float, float, float]  # west, south, east, north
    length_m: float


def _names(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (str(x) for x in value if x)


class StreetIndex:
    """Named streets of a road network, searchable by (part of) their name."""

    def __init__(self, streets: Iterable[Street]) -> None:
        self.streets = sorted(streets, key=lambda s: s.name)
        self._keys = [
            (normalise(s.name), normalise(s.name_en) if s.name_en else "") for s in self.streets
        ]

    @classmethod
    def from_network(cls, network: RoadNetwork) -> StreetIndex:
        g = network.graph
        nodes: dict[str, set[int]] = {}
        length: dict[str, float] = {}
        english: dict[str, dict[str, int]] = {}
        for u, v, d in g.edges(data=True):
            zh = list(_names(d.get("name")))
            en = list(_names(d.get("name:en")))
            for k, name in enumerate(zh):
                nodes.setdefault(name, set()).update((u, v))
                length[name] = length.get(name, 0.0) + float(d.get("length", 0.0))
                # a merged edge lists its ways' names in the same order when both are there
                if len(en) == len(zh):
                    votes = english.setdefault(name, {})
                    votes[en[k]] = votes.get(en[k], 0) + 1
        out = []
        for name, ns in nodes.items():
            xs = [float(g.nodes[n]["x"]) for n in ns]
            ys = [float(g.nodes[n]["y"]) for n in ns]
            cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
            kx = math.cos(math.radians(cy))
            mid = min(
                ns, key=lambda n: ((g.nodes[n]["x"] - cx) * kx) ** 2 + (g.nodes[n]["y"] - cy) ** 2
            )
            votes = english.get(name, {})
            out.append(
                Street(
                    name=name,
                    name_en=max(votes, key=lambda e: (votes[e], e)) if votes else None,
                    lon=round(float(g.nodes[mid]["x"]), 6),
                    lat=round(float(g.nodes[mid]["y"]), 6),
                    bbox=(
                        round(min(xs), 6),
                        round(min(ys), 6),
                        round(max(xs), 6),
                        round(max(ys), 6),
                    ),
                    length_m=round(length[name] / 2, 1),  # roughly: most roads run both ways
                )
            )
        return cls(out)

    def search(self, query: str, limit: int = 8) -> list[Street]:
        """Streets matching ``query``, best first: the whole name, the name's start, part
        of the name, then streets named inside the query (a full address), longest first."""
        q = normalise(query[:MAX_QUERY])
        if not q:
            return []
        ranked: list[tuple[tuple[int, int, str], Street]] = []
        for street, (zh, en) in zip(self.streets, self._keys, strict=True):
            rank, size = None, 0
            for key in (zh, en):
                if not key:
                    continue
                if key == q:
                    r = 0
                elif key.startswith(q):
                    r = 1
                elif q in key:
                    r = 2
                elif len(key) >= 2 and key in q:
                    r = 3
                else:
                    continue
                if rank is None or r < rank:
                    # a name found inside an address: the longest (most specific) first
                    rank, size = r, (-len(key) if r == 3 else len(key))
            if rank is not None:
                ranked.append(((rank, size, street.name), street))
        ranked.sort(key=lambda x: x[0])
        return [s for _, s in ranked[:limit]]
