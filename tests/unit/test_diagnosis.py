"""Diagnosis (5Why, 问题定位), the seed's example: 小李 at 75% of target with new-customer
conversion 15% against the team's 25% is told that driver first, with both values."""

from __future__ import annotations

from fold_helpers import ev, project, strip_position
from team_history import history


def test_seed_example_names_new_customer_conversion_first():
    p = project(history())
    rep = p.standings("2026-08")["reps"]["li"]
    assert (rep["bookings"], rep["attainment"], rep["rag"]) == ("450000.00", "0.7500", "red")
    doc = p.diagnosis("2026-08")
    assert list(doc["reps"]) == ["li"]  # 小张 105% and 小王 110% are green
    li = doc["reps"]["li"]
    assert li["headline"] == "小李 is at 75.0% of target (450,000.00 of 600,000.00 bookings), red"
    first = li["drivers"][0]
    assert (first["driver"], first["rep"], first["team"], first["shortfall"]) == (
        "new_customer_conversion",
        "0.1500",
        "0.2500",
        "0.4000",
    )
    assert first["explanation"] == (
        "new-customer conversion 15.0% against the team's 25.0% (3 of 20 new-customer deals created "
        "2026-06 to 2026-08 closed): needs coaching on following up new prospects"
    )
    # the funnel step where 小李's deals stall comes next; nothing within 80% of the team is listed
    assert [d["driver"] for d in li["drivers"]] == [
        "new_customer_conversion",
        "qualified_to_negotiation",
    ]
    assert (li["drivers"][1]["rep"], li["drivers"][1]["team"]) == ("0.7222", "0.9138")


def test_counts_against_the_per_rep_mean_and_cycle_days_above():
    items = history()
    # zhang and wang log 30 calls each; li logs 6: the team's mean is 22 a rep, li's 6 is below 80%
    for rep, n in (("zhang", 30), ("wang", 30), ("li", 6)):
        items += [
            ev(
                "activity.logged",
                "2026-08-05T10:00:00",
                activity_id=f"A-{rep}-{i}",
                rep_id=rep,
                kind="call",
            )
            for i in range(n)
        ]
    li = project(items).diagnosis("2026-08")["reps"]["li"]
    activities = next(d for d in li["drivers"] if d["driver"] == "activities")
    assert (activities["rep"], activities["team"]) == ("6.0000", "22.0000")
    assert activities["explanation"].startswith("activities 6 against the team's 22.0 per rep")
    assert [d["driver"] for d in li["drivers"]][:2] == [
        "activities",
        "new_customer_conversion",
    ]  # 0.73 > 0.40


def test_same_diagnosis_in_any_order_and_batching():
    items = history()
    whole = strip_position(project(items).diagnosis("2026-08"))
    assert strip_position(project(list(reversed(items))).diagnosis("2026-08")) == whole
    assert strip_position(project(items, batch=7).diagnosis("2026-08")) == whole


def test_a_month_feeds_the_diagnosis_of_the_next_two():
    p = project(history())
    assert {"2026-08", "2026-Q3", "2026"} <= p.diagnosis_periods({"2026-07"})
