"""The pure parts of the log: the hash chain, the idempotency key, and the time format.

Kept apart from the SQLite code so that `verify`, the tests and any outside auditor can
recompute a chain from exported rows with nothing but hashlib.

The chain
---------
    hash(p) = sha256( hash(p-1) || p as 8-byte big-endian || id (UTF-8) || 0x00 || payload )
    hash(0) = 32 zero bytes

- `p` is bound in, so a row cannot be moved to another position, and a deleted row
  breaks every hash after it.
- The id is bound in, and the 0x00 separator keeps id and payload from sliding into
  each other (an id never contains 0x00: the contract forbids control characters).
- The payload is the canonical bytes of `schemas.events.encode_event`: what was
  published, stored and is replayed. The columns `type`, `occurred_at`, `source` and
  `stream` are derived from it for indexing and are not chained on their own;
  `recorded_at` is our clock, not the source's, and is not chained either.

Times
-----
Stored as fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.ffffffZ` (27 characters), so that
text order is time order and SQLite indexes can range-scan them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

GENESIS = bytes(32)
TIME_WIDTH = 27
_sha256 = hashlib.sha256
_blake2b = hashlib.blake2b


def chain_hash(prev: bytes, position: int, event_id: str, payload: bytes) -> bytes:
    """The hash of the row at `position`, given the hash of the row before it."""
    return _sha256(
        b"".join((prev, position.to_bytes(8, "big"), event_id.encode(), b"\x00", payload))
    ).digest()


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
