"""Mainland China's working-day calendar: public holidays and make-up working days.

opening-hours-py knows only the statutory holiday dates (one day for National Day, not
the week off), and nothing of the weekend days that are worked in exchange (调休). Road
rules written for "workdays" and stationing windows with ``PH off`` need the official
calendar, published each year by the General Office of the State Council.

Where it comes from:

* the maintained ``chinesecalendar`` package (:func:`library_calendar`), which covers the
  years up to its release, and
* the kept file ``road_rules/data/cn_calendar.yaml``, for a year the installed package does
  not cover yet: the operator adds it the day the State Council's notice is published.

:func:`default_calendar` is the two merged. A calendar answers only for the years it
covers: every query about a date in any other year raises :class:`CalendarError` naming
the year and the fix, rather than guessing plain weekends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import yaml

#: The kept file: official years that the installed chinesecalendar does not cover yet.
KEPT_FILE = Path(__file__).resolve().parent / "data" / "cn_calendar.yaml"
_KEPT_FILE_NAME = "road_rules/data/cn_calendar.yaml"
_DEFAULT_HINT = f"upgrade chinesecalendar or add the year to {_KEPT_FILE_NAME}"


class CalendarError(ValueError):
    """A calendar file that cannot be read, or a date in a year the calendar does not cover."""


@dataclass(frozen=True)
class ChinaCalendar:
    """Official days off and make-up working days, for the years in ``covered_years``.

    Every query raises :class:`CalendarError` for a date outside ``covered_years``.
    """

    holidays: frozenset[dt.date]
    makeup_workdays: frozenset[dt.date]
    covered_years: frozenset[int]
    #: How to fix a query about an uncovered year (ends the CalendarError message).
    hint: str = field(default=_DEFAULT_HINT, compare=False)

    def _check(self, day: dt.date) -> None:
        if day.year not in self.covered_years:
            raise CalendarError(f"no official working-day calendar for {day.year}: {self.hint}")

    def is_holiday(self, day: dt.date) -> bool:
        """An official day off (including the bridging days and the holiday's weekend days)."""
        self._check(day)
        return day in self.holidays

    def is_makeup_workday(self, day: dt.date) -> bool:
        """A Saturday or Sunday worked in exchange for a holiday (调休上班)."""
        self._check(day)
        return day in self.makeup_workdays

    def is_workday(self, day: dt.date) -> bool:
        """Monday to Friday that is not a holiday, or a make-up working day."""
        self._check(day)
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def extended_by(self, other: ChinaCalendar) -> ChinaCalendar:
        """This calendar with ``other``'s years added (dates merged; this one's hint).

        A date that one calendar has as a day off and the other as a make-up working day
        raises :class:`CalendarError`.
        """
        hol = self.holidays | other.holidays
        mk = self.makeup_workdays | other.makeup_workdays
        clash = sorted(hol & mk)
        if clash:
            days = ", ".join(d.isoformat() for d in clash)
            raise CalendarError(f"both a holiday and a make-up working day: {days}")
        return ChinaCalendar(hol, mk, self.covered_years | other.covered_years, self.hint)


def _dates(item: object, where: str) -> list[dt.date]:
    if isinstance(item, dt.date):
        return [item]
    s = str(item)
    ends = s.split("..") if ".." in s else [s, s]
    try:
        a, b = (dt.date.fromisoformat(x.strip()) for x in ends)
    except ValueError:
        raise CalendarError(f"{where}: not a date or date range: {s!r}") from None
    if b < a:
        raise CalendarError(f"{where}: range {s} ends before it starts")
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


def _year(key: object, where: str) -> int:
    try:
        return int(str(key))
    except ValueError:
        raise CalendarError(f"{where}: not a year: {key!r}") from None


def load_calendar(path: Path | str) -> ChinaCalendar:
    """Read one calendar YAML file on its own, without the library's years.

    The format is that of ``road_rules/data/cn_calendar.yaml``: ``covered_years``, then
    ``holidays`` and ``makeup_workdays`` keyed by year, each a list of dates or
    ``first..last`` ranges. A year listed under ``holidays`` or ``makeup_workdays`` must be
    in ``covered_years``; a make-up working day must be a Saturday or Sunday and not also a
    holiday. The result covers only the file's ``covered_years`` (see :func:`default_calendar`
    for the library extended by the kept file).
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, ValueError) as exc:  # PyYAML: ValueError for 2027-13-01
        raise CalendarError(f"{path}: cannot read calendar ({exc})") from exc
    if not isinstance(data, dict):
        raise CalendarError(f"{path}: not a calendar mapping")
    covered = frozenset(
        _year(y, f"{path}: covered_years") for y in (data.get("covered_years") or [])
    )
    found: dict[str, set[dt.date]] = {"holidays": set(), "makeup_workdays": set()}
    for section, dates in found.items():
        for key, items in (data.get(section) or {}).items():
            where = f"{path}: {section}.{key}"
            if _year(key, where) not in covered:
                raise CalendarError(f"{where}: year {key} is not in covered_years")
            for it in items or []:
                dates.update(_dates(it, where))
    hol, mk = found["holidays"], found["makeup_workdays"]
    for d in sorted(mk):
        if d.weekday() < 5:
            raise CalendarError(f"{path}: make-up working day {d} is not a Saturday or Sunday")
        if d in hol:
            raise CalendarError(f"{path}: {d} is both a holiday and a make-up working day")
    return ChinaCalendar(frozenset(hol), frozenset(mk), covered, f"add the year to {path}")


def library_calendar() -> ChinaCalendar:
    """The years the installed ``chinesecalendar`` package covers (2004 onwards)."""
    hol = frozenset(chinese_calendar.holidays)
    mk = frozenset(chinese_calendar.workdays)
    years = {d.year for d in hol}
    # The package answers for every year from its first to its last, as here.
    covered = frozenset(range(min(years), max(years) + 1))
    return ChinaCalendar(hol, mk, covered)


@lru_cache(maxsize=1)
def default_calendar() -> ChinaCalendar:
    """The official calendar: the library's years extended by the kept file's."""
    return library_calendar().extended_by(load_calendar(KEPT_FILE))
