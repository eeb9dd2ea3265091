"""Working days for the objection window (公示期): `weekdays` or mainland China's `CN`.

`CN` takes the statutory holidays and the adjusted working days (调休, a Saturday or
Sunday worked in exchange for a longer holiday) from the maintained `chinese-calendar`
package, never from a hand-written list: the State Council announces each year's
schedule late in the year before, and a package release carries it. A year the
installed package does not know is refused with `CalendarError` naming the year, never
guessed as weekdays: a window computed on a wrong calendar would let a payout through
early or hold it too long.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

CALENDARS = ("weekdays", "CN")
_MAX_DAYS = 400  # a window never runs longer than this many calendar days


class CalendarError(ValueError):
    """A working-day question the calendar cannot answer (a year it does not know)."""


def is_working_day(day: date, calendar: str) -> bool:
    if calendar == "weekdays":
        return day.weekday() < 5
    if calendar == "CN":
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            known = sorted(chinese_calendar.constants.holidays)
            span = f"{known[0].year}-{known[-1].year}" if known else "none"
            raise CalendarError(
                f"the CN calendar does not know the year {day.year} (the installed chinese-calendar "
                f'package covers {span}): upgrade chinese-calendar, or use calendar = "weekdays"'
            ) from None
    raise CalendarError(f"unknown calendar {calendar!r}: use one of {', '.join(CALENDARS)}")


def nth_working_day_after(day: date, n: int, calendar: str) -> date:
    """The `n`-th working day after `day` (`day` itself does not count; n = 0 gives `day`)."""
    found = 0
    current = day
    for _ in range(_MAX_DAYS):
        if found == n:
            return current
        current += timedelta(days=1)
        if is_working_day(current, calendar):
            found += 1
    raise CalendarError(f"no {n} working days within {_MAX_DAYS} days after {day}")


def window_end(published: datetime, days: int, calendar: str, tz: ZoneInfo) -> datetime:
    """The first instant after the objection window: midnight after its last day, local.

    The window closes at the end (23:59:59 local) of the `days`-th working day after the
    publication's local date; an instant is inside while it is before this."""
    local_day = published.astimezone(tz).date()
    last = nth_working_day_after(local_day, days, calendar)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)


def working_days_between(start: date, end: date, calendar: str) -> int:
    """Working days after `start` up to and including `end` (0 when `end` <= `start`)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, calendar):
            count += 1
    return count
