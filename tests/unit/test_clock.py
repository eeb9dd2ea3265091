"""Every reader of the clock, at pinned instants on the edges of a month (issue 13).

"This month" is named in the business timezone (Asia/Shanghai): 2026-11-30T17:00Z is
still 30 November in UTC but already 1 December in Shanghai. The readers: the default
period of the CLI (services.cli.figures.pick_period) and of the TUI, the TUI's days left and
its month/quarter toggle, the fold's Calendar.days_left, and the demo's company.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from projections import periods as P
from projections.periods import Calendar, current_month, default_month, instant_us
from services.cli.figures import pick_period
from services.demo.crm_sim import TZ, organisation
from services.demo.folded_store import FoldedStore
from services.project.readers import StoreSource
from services.project.readstore import ReadStore
from tui.app import QuotaboardApp
from tui.source import QueueFeed

# instant, its month in Shanghai, days left in that month (whole or part), in its quarter
EDGES = {
    "first second": (datetime(2026, 12, 1, 0, 0, 0, tzinfo=TZ), "2026-12", 31, 31),
    "first second, written in UTC": (
        datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC),
        "2026-12",
        31,
        31,
    ),
    "last second before it": (datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), "2026-11", 1, 32),
    "Nov 30 in UTC, Dec 1 in Shanghai": (
        datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
        "2026-12",
        31,
        31,
    ),
    "last second of the year": (datetime(2026, 12, 31, 23, 59, 59, tzinfo=TZ), "2026-12", 1, 1),
    "New Year in Shanghai": (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "2027-01", 31, 90),
    "29 February": (datetime(2028, 2, 29, 12, 0, tzinfo=TZ), "2028-02", 1, 32),
}
CAL = Calendar("Asia/Shanghai")


@pytest.mark.parametrize(
    ("now", "month", "month_left", "quarter_left"), EDGES.values(), ids=EDGES.keys()
)
def test_periods_and_days_left(now, month, month_left, quarter_left):
    quarter = P.quarter_of(month)
    assert current_month(now) == P.current_month(now) == month
    assert P.days_left(month, now) == CAL.days_left(month, instant_us(now)) == month_left
    assert P.days_left(quarter, now) == CAL.days_left(quarter, instant_us(now)) == quarter_left
    assert P.days_left(P.shift(month, -1), now) == 0  # last month has ended
    assert (
        P.days_left(P.shift(month, 1), now) > 27 and now < P.bounds(P.shift(month, 1))[0]
    )  # not begun
    assert P.toggle(quarter, now) == month  # a quarter toggles to the month we are in
    assert P.toggle(month[:4], now) == month
    assert P.toggle(P.shift(quarter, -1), now) == P.shift(month, -((int(month[5:]) - 1) % 3) - 1)


@pytest.mark.parametrize("now", [e[0] for e in EDGES.values()], ids=EDGES.keys())
def test_default_month_at_the_edges(now):
    month = current_month(now)
    last = P.shift(month, -1)
    assert default_month([last, month], month) == month
    assert default_month([last], month) == last  # this month has no figures yet
    assert default_month([last, P.shift(month, 2)], month) == last  # never a month not begun


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """The demo company at each instant, folded into its own data dir."""
    out = {}
    for name, (now, *_) in EDGES.items():
        data = tmp_path_factory.mktemp("clock")
        folded = FoldedStore(data)
        folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in organisation(7, now).events)
        folded.close()
        out[name] = data
    return out


@pytest.mark.parametrize(("name", "edge"), EDGES.items(), ids=EDGES.keys())
def test_cli_and_tui_open_on_the_month_of_the_instant(company, name, edge):
    """The demo company made at the instant has that month's figures (its targets at
    least); the CLI's and the TUI's default period is that month, with its days left."""
    now, month, month_left, _ = edge
    source = StoreSource(company[name])
    try:
        doc = source.standings(month)
        assert len(doc.reps) == 24 and doc.team["sales"].target is not None
        with ReadStore.open_current(company[name]) as store:
            assert pick_period(store, None, now=now) == month
        app = QuotaboardApp(source, QueueFeed(), clock=lambda: now, poll_interval=None)
        assert app.period == month
        assert f"{month_left}d left" in app.title_text("Leaderboard").plain
        app.period = P.shift(month, -1)
        assert "ended" in app.title_text("Leaderboard").plain
    finally:
        source.close()


@pytest.mark.parametrize("now", [e[0] for e in EDGES.values()], ids=EDGES.keys())
def test_webhook_timestamp_window(now):
    """The gateway's 5-minute window, read against a pinned clock (a pinned demo still
    signs with the real time: its webhooks are checked against the gateway's clock)."""
    from services.ingest.signing import check_headers

    t = now.timestamp()

    def headers(stamp: float) -> dict[str, str]:
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(stamp)),
            "webhook-signature": "v1,x",
        }

    assert check_headers(headers(t - 300), now=t) is None
    assert check_headers(headers(t + 300), now=t) is None
    for stamp in (t - 301, t + 301):
        assert "more than 5 minutes" in check_headers(headers(stamp), now=t)
