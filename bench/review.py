"""Review-report benchmark: `quotaboard review` for 1,000 reps over 24 months (goal: ≤ 5 s).

Builds (once, into bench/out/) a log of the benchmark organisation (bench/orggen.py) with
1,000 reps, rebuilds the read models under the seed's plan plus the contract's quarterly
`[assessment]`, then times rendering the report of the last month and of its quarter
from the store (the command's own work: reading documents, drawing the charts, filling
the template). Prints the seconds and the file's size.

    .venv/bin/python bench/review.py [--events 300000] [--fresh]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

ASSESSMENT = """
[assessment]
period = "quarter"
grades = [{ from = "90", grade = "S" }, { from = "80", grade = "A" }, { from = "60", grade = "B" },
          { from = "0", grade = "C" }]

[[assessment.indicators]]
metric = "bookings"
weight = "40"

[[assessment.indicators]]
metric = "collection_rate"
weight = "20"
goal = "0.90"

[[assessment.indicators]]
metric = "new_customers"
weight = "20"

[[assessment.indicators]]
metric = "activities"
weight = "20"
goal = "60"
"""


def build(data_dir: Path, events: int) -> None:
    from orggen import generate

    from events.log import EventLog, log_path
    from services.project.projector import rebuild

    (data_dir / "rulesets").mkdir(parents=True)
    seed = (HERE.parent / "rulesets").glob("*.toml")
    for path in seed:
        (data_dir / "rulesets" / path.name).write_text(path.read_text() + ASSESSMENT)
    started = time.perf_counter()
    with EventLog(log_path(data_dir)) as log:
        batch = []
        for event in generate(events, reps=1000, months=24):
            batch.append(event)
            if len(batch) == 5_000:
                log.append(batch)
                batch.clear()
        if batch:
            log.append(batch)
        count = log.last_position()
    print(f"log: {count:,} events in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rebuild(data_dir)
    print(f"rebuild: {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    data_dir = HERE / "out" / f"review-{args.events}"
    if args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    if not data_dir.exists():
        build(data_dir, args.events)

    from projections.periods import months_among, quarter_of
    from services.audit.review import review
    from services.project.readstore import ReadStore

    with ReadStore.open_current(data_dir) as store:
        months = months_among(store.periods())
        # the busiest month (most deals won), not a trailing month of late payments
        won = {m: sum(t.deals_won for t in store.standings(m).team.values()) for m in months}
        busiest = max(months, key=lambda m: (won[m], m))
        reps = len(store.standings(busiest).reps)
    for period in (busiest, quarter_of(busiest)):
        written = review(data_dir, period, HERE / "out" / f"review-{period}.html")
        print(
            f"review {period}: {reps:,} reps, {len(months)} months in the store: {written['seconds']:.2f} s, "
            f"{written['bytes'] / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
