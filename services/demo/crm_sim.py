"""A simulated CRM for the demo: a repeatable organisation and lifelike sales activity.

`organisation(seed, now)` gives the canonical events of a demo company as of `now`: 24
reps in 4 regions selling 3 product lines, bookings targets for last month and this
month (rep, region and team), customers, last month's full history and this month's so
far. It ends within a bounded number of deals whatever the instant: at the first second
of a month, this month has its targets and the deals still open, and bookings come as the
simulator closes them. `CrmSimulator(seed, org).next()` then gives, one step at a time,
what a CRM and a finance system would send next, with a lifelike pause before it: deals
opening, moving stages, won and lost, activities, payments and the odd refund. Same
seed, same organisation and the same sequence (timestamps follow the clock, which
`clock_from(now)` pins for `quotaboard demo --now`).

Events are dicts in the canonical JSON shape (../shared/contracts/events.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

TZ = timezone(timedelta(hours=8))  # Asia/Shanghai, the seed's business timezone
REGIONS = ["East", "South", "North", "West"]
LINES = ["solution", "hardware", "software"]
LINE_PRICE = {"solution": (120_000, 480_000), "hardware": (40_000, 220_000), "software": (60_000, 300_000)}
SOURCES = ["referral", "ads", "exhibition", "website", "partner"]
SOURCE_WIN = {"referral": 0.75, "partner": 0.55, "exhibition": 0.45, "website": 0.35, "ads": 0.25}
SURNAMES = "张李王刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明"]
STAGES = ["lead", "qualified", "negotiation"]
ACTIVITY_KINDS = ["call", "call", "email", "visit", "meeting", "demo"]
# A month's bookings come from deals opened up to LEAD before it (a deal takes 1.5 to 13
# days from lead to close), so the first days of a month have some; at most MAX_DEALS
# deals are tried per rep and month, so a month barely begun cannot keep the loop going.
LEAD = timedelta(days=14)
MAX_DEALS = 100


def iso(t: datetime) -> str:
    return t.astimezone(TZ).isoformat(timespec="seconds")


def month_start(t: datetime) -> datetime:
    t = t.astimezone(TZ)
    return datetime(t.year, t.month, 1, tzinfo=TZ)


def month_key(t: datetime) -> str:
    return t.astimezone(TZ).strftime("%Y-%m")


def clock_from(now: datetime | None = None) -> Callable[[], datetime]:
    """The demo's clock: the real one, or one that reads `now` at first and then runs at the
    real pace (`quotaboard demo --now`), so what the simulator sends falls after `now`."""
    if now is None:
        return lambda: datetime.now(TZ)
    start, origin = time.monotonic(), now.astimezone(TZ)
    return lambda: origin + timedelta(seconds=time.monotonic() - start)


@dataclass
class Deal:
    deal_id: str
    rep_id: str
    customer_id: str
    line: str
    source: str
    amount: int
    stage: str = "lead"
    status: str = "open"  # open, won, lost
    paid: int = 0
    won_at: datetime | None = None
    payments: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Org:
    seed: int
    reps: list[dict]
    targets: dict[str, int]  # rep_id -> this month's target
    events: list[dict]
    deals: dict[str, Deal]
    customers: list[str]
    counter: int = 0


class _Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n:06d}"


def _event(ids: _Ids, kind: str, at: datetime, data: dict) -> dict:
    return {"id": ids(), "type": kind, "occurred_at": iso(at), "source": "demo-crm", "data": data}


def organisation(seed: int = 7, now: datetime | None = None, reps: int = 24) -> Org:
    """The demo company's events up to `now`, in business order."""
    rng = random.Random(seed)
    now = (now or datetime.now(TZ)).astimezone(TZ)
    this_month = month_start(now)
    last_month = month_start(this_month - timedelta(days=1))
    ids = _Ids(f"demo{seed}-org")
    events: list[dict] = []
    people: list[dict] = []
    used: set[str] = set()
    known = last_month - LEAD - timedelta(days=5)  # reps and customers precede every deal
    for i in range(reps):
        while True:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            if name not in used:
                used.add(name)
                break
        rep = {"rep_id": f"r{i + 1:02d}", "name": name, "team": "sales", "region": REGIONS[i % len(REGIONS)],
               "hired_on": (last_month - timedelta(days=rng.randrange(60, 900))).date().isoformat()}
        people.append(rep)
        events.append(_event(ids, "rep.onboarded", known, rep))
    targets: dict[str, dict[str, int]] = {}
    for month in (last_month, this_month):
        key = month_key(month)
        per_rep = {p["rep_id"]: rng.randrange(6, 16) * 50_000 for p in people}
        targets[key] = per_rep
        set_at = month - timedelta(days=3)
        for rep_id, amount in per_rep.items():
            events.append(_event(ids, "target.set", set_at, {"scope": "rep", "scope_id": rep_id, "period": key,
                                                              "metric": "bookings", "amount": str(amount)}))
        for region in REGIONS:
            amount = sum(a for r, a in per_rep.items() if next(p for p in people if p["rep_id"] == r)["region"] == region)
            events.append(_event(ids, "target.set", set_at, {"scope": "region", "scope_id": region, "period": key,
                                                              "metric": "bookings", "amount": str(amount)}))
        events.append(_event(ids, "target.set", set_at, {"scope": "team", "scope_id": "sales", "period": key,
                                                          "metric": "bookings", "amount": str(sum(per_rep.values()))}))
    customers = []
    for c in range(120):
        cid = f"c{c + 1:03d}"
        customers.append(cid)
        events.append(_event(ids, "customer.created", known + timedelta(hours=1),
                             {"customer_id": cid, "name": f"客户{c + 1:03d}", "segment": rng.choice(["SMB", "MM", "ENT"])}))
    org = Org(seed, people, targets[month_key(this_month)], events, {}, customers)
    # History: each rep's deals through last month and this month so far. A rep's "form"
    # makes attainment spread from red to green.
    for rep in people:
        form = rng.uniform(0.55, 1.35)
        for month, end in ((last_month, this_month), (this_month, now)):
            target = targets[month_key(month)][rep["rep_id"]]
            full = (month_start(month + timedelta(days=32)) - month).total_seconds()
            goal = target * form * (end - month).total_seconds() / full
            events.extend(_month_history(org, ids, rng, rep["rep_id"], month, end, goal))
    events.sort(key=lambda e: e["occurred_at"])
    return org


def _month_history(org: Org, ids: _Ids, rng: random.Random, rep_id: str, month: datetime, end: datetime,
                   goal: float) -> list[dict]:
    """A rep's deals booked in [month, end) until they reach `goal`, or MAX_DEALS tried.

    Deals open from LEAD before the month until `end`. One opened before the month
    counts only if won inside it; otherwise it is dropped (it would belong to the month
    before, whose figures are already made).
    """
    out: list[dict] = []
    span = (end - month).total_seconds()
    booked = 0
    for _ in range(MAX_DEALS):
        if booked >= goal:
            break
        created = month + timedelta(seconds=rng.uniform(-LEAD.total_seconds(), span))
        deal = _new_deal(org, rng, rep_id)
        history = _history(org, ids, rng, deal, created, end)
        inside = deal.won_at is not None and deal.won_at >= month
        if created < month and not inside:
            del org.deals[deal.deal_id]
            continue
        out.extend(history)
        if inside:
            booked += deal.amount
    return out


def _new_deal(org: Org, rng: random.Random, rep_id: str) -> Deal:
    org.counter += 1
    line = rng.choice(LINES)
    low, high = LINE_PRICE[line]
    deal = Deal(f"d{org.seed}-{org.counter:05d}", rep_id, rng.choice(org.customers), line,
                rng.choice(SOURCES), rng.randrange(low, high, 1000))
    org.deals[deal.deal_id] = deal
    return deal


def _created(ids: _Ids, deal: Deal, at: datetime, rng: random.Random) -> dict:
    return _event(ids, "deal.created", at, {
        "deal_id": deal.deal_id, "rep_id": deal.rep_id, "customer_id": deal.customer_id,
        "product_line": deal.line, "amount": str(deal.amount), "source_channel": deal.source,
        "kind": rng.choice(["new", "new", "new", "renewal", "upsell"])})


def _history(org: Org, ids: _Ids, rng: random.Random, deal: Deal, created: datetime, end: datetime) -> list[dict]:
    """A deal's life from `created`, cut at `end` (what has happened by then)."""
    out = [_created(ids, deal, created, rng)]
    t = created
    for stage in STAGES[1:]:
        t += timedelta(hours=rng.uniform(12, 96))
        if t >= end:
            return out
        if rng.random() < 0.8:
            out.append(_event(ids, "deal.stage_changed", t, {"deal_id": deal.deal_id, "stage": stage}))
            deal.stage = stage
        out.append(_event(ids, "activity.logged", t - timedelta(hours=2), {
            "activity_id": f"{deal.deal_id}-a{len(out)}", "rep_id": deal.rep_id,
            "kind": rng.choice(ACTIVITY_KINDS), "deal_id": deal.deal_id}))
    t += timedelta(hours=rng.uniform(12, 120))
    if t >= end:
        return out
    if rng.random() < SOURCE_WIN[deal.source] + 0.2:
        out.append(_event(ids, "deal.won", t, {"deal_id": deal.deal_id}))
        deal.status = "won"
        deal.won_at = t
        pay_at = t + timedelta(days=rng.uniform(1, 12))
        if pay_at < end and rng.random() < 0.7:
            amount = int(deal.amount * rng.choice([0.3, 0.5, 1.0]))
            pid = f"{deal.deal_id}-p1"
            out.append(_event(ids, "payment.received", pay_at, {"payment_id": pid, "deal_id": deal.deal_id,
                                                                "amount": str(amount)}))
            deal.paid += amount
            deal.payments.append((pid, amount))
    else:
        out.append(_event(ids, "deal.lost", t, {"deal_id": deal.deal_id, "reason": rng.choice(["price", "timing", "competitor"])}))
        deal.status = "lost"
    return out


class CrmSimulator:
    """What the CRM and finance send next, with the pause before it (seconds at speed 1)."""

    def __init__(self, org: Org, seed: int | None = None, clock=None) -> None:
        self.org = org
        self.rng = random.Random((seed if seed is not None else org.seed) * 7919 + 1)
        self.clock = clock or clock_from()
        # Ids from the real clock: two runs pinned to the same --now still send new events.
        self.ids = _Ids(f"demo{org.seed}-live-{int(time.time())}")
        self.sent = 0

    def _open(self) -> list[Deal]:
        return [d for d in self.org.deals.values() if d.status == "open"]

    def next(self) -> tuple[float, list[dict]]:
        rng, now = self.rng, self.clock()
        pause = rng.expovariate(1 / 1.5)  # about 40 CRM events a minute at speed 1
        roll = rng.random()
        open_deals = self._open()
        won = [d for d in self.org.deals.values() if d.status == "won" and d.paid < d.amount]
        if roll < 0.22 or not open_deals:
            deal = _new_deal(self.org, rng, rng.choice(self.org.reps)["rep_id"])
            events = [_created(self.ids, deal, now, rng)]
        elif roll < 0.45:
            deal = rng.choice(open_deals)
            stage = STAGES[min(STAGES.index(deal.stage) + 1, 2)]
            deal.stage = stage
            events = [_event(self.ids, "deal.stage_changed", now, {"deal_id": deal.deal_id, "stage": stage})]
        elif roll < 0.62:
            deal = rng.choice(open_deals)
            events = [_event(self.ids, "activity.logged", now, {
                "activity_id": f"{self.ids.prefix}-act{self.ids.n}", "rep_id": deal.rep_id,
                "kind": rng.choice(ACTIVITY_KINDS), "deal_id": deal.deal_id})]
        elif roll < 0.80:
            deal = max(rng.sample(open_deals, min(3, len(open_deals))), key=lambda d: STAGES.index(d.stage))
            if rng.random() < SOURCE_WIN[deal.source] + 0.15:
                deal.status = "won"
                data = {"deal_id": deal.deal_id}
                if rng.random() < 0.3:
                    deal.amount = int(deal.amount * rng.uniform(0.85, 1.1)) // 1000 * 1000
                    data["amount"] = str(deal.amount)
                events = [_event(self.ids, "deal.won", now, data)]
            else:
                deal.status = "lost"
                events = [_event(self.ids, "deal.lost", now, {"deal_id": deal.deal_id, "reason": "competitor"})]
        elif roll < 0.97 and won:
            deal = rng.choice(won)
            amount = min(deal.amount - deal.paid, int(deal.amount * rng.choice([0.3, 0.5, 1.0])))
            pid = f"{deal.deal_id}-p{len(deal.payments) + 1}-{self.ids.n}"
            deal.paid += amount
            deal.payments.append((pid, amount))
            events = [_event(self.ids, "payment.received", now, {"payment_id": pid, "deal_id": deal.deal_id,
                                                                 "amount": str(amount)})]
        else:
            # a refund names the payment it refunds and never exceeds what that payment still holds
            paid = [d for d in self.org.deals.values() if d.payments and d.payments[-1][1] > 0]
            if not paid:
                return pause, []
            deal = rng.choice(paid)
            pid, amount = deal.payments[-1]
            refund = min(amount, max(1000, amount // 10 // 1000 * 1000))
            deal.payments[-1] = (pid, amount - refund)
            deal.paid -= refund
            events = [_event(self.ids, "payment.refunded", now, {"payment_id": pid,
                                                                 "deal_id": deal.deal_id, "amount": str(refund)})]
        self.sent += len(events)
        return pause, events
