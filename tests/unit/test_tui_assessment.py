"""The TUI's part of issue 17, on stores built through the real fold: the grade column when
the period is assessed, the diagnosis on a red or yellow rep's statement, the trend screen."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from team_history import assessed_ruleset, history
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey
from textual_plotext import PlotextPlot

from schemas.read_models import WeeklySeries
from services.demo.folded_store import FoldedStore, seed_store
from services.project.readers import StoreSource
from tui.app import QuotaboardApp
from tui.screens import StatementScreen
from tui.source import MemorySource, QueueFeed
from tui.trend import TrendScreen

FROZEN = datetime(2026, 8, 25, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.fixture
def assessed(tmp_path):
    """小李 at 75% (new-customer conversion 15% against the team's 25%) under a monthly assessment."""
    ruleset = tmp_path / "assessed.toml"
    ruleset.write_text(assessed_ruleset())
    folded = FoldedStore(tmp_path / "data", ruleset)
    folded.apply_raw(json.dumps(x) for x in history())
    yield folded
    folded.close()


@pytest.fixture
def seeded(tmp_path):
    folded = seed_store(tmp_path)
    yield folded
    folded.close()


def make_app(source, size_period="2026-08"):
    return QuotaboardApp(
        source, QueueFeed(), period=size_period, clock=lambda: FROZEN, poll_interval=None
    )


def column_keys(app) -> list[str]:
    return [c.value for c in app.screen.query_one(DataTable).columns]


def cell(app, rep: str, column: str) -> str:
    table = app.screen.query_one(DataTable)
    value = table.get_cell(rep, column)
    return str(getattr(value, "plain", value))


def plain(widget: Static) -> str:
    content = widget.content
    return getattr(content, "plain", str(content))


@pytest.mark.parametrize("width", [80, 120, 160])
async def test_grade_column_when_the_period_is_assessed(assessed, width):
    source = StoreSource(assessed.data_dir)
    cards = source.scorecard("2026-08").reps
    app = make_app(source)
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        keys = column_keys(app)
        assert (
            keys[-1] == "grade" and "won" not in keys
        )  # the grade takes the deals-won column's place
        assert {rep: cell(app, rep, "grade") for rep in cards} == {
            rep: card.grade for rep, card in cards.items()
        }
        assert cell(app, "li", "grade") == "A"  # 60 × 0.75 + 40 × 1.0 = 85.00
        table = app.screen.query_one(DataTable)
        assert (
            sum(c.get_render_width(table) for c in table.columns.values()) <= width - 1
        )  # no sideways scroll
        table.post_message(
            DataTable.HeaderSelected(table, ColumnKey("grade"), len(keys) - 1, "Grade")
        )
        await pilot.pause()
        by_score = sorted(cards, key=lambda r: Decimal(cards[r].score), reverse=True)
        assert list(app.screen._shown_keys) == by_score == ["zhang", "wang", "li"]


async def test_no_grade_column_without_an_assessment(seeded):
    source = StoreSource(seeded.data_dir)
    assert source.scorecard("2026-08") is None
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = column_keys(app)
        assert "grade" not in keys and "won" in keys


async def test_a_flagged_scorecard_is_marked(assessed):
    store = StoreSource(assessed.data_dir)
    scorecard = store.scorecard("2026-08")
    scorecard.reps["li"].flagged = ["new_customers"]
    source = MemorySource(
        {
            ("standings", "2026-08", ""): store.standings("2026-08"),
            ("scorecard", "2026-08", ""): scorecard,
        }
    )
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert cell(app, "li", "grade") == "A⚑" and cell(app, "zhang", "grade") == "S"


async def test_statement_of_a_red_rep_reads_the_drivers_aloud(assessed):
    source = StoreSource(assessed.data_dir)
    drivers = source.diagnosis("2026-08").reps["li"].drivers
    app = make_app(source)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.push_screen(StatementScreen("li"))
        await pilot.pause()
        why = app.screen.query_one("#rep-diagnosis", Static)
        assert why.display
        lines = plain(why).splitlines()
        assert lines[0] == (
            "Why behind: 小李 is at 75.0% of target (450,000.00 of 600,000.00 bookings), red"
        )
        assert lines[1] == (
            " 1. new-customer conversion 15.0% against the team's 25.0% (3 of 20 new-customer deals "
            "created 2026-06 to 2026-08 closed): needs coaching on following up new prospects"
        )
        assert lines[2].startswith(" 2. qualified → negotiation 72.2% against the team's 91.4%")
        assert len(lines) == 1 + len(drivers) == 3


async def test_statement_of_a_green_rep_has_no_diagnosis(assessed):
    app = make_app(StoreSource(assessed.data_dir))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # 小王, 110%
        await pilot.pause()
        assert app.screen.rep_id == "wang"
        assert not app.screen.query_one("#rep-diagnosis", Static).display


def expected(series: WeeklySeries, cumulative: bool = False) -> dict:
    rows = series.weeks
    if cumulative:
        pairs = [(r.cumulative, r.cumulative_target) for r in rows]
    else:
        pairs = [(r.bookings, r.target) for r in rows]
    return {
        "weeks": [r.week for r in rows],
        "bookings": [Decimal(b) for b, _ in pairs],
        "target": [Decimal(t) if t is not None else None for _, t in pairs],
    }


async def test_trend_screen_charts_the_team_against_its_target_line(seeded):
    source = StoreSource(seeded.data_dir)
    weekly = source.weekly("2026-08")
    app = make_app(source)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrendScreen) and screen.scope == ("team", "sales")
        assert screen.series == expected(weekly.team["sales"])
        assert screen.series["target"][0] is not None  # the team has a target: a line to draw
        chart = screen.query_one("#trend-chart", PlotextPlot)
        drawn = chart.plt.build()
        assert "target (pro-rated)" in drawn and "W33" in drawn and "bookings" in drawn
        table = screen.query_one("#trend-weeks", DataTable)
        assert table.row_count == len(weekly.weeks)
        await pilot.press("c")
        await pilot.pause()
        assert screen.series == expected(weekly.team["sales"], cumulative=True)
        assert screen.series["target"][-1] == Decimal(weekly.team["sales"].target)
        await pilot.press("e")  # the first region
        await pilot.pause()
        first = sorted(weekly.regions)[0]
        assert screen.scope == ("region", first)
        assert screen.series == expected(weekly.regions[first], cumulative=True)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TrendScreen)


async def test_trend_follows_the_region_filter_and_the_period(seeded):
    source = StoreSource(seeded.data_dir)
    app = make_app(source)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("e", "w")  # filtered on East: East's trend
        await pilot.pause()
        assert app.screen.scope == ("region", "East")
        await pilot.press("m")  # the quarter: its 14 weeks
        await pilot.pause()
        assert app.period == "2026-Q3"
        quarter = source.weekly("2026-Q3")
        assert app.screen.series == expected(quarter.regions["East"])
        assert len(app.screen.series["weeks"]) == 14


async def test_trend_of_a_rep_from_the_statement(assessed):
    source = StoreSource(assessed.data_dir)
    series = source.weekly("2026-08").reps["li"]
    app = make_app(source)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        app.push_screen(StatementScreen("li"))
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrendScreen) and screen.scope == ("rep", "li")
        assert screen.series == expected(series)
        assert sum(screen.series["target"]) == Decimal("600000.00")  # the month's target, pro-rated
        summary = plain(screen.query_one("#trend-summary", Static))
        assert summary.startswith("450,000 booked of 600,000 target (75.0%)")
        assert "Trend · 小李 (li)" in str(screen.query_one("#title-line").content)
