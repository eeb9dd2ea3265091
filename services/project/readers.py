"""The read store and the change notices as the TUI's ports (tui/source.py): what the
live leaderboard, and the wall (services/wall), read on a running service: the documents
as ReadStore decodes them, the Structs of schemas/read_models.py. The TUI itself knows no
service module; the `quotaboard tui` and `demo` commands (services/cli/tui.py) hand it these.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

from schemas.notices import ChangeNotice
from schemas.read_models import (
    Diagnosis,
    Funnel,
    Publication,
    Scorecard,
    Standings,
    Statement,
    Weekly,
)
from services.config import load_settings
from services.project.notices import notice_broker, subscribe_notices
from services.project.readstore import ReadStore, current_path
from services.project.state import META_KEY
from tui.source import Notice, OnNotice, OnState

log = logging.getLogger("quotaboard.tui")


class StoreSource:
    """The read-model store of a data dir; follows the CURRENT pointer."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._store = None
        self._path: Path | None = None

    def _get(self):
        path = current_path(self.data_dir)
        if path != self._path or self._store is None:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._path = path
            if path is not None and path.exists():
                self._store = ReadStore(path)
        return self._store

    def _call(self, name: str, *args, default=None):
        store = self._get()
        if store is None:
            return default
        try:
            return getattr(store, name)(*args)
        except sqlite3.Error as exc:  # a store mid-creation (no tables yet) or swapped away
            log.debug("read %s failed: %s", name, exc)
            self._store = None
            return default

    def standings(self, period: str) -> Standings | None:
        return self._call("standings", period)

    def funnel(self, period: str) -> Funnel | None:
        return self._call("funnel", period)

    def statement(self, period: str, rep_id: str) -> Statement | None:
        return self._call("statement", period, rep_id)

    def scorecard(self, period: str) -> Scorecard | None:
        return self._call("scorecard", period)

    def diagnosis(self, period: str) -> Diagnosis | None:
        return self._call("diagnosis", period)

    def weekly(self, period: str) -> Weekly | None:
        return self._call("weekly", period)

    def periods(self) -> list[str]:
        return self._call("periods", default=[]) or []

    def position(self) -> int:
        return self._call("position", default=0) or 0

    def publication(self) -> Publication | None:
        return self._call("publication")

    def projector(self) -> dict | None:
        raw = self._call("meta", META_KEY)
        return json.loads(raw) if raw else None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class NatsFeed:
    """Core NATS subscription to the change notices; reconnects by itself.

    A FastStream broker (services.project.notices) that reconnects forever once connected, its
    disconnect and reconnect callbacks giving the state; this loop
    also covers the broker not being up yet (or the service restarting on a new
    runtime file): it reports "offline" and tries again every `retry` seconds.
    """

    def __init__(
        self, data_dir: Path | str, retry: float = 1.0, nats_url: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.retry = retry
        self.nats_url = nats_url

    async def run(self, on_notice: OnNotice, on_state: OnState) -> None:
        state = None

        def report(new: str) -> None:
            nonlocal state
            if new != state:
                state = new
                on_state(new)

        async def disconnected() -> None:
            report("reconnecting")

        async def reconnected() -> None:
            report("live")

        def deliver(notice: ChangeNotice) -> None:
            on_notice(Notice(notice.position, set(notice.periods), set(notice.reps)))

        while True:
            broker = None
            try:
                settings = load_settings(self.data_dir, nats=self.nats_url)
                broker = notice_broker(
                    settings,
                    "quotaboard-tui",
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                )
                subscribe_notices(broker, deliver)
                await broker.start()
                report("live")
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # BrokerUnavailable, ConfigError, OSError...
                log.debug("change notices unavailable: %s", exc)
            finally:
                if broker is not None:
                    try:
                        await broker.stop()
                    except Exception:  # noqa: BLE001
                        pass
            report("offline")
            await asyncio.sleep(self.retry)
