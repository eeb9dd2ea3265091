"""Append and verify throughput of the event log (events.log), printed, never asserted.

    .venv/bin/python bench/log_append.py [--events 1000000] [--batches 500,5000]
        [--synchronous FULL] [--compare-unique] [--dir DIR]

Events are `deal.*` canonical events with random-looking 40-character text ids (what
CRMs send), ~200-byte payloads, 50,000 deals, occurred_at moving forward with jitter.
Only the `append` calls are timed: building the events is not the log's cost. Rates
are also shown per 100,000 rows, because random-key indexes slow down as they grow.

`--compare-unique` also times the alternative the log does not use (a UNIQUE index on
the id text, same pragmas and batch size, raw SQL with the same hashing and lookups),
so the choice in events/log.py's docstring can be re-measured on any machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from events.chain import GENESIS, chain_hash_v2, now_text  # noqa: E402
from events.log import CACHE_KIB, EventLog, raw_row  # noqa: E402
from schemas.events import DealCreated, DealCreatedData, DealWon, DealWonData  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_batch(rnd: random.Random, start: int, size: int) -> list:
    out = []
    for i in range(start, start + size):
        event_id = f"crm-{rnd.getrandbits(128):032x}-{i % 1000:03d}"
        deal = f"D-{rnd.randrange(50_000):05d}"
        at = T0 + timedelta(seconds=i * 3 + rnd.randrange(600))
        if rnd.random() < 0.5:
            out.append(DealCreated(
                id=event_id, occurred_at=at, source="dingtalk-crm",
                data=DealCreatedData(deal_id=deal, rep_id=f"rep{rnd.randrange(300)}", customer_id=f"C{rnd.randrange(20_000)}",
                                     product_line="A", amount=Decimal(rnd.randrange(1, 10**8)) / 100),
            ))
        else:
            out.append(DealWon(id=event_id, occurred_at=at, source="dingtalk-crm",
                               data=DealWonData(deal_id=deal, amount=Decimal(rnd.randrange(1, 10**8)) / 100)))
    return out


def bench_append(path: Path, total: int, batch: int, synchronous: str) -> float:
    rnd = random.Random(7)
    spent = 0.0
    window = 0.0
    with EventLog(path, synchronous=synchronous) as log:
        for start in range(0, total, batch):
            events = make_batch(rnd, start, min(batch, total - start))
            began = time.perf_counter()
            log.append(events)
            took = time.perf_counter() - began
            spent += took
            window += took
            done = start + len(events)
            if done % 100_000 == 0:
                print(f"    {done:>9,} rows: {100_000 / window:>9,.0f} rows/s over the last 100k", flush=True)
                window = 0.0
    rate = total / spent
    print(f"  append, batches of {batch:,}: {rate:,.0f} rows/s ({spent:.1f} s for {total:,})", flush=True)
    return rate


def bench_verify(path: Path) -> float:
    with EventLog(path, readonly=True) as log:
        began = time.perf_counter()
        result = log.verify()
        took = time.perf_counter() - began
    rate = result.checked / took
    print(f"  verify: {rate:,.0f} rows/s ({result.checked:,} rows in {took:.2f} s, ok={result.ok})", flush=True)
    return rate


def bench_unique_text(path: Path, total: int, batch: int, synchronous: str) -> float:
    """The rejected alternative: the id text itself under a UNIQUE index."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute(f"PRAGMA synchronous = {synchronous}")
    con.execute("PRAGMA wal_autocheckpoint = 16384")
    con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    con.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT, occurred_at TEXT,"
        " recorded_at TEXT, source TEXT, stream TEXT, payload BLOB, hash BLOB)"
    )
    con.execute("CREATE INDEX events_stream ON events (stream)")
    con.execute("CREATE INDEX events_occurred ON events (occurred_at)")
    rnd = random.Random(7)
    spent, position, prev = 0.0, 0, GENESIS
    for start in range(0, total, batch):
        rows = [raw_row(e) for e in make_batch(rnd, start, min(batch, total - start))]
        began = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        ids = [r.id for r in rows]
        con.execute(f"SELECT id FROM events WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
        recorded = now_text()
        stored = []
        for r in rows:
            position += 1
            prev = chain_hash_v2(prev, position, r.id, r.type, r.occurred_at, recorded, r.source, r.stream, r.payload)
            stored.append((position, r.id, r.type, r.occurred_at, recorded, r.source, r.stream, r.payload, prev))
        con.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", stored)
        con.execute("COMMIT")
        spent += time.perf_counter() - began
    con.close()
    rate = total / spent
    print(f"  [comparison] UNIQUE text id index, batches of {batch:,}: {rate:,.0f} rows/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", default="500,5000")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--compare-unique", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files (default: a temp dir)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="log-bench-", dir=args.dir))
    print(f"event log bench: {args.events:,} events, synchronous={args.synchronous}, "
          f"sqlite {sqlite3.sqlite_version}", flush=True)
    try:
        for batch in (int(b) for b in args.batches.split(",")):
            path = folder / f"log-{batch}.sqlite"
            bench_append(path, args.events, batch, args.synchronous)
            bench_verify(path)
            if args.compare_unique:
                bench_unique_text(folder / f"unique-{batch}.sqlite", args.events, batch, args.synchronous)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
