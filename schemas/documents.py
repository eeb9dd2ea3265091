"""Reading the read-model documents (standings, funnel, statements: ../shared/contracts/cli.md's
JSON) the same way in every reader: the CLI, the TUI, the wall and the Excel report.

Documents carry money and ratios as decimal strings; `as_decimal` is the one way back to
a Decimal, so no reader parses them with float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def as_decimal(value: object) -> Decimal | None:
    """A document's decimal string (or number) as a Decimal; None where there is none."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def rank_reps(reps: dict[str, dict]) -> dict[str, int]:
    """Competition ranking by attainment (no target last), then bookings: the one ranking
    the TUI and the wall show."""

    def key(item):
        rep_id, e = item
        att = as_decimal(e.get("attainment"))
        return (att is None, -(att or 0), -(as_decimal(e.get("bookings")) or 0), rep_id)

    ordered = sorted(reps.items(), key=key)
    ranks: dict[str, int] = {}
    previous = None
    for index, (rep_id, e) in enumerate(ordered, 1):
        k = key((rep_id, e))[:3]
        ranks[rep_id] = ranks[ordered[index - 2][0]] if previous == k else index
        previous = k
    return ranks
