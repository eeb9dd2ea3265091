"""Closed periods: statements freeze at `period.closed`; later changes are paid as adjustments."""

from __future__ import annotations

from pathlib import Path

from fold_helpers import SIGNED, decode, ev, project, seed_raw

from projections.rulesets import content_hash


def close(period: str, at: str = "2026-09-03T09:00:00") -> dict:
    return ev("period.closed", at, period=period)


def late_deal() -> list[dict]:
    """A deal for zhang back-dated into August: 840,000 → 1,000,000 (125%: 3% + 3,000)."""
    return [
        ev("deal.created", "2026-08-11T10:00:00", deal_id="D8", rep_id="zhang", customer_id="C8", product_line="A",
           amount="160000", source_channel="ads"),
        ev("deal.won", "2026-08-21T10:00:00", deal_id="D8"),
    ]


def lines(entry: dict) -> list[tuple[str, str]]:
    return [(x["component"], x["amount"]) for x in entry["statement"]]


def test_close_freezes_what_was_published():
    p = project(seed_raw() + [close("2026-08")])
    frozen = p.frozen("2026-08")
    assert frozen is not None and frozen["position"] == 38
    assert frozen["ruleset"]["id"] == "seed-table3" and frozen["ruleset"]["hash"].startswith("sha256:")
    assert frozen["reps"]["zhang"]["total"] == "17800.00"
    assert frozen["reps"]["wang"]["total"] == "8100.00"
    assert p.standings("2026-08")["closed"] is True
    assert p.frozen("2026-09") is None


def test_back_dated_deal_for_a_closed_month_is_an_adjustment_next_month():
    p = project(seed_raw() + [close("2026-08")])
    frozen_before = p.frozen("2026-08")
    changes = p.apply(list(zip([39, 40], decode(late_deal()), strict=True)))
    assert {"2026-08", "2026-09"} <= changes.periods
    assert p.frozen("2026-08") == frozen_before
    aug = p.standings("2026-08")["reps"]["zhang"]
    assert aug["bookings"] == "1000000.00"  # the figures are current
    assert aug["total"] == "17800.00"  # the statement is what was published
    sep = p.standings("2026-09")["reps"]["zhang"]
    adjustments = [x for x in sep["statement"] if x["component"] == "adjustment"]
    assert [(x["amount"]) for x in adjustments] == ["15700.00"]  # 30,000 + 3,000 + East award 500 − 17,800
    assert adjustments[0]["explanation"].startswith("adjustment for 2026-08: ")
    assert sep["statement"][-1]["component"] == "adjustment"


def test_adjustment_paid_once_even_when_the_next_month_closes_too():
    items = seed_raw() + [close("2026-08")] + late_deal() + [close("2026-09", "2026-10-03T09:00:00")]
    p = project(items)
    frozen_sep = p.frozen("2026-09")["reps"]["zhang"]
    assert ("adjustment", "15700.00") in lines(frozen_sep)
    # nothing more for August in October: already paid in the frozen September
    call = ev("activity.logged", "2026-10-02T10:00:00", activity_id="A99", rep_id="zhang", kind="call")
    p.apply(list(zip([100], decode([call]), strict=True)))
    oct_ = p.standings("2026-10")["reps"]["zhang"]
    assert [x for x in oct_["statement"] if x["component"] == "adjustment"] == []
    # a second change to August after both closes: only the new difference, in October
    more = [ev("deal.created", "2026-08-12T10:00:00", deal_id="D9", rep_id="wang", customer_id="C9",
               product_line="C", amount="30000"), ev("deal.won", "2026-08-22T10:00:00", deal_id="D9")]
    p.apply(list(zip([101, 102], decode(more), strict=True)))
    oct_ = p.standings("2026-10")["reps"]["wang"]
    adj = [x for x in oct_["statement"] if x["component"] == "adjustment"]
    assert [x["amount"] for x in adj] == ["6200.00"]  # 360,000 at 120%: 10,800 + 3,000 + 500 − 8,100


def test_late_event_before_close_is_in_the_frozen_statement():
    # the back-dated deal arrives before the close: it is simply part of August
    p = project(seed_raw() + late_deal() + [close("2026-08")])
    assert lines(p.frozen("2026-08")["reps"]["zhang"]) == [("tiered", "30000.00"), ("tiered", "3000.00"),
                                                          ("team_awards", "500.00")]
    assert [x for x in p.standings("2026-09")["reps"]["zhang"]["statement"] if x["component"] == "adjustment"] == []


def test_rebuild_and_live_agree_with_closes():
    items = seed_raw() + [close("2026-08")] + late_deal()
    live = project(items, batch=1)
    rebuilt = project(items)
    for period in rebuilt.periods():
        a, b = live.standings(period), rebuilt.standings(period)
        assert a == b
    assert live.frozen("2026-08") == rebuilt.frozen("2026-08")


def fixed_plan() -> str:
    return Path(SIGNED).read_text().replace('id = "seed-table3"', 'id = "seed-table3-fix"').replace(
        '{ from = "1.00", rate = "0.02", bonus = "1000" }', '{ from = "1.00", rate = "0.025", bonus = "1000" }')


def test_ruleset_applied_to_a_closed_month_flows_as_adjustment():
    text = fixed_plan()
    applied = ev("ruleset.applied", "2026-09-05T09:00:00", period="2026-08",
                 ruleset={"id": "seed-table3-fix", "hash": content_hash(text.encode())}, toml=text)
    p = project(seed_raw() + [close("2026-08"), applied])
    assert p.frozen("2026-08")["reps"]["zhang"]["total"] == "17800.00"
    sep = p.standings("2026-09")["reps"]["zhang"]
    adj = [x for x in sep["statement"] if x["component"] == "adjustment"]
    assert [x["amount"] for x in adj] == ["4200.00"]  # 2.5% − 2% of 840,000
    assert p.standings("2026-08")["ruleset"]["id"] == "seed-table3-fix"


def test_ruleset_applied_whose_hash_is_not_its_toml_is_rejected():
    """A plan named by another plan's hash (the gateway and import refuse it; one that
    reached the stream another way) pays nothing and is listed as rejected."""
    text = fixed_plan()
    seed_hash = content_hash(Path(SIGNED).read_bytes())
    applied = ev("ruleset.applied", "2026-09-05T09:00:00", period="2026-08",
                 ruleset={"id": "seed-table3-fix", "hash": seed_hash}, toml=text)
    p = project(seed_raw() + [close("2026-08"), applied])
    sep = p.standings("2026-09")["reps"]["zhang"]
    assert [x for x in sep["statement"] if x["component"] == "adjustment"] == []
    assert p.standings("2026-08")["ruleset"]["id"] == "seed-table3"
    rejected = p.unmatched()["rejected"]
    assert [r["type"] for r in rejected] == ["ruleset.applied"]
    assert "is not the hash of data.toml" in rejected[0]["error"]
