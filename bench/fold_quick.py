"""Quick fold timing: orggen events (already decoded) applied in big batches, no log, no store.

    .venv/bin/python bench/fold_quick.py [--events 200000] [--batch 50000] [--docs]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    from orggen import generate

    from projections.projection import Projection
    from services.project.projector import gc_paused
    from services.project.rulesets import default_rulesets_dir, load_ruleset_dir

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--docs", action="store_true", help="also build every document")
    args = parser.parse_args()
    t0 = time.process_time()
    events = list(enumerate(generate(args.events), 1))
    print(f"generated {len(events):,} events in {time.process_time() - t0:.1f} s")
    projection = Projection(load_ruleset_dir(default_rulesets_dir()))
    with gc_paused():  # as the projector folds (services/project/projector.py)
        started = time.process_time()
        for i in range(0, len(events), args.batch):
            projection.apply(events[i:i + args.batch])
        fold_s = time.process_time() - started
        print(f"fold: {len(events) / fold_s:,.0f} events/s ({fold_s:.2f} s)")
        if args.docs:
            started = time.process_time()
            n = 0
            for period in projection.periods():
                standings = projection.standings(period)
                projection.funnel(period)
                for rep in standings["reps"]:
                    projection.statement(rep, period)
                    n += 1
            docs_s = time.process_time() - started
            print(f"documents: {len(projection.periods())} periods, {n:,} statements in {docs_s:.2f} s; "
                  f"fold+docs {len(events) / (fold_s + docs_s):,.0f} events/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (includes the generated events)")


if __name__ == "__main__":
    main()
