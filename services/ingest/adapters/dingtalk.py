"""DingTalk encrypted callbacks (`POST /v1/webhooks/dingtalk`).

The request: `?msg_signature=…&timestamp=…&nonce=…` (DingTalk also spells them
`signature` / `timeStamp`) and the body `{"encrypt": "<base64>"}`.

Authentication: msg_signature = hex(SHA-1(the token, timestamp, nonce and encrypt strings,
sorted and concatenated)), compared in constant time; the timestamp (milliseconds) within 5
minutes of now. Decryption: AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV =
the key's first 16 bytes, PKCS#7 padding to 32 bytes; the plaintext is 16 random bytes, a
4-byte big-endian length, the message, then the receiver id, which must be our corp id
(or suite key). A message that does not decrypt to our corp id is refused like a bad
signature: nothing of it is stored.

The answer, within DingTalk's 1.5 s, is the encrypted "success":
`{"msg_signature", "timeStamp", "nonce", "encrypt"}` (also for ignored and quarantined
messages: DingTalk would otherwise retry, then disable the callback). When the broker
cannot take the events in time the answer is 503, and DingTalk retries.

The message is JSON with `EventType`. Only shapes found in public DingTalk material are
translated (docs/adapters.md says where): `crm_customer_track` (the CRM customer
activity callback: `tracks` of {id, creator, customerId, type, subType, gmtCreate}) ->
one activity.logged per track, keyed `dingtalk-track-{id}`, the creator's userid through
`[dingtalk.owners]` and `type` (or `"type.subType"`) through `[dingtalk.activity_kinds]`.
`check_url` and every other type are ignored and counted. The track carries everything
activity.logged needs, so the callback is translated without asking DingTalk's API (the
answer must come within 1.5 s); `quotaboard backfill dingtalk` reads the same tracks
through the open API (dingtalk_api) and makes the same events with `track_event`. Deals
are in no documented callback and no documented open-API list we found (docs/adapters.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import string
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from schemas.events import ContractError, Event
from services.ingest.adapters.base import (
    TOLERANCE_SECONDS,
    AdapterContext,
    AdapterSettings,
    AuthError,
    Malformed,
    NotConfigured,
    TranslateResult,
    WebhookRequest,
    WebhookResponse,
    ct_equal,
    finish,
    make_event,
    parse_time,
    refuse,
)
from services.ingest.adapters.mapping import CrmMapping

SOURCE = "dingtalk-crm"
PATH = "/v1/webhooks/dingtalk"
BLOCK = 32
REPLY_BUDGET = 1.2  # seconds for publishing, inside DingTalk's 1.5 s


class DingTalkCrypto:
    """DingTalk's callback crypto for one (token, EncodingAESKey, corp id)."""

    def __init__(self, token: str, aes_key: str, corp_id: str) -> None:
        if len(aes_key) != 43:
            raise ValueError("the DingTalk EncodingAESKey must be 43 characters")
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        self.iv = self.key[:16]
        self.corp_id = corp_id

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return hashlib.sha1(
            "".join(sorted([self.token, timestamp, nonce, encrypt])).encode()
        ).hexdigest()

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        msg = message.encode()
        plain = (
            (random16 or os.urandom(16)) + len(msg).to_bytes(4, "big") + msg + self.corp_id.encode()
        )
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message; AuthError if it does not decrypt to a message for our corp id."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("encrypt is not base64") from None
        if not data or len(data) % 16:
            raise AuthError("encrypt is not whole AES blocks")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        plain = dec.update(data) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise AuthError("encrypt does not decrypt (wrong EncodingAESKey?)")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise AuthError("decrypted message is too short")
        length = int.from_bytes(plain[16:20], "big")
        if 20 + length > len(plain):
            raise AuthError("decrypted message length is wrong (wrong EncodingAESKey?)")
        msg, receiver = plain[20 : 20 + length], plain[20 + length :]
        if not ct_equal(receiver, self.corp_id.encode()):
            raise AuthError("the message is for another corp id / suite key")
        try:
            return msg.decode()
        except UnicodeDecodeError:
            raise AuthError("decrypted message is not UTF-8") from None

    def reply(self, message: str, timestamp: str, nonce: str) -> dict[str, str]:
        encrypted = self.encrypt(message)
        return {
            "msg_signature": self.signature(timestamp, nonce, encrypted),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypted,
        }


def crypto_for(settings: AdapterSettings) -> DingTalkCrypto:
    if (
        settings.dingtalk_token is None
        or settings.dingtalk_aes_key is None
        or not settings.dingtalk_corp_id
    ):
        raise NotConfigured(
            "DingTalk is not configured (QUOTABOARD_DINGTALK_TOKEN/AES_KEY/CORP_ID)"
        )
    try:
        return DingTalkCrypto(
            settings.dingtalk_token.value,
            settings.dingtalk_aes_key.value,
            settings.dingtalk_corp_id,
        )
    except (ValueError, binascii.Error):
        raise NotConfigured(
            "QUOTABOARD_DINGTALK_AES_KEY is not a 43-character EncodingAESKey"
        ) from None


def verify(req: WebhookRequest, settings: AdapterSettings, now: float) -> str:
    """Check the signature and decrypt: the plaintext message, or AuthError."""
    crypto = crypto_for(settings)
    q = req.query_params()
    signature = q.get("msg_signature") or q.get("signature")
    timestamp = q.get("timestamp") or q.get("timeStamp")
    nonce = q.get("nonce")
    if not signature or not timestamp or nonce is None:
        raise AuthError("missing msg_signature, timestamp or nonce")
    try:
        body = json.loads(req.body)
        encrypted = body["encrypt"]
        if not isinstance(encrypted, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise AuthError('body is not {"encrypt": ...}') from None
    if not timestamp.isdigit():
        raise AuthError("timestamp is not a number")
    ts = int(timestamp)
    ts_seconds = ts / 1000 if ts > 10**11 else ts
    if abs(now - ts_seconds) > TOLERANCE_SECONDS:
        raise AuthError("timestamp is more than 5 minutes from now")
    if not ct_equal(crypto.signature(timestamp, nonce, encrypted), signature):
        raise AuthError("msg_signature does not match")
    return crypto.decrypt(encrypted)


# --- translation --------------------------------------------------------------------


def track_event(track: Any, m: CrmMapping, fallback_time: Any = None) -> Event:
    """One customer track (the callback's `tracks[]` entry, or a value of the open API's
    customer tracks, dingtalk_api: the same fields) -> activity.logged `dingtalk-track-{id}`.
    Raises ValueError (naming the field) for a track that cannot make one."""
    if not isinstance(track, dict) or not track.get("id"):
        raise ValueError("a track has no id")
    when = track.get("gmtCreate") or fallback_time
    if when in (None, ""):
        raise ValueError(f"track {track['id']} has no gmtCreate (and the message no EventTime)")
    kind, sub = track.get("type"), track.get("subType")
    crm_kind = f"{kind}.{sub}" if f"{kind}.{sub}" in m.activity_kinds else kind
    data = {
        "activity_id": str(track["id"]),
        "rep_id": m.rep(track.get("creator")) or "unassigned",
        "kind": m.activity_kind(crm_kind),
    }
    if track.get("customerId"):
        data["customer_id"] = str(track["customerId"])
    return make_event(
        {
            "id": f"dingtalk-track-{track['id']}",
            "type": "activity.logged",
            "occurred_at": parse_time(when).isoformat(),
            "source": SOURCE,
            "data": data,
        },
        {"rep_id": f"creator = {track.get('creator')!r}"},
    )


def track_events(tracks: list, m: CrmMapping, fallback_time: Any = None) -> TranslateResult:
    """Each track's event; a track that cannot make one is quarantined with its reason."""
    out = TranslateResult()
    for track in tracks:
        try:
            out.events.append(track_event(track, m, fallback_time))
        except (KeyError, TypeError, ValueError, OverflowError, OSError, ContractError) as exc:
            out.malformed.append(Malformed(f"DingTalk crm_customer_track: {exc}", track))
    return out


def translate(message: Any, m: CrmMapping) -> TranslateResult:
    """One decrypted DingTalk message (parsed JSON) -> canonical events (pure).

    Only `crm_customer_track` is translated: one activity.logged per entry of `tracks`
    (id, creator, customerId, type, subType, gmtCreate). Every other EventType, including
    the `crm_deal_*` names no DingTalk material documents, is ignored and counted."""
    out = TranslateResult()
    if not isinstance(message, dict) or not isinstance(message.get("EventType"), str):
        out.malformed.append(Malformed("DingTalk message is not an object with EventType", message))
        return out
    if message["EventType"] != "crm_customer_track":
        out.ignored += 1
        return out
    tracks = message.get("tracks")
    if not isinstance(tracks, list) or not tracks:
        out.malformed.append(Malformed("DingTalk crm_customer_track has no tracks", message))
        return out
    return track_events(tracks, m, message.get("EventTime"))


def _nonce(n: int = 8) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    now = ctx.now()
    try:
        plaintext = verify(req, ctx.settings, now)
    except AuthError as exc:
        return refuse(SOURCE, exc)
    crypto = crypto_for(ctx.settings)
    try:
        message = json.loads(plaintext)
    except ValueError as exc:
        result = TranslateResult(
            malformed=[Malformed(f"message is not JSON: {exc}", plaintext.encode())]
        )
    else:
        result = translate(message, ctx.mapping.dingtalk)
    budget = ctx.publish_timeout if ctx.publish_timeout is not None else REPLY_BUDGET
    timed = AdapterContext(ctx.settings, ctx.mapping, ctx.publish, ctx.quarantine, ctx.now, budget)
    await finish(SOURCE, result, timed)  # raises BrokerUnavailable -> 503, DingTalk retries
    return WebhookResponse.json(200, crypto.reply("success", str(int(now * 1000)), _nonce()))
