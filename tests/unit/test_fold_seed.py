"""The worked month of ../shared/examples (表1) through Projection.apply, figure by figure."""

from __future__ import annotations

import pytest
from fold_helpers import COLLECTED, SIGNED, project, seed_raw


@pytest.fixture(scope="module")
def signed():
    return project(seed_raw(), SIGNED)


@pytest.fixture(scope="module")
def collected():
    return project(seed_raw(), COLLECTED)


def test_periods_and_position(signed):
    assert signed.position == 37
    assert signed.periods() == ["2026", "2026-08", "2026-09", "2026-Q3"]
    doc = signed.standings("2026-08")
    assert doc["position"] == 37
    assert doc["ruleset"]["id"] == "seed-table3"
    assert doc["ruleset"]["hash"].startswith("sha256:")


@pytest.mark.parametrize("rep,bookings,target,attainment,rag,won,collections", [
    ("zhang", "840000.00", "800000.00", "1.0500", "green", 2, "150000.00"),
    ("li", "450000.00", "600000.00", "0.7500", "red", 1, "100000.00"),
    ("wang", "330000.00", "300000.00", "1.1000", "green", 1, "0.00"),
])
def test_reps_august_signed(signed, rep, bookings, target, attainment, rag, won, collections):
    e = signed.standings("2026-08")["reps"][rep]
    assert (e["bookings"], e["target"], e["attainment"], e["rag"], e["deals_won"], e["collections"]) == (
        bookings, target, attainment, rag, won, collections)


def test_zhang_entry_matches_cli_example(signed):
    e = signed.standings("2026-08")["reps"]["zhang"]
    assert e["name"] == "小张" and e["region"] == "East" and e["team"] == "sales"
    assert e["gap"] == "40000.00"
    assert e["deals_lost"] == 0 and e["new_customers"] == 2
    assert e["win_rate"] == "1.0000"
    assert e["avg_deal_size"] == "420000.0000"
    assert e["collection_rate"] == "0.1786"
    assert e["cycle_days"] == "13.7083"
    assert e["activities"] == 2
    assert e["mom"] is None and e["yoy"] is None


def test_statements_august_signed(signed):
    reps = signed.standings("2026-08")["reps"]
    zhang = [(x["component"], x["amount"]) for x in reps["zhang"]["statement"]]
    assert zhang == [("tiered", "16800.00"), ("tiered", "1000.00")]
    assert reps["zhang"]["statement"][0]["explanation"] == "105.0% of target: 2% of 840,000.00"
    assert reps["zhang"]["total"] == "17800.00"
    assert reps["li"]["statement"] == [] and reps["li"]["total"] == "0.00"
    wang = [(x["component"], x["amount"]) for x in reps["wang"]["statement"]]
    assert wang == [("tiered", "6600.00"), ("tiered", "1000.00"), ("team_awards", "500.00")]
    assert reps["wang"]["total"] == "8100.00"


def test_team_august_signed(signed):
    team = signed.standings("2026-08")["team"]["sales"]
    assert team["bookings"] == "1620000.00"
    assert team["target"] == "1700000.00"
    assert team["attainment"] == "0.9529"
    assert team["rag"] == "yellow"
    assert team["deals_won"] == 4 and team["deals_lost"] == 1
    assert team["win_rate"] == "0.8000"
    assert team["new_customers"] == 4
    assert team["avg_deal_size"] == "405000.0000"
    assert team["collections"] == "250000.00"
    assert team["collection_rate"] == "0.1543"
    assert team["cycle_days"] == "19.0469"  # (9.2083 + 18.2083 + 22.2083 + 26.5625) / 4


def test_regions_august_signed(signed):
    regions = signed.standings("2026-08")["regions"]
    assert {r: (e["attainment"], e["rag"]) for r, e in regions.items()} == {
        "East": ("1.0500", "green"), "South": ("0.7500", "red"), "North": ("1.1000", "green")}
    assert regions["North"]["bookings"] == "330000.00"


def test_product_lines_august_signed(signed):
    lines = signed.standings("2026-08")["product_lines"]
    assert {k: v["bookings"] for k, v in lines.items()} == {"A": "840000.00", "B": "450000.00", "C": "330000.00"}


def test_d5_won_at_2330_shanghai_is_august(signed):
    wang = signed.statement("wang", "2026-08")
    d5 = [d for d in wang["deals"] if d["id"] == "D5"][0]
    assert d5["closed_at"] == "2026-08-31T23:30:00+08:00"
    assert d5["credited"] == "330000.00"
    assert signed.standings("2026-09")["reps"]["wang"]["bookings"] == "0.00"


def test_funnel_august(signed):
    f = signed.funnel("2026-08")
    assert f["stages"] == {"lead": 5, "qualified": 4, "negotiation": 4, "won": 4}
    assert f["conversion"] == {"lead_to_qualified": "0.8000", "qualified_to_negotiation": "1.0000",
                               "negotiation_to_won": "1.0000"}
    assert {k: (v["created"], v["won"]) for k, v in f["by_source"].items()} == {
        "referral": (1, 1), "ads": (3, 2), "exhibition": (1, 1)}
    assert f["position"] == 37 and f["ruleset"]["id"] == "seed-table3"


def test_statement_document(signed):
    s = signed.statement("zhang", "2026-08")
    assert s["total"] == "17800.00" and s["bookings"] == "840000.00"
    assert [d["id"] for d in s["deals"]] == ["D1", "D2"]
    d2 = s["deals"][1]
    assert d2["amount"] == "340000.00" and d2["status"] == "won" and d2["source_channel"] == "ads"
    assert d2["share"] == "1" and d2["credited"] == "340000.00"
    assert s["deals"][0]["collections"] == "150000.00"
    assert [a["id"] for a in s["activities"]] == ["A2", "A1"]  # latest first
    weeks = {w["week"]: w["bookings"] for w in s["weekly_bookings"]}
    assert weeks["2026-W33"] == "500000.00" and weeks["2026-W34"] == "340000.00"
    assert sum(float(v) for v in weeks.values()) == 840000.0


def test_quarter_and_year_sum_the_months(signed):
    q = signed.standings("2026-Q3")
    assert q["reps"]["zhang"]["bookings"] == "840000.00"
    assert q["reps"]["zhang"]["target"] is None  # no quarterly target: no automatic split
    aug_lines = [x for x in q["reps"]["zhang"]["statement"] if x["period"] == "2026-08"]
    assert [x["amount"] for x in aug_lines] == ["16800.00", "1000.00"]
    assert aug_lines[0]["explanation"].startswith("2026-08: ")
    y = signed.standings("2026")
    assert y["team"]["sales"]["bookings"] == "1620000.00"
    assert y["team"]["sales"]["collections"] == "349000.00"


def test_collected_august(collected):
    doc = collected.standings("2026-08")
    assert doc["ruleset"]["id"] == "seed-table3-collected"
    reps = doc["reps"]
    assert (reps["zhang"]["bookings"], reps["zhang"]["attainment"], reps["zhang"]["rag"]) == ("500000.00", "0.6250", "red")
    assert (reps["li"]["bookings"], reps["li"]["rag"]) == ("0.00", "red")
    assert (reps["wang"]["bookings"], reps["wang"]["rag"]) == ("0.00", "red")
    assert {r: e["total"] for r, e in reps.items()} == {"zhang": "0.00", "li": "0.00", "wang": "0.00"}
    d1 = [d for d in collected.statement("zhang", "2026-08")["deals"] if d["id"] == "D1"][0]
    assert d1["closed_at"] == "2026-08-15T10:00:00+08:00"  # exactly 30% paid
    f = collected.funnel("2026-08")
    assert f["stages"]["won"] == 2  # D1 and D5 (in September) close; D2, D3 never


def test_collected_september(collected):
    reps = collected.standings("2026-09")["reps"]
    wang = reps["wang"]
    assert wang["bookings"] == "330000.00"
    assert wang["target"] is None and wang["attainment"] is None and wang["rag"] == "none"
    assert not [x for x in wang["statement"] if x["component"] == "tiered"]
    d5 = [d for d in collected.statement("wang", "2026-09")["deals"] if d["id"] == "D5"][0]
    assert d5["closed_at"] == "2026-09-02T10:00:00+08:00"


def test_switching_definition_restates_history():
    raw = seed_raw()
    a = project(raw, SIGNED).standings("2026-08")["reps"]["zhang"]["bookings"]
    b = project(raw, COLLECTED).standings("2026-08")["reps"]["zhang"]["bookings"]
    assert (a, b) == ("840000.00", "500000.00")
