"""The event log against real SQLite files: append, idempotency, immutability, the chain."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events.log as log_module
from events.chain import GENESIS
from events.log import EventLog, LogNotFound, Poison, RawRow, raw_row
from schemas.events import DealCreated, DealCreatedData, DealWon, DealWonData, encode_event

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 8, 14, 2, 0, tzinfo=UTC)


def won(event_id: str, deal: str = "D1", minutes: int = 0) -> DealWon:
    return DealWon(id=event_id, occurred_at=T0 + timedelta(minutes=minutes), data=DealWonData(deal_id=deal))


def created(event_id: str, deal: str, minutes: int = 0) -> DealCreated:
    return DealCreated(
        id=event_id,
        occurred_at=T0 + timedelta(minutes=minutes),
        source="crm",
        data=DealCreatedData(deal_id=deal, rep_id="zhang", customer_id="C1", product_line="A", amount=Decimal("10.00")),
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.sqlite"


def test_append_and_read_back(path: Path) -> None:
    events = [created("c1", "D1"), won("w1", "D1", 5), created("c2", "D2", 1)]
    with EventLog(path) as log:
        result = log.append(events)
        assert result == (3, 0, 1, 3, 0, 0)
        rows = list(log.read())
    assert [r.position for r in rows] == [1, 2, 3]
    assert [r.id for r in rows] == ["c1", "w1", "c2"]
    assert rows[1].type == "deal.won" and rows[1].stream == "deal:D1" and rows[0].source == "crm"
    assert rows[1].occurred_at == T0 + timedelta(minutes=5)
    assert rows[0].occurred_at.tzinfo is not None and rows[0].recorded_at.tzinfo is not None
    assert [r.payload for r in rows] == [encode_event(e) for e in events]
    assert [r.event for r in rows] == events
    with EventLog(path) as log:
        assert [(p, e) for p, e in log.read_events(2)] == [(2, events[1]), (3, events[2])]
        assert [r.position for r in log.read(2, until_position=2)] == [2]
        assert [r.position for r in log.read(1, batch=1)] == [1, 2, 3]


def test_stored_time_text_is_fixed_width_utc(path: Path) -> None:
    offset = datetime(2026, 8, 14, 10, 32, tzinfo=UTC).astimezone(timezone_plus8())
    event = DealWon(id="x", occurred_at=offset, data=DealWonData(deal_id="D1"))
    with EventLog(path) as log:
        log.append([event])
    con = sqlite3.connect(path)
    occurred, recorded = con.execute("SELECT occurred_at, recorded_at FROM events").fetchone()
    con.close()
    assert occurred == "2026-08-14T10:32:00.000000Z"
    assert len(recorded) == 27 and recorded.endswith("Z")


def timezone_plus8():
    from datetime import timezone

    return timezone(timedelta(hours=8))


def test_positions_gap_free_across_batches(path: Path) -> None:
    with EventLog(path) as log:
        first = log.append([won(f"a{i}") for i in range(7)])
        second = log.append([won("a3"), won("b0"), won("b1")])
        third = log.append([won(f"c{i}") for i in range(500)])
        assert (first.first_position, first.last_position) == (1, 7)
        assert (second.first_position, second.last_position, second.duplicates) == (8, 9, 1)
        assert (third.first_position, third.last_position) == (10, 509)
        assert [r.position for r in log.read(batch=64)] == list(range(1, 510))
        assert log.count() == log.last_position() == 509


def test_same_id_twice_stored_once(path: Path) -> None:
    with EventLog(path) as log:
        within = log.append([won("e1"), won("e2"), won("e1", deal="OTHER")])
        assert within == (2, 1, 1, 2, 1, 0)  # the repeat of e1 has other content: a conflict
        assert [c.id for c in log.conflicts()] == ["e1"]
        across = log.append([won("e2"), won("e3"), won("e1")])
        assert across == (1, 2, 3, 3, 0, 0)
        nothing = log.append([won("e1"), won("e3")])
        assert nothing == (0, 2, None, None, 0, 0)
        rows = list(log.read())
    assert [r.id for r in rows] == ["e1", "e2", "e3"]
    assert rows[0].stream == "deal:D1"  # the first of the batch won, not the later copy


def test_duplicates_survive_reopen(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won("e1")])
    with EventLog(path) as log:
        assert log.append([won("e1"), won("e2")]) == (1, 1, 2, 2, 0, 0)


def test_uniqueness_holds_under_hash_collisions(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 2-bit idempotency key instead of 64 bits, so that almost every id collides.
    monkeypatch.setattr(log_module, "id_key", lambda event_id: sum(event_id.encode()) % 4)
    ids = [f"id-{i}" for i in range(40)]
    with EventLog(path) as log:
        assert log.append([won(i) for i in ids[:25]]).appended == 25
        again = log.append([won(i) for i in ids[10:40]] + [won("id-39")])
        assert again == (15, 16, 26, 40, 0, 0)
        assert log.append([won(i) for i in ids]) == (0, 40, None, None, 0, 0)
        stored = [r.id for r in log.read()]
        assert log.verify().ok
    assert sorted(stored) == sorted(ids) and len(stored) == 40


def test_update_and_delete_refused_by_the_database(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won("e1"), won("e2")])
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
        con.execute("UPDATE events SET payload = x'00' WHERE position = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
        con.execute("DELETE FROM events WHERE position = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM event_keys")
    with pytest.raises(sqlite3.DatabaseError, match="gap-free"):
        con.execute(
            "INSERT INTO events VALUES (5, 'x', 't', '2026-08-14T10:32:00.000000Z',"
            " '2026-08-14T10:32:00.000000Z', 's', 'k', x'00', zeroblob(32))"
        )
    con.close()
    with EventLog(path) as log:
        assert [r.id for r in log.read()] == ["e1", "e2"]
        assert log.verify().ok


def _tamper(path: Path, sql: str, params: tuple) -> None:
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER events_no_update")
    con.execute(sql, params)
    con.commit()
    con.close()


def test_verify_passes_then_names_the_altered_position(path: Path) -> None:
    with EventLog(path) as log:
        for start in range(0, 60, 20):
            log.append([won(f"e{i}", deal=f"D{i}") for i in range(start, start + 20)])
        result = log.verify()
        assert result.ok and result.checked == 60 and result.first_bad_position is None
        head_position, head_hash = log.head()
        assert head_position == 60 and len(head_hash) == 32
    forged = encode_event(won("e37", deal="D999"))
    _tamper(path, "UPDATE events SET payload = ? WHERE position = 38", (forged,))
    with EventLog(path, readonly=True) as log:
        result = log.verify(batch=7)
    assert not result.ok
    assert result.first_bad_position == 38 and result.checked == 37
    assert "38" in result.reason


def test_verify_catches_a_replaced_hash(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won(f"e{i}") for i in range(10)])
    _tamper(path, "UPDATE events SET hash = ? WHERE position = 4", (bytes(32),))
    with EventLog(path) as log:
        assert log.verify().first_bad_position == 4


def test_verify_catches_a_deleted_row(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won(f"e{i}") for i in range(10)])
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER events_no_delete")
    con.execute("DELETE FROM events WHERE position = 6")
    con.commit()
    con.close()
    with EventLog(path) as log:
        result = log.verify()
    assert not result.ok and result.first_bad_position == 6


def test_empty_log(path: Path) -> None:
    with EventLog(path) as log:
        assert log.verify()[:4] == (True, 0, None, "ok")
        assert log.head() == (0, GENESIS)
        assert list(log.read()) == [] and log.last_position() == 0


def test_readonly_creates_nothing_and_cannot_write(path: Path) -> None:
    with pytest.raises(LogNotFound):
        EventLog(path, readonly=True)
    assert not path.exists()
    with EventLog(path) as log:
        log.append([won("e1")])
    with EventLog(path, readonly=True) as log:
        assert log.count() == 1
        with pytest.raises(PermissionError):
            log.append([won("e2")])
        with pytest.raises(sqlite3.OperationalError):
            log._con.execute("INSERT INTO quarantine (received_at, subject, reason, raw) VALUES ('a','b','c',x'00')")


def test_readonly_on_a_file_without_schema_reads_empty(path: Path) -> None:
    sqlite3.connect(path).close()
    path.write_bytes(b"")
    with EventLog(path, readonly=True) as log:
        assert log.last_position() == 0 and list(log.read()) == [] and log.verify().ok


def test_read_occurred_range(path: Path) -> None:
    events = [won(f"e{m}", deal=f"D{m}", minutes=m) for m in (30, 0, 10, 20, 10, 40)]
    events[4] = won("e10b", deal="D10b", minutes=10)
    with EventLog(path) as log:
        log.append(events)
        got = list(log.read_occurred(T0 + timedelta(minutes=10), T0 + timedelta(minutes=30), batch=1))
    assert [r.id for r in got] == ["e10", "e10b", "e20"]  # [start, end), time then position order
    assert [r.position for r in got] == [3, 5, 4]


def test_read_as_of_recorded_time(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won("e1"), won("e2")])
        time.sleep(0.01)
        between = datetime.now(UTC)
        time.sleep(0.01)
        log.append([won("e3")])
        assert [r.id for r in log.read_as_of(between)] == ["e1", "e2"]
        assert [r.id for r in log.read_as_of(datetime.now(UTC))] == ["e1", "e2", "e3"]
        assert list(log.read_as_of(between - timedelta(days=1))) == []
        assert log.position_as_of(between) == 2
        rows = list(log.read())
    assert rows[0].recorded_at <= between < rows[2].recorded_at


def test_read_stream(path: Path) -> None:
    with EventLog(path) as log:
        log.append([created("c1", "D1"), created("c2", "D2"), won("w2", "D2"), won("w1", "D1")])
        assert [r.id for r in log.read_stream("deal:D1", batch=1)] == ["c1", "w1"]
        assert [r.position for r in log.read_stream("deal:D2")] == [2, 3]
        assert list(log.read_stream("deal:none")) == []


AUG, SEP = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)


def _selection_log(path: Path) -> None:
    """D1 created in July and won in August; D2 created in July, won in September; D3
    created in September."""
    with EventLog(path) as log:
        log.append([created("c1", "D1", -40 * 1440), created("c2", "D2", -40 * 1440), won("w1", "D1"),
                    created("c3", "D3", 30 * 1440), won("w2", "D2", 30 * 1440)])


def test_selected_rows_by_type_stream_and_window(path: Path) -> None:
    _selection_log(path)
    with EventLog(path, readonly=True) as log:
        def positions(rows: list[tuple]) -> list[int]:
            assert all(len(r) == 9 and len(r[8]) == 32 for r in rows)  # every column and the hash
            return sorted(r[0] for r in rows)

        assert positions(log.rows_of_types(["deal.won"], before=SEP, until=5)) == [3]
        assert positions(log.rows_of_types(["deal.won"], before=SEP + timedelta(days=60), until=4)) == [3]
        assert positions(log.rows_of_streams("deal:D1", until=5)) == [1, 3]
        assert positions(log.rows_of_streams("deal:", until=4)) == [1, 2, 3, 4]
        # the deals with an event in August, their whole history before September
        active = log.rows_of_streams_active
        assert positions(active("deal:", AUG, SEP, until=5, skip_type="deal.stage_changed")) == [1, 3]
        assert positions(active("deal:", AUG, SEP, until=5, skip_type="deal.created")) == [3]
        assert positions(active("deal:", AUG, SEP, until=2, skip_type="deal.stage_changed")) == []
        assert positions(active("deal:", None, SEP, until=5, skip_type="deal.stage_changed")) == [1, 2, 3]
        first = log.first_occurred_of_streams_with
        assert first("deal.won", SEP, SEP + timedelta(days=30), until=5) == T0 - timedelta(days=40)
        assert first("deal.won", SEP, SEP + timedelta(days=30), until=4) is None
        assert first("deal.lost", AUG, SEP, until=5) is None


def test_verify_links_checks_the_rows_used_and_their_successors(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won(f"e{i}", deal=f"D{i}") for i in range(1, 11)])
        used = log.rows_of_streams("deal:D5", until=10)
        assert log.verify_links(used)[:3] == (True, 2, None)  # position 5 and 6 linked
        assert log.verify_links([])[:3] == (True, 0, None)
    forged = encode_event(won("e6", deal="D999"))
    _tamper(path, "UPDATE events SET payload = ? WHERE position = 6", (forged,))
    with EventLog(path, readonly=True) as log:
        result = log.verify_links(log.rows_of_streams("deal:D5", until=10))  # 6 follows a used row
        assert (result.ok, result.first_bad_position) == (False, 6) and "hash mismatch" in result.reason
        assert log.verify_links(log.rows_of_streams("deal:D8", until=10)).ok  # 6 is not looked at
    con = sqlite3.connect(path)  # the update trigger is gone already
    con.execute("UPDATE events SET hash = ? WHERE position = 8", (bytes(32),))
    con.commit()
    with EventLog(path, readonly=True) as log:
        assert log.verify_links(log.rows_of_streams("deal:D8", until=10)).first_bad_position == 8
        used = log.rows_of_streams("deal:D3", until=10)
    con.execute("DROP TRIGGER events_no_delete")
    con.execute("DELETE FROM events WHERE position = 2")
    con.commit()
    con.close()
    with EventLog(path, readonly=True) as log:
        result = log.verify_links(used)
    assert result.first_bad_position == 3 and result.reason == "position 2 is missing at position 3"


def test_failed_batch_rolls_back_entirely(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won("e1")])
        good = raw_row(won("e2"))
        bad = RawRow("e3", "deal.won", "not a time", "api", "deal:D1", b"{}")  # CHECK fails
        with pytest.raises(sqlite3.IntegrityError):
            log.append_raw([good, bad], quarantined=[Poison("sales.x", "bad json", b"{")])
        assert [r.id for r in log.read()] == ["e1"]
        assert log.quarantine_count() == 0
        # nothing half-written in the idempotency index either: e2 is still new
        assert log.append([won("e2")]) == (1, 0, 2, 2, 0, 0)
        assert log.verify().ok


def test_append_and_quarantine_in_one_transaction(path: Path) -> None:
    with EventLog(path) as log:
        result = log.append([won("e1")], quarantined=[Poison("sales.events", "not JSON", b"{oops")])
        assert result.appended == 1 and log.quarantine_count() == 1
        assert log.quarantine([Poison("sales.events", "no id", b"{}")]) == 1
        items = log.quarantined()
        assert [(q.subject, q.reason, q.raw) for q in items] == [
            ("sales.events", "no id", b"{}"),
            ("sales.events", "not JSON", b"{oops"),
        ]
        assert log.append([], quarantined=[Poison("s", "r", b"x")]) == (0, 0, None, None, 0, 0)
        assert log.quarantine_count() == 3


def test_pragmas(path: Path) -> None:
    with EventLog(path) as log:
        assert log._con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log._con.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert log._con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


_READER = r"""
import sys, time
from events.log import EventLog
path, total = sys.argv[1], int(sys.argv[2])
seen, deadline = 0, time.monotonic() + 60
with EventLog(path, readonly=True) as log:
    while seen < total and time.monotonic() < deadline:
        for record in log.read(seen + 1, batch=50):
            assert record.position == seen + 1, (record.position, seen)
            seen = record.position
        result = log.verify()
        assert result.ok, result
print(seen)
"""


def test_readers_in_other_processes_while_appending(path: Path) -> None:
    with EventLog(path) as log:
        log.append([won("seed")])
        total = 3001
        readers = [
            subprocess.Popen(
                [sys.executable, "-c", _READER, str(path), str(total)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(2)
        ]
        for start in range(0, 3000, 100):
            log.append([won(f"e{i}", deal=f"D{i % 17}") for i in range(start, start + 100)])
        outputs = [r.communicate(timeout=90) for r in readers]
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err
        assert out.strip() == str(total)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.text(alphabet="abcdef", min_size=1, max_size=3), max_size=12), min_size=1, max_size=6
    )
)
def test_chain_property(tmp_path: Path, batches: list[list[str]]) -> None:
    """Any sequence of batches, with any duplicates: the stored log is the first occurrence
    of each id in order, positions 1..n, and its hashes are the documented chain."""
    path = tmp_path / f"h{time.monotonic_ns()}.sqlite"
    expected: list[str] = []
    with EventLog(path) as log:
        for ids in batches:
            before = len(expected)
            for event_id in ids:
                if event_id not in expected:
                    expected.append(event_id)
            result = log.append([won(i) for i in ids])
            assert result.appended == len(expected) - before
            assert result.appended + result.duplicates == len(ids)
        assert log.verify().ok
        rows = list(log.read(batch=5))
    assert [r.id for r in rows] == expected
    con = sqlite3.connect(path)
    stored = con.execute("SELECT * FROM events ORDER BY position").fetchall()
    con.close()
    prev = GENESIS
    for position, *columns, payload, digest in stored:  # chain v2, as events/chain.py writes it
        texts = [c.encode() for c in columns]
        head = b"\x02" + position.to_bytes(8, "big") + b"".join(len(t).to_bytes(4, "big") for t in texts)
        prev = hashlib.sha256(prev + head + b"".join(texts) + payload).digest()
        assert prev == digest
