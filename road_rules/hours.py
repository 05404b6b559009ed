"""Opening-hours expressions (OSM ``opening_hours`` syntax) turned into day windows.

Parsing and evaluation are done by opening-hours-py, with mainland China's public
holiday calendar (``PH``) loaded for country ``CN``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import opening_hours as oh

#: opening-hours-py raises its own ParserError (absent from its type stubs).
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    getattr(oh, "ParserError", SyntaxError),
    SyntaxError,
    ValueError,
)


class HoursError(ValueError):
    """An opening_hours expression that cannot be parsed."""


@lru_cache(maxsize=4096)
def parse_hours(expr: str) -> oh.OpeningHours:
    """Parse ``expr``; raise :class:`HoursError` with the parser's reason when invalid."""
    if not isinstance(expr, str) or not expr.strip():
        raise HoursError("empty opening_hours expression")
    try:
        return oh.OpeningHours(expr, country="CN")
    except _PARSE_ERRORS as exc:
        first = str(exc).strip().splitlines()[-1].strip(" =")
        raise HoursError(f"invalid opening_hours {expr!r}: {first}") from exc


def day_windows(expr: str, day: dt.date) -> list[tuple[int, int]]:
    """The open intervals of ``expr`` on ``day`` as seconds after local midnight.

    An interval running past midnight is cut at 24:00 (86400).
    """
    hours = parse_hours(expr)
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    out: list[tuple[int, int]] = []
    for a, b, state, _comment in hours.intervals(start, end):
        if state == oh.State.OPEN:
            a_s = int((a.replace(tzinfo=None) - start).total_seconds())
            b_s = int((min(b.replace(tzinfo=None), end) - start).total_seconds())
            if b_s > a_s:
                if out and out[-1][1] == a_s:
                    out[-1] = (out[-1][0], b_s)
                else:
                    out.append((a_s, b_s))
    return out
