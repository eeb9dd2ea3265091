"""Replay benchmark: one month of the 1,000,000-event log, and a full rebuild beside live.

Uses the log of bench/rebuild.py (200 reps, 24 months from 2024-09, bench/orggen.py),
generated once into bench/out/ and reused. Builds the live read models first if there
are none (that first build is not timed as "beside live"), then prints:

- replay of one month (default 2025-08, mid-log) under the repository's seed ruleset:
  selection through the occurred_at index, hash-chain check, fold; goal <= 2 s;
- a full `rebuild` while a live store exists: events/s.

    .venv/bin/python bench/replay.py [--events 1000000] [--period 2025-08] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def ensure_log(events: int) -> Path:
    """The benchmark log bench/rebuild.py generates (and reuses)."""
    from rebuild import ensure_log

    return ensure_log(events, False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--period", default="2025-08")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ruleset", default=str(ROOT / "rulesets" / "seed-table3.toml"))
    parser.add_argument("--skip-rebuild", action="store_true")
    args = parser.parse_args()

    from services.audit.replay import replay
    from services.project.projector import rebuild
    from services.project.readstore import ReadStore

    data_dir = ensure_log(args.events)
    if ReadStore.open_current(data_dir) is None:
        started = time.perf_counter()
        _, position = rebuild(data_dir)
        print(f"initial read models: {position:,} events in {time.perf_counter() - started:.1f} s")

    seconds = []
    timings: dict = {}
    for _ in range(args.runs):
        timings = {}
        started = time.perf_counter()
        result = replay(data_dir, args.period, args.ruleset, timings=timings)
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    print(f"replay {args.period}: {timings.get('events', 0):,} events fed, {len(result['reps'])} reps; "
          f"best {best:.2f} s, median {median:.2f} s (goal <= 2 s)  "
          f"[select + chain check {timings['select']:.2f} s, decode + fold + standings {timings['fold']:.2f} s]")
    print(f"  totals: before {result['totals']['before']}, after {result['totals']['after']}, "
          f"delta {result['totals']['delta']}")

    if not args.skip_rebuild:
        started = time.perf_counter()
        _, position = rebuild(data_dir)
        seconds_rebuild = time.perf_counter() - started
        print(f"rebuild beside live: {position:,} events in {seconds_rebuild:.2f} s = "
              f"{position / seconds_rebuild:,.0f} events/s")
        folder = data_dir / "readmodels"
        current = (folder / "CURRENT").read_text().strip()
        for stale in folder.glob("readmodels-*.sqlite*"):
            if not stale.name.startswith(current):
                stale.unlink()


if __name__ == "__main__":
    main()
