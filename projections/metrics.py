"""Figures per period and scope (team, region, product line, rep), from folded deals.

A month's `Figures` are built from the deals that feed that month (closes, losses,
payments) plus the month's activities; a quarter's or year's are the sum of its
months' (every metric is additive in its parts: sums and counts, ratios are formed
at the end). Money is Decimal, unrounded.

Nothing is dropped between scopes: what is credited to a rep id no rep.onboarded names
goes to `unassigned` (by that id) instead of a rep, and to the region and team
`unassigned`, so for every additive metric team = Σ regions = Σ reps + unassigned, and
for money also = Σ product lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from projections.deals import DealState
from projections.facts import MenteeClose, Refund
from projections.periods import instant_us

ZERO = Decimal(0)
UNASSIGNED = "unassigned"  # the region and team of credit to unknown reps
US_PER_DAY = Decimal(86_400_000_000)
ACTIVITY_KINDS = ("call", "visit", "meeting", "email", "demo", "other")


class Acc:
    """Additive parts of every metric for one scope in one period."""

    __slots__ = ("bookings", "collections", "deals_won", "deals_lost", "new_customers",
                 "cycle_us", "activities", "activity_kinds")

    def __init__(self) -> None:
        self.bookings = ZERO
        self.collections = ZERO
        self.deals_won = 0
        self.deals_lost = 0
        self.new_customers = 0
        self.cycle_us = 0
        self.activities = 0
        self.activity_kinds: dict[str, int] = {}

    def add(self, other: Acc) -> None:
        self.bookings += other.bookings
        self.collections += other.collections
        self.deals_won += other.deals_won
        self.deals_lost += other.deals_lost
        self.new_customers += other.new_customers
        self.cycle_us += other.cycle_us
        self.activities += other.activities
        for k, n in other.activity_kinds.items():
            self.activity_kinds[k] = self.activity_kinds.get(k, 0) + n

    def value(self, metric: str):
        return getattr(self, metric)

    # ratios, unrounded; None where they do not exist
    def win_rate(self) -> Decimal | None:
        n = self.deals_won + self.deals_lost
        return Decimal(self.deals_won) / n if n else None

    def avg_deal_size(self) -> Decimal | None:
        return self.bookings / self.deals_won if self.deals_won else None

    def collection_rate(self) -> Decimal | None:
        return self.collections / self.bookings if self.bookings else None

    def cycle_days(self) -> Decimal | None:
        return Decimal(self.cycle_us) / US_PER_DAY / self.deals_won if self.deals_won else None


def _acc(table: dict[str, Acc], key: str | None) -> Acc | None:
    if key is None:
        return None
    a = table.get(key)
    if a is None:
        a = table[key] = Acc()
    return a


class Figures:
    """Everything one period shows, before formatting."""

    __slots__ = ("period", "team", "region", "product_line", "rep", "unassigned",
                 "rep_product_line", "rep_renewal", "rep_renewal_collections", "rep_referral", "rep_refunds",
                 "mentee_closes", "rep_deals", "closed_deals", "lost_deals", "parts")

    def __init__(self, period: str) -> None:
        self.period = period
        self.team: dict[str, Acc] = {}
        self.region: dict[str, Acc] = {}
        self.product_line: dict[str, Acc] = {}
        self.rep: dict[str, Acc] = {}
        self.unassigned: dict[str, Acc] = {}  # unknown rep id -> what was credited to it
        self.rep_product_line: dict[str, dict[str, Decimal]] = {}
        self.rep_renewal: dict[str, Decimal] = {}  # credited bookings of renewal deals
        self.rep_renewal_collections: dict[str, Decimal] = {}  # credited net payments on renewal deals
        self.rep_referral: dict[str, int] = {}
        self.rep_refunds: dict[str, list[Refund]] = {}
        self.mentee_closes: list[MenteeClose] = []
        # the deals behind a rep's figures: deal -> [credited bookings, credited collections, share at close]
        self.rep_deals: dict[str, dict[str, list]] = {}
        self.parts: list[Figures] = []  # the months a quarter or year is made of
        self.closed_deals: list[str] = []
        self.lost_deals: list[str] = []

    def deals_of(self, rep: str) -> dict[str, list]:
        """The deals behind a rep's figures: deal -> [credited bookings, collections, share at close]."""
        if not self.parts:
            return self.rep_deals.get(rep, {})
        out: dict[str, list] = {}
        for part in self.parts:
            for deal_id, entry in part.deals_of(rep).items():
                cur = out.get(deal_id)
                if cur is None:
                    out[deal_id] = entry  # a deal in one part only: that part's own entry (never mutated here)
                else:
                    out[deal_id] = [cur[0] + entry[0], cur[1] + entry[1],
                                    entry[2] if entry[2] is not None else cur[2]]
        return out

    def scope(self, scope: str) -> dict[str, Acc]:
        return getattr(self, scope)

    def merge(self, other: Figures) -> None:
        for name in ("team", "region", "product_line", "rep", "unassigned"):
            mine = getattr(self, name)
            for key, acc in getattr(other, name).items():
                _acc(mine, key).add(acc)
        for rep, by_line in other.rep_product_line.items():
            mine = self.rep_product_line.setdefault(rep, {})
            for line, amount in by_line.items():
                mine[line] = mine.get(line, ZERO) + amount
        for mine, theirs in ((self.rep_renewal, other.rep_renewal),
                             (self.rep_renewal_collections, other.rep_renewal_collections)):
            for rep, amount in theirs.items():
                mine[rep] = mine.get(rep, ZERO) + amount
        for rep, n in other.rep_referral.items():
            self.rep_referral[rep] = self.rep_referral.get(rep, 0) + n
        for rep, refunds in other.rep_refunds.items():
            self.rep_refunds.setdefault(rep, []).extend(refunds)
        self.mentee_closes.extend(other.mentee_closes)
        self.parts.append(other)  # a rep's deals are merged on demand (deals_of)
        self.closed_deals.extend(other.closed_deals)
        self.lost_deals.extend(other.lost_deals)


class FoldContext:
    """What building figures needs from the rest of the fold (implemented by Projection)."""

    def is_known(self, rep: str) -> bool: ...
    def region_at(self, rep: str, t: int) -> str | None: ...
    def team_at(self, rep: str, t: int) -> str | None: ...
    def is_first_customer_close(self, deal: DealState) -> bool: ...
    def mentee_close(self, deal: DealState) -> MenteeClose | None: ...
    def plan_period_of(self, t: int) -> str: ...
    def changes_in(self, rep: str, start: int, end: int) -> bool: ...


def _deal_entry(rep_deals: dict, rep: str, deal_id: str) -> list:
    deals = rep_deals.get(rep)
    if deals is None:
        deals = rep_deals[rep] = {}
    entry = deals.get(deal_id)
    if entry is None:
        entry = deals[deal_id] = [ZERO, ZERO, None]
    return entry


def build_month(month: str, start: int, end: int, deals: Iterable[DealState],
                activities: dict[str, list[tuple]], ctx: FoldContext) -> Figures:
    """Figures of one month [start, end): the deals feeding it and its activities by rep."""
    f = Figures(month)
    team, region, product_line, rep_t = f.team, f.region, f.product_line, f.rep
    changes_in, is_known = ctx.changes_in, ctx.is_known
    rep_deals = f.rep_deals
    rep_product_line, rep_renewal = f.rep_product_line, f.rep_renewal
    rep_renewal_collections = f.rep_renewal_collections

    def region_at(rep: str, t: int) -> str:
        return ctx.region_at(rep, t) or UNASSIGNED

    def team_at(rep: str, t: int) -> str:
        return ctx.team_at(rep, t) or UNASSIGNED

    # A rep whose region and team do not change inside the month has the same scopes at
    # every instant of it: (rep, region, team) accumulators looked up once per month.
    # They are created in the same order as one lookup per instant would create them.
    steady: dict[str, tuple] = {}

    def scopes(rep: str, t: int) -> tuple:
        s = steady.get(rep)
        if s is None:
            if not is_known(rep):
                s = steady[rep] = (_acc(f.unassigned, rep), _acc(region, UNASSIGNED), _acc(team, UNASSIGNED))
            elif changes_in(rep, start, end):
                return (_acc(rep_t, rep), _acc(region, region_at(rep, t)), _acc(team, team_at(rep, t)))
            else:
                s = steady[rep] = (_acc(rep_t, rep), _acc(region, region_at(rep, start)),
                                   _acc(team, team_at(rep, start)))
        return s

    for d in deals:
        ct = d.closed_t
        deal_id = d.deal_id
        if ct is not None and start <= ct < end:
            f.closed_deals.append(deal_id)
            amount = d.closed_amount
            pl = d.product_line
            renewal = d.kind == "renewal"
            for rep, share in d.close_credit:
                credited = amount * share if share != 1 else amount
                r, g, m = scopes(rep, ct)
                r.bookings += credited
                g.bookings += credited
                m.bookings += credited
                by_line = rep_product_line.get(rep)
                if by_line is None:
                    by_line = rep_product_line[rep] = {}
                by_line[pl] = by_line.get(pl, ZERO) + credited
                if renewal:
                    rep_renewal[rep] = rep_renewal.get(rep, ZERO) + credited
                entry = _deal_entry(rep_deals, rep, deal_id)
                entry[0] += credited
                entry[2] = share
            a = _acc(product_line, pl)
            a.bookings += amount
            a.deals_won += 1
            cycle = ct - d.created_t
            a.cycle_us += cycle
            owner = d.close_owner
            first_customer = ctx.is_first_customer_close(d)
            if first_customer:
                a.new_customers += 1
            for a in scopes(owner, ct):
                a.deals_won += 1
                a.cycle_us += cycle
                if first_customer:
                    a.new_customers += 1
            _deal_entry(rep_deals, owner, deal_id)
            if d.source_channel == "referral":
                f.rep_referral[owner] = f.rep_referral.get(owner, 0) + 1
            mentee = ctx.mentee_close(d)
            if mentee is not None:
                f.mentee_closes.append(mentee)
        for t, owner in d.losses:
            if start <= t < end:
                f.lost_deals.append(deal_id)
                for a in (*scopes(owner, t), _acc(product_line, d.product_line)):
                    a.deals_lost += 1
                _deal_entry(rep_deals, owner, deal_id)
        for p in d.payments:
            t = p.t
            if not (start <= t < end):
                continue
            amount = p.amount
            _acc(product_line, d.product_line).collections += amount
            renewal = d.kind == "renewal"
            for rep, share in p.credit:
                credited = amount * share if share != 1 else amount
                r, g, m = scopes(rep, t)
                r.collections += credited
                g.collections += credited
                m.collections += credited
                _deal_entry(rep_deals, rep, deal_id)[1] += credited
                if renewal:
                    rep_renewal_collections[rep] = rep_renewal_collections.get(rep, ZERO) + credited
            if p.refund and p.after_close:
                close_period = ctx.plan_period_of(d.closed_t)
                for rep, share in d.close_credit:
                    f.rep_refunds.setdefault(rep, []).append(
                        Refund(deal_id=deal_id, payment_id=p.payment_id, amount=-amount,
                               share=share, close_period=close_period))
    for rep, items in activities.items():
        a = _acc(rep_t if is_known(rep) else f.unassigned, rep)
        kinds = a.activity_kinds
        for item in items:
            kinds[item[1]] = kinds.get(item[1], 0) + 1
        a.activities += len(items)
        if changes_in(rep, start, end) and is_known(rep):
            for item in items:
                t = instant_us(item[0])
                for b in (_acc(region, region_at(rep, t)), _acc(team, team_at(rep, t))):
                    b.activities += 1
                    b.activity_kinds[item[1]] = b.activity_kinds.get(item[1], 0) + 1
        else:
            for b in scopes(rep, start)[1:]:
                b.activities += len(items)
                for k, n in kinds.items():
                    b.activity_kinds[k] = b.activity_kinds.get(k, 0) + n
    return f


def merge_figures(period: str, parts: Iterable[Figures]) -> Figures:
    out = Figures(period)
    for part in parts:
        out.merge(part)
    return out


def ratio(actual: Decimal | int, target: Decimal | None) -> Decimal | None:
    if target is None or target == 0:
        return None
    return Decimal(actual) / target


def rag(attainment: Decimal | None, red_below: Decimal, green_from: Decimal) -> str:
    if attainment is None:
        return "none"
    if attainment < red_below:
        return "red"
    if attainment < green_from:
        return "yellow"
    return "green"


def change(value: Decimal | int, previous: Decimal | int | None) -> Decimal | None:
    """环比/同比: (value − previous) / previous; None where previous is 0 or missing."""
    if previous is None or previous == 0:
        return None
    return (Decimal(value) - previous) / Decimal(previous)


PlanPeriodOf = Callable[[int], str]
