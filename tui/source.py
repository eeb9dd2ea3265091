"""Where the TUI's figures and change notices come from; both are injectable.

`DataSource`: anything with standings/funnel/statement/periods/position returning the
read-model documents (cli.md's JSON), and `projector` returning the state the projector
recorded (services.projector_state: "running", or "ruleset error" and the error). `StoreSource` reads the live store of a data dir,
re-checking the `CURRENT` pointer on every call so a rebuild's swap is followed.
`MemorySource` holds documents in a dict, for tests.

`NoticeFeed`: `await feed.run(on_notice, on_state)` delivers change notices and the
connection state ("live", "reconnecting", "offline"). `NatsFeed` subscribes to
`quotaboard.changes` on the broker found under the data dir (services.notices);
`QueueFeed` is driven by a test; `NullFeed` never reports anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from schemas.notices import ChangeNotice

log = logging.getLogger("quotaboard.tui")

class DataSource(Protocol):
    def standings(self, period: str) -> dict | None: ...
    def funnel(self, period: str) -> dict | None: ...
    def statement(self, period: str, rep_id: str) -> dict | None: ...
    def periods(self) -> list[str]: ...
    def position(self) -> int: ...
    def projector(self) -> dict | None: ...


class StoreSource:
    """The read-model store of a data dir; follows the CURRENT pointer."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._store = None
        self._path: Path | None = None

    def _get(self):
        from services.readstore import ReadStore, current_path

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
        except Exception as exc:  # a store mid-creation: no tables yet
            log.debug("read %s failed: %s", name, exc)
            self._store = None
            return default

    def standings(self, period: str) -> dict | None:
        return self._call("standings", period)

    def funnel(self, period: str) -> dict | None:
        return self._call("funnel", period)

    def statement(self, period: str, rep_id: str) -> dict | None:
        return self._call("statement", period, rep_id)

    def periods(self) -> list[str]:
        return self._call("periods", default=[]) or []

    def position(self) -> int:
        return self._call("position", default=0) or 0

    def projector(self) -> dict | None:
        from services.projector_state import META_KEY

        raw = self._call("meta", META_KEY)
        return json.loads(raw) if raw else None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class MemorySource:
    """Documents in memory: {("standings", period, ""): doc, ("statement", period, rep): doc}."""

    def __init__(self, docs: dict | None = None, position: int = 0) -> None:
        self.docs: dict[tuple[str, str, str], dict] = dict(docs or {})
        self._position = position
        self.projector_state: dict | None = None

    def put(self, kind: str, period: str, key: str, doc: dict, position: int | None = None) -> None:
        self.docs[(kind, period, key)] = doc
        if position is not None:
            self._position = position

    def standings(self, period: str) -> dict | None:
        return self.docs.get(("standings", period, ""))

    def funnel(self, period: str) -> dict | None:
        return self.docs.get(("funnel", period, ""))

    def statement(self, period: str, rep_id: str) -> dict | None:
        return self.docs.get(("statement", period, rep_id))

    def periods(self) -> list[str]:
        return sorted({p for (k, p, _) in self.docs if k == "standings"})

    def position(self) -> int:
        return self._position

    def projector(self) -> dict | None:
        return self.projector_state


@dataclass
class Notice:
    position: int
    periods: set[str] = field(default_factory=set)
    reps: set[str] = field(default_factory=set)


OnNotice = Callable[[Notice], None]
OnState = Callable[[str], None]


class NoticeFeed(Protocol):
    async def run(self, on_notice: OnNotice, on_state: OnState) -> None: ...


class NullFeed:
    state = "static"

    async def run(self, on_notice: OnNotice, on_state: OnState) -> None:
        on_state(self.state)
        await asyncio.Event().wait()


class QueueFeed:
    """A feed a test drives: `feed.push(notice)`, `feed.set_state("offline")`."""

    def __init__(self, state: str = "live") -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.state = state

    def push(self, notice: Notice) -> None:
        self.queue.put_nowait(notice)

    def set_state(self, state: str) -> None:
        self.queue.put_nowait(state)

    async def run(self, on_notice: OnNotice, on_state: OnState) -> None:
        on_state(self.state)
        while True:
            item = await self.queue.get()
            if isinstance(item, str):
                on_state(item)
            else:
                on_notice(item)


class NatsFeed:
    """Core NATS subscription to the change notices; reconnects by itself.

    A FastStream broker (services.notices) that reconnects forever once connected, its
    disconnect and reconnect callbacks giving the state; this loop
    also covers the broker not being up yet (or the service restarting on a new
    runtime file): it reports "offline" and tries again every `retry` seconds.
    """

    def __init__(self, data_dir: Path | str, retry: float = 1.0, nats_url: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.retry = retry
        self.nats_url = nats_url

    async def run(self, on_notice: OnNotice, on_state: OnState) -> None:
        from services.config import load_settings
        from services.notices import notice_broker, subscribe_notices

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
                broker = notice_broker(settings, "quotaboard-tui", disconnected_cb=disconnected,
                                       reconnected_cb=reconnected)
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
