"""Opening-hours expressions (OSM ``opening_hours`` syntax) turned into day windows.

Parsing and weekday/time evaluation are done by opening-hours-py. Public holidays are
China's official ones (:mod:`road_rules.calendar`), not the library's list, which lacks
the week-long holiday periods: rules whose selector names ``PH`` apply on official
holidays (and override the other rules, as in OSM), the rest on other days. A make-up
working day (a worked Saturday or Sunday) keeps its own weekday: a worked Saturday is a
Saturday for ``Mo-Fr`` and ``Sa`` selectors (rules meant for every working day say so with
``days: workdays``, see :mod:`road_rules.evaluate`). A date in a year the official calendar
does not cover raises :class:`road_rules.calendar.CalendarError`, whatever the expression.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import opening_hours as oh

from road_rules.calendar import ChinaCalendar, default_calendar

#: opening-hours-py raises its own ParserError (absent from its type stubs).
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    getattr(oh, "ParserError", SyntaxError),
    SyntaxError,
    ValueError,
)

_DAY = r"(?:Mo|Tu|We|Th|Fr|Sa|Su|PH|SH)(?:\s*-\s*(?:Mo|Tu|We|Th|Fr|Sa|Su))?"
_SELECTOR = re.compile(rf"^\s*({_DAY}(?:\s*,\s*{_DAY})*)(?=\s|$)(.*)$")


class HoursError(ValueError):
    """An opening_hours expression that cannot be parsed."""


@dataclass(frozen=True)
class _Split:
    normal: oh.OpeningHours | None  # rules for ordinary days (None: closed)
    holiday: oh.OpeningHours | None  # rules for holidays, when the expression has PH rules
    has_ph: bool


def _split_rules(expr: str) -> tuple[list[str], list[str]]:
    """Rules for ordinary days, and the PH rules rewritten to apply every day."""
    normal: list[str] = []
    holiday: list[str] = []
    # Rules are separated by ";" and "||", and by the "additional rule" comma: one that
    # follows a time (or off/closed) and precedes a day selector ("Mo-Sa 09:00-12:00, PH off").
    parts = re.split(
        r";|\|\||(?:(?<=\d)|(?<=off)|(?<=closed))\s*,\s*(?=(?:Mo|Tu|We|Th|Fr|Sa|Su|PH|SH)\b)", expr
    )
    for rule in (r.strip() for r in parts):
        if not rule:
            continue
        m = _SELECTOR.match(rule)
        if not m:
            normal.append(rule)
            continue
        days = [d.strip() for d in m.group(1).split(",")]
        rest = m.group(2)
        if "PH" in days:
            holiday.append(f"Mo-Su{rest}")
            days = [d for d in days if d != "PH"]
            if days:
                normal.append(",".join(days) + rest)
        else:
            normal.append(rule)
    return normal, holiday


def _compile(rules: list[str], expr: str) -> oh.OpeningHours | None:
    if not rules:
        return None
    text = "; ".join(rules)
    try:
        return oh.OpeningHours(text)
    except _PARSE_ERRORS as exc:
        first = str(exc).strip().splitlines()[-1].strip(" =")
        raise HoursError(f"invalid opening_hours {expr!r}: {first}") from exc


@lru_cache(maxsize=4096)
def _parse(expr: str) -> _Split:
    if not isinstance(expr, str) or not expr.strip():
        raise HoursError("empty opening_hours expression")
    try:
        oh.OpeningHours(expr)  # validate the whole expression as written
    except _PARSE_ERRORS as exc:
        first = str(exc).strip().splitlines()[-1].strip(" =")
        raise HoursError(f"invalid opening_hours {expr!r}: {first}") from exc
    normal, holiday = _split_rules(expr)
    return _Split(_compile(normal, expr), _compile(holiday, expr), bool(holiday))


def parse_hours(expr: str) -> None:
    """Validate ``expr``; raise :class:`HoursError` with the parser's reason when invalid."""
    _parse(expr)


def _open_intervals(hours: oh.OpeningHours | None, day: dt.date) -> list[tuple[int, int]]:
    if hours is None:
        return []
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


def day_windows(
    expr: str, day: dt.date, calendar: ChinaCalendar | None = None
) -> list[tuple[int, int]]:
    """The open intervals of ``expr`` on ``day`` as seconds after local midnight.

    An interval running past midnight is cut at 24:00 (86400). On an official holiday the
    ``PH`` rules apply when the expression has any; every other day, make-up working days
    included, is evaluated as its own weekday. Raises :class:`HoursError` for an invalid
    expression and :class:`road_rules.calendar.CalendarError` for a ``day`` in a year the
    calendar does not cover.
    """
    cal = calendar or default_calendar()
    split = _parse(expr)
    # Asked even when the expression has no PH rule, so an uncovered year always fails.
    holiday = cal.is_holiday(day)
    if holiday and split.has_ph:
        return _open_intervals(split.holiday, day)
    return _open_intervals(split.normal, day)
