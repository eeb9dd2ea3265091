"""Hostile input: hypothesis throws random methods, paths, headers, bodies, sizes and
encodings at every gateway endpoint of a real `quotaboard up`.

Properties: never a 5xx (the broker is up, so not even a 503) and never a dropped
connection; nothing enters the event log unless it came with a valid signature AND
decodes as the contract. The gateway publishes no OpenAPI description, so schemathesis
has nothing to read; these strategies stand in for it (see docs/faults.md).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time

import httpx
import pytest
from faultutil import log_ids, wait_all_acked
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from natsutil import REPO, Service, event, signed_headers

from schemas.events import ContractError, decode_events

ADAPTERS = ["/v1/webhooks/hubspot", "/v1/webhooks/pipedrive", "/v1/webhooks/payments", "/v1/webhooks/dingtalk"]
PATHS = ["/v1/events", "/healthz", *ADAPTERS, "/", "/v1", "/v1/events/", "/v1/webhooks", "/v1/webhooks/x",
         "/V1/EVENTS", "/v1/events?x=1", "/%00", "/..%2f..%2fetc/passwd", "/v1/events/../healthz"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

ADAPTER_ENV = {
    "QUOTABOARD_HUBSPOT_CLIENT_SECRET": secrets.token_hex(16),
    "QUOTABOARD_PIPEDRIVE_USER": "pd", "QUOTABOARD_PIPEDRIVE_PASSWORD": secrets.token_hex(12),
    "QUOTABOARD_STRIPE_SECRET": "whsec_" + secrets.token_hex(16),
    "QUOTABOARD_DINGTALK_TOKEN": secrets.token_hex(8),
    "QUOTABOARD_DINGTALK_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
    "QUOTABOARD_DINGTALK_CORP_ID": "ding-corp",
}


class Seen:
    """What the test sent with a valid signature that decodes as the contract."""

    def __init__(self) -> None:
        self.allowed: set[str] = set()
        self.requests = 0
        self.statuses: dict[int, int] = {}
        self.answers: set[tuple[str, str, int]] = set()  # (method, path, status)
        self.lock = threading.Lock()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("hostile") / "data", env=ADAPTER_ENV).start()
    seen = Seen()
    yield svc, seen
    try:
        wait_all_acked(svc.data_dir, 30)
        time.sleep(0.3)
        stored = log_ids(svc.data_dir)
        intruders = [i for i in stored if i not in seen.allowed]
        print(f"\nHOSTILE requests={seen.requests} statuses={dict(sorted(seen.statuses.items()))} "
              f"stored={len(stored)} allowed={len(seen.allowed)} intruders={len(intruders)}")
        assert intruders == [], f"stored without a valid signature and contract: {intruders[:5]}"
        undocumented = sorted(a for a in seen.answers if not documented(*a))
        assert undocumented == [], f"answers missing from schemas/openapi.json: {undocumented}"
        assert svc.cli("verify").returncode == 0
    finally:
        svc.stop()


OPENAPI = json.loads((REPO / "schemas" / "openapi.json").read_text())


def documented(method: str, path: str, status: int) -> bool:
    """Is this answer in the OpenAPI document, where it documents the operation at all?"""
    operation = OPENAPI["paths"].get(path, {}).get(method.lower())
    return operation is None or str(status) in operation["responses"]


def send(svc, seen: Seen, method: str, path: str, headers: dict, body: bytes) -> httpx.Response:
    try:
        r = svc.client.request(method, path, content=body if method not in ("GET", "HEAD") or body else None,
                               headers=headers)
    except httpx.HTTPError as exc:
        pytest.fail(f"{method} {path}: no answer ({type(exc).__name__}: {exc})")
    with seen.lock:
        seen.requests += 1
        seen.statuses[r.status_code] = seen.statuses.get(r.status_code, 0) + 1
        seen.answers.add((method, path.split("?")[0], r.status_code))
    assert r.status_code < 500, f"{method} {path} -> {r.status_code}: {r.text[:300]}"
    return r


def allow_if_valid(seen: Seen, body: bytes, limit: int = 1 << 20) -> None:
    if len(body) > limit:
        return
    try:
        events = decode_events(body)
    except ContractError:
        return
    if len(events) <= 500:
        with seen.lock:
            seen.allowed.update(e.id for e in events)


# --- strategies -------------------------------------------------------------------------

header_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789", min_size=1, max_size=24)
header_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
known_headers = st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                                 "content-encoding", "transfer-encoding-x", "x-hubspot-signature-v3",
                                 "x-hubspot-request-timestamp", "authorization", "stripe-signature"])
headers_st = st.dictionaries(st.one_of(known_headers, header_name), header_value, max_size=6)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=20)


def encode(value, encoding: str) -> bytes:
    text = json.dumps(value, ensure_ascii=encoding != "utf-8")
    return text.encode(encoding, errors="replace")


bodies = st.one_of(
    st.binary(max_size=2048),
    st.builds(encode, json_value, st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "utf-8-sig"])),
    st.builds(lambda n, c: c * n, st.integers(0, 3 * 1024 * 1024 // 64), st.sampled_from([b"[" * 64, b" " * 64, b"\x00" * 64])),
)

FIELDS = ["id", "type", "occurred_at", "source", "data"]
mutations = st.sampled_from(["drop", "null", "number", "huge", "control", "empty", "nested", "keep"])


@st.composite
def near_events(draw):
    """Lists of canonical events, some fields mutated into something hostile."""
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        e = event(draw(st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=12)), "hx")
        e["data"] = dict(e["data"])
        for _m in range(draw(st.integers(0, 3))):
            field = draw(st.sampled_from(FIELDS + ["data.customer_id", "data.amount"]))
            how = draw(mutations)
            target, key = (e.get("data"), field[5:]) if field.startswith("data.") else (e, field)
            if not isinstance(target, dict):
                continue
            if how == "drop":
                target.pop(key, None)
            elif how == "null":
                target[key] = None
            elif how == "number":
                target[key] = draw(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
            elif how == "huge":
                target[key] = "x" * draw(st.integers(100, 5000))
            elif how == "control":
                target[key] = "a\x00b\x1f\u202e"
            elif how == "empty":
                target[key] = ""
            elif how == "nested":
                target[key] = {"$ne": [1, {"a": None}]}
        out.append(e)
    shape = draw(st.sampled_from(["list", "object", "wrapped"]))
    if shape == "object" and out:
        return json.dumps(out[0]).encode()
    if shape == "wrapped":
        return json.dumps({"events": out}).encode()
    return json.dumps(out, allow_nan=True).encode()


# --- tests ---------------------------------------------------------------------------------


@SETTINGS
@given(method=st.sampled_from(METHODS), path=st.sampled_from(PATHS), headers=headers_st, body=bodies)
def test_anything_anywhere_never_5xx(hostile, method, path, headers, body):
    svc, seen = hostile
    send(svc, seen, method, path, headers, body)


@SETTINGS
@given(body=st.one_of(near_events(), bodies), tamper=st.sampled_from(["none", "none", "none", "sig", "stale", "future",
                                                                      "id", "body"]))
def test_signed_or_not_only_valid_contract_is_stored(hostile, body, tamper):
    svc, seen = hostile
    ts = int(time.time())
    if tamper == "stale":
        ts -= 400
    elif tamper == "future":
        ts += 400
    headers = signed_headers(svc.secret, body, ts=ts)
    sent = body
    if tamper == "sig":
        headers["webhook-signature"] = signed_headers("whsec_" + base64.b64encode(b"k" * 32).decode(), body)["webhook-signature"]
    elif tamper == "id":
        headers["webhook-id"] = headers["webhook-id"] + "x"
    elif tamper == "body":
        sent = body + b" "
    if tamper == "none":
        allow_if_valid(seen, body)
    r = send(svc, seen, "POST", "/v1/events", headers, sent)
    if tamper != "none":
        assert r.status_code in (401, 413), (tamper, r.status_code, r.text[:200])
    elif r.status_code == 202:
        assert decode_events(body) is not None


@SETTINGS
@given(path=st.sampled_from(ADAPTERS), headers=headers_st, body=st.one_of(bodies, st.builds(encode, json_value, st.just("utf-8"))),
       query=st.text(alphabet="abcdefghijklmnopqrstuvwxyz=&%0123456789_", max_size=60))
def test_adapters_refuse_unsigned_hostile_bodies(hostile, path, headers, body, query):
    svc, seen = hostile
    r = send(svc, seen, "POST", f"{path}?{query}" if query else path, headers, body)
    assert r.status_code in (400, 401, 404, 405, 413, 415), (r.status_code, r.text[:200])
