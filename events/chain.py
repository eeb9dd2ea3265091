"""The pure parts of the log: the hash chain, the idempotency key, and the time format.

Kept apart from the SQLite code so that `verify`, the tests and any outside auditor can
recompute a chain from exported rows with nothing but hashlib.

The chain
---------
Every row is hashed with the hash of the row before it, so changing, inserting or
deleting a row breaks every hash after it. Two versions, told apart per position by
the log's `chain_versions` table (the first position written by each version):

v1, the rows written before the log's schema 2:

    hash(p) = sha256( hash(p-1) || p as 8-byte big-endian || id (UTF-8) || 0x00 || payload )

v2, every row since:

    hash(p) = sha256( hash(p-1) || 0x02 || p as 8-byte big-endian
                      || the byte lengths of id, type, occurred_at, recorded_at, source,
                         stream, each 4-byte big-endian
                      || those six columns (UTF-8) || payload )

    hash(0) = 32 zero bytes

- `p` is bound in, so a row cannot be moved to another position.
- v1 binds the id and the payload (the 0x00 keeps them from sliding into each other: an
  id never contains 0x00). Its other columns are copies of fields of the payload
  (`type`, `occurred_at`, `source`, `stream`), which `verify` compares with it, and
  `recorded_at`, our clock, which v1 leaves unchained: `verify` can only check that it
  never goes backwards.
- v2 binds every stored column, length-prefixed, so no column's bytes can slide into the
  next. Its 0x02 sits where v1 has the top byte of `p` (0x00 below 2^56 positions), so a
  v2 preimage is never a v1 one.
- The payload is the canonical bytes of `schemas.events.encode_event`: what was
  published, stored and is replayed.

Times
-----
Stored as fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.ffffffZ` (27 characters), so that
text order is time order and SQLite indexes can range-scan them.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

GENESIS = bytes(32)
TIME_WIDTH = 27
_sha256 = hashlib.sha256
_blake2b = hashlib.blake2b
_v2_head = struct.Struct(">cQ6I").pack


def chain_hash(prev: bytes, position: int, event_id: str, payload: bytes) -> bytes:
    """The v1 hash of the row at `position`, given the hash of the row before it."""
    return _sha256(
        b"".join((prev, position.to_bytes(8, "big"), event_id.encode(), b"\x00", payload))
    ).digest()


def chain_hash_v2(
    prev: bytes, position: int, event_id: str, kind: str, occurred_at: str, recorded_at: str,
    source: str, stream: str, payload: bytes,
) -> bytes:
    """The v2 hash of the row at `position`: every stored column, given the hash before it."""
    i, t, o, r, s, k = (event_id.encode(), kind.encode(), occurred_at.encode(), recorded_at.encode(),
                        source.encode(), stream.encode())
    head = _v2_head(b"\x02", position, len(i), len(t), len(o), len(r), len(s), len(k))
    return _sha256(b"".join((prev, head, i, t, o, r, s, k, payload))).digest()


def row_hash(prev: bytes, row: tuple, v2: bool) -> bytes:
    """The hash of a row as stored: (position, id, type, occurred_at, recorded_at, source,
    stream, payload, ...), the `events` table's column order, under v2 or v1."""
    if v2:
        return chain_hash_v2(prev, *row[:8])
    return chain_hash(prev, row[0], row[1], row[7])


def id_key(event_id: str) -> int:
    """The idempotency index's key: the first 64 bits of BLAKE2b(id), as a signed int.

    Signed so that it fits SQLite's INTEGER PRIMARY KEY. Two different ids may share a
    key (about 1 in 3.7e7 for a billion ids); the log resolves that by comparing the
    real ids, so the key is only ever a fast filter, never the truth.
    """
    return int.from_bytes(_blake2b(event_id.encode(), digest_size=8).digest(), "big", signed=True)


def utc_text(moment: datetime) -> str:
    """A timezone-aware datetime as the log's fixed-width UTC text.

    Formatted with `%` rather than `isoformat`/`strftime` or an f-string: it runs once per appended
    event, and `isoformat(timespec=...)` costs ~3.4 us here against ~1.1 us. Years
    before 1000 are refused (they would not be fixed-width)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:
        raise ValueError(f"time out of range for the log: {moment!r}")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - 1.4 us; the f-string 2.5
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond)


def parse_utc(text: str) -> datetime:
    """The log's time text back to an aware UTC datetime."""
    return datetime.fromisoformat(text)


def now_text() -> str:
    return utc_text(datetime.now(UTC))
