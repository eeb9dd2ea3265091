"""Quarterly plans (`[incentive] period = "quarter"`) and the quarter's last month, worked by hand.

Under a quarterly plan a rep's statement is computed once per quarter, on the quarter's
figures against the quarter's target, and paid in the quarter's last month; the other
months pay nothing. The quarter's last month has its statements as soon as any month of
the quarter has a figure, so an October refund shows as December's clawback at once.
"""

from __future__ import annotations

from pathlib import Path

from fold_helpers import SIGNED, ev, project

QUARTERLY = Path(__file__).parents[1] / "rulesets" / "quarterly.toml"


def org() -> list[dict]:
    return [ev("rep.onboarded", "2026-06-01T09:00:00", rep_id=r, name=r.upper(), team="sales", region="East")
            for r in ("a", "b")]


def won(deal_id: str, rep: str, created: str, closed: str, amount: str) -> list[dict]:
    return [ev("deal.created", created, deal_id=deal_id, rep_id=rep, customer_id=f"C-{deal_id}",
               product_line="A", amount=amount),
            ev("deal.won", closed, deal_id=deal_id)]


def quarter() -> list[dict]:
    """Q3 2026: a closes 120,000 (July), 100,000 (August) and 90,000 (September) against a
    quarterly target of 300,000; b closes 150,000 (September) against 200,000."""
    return org() + [
        ev("target.set", "2026-06-20T09:00:00", scope="rep", scope_id="a", period="2026-Q3",
           metric="bookings", amount="300000"),
        ev("target.set", "2026-06-20T09:00:00", scope="rep", scope_id="b", period="2026-Q3",
           metric="bookings", amount="200000"),
        *won("D1", "a", "2026-07-01T10:00:00", "2026-07-10T10:00:00", "120000"),
        ev("payment.received", "2026-07-12T10:00:00", payment_id="P1", deal_id="D1", amount="120000"),
        *won("D2", "a", "2026-08-01T10:00:00", "2026-08-15T10:00:00", "100000"),
        *won("D3", "b", "2026-09-01T10:00:00", "2026-09-20T10:00:00", "150000"),
        *won("D4", "a", "2026-09-02T10:00:00", "2026-09-25T10:00:00", "90000"),
    ]


def lines(doc: dict, rep: str) -> list[tuple[str, str]]:
    return [(x["component"], x["amount"]) for x in doc["reps"][rep]["statement"]]


def test_paid_once_in_the_quarters_last_month_on_the_quarters_figures():
    p = project(quarter(), QUARTERLY)
    for month in ("2026-07", "2026-08"):
        doc = p.standings(month)
        assert (lines(doc, "a"), lines(doc, "b")) == ([], []), month
        assert doc["reps"]["a"]["total"] == "0.00"
    september = p.standings("2026-09")
    # a: 310,000 of 300,000 = 103.3%: whole tier 2% of 310,000 = 6,200 plus the 1,000 bonus;
    # ranked first over Q3 (310,000 against 150,000): 5,000. b: 75%, below 80%: no tier; second: 3,000.
    assert lines(september, "a") == [("tiered", "6200.00"), ("tiered", "1000.00"), ("rank_awards", "5000.00")]
    assert september["reps"]["a"]["statement"][0]["explanation"] == "103.3% of target: 2% of 310,000.00"
    assert (september["reps"]["a"]["total"], september["reps"]["b"]["total"]) == ("12200.00", "3000.00")
    assert lines(september, "b") == [("rank_awards", "3000.00")]
    # The month's own figures are the month's; the headline target is the quarter's, on the quarter.
    assert (september["reps"]["a"]["bookings"], september["reps"]["a"]["target"]) == ("90000.00", None)
    q3 = p.standings("2026-Q3")
    a = q3["reps"]["a"]
    assert (a["bookings"], a["target"], a["attainment"], a["rag"], a["total"]) == (
        "310000.00", "300000.00", "1.0333", "green", "12200.00")
    assert [(x["period"], x["amount"]) for x in a["statement"]] == [
        ("2026-09", "6200.00"), ("2026-09", "1000.00"), ("2026-09", "5000.00")]
    assert q3["reps"]["b"]["rag"] == "red"
    assert p.statement("a", "2026-09")["total"] == "12200.00"


def test_refund_next_quarter_is_clawed_back_in_that_quarters_last_month_at_the_close_quarters_rate():
    refund = ev("payment.refunded", "2026-10-05T10:00:00", payment_id="P1", deal_id="D1", amount="20000")
    p = project(quarter() + [refund], QUARTERLY)
    # Nothing has happened in December yet, but Q4's statement is paid there:
    # r(Q3) = 6,200 / 310,000 = 2%, so -20,000 x 100% x 2% = -400.00.
    assert "2026-12" in p.periods() and "2026-11" not in p.periods()
    december = p.standings("2026-12")
    assert lines(december, "a") == [("clawback", "-400.00")]
    assert december["reps"]["a"]["statement"][0]["explanation"] == (
        "clawback: refund P1 on D1 (2026-Q3), 100% × 20,000.00 × 2%")
    assert december["reps"]["a"]["total"] == "-400.00"
    assert lines(p.standings("2026-10"), "a") == []
    assert p.standings("2026-10")["reps"]["a"]["collections"] == "-20000.00"
    assert p.standings("2026-Q4")["reps"]["a"]["total"] == "-400.00"
    # Q3 is unchanged: the refund is Q4's.
    assert p.standings("2026-09")["reps"]["a"]["total"] == "12200.00"


def test_late_deal_in_the_quarters_first_month_changes_its_last_months_statement():
    late = won("D5", "b", "2026-07-02T10:00:00", "2026-07-03T10:00:00", "100000")
    on_time = project(quarter()[:2] + late + quarter()[2:], QUARTERLY)
    arrived_late = project(quarter() + late, QUARTERLY)
    # b: 250,000 of 200,000 = 125%: 2% of 250,000 = 5,000 + 1,000; still second (a 310,000).
    assert lines(arrived_late.standings("2026-09"), "b") == [
        ("tiered", "5000.00"), ("tiered", "1000.00"), ("rank_awards", "3000.00")]
    assert arrived_late.standings("2026-09") == {**on_time.standings("2026-09"),
                                                 "position": arrived_late.position}


def test_monthly_plan_pays_rank_awards_in_a_quarter_end_with_no_events_yet():
    # Events in July and August only: September is still owed Q3's rank awards.
    items = [x for x in quarter() if x["occurred_at"] < "2026-09"]
    p = project(items, SIGNED)
    assert "2026-09" in p.periods()
    september = p.standings("2026-09")
    assert (lines(september, "a"), lines(september, "b")) == ([("rank_awards", "5000.00")], [])
    assert september["reps"]["a"]["bookings"] == "0.00"
