"""Renewal on a collections basis and team-scope awards, worked by hand through the fold.

Events go in as canonical events, through `Projection.apply` (the fold the live
projector, a rebuild and a replay all run); the figures come out of `standings`, as the
CLI shows them. The same events go through NATS in test_projector.py and through a
replay in test_audit.py.
"""

from __future__ import annotations

from pathlib import Path

from fold_helpers import ev, everything, project

RULESETS = Path(__file__).parents[1] / "rulesets"
RENEWAL_COLLECTIONS = RULESETS / "renewal-collections.toml"
TEAM_AWARDS = RULESETS / "team-awards.toml"


def lines(doc: dict, rep: str) -> list[tuple[str, str]]:
    return [(x["component"], x["amount"]) for x in doc["reps"][rep]["statement"]]


def deal(
    deal_id: str, rep: str, created: str, won: str, amount: str, kind: str = "new"
) -> list[dict]:
    return [
        ev(
            "deal.created",
            created,
            deal_id=deal_id,
            rep_id=rep,
            customer_id=f"C-{deal_id}",
            product_line="A",
            amount=amount,
            kind=kind,
        ),
        ev("deal.won", won, deal_id=deal_id),
    ]


def renewal_events() -> list[dict]:
    """February: a closes two renewal deals, R1 (100,000) and R2 (20,000); nothing is paid.
    March 1: R2 is reassigned to b. March: 60,000 paid on R1 (credited to a), 20,000 on R2
    (credited to b, the credit at payment time), and a closes a new deal N1 with 40,000
    paid on it. Targets: 100,000 of collections each month for a, March for b."""
    return [
        ev(
            "rep.onboarded",
            "2026-01-05T09:00:00",
            rep_id="a",
            name="A",
            team="sales",
            region="East",
        ),
        ev(
            "rep.onboarded",
            "2026-01-05T09:00:00",
            rep_id="b",
            name="B",
            team="sales",
            region="East",
        ),
        *(
            ev(
                "target.set",
                "2026-01-20T09:00:00",
                scope="rep",
                scope_id=rep,
                period=month,
                metric="collections",
                amount="100000",
            )
            for rep, month in (("a", "2026-02"), ("a", "2026-03"), ("b", "2026-03"))
        ),
        *deal("R1", "a", "2026-02-01T10:00:00", "2026-02-20T10:00:00", "100000", kind="renewal"),
        *deal("R2", "a", "2026-02-02T10:00:00", "2026-02-25T10:00:00", "20000", kind="renewal"),
        ev("deal.reassigned", "2026-03-01T10:00:00", deal_id="R2", rep_id="b"),
        *deal("N1", "a", "2026-03-01T10:00:00", "2026-03-05T10:00:00", "50000"),
        ev(
            "payment.received", "2026-03-05T10:00:00", payment_id="P2", deal_id="R2", amount="20000"
        ),
        ev(
            "payment.received", "2026-03-10T10:00:00", payment_id="P1", deal_id="R1", amount="60000"
        ),
        ev(
            "payment.received", "2026-03-15T10:00:00", payment_id="P3", deal_id="N1", amount="40000"
        ),
    ]


def test_renewal_on_collections_pays_in_the_month_of_the_collections():
    p = project(renewal_events(), RENEWAL_COLLECTIONS)
    feb = p.standings("2026-02")
    # February: a booked 120,000 of renewals but collected nothing: B = 0, no rate, no line.
    assert (feb["reps"]["a"]["bookings"], feb["reps"]["a"]["collections"]) == ("120000.00", "0.00")
    assert lines(feb, "a") == []
    mar = p.standings("2026-03")
    # March, a: B = 60,000 (R1) + 40,000 (N1) = 100,000; tiered 5% × 100,000 = 5,000;
    # r = 5,000 / 100,000 = 5%; B_renewal = 60,000 (R1 only; N1 is new, R2 went to b);
    # renewal = (1.5 − 1) × 5% × 60,000 = 1,500. Total 6,500.
    assert lines(mar, "a") == [("tiered", "5000.00"), ("renewal", "1500.00")]
    assert mar["reps"]["a"]["statement"][1]["explanation"] == "renewal +50%: 0.5 × 5% × 60,000.00"
    assert mar["reps"]["a"]["total"] == "6500.00"
    # March, b: R2's 20,000 is b's (reassigned before the payment): tiered 5% × 20,000 =
    # 1,000; renewal 0.5 × 5% × 20,000 = 500. Total 1,500.
    assert lines(mar, "b") == [("tiered", "1000.00"), ("renewal", "500.00")]
    assert mar["reps"]["b"]["total"] == "1500.00"


def test_renewal_on_collections_is_the_same_whatever_the_arrival_order():
    items = renewal_events()
    assert everything(project(items, RENEWAL_COLLECTIONS)) == everything(
        project(items[::-1], RENEWAL_COLLECTIONS, batch=3)
    )


def team_events() -> list[dict]:
    """August 2026. Team alpha (target 1,000,000): a 500,000, b 300,000, c nothing, d
    300,000 closed on the 10th, then d is offboarded on the 20th. Team beta (target
    200,000): e 50,000 and f 50,000 on the 5th; f moves to alpha on the 25th.
    Alpha: 500,000 + 300,000 + 300,000 = 1,100,000 = 110% (f's close counts to beta, the
    team at the close). Beta: 100,000 = 50%."""
    return [
        *(
            ev(
                "rep.onboarded",
                "2026-07-01T09:00:00",
                rep_id=rep,
                name=rep.upper(),
                team=team,
                region="East",
            )
            for rep, team in (
                ("a", "alpha"),
                ("b", "alpha"),
                ("c", "alpha"),
                ("d", "alpha"),
                ("e", "beta"),
                ("f", "beta"),
            )
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="team",
            scope_id="alpha",
            period="2026-08",
            metric="bookings",
            amount="1000000",
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="team",
            scope_id="beta",
            period="2026-08",
            metric="bookings",
            amount="200000",
        ),
        *deal("D1", "a", "2026-08-01T10:00:00", "2026-08-12T10:00:00", "500000"),
        *deal("D2", "b", "2026-08-01T10:00:00", "2026-08-14T10:00:00", "300000"),
        *deal("D3", "d", "2026-08-01T10:00:00", "2026-08-10T10:00:00", "300000"),
        ev("rep.offboarded", "2026-08-20T00:00:00", rep_id="d"),
        *deal("D4", "e", "2026-08-01T10:00:00", "2026-08-05T10:00:00", "50000"),
        *deal("D5", "f", "2026-08-01T10:00:00", "2026-08-05T11:00:00", "50000"),
        ev("rep.transferred", "2026-08-25T00:00:00", rep_id="f", region="East", team="alpha"),
    ]


def test_team_awards_to_every_member_of_a_team_that_reached_the_threshold():
    aug = project(team_events(), TEAM_AWARDS).standings("2026-08")
    alpha = aug["team"]["alpha"]
    assert (alpha["bookings"], alpha["target"], alpha["attainment"]) == (
        "1100000.00",
        "1000000.00",
        "1.1000",
    )
    assert aug["team"]["beta"]["attainment"] == "0.5000"
    # Alpha at exactly 110% reaches both entries (≥): 500 + 1,000 = 1,500 to each member at
    # the month's end: a, b, c (no deals of its own) and f (moved in on the 25th).
    for rep in ("a", "b", "c", "f"):
        assert lines(aug, rep) == [("team_awards", "500.00"), ("team_awards", "1000.00")], rep
        assert aug["reps"][rep]["total"] == "1500.00"
    assert aug["reps"]["a"]["statement"][1]["explanation"] == "team alpha reached 110.0% (≥ 110%)"
    # d is offboarded: its 300,000 counts to alpha, but it gets nothing. e's beta is at 50%.
    assert (aug["reps"]["d"]["active"], lines(aug, "d")) == (False, [])
    assert lines(aug, "e") == []


def test_team_awards_below_the_threshold_and_arrival_order():
    # Without D3 alpha has 800,000 = 80%: no entry reached, nobody is paid.
    items = [e for e in team_events() if e["data"].get("deal_id") != "D3"]
    aug = project(items, TEAM_AWARDS).standings("2026-08")
    assert all(lines(aug, rep) == [] for rep in aug["reps"])
    # The late close (arriving last, back-dated to the 10th) gives the same figures as on time.
    late = [e for e in team_events() if e["data"].get("deal_id") == "D3"]
    assert everything(project(items + late, TEAM_AWARDS)) == everything(
        project(team_events(), TEAM_AWARDS)
    )
