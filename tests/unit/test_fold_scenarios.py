"""Deals, credit, org changes, the closed-deal definitions and unmatched events, one rule each."""

from __future__ import annotations

from fold_helpers import COLLECTED, SIGNED, decode, ev, everything, project, rulesets

from projections.projection import Projection


def org() -> list[dict]:
    return [
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="a", name="A", team="sales", region="East"),
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="b", name="B", team="sales", region="South"),
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="c", name="C", team="sales", region="North"),
    ]


def deal(deal_id: str, rep: str, at: str, amount: str = "100000", customer: str | None = None, **extra) -> dict:
    return ev("deal.created", at, deal_id=deal_id, rep_id=rep, customer_id=customer or f"C-{deal_id}",
              product_line="A", amount=amount, **extra)


def rep(p: Projection, period: str, rep_id: str) -> dict:
    return p.standings(period)["reps"][rep_id]


def test_credit_split_money_to_shares_counts_to_owner():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.credit_split", "2026-08-02T10:00:00", deal_id="D1",
           splits=[{"rep_id": "a", "share": "0.6"}, {"rep_id": "b", "share": "0.4"}]),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1", amount="200000"),
        ev("payment.received", "2026-08-06T10:00:00", payment_id="P1", deal_id="D1", amount="50000"),
    ]
    p = project(items)
    a, b = rep(p, "2026-08", "a"), rep(p, "2026-08", "b")
    assert (a["bookings"], b["bookings"]) == ("120000.00", "80000.00")
    assert (a["collections"], b["collections"]) == ("30000.00", "20000.00")
    assert (a["deals_won"], b["deals_won"]) == (1, 0)
    assert (a["new_customers"], b["new_customers"]) == (1, 0)
    regions = p.standings("2026-08")["regions"]
    assert (regions["East"]["bookings"], regions["South"]["bookings"]) == ("120000.00", "80000.00")
    assert p.standings("2026-08")["team"]["sales"]["bookings"] == "200000.00"
    assert p.statement("b", "2026-08")["deals"][0]["share"] == "0.4"


def test_collections_credited_at_payment_time():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1"),
        ev("payment.received", "2026-08-06T10:00:00", payment_id="P1", deal_id="D1", amount="10000"),
        ev("deal.reassigned", "2026-08-07T10:00:00", deal_id="D1", rep_id="b"),
        ev("payment.received", "2026-08-08T10:00:00", payment_id="P2", deal_id="D1", amount="20000"),
    ]
    p = project(items)
    assert rep(p, "2026-08", "a")["bookings"] == "100000.00"  # credit at the close
    assert (rep(p, "2026-08", "a")["collections"], rep(p, "2026-08", "b")["collections"]) == ("10000.00", "20000.00")


def test_reassignment_before_close_moves_the_deal():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.reassigned", "2026-08-03T10:00:00", deal_id="D1", rep_id="b"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1"),
    ]
    p = project(items)
    assert (rep(p, "2026-08", "a")["bookings"], rep(p, "2026-08", "b")["bookings"]) == ("0.00", "100000.00")
    assert rep(p, "2026-08", "b")["deals_won"] == 1
    assert p.standings("2026-08")["regions"]["South"]["deals_won"] == 1


def test_transfer_region_for_a_deal_is_region_at_close():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00"),
        deal("D2", "a", "2026-08-01T10:00:00"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1", amount="100000"),
        ev("rep.transferred", "2026-08-10T00:00:00", rep_id="a", region="North"),
        ev("deal.won", "2026-08-15T10:00:00", deal_id="D2", amount="50000"),
    ]
    p = project(items)
    regions = p.standings("2026-08")["regions"]
    assert regions["East"]["bookings"] == "100000.00"
    assert regions["North"]["bookings"] == "50000.00"
    assert rep(p, "2026-08", "a")["region"] == "North"  # at the period's last instant


def test_back_dated_transfer_restates_regions():
    base = org() + [deal("D1", "a", "2026-08-01T10:00:00"), ev("deal.won", "2026-08-05T10:00:00", deal_id="D1")]
    late = ev("rep.transferred", "2026-08-02T00:00:00", rep_id="a", region="North")
    p = project(base)
    assert p.standings("2026-08")["regions"]["East"]["bookings"] == "100000.00"
    changes = p.apply(list(zip([100], decode([late]), strict=True)))
    assert "2026-08" in changes.periods and "a" in changes.reps
    regions = p.standings("2026-08")["regions"]
    assert regions["North"]["bookings"] == "100000.00"
    assert regions.get("East", {}).get("bookings", "0.00") == "0.00"
    assert everything(p) == everything(project(base[:3] + [late] + base[3:]))


def test_offboarded_rep_keeps_deals_but_is_not_a_member():
    items = org() + [
        ev("target.set", "2026-07-25T09:00:00", scope="region", scope_id="East", period="2026-08",
           metric="bookings", amount="100000"),
        ev("target.set", "2026-07-25T09:00:00", scope="rep", scope_id="a", period="2026-08",
           metric="bookings", amount="100000"),
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="d", name="D", team="sales", region="East"),
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1", amount="120000"),
        ev("rep.offboarded", "2026-08-20T00:00:00", rep_id="a"),
    ]
    p = project(items)
    a = rep(p, "2026-08", "a")
    assert a["active"] is False and a["bookings"] == "120000.00"
    assert [x["component"] for x in a["statement"]] == ["tiered", "tiered"]  # commission, no team award
    d = rep(p, "2026-08", "d")
    assert [x["component"] for x in d["statement"]] == ["team_awards"]  # East reached 120%
    assert "a" not in p.standings("2026-09")["reps"]


def test_signed_and_collected_payments_before_signing_and_exact_ratio():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00", amount="1000"),
        ev("payment.received", "2026-08-02T10:00:00", payment_id="P1", deal_id="D1", amount="299.99"),
        ev("payment.received", "2026-08-03T10:00:00", payment_id="P2", deal_id="D1", amount="0.01"),
        ev("deal.won", "2026-09-03T10:00:00", deal_id="D1"),
        deal("D2", "b", "2026-08-01T10:00:00", amount="1000"),
        ev("payment.received", "2026-08-02T10:00:00", payment_id="P3", deal_id="D2", amount="299.99"),
        ev("deal.won", "2026-08-04T10:00:00", deal_id="D2"),
    ]
    p = project(items, COLLECTED)
    assert rep(p, "2026-09", "a")["bookings"] == "1000.00"  # 30% paid before signing: closes at signing
    assert rep(p, "2026-08", "a")["bookings"] == "0.00"
    assert rep(p, "2026-08", "a")["collections"] == "300.00"  # payments on open deals still count
    assert rep(p, "2026-08", "b")["bookings"] == "0.00"  # 29.999% never closes
    assert p.funnel("2026-08")["stages"]["won"] == 1


def test_lost_then_won_later_counts_both():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.lost", "2026-08-10T10:00:00", deal_id="D1", reason="price"),
        ev("deal.won", "2026-09-10T10:00:00", deal_id="D1", amount="90000"),
        ev("deal.lost", "2026-09-20T10:00:00", deal_id="D1", reason="after close: ignored"),
    ]
    p = project(items)
    aug, sep = rep(p, "2026-08", "a"), rep(p, "2026-09", "a")
    assert (aug["deals_lost"], aug["deals_won"], aug["win_rate"]) == (1, 0, "0.0000")
    assert (sep["deals_lost"], sep["deals_won"], sep["bookings"], sep["win_rate"]) == (0, 1, "90000.00", "1.0000")
    assert p.funnel("2026-08")["stages"]["won"] == 1


def test_won_again_before_close_replaces_amount_after_close_changes_nothing():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00", amount="1000"),
        ev("deal.won", "2026-08-02T10:00:00", deal_id="D1", amount="1000"),
        ev("deal.won", "2026-08-03T10:00:00", deal_id="D1", amount="2000"),
        ev("payment.received", "2026-08-04T10:00:00", payment_id="P1", deal_id="D1", amount="600"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1", amount="5000"),
        ev("deal.updated", "2026-08-06T10:00:00", deal_id="D1", amount="7000"),
    ]
    p = project(items, COLLECTED)
    assert rep(p, "2026-08", "a")["bookings"] == "2000.00"  # closed at P1 (600 of 2000)
    q = project(items, SIGNED)
    assert rep(q, "2026-08", "a")["bookings"] == "1000.00"  # signed: the first won closes


def test_won_without_amount_takes_latest_amount():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00", amount="1000"),
        ev("deal.updated", "2026-08-02T10:00:00", deal_id="D1", amount="1500"),
        ev("deal.won", "2026-08-03T10:00:00", deal_id="D1"),
    ]
    assert rep(project(items), "2026-08", "a")["bookings"] == "1500.00"


def test_unmatched_payment_waits_for_its_deal_then_counts_at_its_own_time():
    items = org() + [ev("payment.received", "2026-08-06T10:00:00", payment_id="P1", deal_id="D9", amount="5000")]
    p = project(items)
    un = p.unmatched()
    assert un["count"] == 1
    assert un["deals"]["D9"][0]["type"] == "payment.received" and un["deals"]["D9"][0]["position"] == 4
    assert rep(p, "2026-08", "a")["collections"] == "0.00" if "2026-08" in p.periods() else True
    late = [deal("D9", "a", "2026-09-01T10:00:00")]
    changes = p.apply(list(zip([5], decode(late), strict=True)))
    assert p.unmatched()["count"] == 0
    assert "2026-08" in changes.periods
    assert rep(p, "2026-08", "a")["collections"] == "5000.00"  # at the payment's own occurred_at
    assert rep(p, "2026-09", "a")["collections"] == "0.00"


def test_target_latest_by_occurred_at_wins():
    items = org() + [
        ev("target.set", "2026-07-28T09:00:00", scope="rep", scope_id="a", period="2026-08", metric="bookings",
           amount="500"),
        ev("target.set", "2026-07-20T09:00:00", scope="rep", scope_id="a", period="2026-08", metric="bookings",
           amount="900"),  # arrives later, but is older
        ev("target.set", "2026-08-20T09:00:00", scope="rep", scope_id="b", period="2026-08", metric="bookings",
           amount="700"),
        ev("target.set", "2026-09-02T09:00:00", scope="rep", scope_id="b", period="2026-08", metric="bookings",
           amount="800"),  # a revision after the period still wins
    ]
    p = project(items)
    assert rep(p, "2026-08", "a")["target"] == "500.00"
    assert rep(p, "2026-08", "b")["target"] == "800.00"


def test_new_customers_first_close_ever_and_back_dated_earlier_close():
    items = org() + [
        deal("D1", "a", "2026-08-01T10:00:00", customer="K"),
        ev("deal.won", "2026-09-05T10:00:00", deal_id="D1"),
    ]
    p = project(items)
    assert rep(p, "2026-09", "a")["new_customers"] == 1
    late = [deal("D2", "b", "2026-07-01T10:00:00", customer="K"), ev("deal.won", "2026-08-05T10:00:00", deal_id="D2")]
    changes = p.apply(list(zip([10, 11], decode(late), strict=True)))
    assert {"2026-08", "2026-09"} <= changes.periods
    assert rep(p, "2026-09", "a")["new_customers"] == 0
    assert rep(p, "2026-08", "b")["new_customers"] == 1


def test_refund_after_close_claws_back_at_the_close_periods_rate():
    items = org() + [
        ev("target.set", "2026-07-25T09:00:00", scope="rep", scope_id="a", period="2026-08",
           metric="bookings", amount="100000"),
        deal("D1", "a", "2026-08-01T10:00:00"),
        ev("deal.won", "2026-08-05T10:00:00", deal_id="D1", amount="100000"),
        ev("payment.received", "2026-08-06T10:00:00", payment_id="P1", deal_id="D1", amount="50000"),
        ev("payment.refunded", "2026-09-06T10:00:00", payment_id="P1", deal_id="D1", amount="50000"),
    ]
    p = project(items)
    assert rep(p, "2026-08", "a")["total"] == "3000.00"  # 2% of 100,000 + 1,000
    sep = rep(p, "2026-09", "a")
    claws = [(x["component"], x["amount"]) for x in sep["statement"] if x["component"] == "clawback"]
    assert claws == [("clawback", "-1000.00")]  # 50,000 × 100% × r(2026-08) = 2%
    assert sep["collections"] == "-50000.00"


def test_figures_do_not_depend_on_the_ruleset_object_identity():
    items = org() + [deal("D1", "a", "2026-08-01T10:00:00"), ev("deal.won", "2026-08-05T10:00:00", deal_id="D1")]
    p1 = Projection(rulesets())
    p1.apply(list(enumerate(decode(items), 1)))
    assert everything(p1) == everything(project(items))
