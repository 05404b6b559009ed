"""OSM access tags read in full for one of our goods vehicles on one directed edge.

A pure evaluator: tags in (a mapping such as ``EdgeTable.tags[i]`` or an osmnx edge's
data), a verdict out. The tag table in ``docs/road-rules.md`` (section "OSM access tags")
says what each tag does; in short:

* **Hierarchy.** Our vehicles are goods vans and trucks, so the keys that can speak for
  them are ``access`` → ``vehicle`` → ``motor_vehicle`` → ``goods`` (gross weight up to
  3.5 t) or ``hgv`` (over 3.5 t). The most specific key that has a value wins
  (``access=no`` + ``motor_vehicle=permissive`` is open). ``motorcar``, ``lgv``,
  ``psv``/``bus`` and ``*:lanes``/``*:forward``/``*:backward`` keys are not read.
* **Values.** yes / designated / permissive / official / discouraged → ``yes``
  (``discouraged`` is legal: it is advice, not a ban); no / private / agricultural /
  forestry / use_sidepath and the values naming other users (bus, psv, emergency, taxi,
  hov, military, ...) → ``no``; permit → ``permit``; destination / delivery / customers
  → ``destination``. An unknown value reads as ``no`` (an operator pays the fines) and
  is listed by :func:`unreadable`.
* **Conditional.** ``K:conditional = value @ (time); value @ (time)`` gives key ``K`` that
  value while the time holds, overriding ``K``'s plain value then (when several
  conditions hold at once the rightmost wins, as the OSM wiki says). It takes ``K``'s place
  in the hierarchy: ``motor_vehicle:conditional=no @ (...)`` beats ``access=yes`` but not
  a plain ``goods=yes``. Conditions that are not opening_hours times (``wet``,
  ``weight>7``, ``... AND ...``) are ignored and listed by :func:`unreadable`.
* **highway=busway** is closed to us unless a key of the hierarchy gives a value.
* **Dimensions.** ``maxheight``, ``maxwidth``, ``maxlength`` (metres; ``12'6"`` read),
  ``maxweight`` (tonnes, against the gross weight) and ``maxaxleload`` (tonnes, against
  :attr:`VehicleInfo.max_axle_load_t`), and their ``:conditional`` forms, close the edge
  to a vehicle that exceeds them. A vehicle dimension of 0 (unknown) never binds;
  ``none``/``default`` mean no limit; anything else unreadable (``below_default``) is
  ignored and listed.
* **oneway:conditional** ``yes @ (time)`` closes, during the time, the direction against
  the way's drawing (``reversed`` edge attribute); ``-1``/``backward @`` the drawn one;
  ``reversible``/``alternating @`` both. On a way that is one-way already the graph holds
  only the allowed direction, assumed drawn that way (osmnx flips ``oneway=-1`` ways and
  marks them not reversed); ``no @ (time)`` cannot add the missing direction.
* **Merged ways.** osmnx merges simplified ways, so a value may be a list: the most
  restrictive element counts (no > permit > destination > yes; the lowest limit). A value
  with ``;`` (``destination;delivery``) is read the same way.

The verdict is the most restrictive of the hierarchy's, the dimensions' and the
one-way's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from road_rules.calendar import ChinaCalendar
from road_rules.hours import HoursError, day_windows, parse_hours
from road_rules.model import VehicleInfo

DAY_S = 86_400

#: The access keys, general to specific, that can speak for a goods vehicle.
ACCESS_KEYS: tuple[str, ...] = ("access", "vehicle", "motor_vehicle", "goods", "hgv")
#: Dimension limits: metres (height, width, length) and tonnes (gross weight, axle load).
DIMENSION_KEYS: tuple[str, ...] = ("maxheight", "maxwidth", "maxlength", "maxweight", "maxaxleload")

#: Every way (or edge) tag the evaluator reads.
ACCESS_TAGS: tuple[str, ...] = (
    *ACCESS_KEYS,
    *(f"{k}:conditional" for k in ACCESS_KEYS),
    "highway",
    *DIMENSION_KEYS,
    *(f"{k}:conditional" for k in DIMENSION_KEYS),
    "oneway",
    "oneway:conditional",
    "reversed",
)

#: Verdicts, least to most restrictive.
VERDICTS: tuple[str, ...] = ("yes", "destination", "permit", "no")
_RANK = {v: i for i, v in enumerate(VERDICTS)}

_VALUE_VERDICT: dict[str, str] = {
    **dict.fromkeys(("yes", "designated", "permissive", "official", "discouraged"), "yes"),
    **dict.fromkeys(("destination", "delivery", "customers"), "destination"),
    "permit": "permit",
    # Closed to us: a plain no, or a value naming other users only.
    **dict.fromkeys(
        (
            "no",
            "private",
            "agricultural",
            "forestry",
            "use_sidepath",
            "bus",
            "psv",
            "emergency",
            "taxi",
            "hov",
            "military",
        ),
        "no",
    ),
}

#: ``highway`` values closed to us unless an access key says otherwise.
_BUS_ONLY_HIGHWAYS = frozenset({"busway"})

_ONEWAY_FORWARD = frozenset({"yes", "true", "1", "forward"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse", "backward"})
_ONEWAY_BOTH = frozenset({"reversible", "alternating"})
_ONEWAY_NONE = frozenset({"no", "false", "0"})
_NO_LIMIT = frozenset({"none", "default", "no"})


@dataclass(frozen=True)
class Access:
    """The verdict for one vehicle on one directed edge, and the tag that decided it.

    ``value`` is ``"yes"``, ``"no"``, ``"permit"`` (only with a permit the rule files
    declare ``grants_osm_permit: true``) or ``"destination"`` (only to reach or leave a
    stop); ``tag`` is e.g. ``"motor_vehicle=permit"``, ``"maxheight=3.2"``,
    ``"highway=busway"``, ``"hgv:conditional=no @ (Mo-Fr 07:00-09:00)"``; ``""`` for the
    default yes.
    """

    value: str
    tag: str


YES = Access("yes", "")


# --------------------------------------------------------------------------- reading values


def _items(raw: Any) -> list[str]:
    """The elements of a tag value (a list on merged ways), as stripped strings."""
    if raw is None:
        return []
    if isinstance(raw, (set, frozenset)):
        seq: Iterable[Any] = sorted(raw, key=str)
    elif isinstance(raw, (list, tuple)):
        seq = raw
    else:
        seq = [raw]
    out = []
    for x in seq:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            continue
        s = str(x).strip()
        if s:
            out.append(s)
    return out


def _parts(raw: Any) -> list[str]:
    """Elements split further on ``;`` (OSM's multi-value separator)."""
    return [p.strip() for s in _items(raw) for p in s.split(";") if p.strip()]


def value_verdict(value: str) -> str:
    """The verdict one access value gives our vehicles (unknown values: ``"no"``)."""
    return _VALUE_VERDICT.get(value.strip().lower(), "no")


def _most_restrictive(cands: Iterable[Access]) -> Access | None:
    best: Access | None = None
    for a in cands:
        if best is None or _RANK[a.value] > _RANK[best.value]:
            best = a
    return best


def _truthy(raw: Any) -> bool:
    """Any element of a boolean-ish edge attribute (a list on merged edges) is true."""
    for x in raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw]:
        if x is True or (isinstance(x, str) and x.strip().lower() in {"true", "yes", "1", "-1"}):
            return True
        if isinstance(x, (int, float)) and not isinstance(x, bool) and x:
            return True
    return False


_NUM = r"(\d+(?:[.,]\d+)?)"
_TONNES = re.compile(rf"^{_NUM}\s*(t|kg|st|lbs)?$")
_METRES = re.compile(rf"^{_NUM}\s*(m|cm)?$")
_FEET = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:'|ft)\s*(?:(\d+(?:\.\d+)?)\s*(?:\"|in))?$")
_TONNE_FACTOR = {"t": 1.0, "kg": 0.001, "st": 0.907185, "lbs": 0.000453592}


def _one_tonnes(s: str) -> float | None:
    m = _TONNES.match(s.strip().lower())
    if not m:
        return None
    return float(m.group(1).replace(",", ".")) * _TONNE_FACTOR[m.group(2) or "t"]


def _one_metres(s: str) -> float | None:
    t = s.strip().lower()
    m = _METRES.match(t)
    if m:
        x = float(m.group(1).replace(",", "."))
        return x / 100 if m.group(2) == "cm" else x
    m = _FEET.match(t)
    if m:
        return float(m.group(1)) * 0.3048 + float(m.group(2) or 0) * 0.0254
    return None


def parse_tonnes(value: Any) -> float | None:
    """A ``maxweight``/``maxaxleload`` value in tonnes: ``"10"``, ``"5.5 t"``, ``"3500 kg"``
    (also ``st``, ``lbs``); the minimum of a list; None when nothing is readable."""
    out = [x for x in (_one_tonnes(s) for s in _parts(value)) if x is not None]
    return min(out) if out else None


def parse_metres(value: Any) -> float | None:
    """A ``maxheight``/``maxwidth``/``maxlength`` value in metres: ``"3.5"``, ``"3.5 m"``,
    ``"12'6\\""``, ``"13 ft"``; the minimum of a list; None when nothing is readable."""
    out = [x for x in (_one_metres(s) for s in _parts(value)) if x is not None]
    return min(out) if out else None


_DIM_PARSER: dict[str, Callable[[str], float | None]] = {
    "maxheight": _one_metres,
    "maxwidth": _one_metres,
    "maxlength": _one_metres,
    "maxweight": _one_tonnes,
    "maxaxleload": _one_tonnes,
}


def _measure(key: str, v: VehicleInfo) -> float:
    """The vehicle's measure a dimension key limits (0: unknown, never bound)."""
    if key == "maxheight":
        return v.height_m
    if key == "maxwidth":
        return v.width_m
    if key == "maxlength":
        return v.length_m
    if key == "maxweight":
        return v.gross_weight_kg / 1000
    return v.max_axle_load_t if v.gross_weight_kg or v.axle_load_t else 0.0


def _limit(key: str, s: str) -> tuple[bool, float | None]:
    """``(readable, limit)`` of one dimension value; a None limit means no limit."""
    if s.strip().lower() in _NO_LIMIT:
        return True, None
    x = _DIM_PARSER[key](s)
    return (x is not None), x


# --------------------------------------------------------------------------- conditionals


def split_conditional(value: str) -> list[tuple[str, str]] | None:
    """``"no @ (Mo-Fr 07:00-09:00); yes @ (Sa)"`` → ``[("no", "Mo-Fr 07:00-09:00"), ...]``.

    Pairs are split on ``;`` outside parentheses; the condition loses its outer
    parentheses. None when a part has no ``@`` or the parentheses do not balance.
    """
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(value):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == ";" and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    if depth:
        return None
    parts.append(value[start:])
    out = []
    for p in parts:
        if not p.strip():
            continue
        val, at, cond = p.partition("@")
        val, cond = val.strip(), cond.strip()
        if not at or not val or not cond:
            return None
        if cond.startswith("(") and cond.endswith(")") and _balanced(cond[1:-1]):
            cond = cond[1:-1].strip()
        out.append((val, cond))
    return out


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _is_time(cond: str) -> bool:
    try:
        parse_hours(cond)
    except HoursError:
        return False
    return True


@dataclass(frozen=True)
class _Piece:
    """One ``value @ (condition)`` of a conditional tag, read."""

    cond: str
    access: Access | None  # access keys and oneway: the verdict while the condition holds
    limit: float | None = None  # dimension keys: the limit while it holds (None: no limit)


def _pieces(
    tags: Mapping[str, Any], key: str, read: Callable[[str, str], _Piece | None], bad: list[str]
) -> list[list[_Piece]]:
    """The readable pieces of ``key:conditional``, one list per element of a merged value."""
    ck = f"{key}:conditional"
    out: list[list[_Piece]] = []
    for elem in _items(tags.get(ck)):
        pairs = split_conditional(elem)
        if pairs is None:
            bad.append(f"{ck}={elem!r}: not 'value @ (condition)'")
            continue
        got: list[_Piece] = []
        for val, cond in pairs:
            if not _is_time(cond):
                # A restriction whose condition we cannot evaluate (weight>7, wet) is taken
                # to hold at all times: an operator pays the fines. A permission is ignored.
                q = read(val, "24/7")
                restrictive = q is not None and (
                    (q.access is not None and q.access.value != "yes") or q.limit is not None
                )
                if restrictive and q is not None:
                    bad.append(
                        f"{ck}={elem!r}: condition {cond!r} is not a time "
                        "(the restriction is taken to hold at all times)"
                    )
                    got.append(q)
                else:
                    bad.append(f"{ck}={elem!r}: condition {cond!r} is not a time (ignored)")
                continue
            p = read(val, cond)
            if p is None:
                bad.append(f"{ck}={elem!r}: value {val!r} not understood (ignored)")
                continue
            got.append(p)
        if got:
            out.append(got)
    return out


# --------------------------------------------------------------------------- the parsed edge


@dataclass(frozen=True)
class _Level:
    """One key of the hierarchy: its plain verdict and its conditional pieces."""

    plain: Access | None
    conds: list[list[_Piece]]


@dataclass(frozen=True)
class _Dim:
    key: str
    measure: float
    plain: float | None
    plain_tag: str
    conds: list[list[_Piece]]


@dataclass(frozen=True)
class _Parsed:
    levels: list[_Level]  # general to specific
    busway: Access | None
    dims: list[_Dim]
    oneway: list[list[_Piece]]  # oneway:conditional pieces (access None: this way is open)

    @property
    def timed(self) -> bool:
        return (
            bool(self.oneway)
            or any(lv.conds for lv in self.levels)
            or any(d.conds for d in self.dims)
        )


def _chain(vehicle: VehicleInfo) -> tuple[str, ...]:
    """The keys that speak for ``vehicle``, general to specific."""
    return ("access", "vehicle", "motor_vehicle", "hgv" if vehicle.is_hgv else "goods")


def _unknown(key: str, value: str, bad: list[str]) -> None:
    if value.strip().lower() not in _VALUE_VERDICT:
        bad.append(f"{key}={value!r}: unknown value (read as no)")


def _parse(tags: Mapping[str, Any], vehicle: VehicleInfo | None, bad: list[str]) -> _Parsed:
    """Read the tags once; ``vehicle`` None reads every key (for :func:`unreadable`)."""
    keys = _chain(vehicle) if vehicle is not None else ACCESS_KEYS
    levels = []
    for key in keys:
        cands = []
        for s in _parts(tags.get(key)):
            _unknown(key, s, bad)
            cands.append(Access(value_verdict(s), f"{key}={s}"))

        def read_access(val: str, cond: str, key: str = key) -> _Piece:
            vals = [x.strip() for x in val.split(";") if x.strip()] or [val]
            for x in vals:
                _unknown(f"{key}:conditional", x, bad)
            worst = max((value_verdict(x) for x in vals), key=_RANK.__getitem__)
            return _Piece(cond, Access(worst, f"{key}:conditional={val} @ ({cond})"))

        levels.append(_Level(_most_restrictive(cands), _pieces(tags, key, read_access, bad)))

    hws = [h.lower() for h in _items(tags.get("highway"))]
    bus_hw = next((h for h in hws if h in _BUS_ONLY_HIGHWAYS), None)
    busway = Access("no", f"highway={bus_hw}") if bus_hw else None

    dims = []
    for key in DIMENSION_KEYS:
        measure = _measure(key, vehicle) if vehicle is not None else 1.0
        if measure <= 0:
            continue
        plain: float | None = None
        plain_tag = ""
        for s in _parts(tags.get(key)):
            ok, lim = _limit(key, s)
            if not ok:
                bad.append(f"{key}={s!r}: not a readable limit (ignored)")
            elif lim is not None and (plain is None or lim < plain):
                plain, plain_tag = lim, f"{key}={s}"

        def read_dim(val: str, cond: str, key: str = key) -> _Piece | None:
            ok, lim = _limit(key, val)
            if not ok:
                return None
            return _Piece(cond, Access("no", f"{key}:conditional={val} @ ({cond})"), lim)

        dims.append(_Dim(key, measure, plain, plain_tag, _pieces(tags, key, read_dim, bad)))

    oneway_edge = _truthy(tags.get("oneway"))
    against = _truthy(tags.get("reversed")) and not oneway_edge

    def read_oneway(val: str, cond: str) -> _Piece | None:
        v = val.strip().lower()
        closed = Access("no", f"oneway:conditional={val} @ ({cond})")
        if v in _ONEWAY_BOTH:
            return _Piece(cond, closed)
        if v in _ONEWAY_FORWARD:
            return _Piece(cond, closed if against else None)
        if v in _ONEWAY_BACKWARD:
            return _Piece(cond, None if against else closed)
        if v in _ONEWAY_NONE:
            return _Piece(cond, None)
        return None

    # Pieces that leave this direction open stay: a later one overrides an earlier one.
    oneway = [
        elem
        for elem in _pieces(tags, "oneway", read_oneway, bad)
        if any(p.access is not None for p in elem)
    ]
    return _Parsed(levels, busway, dims, oneway)


# --------------------------------------------------------------------------- evaluation


def _active(elems: list[list[_Piece]], on: Callable[[str], bool]) -> list[_Piece]:
    """Per element of a merged value, the rightmost piece whose condition holds."""
    out = []
    for pieces in elems:
        hit = next((p for p in reversed(pieces) if on(p.cond)), None)
        if hit is not None:
            out.append(hit)
    return out


def _verdict(parsed: _Parsed, on: Callable[[str], bool]) -> Access:
    """The verdict with the conditions for which ``on`` is true holding."""
    decided: Access | None = None
    for level in reversed(parsed.levels):  # most specific first
        act = _active(level.conds, on)
        decided = _most_restrictive(p.access for p in act if p.access) if act else level.plain
        if decided is not None:
            break
    verdict = decided or parsed.busway or YES
    if verdict.value == "no":
        return verdict
    for d in parsed.dims:
        act = _active(d.conds, on)
        if act:
            lims = [p for p in act if p.limit is not None]
            low = min(lims, key=lambda p: p.limit or 0.0) if lims else None
            limit, tag = (low.limit, low.access.tag if low.access else "") if low else (None, "")
        else:
            limit, tag = d.plain, d.plain_tag
        if limit is not None and d.measure > limit + 1e-9:
            return Access("no", tag)
    for p in _active(parsed.oneway, on):
        if p.access is not None:
            return p.access
    return verdict


def permanent_access(tags: Mapping[str, Any], vehicle: VehicleInfo) -> Access:
    """The verdict for ``vehicle`` ignoring every ``:conditional`` tag."""
    return _verdict(_parse(tags, vehicle, []), lambda _c: False)


def always_closed(tags: Mapping[str, Any], vehicle: VehicleInfo) -> Access | None:
    """The permanent ``"no"`` no conditional tag can lift on any day, or None.

    For compile-time barring: :func:`permanent_access` ignores conditionals, so a road
    tagged ``hgv=no`` + ``hgv:conditional=yes @ (22:00-06:00)`` is ``no`` there yet open at
    night. Here a ``no`` from a key counts only when neither that key nor a more specific
    one has a conditional form (for a dimension, when the key has none).
    """
    parsed = _parse(tags, vehicle, [])
    closed = Access("no", "")
    specific_timed = False
    for level in reversed(parsed.levels):
        specific_timed = specific_timed or bool(level.conds)
        if level.plain is not None:
            if level.plain.value == "no" and not specific_timed:
                closed = level.plain
            break
    else:
        if parsed.busway is not None and not specific_timed:
            closed = parsed.busway
    if closed.tag:
        return closed
    for d in parsed.dims:
        if not d.conds and d.plain is not None and d.measure > d.plain + 1e-9:
            return Access("no", d.plain_tag)
    return None


def access_periods(
    tags: Mapping[str, Any],
    vehicle: VehicleInfo,
    day: dt.date,
    calendar: ChinaCalendar | None = None,
) -> list[tuple[int, int, Access]]:
    """The verdict for ``vehicle`` on this directed edge through ``day``.

    A partition of ``[0, 86400)`` into half-open ``(start_s, end_s, Access)`` periods
    (seconds after local midnight), consecutive equal verdicts merged. Conditions are
    evaluated with :func:`road_rules.hours.day_windows` on the official calendar.
    """
    parsed = _parse(tags, vehicle, [])
    if not parsed.timed:
        return [(0, DAY_S, _verdict(parsed, lambda _c: False))]
    conds = {
        p.cond
        for group in (
            *(lv.conds for lv in parsed.levels),
            *(d.conds for d in parsed.dims),
            parsed.oneway,
        )
        for elem in group
        for p in elem
    }
    windows = {c: day_windows(c, day, calendar) for c in sorted(conds)}
    cuts = sorted({0, DAY_S} | {t for ws in windows.values() for a, b in ws for t in (a, b)})
    cuts = [t for t in cuts if 0 <= t <= DAY_S]
    out: list[tuple[int, int, Access]] = []
    for a, b in itertools.pairwise(cuts):
        if b <= a:
            continue
        holding = {c for c, ws in windows.items() if any(s <= a < e for s, e in ws)}
        v = _verdict(parsed, holding.__contains__)
        if out and out[-1][2] == v and out[-1][1] == a:
            out[-1] = (out[-1][0], b, v)
        else:
            out.append((a, b, v))
    return out


def unreadable(tags: Mapping[str, Any]) -> list[str]:
    """What the evaluator ignored (or read as ``no``) on these tags, one line each:
    unreadable limits, non-time conditions, malformed conditionals, unknown values."""
    bad: list[str] = []
    _parse(tags, None, bad)
    return list(dict.fromkeys(bad))
