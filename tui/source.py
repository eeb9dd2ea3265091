"""Where the TUI's figures and change notices come from; both are injectable.

`DataSource`: anything with standings/funnel/statement/scorecard/diagnosis/
weekly/publication returning the read-model documents as the Structs of
schemas/read_models.py (None where there is none: scorecard when the period is not
assessed), periods/position, and `projector` returning the state the projector
recorded (services.project.state: "running", or "ruleset error" and the error). `StoreSource` reads the live store of a data dir,
re-checking the `CURRENT` pointer on every call so a rebuild's swap is followed.
`MemorySource` holds the Structs in a dict, for tests.

`NoticeFeed`: `await feed.run(on_notice, on_state)` delivers change notices and the
connection state ("live", "reconnecting", "offline"). `NatsFeed` (services/project/readers.py)
follows `quotaboard.changes` on the broker;
`QueueFeed` is driven by a test; `NullFeed` never reports anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from schemas.read_models import (
    Diagnosis,
    Funnel,
    Publication,
    Scorecard,
    Standings,
    Statement,
    Weekly,
)

log = logging.getLogger("quotaboard.tui")


class DataSource(Protocol):
    def standings(self, period: str) -> Standings | None: ...
    def funnel(self, period: str) -> Funnel | None: ...
    def statement(self, period: str, rep_id: str) -> Statement | None: ...
    def scorecard(self, period: str) -> Scorecard | None: ...
    def diagnosis(self, period: str) -> Diagnosis | None: ...
    def weekly(self, period: str) -> Weekly | None: ...
    def periods(self) -> list[str]: ...
    def position(self) -> int: ...
    def projector(self) -> dict | None: ...
    def publication(self) -> Publication | None: ...


class MemorySource:
    """Documents in memory, as their Structs: {("standings", period, ""): Standings,
    ("statement", period, rep): Statement, ...}."""

    def __init__(self, docs: dict | None = None, position: int = 0) -> None:
        self.docs: dict[tuple[str, str, str], msgspec.Struct] = dict(docs or {})
        self._position = position
        self.projector_state: dict | None = None

    def put(
        self, kind: str, period: str, key: str, doc: msgspec.Struct, position: int | None = None
    ) -> None:
        self.docs[(kind, period, key)] = doc
        if position is not None:
            self._position = position

    def standings(self, period: str) -> Standings | None:
        return self.docs.get(("standings", period, ""))

    def funnel(self, period: str) -> Funnel | None:
        return self.docs.get(("funnel", period, ""))

    def statement(self, period: str, rep_id: str) -> Statement | None:
        return self.docs.get(("statement", period, rep_id))

    def scorecard(self, period: str) -> Scorecard | None:
        return self.docs.get(("scorecard", period, ""))

    def diagnosis(self, period: str) -> Diagnosis | None:
        return self.docs.get(("diagnosis", period, ""))

    def weekly(self, period: str) -> Weekly | None:
        return self.docs.get(("weekly", period, ""))

    def periods(self) -> list[str]:
        return sorted({p for (k, p, _) in self.docs if k == "standings"})

    def position(self) -> int:
        return self._position

    def projector(self) -> dict | None:
        return self.projector_state

    def publication(self) -> Publication | None:
        return self.docs.get(("publication", "", ""))


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
