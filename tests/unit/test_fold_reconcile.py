"""Reconciliation over random histories: whatever the reps (known or not), splits,
duplicate receipts and refunds (of unknown payments, above what a payment holds), and
whatever the arrival order, every period's team = Σ regions = Σ reps + unassigned = Σ
product lines, no payment's net is ever negative, and what the events state equals what
counted plus what `unmatched` lists as not counted."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from fold_helpers import COLLECTED, SIGNED, decode, ev, rulesets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.projection import Projection

RULESETS = {"signed": rulesets(SIGNED), "collected": rulesets(COLLECTED)}
KNOWN = ("a", "b", "c")
REPS = KNOWN + ("x", "y")  # x and y are never onboarded (x is, in some histories, late)
SPLITS = (("0.5", "0.5"), ("0.25", "0.75"), ("0.2", "0.8"), ("0.4", "0.6"))
ZERO = Decimal(0)


def at(day: int, hour: int, minute: int = 0) -> str:
    """A local instant from 2026-07-20 on: days 0..80 span July to October. Money events
    get a minute of their own: no two events share an instant, so that log positions (the
    tie-break) never decide a figure and any arrival order must give the same ones."""
    month, d = 7, 20 + day
    for length in (31, 31, 30):  # July, August, September
        if d <= length:
            break
        d -= length
        month += 1
    return f"2026-{month:02d}-{d:02d}T{hour:02d}:{minute:02d}:00"


def org(onboard_x: bool) -> list[dict]:
    out = [
        ev("rep.onboarded", at(0, 9), rep_id="a", name="A", team="sales", region="East"),
        ev("rep.onboarded", at(0, 9), rep_id="b", name="B", team="sales", region="South"),
        ev("rep.onboarded", at(0, 9), rep_id="c", name="C", team="ops", region="North"),
        ev("rep.transferred", at(40, 0), rep_id="a", region="North"),
    ]
    if onboard_x:
        out.append(ev("rep.onboarded", at(0, 9), rep_id="x", name="X", team="ops", region="East"))
    return out


deal_st = st.fixed_dictionaries(
    {
        "owner": st.sampled_from(REPS),
        "amount": st.integers(1, 100_000),
        "split": st.none()
        | st.tuples(st.sampled_from(SPLITS), st.sampled_from(REPS), st.sampled_from(REPS)),
        "won": st.none() | st.integers(1, 75),
        "lost": st.none() | st.integers(1, 75),
        "line": st.sampled_from(("A", "B")),
    }
)
money_st = st.fixed_dictionaries(
    {
        "deal": st.integers(0, 3),
        "refund": st.booleans(),
        "payment": st.sampled_from(("P0", "P1", "P2")),
        "amount": st.integers(1, 60_000),
        "day": st.integers(0, 80),
        "hour": st.integers(8, 20),
    }
)


@st.composite
def histories(draw) -> list[dict]:
    deals = draw(st.lists(deal_st, min_size=1, max_size=4))
    items = org(draw(st.booleans()))
    for i, d in enumerate(deals):
        deal_id = f"D{i}"
        items.append(
            ev(
                "deal.created",
                at(1, 10),
                deal_id=deal_id,
                rep_id=d["owner"],
                customer_id=f"C{i}",
                product_line=d["line"],
                amount=str(d["amount"]),
            )
        )
        if d["split"] is not None:
            (s1, s2), r1, r2 = d["split"]
            if r1 != r2:
                items.append(
                    ev(
                        "deal.credit_split",
                        at(2, 10),
                        deal_id=deal_id,
                        splits=[{"rep_id": r1, "share": s1}, {"rep_id": r2, "share": s2}],
                    )
                )
        if d["lost"] is not None:
            items.append(ev("deal.lost", at(d["lost"], 11), deal_id=deal_id))
        if d["won"] is not None:
            items.append(ev("deal.won", at(d["won"], 12), deal_id=deal_id))
    for minute, m in enumerate(draw(st.lists(money_st, max_size=10)), 1):
        kind = "payment.refunded" if m["refund"] else "payment.received"
        items.append(
            ev(
                kind,
                at(m["day"], m["hour"], minute),
                payment_id=m["payment"],
                deal_id=f"D{m['deal'] % len(deals)}",
                amount=str(m["amount"]),
            )
        )
    return items


def fold(items: list[dict], order: list[int], which: str) -> Projection:
    events = decode(items)
    p = Projection(RULESETS[which])
    p.apply([(pos, events[i]) for pos, i in enumerate(order, 1)])
    return p


def total(scope: dict, metric: str) -> Decimal | int:
    return sum(
        (Decimal(e[metric]) if isinstance(e[metric], str) else e[metric] for e in scope.values()),
        ZERO,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=histories(), which=st.sampled_from(sorted(RULESETS)), data=st.data())
def test_every_period_reconciles_and_no_payment_goes_negative(items, which, data):
    p = fold(items, list(range(len(items))), which)
    for period in p.periods():
        doc = p.standings(period)
        for metric in ("bookings", "collections", "deals_won", "deals_lost"):
            team = total(doc["team"], metric)
            assert team == total(doc["regions"], metric), (period, metric)
            un = doc["unassigned"][metric]
            assert team == total(doc["reps"], metric) + (
                Decimal(un) if isinstance(un, str) else un
            ), (period, metric)
            assert team == total(doc["product_lines"], metric), (period, metric)
        assert doc["unassigned"]["bookings"] == doc["regions"].get("unassigned", {}).get(
            "bookings", "0.00"
        )
    # per payment, in business order, what counted never takes its net below zero
    for deal in p._deals.values():
        net: dict[str, Decimal] = defaultdict(Decimal)
        for pay in sorted(deal.payments, key=lambda x: (x.t, x.pos)):
            net[pay.payment_id] += pay.amount
            assert net[pay.payment_id] >= 0
    # stated = counted + listed as not counted, for every money event of a known deal
    un = p.unmatched()
    waiting = {x["id"] for items_ in un["deals"].values() for x in items_}
    stated = ZERO
    for item in items:
        if item["type"].startswith("payment.") and item["id"] not in waiting:
            sign = -1 if item["type"] == "payment.refunded" else 1
            stated += sign * Decimal(item["data"]["amount"])
    counted = sum(
        (
            total(p.standings(period)["team"], "collections")
            for period in p.periods()
            if len(period) == 7 and "Q" not in period
        ),
        ZERO,
    )
    excess = sum(
        (
            (-1 if x["type"] == "payment.refunded" else 1) * Decimal(x["excess"])
            for x in un["payments"]
        ),
        ZERO,
    )
    assert stated == counted + excess
    # the same events in another arrival order give the same figures and the same list
    order = data.draw(st.permutations(list(range(len(items)))), label="order")
    q = fold(items, order, which)
    for period in p.periods():
        assert q.standings(period) | {"position": 0} == p.standings(period) | {"position": 0}
    key = [(x["id"], x["reason"], x["counted"], x["excess"]) for x in un["payments"]]
    assert sorted(key) == sorted(
        (x["id"], x["reason"], x["counted"], x["excess"]) for x in q.unmatched()["payments"]
    )
