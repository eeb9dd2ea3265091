"""Reading the read-model documents (standings, funnel, statements: ../shared/contracts/cli.md's
JSON, as the Structs of schemas/read_models.py) the same way in every reader: the CLI, the
TUI, the wall and the Excel report.

Documents carry money and ratios as decimal strings; `as_decimal` is the one way back to
a Decimal, so no reader parses them with float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from schemas.read_models import RepEntry


def as_decimal(value: object) -> Decimal | None:
    """A document's decimal string (or number) as a Decimal; None where there is none."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def rank_reps(reps: dict[str, RepEntry]) -> dict[str, int]:
    """Competition ranking by attainment (no target last), then bookings: the one ranking
    the TUI and the wall show."""

    def key(item):
        rep_id, e = item
        att = as_decimal(e.attainment)
        return (att is None, -(att or 0), -(as_decimal(e.bookings) or 0), rep_id)

    ordered = sorted(reps.items(), key=key)
    ranks: dict[str, int] = {}
    previous = None
    for index, (rep_id, e) in enumerate(ordered, 1):
        k = key((rep_id, e))[:3]
        ranks[rep_id] = ranks[ordered[index - 2][0]] if previous == k else index
        previous = k
    return ranks


# --- showing them: the TUI and the wall print figures the same way -----------------------

RAG_SYMBOL = {"green": "●", "yellow": "◐", "red": "○", "none": "·"}


def money(value: object, compact: bool = False, sign: bool = False) -> str:
    """A document's amount for a person: 1,234,567 (or 1,234.50); compact 1.23M / 12.3k."""
    d = as_decimal(value)
    if d is None:
        return "—"
    prefix = "+" if sign and d > 0 else ""
    if compact:
        a = abs(d)
        neg = "-" if d < 0 else prefix
        if a >= 1_000_000:
            return f"{neg}{a / 1_000_000:.2f}M"
        if a >= 1_000:
            return f"{neg}{a / 1_000:.1f}k"
        return f"{neg}{a:.0f}"
    return f"{prefix}{d:,.0f}" if d == d.to_integral_value() else f"{prefix}{d:,.2f}"


def pct(value: object, digits: int = 1) -> str:
    d = as_decimal(value)
    return "—" if d is None else f"{d * 100:.{digits}f}%"


def signed_pct(value: object) -> str:
    d = as_decimal(value)
    return "—" if d is None else f"{d * 100:+.1f}%"
