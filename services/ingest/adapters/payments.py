"""Payments by Stripe's webhook scheme (`POST /v1/webhooks/payments`).

Authentication: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` where each v1 is
hex(HMAC-SHA256(secret, "{t}.{raw body}")) keyed with the whole `whsec_...` string as
Stripe does (it is not base64-decoded). Any one v1 matching is enough (Stripe sends one per
active secret while a secret is rolled); `t` must be within 5 minutes of now.

Handled:

* `payment_intent.succeeded` / `charge.succeeded` -> payment.received of the amount
  received. Both describe the same money when a charge belongs to a payment intent, so
  the key is the payment (`stripe-payment-{payment intent id, else charge id}`): the log
  stores it once whichever of the two arrives, and Stripe's retries are duplicates.
* `charge.refunded` -> payment.refunded of what this event refunded (`amount_refunded`
  minus `previous_attributes.amount_refunded`), keyed `stripe-{event id}`.
* anything else -> ignored and counted.

The deal is `metadata.deal_id` of the object (of the charge's payment intent metadata as
Stripe copies it); without one the event is quarantined. Amounts are minor units, turned
into decimals with the currency's exponent (0 for JPY, KRW, ...; 3 for BHD, KWD, ...; else 2).
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
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


def _deal_id(obj: dict) -> str | None:
    """`metadata.deal_id` of the object, else of its (expanded) payment intent."""
    sources = [obj.get("metadata")]
    if isinstance(obj.get("payment_intent"), dict):
        sources.append(obj["payment_intent"].get("metadata"))
    for meta in sources:
        if isinstance(meta, dict) and meta.get("deal_id"):
            return str(meta["deal_id"])
    return None


def translate(payload: Any, currency: str | None = None) -> TranslateResult:
    """One Stripe event -> canonical events (pure). `currency`: the deployment's currency,
    when configured; a payment in another is quarantined."""
    out = TranslateResult()
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("type"):
        out.malformed.append(Malformed("body is not a Stripe event (id, type)", payload))
        return out
    kind = payload["type"]
    if kind not in ("payment_intent.succeeded", "charge.succeeded", "charge.refunded"):
        out.ignored += 1
        return out
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    obj = data.get("object")
    if not isinstance(obj, dict) or not obj.get("id"):
        out.malformed.append(Malformed(f"{kind} without data.object.id", payload))
        return out
    try:
        deal_id = _deal_id(obj)
        if not deal_id:
            raise ValueError("no metadata.deal_id on the payment")
        cur = str(obj.get("currency") or "")
        if not cur:
            raise ValueError("no currency")
        if currency and cur.upper() != currency:
            raise ValueError(f"currency {cur.upper()} is not the deployment's {currency}")
        created = payload.get("created", obj.get("created"))
        env = {"occurred_at": from_seconds(created).isoformat(), "source": SOURCE}
        pi = obj.get("payment_intent")
        pi = pi.get("id") if isinstance(pi, dict) else pi
        if kind == "payment_intent.succeeded":
            payment_id = obj["id"]
            amount = obj.get("amount_received", obj.get("amount"))
        else:
            payment_id = pi or obj["id"]
            amount = obj.get("amount_captured") or obj.get("amount")
        if kind == "charge.refunded":
            total = obj.get("amount_refunded")
            prev = (data.get("previous_attributes") or {}).get("amount_refunded", 0)
            if not isinstance(total, int) or not isinstance(prev, int):
                raise ValueError("amount_refunded is not an integer")
            refunded = minor_to_decimal(total - prev, cur)
            if refunded <= 0:
                out.ignored += 1
                return out
            out.events.append(make_event({"id": f"stripe-{payload['id']}", "type": "payment.refunded", **env,
                                          "data": {"payment_id": payment_id, "deal_id": deal_id, "amount": str(refunded)}}))
            return out
        out.events.append(make_event({"id": f"stripe-payment-{payment_id}", "type": "payment.received", **env,
                                      "data": {"payment_id": payment_id, "deal_id": deal_id,
                                               "amount": str(minor_to_decimal(amount, cur))}}))
    except (TypeError, ValueError, OverflowError, ContractError) as exc:
        out.malformed.append(Malformed(f"{kind} {payload['id']}: {exc}", payload))
    return out


async def handle(req: WebhookRequest, ctx: AdapterContext) -> WebhookResponse:
    return await handle_json(SOURCE, req, ctx, verify, lambda payload: translate(payload, ctx.mapping.currency))
