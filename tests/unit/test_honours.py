"""Honours (DOMAIN.md): the month's star and the quarter's top N, in standings and statements,
live until the month is published and then as published."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fold_helpers import SIGNED, decode, ev, project, seed_raw

from projections.honours import star_of_month, top_places


@pytest.fixture
def honours_ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "seed-honours.toml"
    path.write_text(SIGNED.read_text() + "\n[honours]\nstar_of_month = true\ntop_n = 2\n")
    return path


def quarter_targets() -> list[dict]:
    return [
        ev(
            "target.set",
            "2026-07-01T09:00:00",
            scope="rep",
            scope_id=rep,
            period="2026-Q3",
            metric="bookings",
            amount=amount,
        )
        for rep, amount in (("zhang", "2000000"), ("li", "900000"), ("wang", "330000"))
    ]


def late_deal_for_zhang() -> list[dict]:
    return [
        ev(
            "deal.created",
            "2026-08-11T10:00:00",
            deal_id="D8",
            rep_id="zhang",
            customer_id="C8",
            product_line="A",
            amount="160000",
        ),
        ev("deal.won", "2026-08-21T10:00:00", deal_id="D8"),
    ]


def honours_of(doc: dict) -> dict[str, list[str]]:
    return {rep: e["honours"] for rep, e in doc["reps"].items() if e["honours"]}


def test_star_is_the_highest_attainment_of_at_least_one_ties_all():
    d = Decimal
    assert star_of_month({"a": d("1.1"), "b": d("1.1"), "c": d("0.9"), "x": None}) == {"a", "b"}
    assert star_of_month({"a": d("0.99")}) == set()


def test_top_places_share_ties_and_stop_at_n():
    d = Decimal
    got = top_places({"a": d("1.2"), "b": d("1.0"), "c": d("1.0"), "e": d("0.5"), "x": None}, 2)
    assert got == {"a": 1, "b": 2, "c": 2}


def test_star_of_august_in_standings_and_statement(honours_ruleset):
    p = project(seed_raw(), honours_ruleset)
    assert honours_of(p.standings("2026-08")) == {"wang": ["star_of_month"]}  # 110% beats 105%
    assert p.statement("wang", "2026-08")["honours"] == ["star_of_month"]
    assert p.standings("2026-08")["reps"]["li"]["honours"] == []


def test_no_honours_without_the_section():
    p = project(seed_raw(), SIGNED)
    assert honours_of(p.standings("2026-08")) == {}


def test_a_late_deal_changes_the_star_until_the_month_is_published(honours_ruleset):
    open_month = project(seed_raw() + late_deal_for_zhang(), honours_ruleset)
    assert honours_of(open_month.standings("2026-08")) == {"zhang": ["star_of_month"]}  # 125%
    p = project(
        seed_raw() + [ev("period.closed", "2026-09-05T10:00:00", period="2026-08")], honours_ruleset
    )
    p.apply(list(zip([100, 101], decode(late_deal_for_zhang()), strict=True)))
    assert honours_of(p.standings("2026-08")) == {"wang": ["star_of_month"]}  # as published
    assert p.frozen("2026-08")["honours"] == {"wang": ["star_of_month"]}


def test_quarter_top_n_in_the_quarter_and_its_last_month(honours_ruleset):
    p = project(seed_raw() + quarter_targets(), honours_ruleset)
    expected = {"wang": ["top_n:1"], "li": ["top_n:2"]}  # 100%, 50%; zhang 42% is third
    assert honours_of(p.standings("2026-Q3")) == expected
    assert {
        r: [h for h in hs if h.startswith("top_n")]
        for r, hs in honours_of(p.standings("2026-09")).items()
        if any(h.startswith("top_n") for h in hs)
    } == expected
    assert all("top_n" not in " ".join(hs) for hs in honours_of(p.standings("2026-08")).values())
