"""Pipedrive webhooks v2 (`POST /v1/webhooks/pipedrive`).

Authentication: HTTP basic auth (the user and password set on the webhook in Pipedrive),
compared in constant time with `QUOTABOARD_PIPEDRIVE_USER` / `QUOTABOARD_PIPEDRIVE_PASSWORD`.

Body: `{"meta": {...}, "data": {...}, "previous": {...} | null}`. Handled:

* `create.deal` -> deal.created (and deal.stage_changed / deal.won / deal.lost when the deal
  is created past the first stage or already closed)
* `change.deal` -> one event per changed field that means something, judged from
  `previous` (v2 sends only the changed fields there): `stage_id` -> deal.stage_changed
  (or won/lost for a stage the mapping calls so); `status` -> deal.won (with the value) /
  deal.lost (with `lost_reason`); `value` -> deal.updated; `owner_id` -> deal.reassigned;
  the mapping's product-line custom field -> deal.updated
* `create.activity` -> activity.logged (its `type` through `[pipedrive.activity_kinds]`)
* everything else (deletes, persons, notes, re-opened deals, ...) -> ignored and counted

Idempotency key: `pipedrive-{meta.id}`, with a suffix per event derived from it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from schemas.events import ContractError
from services.ingest.adapters.base import (
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
    stage_event,
    to_decimal,
)
from services.ingest.adapters.mapping import CrmMapping

SOURCE = "pipedrive"
PATH = "/v1/webhooks/pipedrive"

_ACTIONS = {"create": "create", "added": "create", "change": "change", "updated": "change",
            "delete": "delete", "deleted": "delete"}


def verify(req: WebhookRequest, settings: AdapterSettings, now: float | None = None) -> None:
    if not settings.pipedrive_user or settings.pipedrive_password is None:
        raise NotConfigured("Pipedrive is not configured (QUOTABOARD_PIPEDRIVE_USER/PASSWORD)")
    header = req.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise AuthError("missing HTTP basic credentials")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuthError("malformed HTTP basic credentials") from None
    expected = f"{settings.pipedrive_user}:{settings.pipedrive_password.value}".encode()
    if not ct_equal(given, expected):
        raise AuthError("wrong Pipedrive user or password")


def _field(obj: dict, key: str | None) -> Any:
    """A deal field: top level, or in v2's `custom_fields` (whose values may be objects)."""
    if not key:
        return None
    if key in obj:
        value = obj[key]
    else:
        value = (obj.get("custom_fields") or {}).get(key)
    if isinstance(value, dict):
        value = value.get("value", value.get("id"))
    return value


def _owner(obj: dict) -> Any:
    owner = obj.get("owner_id", obj.get("user_id"))
    if isinstance(owner, dict):
        owner = owner.get("id") or owner.get("value")
    return owner


def translate(payload: Any, m: CrmMapping) -> TranslateResult:
    """One Pipedrive v2 notification -> canonical events (pure)."""
    out = TranslateResult()
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        out.malformed.append(Malformed("body has no meta object", payload))
        return out
    meta = payload["meta"]
    action = _ACTIONS.get(str(meta.get("action")))
    entity = meta.get("entity", meta.get("object"))
    if (action, entity) not in (("create", "deal"), ("change", "deal"), ("create", "activity")):
        out.ignored += 1
        return out
    obj = payload.get("data", payload.get("current"))
    if not isinstance(obj, dict) or obj.get("id") in (None, ""):
        out.malformed.append(Malformed(f"{action}.{entity} without data.id", payload))
        return out
    if meta.get("id") in (None, ""):
        out.malformed.append(Malformed(f"{action}.{entity} without meta.id", payload))
        return out
    key = f"pipedrive-{meta['id']}"
    try:
        when = obj.get("update_time") if action == "change" else obj.get("add_time")
        when = when or meta.get("timestamp")
        env = {"occurred_at": parse_time(when).isoformat(), "source": SOURCE}
        if entity == "activity":
            data = {
                "activity_id": str(obj["id"]),
                "rep_id": m.rep(_owner(obj)) or "unassigned",
                "kind": m.activity_kind(obj.get("type")),
            }
            if obj.get("deal_id"):
                data["deal_id"] = m.deal_id(obj["deal_id"])
            if obj.get("org_id"):
                data["customer_id"] = str(obj["org_id"])
            out.events.append(make_event({"id": key, "type": "activity.logged", **env, "data": data}))
            return out
        deal_id = m.deal_id(obj["id"])
        if action == "create":
            customer = _field(obj, m.customer_field) if m.customer_field else None
            customer = customer or obj.get("org_id") or obj.get("person_id") or f"pipedrive-deal-{obj['id']}"
            if isinstance(customer, dict):
                customer = customer.get("value") or customer.get("id")
            data = {
                "deal_id": deal_id,
                "rep_id": m.rep(_owner(obj)) or "unassigned",
                "customer_id": str(customer),
                "product_line": str(_field(obj, m.product_line_field) or m.default_product_line),
                "amount": str(to_decimal(obj.get("value") or 0)),
            }
            channel = _field(obj, m.source_channel_field) if m.source_channel_field else None
            if channel:
                data["source_channel"] = str(channel)
            out.events.append(make_event({"id": key, "type": "deal.created", **env, "data": data}))
            meaning = {"won": "won", "lost": "lost"}.get(obj.get("status")) or m.stage(obj.get("stage_id"))
            if meaning and meaning != "lead":
                out.events.append(make_event(stage_event(meaning, f"{key}-{meaning}", env, deal_id, amount=obj.get("value"), reason=obj.get("lost_reason"))))
            return out
        # change.deal: what changed is what `previous` names
        previous = payload.get("previous")
        if not isinstance(previous, dict) or not previous:
            out.ignored += 1
            return out
        made = 0
        if "status" in previous and obj.get("status") in ("won", "lost"):
            out.events.append(make_event(stage_event(obj["status"], f"{key}-status", env, deal_id, amount=obj.get("value"), reason=obj.get("lost_reason"))))
            made += 1
        elif "stage_id" in previous:
            meaning = m.stage(obj.get("stage_id"))
            if meaning:
                out.events.append(make_event(stage_event(meaning, f"{key}-stage", env, deal_id, amount=obj.get("value"), reason=obj.get("lost_reason"))))
                made += 1
        if "value" in previous and obj.get("value") is not None:
            out.events.append(make_event({"id": f"{key}-value", "type": "deal.updated", **env,
                                          "data": {"deal_id": deal_id, "amount": str(to_decimal(obj["value"]))}}))
            made += 1
        if ("owner_id" in previous or "user_id" in previous) and _owner(obj) is not None:
            out.events.append(make_event({"id": f"{key}-owner", "type": "deal.reassigned", **env,
                                          "data": {"deal_id": deal_id, "rep_id": m.rep(_owner(obj))}}))
            made += 1
        pl = m.product_line_field
        if pl and (pl in previous or pl in (previous.get("custom_fields") or {})):
            value = _field(obj, pl)
            if value:
                out.events.append(make_event({"id": f"{key}-product", "type": "deal.updated", **env,
                                              "data": {"deal_id": deal_id, "product_line": str(value)}}))
                made += 1
        if not made:
            out.ignored += 1
    except (KeyError, TypeError, ValueError, ContractError) as exc:
        out.events.clear()
        out.malformed.append(Malformed(f"{action}.{entity}: {exc}", payload))
    return out


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    try:
        verify(req, ctx.settings)
    except AuthError as exc:
        resp = refuse(SOURCE, exc)
        return WebhookResponse(resp.status, resp.body, (*resp.headers, ("www-authenticate", 'Basic realm="quotaboard"')))
    try:
        payload = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return await finish(SOURCE, TranslateResult(malformed=[Malformed(f"body is not JSON: {exc}", req.body)]), ctx)
    return await finish(SOURCE, translate(payload, ctx.mapping.pipedrive), ctx)
