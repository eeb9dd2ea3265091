"""Working days for the objection window (公示期): `weekdays` or mainland China's `CN`.

`CN` takes the statutory holidays and the adjusted working days (调休, a Saturday or
Sunday worked in exchange for a longer holiday) from the maintained `chinese-calendar`
package, never from a hand-written list in our code: the State Council announces each
year's schedule late in the year before, and a package release carries it. Until a
release does, the ruleset may declare that year itself (`[[publication.calendar_years]]`,
copied from the State Council's notice): the declaration is part of the versioned,
hashed ruleset, so an auditor sees which calendar decided a window, and it wins over the
package for its year. A year neither knows is refused with `CalendarError` naming the
year, never guessed as weekdays: a window computed on a wrong calendar would let a
payout through early or hold it too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from schemas.ruleset import CalendarYear, Publication

CALENDARS = ("weekdays", "CN")
_MAX_DAYS = 400  # a window never runs longer than this many calendar days


class CalendarError(ValueError):
    """A working-day question the calendar cannot answer (a year it does not know)."""


@dataclass(frozen=True)
class WorkCalendar:
    """`weekdays`, or `CN` with the years a ruleset declares beside the package's."""

    name: str = "weekdays"
    declared: Mapping[int, CalendarYear] = field(default_factory=dict)

    @classmethod
    def of(cls, rule: Publication) -> WorkCalendar:
        return cls(rule.calendar, {y.year: y for y in rule.calendar_years})

    def is_working_day(self, day: date) -> bool:
        if self.name == "weekdays":
            return day.weekday() < 5
        if self.name != "CN":
            raise CalendarError(
                f"unknown calendar {self.name!r}: use one of {', '.join(CALENDARS)}"
            )
        year = self.declared.get(day.year)
        if year is not None:
            if day in year.holidays:
                return False
            return day in year.workdays or day.weekday() < 5
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            known = sorted(chinese_calendar.constants.holidays)
            span = f"{known[0].year}-{known[-1].year}" if known else "none"
            raise CalendarError(
                f"the CN calendar does not know the year {day.year} (the installed chinese-calendar "
                f"package covers {span}): upgrade chinese-calendar, declare the year in the ruleset's "
                f'[[publication.calendar_years]] from the State Council\'s notice, or use calendar = "weekdays"'
            ) from None

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The `n`-th working day after `day` (`day` itself does not count; n = 0 gives `day`)."""
        found = 0
        current = day
        for _ in range(_MAX_DAYS):
            if found == n:
                return current
            current += timedelta(days=1)
            if self.is_working_day(current):
                found += 1
        raise CalendarError(f"no {n} working days within {_MAX_DAYS} days after {day}")

    def window_end(self, published: datetime, days: int, tz: ZoneInfo) -> datetime:
        """The first instant after the objection window: midnight after its last day, local.

        The window closes at the end (23:59:59 local) of the `days`-th working day after the
        publication's local date; an instant is inside while it is before this."""
        local_day = published.astimezone(tz).date()
        last = self.nth_working_day_after(local_day, days)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when `end` <= `start`)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count
