"""A realistic, repeatable sales organisation as canonical events, for the benchmarks.

200 reps in 8 regions sell 4 product lines for 24 months: targets every month, deals
that open, move through stages and are won or lost, activities, payments, the odd
refund, credit split, reassignment and transfer. About 14 events a deal, so
1,000,000 events is roughly 70,000 deals. Events are yielded in roughly business
order with a few percent arriving late, as real CRMs and finance systems deliver them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from schemas.events import (
    ActivityLogged,
    ActivityLoggedData,
    CreditShare,
    CustomerCreated,
    CustomerCreatedData,
    DealCreated,
    DealCreatedData,
    DealCreditSplit,
    DealCreditSplitData,
    DealLost,
    DealLostData,
    DealReassigned,
    DealReassignedData,
    DealStageChanged,
    DealStageChangedData,
    DealWon,
    DealWonData,
    Event,
    PaymentData,
    PaymentReceived,
    PaymentRefunded,
    RepOnboarded,
    RepOnboardedData,
    RepTransferred,
    RepTransferredData,
    TargetSet,
    TargetSetData,
)

TZ = timezone(timedelta(hours=8))
REGIONS = ["East", "South", "North", "West", "Central", "NorthEast", "SouthWest", "NorthWest"]
PRODUCT_LINES = ["solution", "hardware", "software", "service"]
CHANNELS = ["referral", "ads", "exhibition", "website", "outbound"]
KINDS = ["new", "new", "new", "renewal", "upsell"]
ACTIVITY_KINDS = ["call", "visit", "meeting", "email", "demo", "other"]


def _month_starts(first: tuple[int, int], months: int) -> list[datetime]:
    year, month = first
    out = []
    for _ in range(months):
        out.append(datetime(year, month, 1, tzinfo=TZ))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


def generate(total_events: int = 1_000_000, *, reps: int = 200, months: int = 24,
             first_month: tuple[int, int] = (2024, 9), seed: int = 7) -> Iterator[Event]:
    """Yield about `total_events` canonical events (a few percent out of order)."""
    rng = random.Random(seed)
    starts = _month_starts(first_month, months + 1)
    per_month = max(1, total_events // months)
    deals_per_month = max(1, per_month // 14)
    seq = 0

    def nid(prefix: str) -> str:
        nonlocal seq
        seq += 1
        return f"{prefix}-{seed}-{seq:08d}"

    late: list[tuple[datetime, Event]] = []
    rep_ids = [f"r{i:04d}" for i in range(reps)]
    region_of = {r: REGIONS[i % len(REGIONS)] for i, r in enumerate(rep_ids)}
    t0 = starts[0] - timedelta(days=10)
    for i, rep in enumerate(rep_ids):
        mentor = rep_ids[i - 1] if i % 10 == 5 else None
        yield RepOnboarded(id=nid("rep"), occurred_at=t0, source="bench", data=RepOnboardedData(
            rep_id=rep, name=f"Rep {i}", team="sales", region=region_of[rep],
            hired_on=(t0 - timedelta(days=rng.randint(0, 900))).date(), mentor_id=mentor))
    customer_count = 0
    deal_count = 0
    for m in range(months):
        start, end = starts[m], starts[m + 1]
        span = (end - start).total_seconds()
        period = f"{start.year:04d}-{start.month:02d}"
        for rep in rep_ids:
            yield TargetSet(id=nid("tgt"), occurred_at=start - timedelta(days=3), source="bench", data=TargetSetData(
                scope="rep", scope_id=rep, period=period, metric="bookings",
                amount=Decimal(rng.randrange(300_000, 1_200_000, 10_000))))
        for region in REGIONS:
            yield TargetSet(id=nid("tgt"), occurred_at=start - timedelta(days=3), source="bench", data=TargetSetData(
                scope="region", scope_id=region, period=period, metric="bookings",
                amount=Decimal(rng.randrange(5_000_000, 15_000_000, 100_000))))
        month_events: list[tuple[datetime, Event]] = []
        if m % 6 == 3:
            rep = rng.choice(rep_ids)
            region_of[rep] = rng.choice(REGIONS)
            month_events.append((start + timedelta(days=1), RepTransferred(
                id=nid("xfer"), occurred_at=start + timedelta(days=1), source="bench",
                data=RepTransferredData(rep_id=rep, region=region_of[rep]))))
        for _ in range(deals_per_month):
            deal_count += 1
            deal = f"D{deal_count:07d}"
            rep = rng.choice(rep_ids)
            customer_count += 1
            customer = f"C{customer_count:07d}"
            t = start + timedelta(seconds=rng.random() * span * 0.9)
            amount = Decimal(rng.randrange(20_000, 900_000, 1_000))
            ev: list[tuple[datetime, Event]] = [
                (t, CustomerCreated(id=nid("cus"), occurred_at=t, source="bench",
                                    data=CustomerCreatedData(customer_id=customer))),
                (t, DealCreated(id=nid("deal"), occurred_at=t, source="bench", data=DealCreatedData(
                    deal_id=deal, rep_id=rep, customer_id=customer, product_line=rng.choice(PRODUCT_LINES),
                    amount=amount, kind=rng.choice(KINDS), source_channel=rng.choice(CHANNELS)))),
            ]
            for stage in ("qualified", "negotiation"):
                if rng.random() < 0.75:
                    t += timedelta(hours=rng.randint(12, 120))
                    ev.append((t, DealStageChanged(id=nid("stg"), occurred_at=t, source="bench",
                                                   data=DealStageChangedData(deal_id=deal, stage=stage))))
            if rng.random() < 0.05:
                other = rng.choice(rep_ids)
                ev.append((t, DealCreditSplit(id=nid("spl"), occurred_at=t, source="bench", data=DealCreditSplitData(
                    deal_id=deal, splits=[CreditShare(rep_id=rep, share=Decimal("0.6")),
                                          CreditShare(rep_id=other, share=Decimal("0.4"))]) if other != rep else
                    DealCreditSplitData(deal_id=deal, splits=[CreditShare(rep_id=rep, share=Decimal(1))]))))
            if rng.random() < 0.03:
                ev.append((t, DealReassigned(id=nid("rea"), occurred_at=t, source="bench",
                                             data=DealReassignedData(deal_id=deal, rep_id=rng.choice(rep_ids)))))
            for _ in range(rng.randint(5, 9)):
                ta = t - timedelta(hours=rng.randint(0, 200))
                ev.append((ta, ActivityLogged(id=nid("act"), occurred_at=ta, source="bench", data=ActivityLoggedData(
                    activity_id=nid("A"), rep_id=rep, kind=rng.choice(ACTIVITY_KINDS), deal_id=deal))))
            t += timedelta(hours=rng.randint(12, 240))
            if rng.random() < 0.7:
                ev.append((t, DealWon(id=nid("won"), occurred_at=t, source="bench", data=DealWonData(deal_id=deal))))
                paid = Decimal(0)
                for _ in range(rng.randint(1, 3)):
                    t += timedelta(days=rng.randint(1, 20))
                    part = (amount * Decimal(rng.choice(["0.3", "0.3", "0.4"]))).quantize(Decimal("0.01"))
                    paid += part
                    pid = nid("P")
                    ev.append((t, PaymentReceived(id=nid("pay"), occurred_at=t, source="bench",
                                                  data=PaymentData(payment_id=pid, deal_id=deal, amount=part))))
                    if rng.random() < 0.02:
                        t += timedelta(days=rng.randint(1, 30))
                        ev.append((t, PaymentRefunded(id=nid("ref"), occurred_at=t, source="bench",
                                                      data=PaymentData(payment_id=pid, deal_id=deal, amount=part))))
            else:
                ev.append((t, DealLost(id=nid("lost"), occurred_at=t, source="bench",
                                       data=DealLostData(deal_id=deal, reason="price"))))
            month_events.extend(ev)
        month_events.sort(key=lambda item: item[0])
        # A few percent arrive late (finance batches, CRM retries): next month.
        on_time = []
        for item in month_events:
            (late if rng.random() < 0.03 else on_time).append(item)
        ready = [x for x in late if x[0] < start]
        late = [x for x in late if x[0] >= start]
        for _, event in ready + on_time:
            yield event
    for _, event in late:
        yield event
