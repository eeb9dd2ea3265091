"""HubSpot webhooks (`POST /v1/webhooks/hubspot`).

Authentication: `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret,
method + URI + raw body + X-HubSpot-Request-Timestamp)), the timestamp in milliseconds and
no more than 5 minutes from now. The URI is the configured public URL
(`QUOTABOARD_HUBSPOT_PUBLIC_URL`, what HubSpot calls; behind a TLS proxy the request's own
URL differs), with HubSpot's listed percent-escapes decoded.

Body: an array of up to 100 events. Handled (`subscriptionType`, or `eventType`):

* `deal.creation` -> deal.created (HubSpot sends only the id: amount 0, rep `unassigned`,
  the mapping's default product line, unless the event carries `properties`; the
  property changes HubSpot sends for the new deal fill the rest in)
* `deal.propertyChange` of `dealstage` -> deal.stage_changed / deal.won / deal.lost by the
  mapping's stage ids; `amount` -> deal.updated; `hubspot_owner_id` -> deal.reassigned;
  the mapping's product-line property -> deal.updated
* `deal.deletion` -> ignored and counted (a deletion is usually clean-up, not a lost sale)
* the same for `object.*` events whose `objectTypeId` is `0-3` (deals)

Idempotency key: `hubspot-{eventId}-{objectId}-{occurredAt}-{propertyName|creation}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from schemas.events import ContractError
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
    from_millis,
    handle_json,
    make_event,
    to_decimal,
)
from services.ingest.adapters.mapping import CrmMapping

SOURCE = "hubspot"
PATH = "/v1/webhooks/hubspot"
MAX_EVENTS = 100

# HubSpot: "decode any URL-encoded characters listed in the following table in the requestUri"
_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}
_DECODE_RE = re.compile("|".join(_DECODE), re.IGNORECASE)


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded, the rest untouched."""
    return _DECODE_RE.sub(lambda m: _DECODE[m.group(0).upper()], url)


def request_uri(req: WebhookRequest, settings: AdapterSettings) -> str:
    """The URL HubSpot called: the configured public URL (plus the request's query string
    when the configured URL has none); without one, rebuilt from forwarded headers."""
    if settings.hubspot_public_url:
        url = settings.hubspot_public_url
        if req.query and "?" not in url:
            url += "?" + req.query
        return url
    proto = (req.header("x-forwarded-proto") or "https").split(",")[0].strip()
    host = (req.header("x-forwarded-host") or req.header("host") or "").split(",")[0].strip()
    return f"{proto}://{host}{req.path}" + (f"?{req.query}" if req.query else "")


def sign(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify(req: WebhookRequest, settings: AdapterSettings, now: float) -> None:
    if settings.hubspot_client_secret is None:
        raise NotConfigured("HubSpot is not configured (QUOTABOARD_HUBSPOT_CLIENT_SECRET)")
    signature = req.header("x-hubspot-signature-v3")
    timestamp = req.header("x-hubspot-request-timestamp")
    if not signature or not timestamp:
        raise AuthError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not timestamp.isdigit():
        raise AuthError("X-HubSpot-Request-Timestamp is not milliseconds")
    if abs(now * 1000 - int(timestamp)) > TOLERANCE_SECONDS * 1000:
        raise AuthError("X-HubSpot-Request-Timestamp is more than 5 minutes from now")
    expected = sign(settings.hubspot_client_secret.value, req.method, request_uri(req, settings), req.body, timestamp)
    if not ct_equal(expected, signature.strip()):
        raise AuthError("X-HubSpot-Signature-v3 does not match")


# --- translation --------------------------------------------------------------------


def _kind(event: dict) -> str | None:
    kind = event.get("subscriptionType") or event.get("eventType")
    if not isinstance(kind, str):
        return None
    if kind.startswith("object.") and str(event.get("objectTypeId")) == "0-3":
        kind = "deal." + kind[len("object."):]
    return kind


def _one(event: Any, m: CrmMapping) -> TranslateResult:
    out = TranslateResult()
    if not isinstance(event, dict):
        out.malformed.append(Malformed("event is not an object", event))
        return out
    kind = _kind(event)
    if kind not in ("deal.creation", "deal.propertyChange", "deal.deletion"):
        out.ignored += 1
        return out
    if kind == "deal.deletion":
        out.ignored += 1
        return out
    missing = [k for k in ("eventId", "objectId", "occurredAt") if event.get(k) in (None, "")]
    if missing:
        out.malformed.append(Malformed(f"{kind} without {', '.join(missing)}", event))
        return out
    try:
        occurred_at = from_millis(event["occurredAt"]).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        out.malformed.append(Malformed(f"occurredAt {event['occurredAt']!r} is not milliseconds", event))
        return out
    deal_id = m.deal_id(event["objectId"])
    key = f"hubspot-{event['eventId']}-{event['objectId']}-{event['occurredAt']}"
    env = {"occurred_at": occurred_at, "source": SOURCE}
    try:
        if kind == "deal.creation":
            props = event.get("properties") if isinstance(event.get("properties"), dict) else {}
            props = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in props.items()}
            data = {
                "deal_id": deal_id,
                "rep_id": m.rep(props.get("hubspot_owner_id")) or "unassigned",
                "customer_id": str(props.get(m.customer_field) or "") if m.customer_field else "",
                "product_line": (props.get(m.product_line_field) if m.product_line_field else None) or m.default_product_line,
                "amount": str(to_decimal(props["amount"])) if props.get("amount") not in (None, "") else "0",
            }
            if not data["customer_id"]:
                data["customer_id"] = f"hubspot-deal-{event['objectId']}"
            if m.source_channel_field and props.get(m.source_channel_field):
                data["source_channel"] = str(props[m.source_channel_field])
            out.events.append(make_event({"id": key + "-creation", "type": "deal.created", **env, "data": data}))
            return out
        prop = event.get("propertyName")
        value = event.get("propertyValue")
        if not prop:
            out.malformed.append(Malformed("deal.propertyChange without propertyName", event))
            return out
        eid = f"{key}-{prop}"
        if value is None or value == "":
            out.ignored += 1  # a cleared property says nothing we can record
        elif prop == "dealstage":
            meaning = m.stage(value)
            if meaning is None:
                out.ignored += 1  # a stage the mapping does not name (another pipeline, ...)
            elif meaning == "won":
                out.events.append(make_event({"id": eid, "type": "deal.won", **env, "data": {"deal_id": deal_id}}))
            elif meaning == "lost":
                out.events.append(make_event({"id": eid, "type": "deal.lost", **env, "data": {"deal_id": deal_id}}))
            else:
                out.events.append(make_event({"id": eid, "type": "deal.stage_changed", **env,
                                              "data": {"deal_id": deal_id, "stage": meaning}}))
        elif prop == "amount":
            amount = to_decimal(value)
            out.events.append(make_event({"id": eid, "type": "deal.updated", **env,
                                          "data": {"deal_id": deal_id, "amount": str(amount)}}))
        elif prop == "hubspot_owner_id":
            out.events.append(make_event({"id": eid, "type": "deal.reassigned", **env,
                                          "data": {"deal_id": deal_id, "rep_id": m.rep(value)}}))
        elif m.product_line_field and prop == m.product_line_field:
            out.events.append(make_event({"id": eid, "type": "deal.updated", **env,
                                          "data": {"deal_id": deal_id, "product_line": str(value)}}))
        else:
            out.ignored += 1
    except (ValueError, ContractError) as exc:
        out.malformed.append(Malformed(f"{kind}: {exc}", event))
    return out


def translate(payload: Any, mapping: CrmMapping) -> TranslateResult:
    """HubSpot's event array -> canonical events (pure: no I/O, no clock)."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        return TranslateResult(malformed=[Malformed("body is not an array of events", payload)])
    if len(payload) > MAX_EVENTS:
        return TranslateResult(malformed=[Malformed(f"more than {MAX_EVENTS} events in one body", payload)])
    result = TranslateResult()
    for event in payload:
        result.extend(_one(event, mapping))
    return result


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    return await handle_json(SOURCE, req, ctx, verify, lambda payload: translate(payload, ctx.mapping.hubspot))
