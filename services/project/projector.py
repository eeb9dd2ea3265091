"""The projector: tails the event log by position and keeps the read models current.

It is the I/O shell around `projections.Projection`, the pure fold. The same
`Catchup.run_until` serves three callers, so there is one path, never three:
- the live projector (`run_projector`): small batches as events arrive, a change
  notice on NATS after each commit so the TUI refreshes;
- a restart: the fold is replayed in memory up to the store's checkpoint (nothing
  written), then the projector continues where the checkpoint says;
- `rebuild`: a fresh store filled from position 1 in large batches beside the live
  one, then swapped in atomically.

Documents and the checkpoint are committed in one SQLite transaction (ReadStore.write),
so a crash at any instant leaves figures and checkpoint in agreement.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from events.log import EventLog, log_path
from projections.projection import Changes, Projection
from projections.rulesets import LoadedRuleset, RulesetError, RulesetSet, load_ruleset
from schemas.fast import decode_rows
from schemas.read_models import as_document
from services.project.readstore import (
    Doc,
    ReadStore,
    current_path,
    encode_doc,
    new_store_path,
    swap_current,
)
from services.project.rulesets import load_live_rulesets
from services.project.state import ProjectorState, RulesetWatch, record_state

log = logging.getLogger("quotaboard.projector")

COMMIT_EVERY = 0.5  # seconds between live commits under a steady stream
RECONNECT_EVERY = 5.0  # seconds between attempts to reach the broker for notices
LIVE_BATCH = 5_000
REBUILD_BATCH = 200_000  # fewer batches, fewer re-folds of a deal spanning them


def _rulesets_meta(rulesets: RulesetSet) -> str:
    return json.dumps([{"text": r.text, "path": r.path} for r in rulesets.loaded], ensure_ascii=False)


def _rulesets_from_meta(raw: str) -> RulesetSet:
    items = json.loads(raw)
    loaded: list[LoadedRuleset] = [load_ruleset(i["text"], name=i.get("path")) for i in items]
    return RulesetSet(loaded)


def current_rulesets(data_dir: Path | str) -> RulesetSet:
    """The rulesets the live read models were built with (kept in the store), or the
    live folder's before the first projection. A close or a replay baseline must name
    these, not whatever the folder holds since: a definition change reaches the read
    models only through a rebuild."""
    store = ReadStore.open_current(data_dir)
    if store is not None:
        with store:
            raw = store.meta("rulesets")
        if raw:
            return _rulesets_from_meta(raw)
    return load_live_rulesets(data_dir)


def documents(projection: Projection, changes: Changes, *, every_rep: bool = False) -> Iterator[Doc]:
    """The documents a batch of changes rewrites: what readers will see, each converted to
    its Struct (schemas/read_models.py) and encoded, so a document that does not fit its
    Struct stops the batch here, naming the field, instead of reaching a reader.

    Statement documents hold a rep's own lists (deals, activities, weekly bookings) and
    are rewritten for the reps the batch touched, or for every rep of a period new to the
    store and when a fresh store is filled; readers get the figures from the period's
    standings (ReadStore.statement).
    A generator, so a rebuild streams thousands of documents into one transaction
    without holding them all.
    """
    for period in sorted(changes.periods):
        standings = projection.standings(period)
        yield _stored("standings", period, "", standings)
        yield _stored("funnel", period, "", projection.funnel(period))
        scorecard = projection.scorecard(period)
        if scorecard is not None:
            yield _stored("scorecard", period, "", scorecard)
        reps = standings["reps"].keys()
        everyone = every_rep or period in changes.new_periods
        for rep_id in sorted(reps if everyone else changes.reps & reps):
            yield _stored("statement", period, rep_id, projection.statement_parts(rep_id, period))
        frozen = projection.frozen(period)
        if frozen is not None:
            yield _stored("frozen", period, "", frozen)
    for period in sorted(projection.diagnosis_periods(changes.periods)):
        yield _stored("diagnosis", period, "", projection.diagnosis(period))
    for period in sorted(projection.trend_periods(changes.periods)):
        yield _stored("weekly", period, "", projection.weekly(period))
    yield _stored("unmatched", "", "", projection.unmatched())
    publication = projection.publication_update()
    if publication is not None:
        yield _stored("publication", "", "", publication)


def _stored(kind: str, period: str, key: str, doc: dict) -> Doc:
    """One row of the store: the fold's document as its Struct, encoded (measured: the
    conversion adds ~0.15 s to the ~0.3 s of encoding 8,570 documents of a 300k-event
    rebuild; docs/performance.md)."""
    return kind, period, key, encode_doc(as_document(kind, doc))


@contextmanager
def gc_paused():
    """Pause the cyclic GC while folding and writing documents: millions of small, acyclic
    objects are made and kept, and each collection would walk them all again (measured:
    ~40% of a rebuild). The switch is the shell's, never the pure fold's: every caller
    that drives `Projection` (this module, services/audit/replay.py, the demo store)
    folds and reads its documents inside this.

    Objects made while paused all sit in the youngest generation; re-enabling as is would
    make the next allocation scan them all at once (measured 0.8 s per pause at 1M events).
    After a large fold (a rebuild, a restart's warm-up) they are moved to the oldest
    generation instead (freeze, then unfreeze: two list splices), where only a full
    collection looks at them again. A small live batch is left to the young collection,
    so the live loop's own short-lived cycles are still collected young.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_count()[0] > LARGE_PAUSE:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


LARGE_PAUSE = 100_000  # container objects made while paused


def read_stored(log: EventLog, start: int, end: int) -> list[tuple[int, object]]:
    """(position, event) pairs of positions [start, end], decoded without re-validating:
    every stored payload passed the contract when it was recorded (schemas.fast)."""
    return decode_rows(log.read_payloads(start, end))


@dataclass
class Catchup:
    """A Projection bound to a store: reads the log from the fold's position onward."""

    log: EventLog
    projection: Projection
    store: ReadStore | None
    batch: int = LIVE_BATCH
    pending: Changes = field(default_factory=lambda: Changes(position=0, periods=set(), reps=set()))

    def step(self, until: int | None = None) -> Changes | None:
        """Apply the next batch from the log; None when there is nothing new."""
        start = self.projection.position + 1
        if until is not None and start > until:
            return None
        end = start + self.batch - 1 if until is None else min(until, start + self.batch - 1)
        batch = read_stored(self.log, start, end)
        if not batch:
            return None
        return self.projection.apply(batch)

    def run_until(self, until: int | None = None, *, write: bool = True,
                  progress: Callable[[int], None] | None = None) -> Changes:
        """Fold up to `until` (or the head); write the documents once at the end."""
        total = Changes(position=self.projection.position, periods=set(), reps=set())
        with gc_paused():
            while (changes := self.step(until)) is not None:
                total.add(changes)
                if progress:
                    progress(changes.position)
            if write and self.store is not None and total.position > self.store.position():
                self.store.write(documents(self.projection, total), total.position)
        return total


def open_projection(data_dir: Path | str) -> tuple[Catchup, Path]:
    """Open the live store (creating it on first start) and warm the fold to its checkpoint.

    A store without a ruleset set (first start) takes the live folder's; when that
    cannot load, RulesetError, and the empty store stays for the error to be recorded in.
    """
    store_file = current_path(data_dir)
    if store_file is None or not store_file.exists():
        store_file = new_store_path(data_dir)
        with ReadStore(store_file, writer=True) as empty:
            empty.write([], 0)
        swap_current(data_dir, store_file)
    store = ReadStore(store_file, writer=True)
    if raw := store.meta("rulesets"):
        rulesets = _rulesets_from_meta(raw)
    else:
        try:
            rulesets = load_live_rulesets(data_dir)
        except RulesetError:
            store.close()
            raise
        store.write([], store.position(), {"rulesets": _rulesets_meta(rulesets)})
    event_log = EventLog(log_path(data_dir), readonly=True)
    catchup = Catchup(event_log, Projection(rulesets), store, batch=REBUILD_BATCH)
    checkpoint = store.position()
    if checkpoint:
        catchup.run_until(checkpoint, write=False)
        log.info("warmed the fold to checkpoint %d", checkpoint)
    catchup.batch = LIVE_BATCH
    return catchup, store_file


async def run_projector(data_dir: Path | str, connect: Callable | None = None,
                        poll_seconds: float = 0.05, commit_every: float = COMMIT_EVERY) -> None:
    """The live projector loop: apply, commit, notify; follow a rebuild's swap.

    Under a steady stream it commits at most every `commit_every` seconds, folding all
    that arrived meanwhile into one batch: the figures stay well inside the TUI's one
    second, and the projector leaves the CPU to the recorder and the gateway instead of
    recomputing the month's documents for every handful of events.
    `connect()` gives the change-notice publisher (services.project.notices.NoticePublisher);
    it is retried every RECONNECT_EVERY seconds while the broker is unreachable.
    """
    data_dir = Path(data_dir)
    while not log_path(data_dir).exists():
        await asyncio.sleep(poll_seconds)
    watch = RulesetWatch(data_dir)
    catchup, store_file = await _open_with_rulesets(data_dir, watch, poll_seconds)
    notices = None
    next_connect = 0.0
    try:
        while True:
            if current_path(data_dir) != store_file:
                log.info("read models swapped to %s; following", current_path(data_dir))
                catchup.store.close()
                catchup.log.close()
                catchup, store_file = await _open_with_rulesets(data_dir, watch, poll_seconds)
            if watch.poll():
                if watch.state.error:
                    log.error("rulesets cannot load; the last good set stays in force: %s", watch.state.error)
                else:
                    log.info("the live rulesets load again")
                record_state(catchup.store, watch.state)
            if notices is None and connect is not None and time.monotonic() >= next_connect:
                notices = await _try_connect(connect)
                next_connect = time.monotonic() + RECONNECT_EVERY
            started = time.monotonic()
            with gc_paused():
                changes = catchup.step()
                if changes is not None:
                    # Take what else is already waiting, so a burst becomes one commit.
                    more = catchup.run_until(catchup.log.last_position(), write=False)
                    if more.position > changes.position:
                        changes.add(more)
                    catchup.store.write(documents(catchup.projection, changes), changes.position)
            if changes is None:
                await asyncio.sleep(poll_seconds)
                continue
            if notices is not None:
                await notices.publish(changes.position, changes.periods, changes.reps)
            await asyncio.sleep(max(0.0, commit_every - (time.monotonic() - started)))
    finally:
        if notices is not None:
            await notices.close()
        catchup.store.close()
        catchup.log.close()


async def _open_with_rulesets(data_dir: Path, watch: RulesetWatch,
                              poll_seconds: float) -> tuple[Catchup, Path]:
    """open_projection, recording the live folder's state in the store. With no set to
    fold with (a first start on a broken folder) the error is recorded and the folder
    watched until it loads, instead of exiting and being restarted for ever."""
    watch.poll()
    while True:
        try:
            catchup, store_file = open_projection(data_dir)
        except RulesetError as exc:
            state = ProjectorState.from_error(exc)
            while state.error:
                log.error("no ruleset to fold with; waiting for the file to be fixed: %s", state.error)
                with ReadStore(current_path(data_dir), writer=True) as store:
                    record_state(store, state)
                while not watch.poll():
                    await asyncio.sleep(poll_seconds)
                state = watch.state
            continue
        if watch.state.error:
            log.error("rulesets cannot load; the last good set stays in force: %s", watch.state.error)
        record_state(catchup.store, watch.state)
        return catchup, store_file


async def _try_connect(connect: Callable):
    try:
        return await connect()
    except Exception as exc:  # the notices are best effort; figures are already stored
        log.warning("change notices off, broker unreachable: %s", exc)
        return None


def rebuild(data_dir: Path | str, *, rulesets: RulesetSet | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[Path, int]:
    """Build a fresh store from position 1 beside the live one, catch up, then swap.

    The live projector keeps serving the old store meanwhile and follows the swap.
    Killed halfway, this leaves only a stray file: the pointer still names the old store.
    """
    data_dir = Path(data_dir)
    rulesets = rulesets or load_live_rulesets(data_dir)
    path = new_store_path(data_dir)
    store = ReadStore(path, writer=True, bulk=True)
    event_log = EventLog(log_path(data_dir), readonly=True)
    try:
        catchup = Catchup(event_log, Projection(rulesets), store, batch=REBUILD_BATCH)
        head = event_log.last_position()
        catchup.run_until(head, write=False, progress=(lambda p: progress(p, head)) if progress else None)
        # Catch up with what arrived meanwhile, then write everything once and swap.
        while (head := event_log.last_position()) > catchup.projection.position:
            catchup.run_until(head, write=False)
        position = catchup.projection.position
        everything = Changes(position=position, periods=set(catchup.projection.periods()), reps=set())
        meta = {"rulesets": _rulesets_meta(rulesets),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with gc_paused():
            store.write(documents(catchup.projection, everything, every_rep=True), position, meta)
        store.finish_bulk()
        swap_current(data_dir, path)
        return path, position
    finally:
        store.close()
        event_log.close()
