"""Publication, objections and payout (DOMAIN.md "Publication …") through Projection.apply:
the window on working days, objection states, approval conditions, corrections before and
after the approval, and the same read models whatever the arrival order."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fold_helpers import SIGNED, decode, ev, project, seed_raw, strip_position
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.projection import Projection
from projections.rulesets import RulesetSet
from projections.workdays import CalendarError, WorkCalendar
from services.project.rulesets import read_ruleset

TZ = ZoneInfo("Asia/Shanghai")


def close(period: str, at: str) -> dict:
    return ev("period.closed", at, period=period)


def raise_(oid: str, at: str, rep: str = "zhang", period: str = "2026-08", **extra) -> dict:
    return ev(
        "objection.raised",
        at,
        objection_id=oid,
        period=period,
        rep_id=rep,
        reason="a deal is missing",
        **extra,
    )


def resolve(
    oid: str,
    at: str,
    decision: str = "upheld",
    amount: str | None = "800",
    note: str = "D9 counted",
):
    data = {"objection_id": oid, "decision": decision, "note": note}
    if decision == "upheld":
        data["amount"] = amount
    return ev("objection.resolved", at, **data)


def approve(at: str, period: str = "2026-08") -> dict:
    return ev("payout.approved", at, period=period, by="finance")


AUG_CLOSE = close("2026-08", "2026-09-05T10:00:00")  # a Saturday


def cn_rulesets(tmp_path: Path) -> Path:
    path = tmp_path / "seed-cn.toml"
    path.write_text(SIGNED.read_text() + '\n[publication]\nobjection_days = 3\ncalendar = "CN"\n')
    return path


# --- the window -------------------------------------------------------------------------


def test_weekdays_window_from_a_saturday_closes_the_next_wednesday():
    p = project(seed_raw() + [AUG_CLOSE])
    pub = p.standings("2026-08")["publication"]
    assert pub["published_at"] == "2026-09-05T10:00:00+08:00"
    assert pub["window_closes"] == "2026-09-09T23:59:59+08:00"
    assert (pub["objections_open"], pub["payout"]) == (0, "pending")
    assert "publication" not in p.standings("2026-09")


def test_cn_window_skips_national_day_and_counts_the_working_saturday(tmp_path):
    p = project(seed_raw() + [close("2026-08", "2026-09-30T18:00:00")], cn_rulesets(tmp_path))
    assert p.standings("2026-08")["publication"]["window_closes"] == "2026-10-10T23:59:59+08:00"
    # 8 and 9 October, then Saturday the 10th (调休); 1-7 October are holidays
    assert WorkCalendar("CN").nth_working_day_after(date(2026, 9, 30), 2) == date(2026, 10, 9)


def test_cn_year_the_package_does_not_know_is_refused_naming_the_year():
    with pytest.raises(CalendarError, match="2099.*calendar_years"):
        WorkCalendar("CN").window_end(datetime(2099, 3, 2, tzinfo=TZ), 3, TZ)


# An illustrative declaration (not the State Council's real 2027 schedule): New Year's Day
# off, and the Saturday after it worked.
DECLARED_2027 = """
[[publication.calendar_years]]
year = 2027
holidays = [2027-01-01]
workdays = [2027-01-02]
"""


def test_a_year_the_ruleset_declares_decides_the_window_across_new_year(tmp_path):
    """Published on New Year's Eve: 1 January off, Saturday the 2nd worked, then Monday
    and Tuesday; the approval after the window goes through."""
    path = cn_rulesets(tmp_path)
    path.write_text(path.read_text() + DECLARED_2027)
    p = project(
        seed_raw() + [close("2026-08", "2026-12-31T10:00:00"), approve("2027-01-06T09:00:00")], path
    )
    pub = p.standings("2026-08")["publication"]
    assert (pub["window_closes"], pub["window_error"]) == ("2027-01-05T23:59:59+08:00", None)
    assert pub["payout"] == "approved" and p.publication()["rejected"] == []


def test_a_declared_year_wins_over_the_package():
    """The ruleset's declaration is what an auditor reads, so it decides even for a year the
    package knows: 2026 declared without holidays makes National Day a working day."""
    from schemas.ruleset import CalendarYear

    declared = WorkCalendar("CN", {2026: CalendarYear(year=2026)})
    assert declared.nth_working_day_after(date(2026, 9, 30), 2) == date(2026, 10, 2)
    assert WorkCalendar("CN").is_working_day(date(2026, 10, 2)) is False


def test_unknown_year_blocks_the_approval_with_the_reason(tmp_path):
    p = project(
        seed_raw() + [close("2026-08", "2026-12-31T10:00:00"), approve("2027-01-20T10:00:00")],
        cn_rulesets(tmp_path),
    )
    pub = p.standings("2026-08")["publication"]
    assert (
        pub["window_closes"] is None
        and "2027" in pub["window_error"]
        and pub["payout"] == "pending"
    )
    assert "2027" in p.publication()["rejected"][0]["reason"]


# --- objections and approval ---------------------------------------------------------------


def test_objection_inside_the_window_blocks_the_approval():
    p = project(
        seed_raw()
        + [AUG_CLOSE, raise_("O-1", "2026-09-09T23:59:59"), approve("2026-09-10T09:00:00")]
    )
    doc = p.publication()["periods"]["2026-08"]
    assert [(o["id"], o["state"], o["late"]) for o in doc["objections"]] == [("O-1", "open", False)]
    assert doc["payout"] == "pending" and doc["objections_open"] == 1
    [refused] = p.publication()["rejected"]
    assert refused["type"] == "payout.approved"
    assert refused["reason"] == "objection O-1 on 2026-08 was open at 2026-09-10T09:00:00+08:00"


def test_approval_inside_the_window_approves_nothing():
    p = project(seed_raw() + [AUG_CLOSE, approve("2026-09-09T18:00:00")])
    assert p.standings("2026-08")["publication"]["payout"] == "pending"
    assert p.publication()["rejected"][0]["reason"] == (
        "the objection window of 2026-08 closes 2026-09-09T23:59:59+08:00"
    )


def test_objection_after_the_window_is_late_and_does_not_block():
    p = project(
        seed_raw()
        + [AUG_CLOSE, raise_("O-1", "2026-09-10T00:00:00"), approve("2026-09-10T09:00:00")]
    )
    doc = p.publication()["periods"]["2026-08"]
    assert [(o["state"], o["late"]) for o in doc["objections"]] == [("late", True)]
    assert doc["payout"] == "approved" and doc["approved_at"] == "2026-09-10T09:00:00+08:00"
    assert p.standings("2026-08")["publication"]["payout"] == "approved"


def test_rejected_objection_resolved_before_the_approval_lets_it_pass():
    items = seed_raw() + [
        AUG_CLOSE,
        raise_("O-1", "2026-09-07T10:00:00"),
        resolve("O-1", "2026-09-09T10:00:00", "rejected", note="already counted"),
        approve("2026-09-10T09:00:00"),
    ]
    p = project(items)
    doc = p.publication()["periods"]["2026-08"]
    assert doc["payout"] == "approved"
    assert (
        doc["objections"][0]["state"] == "rejected"
        and doc["objections"][0]["note"] == "already counted"
    )
    assert (
        doc["reps"]["zhang"]["payout"] == "17800.00" and doc["reps"]["zhang"]["corrections"] == []
    )


def test_upheld_correction_before_the_approval_is_in_the_payout():
    items = seed_raw() + [
        AUG_CLOSE,
        raise_("O-7", "2026-09-07T10:00:00", claimed_amount="1200"),
        resolve("O-7", "2026-09-08T10:00:00", amount="800"),
        approve("2026-09-10T09:00:00"),
    ]
    p = project(items)
    doc = p.publication()["periods"]["2026-08"]
    zhang = doc["reps"]["zhang"]
    assert (zhang["published_total"], zhang["payout"]) == ("17800.00", "18600.00")
    assert zhang["corrections"] == [
        {"objection": "O-7", "amount": "800.00", "explanation": "objection O-7: D9 counted"}
    ]
    assert doc["reps"]["wang"]["payout"] == "8100.00"
    o = doc["objections"][0]
    assert (o["state"], o["claimed"], o["amount"], o["paid_in"]) == (
        "upheld",
        "1200.00",
        "800.00",
        "payout",
    )
    sep = p.standings("2026-09")["reps"]["zhang"]["statement"]
    assert not [x for x in sep if x["component"] == "objection"]


def test_upheld_correction_after_the_approval_lands_in_the_next_open_month_once():
    items = seed_raw() + [
        AUG_CLOSE,
        raise_("O-7", "2026-09-11T10:00:00"),
        approve("2026-09-10T09:00:00"),
        resolve("O-7", "2026-09-14T10:00:00", amount="-300", note="split corrected"),
    ]
    p = project(items)
    doc = p.publication()["periods"]["2026-08"]
    assert doc["reps"]["zhang"]["payout"] == "17800.00"
    assert doc["objections"][0]["paid_in"] == "2026-09"
    sep = p.standings("2026-09")["reps"]["zhang"]
    [line] = [x for x in sep["statement"] if x["component"] == "objection"]
    assert (line["amount"], line["explanation"]) == (
        "-300.00",
        "objection O-7 for 2026-08: split corrected",
    )
    # September is published with it; October does not pay it again
    p.apply(list(zip([100], decode([close("2026-09", "2026-10-08T10:00:00")]), strict=True)))
    frozen = p.frozen("2026-09")["reps"]["zhang"]["statement"]
    assert [x["amount"] for x in frozen if x["component"] == "objection"] == ["-300.00"]
    assert p.publication()["periods"]["2026-08"]["objections"][0]["paid_in"] == "2026-09"
    oct_ = p.standings("2026-10")["reps"].get("zhang", {"statement": []})["statement"]
    assert not [x for x in oct_ if x["component"] == "objection"]


def test_bad_inputs_are_listed_and_change_nothing():
    items = seed_raw() + [
        raise_("O-1", "2026-09-01T10:00:00"),  # before the publication
        AUG_CLOSE,
        resolve("O-9", "2026-09-08T10:00:00"),  # unknown
        raise_("O-2", "2026-09-07T10:00:00"),
        resolve("O-2", "2026-09-08T10:00:00"),
        resolve("O-2", "2026-09-08T11:00:00", "rejected"),
    ]  # already resolved
    p = project(items)
    reasons = [r["reason"] for r in p.publication()["rejected"]]
    assert reasons == [
        "period 2026-08 was not published at 2026-09-01T10:00:00+08:00",
        "no objection O-9 was raised before this resolution",
        "objection O-2 was already resolved (upheld at 2026-09-08T10:00:00+08:00)",
    ]
    assert [o["id"] for o in p.publication()["periods"]["2026-08"]["objections"]] == ["O-2"]


def test_a_back_dated_objection_after_the_approval_arrived_undoes_it():
    objection, approval = raise_("O-1", "2026-09-08T10:00:00"), approve("2026-09-10T09:00:00")
    on_time = seed_raw() + [AUG_CLOSE, objection, approval]
    late = seed_raw() + [AUG_CLOSE, approval, objection]
    a, b = project(on_time), project(late)
    assert strip_position(a.publication()) == strip_position(b.publication())
    assert b.standings("2026-08")["publication"]["payout"] == "pending"


# --- business order: any arrival order, any batching ---------------------------------------

PUB_EVENTS = [
    raise_("O-1", "2026-09-07T10:00:00", claimed_amount="1200"),
    raise_("O-2", "2026-09-08T10:00:00", rep="li", component="tiered"),
    resolve("O-1", "2026-09-08T15:00:00", amount="800"),
    resolve("O-2", "2026-09-09T15:00:00", "rejected", note="below 80%"),
    approve("2026-09-09T20:00:00"),  # inside the window: refused
    approve("2026-09-10T09:00:00"),
    approve("2026-09-10T10:00:00"),  # already approved
    raise_("O-3", "2026-09-11T10:00:00", rep="wang"),
    resolve("O-3", "2026-09-12T10:00:00", amount="250"),
    resolve("O-9", "2026-09-12T11:00:00", "rejected"),
]


def read_models(p: Projection) -> dict:
    out = {"publication": strip_position(p.publication())}
    for period in p.periods():
        out[period] = strip_position(p.standings(period))
    return out


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(len(PUB_EVENTS) + 1)), batch=st.integers(1, 5))
def test_shuffled_arrival_order_gives_identical_read_models(order, batch):
    pool = [AUG_CLOSE] + PUB_EVENTS
    expected = read_models(project(seed_raw() + pool))
    got = read_models(project(seed_raw() + [pool[i] for i in order], batch=batch))
    assert got == expected


def test_the_reference_order_pays_what_domain_says():
    p = project(seed_raw() + [AUG_CLOSE] + PUB_EVENTS)
    doc = p.publication()["periods"]["2026-08"]
    assert doc["reps"]["zhang"]["payout"] == "18600.00"
    assert [o["state"] for o in doc["objections"]] == [
        "upheld",
        "rejected",
        "upheld",
    ]  # newest first
    assert [
        x["amount"]
        for x in p.standings("2026-09")["reps"]["wang"]["statement"]
        if x["component"] == "objection"
    ] == ["250.00"]
    assert len(p.publication()["rejected"]) == 3


def test_rulesets_without_publication_default_to_three_weekdays():
    loaded = RulesetSet([read_ruleset(SIGNED)]).newest
    assert (loaded.ruleset.publication.objection_days, loaded.ruleset.publication.calendar) == (
        3,
        "weekdays",
    )
    assert (loaded.ruleset.honours.star_of_month, loaded.ruleset.honours.top_n) == (False, 0)


def test_rejected_inputs_are_listed_by_unmatched():
    p = project(seed_raw() + [AUG_CLOSE, resolve("O-9", "2026-09-08T10:00:00")])
    [entry] = p.unmatched()["rejected"]
    assert (entry["type"], entry["reason"]) == (
        "objection.resolved",
        "no objection O-9 was raised before this resolution",
    )


@pytest.mark.parametrize(
    "section, message",
    [
        (
            '[publication]\ncalendar = "HK"\n',
            'publication.calendar: expected one of "CN", "weekdays", got "HK"',
        ),
        (
            "[publication]\nobjection_days = -1\n",
            "publication.objection_days: expected a whole number >= 0",
        ),
        ("[honours]\ntop = 3\n", "honours.top: unknown key (did you mean `top_n`?)"),
        (
            "[publication]\n" + DECLARED_2027,
            'publication.calendar_years: must be empty unless calendar = "CN"',
        ),
        (
            '[publication]\ncalendar = "CN"\n'
            "[[publication.calendar_years]]\nyear = 2027\nholidays = [2026-12-31]\n",
            "publication.calendar_years[0].holidays[0]: must be a day of 2027, got 2026-12-31",
        ),
        (
            '[publication]\ncalendar = "CN"\n'
            "[[publication.calendar_years]]\nyear = 2027\nworkdays = [2027-01-04]\n",
            "publication.calendar_years[0].workdays[0]: must be a Saturday or Sunday",
        ),
        (
            '[publication]\ncalendar = "CN"\n[[publication.calendar_years]]\nyear = 2027\n'
            "[[publication.calendar_years]]\nyear = 2027\n",
            "publication.calendar_years[1].year: must not declare a year twice, got 2027",
        ),
    ],
)
def test_bad_publication_and_honours_sections_name_the_key(section, message):
    from projections.rulesets import RulesetError, load_ruleset

    with pytest.raises(RulesetError, match=re.escape(message)):
        load_ruleset(SIGNED.read_text() + "\n" + section)


def test_the_clis_approval_check_turns_at_the_windows_last_second():
    """The CLI's pre-check (projections.publication.approval_refusal) and the fold agree on
    the window's edge: refused through 23:59:59 of its last working day, allowed from
    midnight, in the business timezone whatever the UTC date."""
    from datetime import UTC, datetime

    import msgspec

    from projections.publication import approval_refusal
    from schemas.read_models import ObjectionDoc, PublishedMonth

    state = PublishedMonth(published_at="2026-08-31T23:59:59+08:00", window_closes="2026-09-09T23:59:59+08:00",
                           window_error=None, calendar="weekdays", objections_open=0, objections_late=0,
                           objections=[], payout="pending", approved_at=None, approved_by=None, reps={})
    last = datetime(2026, 9, 9, 15, 59, 59, tzinfo=UTC)
    assert "open until" in approval_refusal(state, "2026-08", last)
    assert approval_refusal(state, "2026-08", datetime(2026, 9, 9, 16, 0, 0, tzinfo=UTC)) is None
    held = msgspec.structs.replace(state, objections=[ObjectionDoc(
        id="O-1", period="2026-08", rep="li", component=None, reason="r", claimed=None, state="open", amount=None,
        note=None, raised_at="2026-09-01T10:00:00+08:00", resolved_at=None, late=False, event_id="e", paid_in=None)])
    assert "O-1" in approval_refusal(held, "2026-08", datetime(2026, 9, 10, tzinfo=UTC))
