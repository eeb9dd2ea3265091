"""Fault suite: processes SIGKILLed mid-load, the broker killed, the SQLite store failing
on write, a poison message. Real `quotaboard up`, real nats-server, real SQLite.

Each test prints one `FAULT ...` line with its measured counts (`pytest -s` shows them);
docs/faults.md holds the figures of a recorded run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from faultutil import (
    Load,
    batches,
    company_events,
    consumer_state,
    has_consumer,
    kill_role,
    log_ids,
    projector_position,
    publish_raw,
    role_pid,
    standings_json,
    standings_periods,
    wait_all_acked,
)
from natsutil import Service, event, pid_alive, wait_until

N_EVENTS = 20_000
KILLS = 5

# Found by these tests at 52e0108; fixed by the AckFloor of the recorder that followed.
RECORDER_ACKALL_BUG = (
    "recorder.py: AckPolicy.ALL with max_ack_pending=BATCH does not hold back newer messages when a "
    "SIGKILLed recorder left k < BATCH messages delivered but uncommitted; the restarted recorder is "
    "given BATCH-k newer ones before ack_wait expires, and its AckAll of their highest sequence "
    "acknowledges the k uncommitted ones, which are never redelivered: lost from the log"
)


class EventsLost(AssertionError):
    """Raised only when events are missing from the log: what the xfail marks expect."""


def report(name: str, **counts) -> None:
    print(f"\nFAULT {name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def log_counts(svc, sent_ids: list[str]) -> dict:
    ids = log_ids(svc.data_dir)
    c = Counter(ids)
    sent = set(sent_ids)
    return {"stored": len(ids), "duplicated": sum(n - 1 for n in c.values() if n > 1),
            "lost": len(sent - set(c)), "unexpected": len(set(c) - sent)}


def assert_exactly_once(svc, sent_ids: list[str], name: str, **extra) -> dict:
    counts = log_counts(svc, sent_ids)
    report(name, sent=len(set(sent_ids)), **counts, **extra)
    if counts["lost"]:
        raise EventsLost(f"{counts['lost']} events lost: {counts}")
    assert (counts["duplicated"], counts["unexpected"]) == (0, 0), counts
    assert counts["stored"] == len(set(sent_ids))
    res = svc.cli("verify")
    assert res.returncode == 0, res.stderr
    return counts


def freeze_until_in_flight(data_dir):
    """before_kill for the recorder: SIGSTOP it and wait (≤ 2 s) until the broker has
    delivered it messages it has not acknowledged, so the SIGKILL lands mid-batch."""
    def go(pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                if consumer_state(data_dir)["num_ack_pending"] > 0:
                    return
            except Exception:  # noqa: BLE001 - best effort
                pass
            time.sleep(0.05)

    return go


# --- the recorder SIGKILLed with a batch in hand ---------------------------------------------


def test_recorder_killed_with_batch_in_hand_loses_nothing(make_service):
    """Deterministic form of the fault: the recorder holds 300 delivered, uncommitted
    messages when it is SIGKILLed; 300 more arrive right after its restart.
    Regression test of RECORDER_ACKALL_BUG (lost 300 of 600 at 52e0108)."""
    svc = make_service()
    first: list[dict] = []
    in_hand = False
    for attempt in range(3):  # its pull request must be open while it is stopped
        pid = wait_until(lambda: role_pid(svc, "recorder"), 10, what="the recorder")
        wait_until(lambda: has_consumer(svc.data_dir), 10, what="the recorder's consumer")
        os.kill(pid, signal.SIGSTOP)
        batch = [event(i, f"inhand{attempt}") for i in range(300)]
        first += batch
        assert svc.post(batch).status_code == 202
        try:
            wait_until(lambda: consumer_state(svc.data_dir)["num_ack_pending"] > 0, 3, what="delivery")
            in_hand = True
            break
        except AssertionError:
            os.kill(pid, signal.SIGCONT)
            wait_all_acked(svc.data_dir, 20)
    assert in_hand, "could not catch the recorder holding a batch"
    stored_before = svc.count()
    kill_role(svc, "recorder", before_kill=lambda p: None)
    second = [event(i, "inhand-after") for i in range(300)]
    assert svc.post(second).status_code == 202
    wait_all_acked(svc.data_dir, 30)
    time.sleep(0.3)
    sent = [e["id"] for e in first + second]
    st = consumer_state(svc.data_dir)
    assert_exactly_once(svc, sent, "recorder SIGKILL with 300 in hand", stored_before_kill=stored_before,
                        stream=st["stream_messages"], ack_floor=st["ack_floor"])


def test_recorder_killed_five_times_during_load(make_service, request):
    svc = make_service()
    events = company_events(N_EVENTS, prefix="rk")
    sent = [e["id"] for e in events]
    load = Load(svc.url, svc.secret, batches(events), senders=3, rate=1000, deadline=120).start()
    rnd = random.Random(7001)
    at = []
    for _ in range(KILLS):
        time.sleep(rnd.uniform(0.05, 1.0))
        kill_role(svc, "recorder", before_kill=freeze_until_in_flight(svc.data_dir))
        at.append(load.progress())
    result = load.wait()
    assert result.failed == [] and result.unfinished == 0 and result.server_errors == {}, result
    assert result.accepted == N_EVENTS
    st = wait_all_acked(svc.data_dir, 90)
    time.sleep(0.3)
    counts = log_counts(svc, sent)
    report("recorder SIGKILL x5 during load", sent=N_EVENTS, **counts, stream=st["stream_messages"],
           http=dict(result.statuses), kills_at_events_sent=at)
    assert_exactly_once(svc, sent, "recorder SIGKILL x5 during load (checked)")


# --- the projector SIGKILLed during a 20,000-event load ---------------------------------------


def test_projector_killed_five_times_read_models_equal_a_rebuild(make_service):
    svc = make_service()
    events = company_events(N_EVENTS, prefix="pk")
    sent = [e["id"] for e in events]
    load = Load(svc.url, svc.secret, batches(events), senders=3, rate=1500, deadline=120).start()
    rnd = random.Random(7002)
    at = []
    for _ in range(KILLS):
        time.sleep(rnd.uniform(0.05, 1.5))
        kill_role(svc, "projector")
        at.append(load.progress())
    result = load.wait()
    assert result.failed == [] and result.unfinished == 0 and result.server_errors == {}, result
    svc.wait_count(N_EVENTS, timeout=60)
    wait_until(lambda: projector_position(svc.data_dir) == N_EVENTS, 90, 0.2,
               what="the projector to catch up with the log")
    periods = standings_periods(svc.data_dir)
    assert {"2026-07", "2026-08", "2026-09"} <= set(periods)
    live = standings_json(svc, periods)
    svc.cli("rebuild", "--json", check=True)
    fresh = standings_json(svc, periods)
    differ = [p for p in periods if live[p] != fresh[p]]
    assert_exactly_once(svc, sent, "projector SIGKILL x5 during load", http=dict(result.statuses),
                        kills_at_events_sent=at, periods_compared=len(periods), periods_differing=len(differ))
    assert all(live[p]["position"] == N_EVENTS for p in periods)
    assert differ == [], f"standings of {differ} differ from an uninterrupted rebuild"


# --- the embedded broker SIGKILLed mid-load -----------------------------------------------------


def test_broker_killed_mid_load_only_503_and_nothing_lost(make_service):
    svc = make_service()
    events = company_events(10_000, prefix="bk")
    sent = [e["id"] for e in events]
    url_before = svc.service_info()["broker"]["url"]
    load = Load(svc.url, svc.secret, batches(events), senders=3, rate=1500, deadline=90).start()
    time.sleep(2.0)
    old, new = kill_role(svc, "broker")
    killed_at = load.progress()
    result = load.wait()
    assert svc.service_info()["broker"]["url"] == url_before  # clients reconnect to the same URL
    st = wait_all_acked(svc.data_dir, 60)
    svc.wait_count(len(sent), timeout=30)
    non_202 = {s: n for s, n in result.statuses.items() if s != 202}
    assert_exactly_once(svc, sent, "embedded broker SIGKILL mid-load", http=dict(result.statuses),
                        transport_errors=dict(result.errors), killed_at_events_sent=killed_at,
                        stream=st["stream_messages"], duplicates_reported=result.duplicates)
    assert result.failed == [] and result.unfinished == 0
    assert set(non_202) <= {503}, result.statuses  # only 503 while it is down, never another 5xx
    assert result.errors == Counter(), "the gateway itself must keep answering"
    assert not pid_alive(old) and pid_alive(new)


# --- the SQLite log failing on write (a full file system) ---------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MiB tmpfs (needs root / CAP_SYS_ADMIN, else the test is skipped)."""
    mnt = tmp_path / "logfs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path, chunk: int = 1 << 20) -> int:
    """Write zeros into `path` until the file system is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as fh:
        block = b"\0" * chunk
        while chunk >= 512:
            try:
                written += fh.write(block[:chunk])
            except OSError:
                chunk //= 2
        os.fsync(fh.fileno())
    return written


def test_log_disk_full_nothing_acked_then_redelivered(tmp_path, small_fs):
    data = tmp_path / "data"
    data.mkdir()
    (data / "log.sqlite").symlink_to(small_fs / "log.sqlite")  # SQLite follows it; -wal/-shm land there too
    ack_wait = 1.0  # production's 5 s would only lengthen the wait below; what is asserted is the same
    svc = Service(data, env={"QUOTABOARD_ACK_WAIT": str(ack_wait)})
    try:
        svc.start()
        first = [event(i, "full-a") for i in range(500)]
        assert svc.post(first).status_code == 202
        svc.wait_count(500)
        wait_all_acked(data, 20)
        filler = small_fs / "filler"
        filled = fill(filler)
        before = consumer_state(data)
        second = [event(i, "full-b") for i in range(2000)]
        for k in range(0, 2000, 500):
            assert svc.post(second[k:k + 500]).status_code == 202  # the stream is elsewhere: accepted
        wait_until(lambda: consumer_state(data)["num_ack_pending"] > 0, 10, what="delivery to the recorder")
        time.sleep(ack_wait + 2)  # longer than ack_wait: nothing may be acked meanwhile
        during = consumer_state(data)
        stored_during = svc.count()
        assert stored_during == 500
        assert during["ack_floor"] == before["ack_floor"] == 500
        assert during["num_ack_pending"] + during["num_pending"] == 2000
        assert "cannot append" in svc.output()
        filler.unlink()
        wait_all_acked(data, 60)
        svc.wait_count(2500, timeout=30)
        assert_exactly_once(svc, [e["id"] for e in first + second], "log file system full",
                            filler_bytes=filled, stored_while_full=stored_during - 500,
                            acked_while_full=during["ack_floor"] - before["ack_floor"],
                            redelivered=consumer_state(data)["redelivered"])
    finally:
        svc.stop()


# --- a poison message published straight to the stream -----------------------------------------------


def test_poison_message_is_quarantined_and_the_stream_moves_on(make_service):
    svc = make_service()
    assert svc.post([event(i, "pre-poison") for i in range(50)]).status_code == 202
    svc.wait_count(50)
    raw = [b'{"id": "poison-1", "type": "deal.won", "occurred_at": "2026-08-01T10:00:00+08:00", "data": "oops"}',
           b"\xff\xfenot json at all"]
    for payload in raw:
        publish_raw(svc.data_dir, "sales.events.deal.won", payload)
    after = [event(i, "post-poison") for i in range(200)]
    assert svc.post(after).status_code == 202
    svc.wait_count(250, timeout=20)
    wait_all_acked(svc.data_dir, 20)
    status = json.loads(svc.cli("status", "--json", check=True).stdout)
    assert status["quarantined"] >= 2 and status["events"] == 250
    import sqlite3

    con = sqlite3.connect(f"file:{svc.data_dir / 'log.sqlite'}?mode=ro", uri=True)
    rows = con.execute("SELECT subject, reason, raw FROM quarantine ORDER BY id").fetchall()
    con.close()
    assert [bytes(r[2]) for r in rows] == raw
    assert all(r[0] == "sales.events.deal.won" and r[1] for r in rows)
    assert_exactly_once(svc, [e["id"] for e in [event(i, "pre-poison") for i in range(50)] + after],
                        "poison message", quarantined=status["quarantined"],
                        reasons=[r[1][:60] for r in rows])
