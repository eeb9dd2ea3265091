"""One deal's lifecycle folded from its own events, in business order.

A deal's events (its payments and refunds included) are kept sorted by
(occurred_at µs, position); `fold_deal` turns them into a `DealState` under the
closed-deal definition (成单口径). Pure: instants are integers, no timezone here.

Money reconciles per payment id, in business order (docs/decisions.md, "Money"): a
payment id is received once per deal (a second receipt is a duplicate and counts
nothing); a refund counts at most what its payment still holds at the refund's instant,
and a refund of a payment the deal has not received counts nothing. What does not count
is kept as a `MoneyIssue`, listed by `unmatched`, so no payment's net is ever negative.
"""

from __future__ import annotations

from decimal import Decimal

from schemas.ruleset import Definitions

CREATED, UPDATED, STAGE, REASSIGNED, SPLIT, WON, LOST, PAID, REFUNDED = range(9)
CODE_NAMES = ("deal.created", "deal.updated", "deal.stage_changed", "deal.reassigned",
              "deal.credit_split", "deal.won", "deal.lost", "payment.received", "payment.refunded")
STAGES = ("lead", "qualified", "negotiation", "won")
STAGE_INDEX = {"lead": 0, "qualified": 1, "negotiation": 2}
ONE = Decimal(1)
ZERO = Decimal(0)

Credit = tuple[tuple[str, Decimal], ...]


class Payment:
    __slots__ = ("t", "pos", "payment_id", "amount", "credit", "refund", "after_close")

    def __init__(self, t: int, pos: int, payment_id: str, amount: Decimal, credit: Credit,
                 refund: bool, after_close: bool) -> None:
        self.t = t
        self.pos = pos
        self.payment_id = payment_id
        self.amount = amount  # signed: refunds are negative
        self.credit = credit  # credit at payment time
        self.refund = refund
        self.after_close = after_close  # a refund after the close (clawback)


DUPLICATE_PAYMENT, UNKNOWN_PAYMENT, OVER_REFUND = "duplicate_payment", "unknown_payment", "over_refund"


class MoneyIssue:
    """A receipt or refund that counts less than its amount, and why (for `unmatched`)."""

    __slots__ = ("t", "pos", "event_id", "refund", "payment_id", "amount", "counted", "reason", "first_id",
                 "received_later")

    def __init__(self, t: int, pos: int, event_id: str, refund: bool, payment_id: str, amount: Decimal,
                 counted: Decimal, reason: str, first_id: str = "") -> None:
        self.t = t
        self.pos = pos
        self.event_id = event_id
        self.refund = refund
        self.payment_id = payment_id
        self.amount = amount  # as stated by the event
        self.counted = counted  # the part that counts (0 for a duplicate or an unknown payment)
        self.reason = reason
        self.first_id = first_id  # the receipt a duplicate repeats
        self.received_later = False  # an unknown payment received on the deal, dated after the refund


class DealState:
    __slots__ = ("deal_id", "owner", "rep_id", "customer_id", "product_line", "kind", "source_channel",
                 "amount", "created_t", "max_stage", "signed", "signed_t", "won_amount",
                 "closed_t", "closed_pos", "closed_amount", "close_owner", "close_credit",
                 "losses", "payments", "lost", "credit", "doc", "issues")

    def __init__(self, deal_id: str) -> None:
        self.deal_id = deal_id
        self.owner = ""  # current owner
        self.rep_id = ""  # owner at creation
        self.customer_id = ""
        self.product_line = ""
        self.kind = "new"
        self.source_channel = "unknown"
        self.amount = ZERO  # latest amount (frozen at the close)
        self.created_t = 0
        self.max_stage = 0
        self.signed = False
        self.signed_t: int | None = None
        self.won_amount: Decimal | None = None
        self.closed_t: int | None = None
        self.closed_pos = 0
        self.closed_amount = ZERO
        self.close_owner = ""
        self.close_credit: Credit = ()
        self.losses: list[tuple[int, str]] = []  # (t, owner) of each loss counted
        self.payments: list[Payment] = []
        self.lost = False
        self.credit: Credit = ()  # current credit
        self.doc: dict | None = None  # the deal's own fields as shown, built once per fold
        self.issues: list[MoneyIssue] = []  # receipts and refunds that count less than stated

    @property
    def closed(self) -> bool:
        return self.closed_t is not None

    @property
    def reached(self) -> int:
        """Furthest funnel stage reached: 0 lead … 3 won (closed)."""
        if self.closed_t is not None:
            return 3
        return self.max_stage

    @property
    def status(self) -> str:
        if self.closed_t is not None:
            return "won"
        if self.lost:
            return "lost"
        if self.signed:
            return "signed"
        return STAGES[self.max_stage]

    def net_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    def months(self, month_of) -> set[str]:
        """Every month this deal feeds a figure in."""
        out = {month_of(self.created_t)}
        if self.closed_t is not None:
            out.add(month_of(self.closed_t))
        for t, _ in self.losses:
            out.add(month_of(t))
        for p in self.payments:
            out.add(month_of(p.t))
        return out

    def reps(self) -> set[str]:
        out = {self.owner, self.rep_id, self.close_owner}
        out.update(r for r, _ in self.close_credit)
        for p in self.payments:
            out.update(r for r, _ in p.credit)
        out.discard("")
        return out


def payload(code: int, d, event_id: str):
    """The plain values the fold needs from an event's data (tuples of str/Decimal/int:
    no object the cyclic GC has to scan, and far smaller than the decoded Struct).
    Money events keep their event id, for `unmatched` to name the ones that do not count."""
    if code == PAID or code == REFUNDED:
        return (d.payment_id, d.amount, event_id)
    if code == STAGE:
        return STAGE_INDEX[d.stage]
    if code == WON:
        return d.amount
    if code == CREATED:
        return (d.rep_id, d.customer_id, d.product_line, d.amount, d.kind, d.source_channel)
    if code == REASSIGNED:
        return d.rep_id
    if code == SPLIT:
        return tuple((x.rep_id, x.share) for x in d.splits)
    if code == UPDATED:
        return (d.amount, d.product_line, d.kind)
    return None


def fold_deal(deal_id: str, events: list[tuple], definitions: Definitions) -> DealState | None:
    """Fold a deal's sorted events (t, pos, code, payload); None until its deal.created is known."""
    created = None
    for ev in events:
        if ev[2] == CREATED:
            created = ev
            break
    if created is None:
        return None
    cd = created[3]
    s = DealState(deal_id)
    s.owner, s.customer_id, s.product_line, s.amount, s.kind, s.source_channel = cd
    s.rep_id = s.owner
    s.created_t = created[0]
    collected = definitions.closed_when == "signed_and_collected"
    ratio = definitions.min_collected_ratio
    owner_credit: Credit = ((s.owner, ONE),)
    split: Credit | None = None
    net = ZERO
    closed = False
    payments = s.payments
    issues = s.issues
    received: dict[str, str] = {}  # payment id -> event id of its (first) receipt
    held: dict[str, Decimal] = {}  # payment id -> what it still holds (received minus refunded)
    for t, pos, code, d in events:
        if code == PAID:
            pid, amount, event_id = d
            first = received.get(pid)
            if first is not None:
                issues.append(MoneyIssue(t, pos, event_id, False, pid, amount, ZERO, DUPLICATE_PAYMENT, first))
                continue
            received[pid] = event_id
            held[pid] = amount
            net += amount
            payments.append(Payment(t, pos, pid, amount, split or owner_credit, False, False))
        elif code == REFUNDED:
            pid, amount, event_id = d
            holds = held.get(pid)
            if holds is None:
                issues.append(MoneyIssue(t, pos, event_id, True, pid, amount, ZERO, UNKNOWN_PAYMENT))
                continue
            if amount > holds:
                issues.append(MoneyIssue(t, pos, event_id, True, pid, amount, holds, OVER_REFUND))
                amount = holds
                if not amount:
                    continue
            held[pid] = holds - amount
            net -= amount
            payments.append(Payment(t, pos, pid, -amount, split or owner_credit, True, closed))
        elif code == STAGE:
            i = d
            if i > s.max_stage:
                s.max_stage = i
        elif code == WON:
            if closed:
                continue
            s.signed = True
            s.signed_t = t
            s.lost = False
            s.won_amount = d
            if s.max_stage < 2:
                s.max_stage = 2
            if not collected:
                closed = True
        elif code == LOST:
            if closed:
                continue
            if not s.lost:
                s.losses.append((t, s.owner))
            s.lost = True
            s.signed = False
            s.signed_t = None
            s.won_amount = None
        elif code == UPDATED:
            if closed:
                continue
            amount, line, kind = d
            if amount is not None:
                s.amount = amount
            if line is not None:
                s.product_line = line
            if kind is not None:
                s.kind = kind
        elif code == REASSIGNED:
            s.owner = d
            owner_credit = ((d, ONE),)
        elif code == SPLIT:
            split = d
        # CREATED: nothing more (a second deal.created is ignored)
        if not closed and collected and s.signed:
            won = s.won_amount if s.won_amount is not None else s.amount
            if net >= ratio * won:
                closed = True
        if closed and s.closed_t is None:
            s.closed_t = t
            s.closed_pos = pos
            s.closed_amount = s.won_amount if s.won_amount is not None else s.amount
            s.close_owner = s.owner
            s.close_credit = split or owner_credit
    s.credit = split or owner_credit
    for issue in issues:
        if issue.reason == UNKNOWN_PAYMENT and issue.payment_id in received:
            issue.received_later = True
    return s
