"""The incentive engine against DOMAIN.md's worked numbers (facts in, lines out)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.facts import MenteeClose, PeriodFacts, Refund, RepFacts
from projections.incentives import (
    COMPONENTS,
    Line,
    add_months,
    effective_rate,
    line_json,
    round_money,
    statement_lines,
    total,
)
from schemas.ruleset import Incentive
from services.project.rulesets import read_ruleset

ROOT = Path(__file__).resolve().parents[2]
SEED3 = read_ruleset(ROOT / "rulesets" / "seed-table3.toml").ruleset.incentive
SEED2 = read_ruleset(ROOT / "rulesets" / "examples" / "seed2-brackets.toml").ruleset.incentive
SEED4 = read_ruleset(ROOT / "rulesets" / "examples" / "seed4-accelerator.toml").ruleset.incentive


def no_rate(rep_id: str, period: str) -> D | None:
    return None


def plan(**kw) -> Incentive:
    return msgspec.convert(kw, Incentive, strict=False)


def rep(rep_id: str, bookings="0", target=None, region="East", active=True, **kw) -> RepFacts:
    targets = {"bookings": D(target)} if target is not None else {}
    return RepFacts(
        rep_id=rep_id,
        name=rep_id,
        team="sales",
        region=region,
        active=active,
        bookings=D(bookings),
        targets=targets,
        **kw,
    )


def facts(*reps: RepFacts, period="2026-08", **kw) -> PeriodFacts:
    return PeriodFacts(period=period, reps={r.rep_id: r for r in reps}, **kw)


def lines_of(p: Incentive, f: PeriodFacts, rate_of=no_rate) -> dict[str, list[tuple[str, str]]]:
    return {
        k: [(ln.component, f"{ln.amount:.2f}") for ln in v]
        for k, v in statement_lines(p, f, rate_of).items()
    }


# --- tiered (表1, 表3) -----------------------------------------------------------------


def table1_facts() -> PeriodFacts:
    return facts(
        rep("zhang", "840000", "800000", region="East"),
        rep("li", "450000", "600000", region="South"),
        rep("wang", "330000", "300000", region="North"),
        region_actual={"bookings": {"East": D(840000), "South": D(450000), "North": D(330000)}},
        region_targets={"bookings": {"East": D(800000), "South": D(600000), "North": D(300000)}},
        region_members={"East": ["zhang"], "South": ["li"], "North": ["wang"]},
    )


def test_table1_statements():
    got = statement_lines(SEED3, table1_facts(), no_rate)
    assert [line_json(x) for x in got["zhang"]] == [
        {
            "component": "tiered",
            "amount": "16800.00",
            "explanation": "105.0% of target: 2% of 840,000.00",
        },
        {"component": "tiered", "amount": "1000.00", "explanation": "bonus for reaching 100%"},
    ]
    assert total(got["zhang"]) == D("17800.00")
    assert got["li"] == []
    assert total(got["li"]) == D("0.00")
    assert [(x.component, x.amount) for x in got["wang"]] == [
        ("tiered", D("6600.00")),
        ("tiered", D("1000.00")),
        ("team_awards", D("500.00")),
    ]
    assert got["wang"][2].explanation == "region North reached 110.0% (≥ 110%)"
    assert total(got["wang"]) == D("8100.00")


def test_whole_tier_at_120_percent():
    got = lines_of(SEED3, facts(rep("zhang", "960000", "800000")))
    assert got["zhang"] == [("tiered", "28800.00"), ("tiered", "3000.00")]


def test_whole_tier_lowest_and_below():
    got = statement_lines(
        SEED3, facts(rep("a", "680000", "800000"), rep("b", "639999", "800000")), no_rate
    )
    assert [(x.amount, x.explanation) for x in got["a"]] == [
        (D("10200.00"), "85.0% of target: 1.5% of 680,000.00")
    ]
    assert got["b"] == []


def test_no_target_or_zero_target_no_tiered_lines():
    got = lines_of(SEED3, facts(rep("a", "500000"), rep("b", "500000", "0")))
    assert got == {"a": [], "b": []}


def test_accelerator_marginal_tiers():
    # seed 4: 1% up to 120% of target, 1.5% on the part above 120%.
    got = statement_lines(
        SEED4, facts(rep("a", "1500000", "1000000"), rep("b", "900000", "1000000")), no_rate
    )
    assert [(x.amount, x.explanation) for x in got["a"]] == [
        (D("12000.00"), "marginal tier from 0% to 120% of target: 1% of 1,200,000.00"),
        (D("4500.00"), "marginal tier above 120% of target: 1.5% of 300,000.00"),
    ]
    assert [x.amount for x in got["b"]] == [D("9000.00")]


def test_marginal_tiers_part_below_first_from_pays_nothing_and_bonus_of_highest():
    p = plan(
        tiered={
            "mode": "marginal",
            "tiers": [
                {"from": "0.80", "rate": "0.015"},
                {"from": "1.00", "rate": "0.02", "bonus": "1000"},
                {"from": "1.20", "rate": "0.03", "bonus": "3000"},
            ],
        }
    )
    got = statement_lines(p, facts(rep("a", "1000000", "800000")), no_rate)
    assert [(x.amount, x.explanation) for x in got["a"]] == [
        (D("2400.00"), "marginal tier from 80% to 100% of target: 1.5% of 160,000.00"),
        (D("3200.00"), "marginal tier from 100% to 120% of target: 2% of 160,000.00"),
        (D("1200.00"), "marginal tier above 120% of target: 3% of 40,000.00"),
        (D("3000.00"), "bonus for reaching 120%"),
    ]


# --- brackets (seed 2) ------------------------------------------------------------------


def test_brackets_marginal_2_500_000():
    got = statement_lines(SEED2, facts(rep("a", "2500000")), no_rate)
    assert [(x.amount, x.explanation) for x in got["a"]] == [
        (D("80000.00"), "bracket 0.00–1,000,000.00: 8% of 1,000,000.00"),
        (D("100000.00"), "bracket 1,000,000.00–2,000,000.00: 10% of 1,000,000.00"),
        (D("60000.00"), "bracket above 2,000,000.00: 12% of 500,000.00"),
    ]
    assert total(got["a"]) == D("240000.00")


def test_brackets_whole_and_bonus():
    p = plan(
        brackets={
            "mode": "whole",
            "brackets": [
                {"from": "0", "rate": "0.08"},
                {"from": "1000000", "rate": "0.10", "bonus": "500"},
                {"from": "2000000", "rate": "0.12"},
            ],
        }
    )
    got = statement_lines(p, facts(rep("a", "2500000"), rep("b", "1500000")), no_rate)
    assert [x.amount for x in got["a"]] == [D("300000.00")]
    assert [x.amount for x in got["b"]] == [D("150000.00"), D("500.00")]
    assert got["b"][1].component == "brackets"


# --- product rates, renewal, referral -----------------------------------------------------


def test_product_rates_on_bookings_whatever_the_basis():
    p = msgspec.structs.replace(SEED4, basis="collections", tiered=None)
    r = rep(
        "a",
        "500000",
        bookings_by_product_line={"solution": D(300000), "hardware": D(200000)},
        collections=D(100000),
    )
    got = statement_lines(p, facts(r), no_rate)
    assert [(x.component, x.amount, x.explanation) for x in got["a"]] == [
        ("product_rates", D("6000.00"), "solution: 2% of 300,000.00"),
        ("product_rates", D("1600.00"), "hardware: 0.8% of 200,000.00"),
    ]
    # r = 7,600 / collections 100,000
    assert effective_rate(p, r) == D("0.076")


def test_renewal_plus_20_percent():
    p = plan(tiered={"tiers": [{"from": "0", "rate": "0.025"}]}, renewal={"multiplier": "1.2"})
    r = rep("a", "400000", "400000", renewal_bookings=D(100000))
    got = statement_lines(p, facts(r), no_rate)
    assert [(x.component, x.amount, x.explanation) for x in got["a"]] == [
        ("tiered", D("10000.00"), "100.0% of target: 2.5% of 400,000.00"),
        ("renewal", D("500.00"), "renewal +20%: 0.2 × 2.5% × 100,000.00"),
    ]


def test_renewal_uses_effective_rate_with_brackets():
    # seed 2: 1,500,000 -> 80,000 + 50,000 = 130,000; r = 130,000 / 1,500,000
    r = rep("a", "1500000", renewal_bookings=D(300000))
    assert effective_rate(SEED2, r) == D(130000) / D(1500000)
    got = lines_of(SEED2, facts(r))
    assert got["a"][-1] == ("renewal", "5200.00")  # 0.2 × 130000/1500000 × 300000


def test_renewal_on_collections_pays_on_renewal_collections_not_bookings():
    # Collections basis, 5% on all of B, multiplier 1.5. February: the renewal deal
    # closes (100,000 booked, nothing paid): B = 0, no r, no renewal line. March: 60,000
    # paid on it, B = 60,000, r = 3,000 / 60,000 = 5%; renewal = 0.5 × 5% × 60,000 = 1,500.
    p = plan(
        basis="collections",
        tiered={"tiers": [{"from": "0", "rate": "0.05"}]},
        renewal={"multiplier": "1.5"},
    )

    def collector(**kw) -> RepFacts:
        return RepFacts(
            rep_id="a",
            name="a",
            team="sales",
            region="East",
            active=True,
            targets={"collections": D(100000)},
            **kw,
        )

    feb = collector(bookings=D(100000), renewal_bookings=D(100000))
    assert lines_of(p, facts(feb, period="2026-02")) == {"a": []}
    mar = collector(collections=D(60000), renewal_collections=D(60000))
    got = statement_lines(p, facts(mar, period="2026-03"), no_rate)
    assert [(x.component, x.amount, x.explanation) for x in got["a"]] == [
        ("tiered", D("3000.00"), "60.0% of target: 5% of 60,000.00"),
        ("renewal", D("1500.00"), "renewal +50%: 0.5 × 5% × 60,000.00"),
    ]
    # Only the renewal deals' part of B: 100,000 collected, 40,000 of it on renewals ->
    # r = 5,000 / 100,000 = 5%; renewal = 0.5 × 5% × 40,000 = 1,000 (not on 100,000 booked).
    mixed = collector(
        collections=D(100000),
        bookings=D(100000),
        renewal_bookings=D(100000),
        renewal_collections=D(40000),
    )
    assert lines_of(p, facts(mixed)) == {"a": [("tiered", "5000.00"), ("renewal", "1000.00")]}


def test_referral_bonus_per_close():
    got = statement_lines(
        SEED2, facts(rep("a", "0", referral_closes=2), rep("b", "0", referral_closes=1)), no_rate
    )
    assert [(x.component, x.amount, x.explanation) for x in got["a"]] == [
        ("referral", D("2000.00"), "2 referral deals × 1,000.00")
    ]
    assert got["b"][0].explanation == "1 referral deal × 1,000.00"


def test_effective_rate_excludes_bonuses_and_none_without_basis():
    r = rep("zhang", "840000", "800000")
    assert effective_rate(SEED3, r) == D("0.02")
    assert effective_rate(SEED3, rep("x", "0", "800000")) is None


# --- team awards ----------------------------------------------------------------------


def test_team_award_threshold_uses_ge_and_entries_add_up():
    p = plan(
        team_awards=[{"from": "1.10", "per_member": "500"}, {"from": "1.00", "per_member": "200"}]
    )
    base = dict(
        region_targets={"bookings": {"North": D(300000)}}, region_members={"North": ["a", "b"]}
    )
    got = lines_of(
        p,
        facts(
            rep("a", region="North"),
            rep("b", region="North"),
            region_actual={"bookings": {"North": D(330000)}},
            **base,
        ),
    )
    assert got == {
        "a": [("team_awards", "500.00"), ("team_awards", "200.00")],
        "b": [("team_awards", "500.00"), ("team_awards", "200.00")],
    }
    got = lines_of(
        p, facts(rep("a", region="North"), region_actual={"bookings": {"North": D(329999)}}, **base)
    )
    assert got == {"a": [("team_awards", "200.00")]}


def test_team_scope_award_to_every_active_member_and_entries_add_up():
    # Team "north-1": target 1,000,000, actual 1,100,000 -> 110%. Entries 1.00 -> 500 and
    # 1.10 -> 1,000 both reached (>=): 500 + 1,000 = 1,500 to each of the 3 active members;
    # d is offboarded (inactive, and not among the team's members): nothing.
    p = plan(
        team_awards=[
            {"scope": "team", "from": "1.00", "per_member": "500"},
            {"scope": "team", "from": "1.10", "per_member": "1000"},
        ]
    )
    members = [
        RepFacts(rep_id=r, name=r, team="north-1", region="North", active=r != "d") for r in "abcd"
    ]
    f = facts(
        *members,
        team_actual={"bookings": {"north-1": D(1100000)}},
        team_targets={"bookings": {"north-1": D(1000000)}},
        team_members={"north-1": ["a", "b", "c"]},
    )
    got = statement_lines(p, f, no_rate)
    for r in "abc":
        assert [(x.component, x.amount) for x in got[r]] == [
            ("team_awards", D("500.00")),
            ("team_awards", D("1000.00")),
        ]
        assert total(got[r]) == D("1500.00")
    assert got["a"][1].explanation == "team north-1 reached 110.0% (≥ 110%)"
    assert got["d"] == []
    # 1,099,999 is below 110%: only the 1.00 entry pays. The region has no target: the
    # team entries look at the team alone.
    f.team_actual = {"bookings": {"north-1": D(1099999)}}
    assert lines_of(p, f)["a"] == [("team_awards", "500.00")]


def test_team_and_region_scopes_in_one_plan_are_judged_separately():
    p = plan(
        team_awards=[
            {"scope": "region", "from": "1.10", "per_member": "500"},
            {"scope": "team", "from": "1.10", "per_member": "300"},
        ]
    )
    r = RepFacts(rep_id="a", name="a", team="t1", region="North", active=True)
    base = dict(
        region_targets={"bookings": {"North": D(100)}}, team_targets={"bookings": {"t1": D(100)}}
    )
    team_only = facts(
        r,
        region_actual={"bookings": {"North": D(109)}},
        team_actual={"bookings": {"t1": D(110)}},
        **base,
    )
    assert lines_of(p, team_only) == {"a": [("team_awards", "300.00")]}
    both = facts(
        r,
        region_actual={"bookings": {"North": D(110)}},
        team_actual={"bookings": {"t1": D(110)}},
        **base,
    )
    assert lines_of(p, both) == {"a": [("team_awards", "500.00"), ("team_awards", "300.00")]}


# --- rank awards ----------------------------------------------------------------------


def rank_facts(values: dict[str, str], **active) -> PeriodFacts:
    reps = [rep(k, active=active.get(k, True)) for k in values]
    return facts(
        *reps,
        period="2026-09",
        quarter="2026-Q3",
        quarter_actual={"bookings": {k: D(v) for k, v in values.items()}},
    )


def test_rank_awards_plain():
    got = statement_lines(
        SEED3, rank_facts({"a": "300", "b": "200", "c": "100", "d": "50", "e": "0"}), no_rate
    )
    assert [(x.amount, x.explanation) for x in got["a"]] == [(D("5000.00"), "Q3 rank 1")]
    assert [x.amount for x in got["b"]] == [D("3000.00")]
    assert [x.amount for x in got["c"]] == [D("1000.00")]
    assert got["d"] == [] and got["e"] == []


def test_rank_awards_two_tied_for_second_nobody_third():
    got = statement_lines(
        SEED3, rank_facts({"a": "300", "b": "200", "c": "200", "d": "100"}), no_rate
    )
    assert [x.amount for x in got["a"]] == [D("5000.00")]
    assert [(x.amount, x.explanation) for x in got["b"]] == [
        (D("2000.00"), "Q3 rank 2 (tied, shares 3,000.00+1,000.00)")
    ]
    assert [x.amount for x in got["c"]] == [D("2000.00")]
    assert got["d"] == []


def test_rank_awards_three_tied_for_first():
    got = lines_of(SEED3, rank_facts({"a": "100", "b": "100", "c": "100", "d": "50"}))
    assert got == {
        "a": [("rank_awards", "3000.00")],
        "b": [("rank_awards", "3000.00")],
        "c": [("rank_awards", "3000.00")],
        "d": [],
    }


def test_rank_awards_share_rounded():
    p = plan(rank_awards=[{"prizes": ["4000"]}])
    got = lines_of(p, rank_facts({"a": "100", "b": "100", "c": "100"}))
    assert got == {k: [("rank_awards", "1333.33")] for k in "abc"}


def test_rank_awards_only_in_quarter_last_month_and_only_active():
    f = rank_facts({"a": "300", "b": "200"}, a=False)
    got = lines_of(SEED3, f)
    assert got == {"a": [], "b": [("rank_awards", "5000.00")]}
    f.quarter = None
    assert lines_of(SEED3, f) == {"a": [], "b": []}


# --- mentor ---------------------------------------------------------------------------


def mentor_facts(closed_on: date, mentor_active=True) -> PeriodFacts:
    return facts(
        rep("zhang", active=mentor_active),
        rep("li"),
        mentee_closes=[MenteeClose("zhang", "li", "D9", closed_on, date(2026, 5, 31))],
    )


def test_mentor_window_inclusive_edge():
    # hired 2026-05-31 + 3 months = 2026-08-31 (inclusive); 09-01 is one day late.
    got = statement_lines(SEED4, mentor_facts(date(2026, 8, 31)), no_rate)
    assert [(x.component, x.amount, x.explanation) for x in got["zhang"]] == [
        ("mentor", D("2000.00"), "mentor bonus: mentee li's first deal D9 within 3 months")
    ]
    assert got["li"] == []
    got = lines_of(SEED4, mentor_facts(date(2026, 9, 1)))
    assert got == {"zhang": [], "li": []}


def test_add_months_clamps_to_month_end():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), 0) == date(2026, 1, 15)


# --- offboarded reps ------------------------------------------------------------------


def test_offboarded_rep_keeps_commission_but_no_team_rank_or_mentor():
    p = msgspec.structs.replace(SEED3, mentor=SEED4.mentor)
    f = facts(
        rep("wang", "330000", "300000", region="North", active=False),
        rep("zhao", "0", region="North"),
        period="2026-09",
        quarter="2026-Q3",
        quarter_actual={"bookings": {"wang": D(330000), "zhao": D(1)}},
        region_actual={"bookings": {"North": D(330000)}},
        region_targets={"bookings": {"North": D(300000)}},
        region_members={"North": ["zhao"]},
        mentee_closes=[MenteeClose("wang", "zhao", "D1", date(2026, 9, 1), date(2026, 8, 1))],
    )
    got = lines_of(p, f)
    assert got["wang"] == [("tiered", "6600.00"), ("tiered", "1000.00")]
    # zhao is the only ranking rep: first place; team member of North
    assert got["zhao"] == [("team_awards", "500.00"), ("rank_awards", "5000.00")]


# --- clawback -------------------------------------------------------------------------


def test_clawback_with_split_uses_share_at_close_and_rate_of_close_period():
    calls = []

    def rate_of(rep_id, period):
        calls.append((rep_id, period))
        return D("0.02") if period == "2026-07" else None

    r = rep(
        "zhang",
        refunds=[
            Refund("D3", "P7", D(100000), D("0.5"), "2026-07"),
            Refund("D4", "P8", D(50000), D(1), "2026-06"),
        ],
    )
    got = statement_lines(SEED3, facts(r), rate_of)
    assert [(x.component, x.amount, x.explanation) for x in got["zhang"]] == [
        ("clawback", D("-1000.00"), "clawback: refund P7 on D3 (2026-07), 50% × 100,000.00 × 2%")
    ]
    assert calls == [("zhang", "2026-07"), ("zhang", "2026-06")]


def test_clawback_same_month_uses_own_rate_and_only_on_bookings_basis():
    r = rep("zhang", "840000", "800000", refunds=[Refund("D1", "P1", D(100000), D(1), "2026-08")])
    got = lines_of(SEED3, facts(r))
    assert got["zhang"] == [("tiered", "16800.00"), ("tiered", "1000.00"), ("clawback", "-2000.00")]
    off = msgspec.structs.replace(SEED3, clawback=False)
    assert lines_of(off, facts(r))["zhang"] == [("tiered", "16800.00"), ("tiered", "1000.00")]
    coll = msgspec.structs.replace(SEED3, basis="collections")
    assert all(c != "clawback" for c, _ in lines_of(coll, facts(r))["zhang"])


# --- cap, rounding, order -------------------------------------------------------------


def test_cap_brings_total_down_after_clawback():
    p = msgspec.structs.replace(SEED3, cap=D("10000"))
    r = rep("zhang", "840000", "800000", refunds=[Refund("D1", "P1", D(100000), D(1), "2026-07")])
    got = statement_lines(p, facts(r), lambda *_: D("0.02"))
    assert [(x.component, x.amount) for x in got["zhang"]] == [
        ("tiered", D("16800.00")),
        ("tiered", D("1000.00")),
        ("clawback", D("-2000.00")),
        ("cap", D("-5800.00")),
    ]
    assert got["zhang"][-1].explanation == "cap 10,000.00"
    assert total(got["zhang"]) == D("10000.00")
    under = lines_of(p, facts(rep("wang", "330000", "300000")))
    assert under["wang"] == [("tiered", "6600.00"), ("tiered", "1000.00")]


def test_negative_rounding_half_away_from_zero_and_zero_lines_left_out():
    assert round_money(D("-0.005")) == D("-0.01")
    assert round_money(D("0.005")) == D("0.01")
    assert round_money(D("-2.345")) == D("-2.35")
    # clawback of 0.5 × 0.25 × 0.02 = 0.0025 rounds to 0.00 -> left out
    r = rep(
        "a",
        refunds=[
            Refund("D", "P", D("0.25"), D("0.5"), "2026-07"),
            Refund("D", "Q", D("0.25"), D(1), "2026-07"),
        ],
    )
    got = lines_of(SEED3, facts(r), lambda *_: D("0.02"))
    assert got["a"] == [("clawback", "-0.01")]  # 0.25 × 0.02 = 0.005 -> -0.01
    p = plan(product_rates={"solution": "0.02"})
    assert lines_of(p, facts(rep("a", bookings_by_product_line={"solution": D("0.2")}))) == {
        "a": []
    }


def test_line_order_follows_components():
    p = plan(
        tiered={"tiers": [{"from": "0", "rate": "0.01", "bonus": "100"}]},
        brackets={"brackets": [{"from": "0", "rate": "0.01"}]},
        product_rates={"solution": "0.01"},
        renewal={"multiplier": "1.5"},
        referral={"bonus": "10"},
        team_awards=[{"from": "0", "per_member": "5"}],
        rank_awards=[{"prizes": ["7"]}],
        mentor={"bonus": "3", "within_months": 3},
        clawback=True,
        cap="100",
    )
    r = rep(
        "a",
        "1000",
        "1000",
        region="R",
        bookings_by_product_line={"solution": D(1000)},
        renewal_bookings=D(1000),
        referral_closes=1,
        refunds=[Refund("D", "P", D(100), D(1), "2026-08")],
    )
    f = facts(
        r,
        rep("b"),
        period="2026-09",
        quarter="2026-Q3",
        quarter_actual={"bookings": {"a": D(1000)}},
        region_actual={"bookings": {"R": D(1)}},
        region_targets={"bookings": {"R": D(1)}},
        mentee_closes=[MenteeClose("a", "b", "D2", date(2026, 9, 1), date(2026, 9, 1))],
    )
    got = statement_lines(p, f, lambda *_: D("0.03"))
    comps = [x.component for x in got["a"]]
    assert comps == [
        "tiered",
        "tiered",
        "brackets",
        "product_rates",
        "renewal",
        "referral",
        "team_awards",
        "rank_awards",
        "mentor",
        "clawback",
        "cap",
    ]
    assert [c for c in COMPONENTS if c in comps] == list(dict.fromkeys(comps))
    assert total(got["a"]) == D("100.00")


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=4
    )
)
def test_rounding_is_symmetric(x):
    assert round_money(-x) == -round_money(x)


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=1, max_value=10**9))
def test_whole_tiers_total_matches_rate_times_basis(b_cents, t):
    b = D(b_cents) / 100
    got = statement_lines(SEED3, facts(rep("a", str(b), str(t))), no_rate)["a"]
    r = effective_rate(SEED3, rep("a", str(b), str(t)))
    commission = sum(
        (x.amount for x in got if x.component == "tiered" and x.rate is not None), D(0)
    )
    assert commission == (round_money(r * b) if r is not None else 0)
    assert all(isinstance(x, Line) and x.amount != 0 for x in got)


def test_seed4_product_rates_and_accelerator_together():
    r = rep(
        "a",
        "1000000",
        "1000000",
        bookings_by_product_line={"solution": D(600000), "hardware": D(400000)},
    )
    got = lines_of(SEED4, facts(r))
    assert got["a"] == [
        ("tiered", "10000.00"),
        ("product_rates", "12000.00"),
        ("product_rates", "3200.00"),
    ]
    assert effective_rate(SEED4, r) == D("0.0252")


@pytest.mark.parametrize(
    "rate,text", [(D("0.02"), "2%"), (D("0.015"), "1.5%"), (D("0.008"), "0.8%"), (D("0.10"), "10%")]
)
def test_rate_shown_as_percentage(rate, text):
    p = plan(product_rates={"x": str(rate)})
    got = statement_lines(p, facts(rep("a", bookings_by_product_line={"x": D(100)})), no_rate)
    assert got["a"][0].explanation == f"x: {text} of 100.00"
