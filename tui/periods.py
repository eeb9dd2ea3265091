"""Period arithmetic for the TUI: months `2026-08`, quarters `2026-Q3`, years `2026`.

Periods are in the business timezone (DOMAIN.md, default Asia/Shanghai); the TUI only
moves between them and counts the days left, it never assigns events to periods.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from projections.periods import BUSINESS_TZ, current_month

__all__ = ["BUSINESS_TZ", "bounds", "current_month", "days_left", "kind", "quarter_of", "shift", "toggle"]


def kind(period: str) -> str:
    if "-Q" in period:
        return "quarter"
    if len(period) == 7:
        return "month"
    return "year"


def quarter_of(month: str) -> str:
    year, m = int(month[:4]), int(month[5:7])
    return f"{year}-Q{(m - 1) // 3 + 1}"


def shift(period: str, n: int) -> str:
    """The period n steps later (n < 0: earlier), of the same kind."""
    k = kind(period)
    if k == "month":
        index = int(period[:4]) * 12 + int(period[5:7]) - 1 + n
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    if k == "quarter":
        index = int(period[:4]) * 4 + int(period[6]) - 1 + n
        return f"{index // 4:04d}-Q{index % 4 + 1}"
    return f"{int(period) + n:04d}"


def toggle(period: str, now: datetime, tz=BUSINESS_TZ) -> str:
    """Month -> its quarter; quarter -> today's month if inside it, else its last month."""
    k = kind(period)
    if k == "month":
        return quarter_of(period)
    if k == "quarter":
        today = current_month(now, tz)
        if quarter_of(today) == period:
            return today
        q = int(period[6])
        return f"{period[:4]}-{q * 3:02d}"
    return current_month(now, tz)


def bounds(period: str, tz=BUSINESS_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a period as aware datetimes in the business timezone."""
    k = kind(period)
    year = int(period[:4])
    if k == "month":
        first = int(period[5:7])
        months = 1
    elif k == "quarter":
        first = (int(period[6]) - 1) * 3 + 1
        months = 3
    else:
        first, months = 1, 12
    start = datetime(year, first, 1, tzinfo=tz)
    index = year * 12 + first - 1 + months
    end = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    return start, end


def days_left(period: str, now: datetime, tz=BUSINESS_TZ) -> int:
    """Whole or part days until the period ends (0 once it has ended)."""
    start, end = bounds(period, tz)
    if now >= end:
        return 0
    begin = max(now, start)
    return math.ceil((end - begin) / timedelta(days=1))
