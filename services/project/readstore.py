"""The read-model store: JSON documents the projector writes and the CLI and TUI read, as\nthe Structs of schemas/read_models.py.

Why documents: every figure a reader shows (standings, funnel, a rep's statement) is
computed by the pure fold in projections/; the store only keeps the finished JSON of
each (kind, period, key) so readers never recompute and never disagree with `--json`.

Why a separate SQLite file per build, behind a `CURRENT` pointer: `rebuild` fills a
fresh file from position 1 while the live projector keeps serving the old one, then
swaps the pointer with an atomic rename. Readers open whatever `CURRENT` names, so
they see either the old figures or the new ones, never a mixture. An interrupted
rebuild leaves a stray file and the live store untouched.

The checkpoint (`meta.position`) is written in the same transaction as the documents
it covers, so after a crash the figures and the checkpoint always agree.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from schemas.read_models import (
    KINDS,
    Diagnosis,
    Frozen,
    Funnel,
    Publication,
    Scorecard,
    Standings,
    Statement,
    Unmatched,
    Weekly,
    statement_of,
)
from services.config import create_private

POINTER = "CURRENT"
PAGE_SIZE = 65_536
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, period TEXT NOT NULL, key TEXT NOT NULL, doc BLOB NOT NULL,
    UNIQUE (kind, period, key)
);
"""
# `docs` is a rowid table on purpose: WITHOUT ROWID stores whole rows in the key's b-tree,
# which SQLite advises against for rows over ~1/20 of a page. With documents of tens of
# KiB, the rowid table fills 35% fewer pages (165 MB against 253 MB for a 1M-event
# rebuild), writes them in half the time and reads a document ~30% faster.

Doc = tuple[str, str, str, bytes]  # kind, period, key, JSON bytes

_encode = msgspec.json.Encoder().encode
_decoders = {kind: msgspec.json.Decoder(struct) for kind, struct in KINDS.items()}


def encode_doc(doc: object) -> bytes:
    return _encode(doc)


def store_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "readmodels"


def current_path(data_dir: Path | str) -> Path | None:
    """The store file the pointer names, or None before the first projection."""
    pointer = store_dir(data_dir) / POINTER
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    return store_dir(data_dir) / name if name else None


def new_store_path(data_dir: Path | str) -> Path:
    folder = store_dir(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"readmodels-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.sqlite"


def swap_current(data_dir: Path | str, path: Path) -> None:
    """Point readers at `path`, atomically (write a temp file, fsync, rename)."""
    folder = store_dir(data_dir)
    tmp = folder / f".{POINTER}.{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(path.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / POINTER)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ReadStore:
    """One read-model file. `writer=True` for the projector or a rebuild, else read-only."""

    def __init__(self, path: Path | str, *, writer: bool = False, bulk: bool = False) -> None:
        """`bulk=True` (a rebuild's fresh file, not yet named by the pointer): no journal
        while it is filled, then `finish_bulk` makes it a WAL file and syncs it. A crash
        meanwhile leaves only a stray file, which readers never open."""
        self.path = Path(path)
        self._bulk = False
        if writer:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            create_private(self.path)  # statements are pay: the owner's only
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # Documents are tens of KiB: large pages keep them off long overflow chains
            # (only takes effect in a new, empty file).
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            if bulk and self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                self._bulk = True
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        else:
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=5000")

    @classmethod
    def open_current(cls, data_dir: Path | str) -> ReadStore | None:
        path = current_path(data_dir)
        if path is None or not path.exists():
            return None
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def finish_bulk(self) -> None:
        """End a bulk fill: the file becomes an ordinary WAL store, synced to disk."""
        if not self._bulk:
            return
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._bulk = False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> ReadStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------

    def write(self, docs: Iterable[Doc], position: int, meta: dict[str, str] | None = None) -> None:
        """Upsert documents and move the checkpoint, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO docs (kind, period, key, doc) VALUES (?, ?, ?, ?)", docs
            )
            items = {"position": str(position), **(meta or {})}
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", items.items())
            db.execute("COMMIT")
        except BaseException:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                if not self._bulk:  # without a journal the file is discarded anyway
                    raise
            raise

    def set_meta(self, key: str, value: str) -> None:
        """One meta entry alone (the projector's state); documents and checkpoint stay."""
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- reading -----------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every SELECT inside sees the same commit. The connection is
        in autocommit mode (isolation_level=None, so that `write` controls its own
        transaction), where each SELECT would otherwise see the latest commit of its own."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    def position(self) -> int:
        value = self.meta("position")
        return int(value) if value else 0

    def doc(self, kind: str, period: str = "", key: str = ""):
        """A document as readers see it, decoded into its Struct (schemas/read_models.py);
        a document's `position` is the store's checkpoint.

        A document is rewritten only when its figures change, so the position stored
        inside it can be older than the checkpoint; the figures are the same at the
        checkpoint, which is the position a reader should be told.
        """
        with self.snapshot():  # document and checkpoint agree
            row = self._db.execute(
                "SELECT doc FROM docs WHERE kind = ? AND period = ? AND key = ?",
                (kind, period, key),
            ).fetchone()
            if row is None:
                return None
            doc = _decoders[kind].decode(row[0])
            if hasattr(doc, "position"):
                doc.position = self.position()
        return doc

    def periods(self, kind: str = "standings") -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT period FROM docs WHERE kind = ? ORDER BY period", (kind,)
        )
        return [r[0] for r in rows]

    def standings(self, period: str) -> Standings | None:
        return self.doc("standings", period)

    def funnel(self, period: str) -> Funnel | None:
        return self.doc("funnel", period)

    def scorecard(self, period: str) -> Scorecard | None:
        return self.doc("scorecard", period)

    def diagnosis(self, period: str) -> Diagnosis | None:
        return self.doc("diagnosis", period)

    def weekly(self, period: str) -> Weekly | None:
        return self.doc("weekly", period)

    def statement(self, period: str, rep_id: str) -> Statement | None:
        """A rep's statement: the stored lists (deals, activities, weekly bookings) in the
        rep's entry of the period's standings, which every batch touching the period
        rewrites, so a team or rank award earned through other reps' deals shows here at
        once. None when the rep has no entry in the period.
        """
        with self.snapshot():  # the parts and the entry of one commit
            parts = self.doc("statement", period, rep_id)
            standings = self.doc("standings", period)
        entry = standings.reps.get(rep_id) if standings is not None else None
        if parts is None or entry is None:
            return None
        return statement_of(parts, standings, entry)

    def unmatched(self) -> Unmatched | None:
        return self.doc("unmatched")

    def publication(self) -> Publication | None:
        """Every published month's objections and payout (Projection.publication)."""
        return self.doc("publication")

    def frozen(self, period: str) -> Frozen | None:
        return self.doc("frozen", period)
