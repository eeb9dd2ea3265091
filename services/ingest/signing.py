"""Standard Webhooks signing (../shared/contracts/events.md, "Signing"): the gateway's
check and the one signer the demo, the tests and the benches use.

The check is ours, not `standardwebhooks.Webhook.verify` (the reference implementation,
which tests/unit/test_signing.py holds this module to, both ways): the reference raises
ValueError on a signature without a comma (a 500 for any unauthenticated sender unless
wrapped), cannot verify a body that is not UTF-8 (it decodes before hashing, so a
correctly signed body with a bad byte would be refused as unsigned instead of answered
400 naming the byte), reads the clock itself (the webhook window is tested at pinned
instants), and takes 2.1-2.4x the time (docs/decisions.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

TOLERANCE = 5 * 60  # seconds


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value for a body (used by tests, the demo and adapters)."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def check_headers(headers: dict[str, str], now: float | None = None) -> str | None:
    """None if the signature headers are present and the timestamp is fresh, else why not."""
    if not all(headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    try:
        stamp = int(headers["webhook-timestamp"])
    except ValueError:
        return "webhook-timestamp is not Unix seconds"
    now = time.time() if now is None else now
    if abs(now - stamp) > TOLERANCE:
        return "webhook-timestamp is more than 5 minutes from now"
    return None


def check_signature(
    key: bytes, headers: dict[str, str], body: bytes, now: float | None = None
) -> str | None:
    """None if the Standard Webhooks signature is valid, else the reason."""
    problem = check_headers(headers, now)
    if problem:
        return problem
    msg_id, ts, sigs = (
        headers["webhook-id"],
        headers["webhook-timestamp"],
        headers["webhook-signature"],
    )
    expected = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ok = False
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        ok |= hmac.compare_digest(given, expected)
    return None if ok else "no valid v1 signature"
