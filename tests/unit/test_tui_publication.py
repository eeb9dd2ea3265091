"""The TUI's publication views on a store folded from the seed (表1) plus a publication:
the header's state line, a statement's honours and objections, the objections screen."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from textual.widgets import DataTable

from services.demo.folded_store import SEED_EVENTS, SEED_RULESET, FoldedStore
from services.project.readers import StoreSource
from tui.app import QuotaboardApp
from tui.docs_capture import screen_text
from tui.screens import ObjectionsScreen, StatementScreen
from tui.source import QueueFeed

MONDAY = datetime(
    2026, 9, 7, 4, 0, tzinfo=UTC
)  # 12:00 in Asia/Shanghai; the window closes Wednesday


def ev(eid: str, kind: str, at: str, **data) -> str:
    return json.dumps({"id": eid, "type": kind, "occurred_at": at + "+08:00", "data": data})


@pytest.fixture
def published(tmp_path):
    ruleset = tmp_path / "seed-honours.toml"
    ruleset.write_text(SEED_RULESET.read_text() + "\n[honours]\nstar_of_month = true\n")
    folded = FoldedStore(tmp_path / "data", ruleset)
    folded.apply_raw(SEED_EVENTS.read_bytes().splitlines())
    folded.apply_raw(
        [
            ev("c", "period.closed", "2026-09-05T10:00:00", period="2026-08"),
            ev(
                "r1",
                "objection.raised",
                "2026-09-06T10:00:00",
                objection_id="O-1",
                period="2026-08",
                rep_id="wang",
                reason="D5 missing",
                component="tiered",
            ),
            ev(
                "r2",
                "objection.raised",
                "2026-09-07T09:00:00",
                objection_id="O-2",
                period="2026-08",
                rep_id="li",
                reason="split wrong",
            ),
            ev(
                "s2",
                "objection.resolved",
                "2026-09-07T11:00:00",
                objection_id="O-2",
                decision="upheld",
                amount="300",
                note="split fixed",
            ),
        ]
    )
    yield folded
    folded.close()


def make_app(data_dir):
    return QuotaboardApp(
        StoreSource(data_dir),
        QueueFeed(),
        period="2026-08",
        clock=lambda: MONDAY,
        poll_interval=None,
    )


async def test_header_shows_the_publication_state(published):
    app = make_app(published.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert (
            "公示 published 2026-09-05 · window closes in 2 working days · 1 open objection · payout pending"
            in text
        )


async def test_statement_shows_honours_and_objections(published):
    app = make_app(published.data_dir)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # wang: first by attainment
        await pilot.pause()
        assert isinstance(app.screen, StatementScreen) and app.screen.rep_id == "wang"
        text = screen_text(app)
        assert "月度销售之星 star of the month" in text
        assert "O-1 open · tiered: D5 missing" in text
        await pilot.press("n", "n")  # li
        await pilot.pause()
        await pilot.pause()
        text = screen_text(app)
        assert "O-2 upheld 300 · statement: split wrong — split fixed" in text
        assert "月度销售之星" not in text


async def test_objections_screen_lists_all_newest_first(published):
    app = make_app(published.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ObjectionsScreen)
        table = app.screen.query_one(DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["O-2", "O-1"]
        assert "Objections (2)" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, ObjectionsScreen)
