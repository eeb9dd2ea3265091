"""`quotaboard verify` over a data folder: the log's own checks, and what is kept outside it.

The hash chain shows that no row was changed in place, but a log cut after any row is
still a valid chain: with the triggers dropped, deleting the last rows passed `verify`.
Nor can a chain show that it was recomputed after an edit. So `verify` also holds the
log against two positions kept outside it (`events.log.Anchor`):

- the projector's checkpoint (the read store's `meta.position`): the read models have
  folded every event up to it, so the log cannot end before it;
- the last verified head, `<data>/verified-head.json`: the position and hash of the last
  event a successful `verify` checked. The log must still hold that position with that
  hash: a log ending before it was truncated, another hash means a rewritten chain.
  Every successful `verify` moves it to the log's head.

Both sit in the data folder beside the log, so whoever can rewrite the log and these
files together is not caught by them: an auditor who wants that keeps the head that
`verify --json` prints somewhere else, and compares.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from events.log import Anchor, EventLog, VerifyResult

HEAD_FILE = "verified-head.json"


def head_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / HEAD_FILE


def projector_position(data_dir: Path | str) -> int | None:
    """The read models' checkpoint, or None while no projector has written any."""
    from services.project.readstore import ReadStore

    try:
        store = ReadStore.open_current(data_dir)
    except (sqlite3.DatabaseError, OSError):  # a store being swapped in: no checkpoint to hold
        return None
    if store is None:
        return None
    with store:
        return store.position()


def read_head(data_dir: Path | str) -> Anchor | str | None:
    """The last verified head; None when no `verify` has passed here yet; a sentence
    when the file is there but is not a verified head (it is damage too)."""
    path = head_path(data_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        position, digest = doc["position"], bytes.fromhex(doc["hash"])
        if type(position) is not int or position < 0 or len(digest) != 32:
            raise ValueError("not a position and a 32-byte hash")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path} is not a verified head ({exc}); move it away to verify without it"
    return Anchor(position, digest, f"the verify of {doc.get('verified_at', 'an unknown time')}")


def anchors(data_dir: Path | str) -> tuple[list[Anchor], str | None]:
    """The positions kept outside the log, and why the head file is unreadable (if so)."""
    found: list[Anchor] = []
    head = read_head(data_dir)
    if isinstance(head, Anchor):
        found.append(head)
    projected = projector_position(data_dir)
    if projected:
        found.append(Anchor(projected, None, "the projector"))
    return found, head if isinstance(head, str) else None


def record_head(data_dir: Path | str, position: int, digest: bytes) -> None:
    """Write the verified head atomically (a crash leaves the old one or the new one)."""
    path = head_path(data_dir)
    tmp = path.with_name(path.name + ".tmp")
    doc = {
        "position": position,
        "hash": digest.hex(),
        "verified_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def verify_data(data_dir: Path | str, log_file: Path) -> VerifyResult:
    """Verify the log against the anchors; on success, record its head as verified."""
    kept, unreadable = anchors(data_dir)
    if unreadable is not None:
        return VerifyResult(False, 0, None, unreadable)
    try:
        event_log = EventLog(log_file, readonly=True)
    except sqlite3.DatabaseError as exc:  # not a database at all: opening reads its header
        return VerifyResult(False, 0, None, f"the log cannot be read: {exc}")
    with event_log:
        result = event_log.verify(anchors=kept)
    if result.ok and result.checked:
        try:
            record_head(data_dir, result.checked, result.head)
        except OSError:
            pass  # a read-only data folder: the check stands, the head stays where it was
    return result
