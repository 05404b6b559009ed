"""OSM access tags for our vans: one test per row of the table in docs/road-rules.md.

Every row of the "OSM access tags" table names its test case (the row's first cell), and
``test_every_row_of_the_docs_table_has_a_test`` keeps the two in step. The precedence of
the keys is also checked against a deliberately plain second implementation.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from road_rules.access import (
    ACCESS_TAGS,
    DAY_S,
    Access,
    access_periods,
    always_closed,
    parse_metres,
    parse_tonnes,
    permanent_access,
    split_conditional,
    unreadable,
)
from road_rules.model import VehicleInfo
from routing.restrictions import ClassSpec, barred_reason

DOCS = Path(__file__).resolve().parent.parent / "docs" / "road-rules.md"

#: A 2.5 t light electric van (dimensions unknown) and a 4.5 t diesel truck, 3.2 m high.
VAN = VehicleInfo("粤B00001", "light_electric", "light", "electric", 2500)
VAN_PERMIT = VehicleInfo(
    "粤B00002", "light_electric", "light", "electric", 2500, frozenset({"SZ-2ND-LINE"})
)
TRUCK = VehicleInfo(
    "粤B00003", "box_truck", "medium", "diesel", 4500, height_m=3.2, width_m=2.3, length_m=7.2
)
TRUCK_PERMIT = VehicleInfo(
    "粤B00004",
    "box_truck",
    "medium",
    "diesel",
    4500,
    frozenset({"SZ-2ND-LINE"}),
    height_m=3.2,
    width_m=2.3,
    length_m=7.2,
)
ALL = (VAN, VAN_PERMIT, TRUCK, TRUCK_PERMIT)

TUESDAY = dt.date(2026, 12, 1)
SATURDAY = dt.date(2026, 12, 5)


def hm(s: str) -> int:
    h, m = s.split(":")
    return int(h) * 3600 + int(m) * 60


def perm(tags: dict[str, Any], v: VehicleInfo) -> tuple[str, str]:
    a = permanent_access(tags, v)
    return a.value, a.tag


def at(tags: dict[str, Any], v: VehicleInfo, t: str, day: dt.date = TUESDAY) -> tuple[str, str]:
    """The verdict at ``t`` (HH:MM) on ``day``."""
    s = hm(t)
    for a, b, acc in access_periods(tags, v, day):
        if a <= s < b:
            return acc.value, acc.tag
    raise AssertionError("the periods do not cover the day")


# --------------------------------------------------------------------------- one case per row


def row_access() -> None:
    for v in ALL:
        assert perm({"access": "no"}, v) == ("no", "access=no")
        assert perm({"access": "yes"}, v) == ("yes", "access=yes")
        assert perm({}, v) == ("yes", "")
        assert perm({"highway": "residential"}, v) == ("yes", "")


def row_vehicle() -> None:
    for v in ALL:
        assert perm({"vehicle": "no"}, v) == ("no", "vehicle=no")
        assert perm({"access": "no", "vehicle": "yes"}, v) == ("yes", "vehicle=yes")


def row_motor_vehicle() -> None:
    for v in ALL:
        assert perm({"motor_vehicle": "permit"}, v) == ("permit", "motor_vehicle=permit")
        assert perm({"vehicle": "no", "motor_vehicle": "yes"}, v) == ("yes", "motor_vehicle=yes")
        assert perm({"access": "yes", "motor_vehicle": "no"}, v) == ("no", "motor_vehicle=no")


def row_goods() -> None:
    assert perm({"goods": "no"}, VAN) == ("no", "goods=no")
    assert perm({"goods": "no"}, TRUCK) == ("yes", "")
    assert perm({"motor_vehicle": "no", "goods": "yes"}, VAN) == ("yes", "goods=yes")
    assert perm({"motor_vehicle": "no", "goods": "yes"}, TRUCK) == ("no", "motor_vehicle=no")
    # 3.5 t exactly is not an hgv.
    light35 = VehicleInfo("x", "c", "light", "diesel", 3500)
    assert perm({"goods": "no", "hgv": "yes"}, light35) == ("no", "goods=no")


def row_hgv() -> None:
    assert perm({"hgv": "no"}, TRUCK) == ("no", "hgv=no")
    assert perm({"hgv": "no"}, VAN) == ("yes", "")
    assert perm({"access": "no", "hgv": "permit"}, TRUCK) == ("permit", "hgv=permit")
    assert perm({"access": "no", "hgv": "permit"}, VAN) == ("no", "access=no")


def row_most_specific() -> None:
    for v in ALL:
        assert perm({"access": "no", "motor_vehicle": "permissive"}, v) == (
            "yes",
            "motor_vehicle=permissive",
        )
    assert perm({"motor_vehicle": "yes", "goods": "no"}, VAN) == ("no", "goods=no")
    assert perm({"motor_vehicle": "yes", "goods": "no"}, TRUCK) == ("yes", "motor_vehicle=yes")
    # The 新深路 pattern: access=no, goods/hgv=permit.
    tags = {"access": "no", "goods": "permit", "hgv": "permit", "highway": "primary"}
    assert perm(tags, VAN) == ("permit", "goods=permit")
    assert perm(tags, TRUCK) == ("permit", "hgv=permit")


def row_open_values() -> None:
    for value in ("yes", "designated", "permissive", "official", "discouraged", " Yes "):
        for v in ALL:
            assert permanent_access({"access": "no", "motor_vehicle": value}, v).value == "yes"
        assert unreadable({"motor_vehicle": value}) == []


def row_closed_values() -> None:
    for value in ("no", "private", "agricultural", "forestry", "use_sidepath"):
        for v in ALL:
            assert perm({"motor_vehicle": value}, v) == ("no", f"motor_vehicle={value}")
        assert unreadable({"motor_vehicle": value}) == []


def row_permit() -> None:
    # The evaluator says "permit" whoever asks: the rules decide which permits open it.
    for v in ALL:
        assert perm({"motor_vehicle": "permit"}, v) == ("permit", "motor_vehicle=permit")
        assert perm({"access": "permit"}, v) == ("permit", "access=permit")
        assert always_closed({"access": "permit"}, v) is None


def row_destination() -> None:
    for value in ("destination", "delivery", "customers"):
        for v in ALL:
            assert perm({"access": value}, v) == ("destination", f"access={value}")
            assert always_closed({"access": value}, v) is None


def row_other_users() -> None:
    for value in ("bus", "psv", "emergency", "taxi", "hov", "military"):
        for v in ALL:
            assert perm({"access": value}, v) == ("no", f"access={value}")
        assert unreadable({"access": value}) == []
    # A bus lane open to buses only is not opened by bus=yes or psv=yes (keys not ours).
    assert perm({"access": "no", "bus": "yes", "psv": "yes"}, VAN) == ("no", "access=no")


def row_unknown_value() -> None:
    for v in ALL:
        assert perm({"motor_vehicle": "sometimes"}, v) == ("no", "motor_vehicle=sometimes")
    assert unreadable({"motor_vehicle": "sometimes"}) == [
        "motor_vehicle='sometimes': unknown value (read as no)"
    ]


def row_conditional() -> None:
    tags = {"hgv:conditional": "no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)"}
    assert access_periods(tags, TRUCK, TUESDAY) == [
        (0, hm("06:00"), Access("destination", "hgv:conditional=delivery @ (22:00-06:00)")),
        (hm("06:00"), hm("07:00"), Access("yes", "")),
        (hm("07:00"), hm("09:00"), Access("no", "hgv:conditional=no @ (Mo-Fr 07:00-09:00)")),
        (hm("09:00"), hm("22:00"), Access("yes", "")),
        (hm("22:00"), DAY_S, Access("destination", "hgv:conditional=delivery @ (22:00-06:00)")),
    ]
    assert at(tags, TRUCK, "08:00", SATURDAY) == ("yes", "")
    assert access_periods(tags, VAN, TUESDAY) == [(0, DAY_S, Access("yes", ""))]
    assert permanent_access(tags, TRUCK) == Access("yes", "")
    # It overrides the same key's plain value while it holds, both ways.
    lift = {"hgv": "no", "hgv:conditional": "yes @ (22:00-06:00)"}
    assert at(lift, TRUCK, "23:00") == ("yes", "hgv:conditional=yes @ (22:00-06:00)")
    assert at(lift, TRUCK, "12:00") == ("no", "hgv=no")
    assert perm(lift, TRUCK) == ("no", "hgv=no")
    # The rightmost holding condition wins.
    right = {"motor_vehicle:conditional": "no @ (Mo-Fr); yes @ (Mo-Fr 10:00-12:00)"}
    assert at(right, VAN, "09:00")[0] == "no"
    assert at(right, VAN, "11:00")[0] == "yes"
    assert at(right, VAN, "11:00", SATURDAY) == ("yes", "")
    # In the key's place: beats a plain access=yes, loses to a plain goods=yes.
    mixed = {"access": "yes", "motor_vehicle:conditional": "no @ (07:00-09:00)", "goods": "yes"}
    assert at(mixed, VAN, "08:00") == ("yes", "goods=yes")
    assert at(mixed, TRUCK, "08:00") == ("no", "motor_vehicle:conditional=no @ (07:00-09:00)")
    assert at(mixed, TRUCK, "10:00") == ("yes", "access=yes")


def row_non_time_condition() -> None:
    tags = {
        "hgv:conditional": "no @ (weight>7.5); no @ (wet); no @ (Mo-Fr 07:00-09:00)",
        "motor_vehicle:conditional": "no @ (snow)",
    }
    # A restriction under a condition that is not a time holds at all times (conservative).
    assert at(tags, TRUCK, "12:00")[0] == "no"
    assert at(tags, TRUCK, "08:00")[0] == "no"
    assert at(tags, VAN, "08:00")[0] == "no"  # motor_vehicle ... @ (snow) binds the van too
    assert at({"hgv:conditional": "no @ (wet)"}, VAN, "12:00") == ("yes", "")  # hgv only
    # A permission under such a condition is ignored: the plain value stands.
    assert at({"hgv": "no", "hgv:conditional": "yes @ (wet)"}, TRUCK, "12:00")[0] == "no"
    bad = unreadable(tags)
    assert len(bad) == 3
    assert all("is not a time" in b for b in bad)
    assert any("'snow'" in b for b in bad) and any("'weight>7.5'" in b for b in bad)
    assert unreadable({"hgv:conditional": "no (Mo-Fr)"}) == [
        "hgv:conditional='no (Mo-Fr)': not 'value @ (condition)'"
    ]


def row_busway() -> None:
    for v in ALL:
        assert perm({"highway": "busway"}, v) == ("no", "highway=busway")
        assert always_closed({"highway": "busway"}, v) == Access("no", "highway=busway")
        assert perm({"highway": "busway", "motor_vehicle": "yes"}, v) == (
            "yes",
            "motor_vehicle=yes",
        )
    assert perm({"highway": ["primary", "busway"]}, VAN) == ("no", "highway=busway")
    timed = {"highway": "busway", "goods:conditional": "yes @ (22:00-06:00)"}
    assert at(timed, VAN, "23:00")[0] == "yes"
    assert at(timed, VAN, "12:00") == ("no", "highway=busway")
    assert always_closed(timed, VAN) is None


def row_maxheight() -> None:
    assert perm({"maxheight": "3.0"}, TRUCK) == ("no", "maxheight=3.0")
    assert perm({"maxheight": "3.2"}, TRUCK) == ("yes", "")
    assert perm({"maxheight": "3.5 m"}, TRUCK) == ("yes", "")
    assert perm({"maxheight": "10'4\""}, TRUCK) == ("no", "maxheight=10'4\"")  # 3.15 m
    assert perm({"maxheight": "10'6\""}, TRUCK) == ("yes", "")  # 3.2004 m
    assert perm({"maxheight": "11'"}, TRUCK) == ("yes", "")  # 3.35 m
    assert perm({"maxheight": "3.0", "access": "permit"}, TRUCK) == ("no", "maxheight=3.0")
    assert always_closed({"maxheight": "3.0"}, TRUCK) == Access("no", "maxheight=3.0")


def row_maxwidth() -> None:
    assert perm({"maxwidth": "2.2"}, TRUCK) == ("no", "maxwidth=2.2")
    assert perm({"maxwidth": "2.3"}, TRUCK) == ("yes", "")


def row_maxlength() -> None:
    assert perm({"maxlength": "7"}, TRUCK) == ("no", "maxlength=7")
    assert perm({"maxlength": "7.5 m"}, TRUCK) == ("yes", "")


def row_maxweight() -> None:
    assert perm({"maxweight": "4"}, TRUCK) == ("no", "maxweight=4")
    assert perm({"maxweight": "4"}, VAN) == ("yes", "")
    assert perm({"maxweight": "4500 kg"}, TRUCK) == ("yes", "")
    assert perm({"maxweight": "4.5 t"}, TRUCK) == ("yes", "")
    assert perm({"maxweight": "2 st"}, VAN) == ("no", "maxweight=2 st")  # 1.8 t


def row_maxaxleload() -> None:
    # The truck's heaviest axle is estimated at 60 % of 4.5 t = 2.7 t.
    assert perm({"maxaxleload": "2.5"}, TRUCK) == ("no", "maxaxleload=2.5")
    assert perm({"maxaxleload": "3"}, TRUCK) == ("yes", "")
    stated = VehicleInfo("x", "c", "medium", "diesel", 4500, axle_load_t=3.2)
    assert perm({"maxaxleload": "3"}, stated) == ("no", "maxaxleload=3")


def row_dimension_conditional() -> None:
    tags = {"maxweight:conditional": "3.5 @ (22:00-06:00)"}
    assert at(tags, TRUCK, "23:00") == ("no", "maxweight:conditional=3.5 @ (22:00-06:00)")
    assert at(tags, TRUCK, "12:00") == ("yes", "")
    assert at(tags, VAN, "23:00") == ("yes", "")
    lifted = {"maxweight": "3", "maxweight:conditional": "none @ (Sa,Su)"}
    assert at(lifted, TRUCK, "12:00", SATURDAY) == ("yes", "")
    assert at(lifted, TRUCK, "12:00", TUESDAY) == ("no", "maxweight=3")
    assert always_closed(lifted, TRUCK) is None
    assert perm(lifted, TRUCK) == ("no", "maxweight=3")
    hgt = {"maxheight:conditional": "3.0 @ (Mo-Fr 07:00-19:00)"}
    assert at(hgt, TRUCK, "08:00") == ("no", "maxheight:conditional=3.0 @ (Mo-Fr 07:00-19:00)")


def row_no_limit() -> None:
    for value in ("none", "default"):
        for key in ("maxheight", "maxwidth", "maxlength", "maxweight", "maxaxleload"):
            assert perm({key: value}, TRUCK) == ("yes", "")
            assert unreadable({key: value}) == []
    assert perm({"maxheight": ["default", "3.0"]}, TRUCK) == ("no", "maxheight=3.0")


def row_unreadable_limit() -> None:
    for value in ("below_default", "tall"):
        assert perm({"maxheight": value}, TRUCK) == ("yes", "")
        assert unreadable({"maxheight": value}) == [
            f"maxheight={value!r}: not a readable limit (ignored)"
        ]
    assert unreadable({"maxweight:conditional": "heavy @ (Mo-Fr)"}) == [
        "maxweight:conditional='heavy @ (Mo-Fr)': value 'heavy' not understood (ignored)"
    ]


def row_unknown_dimension() -> None:
    unknown = VehicleInfo("x", "c", "light", "electric", 2500)  # height etc. 0
    for key in ("maxheight", "maxwidth", "maxlength"):
        assert perm({key: "1.0"}, unknown) == ("yes", "")
    assert perm({"maxweight": "2"}, unknown) == ("no", "maxweight=2")  # gross weight is known
    weightless = VehicleInfo("x", "c", "light", "electric", 0)
    assert perm({"maxweight": "1", "maxaxleload": "0.5"}, weightless) == ("yes", "")


def _oneway(direction_reversed: bool, value: str, oneway: bool = False) -> dict[str, Any]:
    return {
        "highway": "residential",
        "oneway": oneway,
        "reversed": direction_reversed,
        "oneway:conditional": f"{value} @ (07:00-10:00)",
    }


def row_oneway_yes() -> None:
    for v in ALL:
        assert at(_oneway(True, "yes"), v, "08:00") == (
            "no",
            "oneway:conditional=yes @ (07:00-10:00)",
        )
        assert at(_oneway(True, "yes"), v, "11:00") == ("yes", "")
        assert at(_oneway(False, "yes"), v, "08:00") == ("yes", "")
        assert permanent_access(_oneway(True, "yes"), v) == Access("yes", "")
    # A merged edge with any part against the drawing counts as reversed.
    merged = {**_oneway(False, "yes"), "reversed": [False, True]}
    assert at(merged, VAN, "08:00")[0] == "no"


def row_oneway_backward() -> None:
    for value in ("-1", "backward", "reverse"):
        assert at(_oneway(False, value), VAN, "08:00") == (
            "no",
            f"oneway:conditional={value} @ (07:00-10:00)",
        )
        assert at(_oneway(True, value), VAN, "08:00") == ("yes", "")
        # One-way already: its only edge closes while the flow is reversed.
        assert at(_oneway(False, value, oneway=True), VAN, "08:00")[0] == "no"
        assert at(_oneway(False, value, oneway=True), VAN, "12:00") == ("yes", "")
    # The shipped extract's form: no parentheses round the condition.
    raw = {"oneway": True, "reversed": False, "oneway:conditional": "backward @ 07:00-10:00"}
    assert at(raw, TRUCK, "09:59")[0] == "no"
    assert at(raw, TRUCK, "10:00") == ("yes", "")


def row_oneway_reversible() -> None:
    for value in ("reversible", "alternating"):
        for rev in (False, True):
            assert at(_oneway(rev, value), VAN, "08:00")[0] == "no"
            assert at(_oneway(rev, value), VAN, "12:00") == ("yes", "")


def row_oneway_no() -> None:
    for rev in (False, True):
        assert access_periods(_oneway(rev, "no", oneway=True), VAN, TUESDAY) == [
            (0, DAY_S, Access("yes", ""))
        ]
    # A later "no" overrides an earlier "yes" while both hold.
    tags = {**_oneway(True, "yes"), "oneway:conditional": "yes @ (07:00-10:00); no @ (08:00-09:00)"}
    assert at(tags, VAN, "07:30")[0] == "no"
    assert at(tags, VAN, "08:30") == ("yes", "")


def row_merged_lists() -> None:
    assert perm({"access": ["yes", "no"]}, VAN) == ("no", "access=no")
    assert perm({"motor_vehicle": ["permit", "destination", "yes"]}, VAN) == (
        "permit",
        "motor_vehicle=permit",
    )
    assert perm({"motor_vehicle": ["destination", "yes"]}, VAN) == (
        "destination",
        "motor_vehicle=destination",
    )
    assert perm({"maxheight": ["5", "3.1"]}, TRUCK) == ("no", "maxheight=3.1")
    assert perm({"maxweight": ["10", "4 t"]}, TRUCK) == ("no", "maxweight=4 t")
    # Conditional lists: each merged way's own value; the most restrictive of those holding.
    tags = {"hgv:conditional": ["no @ (07:00-09:00)", "destination @ (08:00-10:00)"]}
    assert at(tags, TRUCK, "07:30")[0] == "no"
    assert at(tags, TRUCK, "08:30")[0] == "no"
    assert at(tags, TRUCK, "09:30")[0] == "destination"
    assert at(tags, TRUCK, "11:00") == ("yes", "")


def row_semicolon_values() -> None:
    assert perm({"access": "destination;delivery"}, VAN) == ("destination", "access=destination")
    assert perm({"access": "yes;no"}, VAN) == ("no", "access=no")
    assert perm({"maxheight": "3.5;3.1"}, TRUCK) == ("no", "maxheight=3.1")


def row_compile_time() -> None:
    spec_van = ClassSpec("light_electric", gross_weight_kg=2500, height_m=2.5)
    spec_truck = ClassSpec("box_truck", gross_weight_kg=4500, height_m=3.2)
    assert barred_reason(spec_van, {"access": "no"}) == "access=no"
    assert barred_reason(spec_van, {"access": "bus", "highway": "service"}) == "access=bus"
    assert barred_reason(spec_van, {"highway": "busway"}) == "highway=busway"
    assert barred_reason(spec_van, {"access": "no", "motor_vehicle": "permissive"}) is None
    assert barred_reason(spec_van, {"motor_vehicle": "permit"}) is None
    assert barred_reason(spec_van, {"access": "destination"}) is None
    assert barred_reason(spec_truck, {"maxheight": "3.0"}) == "maxheight"
    assert barred_reason(spec_truck, {"maxweight": "4"}) == "maxweight"
    assert barred_reason(spec_truck, {"maxwidth": "2.0"}) == "maxwidth"  # default width 2.1 m
    assert barred_reason(spec_truck, {"hgv": "no"}) == "hgv=no"
    assert barred_reason(spec_van, {"hgv": "no"}) is None
    # A conditional that can lift the "no" (same key or a more specific one) keeps the edge.
    assert (
        barred_reason(spec_truck, {"hgv": "no", "hgv:conditional": "yes @ (22:00-06:00)"}) is None
    )
    assert barred_reason(spec_van, {"access": "no", "goods:conditional": "yes @ (Sa)"}) is None
    assert (
        barred_reason(spec_van, {"goods": "no", "access:conditional": "yes @ (Sa)"}) == "goods=no"
    )
    assert barred_reason(spec_truck, {"maxweight": "4", "hgv:conditional": "no @ (Sa)"}) == (
        "maxweight"
    )
    assert barred_reason(spec_truck, {"oneway:conditional": "-1 @ (07:00-09:00)"}) is None


ROWS: dict[str, Callable[[], None]] = {
    "`access=*`": row_access,
    "`vehicle=*`": row_vehicle,
    "`motor_vehicle=*`": row_motor_vehicle,
    "`goods=*`": row_goods,
    "`hgv=*`": row_hgv,
    "most specific key wins": row_most_specific,
    "`yes`, `designated`, `permissive`, `official`, `discouraged`": row_open_values,
    "`no`, `private`, `agricultural`, `forestry`, `use_sidepath`": row_closed_values,
    "`permit`": row_permit,
    "`destination`, `delivery`, `customers`": row_destination,
    "`bus`, `psv`, `emergency`, `taxi`, `hov`, `military` as a value (`access=bus`)": (
        row_other_users
    ),
    "any other value": row_unknown_value,
    "`K:conditional=v @ (time); v2 @ (time2)`": row_conditional,
    "condition that is not a time (`wet`, `weight>7.5`, `… AND …`)": row_non_time_condition,
    "`highway=busway`": row_busway,
    "`maxheight=*`": row_maxheight,
    "`maxwidth=*`": row_maxwidth,
    "`maxlength=*`": row_maxlength,
    "`maxweight=*`": row_maxweight,
    "`maxaxleload=*`": row_maxaxleload,
    "`maxweight:conditional=3.5 @ (22:00-06:00)` (any limit's `:conditional`)": (
        row_dimension_conditional
    ),
    "`none`, `default` as a limit": row_no_limit,
    "unreadable limit (`below_default`, `tall`)": row_unreadable_limit,
    "vehicle dimension unknown (0)": row_unknown_dimension,
    "`oneway:conditional=yes @ (time)`": row_oneway_yes,
    "`oneway:conditional=-1 @ (time)` (`backward`, `reverse`)": row_oneway_backward,
    "`oneway:conditional=reversible @ (time)` (`alternating`)": row_oneway_reversible,
    "`oneway:conditional=no @ (time)`": row_oneway_no,
    'merged-way list (`["no", "yes"]`)': row_merged_lists,
    "`;` in a value (`destination;delivery`)": row_semicolon_values,
    "compile-time barring": row_compile_time,
}


@pytest.mark.parametrize("row", list(ROWS), ids=list(ROWS))
def test_docs_table_row(row: str) -> None:
    """What the docs table's row says the tag does, it does."""
    ROWS[row]()


def _docs_rows() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## OSM access tags", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ")]
    cells = [re.split(r"(?<!\\)\|", ln)[1].strip() for ln in rows]
    return [c for c in cells if c != "tag / value"]


def test_every_row_of_the_docs_table_has_a_test() -> None:
    """The table in docs/road-rules.md and the cases above name the same rows."""
    assert _docs_rows() == list(ROWS)


# --------------------------------------------------------------------------- interface


def test_access_tags_lists_every_key_read() -> None:
    """ACCESS_TAGS names every key the evaluator reads, conditional forms included."""
    for key in ("access", "vehicle", "motor_vehicle", "goods", "hgv"):
        assert key in ACCESS_TAGS and f"{key}:conditional" in ACCESS_TAGS
    for key in ("maxheight", "maxwidth", "maxlength", "maxweight", "maxaxleload"):
        assert key in ACCESS_TAGS and f"{key}:conditional" in ACCESS_TAGS
    for key in ("highway", "oneway", "oneway:conditional", "reversed"):
        assert key in ACCESS_TAGS
    # Tags outside the list change nothing.
    noisy = {"name": "深南大道", "bus": "yes", "psv": "yes", "lanes": "3", "motorcar": "no"}
    for v in ALL:
        assert permanent_access(noisy, v) == Access("yes", "")


def test_split_conditional() -> None:
    """``value @ (condition)`` pairs split on ';' outside parentheses."""
    assert split_conditional("no @ (Mo-Fr 07:00-09:00); delivery @ (22:00-06:00)") == [
        ("no", "Mo-Fr 07:00-09:00"),
        ("delivery", "22:00-06:00"),
    ]
    assert split_conditional("no @ (Mo-Fr 07:00-09:00; Sa 08:00-10:00)") == [
        ("no", "Mo-Fr 07:00-09:00; Sa 08:00-10:00")
    ]
    assert split_conditional("backward @ 07:00-10:00") == [("backward", "07:00-10:00")]
    assert split_conditional("garbage") is None
    assert split_conditional("no @ (Mo-Fr") is None


@pytest.mark.parametrize(
    ("value", "metres"),
    [("3.5", 3.5), ("3,5", 3.5), ("350 cm", 3.5), ("13 ft", 13 * 0.3048), ("none", None)],
)
def test_parse_metres_units(value: str, metres: float | None) -> None:
    """Metres with a decimal comma or in cm, feet written "ft"; words are not numbers."""
    got = parse_metres(value)
    assert got == (None if metres is None else pytest.approx(metres))


def test_parse_tonnes_units() -> None:
    """Tonnes from t, kg, short tons and pounds; a list gives its lowest."""
    assert parse_tonnes("2000 lbs") == pytest.approx(0.907184)
    assert parse_tonnes(["7.5", "3500 kg;10"]) == pytest.approx(3.5)


# --------------------------------------------------------------------------- precedence


_KEYS = ("access", "vehicle", "motor_vehicle", "goods", "hgv")
_VALUES = ("yes", "no", "permit", "destination", "private", "permissive", "delivery", "bus")
#: The plain reading, written out separately from the evaluator's table.
_PLAIN = {
    "yes": "yes",
    "permissive": "yes",
    "no": "no",
    "private": "no",
    "bus": "no",
    "permit": "permit",
    "destination": "destination",
    "delivery": "destination",
}
_WINDOWS = {"07:00-09:00": (hm("07:00"), hm("09:00")), "12:00-18:00": (hm("12:00"), hm("18:00"))}


def _reference(tags: dict[str, str], v: VehicleInfo, t: int) -> str:
    """Most specific key present wins; its conditional (if holding at ``t``) beats its plain."""
    chain = ["access", "vehicle", "motor_vehicle", "hgv" if v.gross_weight_kg > 3500 else "goods"]
    for key in reversed(chain):
        value = None
        cond = tags.get(f"{key}:conditional")
        if cond:
            val, window = cond.split(" @ ")
            a, b = _WINDOWS[window.strip("()")]
            if a <= t < b:
                value = val
        if value is None:
            value = tags.get(key)
        if value is not None:
            return _PLAIN[value]
    return "no" if tags.get("highway") == "busway" else "yes"


_tag_dicts = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.sampled_from(_VALUES) for k in _KEYS},
        **{
            f"{k}:conditional": st.builds(
                lambda val, w: f"{val} @ ({w})",
                st.sampled_from(_VALUES),
                st.sampled_from(list(_WINDOWS)),
            )
            for k in _KEYS
        },
        "highway": st.sampled_from(["busway", "residential"]),
    },
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_tag_dicts, st.sampled_from([VAN, TRUCK]))
def test_most_specific_key_wins_like_a_plain_reference(
    tags: dict[str, str], v: VehicleInfo
) -> None:
    """For random access tags (plain and timed), the verdict every 30 minutes equals the
    plain reference's, and the periods partition the day with no two equal neighbours."""
    periods = access_periods(tags, v, TUESDAY)
    assert periods[0][0] == 0 and periods[-1][1] == DAY_S
    for (_, b, x), (c, _, y) in itertools.pairwise(periods):
        assert b == c and x != y
    for t in range(0, DAY_S, 1800):
        got = next(acc for a, b, acc in periods if a <= t < b)
        assert got.value == _reference(tags, v, t), (tags, t, got)
    assert permanent_access(tags, v).value == _reference(
        {k: x for k, x in tags.items() if not k.endswith(":conditional")}, v, 0
    )
    closed = always_closed(tags, v)
    if closed is not None:
        assert all(acc.value == "no" for _, _, acc in periods)
