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

Ids are facts, shared with `quotaboard backfill pipedrive` (which reads deals through the
REST API v2): `pipedrive-deal-{id}-created`, `-stage-{stage_id}`, `-won`, `-lost`, and
`-value-`/`-owner-`/`-product-{update_time}` for changes; `pipedrive-activity-{id}`. A
deal in another currency than the deployment's is quarantined; single-option custom
fields are read through `[pipedrive.option_labels]`, and, for an option the file does not
label, through Pipedrive's `GET /api/v2/dealFields` when the API token is configured
(pipedrive_fields: cached; only then does a webhook wait for Pipedrive's API).

Webhooks v1 (`meta.v = 1`, `current`/`previous`, `event: "updated.deal"`) are refused with
400 and a message saying to recreate the webhook as version 2.0; the body is quarantined.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from schemas.events import ContractError, Event
from services.ingest.adapters import pipedrive_fields
from services.ingest.adapters.base import (
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
    finish,
    make_event,
    parse_time,
    refuse,
    stage_event,
    vendor_decimal,
)
from services.ingest.adapters.mapping import CrmMapping

SOURCE = "pipedrive"
PATH = "/v1/webhooks/pipedrive"
LABEL_ATTEMPTS = 2  # a webhook waits for Pipedrive's API briefly, then answers 503 (redelivered)

_ACTIONS = {
    "create": "create",
    "added": "create",
    "change": "change",
    "updated": "change",
    "delete": "delete",
    "deleted": "delete",
}


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


class V1Refused(Exception):
    """A Pipedrive webhooks v1 notification: not translated (see the module docstring)."""


def _raw(obj: dict, key: str) -> Any:
    custom = obj.get("custom_fields") or {}
    return obj[key] if key in obj else custom.get(key)


def _option(value: Any, key: str, m: CrmMapping | None) -> Any:
    """The option id a single-option field's value holds, or None: `{"type": "enum", "id":
    37}` (webhooks), or a bare `37` (API v2) of a field the mapping has labels for."""
    if isinstance(value, dict):
        if value.get("type") == "enum" or ("id" in value and "value" not in value):
            return value.get("id")
        return None
    if (
        m is not None
        and m.option_labels.get(key) is not None
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return value
    return None


def _field(obj: dict, key: str | None, m: CrmMapping | None = None) -> Any:
    """A deal field: top level, or in v2's `custom_fields`. A single-option field's label
    is taken from `[pipedrive.option_labels."<key>"]` (plus the labels read from Pipedrive,
    pipedrive_fields); an option without a label is an error naming the field and the option."""
    if not key:
        return None
    value = _raw(obj, key)
    option = _option(value, key, m)
    if option is not None:
        label = m.option_label(key, option) if m is not None else None
        if label is None:
            fetched = (
                " nor among the field's options in Pipedrive (GET /api/v2/dealFields)"
                if m and m.labels_fetched
                else ""
            )
            raise VendorFieldError(
                f'custom_fields.{key} = option {option}: no label for it in [pipedrive.option_labels."{key}"] '
                f"of the mapping file{fetched}"
            )
        return label
    if isinstance(value, dict):
        return value.get("value")
    return value


def needs_labels(obj: Any, m: CrmMapping) -> bool:
    """Whether a deal carries an option id of the product-line/customer/lead-source field
    that the mapping cannot label, or a bare number in such a field the mapping has no
    labels for (the API v2 form of an option; a number field looks the same): then the
    labels are read from Pipedrive (pipedrive_fields)."""
    if not isinstance(obj, dict) or m.labels_fetched:
        return False
    for key in (m.product_line_field, m.customer_field, m.source_channel_field):
        if not key:
            continue
        value = _raw(obj, key)
        option = _option(value, key, m)
        if option is not None and m.option_label(key, option) is None:
            return True
        if option is None and isinstance(value, int) and not isinstance(value, bool):
            return True
    return False


def _owner(obj: dict) -> Any:
    owner = obj.get("owner_id", obj.get("user_id"))
    if isinstance(owner, dict):
        owner = owner.get("id") or owner.get("value")
    return owner


def deal_key(deal_id: object) -> str:
    return f"pipedrive-deal-{deal_id}"


def _closed(obj: dict, m: CrmMapping, env: dict, when: Any = None) -> dict | None:
    """The stage/won/lost event a deal's current state implies (keyed by the fact)."""
    status = obj.get("status")
    if status in ("won", "lost"):
        meaning, key, at = status, f"{deal_key(obj['id'])}-{status}", obj.get(f"{status}_time")
    else:
        meaning = m.stage(obj.get("stage_id"))
        if not meaning or meaning == "lead":
            return None
        key, at = f"{deal_key(obj['id'])}-stage-{obj['stage_id']}", obj.get("stage_change_time")
    at = at or when
    env = {**env, "occurred_at": parse_time(at).isoformat()} if at else env
    return stage_event(
        meaning,
        key,
        env,
        m.deal_id(obj["id"]),
        amount=obj.get("value"),
        reason=obj.get("lost_reason"),
    )


def created_events(obj: dict, m: CrmMapping) -> list[Event]:
    """deal.created (and the stage/won/lost it is already in) from a deal as the v2
    webhook's `data` or the v2 API's deal list gives it: the same for both."""
    check_currency(obj.get("currency"), m, "currency")
    env = {"occurred_at": parse_time(obj.get("add_time")).isoformat(), "source": SOURCE}
    customer = _field(obj, m.customer_field, m) if m.customer_field else None
    customer = (
        customer or obj.get("org_id") or obj.get("person_id") or f"pipedrive-deal-{obj['id']}"
    )
    if isinstance(customer, dict):
        customer = customer.get("value") or customer.get("id")
    data = {
        "deal_id": m.deal_id(obj["id"]),
        "rep_id": m.rep(_owner(obj)) or "unassigned",
        "customer_id": str(customer),
        "product_line": str(_field(obj, m.product_line_field, m) or m.default_product_line),
        "amount": str(vendor_decimal("value", obj.get("value") or 0)),
    }
    channel = _field(obj, m.source_channel_field, m) if m.source_channel_field else None
    if channel:
        data["source_channel"] = str(channel)
    events = [
        make_event(
            {"id": f"{deal_key(obj['id'])}-created", "type": "deal.created", **env, "data": data},
            {"rep_id": f"owner_id = {_owner(obj)!r}", "customer_id": "org_id/person_id"},
        )
    ]
    closed = _closed(obj, m, env)
    if closed:
        events.append(make_event(closed))
    return events


def _is_v1(payload: dict) -> bool:
    meta = payload.get("meta") or {}
    return (
        meta.get("v") == 1
        or str(meta.get("version", "")).startswith("1")
        or "current" in payload
        or "event" in payload
    )


def translate(payload: Any, m: CrmMapping) -> TranslateResult:
    """One Pipedrive v2 notification -> canonical events (pure). Raises V1Refused for v1."""
    out = TranslateResult()
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        out.malformed.append(Malformed("Pipedrive body has no meta object", payload))
        return out
    if _is_v1(payload):
        raise V1Refused(
            "Pipedrive webhooks v1 are not supported (their ids do not tell one edit from the next): "
            "recreate the webhook with version 2.0 (Settings > Webhooks)"
        )
    meta = payload["meta"]
    action = _ACTIONS.get(str(meta.get("action")))
    entity = meta.get("entity")
    if (action, entity) not in (("create", "deal"), ("change", "deal"), ("create", "activity")):
        out.ignored += 1
        return out
    obj = payload.get("data")
    if not isinstance(obj, dict) or obj.get("id") in (None, ""):
        out.malformed.append(Malformed(f"Pipedrive {action}.{entity} has no data.id", payload))
        return out
    try:
        if entity == "activity":
            out.events.append(activity_event(obj, m, meta.get("timestamp")))
            return out
        if action == "create":
            out.events.extend(created_events(obj, m))
            return out
        out.extend(_changed(obj, payload.get("previous"), m, meta.get("timestamp")))
    except (KeyError, TypeError, ValueError, ContractError) as exc:
        out.events.clear()
        out.malformed.append(
            Malformed(f"Pipedrive {action}.{entity} {obj.get('id')}: {exc}", payload)
        )
    return out


def activity_event(obj: dict, m: CrmMapping, fallback_time: Any = None) -> Event:
    env = {
        "occurred_at": parse_time(obj.get("add_time") or fallback_time).isoformat(),
        "source": SOURCE,
    }
    data = {
        "activity_id": str(obj["id"]),
        "rep_id": m.rep(_owner(obj)) or "unassigned",
        "kind": m.activity_kind(obj.get("type")),
    }
    if obj.get("deal_id"):
        data["deal_id"] = m.deal_id(obj["deal_id"])
    if obj.get("org_id"):
        data["customer_id"] = str(obj["org_id"])
    return make_event(
        {"id": f"pipedrive-activity-{obj['id']}", "type": "activity.logged", **env, "data": data}
    )


def _changed(obj: dict, previous: Any, m: CrmMapping, fallback_time: Any) -> TranslateResult:
    """change.deal: one event per changed field that means something (`previous` names
    what changed: v2 sends only the changed fields there)."""
    out = TranslateResult()
    if not isinstance(previous, dict) or not previous:
        out.ignored += 1
        return out
    when = obj.get("update_time") or fallback_time
    stamp = parse_time(when)
    env = {"occurred_at": stamp.isoformat(), "source": SOURCE}
    did, base = m.deal_id(obj["id"]), deal_key(obj["id"])
    suffix = stamp.strftime("%Y%m%dT%H%M%SZ")
    if "currency" in previous or "value" in previous:
        check_currency(obj.get("currency"), m, "currency")
    if ("status" in previous and obj.get("status") in ("won", "lost")) or "stage_id" in previous:
        closed = _closed(obj, m, env, when)
        if closed:
            out.events.append(make_event(closed))
    if "value" in previous and obj.get("value") is not None:
        out.events.append(
            make_event(
                {
                    "id": f"{base}-value-{suffix}",
                    "type": "deal.updated",
                    **env,
                    "data": {"deal_id": did, "amount": str(vendor_decimal("value", obj["value"]))},
                }
            )
        )
    if ("owner_id" in previous or "user_id" in previous) and _owner(obj) is not None:
        out.events.append(
            make_event(
                {
                    "id": f"{base}-owner-{suffix}",
                    "type": "deal.reassigned",
                    **env,
                    "data": {"deal_id": did, "rep_id": m.rep(_owner(obj))},
                }
            )
        )
    pl = m.product_line_field
    if pl and (pl in previous or pl in (previous.get("custom_fields") or {})):
        value = _field(obj, pl, m)
        if value:
            out.events.append(
                make_event(
                    {
                        "id": f"{base}-product-{suffix}",
                        "type": "deal.updated",
                        **env,
                        "data": {"deal_id": did, "product_line": str(value)},
                    }
                )
            )
    if not out.events:
        out.ignored += 1
    return out


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    try:
        verify(req, ctx.settings)
    except AuthError as exc:
        return refuse(SOURCE, exc, (("www-authenticate", 'Basic realm="quotaboard"'),))
    try:
        payload = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return await finish(
            SOURCE,
            TranslateResult(malformed=[Malformed(f"Pipedrive body is not JSON: {exc}", req.body)]),
            ctx,
        )
    m = ctx.mapping.pipedrive
    if (
        isinstance(payload, dict)
        and needs_labels(payload.get("data"), m)
        and pipedrive_fields.configured(ctx.settings)
    ):
        # only when the mapping cannot label an option; cached; UpstreamUnavailable: 503, Pipedrive retries
        fetched = await asyncio.to_thread(pipedrive_fields.labels, ctx.settings, LABEL_ATTEMPTS)
        m = m.with_fetched_labels(fetched)
    try:
        result = translate(payload, m)
    except V1Refused as exc:
        await ctx.quarantine(SOURCE, str(exc), req.body)
        return WebhookResponse.json(400, {"error": str(exc), "quarantined": 1})
    return await finish(SOURCE, result, ctx)
