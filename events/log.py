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

from events.chain import GENESIS, chain_hash, id_key, now_text, parse_utc, utc_text
from events.schema import DDL, SCHEMA_VERSION
from schemas.events import Event, decode_event, encode_event, event_type, stream_key

CACHE_KIB = 256 * 1024
BUSY_TIMEOUT_MS = 10_000
AUTOCHECKPOINT_PAGES = 16_384
_MAX_PARAMS = 500  # ids per IN (...) probe


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
        return decode_event(self.payload)


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


class VerifyResult(NamedTuple):
    ok: bool
    checked: int
    first_bad_position: int | None
    reason: str


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
        and quarantine poison messages, all in one transaction."""
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
                fresh, to_key, to_collide, duplicates = self._new_rows(rows)
                result = AppendResult(len(fresh), duplicates, None, None)
                if fresh:
                    last, prev, last_recorded = self._head_row()
                    recorded = max(now_text(), last_recorded)
                    values: list = []  # the rows' columns in one flat list (_insert_rows)
                    extend = values.extend
                    position = last
                    for row in fresh:
                        position += 1
                        prev = chain_hash(prev, position, row[0], row[5])
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
                    result = AppendResult(len(fresh), duplicates, first, position)
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
        [index in fresh] for `id_collisions`, number of duplicates).
        """
        unique: dict[str, tuple] = {}
        for row in rows:
            unique.setdefault(row[0], row)
        duplicates = len(rows) - len(unique)
        candidates = list(unique.values())
        keys = [id_key(row[0]) for row in candidates]
        taken = self._taken_keys(keys)  # key -> position of the stored id holding it
        if not taken and len(set(keys)) == len(keys):  # the usual batch: all new, no clash
            return candidates, list(enumerate(keys)), [], duplicates
        stored_ids: dict[int, str] = {}
        if taken:
            stored_ids = self._ids_at(list(taken.values()))
        # Ids whose key is held by *another* id (stored, or earlier in this batch) must
        # be checked, and stored, by their full text.
        contested: list[int] = []
        batch_keys: set[int] = set()
        dup_index: set[int] = set()
        for i, (row, key) in enumerate(zip(candidates, keys, strict=True)):
            if key in taken:
                if stored_ids[taken[key]] == row[0]:
                    dup_index.add(i)
                else:
                    contested.append(i)
            elif key in batch_keys:
                contested.append(i)
            else:
                batch_keys.add(key)
        if contested:
            known = self._collided_ids([candidates[i][0] for i in contested])
            dup_index.update(i for i in contested if candidates[i][0] in known)
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
        return fresh, to_key, to_collide, duplicates + len(dup_index)

    def _taken_keys(self, keys: list[int]) -> dict[int, int]:
        return dict(self._select_in("SELECT key, position FROM event_keys WHERE key", keys))

    def _ids_at(self, positions: list[int]) -> dict[int, str]:
        return dict(self._select_in("SELECT position, id FROM events WHERE position", positions))

    def _collided_ids(self, ids: list[str]) -> set[str]:
        return {row[0] for row in self._select_in("SELECT id FROM id_collisions WHERE id", ids)}

    def _select_in(self, select: str, values: list) -> Iterator[tuple]:
        """Rows of `<select> IN (values)`, asked _MAX_PARAMS values at a time."""
        for chunk in _chunks(values, _MAX_PARAMS):
            yield from self._con.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk)

    def _head_row(self) -> tuple[int, bytes, str]:
        row = self._con.execute(
            "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS, "") if row is None else row

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
                yield pos, decode_event(payload)
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

    # --- checking ----------------------------------------------------------------

    def verify(self, *, batch: int = 20_000) -> VerifyResult:
        """Recompute the hash chain from position 1, in bounded memory.

        Also checks that positions are gap-free, that `recorded_at` never decreases,
        and that every event has exactly one idempotency index entry.
        """
        if not self._has_schema():
            return VerifyResult(True, 0, None, "empty log")
        sql = "SELECT position, id, payload, hash, recorded_at FROM events WHERE position > ? ORDER BY position LIMIT ?"
        sha256 = hashlib.sha256
        prev = GENESIS
        expected = 1
        last_recorded = ""
        checked = 0
        while True:
            rows = self._con.execute(sql, (expected - 1, batch)).fetchall()
            if not rows:
                break
            for position, event_id, payload, digest, recorded in rows:
                if position != expected:
                    return VerifyResult(False, checked, expected, f"position {expected} is missing (next is {position})")
                prev = sha256(
                    b"".join((prev, position.to_bytes(8, "big"), event_id.encode(), b"\x00", payload))
                ).digest()
                if prev != digest:
                    return VerifyResult(False, checked, position, f"hash mismatch at position {position}")
                if recorded < last_recorded:
                    return VerifyResult(False, checked, position, f"recorded_at goes backwards at position {position}")
                last_recorded = recorded
                expected += 1
                checked += 1
        # Bounded by position: the writer may have appended since the chain was read.
        indexed = self._con.execute(
            "SELECT (SELECT count(*) FROM event_keys WHERE position <= ?1)"
            " + (SELECT count(*) FROM id_collisions WHERE position <= ?1)",
            (checked,),
        ).fetchone()[0]
        if indexed != checked:
            return VerifyResult(
                False, checked, None, f"idempotency index has {indexed} entries for {checked} events"
            )
        return VerifyResult(True, checked, None, "ok")


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
    "AppendResult", "EventLog", "LogNotFound", "Poison", "Quarantined", "RawRow", "Recorded",
    "VerifyResult", "raw_row",
]
