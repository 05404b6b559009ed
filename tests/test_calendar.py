"""The official working-day calendar: the chinesecalendar package's years, the kept file for
newer ones, a loud error for a year neither covers, and make-up days keeping their weekday."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

from road_rules.calendar import (
    KEPT_FILE,
    CalendarError,
    ChinaCalendar,
    default_calendar,
    library_calendar,
    load_calendar,
)
from road_rules.evaluate import active_intervals
from road_rules.hours import day_windows
from road_rules.model import Rule

D = dt.date
CAL = default_calendar()
MAKEUP_SATURDAY = D(2026, 10, 10)  # worked in exchange for the National Day week

CAL_2027 = """\
covered_years: [2027]
holidays:
  2027:
    - 2027-01-01
    - 2027-10-01..2027-10-07
makeup_workdays:
  2027: [2027-09-26, 2027-10-09]
"""


def hm(s: str) -> int:
    """Seconds after midnight of ``HH:MM``."""
    h, m = s.split(":")
    return int(h) * 3600 + int(m) * 60


def write(tmp_path: Path, text: str) -> Path:
    """A calendar file holding ``text``."""
    p = tmp_path / "cal.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_library_years() -> None:
    """2026 from the package: National Day off, the make-up Saturday worked, a plain Tuesday."""
    assert CAL.is_holiday(D(2026, 10, 1)) and not CAL.is_workday(D(2026, 10, 1))
    assert MAKEUP_SATURDAY.weekday() == 5
    assert CAL.is_makeup_workday(MAKEUP_SATURDAY) and CAL.is_workday(MAKEUP_SATURDAY)
    assert not CAL.is_holiday(MAKEUP_SATURDAY)
    assert CAL.is_workday(D(2026, 12, 1)) and not CAL.is_holiday(D(2026, 12, 1))
    assert not CAL.is_makeup_workday(D(2026, 12, 1))
    assert not CAL.is_workday(D(2026, 12, 5))  # an ordinary Saturday
    assert CAL.is_holiday(D(2026, 10, 3))  # a Saturday inside the holiday week
    assert {2004, 2025, 2026} <= CAL.covered_years
    assert library_calendar().covered_years <= CAL.covered_years


@pytest.mark.parametrize("day", [D(2026, 1, 1), D(2026, 2, 14), D(2026, 3, 7), D(2025, 10, 8)])
def test_agrees_with_the_package(day: dt.date) -> None:
    """Working or not as chinesecalendar itself says."""
    assert CAL.is_workday(day) == chinese_calendar.is_workday(day)


@pytest.mark.parametrize(
    "query", ["is_holiday", "is_makeup_workday", "is_workday"], ids=lambda q: str(q)
)
def test_uncovered_year_raises_naming_the_year(query: str) -> None:
    """No silent weekend guess: 2027 (not yet published) and 1999 both fail, saying the fix."""
    for day in (D(2027, 3, 3), D(1999, 3, 3)):
        with pytest.raises(
            CalendarError, match=rf"no official working-day calendar for {day.year}"
        ):
            getattr(CAL, query)(day)
    with pytest.raises(CalendarError) as err:
        CAL.is_workday(D(2027, 3, 3))
    assert "upgrade chinesecalendar" in str(err.value)
    assert "road_rules/data/cn_calendar.yaml" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_uncovered_year_raises_in_day_windows_and_workday_rules() -> None:
    """Evaluation fails loudly too, with or without a PH rule."""
    with pytest.raises(CalendarError, match="2027"):
        day_windows("Mo-Sa 09:00-11:30; PH off", D(2027, 3, 3))
    with pytest.raises(CalendarError, match="2027"):
        day_windows("Mo-Fr 07:00-09:00", D(2027, 3, 3))
    rule = Rule(id="W", title="W", district="440304", effect="no_entry", days="workdays")
    with pytest.raises(CalendarError, match="2027"):
        active_intervals(rule, D(2027, 3, 3))


def test_the_kept_file_holds_no_year_the_package_covers() -> None:
    """The shipped file only extends the package (delete a year once a release covers it)."""
    assert not load_calendar(KEPT_FILE).covered_years & library_calendar().covered_years


def test_kept_file_extends_the_library_with_a_new_year(tmp_path: Path) -> None:
    """A year added to the kept file works; the library's years still do."""
    kept = load_calendar(write(tmp_path, CAL_2027))
    assert kept.covered_years == {2027}
    cal = library_calendar().extended_by(kept)
    assert cal.is_holiday(D(2027, 10, 4)) and not cal.is_workday(D(2027, 10, 4))
    assert D(2027, 10, 9).weekday() == 5 and cal.is_workday(D(2027, 10, 9))
    assert cal.is_workday(D(2027, 3, 3)) and not cal.is_workday(D(2027, 3, 6))
    assert cal.is_holiday(D(2026, 10, 1)) and cal.is_workday(MAKEUP_SATURDAY)
    with pytest.raises(CalendarError, match="2028"):
        cal.is_workday(D(2028, 1, 3))
    assert day_windows("Mo-Sa 09:00-11:30; PH off", D(2027, 10, 4), cal) == []


def test_a_standalone_file_covers_only_its_own_years(tmp_path: Path) -> None:
    """load_calendar reads one file without the package; its error names that file."""
    path = write(tmp_path, CAL_2027)
    cal = load_calendar(path)
    with pytest.raises(CalendarError, match=f"for 2026: add the year to {path}"):
        cal.is_workday(D(2026, 12, 1))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("covered_years: []\nholidays:\n  2027: [2027-01-01]\n", "not in covered_years"),
        ("covered_years: [2027]\nmakeup_workdays:\n  2027: [2027-03-03]\n", "not a Saturday"),
        (
            "covered_years: [2027]\nholidays:\n  2027: [2027-10-09]\n"
            "makeup_workdays:\n  2027: [2027-10-09]\n",
            "both a holiday and a make-up",
        ),
        ("covered_years: [2027]\nholidays:\n  2027: [2027-13-01]\n", "cannot read calendar"),
        ("covered_years: [2027]\nholidays:\n  2027: ['2027-02-30']\n", "not a date"),
        ("covered_years: [2027]\nholidays:\n  2027: [2027-10-07..2027-10-01]\n", "ends before"),
    ],
)
def test_a_bad_file_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    """Mistakes in a kept file fail when it is read, not as a wrong day later."""
    with pytest.raises(CalendarError, match=reason):
        load_calendar(write(tmp_path, text))


def test_a_clash_with_the_library_is_refused() -> None:
    """A day the package has off cannot be a make-up working day in the kept file."""
    kept = ChinaCalendar(frozenset(), frozenset({D(2026, 10, 3)}), frozenset({2026}))
    with pytest.raises(CalendarError, match="2026-10-03"):
        library_calendar().extended_by(kept)


def test_a_makeup_saturday_keeps_its_weekday_in_day_windows() -> None:
    """A worked Saturday is a Saturday for weekday selectors, not a Wednesday."""
    assert day_windows("Mo-Fr 07:00-09:00", MAKEUP_SATURDAY) == []
    assert day_windows("Sa 10:00-12:00", MAKEUP_SATURDAY) == [(hm("10:00"), hm("12:00"))]
    assert day_windows("Mo-Sa 09:00-11:30; PH off", MAKEUP_SATURDAY) == [(hm("09:00"), hm("11:30"))]
    # Holidays as before: the PH rules apply when there are any.
    assert day_windows("Mo-Sa 09:00-11:30; PH off", D(2026, 10, 1)) == []
    assert day_windows("PH 10:00-12:00; Mo-Fr 08:00-09:00", D(2026, 10, 1)) == [
        (hm("10:00"), hm("12:00"))
    ]
    assert day_windows("Mo-Fr 08:00-09:00", D(2026, 10, 1)) == [(hm("08:00"), hm("09:00"))]


def test_workdays_rules_are_in_force_on_a_makeup_saturday() -> None:
    """``days: workdays`` follows the official calendar: worked Saturday yes, holiday no."""
    workdays = Rule(
        id="W", title="W", district="440304", effect="no_entry", when="07:00-09:00", days="workdays"
    )
    non_workdays = Rule(
        id="N", title="N", district="440304", effect="no_entry", days="non_workdays"
    )
    assert active_intervals(workdays, MAKEUP_SATURDAY) == [(hm("07:00"), hm("09:00"))]
    assert active_intervals(workdays, D(2026, 12, 5)) == []  # an ordinary Saturday
    assert active_intervals(workdays, D(2026, 10, 1)) == []  # National Day
    assert active_intervals(non_workdays, MAKEUP_SATURDAY) == []
    assert active_intervals(non_workdays, D(2026, 10, 1)) == [(0, 86_400)]
