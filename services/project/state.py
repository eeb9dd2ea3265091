"""The projector's state, as `status` and the TUI show it, and its watch on the live rulesets.

Why: a ruleset file that cannot load used to make the projector exit and restart for
ever while `status` read "position 0, lag 0", as if all were caught up. Now the
projector keeps folding with the last good set (the one its store was built with) and
records in the store's meta, where every reader already looks, whether the live folder
loads: "running", or "ruleset error" with the error naming the file, the line and the
key. With no good set yet (a first start on a broken folder) it records the error in
the empty store and waits for the file to be fixed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from projections.rulesets import RulesetError
from services.project.readstore import ReadStore
from services.project.rulesets import FOLDER, load_live_rulesets

RUNNING = "running"
RULESET_ERROR = "ruleset error"
META_KEY = "projector"
CHECK_EVERY = 1.0  # seconds between looks at the folder's files


@dataclass(frozen=True)
class ProjectorState:
    state: str = RUNNING
    error: str | None = None  # one line: file, line, key and what was expected
    file: str | None = None
    line: int | None = None
    key: str | None = None

    @classmethod
    def from_error(cls, exc: RulesetError) -> ProjectorState:
        return cls(RULESET_ERROR, str(exc), exc.source, exc.line, exc.key)

    def as_dict(self) -> dict:
        return asdict(self)


def read_state(store: ReadStore) -> dict | None:
    """The state the projector last recorded in `store`, or None if it recorded none."""
    raw = store.meta(META_KEY)
    return json.loads(raw) if raw else None


def record_state(store: ReadStore, state: ProjectorState) -> None:
    """Write `state` into the store's meta unless it is already there."""
    if read_state(store) != state.as_dict():
        store.set_meta(META_KEY, json.dumps(state.as_dict(), ensure_ascii=False))


class RulesetWatch:
    """Loads the live folder again whenever one of its `*.toml` files changes.

    Looks at the files' names, sizes and modification times at most every `every`
    seconds, so the projector's loop can call `poll` on every turn.
    """

    def __init__(
        self,
        data_dir: Path | str,
        every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.every = every
        self.clock = clock
        self.state = ProjectorState()
        self._seen: tuple | None = None
        self._next = 0.0

    def _signature(self) -> tuple:
        out = []
        for path in sorted((self.data_dir / FOLDER).glob("*.toml")):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def poll(self) -> bool:
        """True when the outcome of loading the folder changed (see `state`)."""
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + self.every
        signature = self._signature()
        if signature == self._seen:
            return False
        self._seen = signature
        try:
            load_live_rulesets(self.data_dir)
            state = ProjectorState()
        except RulesetError as exc:
            state = ProjectorState.from_error(exc)
        changed, self.state = state != self.state, state
        return changed
