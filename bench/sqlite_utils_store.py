"""Why the read store writes with sqlite3 and not sqlite-utils: the same documents, the
same table, written both ways (docs/decisions.md, "sqlite-utils").

    pip install sqlite-utils && python bench/sqlite_utils_store.py [--docs 20000]

Prints seconds per write for a live commit (200 documents, one transaction each, as the
projector commits) and for a rebuild (every document in one transaction).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlite_utils

from services.project.readstore import ReadStore


def documents(n: int, size: int) -> list[tuple[str, str, str, bytes]]:
    body = b'{"x":"' + b"7" * size + b'"}'
    return [("statement", f"2026-{1 + i % 12:02d}", f"r{i:06d}", body) for i in range(n)]


def ours(path: Path, docs, chunk: int) -> float:
    store = ReadStore(path, writer=True)
    started = time.perf_counter()
    for i in range(0, len(docs), chunk):
        store.write(docs[i : i + chunk], i + chunk)
    store.close()
    return time.perf_counter() - started


def theirs(path: Path, docs, chunk: int) -> float:
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    docs_table = db.table("docs")
    docs_table.create({"kind": str, "period": str, "key": str, "doc": bytes}, pk=("kind", "period", "key"))
    meta = db.table("meta")
    meta.create({"key": str, "value": str}, pk="key")
    rows = [{"kind": k, "period": p, "key": r, "doc": d} for k, p, r, d in docs]
    started = time.perf_counter()
    for i in range(0, len(rows), chunk):
        with db.conn:
            docs_table.upsert_all(rows[i : i + chunk], pk=("kind", "period", "key"))
            meta.upsert({"key": "position", "value": str(i + chunk)}, pk="key")
    db.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=8_000, help="bytes per document")
    args = parser.parse_args()
    docs = documents(args.docs, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        for label, chunk in (("live commits of 200", 200), ("one rebuild transaction", len(docs))):
            a = ours(Path(tmp) / f"ours-{chunk}.sqlite", docs, chunk)
            b = theirs(Path(tmp) / f"theirs-{chunk}.sqlite", docs, chunk)
            print(f"{label:>24}: sqlite3 {a:6.2f} s   sqlite-utils {b:6.2f} s   ({b / a:.1f}x)")
            for name in os.listdir(tmp):
                os.unlink(Path(tmp) / name)


if __name__ == "__main__":
    main()
