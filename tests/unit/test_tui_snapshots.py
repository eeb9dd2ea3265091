"""Snapshots of the main screens at 80x24 and 160x48 (seed data through the real fold,
frozen clock). Update with `pytest tests/unit/test_tui_snapshots.py --snapshot-update`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.demo.folded_store import seed_store
from services.project.readers import StoreSource
from tui.app import QuotaboardApp
from tui.source import QueueFeed

FROZEN = datetime(2026, 8, 25, 4, 0, tzinfo=UTC)
SIZES = [(80, 24), (160, 48)]
SCREENS = {
    "leaderboard": [],
    "statement": ["down", "enter"],
    "funnel": ["f"],
    "regions": ["g"],
    "help": ["question_mark"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("snapdata")
    seed_store(path).close()
    return path


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(snap_compare, data_dir, screen, size):
    app = QuotaboardApp(StoreSource(data_dir), QueueFeed(), period="2026-08", clock=lambda: FROZEN,
                        poll_interval=None)

    async def settle(pilot):
        await pilot.pause()

    assert snap_compare(app, press=SCREENS[screen], terminal_size=size, run_before=settle)
