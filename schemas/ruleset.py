"""Rulesets (../shared/contracts/ruleset.md) as msgspec Structs.

A ruleset is data, never code: these Structs are everything a TOML file can say.
Numbers may be written as TOML strings or numbers and are always read as Decimal
(`load_ruleset` in projections/rulesets.py parses floats as Decimal so that 0.015 is
exactly 0.015). Validation beyond types (ascending tiers, known timezone) lives in
`__post_init__` so every caller gets it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from schemas.events import Month, _invalid

Ratio = Decimal
Money = Decimal


class _Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base: a misspelt key in a ruleset is an error, never silently ignored."""


class Definitions(_Rule, kw_only=True):
    closed_when: Literal["signed", "signed_and_collected"] = "signed"
    min_collected_ratio: Ratio = Decimal("0.30")
    red_below: Ratio = Decimal("0.80")
    green_from: Ratio = Decimal("1.00")

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.min_collected_ratio <= 1:
            raise _invalid("min_collected_ratio", "must be between 0 and 1")
        if self.red_below > self.green_from:
            raise _invalid("red_below", "must not be above green_from")


class Tier(_Rule, kw_only=True):
    from_: Annotated[Ratio, msgspec.Meta()] = msgspec.field(name="from")
    rate: Ratio
    bonus: Money = Decimal(0)


class Tiered(_Rule, kw_only=True):
    mode: Literal["whole", "marginal"] = "whole"
    tiers: Annotated[list[Tier], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        _ascending("tiers", [t.from_ for t in self.tiers])


class Bracket(_Rule, kw_only=True):
    from_: Money = msgspec.field(name="from")
    rate: Ratio
    bonus: Money = Decimal(0)


class Brackets(_Rule, kw_only=True):
    mode: Literal["whole", "marginal"] = "whole"
    brackets: Annotated[list[Bracket], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        _ascending("brackets", [b.from_ for b in self.brackets])


class Renewal(_Rule, kw_only=True):
    multiplier: Decimal


class Referral(_Rule, kw_only=True):
    bonus: Money


class TeamAward(_Rule, kw_only=True):
    scope: Literal["region", "team"] = "region"
    from_: Ratio = msgspec.field(name="from")
    per_member: Money


class RankAward(_Rule, kw_only=True):
    every: Literal["quarter"] = "quarter"
    prizes: Annotated[list[Money], msgspec.Meta(min_length=1)]


class Mentor(_Rule, kw_only=True):
    bonus: Money
    within_months: Annotated[int, msgspec.Meta(ge=0, le=120)]


class Incentive(_Rule, kw_only=True):
    period: Literal["month", "quarter"] = "month"
    basis: Literal["bookings", "collections"] = "bookings"
    clawback: bool = False
    cap: Money | None = None
    tiered: Tiered | None = None
    brackets: Brackets | None = None
    product_rates: dict[str, Ratio] = {}
    renewal: Renewal | None = None
    referral: Referral | None = None
    team_awards: list[TeamAward] = []
    rank_awards: list[RankAward] = []
    mentor: Mentor | None = None


# What an indicator may measure: every metric a scope carries (DOMAIN.md "Metrics").
IndicatorMetric = Literal["bookings", "collections", "deals_won", "new_customers", "activities",
                          "win_rate", "avg_deal_size", "collection_rate", "cycle_days"]


class Grade(_Rule, kw_only=True):
    from_: Decimal = msgspec.field(name="from")
    grade: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class Indicator(_Rule, kw_only=True):
    metric: IndicatorMetric
    weight: Decimal
    cap: Ratio = Decimal("1.20")
    goal: Decimal | None = None

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise _invalid("weight", "must be above 0")
        if self.cap <= 0:
            raise _invalid("cap", "must be above 0")
        if self.goal is not None and self.goal <= 0:
            raise _invalid("goal", "must be above 0")


class Assessment(_Rule, kw_only=True):
    """The scorecard (考核): weighted indicators and the grades their score earns."""

    period: Literal["month", "quarter"] = "quarter"
    grades: Annotated[list[Grade], msgspec.Meta(min_length=1)]
    indicators: Annotated[list[Indicator], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        seen = set()
        for i, g in enumerate(self.grades):
            if g.from_ in seen:
                raise _invalid(f"grades[{i}].from", "must differ from every other grade's `from`")
            seen.add(g.from_)


class CalendarYear(_Rule, kw_only=True):
    """A year of mainland China's calendar as the State Council announced it (its notice
    on the year's holidays), for a year the installed chinese-calendar does not know yet:
    the weekdays off (`holidays`) and the Saturdays and Sundays worked instead (`workdays`,
    调休). Any other Monday-Friday is a working day, any other weekend day is not."""

    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    holidays: list[date] = []
    workdays: list[date] = []

    def __post_init__(self) -> None:
        for name, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for i, day in enumerate(days):
                if day.year != self.year:
                    raise _invalid(f"{name}[{i}]", f"must be a day of {self.year}")
                if day in days[:i]:
                    raise _invalid(f"{name}[{i}]", "must not repeat a day")
        for i, day in enumerate(self.workdays):
            if day in self.holidays:
                raise _invalid(f"workdays[{i}]", "must not also be in holidays")
            if day.weekday() < 5:
                raise _invalid(
                    f"workdays[{i}]", "must be a Saturday or Sunday (a weekend day worked, 调休)"
                )


class Publication(_Rule, kw_only=True):
    """The objection window (公示期): working days after the publication day."""

    objection_days: Annotated[int, msgspec.Meta(ge=0, le=60)] = 3
    calendar: Literal["weekdays", "CN"] = "weekdays"
    calendar_years: list[CalendarYear] = []

    def __post_init__(self) -> None:
        if self.calendar_years and self.calendar != "CN":
            raise _invalid("calendar_years", 'must be empty unless calendar = "CN"')
        years = [y.year for y in self.calendar_years]
        for i, year in enumerate(years):
            if year in years[:i]:
                raise _invalid(f"calendar_years[{i}].year", "must not declare a year twice")


class Honours(_Rule, kw_only=True):
    """The non-material incentives (荣誉): the month's star, the quarter's top N."""

    star_of_month: bool = False
    top_n: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0


class Ruleset(_Rule, kw_only=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    effective_from: Month
    timezone: str = "Asia/Shanghai"
    definitions: Definitions = Definitions()
    incentive: Incentive = Incentive()
    assessment: Assessment | None = None
    publication: Publication = Publication()
    honours: Honours = Honours()


def _ascending(field: str, values: list[Decimal]) -> None:
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise _invalid(f"{field}[{i}].from", "must be above the previous entry's `from` (list them in ascending order)")
