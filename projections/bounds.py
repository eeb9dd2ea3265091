"""What the fold can compute on, checked at its entry: an event outside is set aside, never raised.

The gateway's contract is narrower (see docs/decisions.md), but the log may hold events
recorded under an older, looser one (imported, or before the bounds existed). One such
event once raised deep inside a period's documents (a month `9999-12` has no next month
to show; a target of 1e-30 gives an attainment no 28-digit context can round) and froze
every read model, since the projector retried the same batch forever. Checking here,
before the event touches the state, means the state is never half-updated, and the same
events are set aside by the live projector, a rebuild and a replay: the check depends on
the event alone.

The bounds are what the fold computes correctly, with room around the contract's:
- instants and periods in local years FIRST_YEAR..LAST_YEAR, one year inside the
  Calendar's precomputed months, so a period's 环比, 同比 and next period stay inside it;
  any offset of a contract-valid instant (years 2000-2100) stays inside too;
- money 0 or in [SMALLEST, LIMIT), credit shares in [SMALLEST, 1]: every ratio of sums of
  such amounts (attainment, 环比, collection rate) is below 1e40 and rounds exactly in WIDE.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from zoneinfo import ZoneInfo

from projections import periods as pd
from schemas import events as ev
from schemas import fast

FIRST_YEAR = pd.FIRST_YEAR + 1
LAST_YEAR = pd.LAST_YEAR - 1
LIMIT = ev.MONEY_LIMIT
SMALLEST = Decimal("0.000001")
ONE = Decimal(1)
# The context formatting rounds in: a ratio of in-bounds amounts can have more than the
# default 28 digits before its 4 decimals (1e15 of bookings against a target of 1e-6).
WIDE = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])


def _money(field: str, value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not (value.is_finite() and (SMALLEST <= value < LIMIT or not value)):
        return f"data.{field} {value} is outside what the fold computes (0, or {SMALLEST} to below {LIMIT:,.0f})"
    return None


def _period(period: str) -> str | None:
    try:
        pd.kind_of(period)
    except ValueError as exc:
        return f"data.period: {exc}"
    if not FIRST_YEAR <= int(period[:4]) <= LAST_YEAR:
        return (
            f"data.period {period} is outside the years {FIRST_YEAR}-{LAST_YEAR} the fold computes"
        )
    return None


def _amount(d) -> str | None:
    return _money("amount", d.amount)


def _target(d) -> str | None:
    return _period(d.period) or _money("amount", d.amount)


def _close(d) -> str | None:
    return _period(d.period)


def _splits(d) -> str | None:
    for i, s in enumerate(d.splits):
        if not s.share.is_finite() or not SMALLEST <= s.share <= ONE:
            return f"data.splits[{i}].share {s.share} is outside what the fold computes ({SMALLEST} to 1)"
    return None


def _hired(d) -> str | None:
    h: date | None = d.hired_on
    if h is not None and not FIRST_YEAR <= h.year <= LAST_YEAR:
        return f"data.hired_on {h} is outside the years {FIRST_YEAR}-{LAST_YEAR} the fold computes"
    return None


_DATA_CHECKS = {
    ev.TargetSet: _target,
    ev.DealCreated: _amount,
    ev.DealUpdated: _amount,
    ev.DealWon: _amount,
    ev.PaymentReceived: _amount,
    ev.PaymentRefunded: _amount,
    ev.DealCreditSplit: _splits,
    ev.RepOnboarded: _hired,
    ev.PeriodClosed: _close,
    ev.RulesetApplied: _close,
    ev.ObjectionRaised: _close,
    ev.PayoutApproved: _close,
}
for _cls, _public in fast.PUBLIC.items():
    if _public in _DATA_CHECKS:
        _DATA_CHECKS[_cls] = _DATA_CHECKS[_public]


class Bounds:
    """The fold's entry check for one business timezone (years are local years)."""

    __slots__ = ("first", "end")

    def __init__(self, tz: ZoneInfo) -> None:
        self.first = datetime(FIRST_YEAR, 1, 1, tzinfo=tz).astimezone(UTC)
        self.end = datetime(LAST_YEAR + 1, 1, 1, tzinfo=tz).astimezone(UTC)

    def reason(self, event) -> str | None:
        """Why the fold cannot take this event, or None when it can."""
        if event.__class__ is fast.Unreadable:
            return event.reason
        at = event.occurred_at
        # the year as written is a day at most from the local one: compare instants only
        # near the ends (an aware comparison across zones costs ~25 times a year's lookup)
        if not FIRST_YEAR < at.year < LAST_YEAR and not self.first <= at < self.end:
            return f"occurred_at {at.isoformat()} is outside the years {FIRST_YEAR}-{LAST_YEAR} the fold computes"
        check = _DATA_CHECKS.get(event.__class__)
        return check(event.data) if check is not None else None


def describe(pos: int, event, reason: str) -> dict:
    """A set-aside record, as `quotaboard unmatched` lists it."""
    if event.__class__ is fast.Unreadable:
        return {
            "id": event.id,
            "type": event.type,
            "position": pos,
            "occurred_at": None,
            "reason": reason,
        }
    return {
        "id": event.id,
        "type": event.__struct_config__.tag,
        "position": pos,
        "occurred_at": event.occurred_at.isoformat(),
        "reason": reason,
    }
