"""Street search: a resident's address (or part of a street's name, in Chinese or English)
finds the street on our own road graph, with a point on it and its served district."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from dispatch.settings import Settings
from routing.network import RoadNetwork
from routing.streets import StreetIndex, normalise
from web import create_app


@pytest.fixture(scope="module")
def index(network: RoadNetwork) -> StreetIndex:
    return StreetIndex.from_network(network)


def _names_at(network: RoadNetwork, lon: float, lat: float) -> set[str]:
    """The street names on the edges of the graph node at (lon, lat)."""
    g = network.graph
    node = next(
        n for n, d in g.nodes(data=True) if (round(d["x"], 6), round(d["y"], 6)) == (lon, lat)
    )
    names: set[str] = set()
    for _u, _v, d in [*g.out_edges(node, data=True), *g.in_edges(node, data=True)]:
        nm = d.get("name")
        names.update(nm if isinstance(nm, list) else [nm])
    return names


def test_normalise_folds_case_width_spaces_and_punctuation() -> None:
    assert normalise(" Fuhua 3rd  Road ") == "fuhua3rdroad"
    assert normalise("福华三路，88号") == "福华三路88号"
    assert normalise("ＦＵＨＵＡ") == "fuhua"  # full-width letters from a Chinese keyboard


def test_the_whole_name_comes_first_and_its_point_lies_on_it(
    index: StreetIndex, network: RoadNetwork
) -> None:
    hits = index.search("福华三路")
    assert hits[0].name == "福华三路"
    st = hits[0]
    assert st.name_en and "fuhua" in st.name_en.lower()
    west, south, east, north = st.bbox
    assert west <= st.lon <= east and south <= st.lat <= north
    assert "福华三路" in _names_at(network, st.lon, st.lat)
    assert st.length_m > 100


def test_english_prefix_and_part_of_a_name_match(index: StreetIndex) -> None:
    english = [s.name for s in index.search("fuhua 3rd road")]
    assert english[0] == "福华三路"
    prefix = [s.name for s in index.search("福华")]
    assert prefix and all(n.startswith("福华") for n in prefix)
    assert len(index.search("路", limit=5)) == 5  # a limit is a limit


def test_a_full_address_finds_the_street_it_names(index: StreetIndex) -> None:
    hits = index.search("深圳市福田区福华三路 88 号 2 栋 1203")
    assert hits and hits[0].name == "福华三路"
    # the longest street name inside the address wins over a shorter one it contains
    hits = index.search("福田区深南大道辅路 100 号")
    assert hits[0].name == "深南大道辅路"
    assert "深南大道" in [s.name for s in hits]


def test_nothing_matches_nonsense_or_an_empty_query(index: StreetIndex) -> None:
    assert index.search("xyzzy-no-such-street") == []
    assert index.search("  ，。 ") == []


@pytest.fixture(scope="module")
def client(demo_plan: dict[str, Any], demo_settings: Settings) -> FlaskClient:
    app = create_app({"LOOPVAN_SETTINGS": demo_settings, "TESTING": True, "SECRET_KEY": "s"})
    return app.test_client()


def test_api_gives_streets_with_their_served_district(client: FlaskClient) -> None:
    """Anyone may search; each street carries a point, its extent and its district."""
    r = client.get("/api/v1/streets", query_string={"q": "深圳市福田区福华三路88号", "limit": 3})
    assert r.status_code == 200, r.get_json()
    first = r.get_json()[0]
    assert first["name"] == "福华三路" and first["district"]["code"] == "440304"
    assert len(first["bbox"]) == 4 and first["lon"] > 114 and 22 < first["lat"] < 23
    many = client.get("/api/v1/streets", query_string={"q": "路", "limit": 20}).get_json()
    assert len(many) == 20
    served = [s["district"] is not None for s in many]
    assert served == sorted(served, reverse=True)  # served districts first


@pytest.mark.parametrize(
    ("query", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 121}, "q"), ({"q": "福华", "limit": 0}, "limit")],
)
def test_api_refuses_a_bad_query_naming_the_field(
    client: FlaskClient, query: dict[str, Any], field: str
) -> None:
    r = client.get("/api/v1/streets", query_string=query)
    assert r.status_code == 422
    assert list(r.get_json()["errors"]["query"]) == [field]
