"""HubSpot webhooks (`POST /v1/webhooks/hubspot`) and the deal facts shared with the backfill.

Authentication: `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret,
method + URI + raw body + X-HubSpot-Request-Timestamp)), the timestamp in milliseconds and
no more than 5 minutes from now. The URI is the configured public URL
(`QUOTABOARD_HUBSPOT_PUBLIC_URL`, what HubSpot calls; behind a TLS proxy the request's own
URL differs), with HubSpot's listed percent-escapes decoded.

Body: an array of up to 100 events. Handled (`subscriptionType`, or `eventType`):

* `deal.creation` -> deal.created. The event carries only ids, and the deal's company is
  an association, never a property, so the handler reads the deal (properties and its
  company association) through HubSpot's API with the portal's token
  (`QUOTABOARD_HUBSPOT_TOKEN_<portalId>`); without a token the creation is quarantined
  with that reason (`quotaboard backfill hubspot` creates it later, with the same id).
* `deal.propertyChange` of `dealstage` -> deal.stage_changed / deal.won / deal.lost by the
  mapping's stage ids; `amount` -> deal.updated; `hubspot_owner_id` -> deal.reassigned;
  `dealtype` -> deal.updated {kind} by `[hubspot.deal_kinds]`; the mapping's
  product-line property -> deal.updated
* `deal.deletion` -> ignored and counted (a deletion is usually clean-up, not a lost sale)
* the same for `object.*` events whose `objectTypeId` is `0-3` (deals)

Ids are facts, not deliveries, so that the backfill (which reads the same facts from the
API) and the webhooks store each once, in either order:
`hubspot-{portalId}-{objectId}-created`, `hubspot-{portalId}-{objectId}-dealstage-{stage}`
and `hubspot-{portalId}-{objectId}-{property}-{occurredAt ms}` for the other properties
(the property history's timestamp in the backfill). Deal ids carry the portal unless
`[hubspot.portals]` names a prefix for it (see docs/adapters.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from typing import Any

from schemas.events import ContractError, Event
from services.ingest.adapters import hubspot_api
from services.ingest.adapters.base import (
    TOLERANCE_SECONDS,
    AdapterContext,
    AdapterSettings,
    AuthError,
    Malformed,
    NotConfigured,
    TranslateResult,
    VendorFieldError,
    WebhookRequest,
    WebhookResponse,
    check_currency,
    ct_equal,
    from_millis,
    handle_json,
    make_event,
    parse_time,
    stage_event,
    vendor_decimal,
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

def deal_id(m: CrmMapping, portal: object, object_id: object) -> str:
    """The canonical deal id: the portal's prefix from `[hubspot.portals]`, else the portal
    id itself, so two portals' deal 42 stay two deals."""
    portal = str(portal) if portal not in (None, "") else None
    if m.portals:
        if portal not in m.portals:
            raise VendorFieldError(f"portalId = {portal!r} is not listed in [hubspot.portals] of the mapping file")
        return m.deal_id(f"{m.portals[portal]}{object_id}")
    if portal is None:
        raise VendorFieldError("portalId is missing (deal ids from two portals would merge)")
    return m.deal_id(f"{portal}-{object_id}")


def key(portal: object, object_id: object) -> str:
    return f"hubspot-{portal}-{object_id}"


def created_event(portal: object, record: dict, m: CrmMapping, occurred_at: str | None = None) -> Event:
    """deal.created from a deal read through the API (`record`: id, properties, companies),
    the same for the webhook and the backfill."""
    props = record.get("properties") or {}
    object_id = record["id"]
    check_currency(props.get("deal_currency_code"), m, "properties.deal_currency_code")
    companies = record.get("companies") or []
    if m.customer_field and props.get(m.customer_field):
        customer = str(props[m.customer_field])
    elif companies:
        customer = f"hubspot-{portal}-company-{companies[0]}"
    else:
        customer = f"hubspot-{portal}-deal-{object_id}"  # a deal without a company is its own customer
    when = occurred_at or parse_time(props.get("createdate")).isoformat()
    data = {
        "deal_id": deal_id(m, portal, object_id),
        "rep_id": m.rep(props.get("hubspot_owner_id")) or "unassigned",
        "customer_id": customer,
        "product_line": (props.get(m.product_line_field) if m.product_line_field else None) or m.default_product_line,
        "amount": str(vendor_decimal("properties.amount", props["amount"])) if props.get("amount") not in (None, "") else "0",
    }
    kind = m.deal_kind(props.get("dealtype"))
    if kind:
        data["kind"] = kind
    if m.source_channel_field and props.get(m.source_channel_field):
        data["source_channel"] = str(props[m.source_channel_field])
    return make_event({"id": key(portal, object_id) + "-created", "type": "deal.created",
                       "occurred_at": when, "source": SOURCE, "data": data},
                      {"amount": f"properties.amount = {props.get('amount')!r}",
                       "product_line": f"properties.{m.product_line_field}",
                       "rep_id": f"properties.hubspot_owner_id = {props.get('hubspot_owner_id')!r}"})


def property_event(portal: object, object_id: object, prop: str, value: Any, occurred_ms: int,
                   m: CrmMapping) -> Event | None:
    """The canonical event of one deal property taking a value (a webhook's propertyChange
    or one entry of the backfill's property history); None when it means nothing."""
    if value is None or value == "":
        return None  # a cleared property says nothing we can record
    did = deal_id(m, portal, object_id)
    env = {"occurred_at": from_millis(occurred_ms).isoformat(), "source": SOURCE}
    eid = f"{key(portal, object_id)}-{prop}-{occurred_ms}"
    origin = f"propertyName {prop}, propertyValue = {value!r}"
    if prop == "dealstage":
        meaning = m.stage(value)
        if meaning is None:
            return None  # a stage the mapping does not name (another pipeline, ...)
        return make_event(stage_event(meaning, f"{key(portal, object_id)}-dealstage-{value}", env, did), {})
    if prop == "amount":
        return make_event({"id": eid, "type": "deal.updated", **env,
                           "data": {"deal_id": did, "amount": str(vendor_decimal("propertyValue", value))}},
                          {"amount": origin})
    if prop == "hubspot_owner_id":
        return make_event({"id": eid, "type": "deal.reassigned", **env, "data": {"deal_id": did, "rep_id": m.rep(value)}},
                          {"rep_id": origin})
    if prop == "dealtype":
        kind = m.deal_kind(value)
        if kind is None:
            raise VendorFieldError(f"{origin}: the deal type is not in [hubspot.deal_kinds] of the mapping file")
        return make_event({"id": eid, "type": "deal.updated", **env, "data": {"deal_id": did, "kind": kind}})
    if m.product_line_field and prop == m.product_line_field:
        return make_event({"id": eid, "type": "deal.updated", **env,
                           "data": {"deal_id": did, "product_line": str(value)}}, {"product_line": origin})
    return None


def _kind(event: dict) -> str | None:
    kind = event.get("subscriptionType") or event.get("eventType")
    if not isinstance(kind, str):
        return None
    if kind.startswith("object.") and str(event.get("objectTypeId")) == "0-3":
        kind = "deal." + kind[len("object."):]
    return kind


def _one(event: Any, m: CrmMapping, records: dict) -> TranslateResult:
    out = TranslateResult()
    if not isinstance(event, dict):
        out.malformed.append(Malformed("HubSpot event is not an object", event))
        return out
    kind = _kind(event)
    if kind not in ("deal.creation", "deal.propertyChange"):
        out.ignored += 1  # deletions, other objects
        return out
    missing = [k for k in ("eventId", "portalId", "objectId", "occurredAt") if event.get(k) in (None, "")]
    if missing:
        out.malformed.append(Malformed(f"HubSpot {kind} event {event.get('eventId')} has no {', '.join(missing)}", event))
        return out
    occurred = event["occurredAt"]
    try:
        occurred_at = from_millis(occurred).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        out.malformed.append(Malformed(f"HubSpot {kind}: occurredAt = {occurred!r} is not milliseconds", event))
        return out
    portal, object_id = event["portalId"], event["objectId"]
    try:
        if kind == "deal.creation":
            found = (str(portal), str(object_id)) in records
            record = records.get((str(portal), str(object_id)))
            if found and record is None:
                raise VendorFieldError(f"deal {object_id} of portal {portal} is not found through the API (deleted since?)")
            if record is None:
                raise VendorFieldError(
                    f"deal {object_id} of portal {portal}: the event carries no properties and no "
                    f"company; no API token for portal {portal} (QUOTABOARD_HUBSPOT_TOKEN_{portal}) to read them"
                )
            out.events.append(created_event(portal, record, m, occurred_at))
            return out
        prop = event.get("propertyName")
        if not prop:
            raise VendorFieldError(f"HubSpot deal.propertyChange event {event['eventId']} has no propertyName")
        made = property_event(portal, object_id, prop, event.get("propertyValue"), int(occurred), m)
        if made is None:
            out.ignored += 1
        else:
            out.events.append(made)
    except (ValueError, ContractError, KeyError) as exc:
        out.malformed.append(Malformed(f"HubSpot {kind}: {exc}", event))
    return out


def translate(payload: Any, mapping: CrmMapping, records: dict | None = None) -> TranslateResult:
    """HubSpot's event array -> canonical events (pure). `records`: the deals of the
    batch's creations as read through the API, by (portalId, objectId)."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        return TranslateResult(malformed=[Malformed("HubSpot body is not an array of events", payload)])
    if len(payload) > MAX_EVENTS:
        return TranslateResult(malformed=[Malformed(f"more than {MAX_EVENTS} events in one HubSpot body", payload)])
    result = TranslateResult()
    for event in payload:
        result.extend(_one(event, mapping, records or {}))
    return result


def _creations(payload: Any) -> dict[str, list[str]]:
    """The (portal -> deal ids) of the batch's deal.creation events."""
    wanted: dict[str, list[str]] = {}
    for event in payload if isinstance(payload, list) else [payload]:
        if isinstance(event, dict) and _kind(event) == "deal.creation" and event.get("portalId") and event.get("objectId"):
            wanted.setdefault(str(event["portalId"]), []).append(str(event["objectId"]))
    return wanted


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    async def with_records(payload: Any) -> TranslateResult:
        """A new deal's company is an association, not a property: read it through the API
        with the portal's token (UpstreamUnavailable: 503, so HubSpot retries)."""
        records: dict = {}
        for portal, ids in _creations(payload).items():
            if portal in ctx.settings.hubspot_tokens:
                records.update(await asyncio.to_thread(hubspot_api.read_deals, ctx.settings, portal, ids,
                                                       ctx.mapping.hubspot))
        return translate(payload, ctx.mapping.hubspot, records)

    return await handle_json(SOURCE, req, ctx, verify, with_records)


def deal_facts(portal: object, rec: dict, m: CrmMapping) -> TranslateResult:
    """A deal read through the API (hubspot_api.record) as the canonical events the
    webhooks give for it: the creation, then every version of the handled properties."""
    out = TranslateResult()
    try:
        events = [created_event(portal, rec, m)]
        for prop, versions in (rec.get("history") or {}).items():
            for value, ms in versions:
                made = property_event(portal, rec["id"], prop, value, ms, m)
                if made is not None:
                    events.append(made)
        out.events.extend(events)
    except (ValueError, ContractError, KeyError) as exc:
        out.malformed.append(Malformed(f"HubSpot deal {rec.get('id')} (portal {portal}): {exc}", rec))
    return out
