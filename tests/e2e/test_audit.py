"""Audit: replay, close's refusal, adjustments after a close, rebuild after a definition change.

These tests use the real event log (SQLite) and the real fold and read-model store,
without a broker: events are appended to the log directly and the projector's own
`rebuild` (the same catch-up the live projector runs) builds the read models. What goes
through NATS (`close`, `--apply`) is in test_audit_service.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from schemas.read_models import FrozenRep, StatementLine
from services.audit.common import AuditError, period_bounds
from services.audit.compare import compare, pair_lines
from services.audit.outputs import write_replay_csv

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
if not EXAMPLES.exists():  # a checkout next to the shared folder
    EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
SEED = EXAMPLES / "seed-table1.jsonl"
SIGNED = EXAMPLES / "rulesets" / "seed-table3.toml"
COLLECTED = EXAMPLES / "rulesets" / "seed-table3-collected.toml"
ROOT = Path(__file__).resolve().parents[2]

FIRST = {"zhang": "17800.00", "li": "0.00", "wang": "8100.00"}  # under seed-table3
SECOND = {"zhang": "0.00", "li": "0.00", "wang": "0.00"}  # under seed-table3-collected


# --- pure parts ----------------------------------------------------------------------------


def line(component: str, amount: str) -> StatementLine:
    return StatementLine(component=component, amount=amount, explanation="", basis=None, rate=None)


def rep(*lines: StatementLine) -> FrozenRep:
    return FrozenRep(statement=list(lines), total="0.00")  # compare() reads the lines only


def test_pair_lines_by_component_and_order() -> None:
    before = [line("tiered", "16800.00"), line("tiered", "1000.00"), line("team_awards", "500.00")]
    after = [line("tiered", "25200.00"), line("referral", "1000.00")]
    assert pair_lines(before, after) == [
        {"component": "tiered", "before": "16800.00", "after": "25200.00", "delta": "8400.00"},
        {"component": "tiered", "before": "1000.00", "after": "0.00", "delta": "-1000.00"},
        {"component": "referral", "before": "0.00", "after": "1000.00", "delta": "1000.00"},
        {"component": "team_awards", "before": "500.00", "after": "0.00", "delta": "-500.00"},
    ]


def test_compare_carries_adjustments_and_totals() -> None:
    baseline = {"a": rep(line("tiered", "100.00"), line("adjustment", "-20.00")), "b": rep()}
    replayed = {"a": rep(line("tiered", "150.00")), "c": rep(line("referral", "1000"))}
    reps, totals = compare(baseline, replayed)
    assert list(reps) == ["a", "b", "c"]
    assert reps["a"] == {
        "before": "80.00",
        "after": "130.00",
        "delta": "50.00",
        "lines": [
            {"component": "tiered", "before": "100.00", "after": "150.00", "delta": "50.00"},
            {"component": "adjustment", "before": "-20.00", "after": "-20.00", "delta": "0.00"},
        ],
    }
    assert reps["b"] == {"before": "0.00", "after": "0.00", "delta": "0.00", "lines": []}
    assert totals == {"before": "80.00", "after": "1130.00", "delta": "1050.00"}


def test_a_line_that_is_not_money_is_named() -> None:
    with pytest.raises(AuditError, match="not a money amount in the read models: 'NaN'"):
        compare({"a": rep(line("tiered", "NaN"))}, {})


def test_period_bounds_in_business_time() -> None:
    start, end = period_bounds("2026-08", "Asia/Shanghai")
    assert start == datetime(2026, 7, 31, 16, tzinfo=UTC) and end == datetime(
        2026, 8, 31, 16, tzinfo=UTC
    )
    with pytest.raises(AuditError, match="not a month"):
        period_bounds("2026-13", "Asia/Shanghai")


def test_replay_csv_rows(tmp_path: Path) -> None:
    reps, totals = compare({"a": rep(line("tiered", "1.00"))}, {})
    path = write_replay_csv(
        {"period": "2026-08", "reps": reps, "totals": totals}, tmp_path / "r.csv"
    )
    assert path.read_text().splitlines() == [
        "period,rep,component,line,before,after,delta",
        "2026-08,a,tiered,1,1.00,0.00,-1.00",
        "2026-08,a,total,,1.00,0.00,-1.00",
    ]


# --- on the real log, fold and store ----------------------------------------------------------


def _need_core() -> None:
    pytest.importorskip("events.log", reason="events/log.py not there yet")
    pytest.importorskip("projections.projection", reason="projections/projection.py not there yet")


def seed_events() -> list:
    from schemas.events import decode_event

    return [decode_event(line) for line in SEED.read_text().splitlines() if line.strip()]


def append(data_dir: Path, events: list) -> None:
    from events.log import EventLog, log_path

    data_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(log_path(data_dir))
    try:
        log.append(events)
    finally:
        log.close()


def use_ruleset(data_dir: Path, file: Path) -> None:
    folder = data_dir / "rulesets"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.toml"):
        old.unlink()
    shutil.copy(file, folder / file.name)


def project(data_dir: Path) -> None:
    from services.project.projector import rebuild

    rebuild(data_dir)


def totals(data_dir: Path, period: str, frozen: bool = False) -> dict[str, str]:
    from services.project.readstore import ReadStore

    with ReadStore.open_current(data_dir) as store:
        doc = store.frozen(period) if frozen else store.standings(period)
    return {rep: r.total for rep, r in doc.reps.items()}


def close_directly(data_dir: Path, period: str) -> None:
    """A `period.closed` as `close` publishes it, appended straight to the log (no broker)."""
    from schemas.events import PeriodClosed, PeriodClosedData, RulesetRef
    from services.audit.close import close_event_id
    from services.audit.common import plan_ref

    ref = plan_ref(data_dir, period)
    append(
        data_dir,
        [
            PeriodClosed(
                id=close_event_id(period),
                occurred_at=datetime.now(UTC).replace(microsecond=0),
                data=PeriodClosedData(period=period, ruleset=RulesetRef(**ref)),
            )
        ],
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    _need_core()
    data = tmp_path / "data"
    use_ruleset(data, SIGNED)
    append(data, seed_events())
    project(data)
    assert totals(data, "2026-08") == FIRST
    return data


def test_replay_closed_month_under_collected_definition(seeded: Path) -> None:
    from services.audit.outputs import replay_json
    from services.audit.replay import replay

    close_directly(seeded, "2026-08")
    project(seeded)
    assert totals(seeded, "2026-08", frozen=True) == FIRST
    result = replay(seeded, "2026-08", COLLECTED)
    assert result["baseline"]["frozen"] is True
    assert result["baseline"]["ruleset"]["id"] == "seed-table3"
    assert result["replayed"]["ruleset"]["id"] == "seed-table3-collected"
    assert result["replayed"]["as_of"] is None
    deltas = {rep: r["delta"] for rep, r in result["reps"].items()}
    assert deltas == {"li": "0.00", "wang": "-8100.00", "zhang": "-17800.00"}
    assert result["reps"]["zhang"]["lines"] == [
        {"component": "tiered", "before": "16800.00", "after": "0.00", "delta": "-16800.00"},
        {"component": "tiered", "before": "1000.00", "after": "0.00", "delta": "-1000.00"},
    ]
    assert result["totals"] == {"before": "25900.00", "after": "0.00", "delta": "-25900.00"}
    first = replay_json(result)
    assert first == replay_json(replay(seeded, "2026-08", COLLECTED))
    assert list(json.loads(first)) == sorted(json.loads(first))
    # nothing live was touched
    assert totals(seeded, "2026-08", frozen=True) == FIRST


def test_replay_same_file_is_zero_delta_and_as_of(seeded: Path) -> None:
    from services.audit.replay import replay

    result = replay(seeded, "2026-08", SIGNED)
    assert result["baseline"]["frozen"] is False
    assert all(r["delta"] == "0.00" for r in result["reps"].values())
    # as of a time before anything was recorded: nothing known, everyone 0.00
    early = replay(seeded, "2026-08", SIGNED, as_of="2000-01-01T00:00:00Z")
    assert early["replayed"]["as_of"] == "2000-01-01T00:00:00Z"
    assert {r: v["after"] for r, v in early["reps"].items()} == SECOND


def test_replay_under_a_quarterly_plan(seeded: Path) -> None:
    """An auditor tries a quarterly plan (tests/rulesets/quarterly.toml: no quarterly
    targets in the seed, so no tiers; Q3's ranking pays 5,000 and 3,000 in September)."""
    from services.audit.replay import replay

    quarterly = Path(__file__).parents[1] / "rulesets" / "quarterly.toml"
    august = replay(seeded, "2026-08", quarterly)  # nothing is paid in a quarter's first months
    assert {r: (v["before"], v["after"]) for r, v in august["reps"].items()} == {
        "li": ("0.00", "0.00"),
        "wang": ("8100.00", "0.00"),
        "zhang": ("17800.00", "0.00"),
    }
    september = replay(seeded, "2026-09", quarterly)
    # Q3 bookings: zhang 840,000, li 450,000, wang 330,000; the published September paid
    # the monthly plan's three prizes (5,000, 3,000, 1,000), the quarterly plan has two.
    assert {r: (v["before"], v["after"], v["delta"]) for r, v in september["reps"].items()} == {
        "li": ("3000.00", "3000.00", "0.00"),
        "wang": ("1000.00", "0.00", "-1000.00"),
        "zhang": ("5000.00", "5000.00", "0.00"),
    }
    assert september["totals"] == {"before": "9000.00", "after": "8000.00", "delta": "-1000.00"}


def _fresh(tmp_path: Path, items: list[dict]) -> Path:
    """A data folder under seed-table3 holding `items` (canonical event dicts), projected."""
    from schemas.events import decode_event

    _need_core()
    data = tmp_path / "fresh"
    use_ruleset(data, SIGNED)
    append(data, [decode_event(json.dumps(e)) for e in items])
    project(data)
    return data


def test_replay_under_team_scope_awards(tmp_path: Path) -> None:
    """An auditor tries team awards (tests/rulesets/team-awards.toml) on a month published
    under seed-table3, which pays nothing here (no rep or region targets). Worked by hand
    in test_fold_renewal_team.py: team alpha at 110% pays 500 + 1,000 to a, b, c and f."""
    from test_fold_renewal_team import TEAM_AWARDS, team_events

    from services.audit.replay import replay

    result = replay(_fresh(tmp_path, team_events()), "2026-08", TEAM_AWARDS)
    assert result["replayed"]["ruleset"]["id"] == "team-awards-test"
    assert {r: (v["before"], v["after"]) for r, v in result["reps"].items()} == {
        "a": ("0.00", "1500.00"),
        "b": ("0.00", "1500.00"),
        "c": ("0.00", "1500.00"),
        "d": ("0.00", "0.00"),
        "e": ("0.00", "0.00"),
        "f": ("0.00", "1500.00"),
    }
    assert result["reps"]["f"]["lines"] == [
        {"component": "team_awards", "before": "0.00", "after": "500.00", "delta": "500.00"},
        {"component": "team_awards", "before": "0.00", "after": "1000.00", "delta": "1000.00"},
    ]
    assert result["totals"]["delta"] == "6000.00"


def test_replay_renewal_on_collections(tmp_path: Path) -> None:
    """March replayed under tests/rulesets/renewal-collections.toml: the renewal deals closed
    in February (before the month) are fed for their March payments, and the renewal line
    is on those: a 5,000 + 0.5 × 5% × 60,000 = 6,500; b 1,000 + 0.5 × 5% × 20,000 = 1,500."""
    from test_fold_renewal_team import RENEWAL_COLLECTIONS, renewal_events

    from services.audit.replay import replay

    result = replay(_fresh(tmp_path, renewal_events()), "2026-03", RENEWAL_COLLECTIONS)
    assert {r: v["after"] for r, v in result["reps"].items()} == {"a": "6500.00", "b": "1500.00"}
    # Published under seed-table3: no bookings targets, so only Q1's first prize to a (its
    # 170,000 of bookings), which the replayed plan does not have.
    assert [(x["component"], x["before"], x["after"]) for x in result["reps"]["a"]["lines"]] == [
        ("tiered", "0.00", "5000.00"),
        ("renewal", "0.00", "1500.00"),
        ("rank_awards", "5000.00", "0.00"),
    ]


def test_close_twice_is_refused(seeded: Path) -> None:
    from services.audit.close import _close_event

    close_directly(seeded, "2026-08")
    with pytest.raises(AuditError, match="2026-08 is already closed"):
        _close_event(seeded, "2026-08")


def test_backdated_deal_after_close_is_an_adjustment(seeded: Path) -> None:
    """Through the fold + store (events appended to the log, projector catch-up)."""
    from schemas.events import decode_event

    close_directly(seeded, "2026-08")
    project(seeded)
    late = [
        {
            "id": "late-1",
            "type": "deal.created",
            "occurred_at": "2026-08-12T10:00:00+08:00",
            "data": {
                "deal_id": "D9",
                "rep_id": "li",
                "customer_id": "C9",
                "product_line": "B",
                "amount": "50000",
            },
        },
        {
            "id": "late-2",
            "type": "deal.won",
            "occurred_at": "2026-08-21T10:00:00+08:00",
            "data": {"deal_id": "D9"},
        },
    ]
    append(seeded, [decode_event(json.dumps(e)) for e in late])
    project(seeded)
    assert totals(seeded, "2026-08", frozen=True) == FIRST  # the published statement stands
    from services.project.readstore import ReadStore

    with ReadStore.open_current(seeded) as store:
        september = store.standings("2026-09")
    lines = msgspec.to_builtins(september.reps["li"].statement)
    adjustments = [x for x in lines if x["component"].startswith("adjustment")]
    # li: 500,000 of 600,000 = 83% -> 1.5% = 7,500.00, paid in September for August
    assert [x["amount"] for x in adjustments] == ["7500.00"]
    assert "2026-08" in adjustments[0].get("explanation", "") + json.dumps(adjustments[0])


# --- rebuild after a definition change --------------------------------------------------------


def _pad(data_dir: Path, count: int) -> None:
    """Many activities in July: a log big enough that a rebuild takes a while."""
    from schemas.events import ActivityLogged, ActivityLoggedData

    base = datetime(2026, 7, 2, 9, tzinfo=UTC).timestamp()
    batch = []
    for i in range(count):
        batch.append(
            ActivityLogged(
                id=f"pad-{i:07d}",
                occurred_at=datetime.fromtimestamp(base + i, UTC),
                data=ActivityLoggedData(activity_id=f"pad-{i}", rep_id="li", kind="call"),
            )
        )
        if len(batch) == 10_000:
            append(data_dir, batch)
            batch = []
    if batch:
        append(data_dir, batch)


REBUILD_CHILD = """
import sys
sys.path.insert(0, {root!r})
from services.project.projector import rebuild
def progress(position, head):
    print(position, head, flush=True)
rebuild({data!r}, progress=progress)
print("done", flush=True)
"""


def _spawn_rebuild(data: Path) -> subprocess.Popen:
    code = REBUILD_CHILD.format(root=str(ROOT), data=str(data))
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


@pytest.mark.slow
def test_rebuild_after_definition_change_and_kill(seeded: Path) -> None:
    from services.project.readstore import ReadStore, current_path

    _pad(seeded, 200_000)
    project(seeded)
    assert totals(seeded, "2026-08") == FIRST
    use_ruleset(seeded, COLLECTED)

    # 1. A rebuild SIGKILLed halfway leaves the live figures as they were.
    before_pointer = current_path(seeded)
    child = _spawn_rebuild(seeded)
    while True:
        line = child.stdout.readline()
        assert line, "the rebuild ended before it was half done"
        position, head = (int(x) for x in line.split())
        if position * 2 >= head:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert current_path(seeded) == before_pointer
    assert totals(seeded, "2026-08") == FIRST

    # 2. A full rebuild moves the figures to the second set; standings answer throughout.
    child = _spawn_rebuild(seeded)
    seen = set()
    answered = 0
    while child.poll() is None:
        store = ReadStore.open_current(seeded)
        with store:
            doc = store.standings("2026-08")
        seen.add(json.dumps({r: v.total for r, v in doc.reps.items()}, sort_keys=True))
        answered += 1
        time.sleep(0.01)
    assert child.returncode == 0 and "done" in child.stdout.read()
    assert answered > 1
    assert totals(seeded, "2026-08") == SECOND
    with ReadStore.open_current(seeded) as store:
        standings = store.standings("2026-08")
        september = store.standings("2026-09")
    assert standings.reps["zhang"].bookings == "500000.00"
    assert standings.reps["zhang"].rag == "red"
    assert september.reps["wang"].bookings == "330000.00"
    assert september.reps["wang"].attainment is None
    # every answer during the rebuild was one of the two complete sets, never a mixture
    assert seen <= {json.dumps(FIRST, sort_keys=True), json.dumps(SECOND, sort_keys=True)}


def test_replay_refuses_a_broken_chain(seeded: Path) -> None:
    import sqlite3

    from events.log import log_path
    from services.audit.replay import replay

    db = sqlite3.connect(log_path(seeded))
    db.execute("DROP TRIGGER events_no_update")  # what a forger would have to do first
    db.execute(
        "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), '340000', '940000') AS BLOB) WHERE position = 21"
    )
    db.commit()
    db.close()
    with pytest.raises(AuditError, match="hash chain is broken at position 21"):
        replay(seeded, "2026-08", COLLECTED)
