"""The scorecard (考核), worked by hand: cap, goal-based indicators, cycle days inverted, a
missing target flagged, grade boundaries; and the same scorecard whatever the batches."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fold_helpers import SIGNED, ev, everything, project

from projections.assessment import grade_of
from projections.rulesets import load_ruleset

ASSESSMENT = """
[assessment]
period = "month"
grades = [
  { from = "90", grade = "S" },
  { from = "80", grade = "A" },
  { from = "60", grade = "B" },
  { from = "0", grade = "C" },
]

[[assessment.indicators]]
metric = "bookings"
weight = "40"
cap = "1.20"

[[assessment.indicators]]
metric = "collection_rate"
weight = "20"
goal = "0.90"

[[assessment.indicators]]
metric = "new_customers"
weight = "20"

[[assessment.indicators]]
metric = "activities"
weight = "10"
goal = "4"

[[assessment.indicators]]
metric = "cycle_days"
weight = "10"
goal = "10"
"""


@pytest.fixture
def assessed(tmp_path):
    path = tmp_path / "assessed.toml"
    path.write_text(SIGNED.read_text() + ASSESSMENT)
    return path


def history() -> list[dict]:
    items = []
    for rep in ("a", "b", "c"):
        items.append(
            ev(
                "rep.onboarded",
                "2026-07-01T09:00:00",
                rep_id=rep,
                name=rep.upper(),
                team="sales",
                region="East",
            )
        )
    items += [
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="rep",
            scope_id="a",
            period="2026-08",
            metric="bookings",
            amount="800000",
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="rep",
            scope_id="b",
            period="2026-08",
            metric="new_customers",
            amount="2",
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="rep",
            scope_id="c",
            period="2026-08",
            metric="bookings",
            amount="500000",
        ),
        # a: 125% of target (capped at 1.20), 20-day cycle, half the collection goal, 2 of 4 calls
        ev(
            "deal.created",
            "2026-08-01T10:00:00",
            deal_id="A1",
            rep_id="a",
            customer_id="CA",
            product_line="A",
            amount="1000000",
        ),
        ev("deal.won", "2026-08-21T10:00:00", deal_id="A1"),
        ev(
            "payment.received",
            "2026-08-22T10:00:00",
            payment_id="PA",
            deal_id="A1",
            amount="450000",
        ),
        # b: no bookings target, a 5-day cycle (goal/actual = 2, capped), 1 of 2 new customers
        ev(
            "deal.created",
            "2026-08-01T10:00:00",
            deal_id="B1",
            rep_id="b",
            customer_id="CB",
            product_line="A",
            amount="100000",
        ),
        ev("deal.won", "2026-08-06T10:00:00", deal_id="B1"),
        ev(
            "payment.received", "2026-08-07T10:00:00", payment_id="PB", deal_id="B1", amount="90000"
        ),
        # c: exactly 100%, exactly the goals: 80.00, grade A at its boundary
        ev(
            "deal.created",
            "2026-08-01T10:00:00",
            deal_id="C1",
            rep_id="c",
            customer_id="CC",
            product_line="A",
            amount="500000",
        ),
        ev("deal.won", "2026-08-11T10:00:00", deal_id="C1"),
        ev(
            "payment.received",
            "2026-08-12T10:00:00",
            payment_id="PC",
            deal_id="C1",
            amount="450000",
        ),
    ]
    for i in range(2):
        items.append(
            ev(
                "activity.logged",
                f"2026-08-0{i + 2}T10:00:00",
                activity_id=f"AA{i}",
                rep_id="a",
                kind="call",
            )
        )
    for i in range(4):
        items.append(
            ev(
                "activity.logged",
                f"2026-08-0{i + 2}T11:00:00",
                activity_id=f"AC{i}",
                rep_id="c",
                kind="visit",
            )
        )
    return items


def points(card: dict) -> dict:
    return {i["metric"]: i["points"] for i in card["indicators"]}


def test_cap_goal_and_cycle_days_inverted(assessed):
    card = project(history(), assessed).scorecard("2026-08")["reps"]["a"]
    bookings = card["indicators"][0]
    assert (bookings["achievement"], bookings["capped"], bookings["points"]) == (
        "1.2500",
        True,
        "48.00",
    )
    assert points(card) == {
        "bookings": "48.00",
        "collection_rate": "10.00",
        "new_customers": "0.00",
        "activities": "5.00",
        "cycle_days": "5.00",
    }
    cycle = card["indicators"][4]
    assert (cycle["actual"], cycle["against"], cycle["achievement"]) == (
        "20.0000",
        "goal",
        "0.5000",
    )
    assert (card["score"], card["grade"]) == ("68.00", "B")


def test_missing_target_flagged_and_scores_zero(assessed):
    card = project(history(), assessed).scorecard("2026-08")["reps"]["b"]
    assert card["flagged"] == ["bookings"]
    bookings = card["indicators"][0]
    assert (bookings["points"], bookings["achievement"]) == ("0.00", None)
    assert bookings["flag"] == "no target for bookings and no goal in the ruleset"
    # a target.set for new_customers counts against the target; a 5-day cycle is 2x the goal, capped
    assert points(card) == {
        "bookings": "0.00",
        "collection_rate": "20.00",
        "new_customers": "10.00",
        "activities": "0.00",
        "cycle_days": "12.00",
    }
    assert (card["score"], card["grade"]) == ("42.00", "C")


def test_grade_at_its_boundary(assessed):
    doc = project(history(), assessed).scorecard("2026-08")
    card = doc["reps"]["c"]
    assert (card["score"], card["grade"]) == ("80.00", "A")
    assert doc["reps"]["a"]["flagged"] == ["new_customers"]  # no target, no goal


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ("100", "S"),
        ("90", "S"),
        ("89.99", "A"),
        ("80", "A"),
        ("79.99", "B"),
        ("60", "B"),
        ("59.99", "C"),
        ("0", "C"),
        ("-0.01", None),
    ],
)
def test_grade_boundaries(assessed, score, grade):
    assessment = load_ruleset(assessed.read_text()).ruleset.assessment
    assert grade_of(assessment, Decimal(score)) == grade


def test_no_assessment_no_scorecard_and_kind_must_match(assessed):
    assert project(history()).scorecard("2026-08") is None
    assert project(history(), assessed).scorecard("2026-Q3") is None  # a monthly assessment


def test_same_scorecard_in_any_batching_and_order(assessed):
    items = history()
    whole = project(items, assessed)
    one_by_one = project(items, assessed, batch=1)
    backwards = project(list(reversed(items)), assessed)
    for p in (one_by_one, backwards):
        assert {k: v for k, v in p.scorecard("2026-08").items() if k != "position"} == {
            k: v for k, v in whole.scorecard("2026-08").items() if k != "position"
        }
    assert everything(whole) == everything(one_by_one)


def test_a_bad_indicator_is_refused_naming_the_key(assessed):
    with pytest.raises(ValueError, match=r"assessment.indicators\[1\].goal: must be above 0"):
        load_ruleset(assessed.read_text().replace('goal = "0.90"', 'goal = "0"'))
