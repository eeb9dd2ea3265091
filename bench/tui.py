"""Time to refresh the leaderboard with 1,000 reps after a change notice (goal <= 100 ms).

A real read-model store (SQLite, documents as the projector writes them) holds a
1,000-rep standings document; for each round one rep books a deal (changing its rank
or, alternately, only its figures), the new document is committed, a change notice is
delivered to the running app (Textual pilot, 160x48), and we time:
  read+table - reading the document, ranking, sorting and updating the DataTable;
  notice -> redrawn - from the notice to the pilot's next settled frame (includes the
              20 ms coalescing window and Textual repainting the 160x48 table).

    .venv/bin/python bench/tui.py [--reps 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.project.readers import StoreSource  # noqa: E402
from services.project.readstore import ReadStore, encode_doc, new_store_path, swap_current  # noqa: E402
from tui import sample  # noqa: E402
from tui.app import QuotaboardApp  # noqa: E402
from tui.source import Notice, QueueFeed  # noqa: E402

PERIOD = "2026-08"


async def run(reps: int, rounds: int) -> dict[str, list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    path = new_store_path(data_dir)
    store = ReadStore(path, writer=True)
    doc = sample.standings(PERIOD, reps=reps)
    store.write([("standings", PERIOD, "", encode_doc(doc))], 1)
    swap_current(data_dir, path)
    feed = QueueFeed()
    app = QuotaboardApp(
        StoreSource(data_dir),
        feed,
        period=PERIOD,
        poll_interval=None,
        clock=lambda: datetime(2026, 8, 20, tzinfo=UTC),
    )
    timings: dict[str, list[float]] = {
        "read+table (rank change)": [],
        "read+table (figures only)": [],
        "notice -> redrawn": [],
    }
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("down", "down", "down")
        rep_ids = list(doc.reps)
        for i in range(rounds):
            position = 2 + i
            big = i % 2 == 0
            rep = rep_ids[(i * 37) % len(rep_ids)]
            sample.bump(doc, rep, Decimal(400_000 if big else 1), position)
            store.write([("standings", PERIOD, "", encode_doc(doc))], position)
            start = time.perf_counter()
            screen.reload()
            middle = time.perf_counter()
            kind = "rank change" if big else "figures only"
            timings[f"read+table ({kind})"].append(middle - start)
            await pilot.pause()
            # the full path: a notice through the feed
            sample.bump(doc, rep, Decimal(1), position + 1000)
            store.write([("standings", PERIOD, "", encode_doc(doc))], position + 1000)
            before = app.refreshes
            start = time.perf_counter()
            feed.push(Notice(position + 1000, {PERIOD}, {rep}))
            while app.refreshes == before:
                await asyncio.sleep(0.001)
            await pilot.pause()
            timings["notice -> redrawn"].append(time.perf_counter() - start)
    store.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    timings = asyncio.run(run(args.reps, args.rounds))
    print(f"leaderboard refresh with {args.reps} reps ({args.rounds} rounds; goal <= 100 ms):")
    for name, values in timings.items():
        ms = sorted(v * 1000 for v in values)
        print(f"  {name:24s} median {statistics.median(ms):6.1f} ms   max {ms[-1]:6.1f} ms")


if __name__ == "__main__":
    main()
