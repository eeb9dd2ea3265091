"""The gateway's Standard Webhooks check against the reference implementation
(`standardwebhooks`), both ways, and where it deliberately parts from it
(services/ingest/signing.py says why)."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.ingest.signing import check_signature, secret_key, sign

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
BODY = b'{"id":"e1","type":"deal.won","occurred_at":"2026-08-14T10:32:00+08:00","data":{"deal_id":"D"}}'


def headers(signature: str, ts: int, msg_id: str = "msg_1") -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_what_the_reference_signs_the_gateway_accepts_and_the_other_way_round():
    ts = int(time.time())
    theirs = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(ts, UTC), BODY.decode())
    assert check_signature(secret_key(SECRET), headers(theirs, ts), BODY) is None
    ours = sign(SECRET, "msg_1", ts, BODY)
    assert ours == theirs
    Webhook(SECRET).verify(BODY, headers(ours, ts), json_parse=False)  # raises if not


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_both_refuse_the_same_forgeries(tamper):
    ts = int(time.time())
    body, msg_id, stamp, secret = BODY, "msg_1", ts, SECRET
    signature = sign(secret, msg_id, stamp, body)
    if tamper == "body":
        body = body.replace(b'"D"', b'"E"')
    elif tamper == "id":
        msg_id = "msg_2"
    elif tamper == "timestamp":
        stamp = ts - 1
    else:
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    sent = headers(signature, stamp, msg_id)
    assert check_signature(secret_key(secret), sent, body) == "no valid v1 signature"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, sent, json_parse=False)


def test_where_the_gateway_parts_from_the_reference():
    """A malformed signature is a reason, not an exception; a non-UTF-8 body is verified
    on its bytes (the contract then answers 400 naming the byte, not 401)."""
    ts = int(time.time())
    with pytest.raises(ValueError):  # the reference: an exception a server must catch
        Webhook(SECRET).verify(BODY, headers("v1", ts), json_parse=False)
    assert check_signature(secret_key(SECRET), headers("v1", ts), BODY) == "no valid v1 signature"
    raw = b'{"id":"\xff"}'
    assert (
        check_signature(secret_key(SECRET), headers(sign(SECRET, "msg_1", ts, raw), ts), raw)
        is None
    )
    with pytest.raises(UnicodeDecodeError):
        Webhook(SECRET).verify(raw, headers(sign(SECRET, "msg_1", ts, raw), ts), json_parse=False)
