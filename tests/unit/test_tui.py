"""Pilot tests of the TUI on a store built through the real fold from the seed (表1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from textual.widgets import DataTable, Sparkline
from textual.widgets.data_table import ColumnKey

from services.demo.folded_store import seed_store
from services.project.readers import StoreSource
from tui.app import QuotaboardApp
from tui.docs_capture import screen_text
from tui.help import HelpScreen
from tui.screens import FunnelScreen, RegionsScreen, StatementScreen
from tui.source import Notice, QueueFeed

FROZEN = datetime(2026, 8, 25, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.fixture
def seeded(tmp_path):
    folded = seed_store(tmp_path)
    yield folded
    folded.close()


def make_app(data_dir, feed=None, period="2026-08"):
    return QuotaboardApp(StoreSource(data_dir), feed or QueueFeed(), period=period,
                         clock=lambda: FROZEN, poll_interval=None)


def order(app) -> list[str]:
    return list(app.screen._shown_keys)


def row_text(app, rep: str) -> str:
    table = app.screen.query_one(DataTable)
    return " ".join(str(getattr(c, "plain", c)) for c in table.get_row(rep))


def one_won_deal(month: str, rep: str, deal: str) -> list[str]:
    """A rep onboarded on the 1st of `month` who wins one deal of 10 on the 3rd."""
    return [json.dumps(e) for e in [
        {"id": f"{deal}-1", "type": "rep.onboarded", "occurred_at": f"{month}-01T09:00:00+08:00",
         "data": {"rep_id": rep, "name": rep.title(), "team": "sales", "region": "East"}},
        {"id": f"{deal}-2", "type": "deal.created", "occurred_at": f"{month}-02T09:00:00+08:00",
         "data": {"deal_id": deal, "rep_id": rep, "customer_id": "C", "product_line": "A", "amount": "10"}},
        {"id": f"{deal}-3", "type": "deal.won", "occurred_at": f"{month}-03T09:00:00+08:00", "data": {"deal_id": deal}},
    ]]


async def test_leaderboard_ranks_by_attainment(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert order(app) == ["wang", "zhang", "li"]  # 1.10, 1.05, 0.75
        assert "110%" in row_text(app, "wang") and "●" in row_text(app, "wang")
        assert "75%" in row_text(app, "li") and "○" in row_text(app, "li")  # red, readable without colour
        text = screen_text(app)
        assert "Team sales" in text and "2026-08" in text and "7d left" in text
        assert "◐ yellow" in text and "95.3%" in text  # team 1,620,000 / 1,700,000
        assert "17.8k" in row_text(app, "zhang")  # incentive earned so far


async def test_sort_keys(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")  # rep name, ascending
        assert app.screen.sort_column == "rep"
        for _ in range(3):
            await pilot.press("s")  # region, target, actual
        assert app.screen.sort_column == "actual"
        assert order(app) == ["zhang", "li", "wang"]  # 840k, 450k, 330k
        await pilot.press("S")
        assert order(app) == ["wang", "li", "zhang"]
        await pilot.press("s")  # attainment, descending
        assert app.screen.sort_column == "attainment"
        assert order(app) == ["wang", "zhang", "li"]


async def test_header_click_sorts(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        table.post_message(DataTable.HeaderSelected(table, ColumnKey("gap"), 6, table.columns[ColumnKey("gap")].label))
        await pilot.pause()
        assert app.screen.sort_column == "gap"
        assert order(app) == ["zhang", "wang", "li"]  # +40k, +30k, -150k


async def test_filters(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("e")  # first region in order: East
        assert app.screen.region_filter == "East"
        assert order(app) == ["zhang"]
        assert "Region East" in screen_text(app)
        await pilot.press("e", "e")  # North, South
        assert order(app) == ["li"]
        await pilot.press("x")
        assert order(app) == ["wang", "zhang", "li"]
        await pilot.press("l")  # product line A: zhang's D1 and D2
        assert app.screen.line_filter == "A"
        assert order(app) == ["zhang"]
        assert "840.0k" in row_text(app, "zhang")
        await pilot.press("l")  # B: li
        assert order(app) == ["li"]
        await pilot.press("x")
        assert len(order(app)) == 3


async def test_team_filter_when_there_are_several_teams(seeded):
    seeded.apply_raw([json.dumps(
        {"id": "t1", "type": "rep.transferred", "occurred_at": "2026-08-01T00:00:00+08:00",
         "data": {"rep_id": "li", "region": "South", "team": "ka"}})])
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "All 2 teams" in screen_text(app)  # no one team stands for the whole board
        assert order(app) == ["wang", "zhang", "li"]
        await pilot.press("t")  # teams in order: ka, sales
        assert (app.screen.team_filter, order(app)) == ("ka", ["li"])
        assert "Team ka" in screen_text(app) and "team ka ·" in screen_text(app)
        await pilot.press("t")
        assert order(app) == ["wang", "zhang"]
        text = screen_text(app)  # sales without li: 840,000 + 330,000 of its 1,700,000 target
        assert "Team sales" in text and "1.17M / 1.70M 68.8% ○ red" in text
        await pilot.press("x")
        assert app.screen.team_filter is None and len(order(app)) == 3


async def test_statement_drill_down(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")  # zhang
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StatementScreen) and screen.rep_id == "zhang"
        text = screen_text(app)
        assert "105.0% of target: 2% of 840,000.00" in text
        assert "bonus for reaching 100%" in text
        assert "17,800" in text
        deals = screen.query_one("#deals", DataTable)
        assert deals.row_count == 2
        assert screen.query_one("#activities", DataTable).row_count == 2
        assert max(screen.query_one("#weekly", Sparkline).data) == 500000.0
        await pilot.press("n")  # next rep in leaderboard order: li
        assert screen.rep_id == "li"
        await pilot.press("escape")
        assert not isinstance(app.screen, StatementScreen)
        await pilot.press("enter")  # wang: team award for North at 110%
        await pilot.pause()
        assert "team" in screen_text(app) and "500" in screen_text(app)


async def test_period_switch(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("right_square_bracket")
        assert app.period == "2026-09"
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.period == "2026-07"
        assert "No figures for 2026-07" in screen_text(app)
        await pilot.press("right_square_bracket", "m")
        assert app.period == "2026-Q3"
        assert set(order(app)) == {"wang", "zhang", "li"}
        await pilot.press("m")  # back to a month of Q3 (the last: frozen clock is in Q3 -> August)
        assert app.period == "2026-08"


def test_default_period_is_never_a_month_not_begun(tmp_path):
    """Figures in October only: December is known (Q4's rank awards are paid there), yet in
    November the TUI and the CLI open on October, the latest month that has begun."""
    from projections.periods import default_month, months_among
    from services.demo.folded_store import FoldedStore

    folded = FoldedStore(tmp_path)
    folded.apply_raw(one_won_deal("2026-10", "a", "O1"))
    folded.close()
    assert months_among(StoreSource(tmp_path).periods()) == ["2026-10", "2026-12"]
    november = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    app = QuotaboardApp(StoreSource(tmp_path), QueueFeed(), clock=lambda: november, poll_interval=None)
    assert app.period == "2026-10"
    assert default_month(["2026-10", "2026-12"], "2026-12") == "2026-12"
    assert default_month(["2026-10", "2026-12"], "2026-09") == "2026-10"  # all ahead: the first
    assert default_month([], "2026-11") is None


async def test_funnel_regions_help(seeded):
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        assert isinstance(app.screen, FunnelScreen)
        text = screen_text(app)
        assert "lead" in text and "80% of lead" in text and "referral" in text
        await pilot.press("g")
        assert isinstance(app.screen, RegionsScreen)
        text = screen_text(app)
        assert "East" in text and "North" in text and "South" in text and "110.0%" in text
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Statement" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


LATE_DEAL = [
    {"id": "t-live-1", "type": "deal.created", "occurred_at": "2026-08-21T10:00:00+08:00",
     "data": {"deal_id": "DX", "rep_id": "li", "customer_id": "CX", "product_line": "B", "amount": "300000"}},
    {"id": "t-live-2", "type": "deal.won", "occurred_at": "2026-08-22T10:00:00+08:00", "data": {"deal_id": "DX"}},
]


async def test_change_notice_refreshes_keeping_cursor(seeded):
    feed = QueueFeed()
    app = make_app(seeded.data_dir, feed)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down")  # cursor on li (3rd)
        assert app.screen.current_rep() == "li"
        changes = seeded.apply_raw(json.dumps(e) for e in LATE_DEAL)
        feed.push(Notice(changes.position, set(changes.periods), set(changes.reps)))
        await pilot.pause(0.2)
        # li: 750,000 / 600,000 = 1.25 -> first; the cursor follows li
        assert order(app) == ["li", "wang", "zhang"]
        assert app.screen.current_rep() == "li"
        assert "▲" in row_text(app, "li") and "▼" in row_text(app, "wang")
        assert app.refreshes == 1
        feed.set_state("reconnecting")
        await pilot.pause()
        assert "reconnecting" in screen_text(app)
        feed.set_state("live")
        await pilot.pause()
        assert "● live" in screen_text(app)


async def test_notice_for_other_period_is_ignored(seeded):
    feed = QueueFeed()
    app = make_app(seeded.data_dir, feed)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        feed.push(Notice(99, {"2025-01"}, {"zhang"}))
        await pilot.pause(0.2)
        assert app.refreshes == 0


async def test_store_swap_is_followed(seeded, tmp_path):
    """A rebuild swaps CURRENT; the next refresh reads the new file."""
    from services.demo.folded_store import FoldedStore

    app = make_app(seeded.data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        fresh = FoldedStore(seeded.data_dir)  # swaps CURRENT to an empty store
        fresh.apply_raw(one_won_deal("2026-08", "solo", "S1"))
        app.handle_notice(Notice(3))
        await pilot.pause(0.2)
        assert order(app) == ["solo"]
        fresh.close()


async def test_header_names_a_ruleset_that_cannot_load(seeded):
    """The projector records its state in the store; every screen's header shows an error
    with file, line and key, and drops it once the projector reads the folder again."""
    from projections.rulesets import RulesetError
    from services.project.state import ProjectorState, record_state

    broken = RulesetError("var/rulesets/2026.toml", 'expected a decimal, got "abc"', line=12,
                          key="incentive.tiered.tiers[1].rate")
    record_state(seeded.store, ProjectorState.from_error(broken))
    app = make_app(seeded.data_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = " ".join(screen_text(app).split())  # the error wraps at the screen's width
        assert ('✖ projector: ruleset error · var/rulesets/2026.toml line 12: incentive.tiered.tiers[1].rate: '
                'expected a decimal, got "abc"') in text
        assert order(app) == ["wang", "zhang", "li"]  # the figures are still there
        await pilot.press("f")
        await pilot.pause()
        assert "✖ projector: ruleset error" in screen_text(app)
        record_state(seeded.store, ProjectorState())
        app._poll()
        await pilot.pause()
        assert "ruleset error" not in screen_text(app) and "projector" not in screen_text(app)


# The first second of a month in Shanghai, a month's last day, New Year and 29 February:
# each instant is past its month's end in Shanghai and still inside it in New York.
EDGES = [
    (datetime(2026, 8, 31, 16, 0, 0, tzinfo=UTC), "2026-08"),  # 2026-09-01 00:00:00 Shanghai
    (datetime(2026, 8, 31, 23, 30, tzinfo=UTC), "2026-08"),
    (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), "2026-12"),  # New Year in Shanghai
    (datetime(2028, 2, 29, 16, 0, 0, tzinfo=UTC), "2028-02"),  # 29 February in New York
]


@pytest.mark.parametrize(("now", "period"), EDGES)
async def test_the_tui_follows_the_rulesets_timezone(seeded, monkeypatch, now, period):
    """The timezone is read again on the TUI's timer: the month Shanghai has ended has a
    day left in New York; rulesets that stop loading keep the timezone in use."""
    from zoneinfo import ZoneInfo

    import tui.app

    monkeypatch.setattr(tui.app, "REZONE", 0.05)
    zones: list = [ZoneInfo("Asia/Shanghai")]

    def tz_source():
        if isinstance(zones[0], Exception):
            raise zones[0]
        return zones[0]

    app = QuotaboardApp(StoreSource(seeded.data_dir), QueueFeed(), period=period,
                        clock=lambda: now, poll_interval=60, tz_source=tz_source)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "│ ended" in app.title_text("x").plain
        zones[0] = ZoneInfo("America/New_York")
        await pilot.pause(0.3)  # the timer's next reads
        assert "│ 1d left" in app.title_text("x").plain
        assert "1d left" in screen_text(app)
        zones[0] = ValueError("rulesets/live.toml line 3: broken")
        await pilot.pause(0.3)
        assert app.tz == ZoneInfo("America/New_York") and app.is_running
