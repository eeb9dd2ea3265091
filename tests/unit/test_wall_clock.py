"""The wall reads the clock (default period, days left, the morning's ranks): pinned at a
month's first second, its last day, New Year and 29 February, in the business timezone
(the rulesets'; Asia/Shanghai by default) whatever the UTC date."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from schemas.read_models import Standings
from services.wall.morning import MorningRanks
from services.wall.view import wall_view
from tui import sample
from tui.source import MemorySource


def standings(period: str, **attainment: str) -> Standings:
    """Reps in East at the given attainment (bookings of a target of 1)."""
    reps = {
        rep: sample.rep_entry(rep, "East", Decimal(a), Decimal(1), won=1)
        for rep, a in attainment.items()
    }
    return sample.standings_of(period, reps, position=1)


# (instant in UTC, the business month, days left in it, the business date)
EDGES = [
    (datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC), "2026-12", 31, "2026-12-01"),  # first second
    (datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), "2026-12", 1, "2026-12-31"),  # last second
    (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), "2027-01", 31, "2027-01-01"),  # New Year
    (datetime(2028, 2, 28, 18, 0, 0, tzinfo=UTC), "2028-02", 1, "2028-02-29"),  # 29 February
]


@pytest.mark.parametrize("now, month, left, day", EDGES)
def test_this_month_days_left_and_the_morning_are_the_business_days(
    tmp_path, now, month, left, day
):
    source = MemorySource({("standings", month, ""): standings(month, a="1.2", b="0.8")})
    view = wall_view(source, None, now, MorningRanks(tmp_path), hide_money=False)
    assert (view["period"], view["days_left"]) == (month, left)
    kept = (tmp_path / "wall" / "morning.json").read_text()
    assert f'"day": "{day}"' in kept


def test_a_month_known_ahead_is_not_opened_before_it_begins(tmp_path):
    """A quarter's last month has figures before it starts (its statements are paid there):
    the wall opens on the latest month begun, as the CLI and the TUI do."""
    now = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)  # 2026-11-30 23:59:59 in Shanghai
    docs = {("standings", p, ""): standings(p, a="1.0") for p in ("2026-10", "2026-12")}
    view = wall_view(MemorySource(docs), None, now, MorningRanks(tmp_path), hide_money=False)
    assert view["period"] == "2026-10"


def test_the_morning_baseline_turns_over_at_the_business_midnight(tmp_path):
    morning = MorningRanks(tmp_path)
    evening = datetime(2026, 12, 1, 15, 59, 0, tzinfo=UTC)  # 23:59 in Shanghai
    source = MemorySource({("standings", "2026-12", ""): standings("2026-12", a="1.2", b="0.8")})
    wall_view(source, "2026-12", evening, morning, hide_money=False)
    source.docs[("standings", "2026-12", "")] = standings("2026-12", a="0.8", b="1.2")
    late = wall_view(source, "2026-12", evening, morning, hide_money=False)
    assert {r["id"]: r["move"] for r in late["rows"]} == {"a": -1, "b": 1}
    next_day = datetime(2026, 12, 1, 16, 0, 0, tzinfo=UTC)  # 00:00 on 2 December
    fresh = wall_view(source, "2026-12", next_day, morning, hide_money=False)
    assert {r["id"]: r["move"] for r in fresh["rows"]} == {"a": 0, "b": 0}


def test_a_rep_who_joins_after_the_morning_shows_as_new_all_day(tmp_path):
    morning = MorningRanks(tmp_path)
    nine, noon = (datetime(2026, 12, 2, h, 0, 0, tzinfo=UTC) for h in (1, 4))  # 09:00, 12:00 local
    source = MemorySource({("standings", "2026-12", ""): standings("2026-12", a="1.2", b="0.8")})
    wall_view(source, "2026-12", nine, morning, hide_money=False)
    source.docs[("standings", "2026-12", "")] = standings("2026-12", a="1.2", b="0.8", c="1.0")
    for _ in range(2):  # a second look (or a restarted wall) still shows c as new
        view = wall_view(source, "2026-12", noon, MorningRanks(tmp_path), hide_money=False)
        assert {r["id"]: r["move"] for r in view["rows"]} == {"a": 0, "c": None, "b": -1}


# The same edges in another business timezone: New York's month, days and morning, not
# Shanghai's (the rulesets' `timezone` decides; the wall used to assume Asia/Shanghai).
NEW_YORK_EDGES = [
    (datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC), "2026-12", 31, "2026-12-01"),  # first second
    (datetime(2027, 1, 1, 4, 59, 59, tzinfo=UTC), "2026-12", 1, "2026-12-31"),  # last second
    (datetime(2027, 1, 1, 5, 0, 0, tzinfo=UTC), "2027-01", 31, "2027-01-01"),  # New Year
    (datetime(2028, 3, 1, 4, 0, 0, tzinfo=UTC), "2028-02", 1, "2028-02-29"),  # 29 February
]


@pytest.mark.parametrize("now, month, left, day", NEW_YORK_EDGES)
def test_the_business_days_are_the_rulesets_timezone(tmp_path, now, month, left, day):
    tz = ZoneInfo("America/New_York")
    docs = {("standings", m, ""): standings(m, a="1.2", b="0.8") for m in (month, "2027-01")}
    view = wall_view(MemorySource(docs), None, now, MorningRanks(tmp_path), False, tz)
    assert (view["period"], view["days_left"]) == (month, left)
    assert view["updated"] == now.astimezone(tz).strftime("%H:%M:%S")
    assert f'"day": "{day}"' in (tmp_path / "wall" / "morning.json").read_text()


def test_the_wall_takes_the_timezone_of_the_rulesets(tmp_path):
    from pathlib import Path

    from services.config import load_settings
    from services.wall.server import Wall

    seed = Path(__file__).resolve().parents[2] / "rulesets" / "seed-table3.toml"
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "rulesets" / "ny.toml").write_text(
        seed.read_text().replace('timezone = "Asia/Shanghai"', 'timezone = "America/New_York"')
    )
    settings = load_settings(tmp_path, env={"QUOTABOARD_VIEWER_TOKEN": "v" * 32})
    wall = Wall(settings, source=MemorySource({}), follow=False)
    assert wall.tz == ZoneInfo("America/New_York")


@pytest.mark.parametrize("hide_money", [False, True])
def test_the_trend_is_the_folds_weekly_document(tmp_path, hide_money):
    """The wall's weekly bars are `quotaboard weekly`'s team figures (the seed month folded
    for real), not a second sum of the reps' statements: the same weeks, amounts and the
    target reached by each week's end."""
    from fold_helpers import project, seed_raw

    from schemas.documents import money, pct
    from schemas.read_models import as_document

    p = project(seed_raw())
    weekly = as_document("weekly", p.weekly("2026-08"))
    docs = {
        ("standings", "2026-08", ""): as_document("standings", p.standings("2026-08")),
        ("weekly", "2026-08", ""): weekly,
    }
    now = datetime(2026, 8, 20, 4, 0, 0, tzinfo=UTC)
    view = wall_view(MemorySource(docs), "2026-08", now, MorningRanks(tmp_path), hide_money)
    (series,) = weekly.team.values()
    target = Decimal(series.target)
    assert [t["week"] for t in view["trend"]] == [w[-3:] for w in weekly.weeks]
    assert [t["reached"] for t in view["trend"]] == [
        pct(Decimal(row.cumulative) / target, 0) for row in series.weeks
    ]
    amounts = [None] * len(series.weeks) if hide_money else [
        money(row.bookings, compact=True) for row in series.weeks
    ]
    assert [t["amount"] for t in view["trend"]] == amounts
