"""What the incentive engine needs to know about one plan period, and nothing more.

The fold (services/project/state.py) turns events into these facts; the incentive engine
(projections/incentives.py) turns facts plus a plan into statement lines. Keeping the
boundary this narrow is what lets the engine be tested with DOMAIN.md's worked numbers
directly, and lets live projection, rebuild and replay share one engine.

All money is Decimal and unrounded here; rounding happens once, per statement line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund in the plan period on a deal that had closed, for one credited rep."""

    deal_id: str
    payment_id: str
    amount: Decimal  # the refunded amount (whole refund, before the rep's share)
    share: Decimal  # the rep's credit share at the deal's close
    close_period: str  # plan period in which the deal closed (r of that period applies)


@dataclass(frozen=True, slots=True)
class MenteeClose:
    """A mentee's first close as owner: the mentor may earn the 伯乐奖."""

    mentor_id: str
    mentee_id: str
    deal_id: str
    closed_on: date  # local date (business timezone) of the close
    hired_on: date  # hired_on, else the onboarding date


@dataclass(slots=True)
class RepFacts:
    rep_id: str
    name: str
    team: str
    region: str  # region at the period's last instant
    active: bool  # onboarded and not offboarded at the period's last instant
    bookings: Decimal = ZERO  # credited closed amounts of deals closed in the period
    collections: Decimal = ZERO  # credited net payments in the period
    bookings_by_product_line: dict[str, Decimal] = field(default_factory=dict)
    renewal_bookings: Decimal = ZERO  # credited bookings of kind `renewal` deals
    renewal_collections: Decimal = ZERO  # credited net payments on kind `renewal` deals
    referral_closes: int = 0  # deals closed in the period as owner with source `referral`
    targets: dict[str, Decimal] = field(default_factory=dict)  # metric -> rep target
    refunds: list[Refund] = field(default_factory=list)  # refunds in this period

    def basis(self, basis: str) -> Decimal:
        return self.bookings if basis == "bookings" else self.collections

    def renewal_basis(self, basis: str) -> Decimal:
        """The part of the basis from `renewal` deals (B_renewal)."""
        return self.renewal_bookings if basis == "bookings" else self.renewal_collections


@dataclass(slots=True)
class PeriodFacts:
    """Facts for one plan period (a month, or a quarter when the plan says so)."""

    period: str
    reps: dict[str, RepFacts] = field(default_factory=dict)
    # region -> credited basis, by region at the time (close / payment)
    region_actual: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # metric -> region -> amount
    region_targets: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # metric -> region -> target
    region_members: dict[str, list[str]] = field(default_factory=dict)  # active members at period end
    # The same for teams (`[[team_awards]] scope = "team"`), by team at the time.
    team_actual: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # metric -> team -> amount
    team_targets: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # metric -> team -> target
    team_members: dict[str, list[str]] = field(default_factory=dict)  # active members at period end
    # Set only when the period is the last month of a quarter: basis over the quarter
    # per active rep (metric -> rep -> amount), for rank awards.
    quarter: str | None = None
    quarter_actual: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    mentee_closes: list[MenteeClose] = field(default_factory=list)
