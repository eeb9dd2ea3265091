"""Periods in the business timezone: month `2026-08`, quarter `2026-Q3`, year `2026`.

Instants inside the fold are integer microseconds since the Unix epoch (UTC). A
`Calendar` turns them into local months with one bisect over precomputed month starts,
so no timezone conversion happens per event. Everything here is pure.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")

FIRST_YEAR = 1970
FIXED_SINCE = 1992
NAIVE_EPOCH = datetime(1970, 1, 1)
LAST_YEAR = 2200
# DOMAIN.md's default business timezone, in which readers (CLI, TUI) name "this month".
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def instant_us(dt: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch."""
    return (dt - EPOCH) // US


def from_us(us: int, tz: ZoneInfo | timezone = UTC) -> datetime:
    return (EPOCH + timedelta(microseconds=us)).astimezone(tz)


def iso_local(us: int, tz: ZoneInfo) -> str:
    return from_us(us, tz).isoformat()


def kind_of(period: str) -> str:
    """"month", "quarter" or "year"; ValueError for anything else."""
    if _MONTH.match(period):
        return "month"
    if _QUARTER.match(period):
        return "quarter"
    if _YEAR.match(period):
        return "year"
    raise ValueError(f"not a period: {period!r} (expected e.g. 2026-08, 2026-Q3 or 2026)")


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_parts(month: str) -> tuple[int, int]:
    return int(month[:4]), int(month[5:7])


def quarter_of(month: str) -> str:
    y, m = month_parts(month)
    return f"{y:04d}-Q{(m - 1) // 3 + 1}"


def year_of(period: str) -> str:
    return period[:4]


def months_of(period: str) -> list[str]:
    """The months a period is made of, in order."""
    kind = kind_of(period)
    y = int(period[:4])
    if kind == "month":
        return [period]
    if kind == "quarter":
        q = int(period[-1])
        return [month_key(y, m) for m in range(3 * q - 2, 3 * q + 1)]
    return [month_key(y, m) for m in range(1, 13)]


def months_among(periods: list[str]) -> list[str]:
    """The months of a list of periods (not its quarters, `2026-Q4` is 7 characters too)."""
    return [p for p in periods if _MONTH.match(p)]


def current_month(now: datetime, tz: ZoneInfo | timezone = BUSINESS_TZ) -> str:
    """The month an aware instant is in, in the business timezone: `2026-11-30T16:00:00Z`
    is `2026-12` in Asia/Shanghai."""
    local = now.astimezone(tz)
    return month_key(local.year, local.month)


def default_month(months: list[str], this_month: str) -> str | None:
    """The month a reader opens on: this month if it has figures, else the latest month
    before it, else the first; None when there is none. Not simply the latest: a quarter's
    last month is known before it starts (its statements are paid there)."""
    if this_month in months:
        return this_month
    past = [m for m in months if m < this_month]
    if past:
        return max(past)
    return min(months, default=None)


def last_month(period: str) -> str:
    return months_of(period)[-1]


def is_quarter_end(month: str) -> bool:
    return month_parts(month)[1] % 3 == 0


def shift_month(month: str, n: int) -> str:
    y, m = month_parts(month)
    i = y * 12 + (m - 1) + n
    return month_key(i // 12, i % 12 + 1)


def previous_period(period: str) -> str:
    """环比: the period before (`2026-01` -> `2025-12`, `2026-Q1` -> `2025-Q4`, `2026` -> `2025`)."""
    kind = kind_of(period)
    y = int(period[:4])
    if kind == "month":
        return shift_month(period, -1)
    if kind == "quarter":
        q = int(period[-1])
        return f"{y - 1:04d}-Q4" if q == 1 else f"{y:04d}-Q{q - 1}"
    return f"{y - 1:04d}"


def next_period(period: str) -> str:
    kind = kind_of(period)
    y = int(period[:4])
    if kind == "month":
        return shift_month(period, 1)
    if kind == "quarter":
        q = int(period[-1])
        return f"{y + 1:04d}-Q1" if q == 4 else f"{y:04d}-Q{q + 1}"
    return f"{y + 1:04d}"


def same_period_last_year(period: str) -> str:
    """同比: `2026-08` -> `2025-08`, `2026-Q3` -> `2025-Q3`, `2026` -> `2025`."""
    return f"{int(period[:4]) - 1:04d}{period[4:]}"


def same_period_next_year(period: str) -> str:
    return f"{int(period[:4]) + 1:04d}{period[4:]}"


def containing(month: str) -> tuple[str, str]:
    """The quarter and year a month belongs to."""
    return quarter_of(month), month[:4]


def period_sort_key(period: str) -> tuple[int, int, int]:
    """Months, then the quarter, then the year: 2026-07, 2026-08, 2026-09, 2026-Q3, … 2026."""
    kind = kind_of(period)
    y = int(period[:4])
    if kind == "month":
        m = int(period[5:7])
        return (y, (m - 1) // 3 * 2, m)
    if kind == "quarter":
        return (y, (int(period[-1]) - 1) * 2 + 1, 0)
    return (y, 99, 0)


class Calendar:
    """Local months of a timezone as sorted start instants (µs), for bisecting."""

    __slots__ = ("tz", "_starts", "_keys", "_index", "_fixed", "_fixed_us", "_fixed_text", "_ym", "_weeks", "_week_of_day")

    def __init__(self, tz: ZoneInfo | str) -> None:
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        starts: list[int] = []
        keys: list[str] = []
        for y in range(FIRST_YEAR, LAST_YEAR + 1):
            for m in range(1, 13):
                starts.append(instant_us(datetime(y, m, 1, tzinfo=self.tz)))
                keys.append(month_key(y, m))
        self._starts = starts
        self._keys = keys
        self._index = {k: i for i, k in enumerate(keys)}
        # A zone whose offset never changed since FIXED_SINCE (Asia/Shanghai): an event
        # written with that offset names its local month directly, without conversion.
        offsets = {datetime(y, m, 1, tzinfo=self.tz).utcoffset() for y in range(FIXED_SINCE, LAST_YEAR + 1)
                   for m in (1, 4, 7, 10)}
        self._fixed = offsets.pop() if len(offsets) == 1 else None
        self._fixed_us = self._fixed // US if self._fixed is not None else 0
        self._fixed_text = datetime(2000, 1, 1, tzinfo=self.tz).isoformat()[19:] if self._fixed is not None else ""
        self._ym = {(y, m): month_key(y, m) for y in range(FIXED_SINCE, LAST_YEAR + 1) for m in range(1, 13)}
        self._weeks: dict[str, list[str]] = {}
        self._week_of_day: dict[int, str] = {}

    def month_of_datetime(self, dt: datetime) -> str:
        """The local month of an aware datetime; no conversion when it carries the zone's offset."""
        if self._fixed is not None and dt.utcoffset() == self._fixed:
            key = self._ym.get((dt.year, dt.month))
            if key is not None:
                return key
        return self.month_of(instant_us(dt))

    def fixed_months(self) -> tuple[timedelta | None, dict[tuple[int, int], str]]:
        """(the zone's fixed offset or None, local (year, month) -> month key): a datetime
        carrying that offset is in the month its own year and month name (the fold's
        inlined `month_of_datetime`)."""
        return self._fixed, (self._ym if self._fixed is not None else {})

    def iso(self, us: int) -> str:
        """An instant as local RFC 3339 text."""
        if self._fixed is not None:
            return (NAIVE_EPOCH + timedelta(microseconds=us + self._fixed_us)).isoformat() + self._fixed_text
        return from_us(us, self.tz).isoformat()

    def month_of(self, us: int) -> str:
        i = bisect_right(self._starts, us) - 1
        if 0 <= i < len(self._keys) - 1:
            return self._keys[i]
        local = from_us(us, self.tz)
        return month_key(local.year, local.month)

    def bounds(self, period: str) -> tuple[int, int]:
        """[start, end) of a period in µs."""
        months = months_of(period)
        i = self._index.get(months[0])
        j = self._index.get(months[-1])
        if i is None or j is None or j + 1 >= len(self._starts):
            y0, m0 = month_parts(months[0])
            y1, m1 = month_parts(shift_month(months[-1], 1))
            return (instant_us(datetime(y0, m0, 1, tzinfo=self.tz)), instant_us(datetime(y1, m1, 1, tzinfo=self.tz)))
        return self._starts[i], self._starts[j + 1]

    def last_instant(self, period: str) -> int:
        return self.bounds(period)[1] - 1

    def local_date(self, us: int) -> date:
        return from_us(us, self.tz).date()

    def iso_week(self, us: int) -> str:
        if self._fixed is not None:
            day = (us + self._fixed_us) // US_PER_DAY
            week = self._week_of_day.get(day)
            if week is None:
                y, w, _ = (NAIVE_EPOCH + timedelta(days=day)).isocalendar()
                week = self._week_of_day[day] = f"{y:04d}-W{w:02d}"
            return week
        y, w, _ = self.local_date(us).isocalendar()
        return f"{y:04d}-W{w:02d}"

    def weeks_of(self, period: str) -> list[str]:
        """The ISO weeks touching a period, in order."""
        cached = self._weeks.get(period)
        if cached is not None:
            return cached
        start, end = self.bounds(period)
        d = self.local_date(start)
        last = self.local_date(end - 1)
        out: list[str] = []
        while d <= last:
            y, w, _ = d.isocalendar()
            key = f"{y:04d}-W{w:02d}"
            if not out or out[-1] != key:
                out.append(key)
            d += timedelta(days=1)
        self._weeks[period] = out
        return out

    def week_bounds(self, week: str) -> tuple[int, int]:
        """[start, end) in µs of an ISO week `2026-W33`: Monday 00:00 to the next, local time."""
        match = _WEEK.match(week)
        if match is None:
            raise ValueError(f"week {week!r}: expected YYYY-Www (an ISO week)")
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        start = datetime(monday.year, monday.month, monday.day, tzinfo=self.tz)
        nxt = monday + timedelta(days=7)
        return instant_us(start), instant_us(datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz))

    def previous_week(self, week: str) -> str:
        start, _ = self.week_bounds(week)
        return self.iso_week(start - 1)

    def days_left(self, period: str, now_us: int) -> int:
        """Whole local days from `now_us` to the end of the period (0 once it is over)."""
        start, end = self.bounds(period)
        if now_us >= end:
            return 0
        return (self.local_date(end - 1) - self.local_date(max(now_us, start))).days + 1


# --- moving between periods (the TUI, the wall) ------------------------------------------


def shift(period: str, n: int) -> str:
    """The period n steps later (n < 0: earlier), of the same kind."""
    k = kind_of(period)
    if k == "month":
        index = int(period[:4]) * 12 + int(period[5:7]) - 1 + n
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    if k == "quarter":
        index = int(period[:4]) * 4 + int(period[6]) - 1 + n
        return f"{index // 4:04d}-Q{index % 4 + 1}"
    return f"{int(period) + n:04d}"


def toggle(period: str, now: datetime, tz: ZoneInfo | timezone = BUSINESS_TZ) -> str:
    """Month -> its quarter; quarter -> `now`'s month if inside it, else its last month;
    year -> `now`'s month."""
    k = kind_of(period)
    if k == "month":
        return quarter_of(period)
    today = current_month(now, tz)
    if k == "quarter":
        return today if quarter_of(today) == period else last_month(period)
    return today


def bounds(period: str, tz: ZoneInfo | timezone = BUSINESS_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a month, quarter or year as aware datetimes in `tz`."""
    months = months_of(period)
    y, m = month_parts(months[0])
    start = datetime(y, m, 1, tzinfo=tz)
    index = y * 12 + m - 1 + len(months)
    return start, datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)


def days_left(period: str, now: datetime, tz: ZoneInfo | timezone = BUSINESS_TZ) -> int:
    """Whole or part days until the period ends (0 once it has ended)."""
    start, end = bounds(period, tz)
    if now >= end:
        return 0
    return math.ceil((end - max(now, start)) / timedelta(days=1))
