"""Ingest end to end: signed POST -> gateway -> JetStream -> recorder -> event log.

Every test runs a real `quotaboard up` (real nats-server from the wheel, real SQLite).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time

import pytest
from natsutil import (
    REPO,
    SHARED,
    NatsServer,
    event,
    log_count,
    pid_alive,
    signed_headers,
    wait_until,
)


def barrier(svc, tag: str) -> int:
    """Post one good event and wait until it is stored; returns the count before it.
    The recorder stores in stream order, so anything posted earlier is stored by then."""
    before = svc.count()
    assert svc.post([event(tag, "barrier")]).status_code == 202
    svc.wait_count(before + 1)
    return before


def test_signed_post_is_stored_and_repost_is_duplicate(service):
    start = service.count()
    batch = [event(i, "dup") for i in range(20)]
    r = service.post(batch)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 20, "duplicates": 0, "conflicts": []}
    service.wait_count(start + 20)

    r = service.post(batch)  # same ids, fresh signature
    assert r.status_code == 202
    assert r.json() == {"accepted": 20, "duplicates": 20, "conflicts": []}
    barrier(service, "dup")
    assert service.count() == start + 21  # the 20 once, plus the barrier


def test_gateway_serves_its_openapi_document(service):
    r = service.client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == (REPO / "schemas" / "openapi.json").read_bytes()
    assert set(r.json()["paths"]["/v1/events"]["post"]["responses"]) == {"202", "400", "401", "403", "408", "413", "503"}


def test_single_object_body_is_accepted(service):
    start = service.count()
    r = service.post(event("single", "obj"))
    assert r.status_code == 202 and r.json() == {"accepted": 1, "duplicates": 0, "conflicts": []}
    service.wait_count(start + 1)


def _bad_requests(secret):
    good = json.dumps([event(1, "bad")]).encode()
    stale = int(time.time()) - 301
    wrong = signed_headers("whsec_" + "A" * 44, good)
    two_wrong_one_right = signed_headers(secret, good)
    del two_wrong_one_right  # (the valid multi-signature case is a separate test)
    unknown = json.dumps([{**event(2, "bad"), "type": "deal.exploded"}]).encode()
    missing = json.dumps([{**event(3, "bad"), "data": {"name": "x"}}]).encode()
    obj_amount = json.dumps([{"id": "bad-4", "type": "deal.won", "occurred_at": "2026-08-01T10:00:00+08:00",
                              "data": {"deal_id": "D1", "amount": {"value": "1"}}}]).encode()
    too_many = json.dumps([event(i, "many") for i in range(501)]).encode()
    huge = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    return {
        "wrong signature": (good, wrong, 401, None),
        "stale timestamp": (good, signed_headers(secret, good, ts=stale), 401, None),
        "no signature": (good, {"content-type": "application/json"}, 401, None),
        "malformed json": (b'[{"id": ', None, 400, "$"),
        "unknown type": (unknown, None, 400, "$[0].type"),
        "missing field": (missing, None, 400, "$[0].data.customer_id"),
        "object for decimal": (obj_amount, None, 400, "$[0].data.amount"),
        "501 events": (too_many, None, 413, None),
        "2 MiB body": (huge, None, 413, None),
    }


CASES = ["wrong signature", "stale timestamp", "no signature", "malformed json", "unknown type",
         "missing field", "object for decimal", "501 events", "2 MiB body"]


@pytest.mark.parametrize("case", CASES)
def test_refused_requests_store_nothing(service, case):
    body, headers, status, path = _bad_requests(service.secret)[case]
    if headers is None:
        headers = signed_headers(service.secret, body)
    before = service.count()
    r = service.client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == status, r.text
    answer = r.json()
    assert isinstance(answer["error"], str) and answer["error"]
    if status == 400:
        assert answer["path"] == path
    else:
        assert set(answer) == {"error"}
    assert barrier(service, case.replace(" ", "-")) == before  # nothing but the barrier stored


def test_several_signatures_one_valid(service):
    body = json.dumps([event("multi", "sig")]).encode()
    h = signed_headers(service.secret, body)
    h["webhook-signature"] = "v1,AAAA v2,zzz " + h["webhook-signature"]
    assert service.client.post("/v1/events", content=body, headers=h).status_code == 202


def test_import_seed_twice_stores_37(make_service):
    svc = make_service()
    seed = SHARED / "examples" / "seed-table1.jsonl"
    first = svc.cli("import", str(seed), "--json", check=True)
    assert json.loads(first.stdout) == {"accepted": 37, "duplicates": 0, "rejected": 0, "conflicts": [], "rejections": []}
    second = svc.cli("import", str(seed), "--json", check=True)
    assert json.loads(second.stdout)["duplicates"] == 37
    svc.wait_count(37)
    wait_until(lambda: json.loads(svc.cli("status", "--json", check=True).stdout)["stream"]["unrecorded"] == 0,
               10, what="the recorder's acks")
    status = json.loads(svc.cli("status", "--json", check=True).stdout)
    assert status["events"] == 37 and status["last_position"] == 37 and status["quarantined"] == 0
    assert status["broker"]["embedded"] is True and status["broker"]["connected"] is True
    assert status["stream"] == {"name": "SALES", "messages": 37, "max_age_days": 14.0, "unrecorded": 0}
    assert "SALES: 37 messages, kept 14 days, 0 not yet in the log" in svc.cli("status", check=True).stdout

    ok = svc.cli("verify")
    assert ok.returncode == 0, ok.stderr
    # Tamper with a copy of the log: drop the guard triggers, alter one payload.
    copy_dir = svc.data_dir.parent / "tampered"
    copy_dir.mkdir()
    src = sqlite3.connect(svc.data_dir / "log.sqlite")
    dst = sqlite3.connect(copy_dir / "log.sqlite")
    src.backup(dst)
    src.close()
    for (name,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        dst.execute(f'DROP TRIGGER "{name}"')
    dst.execute("UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'seed1', 'EVIL1') AS BLOB) WHERE position = 5")
    dst.commit()
    dst.close()
    bad = svc.cli("verify", "--data", str(copy_dir))
    assert bad.returncode == 1
    assert "position 5" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_import_reports_rejected_lines(service, tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text(json.dumps(event("imp-ok", "imp")) + "\n" + '{"id": "x", "type": "nope"}\n\n')
    res = service.cli("import", str(f))
    assert res.returncode == 1
    assert "mixed.jsonl:2: rejected" in res.stderr
    assert "accepted 1, duplicates 0, rejected 1" in res.stdout


def test_broker_down_answers_503_then_recovers(make_service, tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    try:
        svc = make_service(nats=nats.url, env=nats.env())
        batch = [event(i, "down") for i in range(10)]
        assert svc.post([event("pre", "down")]).status_code == 202
        svc.wait_count(1)
        nats.stop()

        def refused():
            r = svc.post(batch)
            return r if r.status_code == 503 else None

        r = wait_until(refused, 10, 0.2, "a 503")
        assert r.headers["retry-after"].isdigit() and set(r.json()) == {"error"}
        assert svc.count() == 1
        nats.start()
        assert asyncio.run(_stream_messages(nats)) == 1  # nothing half-stored in the stream
        r = wait_until(lambda: (x := svc.post(batch)).status_code == 202 and x, 15, 0.3, "a 202 after restart")
        assert r.json() == {"accepted": 10, "duplicates": 0, "conflicts": []}
        svc.wait_count(11)
    finally:
        nats.stop()


def test_status_counts_what_the_stream_holds_that_the_log_does_not_yet(make_service):
    svc = make_service()
    assert svc.post([event(0, "ready")]).status_code == 202
    svc.wait_count(1)  # the recorder and its consumer are up
    recorder = svc.service_info()["roles"]["recorder"]

    def status() -> dict:
        return json.loads(svc.cli("status", "--json", check=True).stdout)

    os.kill(recorder, signal.SIGSTOP)
    try:
        assert svc.post([event(i, "paused") for i in range(1, 21)]).status_code == 202
        paused = status()
        assert (paused["events"], paused["stream"]["messages"], paused["stream"]["unrecorded"]) == (1, 21, 20)
    finally:
        os.kill(recorder, signal.SIGCONT)
    svc.wait_count(21)
    wait_until(lambda: status()["stream"]["unrecorded"] == 0, 10, what="the recorder's acks")


def test_up_killed_takes_its_broker_and_roles_with_it(make_service):
    """SIGKILL gives `up` no chance to stop anything: Linux sends its children SIGTERM
    (PR_SET_PDEATHSIG), so no nats-server is left holding the port and the store."""
    svc = make_service()
    info = svc.service_info()
    names = {info["broker"]["pid"]: "broker", **{pid: role for role, pid in info["roles"].items()}}
    pids = list(names)
    assert all(pid_alive(p) for p in pids)
    svc.proc.kill()
    svc.proc.wait(10)
    try:
        wait_until(
            lambda: not any(pid_alive(p) for p in pids),
            20,
            what=lambda: f"{[names[p] for p in pids if pid_alive(p)]} to exit with `up`",
        )
    finally:
        for pid in filter(pid_alive, pids):  # leave nothing running when the test fails
            os.kill(pid, signal.SIGKILL)


async def _stream_messages(nats) -> int:
    import nats as natspy

    nc = await natspy.connect(nats.url, user=nats.user, password=nats.password)
    try:
        return (await nc.jetstream().stream_info("SALES")).state.messages
    finally:
        await nc.close()


def test_recorder_killed_between_commit_and_ack_stores_exactly_once(make_service):
    svc = make_service(env={"QUOTABOARD_TEST_CRASH_AFTER_COMMIT": "1"})
    first_pid = svc.service_info()["roles"]["recorder"]
    batch = [event(i, "crash") for i in range(300)]
    assert svc.post(batch).status_code == 202
    wait_until(lambda: not pid_alive(first_pid), 10, what="the recorder to kill itself")
    committed = svc.count()
    assert 1 <= committed <= 300  # its first batch was committed before the kill, never acked
    wait_until(lambda: svc.service_info()["roles"].get("recorder") not in (None, first_pid), 10,
               what="the supervisor to restart the recorder")
    more = [event(i, "crash-after") for i in range(50)]
    assert svc.post(more).status_code == 202
    svc.wait_count(350, timeout=20)  # after ack_wait the batch is redelivered: duplicates only
    time.sleep(0.5)
    assert svc.count() == 350
    assert svc.cli("verify").returncode == 0


def test_up_stops_on_sigint_with_nothing_lost(make_service):
    svc = make_service()
    pids = svc.pids()
    assert len(pids) >= 3  # gateway, recorder, nats-server
    for k in range(4):
        assert svc.post([event(f"{k}-{i}", "sigint") for i in range(250)]).status_code == 202
    assert svc.stop(signal.SIGINT) == 0
    assert [p for p in pids if pid_alive(p)] == []
    assert log_count(svc.data_dir) == 1000
    assert not (svc.data_dir / "run" / "broker.json").exists()
