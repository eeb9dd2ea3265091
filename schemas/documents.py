"""Reading the read-model documents (standings, funnel, statements: ../shared/contracts/cli.md's
JSON) the same way in every reader: the CLI, the TUI and the Excel report.

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
