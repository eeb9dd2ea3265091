"""Auditors and ops: `close`, `replay` (and `replay --apply`), `rebuild` with progress.

close
    `close(data_dir, P)` publishes one `period.closed` event through NATS, exactly like
    every other event (the recorder stores it, the projector freezes P's statements as
    they stand). The event names the ruleset whose plan governs P (id and content hash)
    so the frozen statement says under which rules it was computed. Its id is derived
    from the period (`close-2026-08`): a double close is at worst a duplicate that the
    broker's window and the log's unique id both drop. Closing a period that the log
    already holds a `period.closed` for is refused before anything is published.

replay
    `replay(data_dir, P, FILE)` recomputes P from the log under FILE in a scratch fold:
    a fresh `Projection(RulesetSet.single(load_ruleset(FILE)))` fed from the log, in
    memory. Nothing live is touched: the log is opened read-only, the read-model store
    is only read (for the published figures) and nothing is published. The answer pairs,
    per rep and per statement line, the published figure (the frozen statement when P is
    closed, else the live standings) with the recomputed one.

    What is fed (why a month of a 1M-event log replays in seconds, not minutes): only what
    can change P's statement lines (`_select` has the details).
      * The organisation (rep onboarded / transferred / offboarded) before P's end.
      * Every `target.set`, whenever it occurred: the latest target by occurred_at wins
        even when it was set after the period (DOMAIN.md), so a revision in P+1 must
        still be seen (read through the log's stream index, `target:*`).
      * Every event before P's end of each deal that has an event in P (read through the
        occurred_at index, then the stream index): a deal that closes, is paid, refunded
        or lost in P always has an event in P, and its earlier history decides how. The
        window widens to the quarter for quarterly plans and rank awards (paid in the
        quarter's last month), back to the close month of refunded deals under clawback
        (the clawback rate is that month's), and to everything with a mentor component
        (the bonus depends on a mentee's first close ever).
      * Nothing after P's end can change P: closes, payments, losses and transfers count
        at their own occurred_at; a later refund is a clawback line of its own month; a
        later `deal.won`/`deal.updated` of a deal closed in P changes nothing.
      * Not fed: activities, customers, stage changes, `period.closed`, `ruleset.applied`.
        The first three feed only figures a replay does not compare (activity counts,
        new customers, the funnel). A replay shows what FILE's plan pays for P itself;
        freezing and earlier corrections are what the baseline is compared against.
        Adjustment lines for earlier periods that the published statement of P carries
        are copied unchanged to the replayed side (delta 0.00), so `before` is the
        published total and the delta is only the plan's.
    On the benchmark log the pruned replay gives delta 0.00 for all 200 reps against the
    full fold under the same ruleset (bench/replay.py prints it).
    Events are fed in log-position order (the order the live projector sees them); the
    fold itself orders by occurred_at, so the figures are those of a full fold.

    Before anything is fed the hash chain is checked at every event used and at the
    event after it (`_verify_links`: what a full `verify` would find wrong with those
    events); a broken chain stops the replay naming the first bad position.
    `as_of=T` keeps only events recorded at or before T (what was known at T).
    The result is deterministic: the same log, file and options give byte-identical
    JSON (`replay_json`: sorted keys; reps by id; lines in statement order).

apply
    `apply(data_dir, P, FILE)` records the correction as an event: `ruleset.applied`
    (period, the ruleset's id and hash, its TOML text) published through NATS, and keeps
    a copy of the file as `<data>/rulesets/applied/<id>-<hash12>.toml` (outside the live
    folder, so it never becomes a live ruleset). The projector pays the per-rep deltas
    as adjustment lines in the first open period after P.
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from events.log import log_path
from projections.views import fixed

ADJUSTMENT = "adjustment"
CENT = Decimal("0.01")
ZERO = Decimal(0)
# DOMAIN.md "Line order"; unknown components keep their first-seen order after these.
COMPONENT_ORDER = [
    "tiered", "brackets", "product_rates", "renewal", "referral", "team_awards", "team_award",
    "rank_awards", "rank_award", "mentor", "clawback", "cap", ADJUSTMENT, "adjustments",
]


class AuditError(Exception):
    """One line for a person: what was wrong and what to do."""


# --- small helpers -------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise AuditError(f"not a money amount in the read models: {value!r}") from None


def _fmt(value: Decimal) -> str:
    return fixed(value, CENT)


def _check_month(period: str) -> tuple[int, int]:
    try:
        year, month = period.split("-")
        y, m = int(year), int(month)
        if len(year) != 4 or len(month) != 2 or not 1 <= m <= 12:
            raise ValueError
    except ValueError:
        raise AuditError(f"period {period!r} is not a month; use e.g. --period 2026-08") from None
    return y, m


def period_bounds(period: str, tz: ZoneInfo | str) -> tuple[datetime, datetime]:
    """[start, end) of a month in the business timezone, as UTC instants."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    y, m = _check_month(period)
    start = datetime(y, m, 1, tzinfo=zone)
    end = datetime(y + (m == 12), 1 if m == 12 else m + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_instant(text: str | datetime | None) -> datetime | None:
    """RFC 3339 (with an offset; a bare date or time without offset is taken as UTC)."""
    if text is None or isinstance(text, datetime):
        return text if text is None or text.tzinfo else text.replace(tzinfo=UTC)
    raw = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise AuditError(f"--as-of {text!r} is not a time; use RFC 3339, e.g. 2026-09-03T12:00:00+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime:
    """A record's recorded_at / occurred_at (datetime, RFC 3339 text, or epoch number)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        # epoch seconds, milliseconds, microseconds or nanoseconds
        v = float(value)
        while v > 1e11:
            v /= 1000
        return datetime.fromtimestamp(v, UTC)
    parsed = parse_instant(str(value))
    assert parsed is not None
    return parsed


def _open_log(data_dir: Path):
    from events.log import EventLog

    path = log_path(data_dir)
    if not path.exists():
        raise AuditError(f"no event log at {path}: start `quotaboard up --data {data_dir}` and import events first")
    return EventLog(path, readonly=True)


def _settings(data_dir: Path, settings=None):
    if settings is not None:
        return settings
    from services.config import load_settings

    return load_settings(data_dir)


async def _publish(data_dir: Path, events: list, settings=None) -> Any:
    """Publish canonical events the way every event enters: NATS JetStream, then the recorder."""
    from services.ingest.publish import publish_events
    from services.runtime.broker import connect

    nc = await connect(_settings(data_dir, settings), name="quotaboard-audit", wait=2.0)
    try:
        return await publish_events(nc.jetstream(), events)
    finally:
        await nc.close()


def _run(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise AuditError("internal: call the async variant (aclose/aapply) from inside an event loop")


def _wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


async def _await_for(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(step)


def _store(data_dir: Path):
    from services.project.readstore import ReadStore

    return ReadStore.open_current(data_dir)


def _frozen_doc(data_dir: Path, period: str) -> dict | None:
    store = _store(data_dir)
    if store is None:
        return None
    with store:
        return store.frozen(period)


# --- which plan governs a period ------------------------------------------------------


def plan_ref(data_dir: Path | str, period: str) -> dict[str, str]:
    """`{"id", "hash"}` of the ruleset whose plan governs `period` in the live read models."""
    from services.project.projector import current_rulesets

    return dict(current_rulesets(data_dir).plan_for(period).ref)


# --- close ----------------------------------------------------------------------------


def close_event_id(period: str) -> str:
    return f"close-{period}"


def closed_in_log(data_dir: Path | str, period: str) -> int | None:
    """Position of a stored `period.closed` for `period`, or None (the log's stream index:
    a close is stored under the entity `period:<month>`)."""
    with _open_log(Path(data_dir)) as log:
        for record in log.read_stream(f"period:{period}"):
            if record.type == "period.closed":
                return record.position
    return None


def _close_event(data_dir: Path, period: str):
    from schemas.events import PeriodClosed, PeriodClosedData, RulesetRef

    _check_month(period)
    position = closed_in_log(data_dir, period)
    if position is not None:
        raise AuditError(f"period {period} is already closed (period.closed at log position {position}); "
                         f"its statements are frozen — correct it with `quotaboard replay --period {period} "
                         "--ruleset FILE --apply`")
    ref = plan_ref(data_dir, period)
    return PeriodClosed(id=close_event_id(period), occurred_at=datetime.now(UTC).replace(microsecond=0),
                        source="quotaboard-close", data=PeriodClosedData(period=period, ruleset=RulesetRef(**ref)))


async def aclose(data_dir: Path | str, period: str, *, settings=None, wait: float = 10.0) -> dict:
    """Async `close` (for callers already inside an event loop)."""
    data_dir = Path(data_dir)
    event = _close_event(data_dir, period)
    await _publish(data_dir, [event], settings)
    frozen = await _await_for(lambda: _frozen_doc(data_dir, period), wait) if wait > 0 else None
    return {"period": period, "event_id": event.id,
            "ruleset": {"id": event.data.ruleset.id, "hash": event.data.ruleset.hash},
            "frozen": frozen is not None}


def close(data_dir: Path | str, period: str, *, settings=None, wait: float = 10.0) -> dict:
    """Close month `period`: publish `period.closed` with the plan's ruleset ref.

    Refuses (AuditError) when the log already holds a close of that period. Waits up to
    `wait` seconds for the projector to store the frozen statements; the answer says
    whether it did (`frozen`)."""
    return _run(aclose(data_dir, period, settings=settings, wait=wait))


# --- replay ---------------------------------------------------------------------------


ORG_TYPES = ("rep.onboarded", "rep.transferred", "rep.offboarded")


def _month_start(text: str, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the business-time month holding the log's UTC text `text`."""
    local = datetime.fromisoformat(text).astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz).astimezone(UTC)


def _window_start(db, loaded, period: str, end_text: str, until: int) -> datetime | None:
    """From when deals matter to `period`'s statements (None: from the beginning).

    The month itself; the quarter when the plan is quarterly or pays rank awards in the
    quarter's last month; back to the month of a refunded deal's first event when the
    plan claws back (the clawback rate is that of the deal's close month, which needs that
    month's whole basis). A mentor bonus depends on a mentee's first close ever: with a
    mentor component nothing is pruned.
    """
    from events.chain import utc_text

    inc = loaded.ruleset.incentive
    tz = ZoneInfo(loaded.ruleset.timezone)
    if inc.mentor is not None:
        return None
    y, m = _check_month(period)
    first = m
    if inc.period == "quarter" or (inc.rank_awards and m % 3 == 0):
        first = m - (m - 1) % 3
    start = datetime(y, first, 1, tzinfo=tz).astimezone(UTC)
    if inc.clawback:
        row = db.execute(
            "SELECT min(e.occurred_at) FROM events e INDEXED BY events_stream WHERE e.stream IN ("
            " SELECT stream FROM events INDEXED BY events_occurred WHERE occurred_at >= ? AND occurred_at < ?"
            " AND type = 'payment.refunded' AND position <= ?) AND e.position <= ?",
            (utc_text(start), end_text, until, until)).fetchone()
        if row and row[0] and row[0] < utc_text(start):
            start = _month_start(row[0], tz)
    return start


def _select(log, loaded, period: str, until: int) -> list[tuple]:
    """The rows (every column, in the table's order) of what can change `period`'s
    statements, by position.

    * the organisation: every rep.onboarded / transferred / offboarded before the end;
    * every target.set, whenever it occurred (a later revision still wins);
    * every event, before the end, of each deal with an event in the window
      (`_window_start`, normally the month): a deal that closes, is paid, refunded or
      lost in the month always has an event in it, and its earlier history decides how.
    Not fed: activities, customer records, stage changes (the funnel's), deals with
    nothing in the window, anything
    after the end, `period.closed` / `ruleset.applied` (see the module docstring). These
    change no statement line of the month; they change standings fields a replay does not
    compare (activities, new customers, the funnel).
    """
    import sqlite3

    from events.chain import utc_text

    _, end = period_bounds(period, loaded.ruleset.timezone)
    end_text = utc_text(end)
    db = sqlite3.connect(Path(log.path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        start = _window_start(db, loaded, period, end_text, until)
        cols = "position, id, type, occurred_at, recorded_at, source, stream, payload, hash"
        rows = db.execute(
            f"SELECT {cols} FROM events WHERE occurred_at < ? AND position <= ? "
            f"AND type IN ({','.join('?' * len(ORG_TYPES))})", (end_text, until, *ORG_TYPES)).fetchall()
        rows += db.execute(
            f"SELECT {cols} FROM events INDEXED BY events_stream WHERE stream >= 'target:' AND stream < 'target;' "
            "AND position <= ?", (until,)).fetchall()
        if start is None:
            deal_rows = db.execute(
                f"SELECT {cols} FROM events INDEXED BY events_occurred WHERE occurred_at < ? AND position <= ? "
                "AND stream GLOB 'deal:*' AND type != 'deal.stage_changed'", (end_text, until)).fetchall()
        else:
            deal_rows = db.execute(
                f"SELECT {cols} FROM events INDEXED BY events_stream WHERE stream IN ("
                " SELECT stream FROM events INDEXED BY events_occurred WHERE occurred_at >= ? AND occurred_at < ?"
                " AND stream GLOB 'deal:*' AND position <= ?) AND occurred_at < ? AND position <= ?"
                " AND type != 'deal.stage_changed'",
                (utc_text(start), end_text, until, end_text, until)).fetchall()
        rows += deal_rows
        rows.sort()
        v2_from = log.chain_v2_from()
        _verify_links(db, rows, until + 1 if v2_from is None else v2_from)
    finally:
        db.close()
    return rows


def _verify_links(db, rows: list, v2_from: int) -> None:
    """Check the hash chain at every event used and at the event after it.

    Each used row must hash, from its predecessor's stored hash, to its own stored hash,
    and its successor's stored hash must follow from it. Changing a used event (with or
    without recomputing its hash) breaks one of these two links, exactly what a full
    `verify` would find for that event, at a cost proportional to the events used rather
    than to the whole log. Rows from `v2_from` on are hashed with every column (chain v2),
    so there a changed type, stream or occurred_at breaks a link too; an older row's
    columns are compared with its payload by `verify` only. AuditError names the first
    bad position.
    """
    from events.chain import GENESIS, row_hash

    used = {r[0] for r in rows}
    need = used | {p + 1 for p in used} | {p - 1 for p in used}
    need.discard(0)
    have: dict[int, tuple] = {r[0]: r for r in rows}
    missing = sorted(need - have.keys())
    for i in range(0, len(missing), 900):
        chunk = missing[i:i + 900]
        q = ("SELECT position, id, type, occurred_at, recorded_at, source, stream, payload, hash FROM events "
             f"WHERE position IN ({','.join('?' * len(chunk))})")
        for row in db.execute(q, chunk):
            have[row[0]] = row
    for position in sorted(used | {p + 1 for p in used}):
        row = have.get(position)
        if row is None:
            continue  # the successor of the last event: nothing to link
        prev = GENESIS if position == 1 else (have.get(position - 1) or (None,) * 9)[8]
        try:
            intact = prev is not None and row_hash(prev, row, position >= v2_from) == row[8]
        except (TypeError, AttributeError, UnicodeError):  # a NULL or a TEXT payload
            intact = False
        if not intact:
            raise AuditError(f"the event log's hash chain is broken at position {position}; "
                             "run `quotaboard verify` and restore the log from a backup before replaying")


def _statement_lines(rep: dict) -> list[dict]:
    return list(rep.get("statement") or rep.get("lines") or [])


def _component_rank(component: str, seen: list[str]) -> tuple[int, int]:
    if component in COMPONENT_ORDER:
        return (COMPONENT_ORDER.index(component), 0)
    if component not in seen:
        seen.append(component)
    return (len(COMPONENT_ORDER), seen.index(component))


def _is_adjustment(line: dict) -> bool:
    return str(line.get("component", "")).startswith(ADJUSTMENT)


def pair_lines(before: list[dict], after: list[dict]) -> list[dict]:
    """Match lines by component, in order within a component; a missing side is 0.00."""
    by_component: dict[str, tuple[list[Decimal], list[Decimal]]] = {}
    order: list[str] = []
    for side, lines in ((0, before), (1, after)):
        for line in lines:
            component = str(line.get("component", ""))
            if component not in by_component:
                by_component[component] = ([], [])
                order.append(component)
            by_component[component][side].append(_money(line.get("amount")))
    seen: list[str] = []
    ranked = sorted(order, key=lambda c: (_component_rank(c, seen), order.index(c)))
    out = []
    for component in ranked:
        left, right = by_component[component]
        for i in range(max(len(left), len(right))):
            b = left[i] if i < len(left) else ZERO
            a = right[i] if i < len(right) else ZERO
            out.append({"component": component, "before": _fmt(b), "after": _fmt(a), "delta": _fmt(a - b)})
    return out


def compare(baseline_reps: dict, replay_reps: dict) -> tuple[dict, dict]:
    """Per rep: before/after/delta and paired lines; plus totals."""
    reps: dict[str, dict] = {}
    tb = ta = ZERO
    for rep_id in sorted(set(baseline_reps) | set(replay_reps)):
        before_lines = _statement_lines(baseline_reps.get(rep_id) or {})
        after_lines = [x for x in _statement_lines(replay_reps.get(rep_id) or {}) if not _is_adjustment(x)]
        # adjustments for earlier periods are not the plan's: carried over unchanged
        after_lines += [x for x in before_lines if _is_adjustment(x)]
        lines = pair_lines(before_lines, after_lines)
        b = sum((_money(x.get("amount")) for x in before_lines), ZERO)
        a = sum((_money(x.get("amount")) for x in after_lines), ZERO)
        reps[rep_id] = {"before": _fmt(b), "after": _fmt(a), "delta": _fmt(a - b), "lines": lines}
        tb += b
        ta += a
    return reps, {"before": _fmt(tb), "after": _fmt(ta), "delta": _fmt(ta - tb)}


def _baseline(data_dir: Path, period: str) -> tuple[dict, bool, dict]:
    """(reps, frozen?, ruleset ref) of what was published for P, else the live standings."""
    store = _store(data_dir)
    if store is None:
        raise AuditError(f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` "
                         "and let the projector catch up first")
    with store:
        frozen = store.frozen(period)
        doc = frozen if frozen is not None else store.standings(period)
        standings = store.standings(period) if frozen is not None else doc
    if doc is None:
        return {}, False, plan_ref(data_dir, period)
    ruleset = doc.get("ruleset") or (standings or {}).get("ruleset") or plan_ref(data_dir, period)
    ref = {"id": ruleset.get("id"), "hash": ruleset.get("hash")}
    return dict(doc.get("reps") or {}), frozen is not None, ref


def replay(data_dir: Path | str, period: str, ruleset_file: Path | str, as_of: str | datetime | None = None,
           *, timings: dict | None = None) -> dict:
    """Recompute `period` under `ruleset_file` beside the published figures (see module doc)."""
    from projections.projection import Projection
    from projections.rulesets import RulesetError, RulesetSet
    from schemas.fast import decode_rows
    from services.project.rulesets import read_ruleset

    data_dir = Path(data_dir)
    _check_month(period)
    t0 = time.perf_counter()
    try:
        loaded = read_ruleset(ruleset_file)
    except RulesetError as exc:
        raise AuditError(str(exc)) from None
    cutoff = parse_instant(as_of)
    with _open_log(data_dir) as log:
        until = log.position_as_of(cutoff) if cutoff is not None else log.last_position()
        rows = _select(log, loaded, period, until)
    t1 = time.perf_counter()
    # The rows just passed the chain check and were validated when recorded.
    batch = decode_rows((row[0], row[7]) for row in rows)
    projection = Projection(RulesetSet.single(loaded))
    if batch:
        projection.apply(batch)
    replayed = projection.standings(period) or {}
    t3 = time.perf_counter()
    baseline_reps, frozen, baseline_ref = _baseline(data_dir, period)
    reps, totals = compare(baseline_reps, dict(replayed.get("reps") or {}))
    scorecard = _replay_scorecard(data_dir, loaded, period, until)
    if timings is not None:
        timings.update(select=t1 - t0, fold=t3 - t1, total=time.perf_counter() - t0,
                       events=len(batch))
    return {
        "period": period,
        "baseline": {"ruleset": baseline_ref, "frozen": frozen},
        "replayed": {"ruleset": dict(loaded.ref),
                     "as_of": cutoff.isoformat().replace("+00:00", "Z") if cutoff else None},
        "reps": reps,
        "totals": totals,
        **({"scorecard": scorecard} if scorecard is not None else {}),
    }


def _replay_scorecard(data_dir: Path, loaded, period: str, until: int) -> dict | None:
    """Score and grade per rep of the assessment period holding P, stored against FILE's,
    when FILE has an `[assessment]`. The scorecard's indicators reach beyond what a
    statement needs (activities, first closes of customers, any metric), so this folds
    every event before that period's end (chain-checked like the pruned replay's)."""
    import sqlite3

    from events.chain import utc_text
    from projections import periods as pd
    from projections.assessment import score_deltas
    from projections.projection import Projection
    from projections.rulesets import RulesetSet
    from schemas.fast import decode_rows

    assessment = loaded.ruleset.assessment
    if assessment is None:
        return None
    assessed = period if assessment.period == "month" else pd.quarter_of(period)
    _, end = period_bounds(pd.last_month(assessed), loaded.ruleset.timezone)
    with _open_log(data_dir) as log:
        db = sqlite3.connect(Path(log.path).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT position, id, type, occurred_at, recorded_at, source, stream, payload, hash FROM events "
                "WHERE occurred_at < ? AND position <= ? ORDER BY position", (utc_text(end), until)).fetchall()
            v2_from = log.chain_v2_from()
            _verify_links(db, rows, until + 1 if v2_from is None else v2_from)
        finally:
            db.close()
    projection = Projection(RulesetSet.single(loaded))
    batch = decode_rows((row[0], row[7]) for row in rows)
    if batch:
        projection.apply(batch)
    after = projection.scorecard(assessed)
    store = _store(data_dir)
    before = None
    if store is not None:
        with store:
            before = store.scorecard(assessed)
    return {"period": assessed, "reps": score_deltas(before, after)}


def replay_json(result: dict) -> str:
    """The contract's JSON, byte-identical for the same inputs (sorted keys)."""
    return json.dumps(result, ensure_ascii=False, sort_keys=True, indent=2)


CSV_FIELDS = ["period", "rep", "component", "line", "before", "after", "delta"]


def write_replay_csv(result: dict, path: Path | str) -> Path:
    """One row per rep and line (line = 1, 2… within the rep), then the rep's total row
    (component `total`, line empty), so a rep without lines still has a row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for rep_id, rep in result["reps"].items():
            for i, line in enumerate(rep["lines"], 1):
                writer.writerow([result["period"], rep_id, line["component"], i,
                                 line["before"], line["after"], line["delta"]])
            writer.writerow([result["period"], rep_id, "total", "", rep["before"], rep["after"], rep["delta"]])
    return path


# --- apply ----------------------------------------------------------------------------


def applied_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "rulesets" / "applied"


def apply_event_id(period: str, ruleset_hash: str) -> str:
    return f"apply-{period}-{ruleset_hash.split(':', 1)[-1][:16]}"


def _apply_event(period: str, ruleset_file: Path):
    from projections.rulesets import RulesetError
    from schemas.events import RulesetApplied, RulesetAppliedData, RulesetRef
    from services.project.rulesets import read_ruleset

    _check_month(period)
    try:
        loaded = read_ruleset(ruleset_file)
    except RulesetError as exc:
        raise AuditError(str(exc)) from None
    event = RulesetApplied(
        id=apply_event_id(period, loaded.hash), occurred_at=datetime.now(UTC).replace(microsecond=0),
        source="quotaboard-replay",
        data=RulesetAppliedData(period=period, ruleset=RulesetRef(id=loaded.id, hash=loaded.hash),
                                toml=loaded.text))
    return event, loaded


async def aapply(data_dir: Path | str, period: str, ruleset_file: Path | str, *, settings=None) -> dict:
    data_dir = Path(data_dir)
    event, loaded = _apply_event(period, Path(ruleset_file))
    folder = applied_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{loaded.id}-{loaded.hash.split(':', 1)[-1][:12]}.toml"
    if not copy.exists():
        tmp = copy.with_suffix(".tmp")
        shutil.copyfile(ruleset_file, tmp)
        tmp.replace(copy)
    await _publish(data_dir, [event], settings)
    return {"period": period, "event_id": event.id, "ruleset": dict(loaded.ref), "copy": str(copy)}


def apply(data_dir: Path | str, period: str, ruleset_file: Path | str, *, settings=None) -> dict:
    """`replay --apply`: publish `ruleset.applied` and keep a copy of the file by hash."""
    return _run(aapply(data_dir, period, ruleset_file, settings=settings))


# --- rebuild (ops) ----------------------------------------------------------------------


def rebuild_with_progress(data_dir: Path | str, *, show: bool = True) -> dict:
    """`quotaboard rebuild`: the projector's rebuild beside the live store, with a bar."""
    from services.project.projector import rebuild

    started = time.perf_counter()
    if show:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from events.log import EventLog

        with EventLog(log_path(data_dir), readonly=True) as event_log:
            head = event_log.last_position()
        columns = (TextColumn("rebuild"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("rebuild", total=max(head, 1), rate="")

            def progress(position: int, head: int) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{position / elapsed:,.0f} events/s" if elapsed > 0 else ""
                bar.update(task, completed=position, total=max(head, 1), rate=rate)

            path, position = rebuild(data_dir, progress=progress)
    else:
        path, position = rebuild(data_dir)
    seconds = time.perf_counter() - started
    return {"store": str(path), "position": position, "seconds": round(seconds, 3),
            "events_per_second": round(position / seconds) if seconds > 0 else None}


def print_replay(result: dict, console=None) -> None:
    """A person's view of a replay: per rep before → after (delta), lines below."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    base, new = result["baseline"], result["replayed"]
    console.print(f"[bold]Replay {result['period']}[/]: {'frozen' if base['frozen'] else 'current'} "
                  f"{base['ruleset'].get('id')} → {new['ruleset']['id']}"
                  + (f" as of {new['as_of']}" if new["as_of"] else ""))
    table = Table("rep", "component", "before", "after", "delta")
    for rep_id, rep in result["reps"].items():
        for line in rep["lines"]:
            table.add_row(rep_id, line["component"], line["before"], line["after"], _signed(line["delta"]))
        table.add_row(f"[bold]{rep_id}[/]", "[bold]total[/]", rep["before"], rep["after"], _signed(rep["delta"]))
    t = result["totals"]
    table.add_row("[bold]all[/]", "", t["before"], t["after"], _signed(t["delta"]))
    console.print(table)
    scorecard = result.get("scorecard")
    if scorecard:
        grades = Table("rep", "score before", "score after", "delta", "grade")
        for rep_id, r in scorecard["reps"].items():
            grades.add_row(rep_id, r["score_before"] or "—", r["score_after"] or "—", _signed(r["score_delta"]),
                           f"{r['grade_before'] or '—'} → {r['grade_after'] or '—'}")
        console.print(f"[bold]Scorecard {scorecard['period']}[/]")
        console.print(grades)


def _signed(value: str) -> str:
    d = Decimal(value)
    if d > 0:
        return f"[green]+{value}[/]"
    if d < 0:
        return f"[red]{value}[/]"
    return value


def iter_rows(result: dict) -> Iterable[list]:
    for rep_id, rep in result["reps"].items():
        for line in rep["lines"]:
            yield [rep_id, line["component"], line["before"], line["after"], line["delta"]]
