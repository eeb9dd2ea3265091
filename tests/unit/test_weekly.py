"""The weekly cadence (周度): ISO weeks in the business timezone, 环比 against the week
before, the month's target pro-rated over the weeks; worked by hand."""

from __future__ import annotations

import pytest
from fold_helpers import ev, project, strip_position

from projections.periods import Calendar


def history() -> list[dict]:
    items = [
        ev(
            "rep.onboarded",
            "2026-07-01T09:00:00",
            rep_id="a",
            name="A",
            team="sales",
            region="East",
        ),
        ev(
            "rep.onboarded",
            "2026-07-01T09:00:00",
            rep_id="b",
            name="B",
            team="sales",
            region="South",
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="team",
            scope_id="sales",
            period="2026-08",
            metric="bookings",
            amount="3100000",
        ),
    ]
    for deal_id, rep, won_at, amount in (
        ("D1", "a", "2026-07-22T10:00:00", "100000"),  # W30, the week before
        ("D2", "a", "2026-07-30T10:00:00", "50000"),  # W31, still July
        ("D3", "b", "2026-08-05T10:00:00", "200000"),  # W32
        ("D4", "a", "2026-09-01T10:00:00", "80000"),
    ):  # W36, already September
        items.append(
            ev(
                "deal.created",
                "2026-07-01T10:00:00",
                deal_id=deal_id,
                rep_id=rep,
                customer_id=f"C-{deal_id}",
                product_line="A",
                amount=amount,
            )
        )
        items.append(ev("deal.won", won_at, deal_id=deal_id))
    return items


def test_weeks_of_august_whole_with_their_change():
    doc = project(history()).weekly("2026-08")
    assert doc["weeks"] == ["2026-W31", "2026-W32", "2026-W33", "2026-W34", "2026-W35", "2026-W36"]
    team = doc["team"]["sales"]
    assert team["previous_week"] == {"week": "2026-W30", "bookings": "100000.00"}
    rows = [(r["week"], r["bookings"], r["mom"]) for r in team["weeks"]]
    assert rows == [
        ("2026-W31", "50000.00", "-0.5000"),
        ("2026-W32", "200000.00", "3.0000"),
        ("2026-W33", "0.00", "-1.0000"),
        ("2026-W34", "0.00", None),
        ("2026-W35", "0.00", None),
        ("2026-W36", "80000.00", None),
    ]
    assert [r["bookings"] for r in doc["regions"]["East"]["weeks"]][:2] == ["50000.00", "0.00"]
    assert doc["reps"]["b"]["weeks"][1]["bookings"] == "200000.00"


def test_target_pro_rated_over_the_weeks():
    team = project(history()).weekly("2026-08")["team"]["sales"]
    # 3,100,000 over 31 days: 100,000 a day; W31 holds 1-2 August, W36 only the 31st
    assert [r["target"] for r in team["weeks"]] == [
        "200000.00",
        "700000.00",
        "700000.00",
        "700000.00",
        "700000.00",
        "100000.00",
    ]
    assert team["weeks"][-1]["cumulative_target"] == "3100000.00"
    assert (
        team["weeks"][-1]["cumulative"] == "330000.00"
    )  # whole weeks: W31's July day and W36's September one
    assert (
        project(history()).standings("2026-08")["team"]["sales"]["bookings"] == "200000.00"
    )  # months unchanged


def test_same_weekly_in_any_batching_and_neighbours_refresh_it():
    items = history()
    whole = project(items)
    assert strip_position(project(items, batch=1).weekly("2026-08")) == strip_position(
        whole.weekly("2026-08")
    )
    assert "2026-08" in whole.trend_periods({"2026-09"}) and "2026-08" in whole.trend_periods(
        {"2026-07"}
    )


def test_iso_week_bounds_are_local_mondays():
    cal = Calendar("Asia/Shanghai")
    start, end = cal.week_bounds("2026-W01")
    assert (
        cal.iso(start) == "2025-12-29T00:00:00+08:00"
        and cal.iso(end) == "2026-01-05T00:00:00+08:00"
    )
    assert cal.previous_week("2026-W01") == "2025-W52"
    with pytest.raises(ValueError, match="expected YYYY-Www"):
        cal.week_bounds("2026-W60")


def test_a_year_shows_team_and_regions_only():
    doc = project(history()).weekly("2026")
    assert doc["reps"] == {} and set(doc["regions"]) == {"East", "South"}
    assert len(doc["weeks"]) == 53  # 2026-W01 starts on 29 December 2025
