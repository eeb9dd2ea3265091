"""End to end: each vendor's signed webhook through the real gateway (`quotaboard up`),
the real embedded nats-server and the recorder, into the real SQLite event log; forged
and stale requests leave nothing behind; a malformed body lands in the log's quarantine."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

pytest.importorskip("events.log", reason="the event log (events/log.py) is not in the tree yet")

from natsutil import Service, wait_until  # noqa: E402
from test_adapters import (  # noqa: E402
    CHARGE,
    DT_AES_KEY,
    DT_CORP,
    DT_DEAL,
    DT_TOKEN,
    HS_SECRET,
    PD_PASSWORD,
    PD_USER,
    PI,
    STRIPE_SECRET,
    dt_decrypt,
    dt_encrypt,
    hs_batch,
    hs_sign,
    pd_auth,
    pd_deal,
    pd_meta,
    stripe_event,
    stripe_header,
)

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://hooks.example.com/v1/webhooks/hubspot?portal=33&tag=a%3Ab"
SIGNED_URL = "https://hooks.example.com/v1/webhooks/hubspot?portal=33&tag=a:b"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    env = {
        "QUOTABOARD_HUBSPOT_CLIENT_SECRET": HS_SECRET,
        "QUOTABOARD_HUBSPOT_PUBLIC_URL": PUBLIC_URL,
        "QUOTABOARD_PIPEDRIVE_USER": PD_USER,
        "QUOTABOARD_PIPEDRIVE_PASSWORD": PD_PASSWORD,
        "QUOTABOARD_STRIPE_SECRET": STRIPE_SECRET,
        "QUOTABOARD_DINGTALK_TOKEN": DT_TOKEN,
        "QUOTABOARD_DINGTALK_AES_KEY": DT_AES_KEY,
        "QUOTABOARD_DINGTALK_CORP_ID": DT_CORP,
        "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
    }
    service = Service(tmp_path_factory.mktemp("adapters") / "data", env=env).start()
    yield service
    service.stop()


def rows(svc: Service, sql: str, args=()) -> list[tuple]:
    path = svc.data_dir / "log.sqlite"
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def logged(svc: Service, ids: list[str], timeout: float = 10.0) -> dict[str, tuple]:
    marks = ",".join("?" * len(ids))

    def found():
        got = rows(svc, f"SELECT id, type, source, payload FROM events WHERE id IN ({marks})", ids)
        return {r[0]: r for r in got} if len(got) == len(ids) else None

    return wait_until(found, timeout, what=f"{ids} in the log")


def settle(svc: Service) -> int:
    """Post a canonical marker event and wait for it: everything published before is stored."""
    marker = {"id": f"marker-{time.monotonic_ns()}", "type": "customer.created",
              "occurred_at": "2026-08-01T10:00:00+08:00", "data": {"customer_id": "C-marker"}}
    assert svc.post([marker]).status_code == 202
    logged(svc, [marker["id"]])
    return rows(svc, "SELECT count(*) FROM events")[0][0]


def test_hubspot_end_to_end(svc):
    body = json.dumps(hs_batch()).encode()
    ts = str(int(time.time() * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", SIGNED_URL, body, ts),
               "X-HubSpot-Request-Timestamp": ts, "content-type": "application/json"}
    resp = svc.client.post("/v1/webhooks/hubspot?portal=33&tag=a%3Ab", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    # no API token in this service: the creation (which carries no company) is quarantined
    assert resp.json() == {"accepted": 5, "duplicates": 0, "ignored": 3, "quarantined": 1}
    got = logged(svc, ["hubspot-33-1246965-dealstage-closedwon"])
    won = got["hubspot-33-1246965-dealstage-closedwon"]
    assert won[1:3] == ("deal.won", "hubspot")
    # the same delivery again (HubSpot retries): answered, stored once
    again = svc.client.post("/v1/webhooks/hubspot?portal=33&tag=a%3Ab", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 5


def test_hubspot_forged_and_stale_store_nothing(svc):
    before = settle(svc)
    body = json.dumps([{"eventId": 1, "objectId": 424242, "occurredAt": 1786000000000,
                        "subscriptionType": "deal.creation"}]).encode()
    ts = str(int(time.time() * 1000))
    stale = str(int((time.time() - 600) * 1000))
    cases = [
        {"X-HubSpot-Signature-v3": hs_sign("POST", SIGNED_URL, body, ts, secret="forged"), "X-HubSpot-Request-Timestamp": ts},
        {"X-HubSpot-Signature-v3": hs_sign("POST", SIGNED_URL, body, stale), "X-HubSpot-Request-Timestamp": stale},
        {"X-HubSpot-Signature-v3": hs_sign("POST", PUBLIC_URL, body, ts), "X-HubSpot-Request-Timestamp": ts},
    ]
    for headers in cases:
        resp = svc.client.post("/v1/webhooks/hubspot?portal=33&tag=a%3Ab", content=body, headers=headers)
        assert resp.status_code == 401, resp.text
    assert settle(svc) == before + 1  # only the marker
    assert rows(svc, "SELECT count(*) FROM events WHERE id LIKE 'hubspot-%-424242-%'")[0][0] == 0


def test_malformed_but_authentic_is_quarantined(svc):
    body = json.dumps([{"eventId": 77, "subscriptionType": "deal.creation", "occurredAt": 1786000000000}]).encode()
    ts = str(int(time.time() * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", SIGNED_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    resp = svc.client.post("/v1/webhooks/hubspot?portal=33&tag=a%3Ab", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["quarantined"] == 1

    def quarantined():
        return rows(svc, "SELECT subject, reason, raw FROM quarantine WHERE subject = 'sales.events.quarantine.hubspot'")

    def ours():
        got = [(r[1], json.loads(r[2])["quarantine"]) for r in quarantined()]
        return [(reason, q) for reason, q in got if json.loads(q["raw"]).get("eventId") == 77]

    ((reason, record),) = wait_until(ours, 10, what="the quarantined body")
    assert record["source"] == "hubspot" and "objectId" in record["reason"]
    # the log's reason is the vendor payload's problem, not the envelope's ($.type)
    assert reason == record["reason"] == "HubSpot deal.creation event 77 has no portalId, objectId"


def test_pipedrive_end_to_end(svc):
    payload = {"meta": pd_meta("create", "deal", "e2e-pd-1"), "data": pd_deal(id=9001), "previous": None}
    body = json.dumps(payload).encode()
    assert svc.client.post("/v1/webhooks/pipedrive", content=body, headers=pd_auth(password="nope")).status_code == 401
    resp = svc.client.post("/v1/webhooks/pipedrive", content=body, headers=pd_auth())
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    (row,) = logged(svc, ["pipedrive-deal-9001-created"]).values()
    data = json.loads(row[3])["data"]
    assert row[1] == "deal.created" and data["deal_id"] == "9001" and data["rep_id"] == "zhang"


def test_payments_end_to_end(svc):
    t = int(time.time())
    pi_body = json.dumps(stripe_event("payment_intent.succeeded", PI, eid="evt_e2e_pi")).encode()
    ch_body = json.dumps(stripe_event("charge.succeeded", CHARGE, eid="evt_e2e_ch")).encode()
    stale = svc.client.post("/v1/webhooks/payments", content=pi_body,
                            headers={"Stripe-Signature": stripe_header(pi_body, t - 301)})
    assert stale.status_code == 401
    for body in (pi_body, ch_body):
        resp = svc.client.post("/v1/webhooks/payments", content=body,
                               headers={"Stripe-Signature": stripe_header(body, t, extra_v1=("00" * 32,))})
        assert resp.status_code == 200, resp.text
    (row,) = logged(svc, ["stripe-payment-pi_3MtwBwLkdIwHu7ix28a3tqPa"]).values()
    assert json.loads(row[3])["data"] == {"payment_id": PI["id"], "deal_id": "1246965", "amount": "150000.00"}
    assert rows(svc, "SELECT count(*) FROM events WHERE type = 'payment.received'")[0][0] == 1


def test_dingtalk_end_to_end(svc):
    message = DT_DEAL
    encrypted = dt_encrypt(json.dumps(message, ensure_ascii=False))
    ts, nonce = str(int(time.time() * 1000)), "abc123"
    sig = hashlib.sha1("".join(sorted([DT_TOKEN, ts, nonce, encrypted])).encode()).hexdigest()
    body = json.dumps({"encrypt": encrypted}).encode()
    forged = svc.client.post(f"/v1/webhooks/dingtalk?msg_signature={'0' * 40}&timestamp={ts}&nonce={nonce}", content=body)
    assert forged.status_code == 401
    start = time.monotonic()
    resp = svc.client.post(f"/v1/webhooks/dingtalk?msg_signature={sig}&timestamp={ts}&nonce={nonce}", content=body)
    assert time.monotonic() - start < 1.5
    assert resp.status_code == 200, resp.text
    assert dt_decrypt(resp.json()["encrypt"]) == "success"
    eid = "dingtalk-track-" + DT_DEAL["tracks"][0]["id"]
    assert logged(svc, [eid])[eid][1:3] == ("activity.logged", "dingtalk-crm")
