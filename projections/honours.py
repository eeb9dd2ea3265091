"""Honours (荣誉), the seed's non-material incentives: the month's star and the quarter's top N.

Pure functions of a period's basis attainments (unrounded, so a tie is an exact tie).
Only reps active at the period's end and with a target take part: an offboarded rep
does not rank (DOMAIN.md), and a rep without a target has no attainment to compare.
The projection freezes a month's list when the month is published; a quarter's top N
is frozen with its last month.

An honour is a string in `standings --json`: `"star_of_month"`, or `"top_n:<place>"`
for the quarter's ranking (places are shared by ties: 1, 2, 2, 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from schemas.ruleset import Honours

STAR = "star_of_month"
STAR_FROM = Decimal("1.00")  # none below 100% of target


def star_of_month(attainments: Mapping[str, Decimal | None]) -> set[str]:
    """The reps with the highest attainment of at least 1.00 (ties: all of them)."""
    values = {r: a for r, a in attainments.items() if a is not None and a >= STAR_FROM}
    if not values:
        return set()
    best = max(values.values())
    return {r for r, a in values.items() if a == best}


def top_places(attainments: Mapping[str, Decimal | None], n: int) -> dict[str, int]:
    """Rep -> place for the reps placed n-th or better; equal attainments share a place."""
    ranked = sorted(
        ((a, r) for r, a in attainments.items() if a is not None), key=lambda x: (-x[0], x[1])
    )
    out: dict[str, int] = {}
    place = 0
    previous = None
    for i, (value, rep) in enumerate(ranked, 1):
        if value != previous:
            place, previous = i, value
        if place > n:
            break
        out[rep] = place
    return out


def honours(
    rules: Honours,
    month: Mapping[str, Decimal | None] | None,
    quarter: Mapping[str, Decimal | None] | None,
) -> dict[str, list[str]]:
    """Rep -> honours: the month's star from `month`'s attainments, the top N from `quarter`'s
    (None where the period has no such honour: a quarter has no star, a month other than
    the quarter's last no top N)."""
    out: dict[str, list[str]] = {}
    if rules.star_of_month and month is not None:
        for rep in sorted(star_of_month(month)):
            out.setdefault(rep, []).append(STAR)
    if rules.top_n and quarter is not None:
        for rep, place in sorted(top_places(quarter, rules.top_n).items()):
            out.setdefault(rep, []).append(f"top_n:{place}")
    return out
