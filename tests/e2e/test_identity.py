"""Issue 12 on a real `quotaboard up`: the recorder survives any event (item 1), ids
are compared exactly and conflicts are reported (item 4), hostile bodies are 400s
(item 5).

Before: a 0999 `occurred_at` published to the stream stopped the recorder on every
restart, and everything after it waited unstored; "idw " was a duplicate of "idw" (the
broker trims the message-id header); the same id re-sent with other content was
answered `duplicates: 1` and the conflict was kept nowhere.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from faultutil import publish_raw, role_pid, wait_all_acked
from natsutil import event, wait_until


def deal(event_id: str, amount: str) -> dict:
    return {"id": event_id, "type": "deal.created", "occurred_at": "2026-08-01T10:00:00+08:00",
            "data": {"deal_id": f"D-{event_id}", "rep_id": "r", "customer_id": "c", "product_line": "A",
                     "amount": amount}}


def stored_payload(svc, event_id: str) -> dict:
    con = sqlite3.connect(f"file:{svc.data_dir / 'log.sqlite'}?mode=ro", uri=True)
    try:
        (payload,) = con.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    finally:
        con.close()
    return json.loads(payload)


def test_an_event_the_log_cannot_hold_is_quarantined_and_the_recorder_goes_on(make_service):
    svc = make_service()
    recorder = wait_until(lambda: role_pid(svc, "recorder"), 10, what="the recorder")
    poison = (b'{"id":"y1","type":"customer.created","occurred_at":"0999-12-31T23:00:00Z",'
              b'"data":{"customer_id":"c"}}')
    publish_raw(svc.data_dir, "sales.events.customer.created", poison, headers={"Nats-Msg-Id": "y1"})
    after = [event(i, "after-y1") for i in range(300)]
    assert svc.post(after).status_code == 202
    svc.wait_count(300, timeout=20)
    wait_all_acked(svc.data_dir, 20)
    assert role_pid(svc, "recorder") == recorder  # never stopped, never restarted
    status = json.loads(svc.cli("status", "--json", check=True).stdout)
    assert status["events"] == 300 and status["quarantined"] == 1
    con = sqlite3.connect(f"file:{svc.data_dir / 'log.sqlite'}?mode=ro", uri=True)
    (raw, reason), = con.execute("SELECT raw, reason FROM quarantine").fetchall()
    con.close()
    assert bytes(raw) == poison and "occurred_at" in reason


def test_ids_are_exact_and_conflicts_are_answered_kept_and_shown(make_service):
    svc = make_service()
    first = svc.post(deal("idw", "100"))
    assert first.status_code == 202 and first.json() == {"accepted": 1, "duplicates": 0, "conflicts": []}
    for spaced in ("idw ", " idw"):  # the broker would have trimmed these into "idw"
        refused = svc.post(deal(spaced, "100"))
        assert refused.status_code == 400 and refused.json()["path"] == "$.id"
    # the same id with other content, inside the duplicate window
    again = svc.post(deal("idw", "999"))
    assert again.status_code == 202
    assert again.json() == {"accepted": 1, "duplicates": 1, "conflicts": ["idw"]}
    # the same content again is a plain duplicate
    same = svc.post(deal("idw", "100"))
    assert same.json() == {"accepted": 1, "duplicates": 1, "conflicts": []}

    # past the window: the first copy reached the stream under another message id, so
    # JetStream cannot call the re-send a duplicate; the log can.
    publish_raw(svc.data_dir, "sales.events.deal.created", json.dumps(deal("late", "5")).encode(),
                headers={"Nats-Msg-Id": "an-earlier-message"})
    svc.wait_count(2, timeout=10)
    late = svc.post(deal("late", "6"))
    assert late.status_code == 202 and late.json()["conflicts"] == ["late"]

    wait_until(lambda: json.loads(svc.cli("status", "--json", check=True).stdout)["conflicts"] == 2, 15,
               what="both conflicts in the log")
    wait_all_acked(svc.data_dir, 20)
    assert stored_payload(svc, "idw")["data"]["amount"] == "100"  # the first content stays
    assert stored_payload(svc, "late")["data"]["amount"] == "5"
    assert svc.count() == 2
    unmatched = wait_until(lambda: (r := svc.cli("unmatched", "--json")).returncode == 0 and r, 20,
                           what="the read models")
    conflicts = {c["id"]: c for c in json.loads(unmatched.stdout)["conflicts"]}
    assert set(conflicts) == {"idw", "late"}
    assert all(len(c["stored_hash"]) == len(c["new_hash"]) == 64 and c["stored_hash"] != c["new_hash"]
               for c in conflicts.values())
    verify = svc.cli("verify", "--json", check=True)
    assert json.loads(verify.stdout)["ok"] is True  # conflicts are outside the chain


@pytest.mark.parametrize("body, reason", [
    (b'{"id":"n","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z","data":{"customer_id":"c","x":'
     + b"[" * 50_000 + b"]" * 50_000 + b"}}", "nested too deeply"),
    (b'{"id":"u","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z","data":{"customer_id":"c\xff"}}',
     "UTF-8"),
    (b'{"id":"k","type":"deal.created","occurred_at":"2026-08-01T00:00:00Z","data":{"deal_id":"D","rep_id":"r",'
     b'"customer_id":"c","product_line":"A","amount":"1","amount":"999999"}}', "twice"),
    (json.dumps(deal("f", "１００"), ensure_ascii=False).encode(), "ASCII"),
], ids=["deep nesting", "invalid UTF-8", "duplicate key", "full-width digits"])
def test_hostile_bodies_are_400s_naming_the_reason(service, body, reason):
    answer = service.post(body)
    assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
