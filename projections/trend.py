"""The weekly cadence (周度): bookings per ISO week in the business timezone, for the team,
each region and each rep, with the week-on-week change (环比) and the pro-rated target.

A week is Monday 00:00 to the next Monday, local time; the weeks of a period are those
touching it, whole (a week that starts in July and ends in August is one week in both
months' trends). The previous week is computed too, so the first week has its 环比.
Targets stay monthly (or quarterly): a week's target is the period's target pro-rated
by the share of the period's time that falls in the week, and the cumulative target
line is their running sum (DOMAIN.md's incentives are untouched: a plan still pays per
month or quarter).

Pure: the fold hands in the credited closes.
"""

from __future__ import annotations

from decimal import Decimal

from projections.metrics import change
from projections.views import money, ratio4

ZERO = Decimal(0)


class WeeklyBookings:
    """Credited bookings per scope (team, region, rep) and week, as the fold adds closes."""

    def __init__(self, weeks: list[str]) -> None:
        self.weeks = weeks
        self.scopes: dict[str, dict[str, dict[str, Decimal]]] = {
            "team": {},
            "region": {},
            "rep": {},
        }

    def add(self, scope: str, scope_id: str, week: str, amount: Decimal) -> None:
        by_week = self.scopes[scope].setdefault(scope_id, {})
        by_week[week] = by_week.get(week, ZERO) + amount


def _series(
    by_week: dict[str, Decimal],
    weeks: list[str],
    prior: str,
    target: Decimal | None,
    shares: dict[str, Decimal],
) -> dict:
    rows = []
    cumulative = cumulative_target = ZERO
    previous = by_week.get(prior, ZERO)
    for week in weeks:
        value = by_week.get(week, ZERO)
        cumulative += value
        row = {
            "week": week,
            "bookings": money(value),
            "mom": ratio4(change(value, previous)),
            "cumulative": money(cumulative),
            "target": None,
            "cumulative_target": None,
        }
        if target is not None:
            share = target * shares[week]
            cumulative_target += share
            row["target"] = money(share)
            row["cumulative_target"] = money(cumulative_target)
        rows.append(row)
        previous = value
    return {
        "target": money(target),
        "previous_week": {"week": prior, "bookings": money(by_week.get(prior, ZERO))},
        "weeks": rows,
    }


def weekly_doc(
    period: str,
    prior: str,
    bookings: WeeklyBookings,
    ids: dict[str, set[str]],
    targets: dict[str, dict[str, Decimal]],
    shares: dict[str, Decimal],
) -> dict:
    """`weekly --json`: per scope, each week's bookings, 环比, pro-rated and cumulative target."""
    names = {"team": "team", "region": "regions", "rep": "reps"}
    doc: dict = {
        "period": period,
        "weeks": list(bookings.weeks),
        "share_of_period": {w: ratio4(s) for w, s in shares.items()},
    }
    for scope, key in names.items():
        table = bookings.scopes[scope]
        doc[key] = {
            i: _series(table.get(i, {}), bookings.weeks, prior, targets[scope].get(i), shares)
            for i in sorted(ids[scope] | table.keys())
        }
    return doc
