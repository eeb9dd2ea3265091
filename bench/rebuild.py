"""Rebuild benchmark: project a 1,000,000-event log into all read models from scratch.

Prints events/s and the peak RSS of the rebuild process (goal: >= 150,000 events/s,
<= 1 GB). The log (200 reps, 24 months, from bench/orggen.py) is generated once into
bench/out/ and reused; `--events N` makes a smaller one. The rebuild runs in a child
process so its peak RSS is its own, not the generator's.

    .venv/bin/python bench/rebuild.py [--events 1000000] [--fresh]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def build_log(data_dir: Path, events: int) -> int:
    from orggen import generate

    from events.log import EventLog

    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    batch = []
    with EventLog(data_dir / "log.sqlite") as log:
        for event in generate(events):
            batch.append(event)
            if len(batch) == 5_000:
                log.append(batch)
                batch.clear()
        if batch:
            log.append(batch)
        count = log.last_position()
    print(f"generated log: {count:,} events in {time.perf_counter() - started:.1f} s -> {data_dir}")
    return count


def ensure_log(events: int, fresh: bool) -> Path:
    data_dir = HERE / "out" / f"log-{events}"
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    if not (data_dir / "log.sqlite").exists():
        build_log(data_dir, events)
    return data_dir


def child(data_dir: str) -> None:
    from events.log import EventLog
    from schemas.events import decode_event
    from services.project.projector import REBUILD_BATCH, read_stored, rebuild

    with EventLog(Path(data_dir) / "log.sqlite", readonly=True) as log:
        total = log.last_position()
        started = time.perf_counter()
        for record in log.read(1):
            decode_event(record.payload)
        decode_s = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(1, total + 1, REBUILD_BATCH):
            read_stored(log, start, min(total, start + REBUILD_BATCH - 1))
        trusted_s = time.perf_counter() - started
    started = time.perf_counter()
    _, position = rebuild(data_dir)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"read+decode only: {total / decode_s:,.0f} events/s (validating Structs), "
          f"{total / trusted_s:,.0f} events/s (the projector's trusted decode, schemas/fast.py)")
    print(f"rebuild: {position:,} events in {seconds:.2f} s = {position / seconds:,.0f} events/s "
          f"(goal >= 150,000); peak RSS {rss_mb:,.0f} MB (goal <= 1,024)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="regenerate the log")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    data_dir = ensure_log(args.events, args.fresh)
    for stale in (data_dir / "readmodels").glob("*") if (data_dir / "readmodels").exists() else []:
        stale.unlink()
    subprocess.run([sys.executable, __file__, "--child", str(data_dir)], check=True)


if __name__ == "__main__":
    main()
