"""Payments by Stripe's webhook scheme (`POST /v1/webhooks/payments`).

Authentication: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` where each v1 is
hex(HMAC-SHA256(secret, "{t}.{raw body}")) keyed with the whole `whsec_...` string as
Stripe does (it is not base64-decoded). Any one v1 matching is enough (Stripe sends one per
active secret while a secret is rolled); `t` must be within 5 minutes of now.

Handled:

* `payment_intent.succeeded` (`amount_received`), `charge.succeeded` / `charge.captured`
  (`amount_captured`; a charge with `captured: false` is an authorization and moves no
  money: ignored) -> payment.received. They describe the same money, so the key is the
  payment (`stripe-payment-{payment intent id, else charge id}`): stored once whichever
  arrives first, and the capture after an authorization is the payment.
* `invoice.paid` -> payment.received of `amount_paid`, keyed by the invoice's payment
  intent (else the invoice). The deal comes from the invoice's metadata, else its
  subscription's (`subscription_details.metadata`); a payment intent or charge without
  the deal id that belongs to an invoice is ignored (the invoice carries it).
* `charge.refunded` -> one payment.refunded per refund the charge lists
  (`stripe-refund-{refund id}`, as the backfill keys them); a charge that does not list
  them gives what this event refunded (`amount_refunded` minus
  `previous_attributes.amount_refunded`), keyed `stripe-{event id}`.
* anything else -> ignored and counted.

The deal is the metadata key `[payments] deal_id_field` (default `deal_id`); without one the
event is quarantined with that reason. Amounts are minor units, turned
into decimals with the currency's exponent (0 for JPY, KRW, ...; 3 for BHD, KWD, ...; else 2).
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

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
    from_seconds,
    handle_json,
    make_event,
)

SOURCE = "payments"
PATH = "/v1/webhooks/payments"

# Stripe's zero-decimal and three-decimal currencies (ISK, HUF, TWD and UGX are sent as
# two-decimal amounts by Stripe's API for backwards compatibility, so they stay at 2).
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def exponent(currency: str) -> int:
    c = currency.upper()
    return 0 if c in ZERO_DECIMAL else 3 if c in THREE_DECIMAL else 2


def minor_to_decimal(amount: Any, currency: str) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"amount {amount!r} is not an integer of minor units")
    e = exponent(currency)
    return Decimal(amount).scaleb(-e).quantize(Decimal(1).scaleb(-e))


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(req: WebhookRequest, settings: AdapterSettings, now: float) -> None:
    if settings.stripe_secret is None:
        raise NotConfigured("payments are not configured (QUOTABOARD_STRIPE_SECRET)")
    header = req.header("stripe-signature")
    if not header:
        raise AuthError("missing Stripe-Signature")
    timestamp: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep:
            continue
        if k == "t":
            timestamp = v
        elif k == "v1":
            signatures.append(v)
    if timestamp is None or not timestamp.isdigit():
        raise AuthError("Stripe-Signature has no timestamp")
    if not signatures:
        raise AuthError("Stripe-Signature has no v1 signature")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise AuthError("Stripe-Signature timestamp is more than 5 minutes from now")
    expected = sign(settings.stripe_secret.value, timestamp, req.body)
    matched = False
    for candidate in signatures:  # compare with all, so timing does not tell which matched
        matched |= ct_equal(expected, candidate)
    if not matched:
        raise AuthError("no Stripe-Signature v1 matches")


def _deal_id(obj: dict, key: str = "deal_id") -> str | None:
    """The deal id in the object's metadata, else in its (expanded) payment intent's, else
    (an invoice) in its subscription's metadata as Stripe snapshots it on the invoice
    (`subscription_details.metadata`; newer API versions: `parent.subscription_details`)."""
    sources = [obj.get("metadata")]
    if isinstance(obj.get("payment_intent"), dict):
        sources.append(obj["payment_intent"].get("metadata"))
    for holder in (obj, obj.get("parent") if isinstance(obj.get("parent"), dict) else {}):
        details = holder.get("subscription_details")
        if isinstance(details, dict):
            sources.append(details.get("metadata"))
    for meta in sources:
        if isinstance(meta, dict) and meta.get(key):
            return str(meta[key])
    return None


def _id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


HANDLED = ("payment_intent.succeeded", "charge.succeeded", "charge.captured", "charge.refunded", "invoice.paid")


def translate(payload: Any, currency: str | None = None, deal_key: str = "deal_id") -> TranslateResult:
    """One Stripe event -> canonical events (pure). `currency`: the deployment's currency,
    when configured; a payment in another is quarantined. `deal_key`: the metadata key."""
    out = TranslateResult()
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("type"):
        out.malformed.append(Malformed("body is not a Stripe event (no id or type)", payload))
        return out
    kind = payload["type"]
    if kind not in HANDLED:
        out.ignored += 1
        return out
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    obj = data.get("object")
    if not isinstance(obj, dict) or not obj.get("id"):
        out.malformed.append(Malformed(f"Stripe {kind} {payload['id']} has no data.object.id", payload))
        return out
    try:
        made = object_events(kind, obj, payload.get("created", obj.get("created")), currency, deal_key,
                            refund_event_id=payload["id"], previous=data.get("previous_attributes"))
    except (TypeError, ValueError, OverflowError, ContractError) as exc:
        out.malformed.append(Malformed(f"Stripe {kind} {payload['id']} ({obj['id']}): {exc}", payload))
        return out
    if not made:
        out.ignored += 1
    out.events.extend(made)
    return out


def object_events(kind: str, obj: dict, created: Any, currency: str | None, deal_key: str = "deal_id", *,
                 refund_event_id: str | None = None, previous: Any = None) -> list[Event]:
    """The canonical event of one Stripe object in the state `kind` names; None when it
    means no money moved (an authorization not captured, an invoice paid out of band, a
    payment linked through its invoice). Shared by the webhook and the backfill."""
    cur = str(obj.get("currency") or "")
    if not cur:
        raise ValueError("currency is missing")
    if currency and cur.upper() != currency:
        raise ValueError(f"currency = {cur.upper()!r} is not the deployment's currency {currency}")
    env = {"occurred_at": from_seconds(created).isoformat(), "source": SOURCE}
    if kind == "invoice.paid":
        payment_id = _id(obj.get("payment_intent")) or obj["id"]
        amount = obj.get("amount_paid")
        if not amount:
            return []  # a zero invoice, or one marked paid out of band: no money
    elif kind == "payment_intent.succeeded":
        payment_id = obj["id"]
        amount = obj.get("amount_received")
    else:
        payment_id = _id(obj.get("payment_intent")) or obj["id"]
        if obj.get("captured") is False:
            return []  # an authorization (manual capture): no money yet; the capture is the payment
        amount = obj.get("amount_captured", obj.get("amount"))
    deal_id = _deal_id(obj, deal_key)
    if not deal_id:
        if kind != "invoice.paid" and obj.get("invoice"):
            return []  # paid through an invoice: invoice.paid carries the deal
        raise ValueError(f"metadata.{deal_key} is missing on the {obj.get('object') or 'object'}"
                         + (" and its subscription" if kind == "invoice.paid" else ""))
    if kind == "charge.refunded":
        refunds = (obj.get("refunds") or {}).get("data") if isinstance(obj.get("refunds"), dict) else None
        if refunds:  # the charge lists its refunds: one fact each, as the backfill sees them
            return [_refund(r, payment_id, deal_id, cur, env) for r in refunds if r.get("status") != "failed"]
        total = obj.get("amount_refunded")
        prev = (previous or {}).get("amount_refunded", 0)
        if not isinstance(total, int) or not isinstance(prev, int):
            raise ValueError(f"amount_refunded = {total!r} is not an integer of minor units")
        refunded = minor_to_decimal(total - prev, cur)
        if refunded <= 0:
            return []
        return [make_event({"id": f"stripe-{refund_event_id}", "type": "payment.refunded", **env,
                            "data": {"payment_id": payment_id, "deal_id": deal_id, "amount": str(refunded)}})]
    value = minor_to_decimal(amount, cur)
    if value <= 0:
        return []
    return [make_event({"id": f"stripe-payment-{payment_id}", "type": "payment.received", **env,
                        "data": {"payment_id": payment_id, "deal_id": deal_id, "amount": str(value)}},
                       {"amount": f"amount = {amount!r}"})]


def _refund(refund: dict, payment_id: str, deal_id: str, cur: str, env: dict) -> Event:
    when = {**env, "occurred_at": from_seconds(refund["created"]).isoformat()} if refund.get("created") else env
    return make_event({"id": f"stripe-refund-{refund['id']}", "type": "payment.refunded", **when,
                       "data": {"payment_id": payment_id, "deal_id": deal_id,
                                "amount": str(minor_to_decimal(refund.get("amount"), cur))}},
                      {"amount": f"refunds.data[{refund['id']}].amount = {refund.get('amount')!r}"})


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    return await handle_json(SOURCE, req, ctx, verify, lambda payload: translate(payload, ctx.mapping.currency, ctx.mapping.deal_id_field))
