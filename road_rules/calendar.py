"""Mainland China's working-day calendar: public holidays and make-up working days.

opening-hours-py knows only the statutory holiday dates (one day for National Day, not
the week off), and nothing of the weekend days that are worked in exchange (调休). Road
rules written for "workdays" and stationing windows with ``PH off`` need the official
calendar, which ships as ``road_rules/data/cn_calendar.yaml``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_CALENDAR = Path(__file__).resolve().parent / "data" / "cn_calendar.yaml"


class CalendarError(ValueError):
    """A calendar file that cannot be read."""


@dataclass(frozen=True)
class ChinaCalendar:
    """Official days off and make-up working days."""

    holidays: frozenset[dt.date]
    makeup_workdays: frozenset[dt.date]
    covered_years: frozenset[int]

    def is_holiday(self, day: dt.date) -> bool:
        """A public holiday (including the bridging days off)."""
        return day in self.holidays

    def is_makeup_workday(self, day: dt.date) -> bool:
        """A weekend day worked in exchange for a holiday."""
        return day in self.makeup_workdays

    def is_workday(self, day: dt.date) -> bool:
        """Monday to Friday that is not a holiday, or a make-up working day."""
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def _dates(item: object, where: str) -> list[dt.date]:
    if isinstance(item, dt.date):
        return [item]
    s = str(item)
    try:
        if ".." in s:
            a, b = (dt.date.fromisoformat(x.strip()) for x in s.split(".."))
            if b < a:
                raise CalendarError(f"{where}: range {s} ends before it starts")
            return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]
        return [dt.date.fromisoformat(s)]
    except ValueError:
        raise CalendarError(f"{where}: not a date or date range: {s!r}") from None


def load_calendar(path: Path | str = DEFAULT_CALENDAR) -> ChinaCalendar:
    """Read a calendar YAML file (see the shipped one for the format)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CalendarError(f"{path}: cannot read calendar ({exc})") from exc
    hol: set[dt.date] = set()
    mk: set[dt.date] = set()
    for year, items in (data.get("holidays") or {}).items():
        for it in items or []:
            hol.update(_dates(it, f"{path}: holidays.{year}"))
    for year, items in (data.get("makeup_workdays") or {}).items():
        for it in items or []:
            mk.update(_dates(it, f"{path}: makeup_workdays.{year}"))
    return ChinaCalendar(
        frozenset(hol), frozenset(mk), frozenset(int(y) for y in data.get("covered_years", []))
    )


@lru_cache(maxsize=1)
def default_calendar() -> ChinaCalendar:
    """The shipped calendar."""
    return load_calendar()
