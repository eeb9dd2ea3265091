"""`quotaboard replay`: recompute a month under another ruleset, beside what was published.

`replay(data_dir, P, FILE)` recomputes P from the log under FILE in a scratch fold: a fresh
`Projection(RulesetSet.single(load_ruleset(FILE)))` fed from the log, in memory. Nothing
live is touched: the log is opened read-only, the read-model store is only read (for the
published figures) and nothing is published. The answer pairs, per rep and per statement
line, the published figure (the frozen statement when P is closed, else the live
standings) with the recomputed one (services/audit/compare.py).

What is fed (why a month of a 1M-event log replays in seconds, not minutes): only what can
change P's statement lines (`_select` has the details). The log's own readers
(`EventLog.rows_*`) do the SQL; this module decides what to ask for.
  * The organisation (rep onboarded / transferred / offboarded) before P's end.
  * Every `target.set`, whenever it occurred: the latest target by occurred_at wins even
    when it was set after the period (DOMAIN.md), so a revision in P+1 must still be seen
    (read through the log's stream index, `target:*`).
  * Every event before P's end of each deal that has an event in P (read through the
    occurred_at index, then the stream index): a deal that closes, is paid, refunded or
    lost in P always has an event in P, and its earlier history decides how. The window
    widens to the quarter for quarterly plans and rank awards (paid in the quarter's last
    month), back to the close month of refunded deals under clawback (the clawback rate
    is that month's), and to everything with a mentor component (the bonus depends on a
    mentee's first close ever).
  * Nothing after P's end can change P: closes, payments, losses and transfers count at
    their own occurred_at; a later refund is a clawback line of its own month; a later
    `deal.won`/`deal.updated` of a deal closed in P changes nothing.
  * Not fed: activities, customers, stage changes, `period.closed`, `ruleset.applied`.
    The first three feed only figures a replay does not compare (activity counts, new
    customers, the funnel). A replay shows what FILE's plan pays for P itself; freezing
    and earlier corrections are what the baseline is compared against. Adjustment lines
    for earlier periods that the published statement of P carries are copied unchanged
    to the replayed side (delta 0.00), so `before` is the published total and the delta
    is only the plan's.
On the benchmark log the pruned replay gives delta 0.00 for all 200 reps against the full
fold under the same ruleset (bench/replay.py prints it). Events are fed in log-position
order (the order the live projector sees them); the fold itself orders by occurred_at, so
the figures are those of a full fold.

Before anything is fed the log checks its own hash chain at every event used and at the
event after it (`EventLog.verify_links`: what a full `verify` would find wrong with those
events); a broken chain stops the replay naming the first bad position. `as_of=T` keeps
only events recorded at or before T (what was known at T). The result is deterministic:
the same log, file and options give byte-identical JSON (`outputs.replay_json`: sorted
keys; reps by id; lines in statement order).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from events.log import EventLog
from schemas.read_models import as_document
from services.audit.common import (
    AuditError,
    check_month,
    open_log,
    parse_instant,
    period_bounds,
    plan_ref,
    read_store,
)
from services.audit.compare import Reps, compare, score_deltas

ORG_TYPES = ("rep.onboarded", "rep.transferred", "rep.offboarded")


def _month_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the business-time month holding `moment`."""
    local = moment.astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz).astimezone(UTC)


def _window_start(log: EventLog, loaded, period: str, end: datetime, until: int) -> datetime | None:
    """From when deals matter to `period`'s statements (None: from the beginning).

    The month itself; the quarter when the plan is quarterly or pays rank awards in the
    quarter's last month; back to the month of a refunded deal's first event when the
    plan claws back (the clawback rate is that of the deal's close month, which needs that
    month's whole basis). A mentor bonus depends on a mentee's first close ever: with a
    mentor component nothing is pruned.
    """
    inc = loaded.ruleset.incentive
    tz = ZoneInfo(loaded.ruleset.timezone)
    if inc.mentor is not None:
        return None
    y, m = check_month(period)
    first = m
    if inc.period == "quarter" or (inc.rank_awards and m % 3 == 0):
        first = m - (m - 1) % 3
    start = datetime(y, first, 1, tzinfo=tz).astimezone(UTC)
    if inc.clawback:
        earliest = log.first_occurred_of_streams_with("payment.refunded", start, end, until=until)
        if earliest is not None and earliest < start:
            start = _month_start(earliest, tz)
    return start


def _select(log: EventLog, loaded, period: str, until: int) -> list[tuple]:
    """The rows (every column and the hash, in the table's order) of what can change
    `period`'s statements, by position, once the log has checked their links.

    * the organisation: every rep.onboarded / transferred / offboarded before the end;
    * every target.set, whenever it occurred (a later revision still wins);
    * every event, before the end, of each deal with an event in the window
      (`_window_start`, normally the month): a deal that closes, is paid, refunded or
      lost in the month always has an event in it, and its earlier history decides how.
    Not fed: activities, customer records, stage changes (the funnel's), deals with
    nothing in the window, anything after the end, `period.closed` / `ruleset.applied`
    (see the module docstring). These change no statement line of the month; they change
    standings fields a replay does not compare (activities, new customers, the funnel).
    """
    _, end = period_bounds(period, loaded.ruleset.timezone)
    start = _window_start(log, loaded, period, end, until)
    rows = log.rows_of_types(ORG_TYPES, before=end, until=until)
    rows += log.rows_of_streams("target:", until=until)
    rows += log.rows_of_streams_active(
        "deal:", start, end, until=until, skip_type="deal.stage_changed"
    )
    rows.sort()
    _check_links(log, rows)
    return rows


def _check_links(log: EventLog, rows: list[tuple]) -> None:
    """The log's own chain check of the rows a replay is about to fold; AuditError if broken."""
    checked = log.verify_links(rows)
    if checked.first_bad_position is not None:
        raise AuditError(
            f"the event log's hash chain is broken at position {checked.first_bad_position}; "
            "run `quotaboard verify` and restore the log from a backup before replaying"
        )
    if not checked.ok:
        raise AuditError(
            f"the event log's hash chain cannot be checked: {checked.reason}; "
            "run `quotaboard verify` and restore the log from a backup before replaying"
        )


def _replay_scorecard(data_dir: Path, loaded, period: str, until: int) -> dict | None:
    """Score and grade per rep of the assessment period holding P, stored against FILE's,
    when FILE has an `[assessment]`. The scorecard's indicators reach beyond what a
    statement needs (activities, first closes of customers, any metric), so this folds
    every event before that period's end (chain-checked like the pruned replay's)."""
    from projections import periods as pd
    from projections.projection import Projection
    from projections.rulesets import RulesetSet
    from schemas.fast import decode_rows
    from services.project.projector import gc_paused

    assessment = loaded.ruleset.assessment
    if assessment is None:
        return None
    assessed = period if assessment.period == "month" else pd.quarter_of(period)
    _, end = period_bounds(pd.last_month(assessed), loaded.ruleset.timezone)
    with open_log(data_dir) as log:
        rows = log.rows_before(end, until=until)
        _check_links(log, rows)
    projection = Projection(RulesetSet.single(loaded))
    batch = decode_rows((row[0], row[7]) for row in rows)
    with gc_paused():
        if batch:
            projection.apply(batch)
        fresh = projection.scorecard(assessed)
    after = as_document("scorecard", fresh) if fresh is not None else None
    store = read_store(data_dir)
    before = None
    if store is not None:
        with store:
            before = store.scorecard(assessed)
    return {"period": assessed, "reps": score_deltas(before, after)}


def _baseline(data_dir: Path, period: str) -> tuple[Reps, bool, dict]:
    """(reps, frozen?, ruleset ref) of what was published for P, else the live standings."""
    store = read_store(data_dir)
    if store is None:
        raise AuditError(
            f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` "
            "and let the projector catch up first"
        )
    with store:
        frozen = store.frozen(period)
        doc = frozen if frozen is not None else store.standings(period)
    if doc is None:
        return {}, False, plan_ref(data_dir, period)
    ref = {"id": doc.ruleset.id, "hash": doc.ruleset.hash}
    return doc.reps, frozen is not None, ref


def replay(
    data_dir: Path | str,
    period: str,
    ruleset_file: Path | str,
    as_of: str | datetime | None = None,
    *,
    timings: dict | None = None,
) -> dict:
    """Recompute `period` under `ruleset_file` beside the published figures (see module doc)."""
    from projections.projection import Projection
    from projections.rulesets import RulesetError, RulesetSet
    from schemas.fast import decode_rows
    from services.project.projector import gc_paused
    from services.project.rulesets import read_ruleset

    data_dir = Path(data_dir)
    check_month(period)
    t0 = time.perf_counter()
    try:
        loaded = read_ruleset(ruleset_file)
    except RulesetError as exc:
        raise AuditError(str(exc)) from None
    cutoff = parse_instant(as_of)
    with open_log(data_dir) as log:
        until = log.position_as_of(cutoff) if cutoff is not None else log.last_position()
        rows = _select(log, loaded, period, until)
    t1 = time.perf_counter()
    # The rows just passed the chain check and were validated when recorded.
    batch = decode_rows((row[0], row[7]) for row in rows)
    projection = Projection(RulesetSet.single(loaded))
    with gc_paused():
        if batch:
            projection.apply(batch)
        # the fold's document as its Struct, converted as the projector converts it
        replayed = as_document("standings", projection.standings(period))
    t3 = time.perf_counter()
    baseline_reps, frozen, baseline_ref = _baseline(data_dir, period)
    reps, totals = compare(baseline_reps, replayed.reps)
    scorecard = _replay_scorecard(data_dir, loaded, period, until)
    if timings is not None:
        timings.update(
            select=t1 - t0, fold=t3 - t1, total=time.perf_counter() - t0, events=len(batch)
        )
    return {
        "period": period,
        "baseline": {"ruleset": baseline_ref, "frozen": frozen},
        "replayed": {
            "ruleset": dict(loaded.ref),
            "as_of": cutoff.isoformat().replace("+00:00", "Z") if cutoff else None,
        },
        "reps": reps,
        "totals": totals,
        **({"scorecard": scorecard} if scorecard is not None else {}),
    }
