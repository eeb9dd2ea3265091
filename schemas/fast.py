"""A trusted, lighter decode of stored events, for the projector's rebuild and catch-up.

The log only holds events that decoded through `schemas.events` when they were
recorded, so reading them back need not validate again: no length or pattern
constraints, no `__post_init__` checks, unknown fields and `source` skipped. The
frequent types (activities, deals, payments, customers) decode here into Structs with
the same field names, defaults and value types as the public ones (Decimal money,
aware datetimes), which the fold dispatches exactly as the public classes
(`PUBLIC[cls]`). Anything else (org events, targets, splits, closes, corrections) is
decoded by the public decoder, so the rare, richer events take one path only.

Do not decode untrusted input with this: it checks nothing. tests/unit/test_fast_decode.py
fails when a field is added to a public Struct and not here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Union

import msgspec

from schemas import events as ev


class _Data(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    pass


class ActivityLoggedData(_Data):
    activity_id: str
    rep_id: str
    kind: str
    deal_id: str | None = None
    customer_id: str | None = None


class DealCreatedData(_Data):
    deal_id: str
    rep_id: str
    customer_id: str
    product_line: str
    amount: Decimal
    kind: str = "new"
    source_channel: str = "unknown"


class DealUpdatedData(_Data):
    deal_id: str
    amount: Decimal | None = None
    product_line: str | None = None
    kind: str | None = None


class DealStageChangedData(_Data):
    deal_id: str
    stage: str


class DealReassignedData(_Data):
    deal_id: str
    rep_id: str


class DealWonData(_Data):
    deal_id: str
    amount: Decimal | None = None


class DealLostData(_Data):
    deal_id: str
    reason: str | None = None


class PaymentData(_Data):
    payment_id: str
    deal_id: str
    amount: Decimal


class CustomerCreatedData(_Data):
    customer_id: str
    name: str | None = None
    segment: str | None = None


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    id: str
    occurred_at: datetime


class ActivityLogged(_Envelope, tag="activity.logged"):
    data: ActivityLoggedData


class DealCreated(_Envelope, tag="deal.created"):
    data: DealCreatedData


class DealUpdated(_Envelope, tag="deal.updated"):
    data: DealUpdatedData


class DealStageChanged(_Envelope, tag="deal.stage_changed"):
    data: DealStageChangedData


class DealReassigned(_Envelope, tag="deal.reassigned"):
    data: DealReassignedData


class DealWon(_Envelope, tag="deal.won"):
    data: DealWonData


class DealLost(_Envelope, tag="deal.lost"):
    data: DealLostData


class PaymentReceived(_Envelope, tag="payment.received"):
    data: PaymentData


class PaymentRefunded(_Envelope, tag="payment.refunded"):
    data: PaymentData


class CustomerCreated(_Envelope, tag="customer.created"):
    data: CustomerCreatedData


FAST_TYPES = (ActivityLogged, DealCreated, DealUpdated, DealStageChanged, DealReassigned, DealWon,
              DealLost, PaymentReceived, PaymentRefunded, CustomerCreated)
# the public class each fast class stands for (the fold dispatches on these)
PUBLIC: dict[type, type] = {
    ActivityLogged: ev.ActivityLogged,
    DealCreated: ev.DealCreated,
    DealUpdated: ev.DealUpdated,
    DealStageChanged: ev.DealStageChanged,
    DealReassigned: ev.DealReassigned,
    DealWon: ev.DealWon,
    DealLost: ev.DealLost,
    PaymentReceived: ev.PaymentReceived,
    PaymentRefunded: ev.PaymentRefunded,
    CustomerCreated: ev.CustomerCreated,
}
FAST_TAGS = frozenset(t.__struct_config__.tag for t in FAST_TYPES)

_fast = msgspec.json.Decoder(Union[FAST_TYPES])  # noqa: UP007
_fast_decode = _fast.decode


def _public_decode(payload: bytes):
    return ev.decode_event(payload, check_keys=False)  # stored payloads are canonical


def decode_stored(payload: bytes):
    """A stored event's payload, decoded without re-validating (see the module doc)."""
    try:
        return _fast_decode(payload)
    except msgspec.ValidationError:  # a type decoded by the public Structs
        return _public_decode(payload)


class Unreadable(msgspec.Struct, frozen=True, gc=False):
    """A stored payload the current contract no longer decodes (recorded under an older,
    looser one): the fold sets it aside with the reason instead of stopping on it."""

    id: str
    type: str
    reason: str


def unreadable(payload: bytes, exc: ev.ContractError) -> Unreadable:
    try:
        raw = msgspec.json.decode(payload)
        id_, type_ = (str(raw.get("id")), str(raw.get("type"))) if isinstance(raw, dict) else ("?", "?")
    except msgspec.DecodeError:
        id_, type_ = "?", "?"
    return Unreadable(id_, type_, f"does not decode: {exc}")


def decode_rows(rows) -> list[tuple[int, object]]:
    """(position, payload) rows as (position, event) pairs; a payload that no longer
    decodes comes as an `Unreadable`."""
    fast, public = _fast_decode, _public_decode
    out = []
    append = out.append
    for pos, payload in rows:
        try:
            append((pos, fast(payload)))
        except (msgspec.ValidationError, msgspec.DecodeError):
            try:
                append((pos, public(payload)))
            except ev.ContractError as exc:
                append((pos, unreadable(payload, exc)))
    return out
