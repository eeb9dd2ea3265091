"""The TUI refreshed by a real change notice from a real projector (`quotaboard up`)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from natsutil import Service  # noqa: F401 - the make_service fixture's type

from services.demo.folded_store import SEED_EVENTS
from services.project.readers import NatsFeed, StoreSource
from tui.app import QuotaboardApp

FROZEN = datetime(2026, 8, 25, 4, 0, tzinfo=UTC)
LATE_DEAL = [
    {
        "id": "live-1",
        "type": "deal.created",
        "occurred_at": "2026-08-21T10:00:00+08:00",
        "data": {
            "deal_id": "DX",
            "rep_id": "li",
            "customer_id": "CX",
            "product_line": "B",
            "amount": "300000",
        },
    },
    {
        "id": "live-2",
        "type": "deal.won",
        "occurred_at": "2026-08-22T10:00:00+08:00",
        "data": {"deal_id": "DX"},
    },
]


async def wait_for(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_real_notice_refreshes_leaderboard(make_service):
    svc = make_service()
    seed = [json.loads(line) for line in SEED_EVENTS.read_text().splitlines() if line.strip()]
    assert svc.post(seed).status_code == 202
    source = StoreSource(svc.data_dir)

    def seeded() -> bool:
        doc = source.standings("2026-08")
        return doc is not None and len(doc.reps) == 3

    await wait_for(seeded, 20, "the projector to write the seed's standings")
    # No polling: only a change notice can refresh the screen.
    app = QuotaboardApp(
        source, NatsFeed(svc.data_dir), period="2026-08", clock=lambda: FROZEN, poll_interval=None
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            lambda: app.connection == "live", 10, "the TUI to subscribe to change notices"
        )
        await pilot.press("down", "down")
        assert app.screen.current_rep() == "li"
        assert svc.post(LATE_DEAL).status_code == 202
        elapsed = await wait_for(
            lambda: app.screen._shown_keys[:1] == ["li"], 10, "li to reach the top"
        )
        print(f"post -> leaderboard refreshed in {elapsed * 1000:.0f} ms")
        assert elapsed < 2.0  # gateway + recorder + projector + notice + redraw
        assert app.refreshes >= 1
        assert app.screen.current_rep() == "li"  # the cursor stayed on the rep
    source.close()
