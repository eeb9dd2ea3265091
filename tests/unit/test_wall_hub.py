"""The wall's hub (services/wall/server.py): what each open page is sent after notices,
with a render function standing in for the store and the template (no server, no I/O)."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.wall.server import COALESCE, QUEUE, Hub


class Boards:
    """Renders a board whose footer shows the position; `reps` changes its skeleton."""

    def __init__(self) -> None:
        self.position, self.reps, self.renders = 1, ["a"], 0

    def __call__(self, period: str) -> tuple[int, str]:
        self.renders += 1
        rows = "".join(f'<tr data-f="row@{r}"><td>{r}</td></tr>' for r in self.reps)
        foot = f'<p data-f="foot">position {self.position}</p>'
        return self.position, f"<table><tbody>{rows}</tbody></table>{foot}"


def frames(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


async def notice(hub: Hub, boards: Boards, *, reps: list[str] | None = None) -> None:
    boards.position += 1
    boards.reps = reps or boards.reps
    hub.changed({"2026-08"})
    await asyncio.sleep(COALESCE * 4)


async def test_a_page_gets_the_board_then_patches_made_from_the_version_it_shows():
    boards = Boards()
    hub = Hub(boards)
    outbox, first = hub.join("2026-08")
    [(kind, board)] = frames(first)
    assert kind == "board" and board["position"] == 1
    await notice(hub, boards)
    [(kind, patch)] = frames(await outbox.take())
    assert kind == "patch"
    assert patch["base"] == board["version"] and patch["position"] == 2
    assert patch["set"] == [["foot", None, "position 2"]]
    await notice(hub, boards)
    [(_, second)] = frames(await outbox.take())
    assert second["base"] == patch["version"]


async def test_notices_close_together_are_rendered_once_and_other_periods_not_at_all():
    boards = Boards()
    hub = Hub(boards)
    hub.join("2026-08")
    renders = boards.renders
    for _ in range(5):
        hub.changed({"2026-08"})
    hub.changed({"2026-07"})  # no page open on it
    await asyncio.sleep(COALESCE * 4)
    assert boards.renders == renders + 1


async def test_a_new_rep_sends_the_whole_board():
    boards = Boards()
    hub = Hub(boards)
    outbox, _ = hub.join("2026-08")
    await notice(hub, boards, reps=["a", "b"])
    [(kind, board)] = frames(await outbox.take())
    assert kind == "board" and 'data-f="row@b"' in board["html"]


async def test_a_page_that_fell_behind_gets_the_state_and_the_latest_board_instead():
    boards = Boards()
    hub = Hub(boards)
    outbox, _ = hub.join("2026-08")
    for _ in range(QUEUE + 1):  # the page reads nothing meanwhile
        await notice(hub, boards)
    sent = frames(await outbox.take())
    assert [kind for kind, _ in sent] == ["state", "board"]
    assert sent[1][1]["position"] == boards.position
    await notice(hub, boards)  # and the next patch is made from that board
    [(kind, patch)] = frames(await outbox.take())
    assert kind == "patch" and patch["base"] == sent[1][1]["version"]


async def test_a_period_left_by_its_last_page_is_rendered_afresh_for_the_next():
    boards = Boards()
    hub = Hub(boards)
    outbox, first = hub.join("2026-08")
    hub.leave("2026-08", outbox)
    boards.position = 9
    _, again = hub.join("2026-08")
    assert frames(again)[0][1]["position"] == 9
    assert frames(again)[0][1]["version"] != frames(first)[0][1]["version"]


async def test_open_boards_follow_the_clock_without_a_change(tmp_path):
    """No notice, no new position: the boards still repaint every `refresh` seconds, so
    the time, days left and the morning's moves are the clock's, and a page connecting
    on a quiet morning is not sent last evening's board."""
    from datetime import UTC, datetime, timedelta

    from services.config import load_settings
    from services.wall.server import Wall
    from tui import sample
    from tui.source import MemorySource

    now = [datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)]
    source = MemorySource({("standings", "2026-08", ""): sample.standings("2026-08", reps=3)})
    settings = load_settings(tmp_path, env={"QUOTABOARD_VIEWER_TOKEN": "v" * 32})
    wall = Wall(settings, source=source, follow=False, clock=lambda: now[0], poll=0.01, refresh=0.05)
    outbox, first = wall.hub.join("2026-08")
    assert b"updated 18:00:00" in first  # 10:00 UTC in the business timezone
    watching = asyncio.ensure_future(wall._watch_position())
    try:
        now[0] += timedelta(hours=1, minutes=1)
        sent = frames(await asyncio.wait_for(outbox.take(), 2))
        assert [event for event, _ in sent] == ["patch"]
        changed = {key: text for key, _attrs, text in sent[0][1]["set"]}
        assert changed["foot"] == "updated 19:01:00 · position 100"
        assert "pace@team:sales" in changed  # the pace marker moved with the day's hour
        _, again = wall.hub.join("2026-08")
        assert b"updated 19:01:00" in again
    finally:
        watching.cancel()


async def test_open_boards_follow_the_rulesets_timezone_at_the_refresh(tmp_path, caplog):
    """Rulesets with another timezone (a rebuild under a corrected definition) reach the
    open boards at the next refresh, not at the wall's next start; rulesets that stop
    loading keep the timezone in use."""
    from datetime import UTC, datetime
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from services.config import load_settings
    from services.wall.server import Wall
    from tui import sample
    from tui.source import MemorySource

    seed = (Path(__file__).resolve().parents[2] / "rulesets" / "seed-table3.toml").read_text()
    (tmp_path / "rulesets").mkdir()
    live = tmp_path / "rulesets" / "live.toml"
    live.write_text(seed)
    source = MemorySource({("standings", "2026-08", ""): sample.standings("2026-08", reps=3)})
    settings = load_settings(tmp_path, env={"QUOTABOARD_VIEWER_TOKEN": "v" * 32})
    now = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)
    wall = Wall(settings, source=source, follow=False, clock=lambda: now, poll=0.01, refresh=0.05)
    outbox, first = wall.hub.join("2026-08")
    assert b"updated 18:00:00" in first  # Asia/Shanghai
    live.write_text(seed.replace('timezone = "Asia/Shanghai"', 'timezone = "America/New_York"'))
    watching = asyncio.ensure_future(wall._watch_position())
    try:
        sent = frames(await asyncio.wait_for(outbox.take(), 2))
        changed = {key: text for key, _attrs, text in sent[0][1]["set"]}
        assert changed["foot"] == "updated 06:00:00 · position 100"  # 10:00 UTC in New York
        live.write_text("[incentive\n")
        await asyncio.sleep(0.3)  # several refreshes with rulesets that do not load
        assert not watching.done()  # the watcher goes on
        assert wall.tz == ZoneInfo("America/New_York")
        kept = [r for r in caplog.records if "keeps the timezone" in r.getMessage()]
        assert len(kept) == 1 and "America/New_York" in kept[0].getMessage()  # said once
        _, again = wall.hub.join("2026-08")
        assert b"updated 06:00:00" in again
    finally:
        watching.cancel()


def test_a_page_whose_first_render_fails_is_not_left_registered():
    def broken(period: str) -> tuple[int, str]:
        raise RuntimeError("the store cannot be read")

    hub = Hub(broken)
    with pytest.raises(RuntimeError):
        hub.join("2026-08")
    assert hub.pages == {}
