"""The append-only event log: one SQLite file, hash-chained, idempotent by event id.

The recorder is the only writer; the projector, `status`, `verify` and `replay` open the
same file read-only from other processes at the same time. WAL mode is what makes that
work: readers see the last committed snapshot and never block the writer.

Durability
----------
`synchronous=FULL` by default, not NORMAL. With WAL, NORMAL is crash-safe for the
*file* (a power cut can only lose the most recent commits, never corrupt it), but the
recorder acknowledges a batch to NATS after `append` returns; under NORMAL an
acknowledged batch could vanish in a power cut and never be redelivered. FULL adds one
fsync of the WAL per commit, i.e. per batch, which batching amortises (see the bench).
Callers that can replay from the broker after a crash may pass `synchronous="NORMAL"`.

Idempotency: why a hash-keyed side table
----------------------------------------
The id is the permanent duplicate guard, so every append must look ids up in an index
that grows forever. Ids come from the sources and look random, so a `UNIQUE` index on
the id text takes inserts at random places in a large B-tree: every commit dirties about
one leaf page per row, and with WAL each dirty page is written whole. That is the
drop the issue measured: ~175k rows/s with time-ordered keys, ~22k with random text ids.

Chosen shape: `event_keys(key INTEGER PRIMARY KEY, position)`, key = first 64 bits of
BLAKE2b(id). Entries are ~12 bytes instead of ~50 bytes (a 40-character id + rowid),
so the index has ~4x fewer pages, more rows share each dirty page per commit, it stays in
the page cache (256 MiB here) and integer comparisons are cheaper than text ones.
A lookup `SELECT ... WHERE key IN (...)` probes the same pages the inserts touch next.

Correctness on collisions: a key hit is only a *candidate*. The stored id at that
position is compared in full; if it differs, the id is looked up in `id_collisions`
(`id TEXT PRIMARY KEY`), where ids whose key was already taken are stored. So two
different ids are never treated as one, and one id is never stored twice, whatever
the hash does. All of this runs inside the `BEGIN IMMEDIATE` write transaction, so no
other writer can interleave. `verify` also checks that every event has exactly one
index entry.

Measured, honestly (bench/log_append.py; this VM: 2 vCPUs, a slow virtual disk with
~0.4 ms per synced 4 KiB write; random 40-character ids, ~200-byte payloads, 50,000
deals, synchronous=FULL, 256 MiB cache):

    1,000,000 rows, executemany (before): batches of 500 7,400 rows/s, of 5,000 11,450
    200,000 rows, one multi-row INSERT per batch (`_insert_values`): batches of 1,000
    29,200 rows/s, of 5,000 38,700 (26,500 and 33,100 over the last 100k: the random
    indexes slow appends as the log grows)
    verify: 135,000-144,000 rows/s at 1M rows, 260,000-374,000 rows/s at 100-200k rows
    (chain v1; chain v2 reads and hashes every column: ~1.9x the CPU a row, see
    docs/decisions.md)

At 1M rows the hash-keyed table and a UNIQUE(id text) index measured *equal*: appends
are bound by WAL volume, and the `events_stream` index (random deal keys) dirties as
many pages per commit as the id index does. The early raw-SQL runs (400k rows, NORMAL)
showed the side table ahead (22.9k vs 17.0k rows/s) and `wal_autocheckpoint` doubling
both. The side table is kept because it is ~4x smaller (it stays cached as the log
grows to tens of millions of ids, where a text index no longer fits) and is
collision-safe; it is not a measured win at 1M rows here.

Other choices
-------------
- `wal_autocheckpoint` is raised to 16384 pages (64 MiB): random index pages dirtied in
  many commits are then written back to the main file once per checkpoint instead of
  once per commit; measured ~2x faster appends at 400k rows (11.8k -> 22.9k rows/s).
- `recorded_at` never goes backwards: an append takes max(now, last recorded_at), so a
  clock stepped back cannot make positions and recorded times disagree, and
  `read_as_of` can binary-search positions instead of maintaining another index.
- Readers use keyset pagination (`position > last seen ... LIMIT batch`), so memory is
  bounded by `batch` and no read transaction stays open between batches.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from events.chain import (
    GENESIS,
    TIME_WIDTH,
    chain_hash_v2,
    id_key,
    now_text,
    parse_utc,
    row_hash,
    utc_text,
)
from events.schema import DDL, SCHEMA_VERSION
from schemas.events import ContractError, Event, decode_event, encode_event, event_type, stream_key

CACHE_KIB = 256 * 1024
BUSY_TIMEOUT_MS = 10_000
AUTOCHECKPOINT_PAGES = 16_384
_MAX_PARAMS = 500  # ids per IN (...) probe


LOG_FILE = "log.sqlite"


def log_path(data_dir: Path | str) -> Path:
    """Where a data dir keeps its event log."""
    return Path(data_dir) / LOG_FILE


class RawRow(NamedTuple):
    """A pre-encoded event: what `append_raw` takes. `occurred_at` is the log's UTC text."""

    id: str
    type: str
    occurred_at: str
    source: str
    stream: str
    payload: bytes


class Recorded(NamedTuple):
    """One stored event as read back."""

    position: int
    id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    stream: str
    payload: bytes

    @property
    def event(self) -> Event:
        """The decoded canonical event (validated again by `schemas.events`)."""
        return decode_event(self.payload, check_keys=False)  # canonical: no repeated key


class Poison(NamedTuple):
    """A message that could not be turned into an event, kept for an operator."""

    subject: str
    reason: str
    raw: bytes
    received_at: datetime | None = None


class Quarantined(NamedTuple):
    id: int
    received_at: datetime
    subject: str
    reason: str
    raw: bytes


class AppendResult(NamedTuple):
    appended: int
    duplicates: int
    first_position: int | None
    last_position: int | None
    conflicts: int = 0  # duplicates whose content differs from the stored event's (new ones)
    quarantined: int = 0  # rows the log refused, kept in the quarantine (`append_each`)


class Conflict(NamedTuple):
    """An id that came again with other content: the first stays in the log."""

    id: str
    stored_hash: str  # sha256 hex of the stored payload
    new_hash: str  # sha256 hex of the payload that was not stored
    seen_at: datetime
    new_payload: bytes


def is_transient(exc: BaseException) -> bool:
    """An append error that retrying may cure (busy, locked, disk full, read-only file),
    as opposed to one the rows themselves cause (a constraint, a value that cannot be
    stored)."""
    return isinstance(exc, (sqlite3.DatabaseError, OSError)) and not isinstance(exc, sqlite3.IntegrityError)


def payload_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class VerifyResult(NamedTuple):
    ok: bool
    checked: int
    first_bad_position: int | None
    reason: str
    head: bytes = GENESIS  # the hash at position `checked`


class Anchor(NamedTuple):
    """A position seen by something kept outside the log (and its hash, when kept): the
    log must still hold it, unchanged. `seen_by` names it in a report."""

    position: int
    hash: bytes | None
    seen_by: str


def raw_row(event: Event) -> RawRow:
    """The stored columns of one canonical event."""
    return RawRow(
        event.id,
        event_type(event),
        utc_text(event.occurred_at),
        event.source,
        stream_key(event),
        encode_event(event),
    )


class LogNotFound(FileNotFoundError):
    """A read-only open of a log file that does not exist (yet)."""


class EventLog:
    """The event log in one SQLite file. Use as a context manager, or call `close()`.

    `readonly=True` opens with `mode=ro` and `query_only`: it never creates the file or
    the schema and cannot write; a log whose schema is not created yet reads as empty.
    """

    def __init__(
        self, path: str | Path, *, readonly: bool = False, synchronous: str = "FULL"
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly:
            if not self.path.exists():
                raise LogNotFound(f"no event log at {self.path}")
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self._con = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self._pragmas()
            self._con.execute("PRAGMA query_only = ON")
            self._ready = False
        else:
            if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
                raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # created 0600: the log is everyone's pay; SQLite gives -wal/-shm the same mode
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._con = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._con.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            self._pragmas()
            self._create_schema()
            self._ready = True

    # --- lifecycle ---------------------------------------------------------------

    def _pragmas(self) -> None:
        self._con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._con.execute("PRAGMA temp_store = MEMORY")

    def _create_schema(self) -> None:
        con = self._con
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: log schema {version} is newer than this code ({SCHEMA_VERSION})")
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(DDL):
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _has_schema(self) -> bool:
        """Read-only handles may open a file the writer has not initialised yet."""
        if not self._ready:
            self._ready = self._con.execute("PRAGMA user_version").fetchone()[0] >= 1
        return self._ready

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------

    def append(self, events: Sequence[Event], *, quarantined: Iterable[Poison] = ()) -> AppendResult:
        """Append events (skipping ids already stored, and repeats in the batch: first wins)
        and quarantine poison messages, all in one transaction. A skipped id whose payload
        differs from the one kept is entered in the `conflicts` table (outside the chain)."""
        return self.append_raw([raw_row(e) for e in events], quarantined=quarantined)

    def append_raw(
        self, rows: Sequence[RawRow | tuple], *, quarantined: Iterable[Poison] = ()
    ) -> AppendResult:
        """`append` for pre-encoded rows `(id, type, occurred_at_utc_text, source, stream, payload)`.

        The payload must be the canonical bytes of `encode_event` for the chain to mean
        what it says; `append` guarantees that, this method trusts the caller.
        Nothing is written unless everything is: any error rolls the whole batch back.
        """
        if self.readonly:
            raise PermissionError("this EventLog was opened read-only")
        poison = list(quarantined)
        with self._lock:
            con = self._con
            con.execute("BEGIN IMMEDIATE")
            try:
                fresh, to_key, to_collide, duplicates, conflicts = self._new_rows(rows)
                added = self._insert_conflicts(conflicts) if conflicts else 0
                result = AppendResult(len(fresh), duplicates, None, None, added)
                if fresh:
                    last, prev, last_recorded = self._head_row()
                    recorded = max(now_text(), last_recorded)
                    values: list = []  # the rows' columns in one flat list (_insert_rows)
                    extend = values.extend
                    position = last
                    for row in fresh:
                        position += 1
                        prev = chain_hash_v2(prev, position, row[0], row[1], row[2], recorded, row[3], row[4], row[5])
                        extend((position, row[0], row[1], row[2], recorded, row[3], row[4], row[5], prev))
                    _insert_values(con, "INSERT INTO events VALUES ", 9, values)
                    first = last + 1
                    keys: list = []
                    for i, k in to_key:
                        keys += (k, first + i)
                    _insert_values(con, "INSERT INTO event_keys (key, position) VALUES ", 2, keys)
                    if to_collide:
                        con.executemany(
                            "INSERT INTO id_collisions (id, position) VALUES (?, ?)",
                            [(fresh[i][0], first + i) for i in to_collide],
                        )
                    result = AppendResult(len(fresh), duplicates, first, position, added)
                if poison:
                    self._insert_poison(poison)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return result

    def _new_rows(self, rows: Sequence[RawRow | tuple]):
        """Split a batch into rows to store and duplicates; inside the write transaction.

        Returns (fresh rows, [(index in fresh, key)] for `event_keys`,
        [index in fresh] for `id_collisions`, number of duplicates, conflicts as
        [(id, stored payload, new payload)]). Ids are compared as the exact strings.
        """
        unique: dict[str, tuple] = {}
        conflicts: list[tuple[str, bytes, bytes]] = []
        for row in rows:
            first = unique.setdefault(row[0], row)
            if first is not row and first[5] != row[5]:
                conflicts.append((row[0], first[5], row[5]))
        duplicates = len(rows) - len(unique)
        candidates = list(unique.values())
        keys = [id_key(row[0]) for row in candidates]
        taken = self._taken_keys(keys)  # key -> position of the stored id holding it
        if not taken and len(set(keys)) == len(keys):  # the usual batch: all new, no clash
            return candidates, list(enumerate(keys)), [], duplicates, conflicts
        stored: dict[int, tuple[str, bytes]] = {}
        if taken:
            stored = self._stored_at(list(taken.values()))
        # Ids whose key is held by *another* id (stored, or earlier in this batch) must
        # be checked, and stored, by their full text.
        contested: list[int] = []
        batch_keys: set[int] = set()
        dup_index: set[int] = set()
        for i, (row, key) in enumerate(zip(candidates, keys, strict=True)):
            if key in taken:
                stored_id, stored_payload = stored[taken[key]]
                if stored_id == row[0]:
                    dup_index.add(i)
                    if stored_payload != row[5]:
                        conflicts.append((row[0], stored_payload, row[5]))
                else:
                    contested.append(i)
            elif key in batch_keys:
                contested.append(i)
            else:
                batch_keys.add(key)
        if contested:
            known = self._collided_ids([candidates[i][0] for i in contested])
            for i in contested:
                row = candidates[i]
                if row[0] in known:
                    dup_index.add(i)
                    if known[row[0]] != row[5]:
                        conflicts.append((row[0], known[row[0]], row[5]))
        fresh: list[tuple] = []
        to_key: list[tuple[int, int]] = []
        to_collide: list[int] = []
        contested_set = set(contested)
        for i, (row, key) in enumerate(zip(candidates, keys, strict=True)):
            if i in dup_index:
                continue
            if i in contested_set:
                to_collide.append(len(fresh))
            else:
                to_key.append((len(fresh), key))
            fresh.append(row)
        return fresh, to_key, to_collide, duplicates + len(dup_index), conflicts

    def _taken_keys(self, keys: list[int]) -> dict[int, int]:
        return dict(self._select_in("SELECT key, position FROM event_keys WHERE key", keys))

    def _stored_at(self, positions: list[int]) -> dict[int, tuple[str, bytes]]:
        return {p: (i, payload) for p, i, payload in
                self._select_in("SELECT position, id, payload FROM events WHERE position", positions)}

    def _collided_ids(self, ids: list[str]) -> dict[str, bytes]:
        """Ids stored through `id_collisions`, with their payloads."""
        return dict(self._select_in(
            "SELECT c.id, e.payload FROM id_collisions c JOIN events e ON e.position = c.position WHERE c.id",
            ids))

    def _insert_conflicts(self, conflicts: list[tuple[str, bytes, bytes]]) -> int:
        """Enter conflicts (each id and new content once); returns how many were new."""
        now = now_text()
        cursor = self._con.executemany(
            "INSERT OR IGNORE INTO conflicts (id, stored_hash, new_hash, seen_at, new_payload) VALUES (?, ?, ?, ?, ?)",
            [(i, payload_hash(old), payload_hash(new), now, new) for i, old, new in conflicts],
        )
        return cursor.rowcount

    def _select_in(self, select: str, values: list) -> Iterator[tuple]:
        """Rows of `<select> IN (values)`, asked _MAX_PARAMS values at a time."""
        for chunk in _chunks(values, _MAX_PARAMS):
            yield from self._con.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk)

    def _head_row(self) -> tuple[int, bytes, str]:
        row = self._con.execute(
            "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS, "") if row is None else row

    def append_each(self, rows: Sequence[RawRow | tuple], *, quarantined: Iterable[Poison] = ()) -> AppendResult:
        """`append_raw` one row at a time, for a batch the log refused as a whole: a row
        it refuses on its own (a database constraint, say) is quarantined with the
        reason, so one bad row neither stops the recorder nor holds back the others.
        Transient errors (busy, disk full) are raised as from `append_raw`."""
        poison = list(quarantined)
        appended = duplicates = conflicts = refused = 0
        first = last = None
        for row in rows:
            try:
                result = self.append_raw([row])
            except Exception as exc:
                if is_transient(exc):
                    raise
                poison.append(Poison(f"sales.events.{row[1]}", f"refused by the log: {type(exc).__name__}: {exc}",
                                     row[5]))
                refused += 1
                continue
            appended += result.appended
            duplicates += result.duplicates
            conflicts += result.conflicts
            if result.first_position is not None:
                first = first or result.first_position
                last = result.last_position
        if poison:
            self.quarantine(poison)
        return AppendResult(appended, duplicates, first, last, conflicts, refused)

    def quarantine(self, items: Iterable[Poison]) -> int:
        """Store poison messages (in their own transaction); returns how many."""
        if self.readonly:
            raise PermissionError("this EventLog was opened read-only")
        items = list(items)
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._insert_poison(items)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        return len(items)

    def _insert_poison(self, items: list[Poison]) -> None:
        now = now_text()
        self._con.executemany(
            "INSERT INTO quarantine (received_at, subject, reason, raw) VALUES (?, ?, ?, ?)",
            [
                (now if p.received_at is None else utc_text(p.received_at), p.subject, p.reason,
                 p.raw.encode() if isinstance(p.raw, str) else bytes(p.raw))
                for p in (Poison(*item) for item in items)
            ],
        )

    # --- reading -----------------------------------------------------------------

    _COLUMNS = "position, id, type, occurred_at, recorded_at, source, stream, payload"

    def last_position(self) -> int:
        if not self._has_schema():
            return 0
        row = self._con.execute("SELECT max(position) FROM events").fetchone()
        return row[0] or 0

    def count(self) -> int:
        """Number of events; equals `last_position()` because positions are gap-free
        (the `events_gap_free` trigger), which is O(log n) instead of a table scan."""
        return self.last_position()

    def head(self) -> tuple[int, bytes]:
        """(last position, its hash); (0, 32 zero bytes) for an empty log."""
        if not self._has_schema():
            return 0, GENESIS
        position, digest, _ = self._head_row()
        return position, digest

    def quarantine_count(self) -> int:
        if not self._has_schema():
            return 0
        return self._con.execute("SELECT count(*) FROM quarantine").fetchone()[0]

    def _has_conflicts(self) -> bool:
        """A log of schema 1 not yet opened by a writer of this version has no table."""
        return self._has_schema() and self._con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conflicts'").fetchone() is not None

    def conflict_count(self) -> int:
        if not self._has_conflicts():
            return 0
        return self._con.execute("SELECT count(*) FROM conflicts").fetchone()[0]

    def conflicts(self, *, limit: int = 100) -> list[Conflict]:
        """The most recent conflicts (an id re-sent with other content), newest first."""
        if not self._has_conflicts():
            return []
        rows = self._con.execute(
            "SELECT id, stored_hash, new_hash, seen_at, new_payload FROM conflicts "
            "ORDER BY seen_at DESC, id LIMIT ?", (limit,))
        return [Conflict(i, old, new, parse_utc(at), payload) for i, old, new, at, payload in rows]

    def payloads_of(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored payload of each of `ids` that the log holds (exact ids)."""
        if not self._has_schema() or not ids:
            return {}
        wanted = set(ids)
        keys = {id_key(i): i for i in wanted}
        taken = self._taken_keys(list(keys))
        found = {i: p for i, p in self._stored_at(list(taken.values())).values() if i in wanted}
        missing = [i for i in wanted if i not in found and id_key(i) in taken]
        if missing:  # their key is held by another id: stored through id_collisions, if at all
            found.update(self._collided_ids(missing))
        return found

    def quarantined(self, *, limit: int = 100) -> list[Quarantined]:
        """The most recent poison messages, newest first."""
        if not self._has_schema():
            return []
        rows = self._con.execute(
            "SELECT id, received_at, subject, reason, raw FROM quarantine ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [Quarantined(i, parse_utc(at), s, r, raw) for i, at, s, r, raw in rows]

    def read(
        self, from_position: int = 1, *, batch: int = 1000, until_position: int | None = None
    ) -> Iterator[Recorded]:
        """Events from `from_position` to `until_position` (inclusive; default: the last
        position when the call is made), in position order, `batch` rows at a time."""
        if not self._has_schema():
            return
        end = self.last_position() if until_position is None else until_position
        sql = f"SELECT {self._COLUMNS} FROM events WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?"
        position = max(from_position, 1)
        while position <= end:
            rows = self._con.execute(sql, (position, end, batch)).fetchall()
            if not rows:
                return
            yield from map(_recorded, rows)
            position = rows[-1][0] + 1

    def read_payloads(self, from_position: int, until_position: int) -> list[tuple[int, bytes]]:
        """(position, payload) rows of positions [from, until], in one query: the
        projector's batch read, which decodes the payloads itself."""
        if not self._has_schema():
            return []
        return self._con.execute(
            "SELECT position, payload FROM events WHERE position >= ? AND position <= ? ORDER BY position",
            (from_position, until_position),
        ).fetchall()

    def read_events(
        self, from_position: int = 1, *, batch: int = 1000, until_position: int | None = None
    ) -> Iterator[tuple[int, Event]]:
        """(position, decoded event) pairs: only the payload is fetched and decoded."""
        if not self._has_schema():
            return
        end = self.last_position() if until_position is None else until_position
        sql = "SELECT position, payload FROM events WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?"
        position = max(from_position, 1)
        while position <= end:
            rows = self._con.execute(sql, (position, end, batch)).fetchall()
            if not rows:
                return
            for pos, payload in rows:
                yield pos, decode_event(payload, check_keys=False)
            position = rows[-1][0] + 1

    def read_occurred(
        self, start: datetime, end: datetime, *, batch: int = 1000
    ) -> Iterator[Recorded]:
        """Events whose business time is in [start, end), in (occurred_at, position) order."""
        if not self._has_schema():
            return
        low, high = utc_text(start), utc_text(end)
        sql = (
            f"SELECT {self._COLUMNS} FROM events INDEXED BY events_occurred "
            "WHERE occurred_at < ? AND (occurred_at, position) > (?, ?) "
            "ORDER BY occurred_at, position LIMIT ?"
        )
        after: tuple[str, int] = (low, 0)
        while True:
            rows = self._con.execute(sql, (high, *after, batch)).fetchall()
            if not rows:
                return
            yield from map(_recorded, rows)
            after = (rows[-1][3], rows[-1][0])

    def position_as_of(self, recorded_at: datetime) -> int:
        """The last position recorded at or before `recorded_at` (0 if none).

        Binary search over positions: `recorded_at` never decreases with position.
        """
        if not self._has_schema():
            return 0
        target = utc_text(recorded_at)
        low, high = 0, self.last_position()  # invariant: low is <= target (0 = before all)
        sql = "SELECT recorded_at FROM events WHERE position = ?"
        while low < high:
            mid = (low + high + 1) // 2
            if self._con.execute(sql, (mid,)).fetchone()[0] <= target:
                low = mid
            else:
                high = mid - 1
        return low

    def read_as_of(
        self, recorded_at: datetime, from_position: int = 1, *, batch: int = 1000
    ) -> Iterator[Recorded]:
        """The log as it stood at `recorded_at`: only events recorded at or before it."""
        end = self.position_as_of(recorded_at)
        return self.read(from_position, batch=batch, until_position=end)

    def read_stream(self, key: str, *, batch: int = 1000) -> Iterator[Recorded]:
        """One entity's events (`deal:D1`, `rep:zhang`), in position order."""
        if not self._has_schema():
            return
        sql = (
            f"SELECT {self._COLUMNS} FROM events INDEXED BY events_stream "
            "WHERE stream = ? AND position > ? ORDER BY position LIMIT ?"
        )
        after = 0
        while True:
            rows = self._con.execute(sql, (key, after, batch)).fetchall()
            if not rows:
                return
            yield from map(_recorded, rows)
            after = rows[-1][0]

    # --- selecting: stored rows with their hash, for a reader that checks them -------

    _STORED = f"{_COLUMNS}, hash"

    def rows_before(self, before: datetime, *, until: int) -> list[tuple]:
        """Stored rows (every column and the hash) of every event that occurred before
        `before`, at positions up to `until`, by position."""
        if not self._has_schema():
            return []
        return self._con.execute(
            f"SELECT {self._STORED} FROM events WHERE occurred_at < ? AND position <= ? ORDER BY position",
            (utc_text(before), until),
        ).fetchall()

    def rows_of_types(self, types: Sequence[str], *, before: datetime, until: int) -> list[tuple]:
        """Stored rows (every column and the hash) of the given event types that occurred
        before `before`, at positions up to `until`."""
        if not self._has_schema() or not types:
            return []
        return self._con.execute(
            f"SELECT {self._STORED} FROM events WHERE occurred_at < ? AND position <= ? "
            f"AND type IN ({','.join('?' * len(types))})",
            (utc_text(before), until, *types),
        ).fetchall()

    def rows_of_streams(self, prefix: str, *, until: int) -> list[tuple]:
        """Stored rows of every stream whose key starts with `prefix` (`target:`), at
        positions up to `until`, whenever they occurred (the stream index)."""
        if not self._has_schema():
            return []
        return self._con.execute(
            f"SELECT {self._STORED} FROM events INDEXED BY events_stream WHERE stream >= ? AND stream < ? "
            "AND position <= ?",
            (prefix, _prefix_end(prefix), until),
        ).fetchall()

    def rows_of_streams_active(
        self, prefix: str, start: datetime | None, end: datetime, *, until: int, skip_type: str
    ) -> list[tuple]:
        """Stored rows that occurred before `end`, at positions up to `until`, of every
        stream under `prefix` (`deal:`) with an event in [start, end), leaving out
        `skip_type`. `start=None`: every such stream's rows before `end`.

        The occurred_at index finds the streams, the stream index their whole history."""
        if not self._has_schema():
            return []
        low, high, before = prefix, _prefix_end(prefix), utc_text(end)
        if start is None:
            return self._con.execute(
                f"SELECT {self._STORED} FROM events INDEXED BY events_occurred WHERE occurred_at < ? "
                "AND position <= ? AND stream >= ? AND stream < ? AND type != ?",
                (before, until, low, high, skip_type),
            ).fetchall()
        return self._con.execute(
            f"SELECT {self._STORED} FROM events INDEXED BY events_stream WHERE stream IN ("
            " SELECT stream FROM events INDEXED BY events_occurred WHERE occurred_at >= ? AND occurred_at < ?"
            " AND stream >= ? AND stream < ? AND position <= ?) AND occurred_at < ? AND position <= ? AND type != ?",
            (utc_text(start), before, low, high, until, before, until, skip_type),
        ).fetchall()

    def first_occurred_of_streams_with(
        self, kind: str, start: datetime, end: datetime, *, until: int
    ) -> datetime | None:
        """The earliest occurred_at (positions up to `until`) of the streams that hold an
        event of type `kind` in [start, end); None when none does."""
        if not self._has_schema():
            return None
        row = self._con.execute(
            "SELECT min(e.occurred_at) FROM events e INDEXED BY events_stream WHERE e.stream IN ("
            " SELECT stream FROM events INDEXED BY events_occurred WHERE occurred_at >= ? AND occurred_at < ?"
            " AND type = ? AND position <= ?) AND e.position <= ?",
            (utc_text(start), utc_text(end), kind, until, until),
        ).fetchone()
        return None if row is None or row[0] is None else parse_utc(row[0])

    # --- checking ----------------------------------------------------------------

    def chain_v2_from(self) -> int | None:
        """The first position hashed by chain v2 (`events.chain`), or None for a file
        still at schema 1 (every row v1; the next writer to open it starts v2)."""
        try:
            row = self._con.execute("SELECT from_position FROM chain_versions WHERE version = 2").fetchone()
        except sqlite3.OperationalError:  # no such table: schema 1
            return None
        return None if row is None else row[0]

    def verify(self, *, batch: int = 20_000, anchors: Iterable[Anchor] = ()) -> VerifyResult:
        """Check every stored column of every row from position 1, in bounded memory.

        - positions run 1, 2, ... to the last one, without a gap;
        - each row's hash follows from the one before it (v1 or v2, `events.chain`);
        - under v1, which chains only the id and the payload, each row's payload decodes
          as a valid event whose id, type, occurred_at, source and stream are the row's
          (replay selects rows by these columns); v2 chains them all;
        - `recorded_at` is the log's UTC time text and never goes backwards (v1 does not
          chain it; v2 does);
        - each of `anchors`, a position kept outside the log, is still in it, with the
          same hash when one was kept: a log ending before one was truncated;
        - every event has exactly one idempotency index entry.

        Damage of any kind (a changed column, a TEXT payload, a NULL, bad JSON, missing
        rows) gives a failed result naming the first bad position and why, never an
        exception. `head` is the hash at `checked`, for an outside copy to keep.
        """
        anchors = sorted(a for a in anchors if a.position > 0)
        checked, prev = 0, GENESIS
        try:
            last, v2_from, fault = self._verify_bounds()
            if fault is not None:
                return VerifyResult(False, 0, None, fault)
            pinned = {a.position: a for a in anchors if a.hash is not None}
            sql = f"SELECT {self._COLUMNS}, hash FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?"
            last_recorded = ""
            while checked < last:
                rows = self._con.execute(sql, (checked, last, batch)).fetchall()
                if not rows:
                    break
                for row in rows:
                    position = row[0]
                    if position != checked + 1:
                        return VerifyResult(False, checked, checked + 1, _gap(checked + 1, position), prev)
                    try:
                        v2 = position >= v2_from
                        digest = row_hash(prev, row, v2)
                        fault = _row_fault(row, digest, last_recorded, v2)
                    except (TypeError, AttributeError, ValueError, UnicodeError) as exc:
                        fault = f"{type(exc).__name__}: {exc}"
                    if fault is not None:
                        fault = _column_fault(row) or fault
                        return VerifyResult(False, checked, position, f"{fault} at position {position}", prev)
                    anchor = pinned.get(position)
                    if anchor is not None and anchor.hash != digest:
                        return VerifyResult(False, checked, position, (
                            f"the hash at position {position} is not the one {anchor.seen_by} kept: "
                            f"the log was rewritten at or before position {position}"), prev)
                    prev, last_recorded, checked = digest, row[4], position
            if checked < last:
                return VerifyResult(False, checked, checked + 1, f"positions {checked + 1}..{last} are missing", prev)
            if anchors and anchors[-1].position > last:
                seen = anchors[-1]
                return VerifyResult(False, checked, last + 1, (
                    f"the log ends at position {last}, but {seen.seen_by} saw position {seen.position}: "
                    f"positions {last + 1}..{seen.position} are missing (a truncated tail)"), prev)
            fault, position = self._index_fault(checked)
            if fault is not None:
                return VerifyResult(False, checked, position, fault, prev)
        except sqlite3.DatabaseError as exc:
            return VerifyResult(False, checked, checked + 1,
                                f"the log cannot be read after position {checked}: {exc}", prev)
        return VerifyResult(True, checked, None, "ok", prev)

    def verify_links(self, rows: Sequence[tuple]) -> VerifyResult:
        """Check the hash chain at each of `rows` and at the row after each: what `verify`
        would find wrong with those rows' hashes, at a cost proportional to the rows
        rather than to the log (a replay checks what it is about to use).

        `rows` are stored rows with their hash, as the `rows_*` readers give them. Each
        must hash, from its predecessor's stored hash, to its own stored hash, and its
        successor's stored hash must follow from it: changing a row, with or without
        recomputing its hash, breaks one of these two links. Chain v2 rows bind every
        column, so there a changed type, stream or occurred_at breaks a link too; a v1
        row's other columns are compared with its payload by `verify` only. A failed
        result names the first bad position; `checked` counts the links found intact.
        """
        _, v2_from, fault = self._verify_bounds()
        if fault is not None:
            return VerifyResult(False, 0, None, fault)
        have = {row[0]: row for row in rows}
        linked = sorted(have.keys() | {p + 1 for p in have})
        missing = sorted((set(linked) | {p - 1 for p in have}) - have.keys() - {0})
        for row in self._select_in(f"SELECT {self._STORED} FROM events WHERE position", missing):
            have[row[0]] = row
        checked = 0
        for position in linked:
            row = have.get(position)
            if row is None:
                continue  # the successor of the last event: nothing to link
            before = have.get(position - 1)
            prev = GENESIS if position == 1 else None if before is None else before[8]
            try:
                intact = prev is not None and row_hash(prev, row, position >= v2_from) == row[8]
            except (TypeError, AttributeError, UnicodeError):  # a NULL or a TEXT payload
                intact = False
            if not intact:
                why = (
                    f"position {position - 1} is missing"
                    if before is None and position > 1
                    else (_column_fault(row) or "hash mismatch")
                )
                return VerifyResult(False, checked, position, f"{why} at position {position}")
            checked += 1
        return VerifyResult(True, checked, None, "ok")

    def _verify_bounds(self) -> tuple[int, int, str | None]:
        """(last position, first v2 position, a fault of the chain's version table)."""
        if not self._has_schema():
            return 0, 1, None
        with self._lock:  # one snapshot, should a writer upgrade the schema meanwhile
            self._con.execute("BEGIN")
            try:
                last = self.last_position()
                v2_from = self.chain_v2_from()
                schema = self._con.execute("PRAGMA user_version").fetchone()[0]
            finally:
                self._con.execute("COMMIT")
        if v2_from is None:
            if schema >= 2:
                return last, 1, "chain_versions has lost the position where chain v2 starts"
            return last, last + 1, None
        if type(v2_from) is not int or v2_from < 1:
            return last, 1, f"chain_versions says chain v2 starts at {v2_from!r}, not a position"
        return last, v2_from, None

    def _index_fault(self, checked: int) -> tuple[str | None, int | None]:
        """Every position up to `checked` has exactly one idempotency index entry; else
        (why, the first position without exactly one)."""
        if checked == 0:  # perhaps no schema yet: nothing to index
            return None, None
        # Bounded by position: the writer may have appended since the chain was read.
        indexed = self._con.execute(
            "SELECT (SELECT count(*) FROM event_keys WHERE position <= ?1)"
            " + (SELECT count(*) FROM id_collisions WHERE position <= ?1)",
            (checked,),
        ).fetchone()[0]
        if indexed == checked:
            return None, None
        entries = self._con.execute(
            "SELECT position FROM event_keys WHERE position <= ?1"
            " UNION ALL SELECT position FROM id_collisions WHERE position <= ?1 ORDER BY 1",
            (checked,),
        )
        expected = 1
        for (position,) in entries:
            if position != expected:
                break
            expected += 1
        return f"idempotency index has {indexed} entries for {checked} events (first wrong at position {expected})", expected


_SQL_TYPES = {type(None): "NULL", int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}
_COLUMN_TYPES = (
    ("position", int), ("id", str), ("type", str), ("occurred_at", str), ("recorded_at", str),
    ("source", str), ("stream", str), ("payload", bytes), ("hash", bytes),
)
_DERIVED = ("id", "type", "occurred_at", "source", "stream")


def _gap(expected: int, position: object) -> str:
    if type(position) is not int:
        return f"position {position!r} is not an integer where {expected} should be"
    if position > expected:
        return f"position {expected} is missing (next is {position})"
    return f"position {position} is stored twice"


def _row_fault(row: tuple, digest: bytes, last_recorded: str, v2: bool) -> str | None:
    """Why the row at hand is wrong, given its recomputed hash; None when it is right.

    A v2 hash covers every column, so a v2 row is not decoded unless its hash is wrong
    (then only to say why); a v1 row's unchained columns are compared with its payload.
    """
    if digest != row[8]:
        why = _payload_fault(row)
        return "hash mismatch" if why is None else f"hash mismatch ({why})"
    recorded = row[4]
    if recorded < last_recorded:
        return "recorded_at goes backwards"
    if len(recorded) != TIME_WIDTH or recorded[-1] != "Z":
        return f"recorded_at {recorded!r} is not the log's UTC time text"
    return None if v2 else _payload_fault(row)


def _payload_fault(row: tuple) -> str | None:
    """The payload is not a valid event, or a column is not the payload's copy of it."""
    try:
        event = decode_event(row[7])
    except ContractError as exc:
        return f"payload is not a valid event: {exc}"
    derived = (event.id, event_type(event), utc_text(event.occurred_at), event.source, stream_key(event))
    stored = (row[1], row[2], row[3], row[5], row[6])
    for name, want, got in zip(_DERIVED, derived, stored, strict=True):
        if want != got:
            return f"{name} {got!r} is not its payload's {want!r}"
    return None


def _column_fault(row: tuple) -> str | None:
    """A column of the wrong storage class (NULL, TEXT for a BLOB, ...), if any."""
    for (name, kind), value in zip(_COLUMN_TYPES, row, strict=True):
        if type(value) is not kind:
            sql_type = _SQL_TYPES.get(type(value), type(value).__name__)
            return f"{name} is {sql_type}, not {_SQL_TYPES[kind]}"
    if len(row[8]) != 32:
        return f"hash is {len(row[8])} bytes, not 32"
    return None


def _prefix_end(prefix: str) -> str:
    """The least text after every text that starts with `prefix` (`target:` -> `target;`):
    a prefix as a range the stream index can scan."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _recorded(row: tuple) -> Recorded:
    position, event_id, kind, occurred, recorded, source, stream, payload = row
    return Recorded(position, event_id, kind, parse_utc(occurred), parse_utc(recorded), source, stream, payload)


_MAX_VARIABLES = 32_766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32


def _insert_values(con: sqlite3.Connection, insert: str, width: int, values: list) -> None:
    """INSERT rows, given as one flat list of their `width` columns each, with one
    multi-row `VALUES (...), (...)` statement per ~32k parameters.

    Not `executemany`: it releases and re-takes the GIL around every row's sqlite3_step,
    so a writer thread waits for any busy thread at each row (a GIL convoy: measured
    164 rows/s beside a busy thread, 46,000 alone). One statement for many rows is one
    GIL release for all of SQLite's work on them, and faster even alone (52,000 rows/s).
    """
    per = (_MAX_VARIABLES // width) * width
    one = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(values), per):
        chunk = values[start:start + per]
        con.execute(insert + ",".join([one] * (len(chunk) // width)), chunk)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _statements(script: str) -> list[str]:
    """Split the DDL into statements (`executescript` would COMMIT our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements


__all__ = [
    "LOG_FILE", "log_path",
    "Anchor", "AppendResult", "Conflict", "EventLog", "LogNotFound", "Poison", "Quarantined", "RawRow",
    "Recorded", "VerifyResult", "is_transient", "payload_hash", "raw_row",
]
