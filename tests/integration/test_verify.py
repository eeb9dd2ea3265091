"""`verify` against tampering done straight in SQLite, as a forger with the file would.

Every stored column is covered: a chain-v2 row's hash binds them all, a chain-v1 row's
unchained columns are compared with its payload; a truncated tail is caught against the
positions kept outside the log (the projector's checkpoint, the last verified head);
damage of any kind is a report naming the position, never a traceback.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from events.chain import GENESIS, chain_hash, chain_hash_v2
from events.log import Anchor, EventLog
from schemas.events import DealCreated, DealCreatedData, DealWon, DealWonData, decode_event
from services.audit.integrity import head_path, read_head, verify_data

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT.parent / "shared" / "examples"
T0 = datetime(2026, 8, 14, 2, 0, tzinfo=UTC)


def events(n: int) -> list:
    """n events over deals D0, D1, D0, ...: a creation, then wins."""
    out: list = [
        DealCreated(
            id="e0",
            occurred_at=T0,
            source="crm",
            data=DealCreatedData(
                deal_id="D0",
                rep_id="zhang",
                customer_id="C1",
                product_line="A",
                amount=Decimal("10.00"),
            ),
        )
    ]
    for i in range(1, n):
        out.append(
            DealWon(
                id=f"e{i}",
                occurred_at=T0 + timedelta(minutes=i),
                source="crm",
                data=DealWonData(deal_id=f"D{i % 2}"),
            )
        )
    return out


def write_log(path: Path, n: int = 5) -> None:
    with EventLog(path) as log:
        log.append(events(n))


def tamper(path: Path, *statements: tuple[str, tuple]) -> None:
    """Run SQL on the log after dropping every guard trigger."""
    con = sqlite3.connect(path)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f'DROP TRIGGER "{name}"')
    for sql, params in statements:
        con.execute(sql, params)
    con.commit()
    con.close()


def to_schema_1(path: Path) -> None:
    """Make the log what schema-1 code wrote: every row hashed by chain v1, no
    chain_versions table, user_version 1 (the triggers are kept)."""
    con = sqlite3.connect(path)
    triggers = con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
    ).fetchall()
    con.execute("DROP TRIGGER events_no_update")
    prev = GENESIS
    for position, event_id, payload in con.execute(
        "SELECT position, id, payload FROM events ORDER BY position"
    ).fetchall():
        prev = chain_hash(prev, position, event_id, payload)
        con.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, position))
    con.execute("DROP TABLE chain_versions")
    for (sql,) in triggers:
        if "events_no_update" in sql:
            con.execute(sql)
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()


def rehash_v2(path: Path) -> None:
    """A forger's last step: recompute every chain-v2 hash so the chain is consistent."""
    con = sqlite3.connect(path)
    prev = GENESIS
    rows = con.execute(
        "SELECT position, id, type, occurred_at, recorded_at, source, stream, payload FROM events ORDER BY position"
    ).fetchall()
    for row in rows:
        prev = chain_hash_v2(prev, *row)
        con.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, row[0]))
    con.commit()
    con.close()


def check(path: Path, **kwargs):
    with EventLog(path, readonly=True) as log:
        return log.verify(**kwargs)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.sqlite"


# --- every column -----------------------------------------------------------------------

CHANGES = {
    "type": "deal.lost",
    "occurred_at": "2026-10-01T00:00:00.000000Z",
    "source": "forged",
    "stream": "deal:D9",
    "id": "e9",
}


@pytest.mark.parametrize("column", [*CHANGES, "recorded_at"])
def test_chain_v2_binds_every_column(path: Path, column: str) -> None:
    write_log(path)
    value = CHANGES.get(column) or "2099-01-01T00:00:00.000000Z"
    tamper(path, (f"UPDATE events SET {column} = ? WHERE position = 3", (value,)))
    result = check(path)
    assert not result.ok and result.first_bad_position == 3 and result.checked == 2
    assert result.reason.startswith("hash mismatch") and "position 3" in result.reason


@pytest.mark.parametrize("column", list(CHANGES))
def test_chain_v1_columns_are_checked_against_the_payload(path: Path, column: str) -> None:
    write_log(path)
    to_schema_1(path)
    assert check(path).ok
    tamper(path, (f"UPDATE events SET {column} = ? WHERE position = 3", (CHANGES[column],)))
    result = check(path)
    assert not result.ok and result.first_bad_position == 3
    if column == "id":  # chained by v1 too
        assert result.reason.startswith("hash mismatch")
    else:
        assert f"{column} {CHANGES[column]!r} is not its payload's" in result.reason


def test_chain_v1_recorded_at_must_not_go_backwards(path: Path) -> None:
    write_log(path)
    to_schema_1(path)
    tamper(
        path,
        ("UPDATE events SET recorded_at = '2000-01-01T00:00:00.000000Z' WHERE position = 4", ()),
    )
    result = check(path)
    assert (result.ok, result.first_bad_position) == (
        False,
        4,
    ) and "recorded_at goes backwards" in result.reason


def test_a_schema_1_log_still_verifies_then_continues_under_chain_v2(path: Path) -> None:
    write_log(path, 4)
    to_schema_1(path)
    with EventLog(path, readonly=True) as log:
        assert log.chain_v2_from() is None and log.verify()[:4] == (True, 4, None, "ok")
    with EventLog(path) as log:  # the writer upgrades the schema: v2 from the next position
        assert log.chain_v2_from() == 5
        log.append(events(7)[4:])
        assert log.verify()[:4] == (True, 7, None, "ok")
        assert log._con.execute("PRAGMA user_version").fetchone()[0] == 2
    con = sqlite3.connect(path)
    rows = con.execute("SELECT * FROM events ORDER BY position").fetchall()
    con.close()
    prev = GENESIS
    for position, event_id, *columns, payload, digest in rows:
        if position < 5:
            prev = chain_hash(prev, position, event_id, payload)
        else:
            prev = chain_hash_v2(prev, position, event_id, *columns, payload)
        assert prev == digest
    # moving the version boundary is tampering too
    tamper(path, ("UPDATE chain_versions SET from_position = 3", ()))
    assert check(path).first_bad_position == 3
    tamper(path, ("DELETE FROM chain_versions", ()))
    assert not check(path).ok


# --- damage of any kind: a position and a reason, never an exception --------------------


@pytest.mark.parametrize("schema", [1, 2])
def test_a_text_payload_is_reported_not_raised(path: Path, schema: int) -> None:
    write_log(path)
    if schema == 1:
        to_schema_1(path)
    tamper(path, ("UPDATE events SET payload = CAST(payload AS TEXT) WHERE position = 3", ()))
    result = check(path)
    assert (result.ok, result.first_bad_position) == (False, 3)
    assert result.reason == "payload is TEXT, not BLOB at position 3"


def test_bad_json_is_reported_with_the_reason(path: Path) -> None:
    write_log(path)
    tamper(
        path, ('UPDATE events SET payload = CAST(\'{"id": "e2", \' AS BLOB) WHERE position = 3', ())
    )
    result = check(path)
    assert (result.ok, result.first_bad_position) == (False, 3)
    assert "hash mismatch (payload is not a valid event" in result.reason


def test_nulls_are_reported(path: Path) -> None:
    write_log(path)
    con = sqlite3.connect(path)  # a forger can even lift NOT NULL through the schema text
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') WHERE name = 'events'")
    con.commit()
    con.close()
    tamper(
        path,
        ("UPDATE events SET stream = NULL WHERE position = 2", ()),
        ("UPDATE events SET id = NULL WHERE position = 4", ()),
    )
    result = check(path)
    assert (result.ok, result.first_bad_position) == (False, 2)
    assert result.reason == "stream is NULL, not TEXT at position 2"


def test_a_missing_index_entry_names_its_position(path: Path) -> None:
    write_log(path)
    tamper(path, ("DELETE FROM event_keys WHERE position = 4", ()))
    result = check(path)
    assert (result.ok, result.first_bad_position) == (
        False,
        4,
    ) and "idempotency index" in result.reason


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    log_file = tmp_path / "log.sqlite"
    log_file.write_bytes(b"not a database at all, " * 200)
    result = verify_data(tmp_path, log_file)
    assert not result.ok and result.reason == "the log cannot be read: file is not a database"


# --- what only an outside record can show -------------------------------------------------


def test_a_dropped_last_row_is_caught_against_an_anchor(path: Path) -> None:
    write_log(path, 10)
    with EventLog(path) as log:
        head = log.head()
    tamper(path, ("DELETE FROM events WHERE position = 10", ()))
    assert check(path).ok  # the chain alone cannot tell
    result = check(path, anchors=[Anchor(*head, "the last verify")])
    assert (result.ok, result.first_bad_position) == (False, 10)
    assert result.reason == (
        "the log ends at position 9, but the last verify saw position 10: "
        "positions 10..10 are missing (a truncated tail)"
    )


def test_a_rehashed_chain_is_caught_by_the_kept_hash(path: Path) -> None:
    write_log(path, 10)
    with EventLog(path) as log:
        head = log.head()
    tamper(path, ("UPDATE events SET stream = 'deal:D9' WHERE position = 3", ()))
    rehash_v2(path)
    assert check(path).ok  # a consistent forgery: only the kept head shows it
    result = check(path, anchors=[Anchor(*head, "the last verify")])
    assert (result.ok, result.first_bad_position) == (False, 10)
    assert "rewritten at or before position 10" in result.reason


def test_verify_data_keeps_the_head_and_catches_truncation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    log_file = data / "log.sqlite"
    write_log(log_file, 6)
    assert read_head(data) is None
    assert verify_data(data, log_file).ok
    kept = read_head(data)
    assert isinstance(kept, Anchor) and kept.position == 6
    with EventLog(log_file) as log:
        assert kept.hash == log.head()[1]
        log.append(events(8)[6:])
    assert verify_data(data, log_file).ok and read_head(data).position == 8
    tamper(log_file, ("DELETE FROM events WHERE position >= 7", ()))
    result = verify_data(data, log_file)
    assert (result.ok, result.first_bad_position) == (
        False,
        7,
    ) and "positions 7..8 are missing" in result.reason
    assert read_head(data).position == 8  # a failed verify leaves the head alone
    head_path(data).write_text("{not json")
    result = verify_data(data, log_file)
    assert not result.ok and "is not a verified head" in result.reason


# --- through the CLI and the replay ---------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_reports_damage_in_one_line_and_in_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_log(data / "log.sqlite")
    ok = cli("verify", "--data", str(data), "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True and doc["head"]["position"] == 5 and len(doc["head"]["hash"]) == 64
    tamper(
        data / "log.sqlite",
        ("UPDATE events SET payload = CAST(payload AS TEXT) WHERE position = 3", ()),
    )
    bad = cli("verify", "--data", str(data))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "broken at position 3: payload is TEXT, not BLOB" in bad.stderr
    tamper(
        data / "log.sqlite",
        ("UPDATE events SET payload = CAST(payload AS BLOB) WHERE position = 3", ()),
        ("DELETE FROM events WHERE position = 5", ()),
    )
    bad = cli("verify", "--data", str(data), "--json")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and doc["first_bad_position"] == 5 and "truncated" in doc["reason"]


def seeded(data: Path) -> None:
    """The seed's 37 events in a log and folded into read models under seed-table3."""
    from services.project.projector import rebuild

    folder = data / "rulesets"
    folder.mkdir(parents=True)
    (folder / "seed-table3.toml").write_bytes(
        (EXAMPLES / "rulesets" / "seed-table3.toml").read_bytes()
    )
    seed = [
        decode_event(line)
        for line in (EXAMPLES / "seed-table1.jsonl").read_text().splitlines()
        if line.strip()
    ]
    with EventLog(data / "log.sqlite") as log:
        log.append(seed)
    rebuild(data)


def zhang_after(data: Path) -> str:
    from services.audit.replay import replay

    return replay(data, "2026-08", EXAMPLES / "rulesets" / "seed-table3.toml")["reps"]["zhang"][
        "after"
    ]


MOVE_D2 = (
    "UPDATE events SET occurred_at = '2026-10-01T00:00:00.000000Z' WHERE stream = 'deal:D2'",
    (),
)


def test_moving_a_deals_rows_out_of_a_replay_is_caught_under_chain_v1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded(data)
    to_schema_1(data / "log.sqlite")
    before = zhang_after(data)
    tamper(data / "log.sqlite", MOVE_D2)
    assert zhang_after(data) != before  # the forgery changes a replay ...
    result = verify_data(data, data / "log.sqlite")  # ... and verify names its first row
    assert (result.ok, result.first_bad_position) == (False, 20)
    assert "occurred_at '2026-10-01T00:00:00.000000Z' is not its payload's" in result.reason


def test_moving_a_deals_rows_is_caught_under_chain_v2(tmp_path: Path) -> None:
    from services.audit.common import AuditError

    data = tmp_path / "data"
    seeded(data)
    tamper(data / "log.sqlite", MOVE_D2)
    result = verify_data(data, data / "log.sqlite")
    assert (result.ok, result.first_bad_position) == (
        False,
        20,
    ) and "hash mismatch" in result.reason
    with pytest.raises(AuditError, match="hash chain is broken at position 20"):
        zhang_after(data)


def test_the_projectors_checkpoint_catches_a_dropped_tail(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded(data)  # folded to 37, never verified: no head kept yet
    tamper(data / "log.sqlite", ("DELETE FROM events WHERE position >= 36", ()))
    result = verify_data(data, data / "log.sqlite")
    assert (result.ok, result.first_bad_position) == (False, 36)
    assert "the projector saw position 37" in result.reason
