"""The canonical events of ../shared/contracts/events.md as msgspec Structs.

Every source (the gateway, `import`, the CRM adapters) is turned into these before
anything is published, so the event log only ever holds events that decode here.
The envelope is one tagged union on `type`; each member carries its own `data`
Struct, so one `decode_events` call validates a whole request body and names the
first bad field by its JSON path.

Fields may be added to the contract but never renamed or removed: add new optional
fields at the end of a data Struct, with a default.

The Structs are `gc=False`: an event holds only strings, decimals, dates and other
events' parts, never a cycle, and a rebuild decodes a million of them; keeping them out
of the cyclic garbage collector's sight takes it off the hot path.
"""

from __future__ import annotations

import abc
import json
import re
from datetime import UTC, date, datetime
from decimal import Context, Decimal, Inexact
from typing import Annotated, Literal, Union

import msgspec

# No control characters, and no whitespace at either end: the broker trims the
# Nats-Msg-Id header, so "x " would be taken for a duplicate of "x" (issue 12).
EventId = Annotated[str, msgspec.Meta(
    min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$")]
Source = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
# Years 2000-2100, like `occurred_at`: the log's fixed-width times and the periods'
# arithmetic hold there, and nothing in sales performance lies outside.
_YEAR = r"(?:20[0-9]{2}|2100)"
Period = Annotated[str, msgspec.Meta(pattern=rf"^{_YEAR}(-(0[1-9]|1[0-2])|-Q[1-4])?$")]
Month = Annotated[str, msgspec.Meta(pattern=rf"^{_YEAR}-(0[1-9]|1[0-2])$")]

Scope = Literal["team", "region", "product_line", "rep"]
Metric = Literal["bookings", "collections", "deals_won", "new_customers"]
Stage = Literal["lead", "qualified", "negotiation"]
DealKind = Literal["new", "renewal", "upsell"]
ActivityKind = Literal["call", "visit", "meeting", "email", "demo", "other"]

# Money larger than this is a typo or an attack, not a deal.
MONEY_LIMIT = Decimal("1e15")
# Every decimal of the contract (money, credit shares): ASCII digits, at most this many
# significant digits and decimals. Within these, sums of up to 100 shares are exact.
MAX_DIGITS = 18
MAX_DECIMALS = 6
MAX_DEPTH_REASON = "nested too deeply"
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_FIELD_MARK = re.compile(r"^\[field:(?P<field>.+?)\] (?P<reason>.*)$")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_AFTER_LATEST = datetime(2101, 1, 1, tzinfo=UTC)
_EXACT = Context(prec=60, traps=[Inexact])  # a sum that would round raises instead


class ContractDecimal(abc.ABC):  # noqa: B024 - a virtual base: Decimal is registered
    """The declared type of every decimal field; the values are plain `Decimal`s.

    msgspec would hand a decimal string to `Decimal()`, which also reads "１００",
    "٣", "1_000" and " 100". Declared as this custom type, the decoders pass the JSON
    text (or number) to `_dec_hook`, which admits ASCII decimals only and bounds
    their digits (`contract_decimal`). msgspec checks that the hook's result is an
    instance of the declared type: `Decimal` is registered as one, so the Structs hold,
    encode and compute with plain Decimals.
    """


ContractDecimal.register(Decimal)


def contract_decimal(value: object) -> Decimal:
    """A decimal as the contract admits it, from a JSON string or number."""
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError("must be a decimal written in ASCII digits, like \"1234.50\"")
        number = Decimal(value)
    elif isinstance(value, Decimal):  # a JSON number with a fraction (float_hook)
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        raise TypeError(f"Expected `decimal`, got `{type(value).__name__}`")
    _sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError("must be a finite decimal")
    if -exponent > MAX_DECIMALS:
        raise ValueError(f"must have at most {MAX_DECIMALS} decimals")
    if len(digits) + max(exponent, 0) > MAX_DIGITS:
        raise ValueError(f"must have at most {MAX_DIGITS} significant digits")
    return number


def _dec_hook(kind: type, value: object) -> object:
    if kind is ContractDecimal:
        return contract_decimal(value)
    raise NotImplementedError(f"no decoder for {kind!r}")


def schema_hook(kind: type) -> dict:
    """The JSON Schema of `ContractDecimal` (for schemas.publish)."""
    if kind is ContractDecimal:
        return {"type": "string", "format": "decimal", "pattern": f"^{_DECIMAL_TEXT.pattern}$",
                "description": f"ASCII digits, at most {MAX_DIGITS} significant digits and "
                               f"{MAX_DECIMALS} decimals"}
    raise NotImplementedError(f"no schema for {kind!r}")


def _invalid(field: str, reason: str) -> ValueError:
    """A post-init error that `contract_error` can turn into a path naming the field."""
    return ValueError(f"[field:{field}] {reason}")


def _check_money(field: str, value: Decimal | None, *, positive: bool = False) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise _invalid(field, "must be a finite decimal")
    if abs(value) >= MONEY_LIMIT:
        raise _invalid(field, f"must be below {MONEY_LIMIT:,.0f}")
    if positive and value <= 0:
        raise _invalid(field, "must be greater than 0")
    if value < 0:
        raise _invalid(field, "must be at least 0")


def _check_signed(field: str, value: Decimal | None) -> None:
    """A signed amount (a correction, a claim): finite and within the money limit."""
    if value is None:
        return
    if not value.is_finite():
        raise _invalid(field, "must be a finite decimal")
    if abs(value) >= MONEY_LIMIT:
        raise _invalid(field, f"must be below {MONEY_LIMIT:,.0f} in absolute value")


class _Data(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Base of every `data` object: unknown fields are ignored, as the contract says."""


# --- data per type -----------------------------------------------------------------


class RepOnboardedData(_Data):
    rep_id: Key
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    team: Key
    region: Key
    hired_on: date | None = None
    mentor_id: Key | None = None


class RepTransferredData(_Data):
    rep_id: Key
    region: Key
    team: Key | None = None


class RepOffboardedData(_Data):
    rep_id: Key


class TargetSetData(_Data):
    scope: Scope
    scope_id: Key
    period: Period
    metric: Metric
    amount: ContractDecimal

    def __post_init__(self) -> None:
        _check_money("amount", self.amount)


class CustomerCreatedData(_Data):
    customer_id: Key
    name: str | None = None
    segment: str | None = None


class DealCreatedData(_Data):
    deal_id: Key
    rep_id: Key
    customer_id: Key
    product_line: Key
    amount: ContractDecimal
    kind: DealKind = "new"
    source_channel: Key = "unknown"

    def __post_init__(self) -> None:
        _check_money("amount", self.amount)


class DealUpdatedData(_Data):
    deal_id: Key
    amount: ContractDecimal | None = None
    product_line: Key | None = None
    kind: DealKind | None = None

    def __post_init__(self) -> None:
        _check_money("amount", self.amount)


class DealStageChangedData(_Data):
    deal_id: Key
    stage: Stage


class DealReassignedData(_Data):
    deal_id: Key
    rep_id: Key


class CreditShare(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    rep_id: Key
    share: ContractDecimal


class DealCreditSplitData(_Data):
    deal_id: Key
    splits: Annotated[list[CreditShare], msgspec.Meta(min_length=1, max_length=100)]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for i, split in enumerate(self.splits):
            if not split.share.is_finite() or split.share <= 0:
                raise _invalid(f"splits[{i}].share", "must be greater than 0")
            if split.rep_id in seen:
                raise _invalid(f"splits[{i}].rep_id", f"rep {split.rep_id!r} is listed twice")
            seen.add(split.rep_id)
        total = Decimal(0)
        try:
            for split in self.splits:
                total = _EXACT.add(total, split.share)  # not the 28-digit default context
        except Inexact:
            total = None
        if total != 1:
            raise _invalid("splits", "shares must sum to exactly 1")


class DealWonData(_Data):
    deal_id: Key
    amount: ContractDecimal | None = None

    def __post_init__(self) -> None:
        _check_money("amount", self.amount)


class DealLostData(_Data):
    deal_id: Key
    reason: str | None = None


class ActivityLoggedData(_Data):
    activity_id: Key
    rep_id: Key
    kind: ActivityKind
    deal_id: Key | None = None
    customer_id: Key | None = None


class PaymentData(_Data):
    payment_id: Key
    deal_id: Key
    amount: ContractDecimal

    def __post_init__(self) -> None:
        _check_money("amount", self.amount, positive=True)


class RulesetRef(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: Key
    hash: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class PeriodClosedData(_Data):
    period: Month
    ruleset: RulesetRef | None = None


class RulesetAppliedData(_Data):
    """A correction applied by `replay --apply`: the ruleset file, by content, for a period.

    An addition to the contract (events.md allows additions): the correction itself is
    an event, so that rebuilds and replays see it and pay its deltas as adjustments.
    """

    period: Month
    ruleset: RulesetRef
    toml: Annotated[str, msgspec.Meta(min_length=1, max_length=200_000)]


class ObjectionRaisedData(_Data):
    """A rep's objection (异议) to a published statement: DOMAIN.md "Publication …"."""

    objection_id: Key
    period: Month
    rep_id: Key
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    component: Key | None = None
    claimed_amount: ContractDecimal | None = None

    def __post_init__(self) -> None:
        _check_signed("claimed_amount", self.claimed_amount)


class ObjectionResolvedData(_Data):
    objection_id: Key
    decision: Literal["upheld", "rejected"]
    amount: ContractDecimal | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None

    def __post_init__(self) -> None:
        _check_signed("amount", self.amount)
        if self.decision == "upheld" and self.amount is None:
            raise _invalid("amount", "is required when the decision is upheld (the signed correction, may be 0)")


class PayoutApprovedData(_Data):
    period: Month
    by: Key | None = None


# --- the envelope, one Struct per type ---------------------------------------------


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True, gc=False):
    id: EventId
    occurred_at: Instant
    source: Source = "api"

    def __post_init__(self) -> None:
        if not _EARLIEST <= self.occurred_at < _AFTER_LATEST:
            raise _invalid("occurred_at", "must be within the years 2000-2100 (UTC)")


class RepOnboarded(_Envelope, tag="rep.onboarded"):
    data: RepOnboardedData


class RepTransferred(_Envelope, tag="rep.transferred"):
    data: RepTransferredData


class RepOffboarded(_Envelope, tag="rep.offboarded"):
    data: RepOffboardedData


class TargetSet(_Envelope, tag="target.set"):
    data: TargetSetData


class CustomerCreated(_Envelope, tag="customer.created"):
    data: CustomerCreatedData


class DealCreated(_Envelope, tag="deal.created"):
    data: DealCreatedData


class DealUpdated(_Envelope, tag="deal.updated"):
    data: DealUpdatedData


class DealStageChanged(_Envelope, tag="deal.stage_changed"):
    data: DealStageChangedData


class DealReassigned(_Envelope, tag="deal.reassigned"):
    data: DealReassignedData


class DealCreditSplit(_Envelope, tag="deal.credit_split"):
    data: DealCreditSplitData


class DealWon(_Envelope, tag="deal.won"):
    data: DealWonData


class DealLost(_Envelope, tag="deal.lost"):
    data: DealLostData


class ActivityLogged(_Envelope, tag="activity.logged"):
    data: ActivityLoggedData


class PaymentReceived(_Envelope, tag="payment.received"):
    data: PaymentData


class PaymentRefunded(_Envelope, tag="payment.refunded"):
    data: PaymentData


class PeriodClosed(_Envelope, tag="period.closed"):
    data: PeriodClosedData


class RulesetApplied(_Envelope, tag="ruleset.applied"):
    data: RulesetAppliedData


class ObjectionRaised(_Envelope, tag="objection.raised"):
    data: ObjectionRaisedData


class ObjectionResolved(_Envelope, tag="objection.resolved"):
    data: ObjectionResolvedData


class PayoutApproved(_Envelope, tag="payout.approved"):
    data: PayoutApprovedData


Event = Union[  # noqa: UP007 - msgspec needs a real Union object for the tagged union
    RepOnboarded,
    RepTransferred,
    RepOffboarded,
    TargetSet,
    CustomerCreated,
    DealCreated,
    DealUpdated,
    DealStageChanged,
    DealReassigned,
    DealCreditSplit,
    DealWon,
    DealLost,
    ActivityLogged,
    PaymentReceived,
    PaymentRefunded,
    PeriodClosed,
    RulesetApplied,
    ObjectionRaised,
    ObjectionResolved,
    PayoutApproved,
]
EVENT_TYPES: tuple[type, ...] = Event.__args__
TYPE_NAMES: tuple[str, ...] = tuple(t.__struct_config__.tag for t in EVENT_TYPES)

# What refers to what: the entity an event belongs to, for indexing the log.
_DEAL_TYPES = {
    "deal.created", "deal.updated", "deal.stage_changed", "deal.reassigned",
    "deal.credit_split", "deal.won", "deal.lost", "payment.received", "payment.refunded",
}


class ContractError(ValueError):
    """Input that does not fit the contract: `path` names the first bad field."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} at {path}")
        self.reason = reason
        self.path = path


def contract_error(exc: Exception, prefix: str = "$") -> ContractError:
    """Turn a msgspec error into a ContractError with a JSON path (`$.data.amount`)."""
    text = str(exc)
    path = "$"
    if " - at `" in text:
        text, _, rest = text.rpartition(" - at `")
        path = rest.rstrip("`")
    marked = _FIELD_MARK.match(text)
    if marked:
        text = marked["reason"]
        field = marked["field"]
        path = f"{path}.{field}"
    elif text.startswith("Object missing required field `"):
        field = text.split("`")[1]
        path = f"{path}.{field}"
    if prefix != "$":
        path = prefix + path[1:]
    return ContractError(text, path)


# JSON numbers with a fraction reach `_dec_hook` as exact Decimals, never as floats.
_one = msgspec.json.Decoder(Event, dec_hook=_dec_hook, float_hook=Decimal)
_many = msgspec.json.Decoder(Union[Event, list[Event]], dec_hook=_dec_hook, float_hook=Decimal)  # noqa: UP007
_encoder = msgspec.json.Encoder(decimal_format="string")


def _decode(decoder: msgspec.json.Decoder, raw: bytes | str):
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise contract_error(exc) from None
    except RecursionError:
        raise ContractError(MAX_DEPTH_REASON) from None
    except UnicodeDecodeError:
        raise ContractError("a string is not valid UTF-8") from None
    except (ArithmeticError, ValueError) as exc:  # e.g. an integer of over 4,300 digits
        raise ContractError(f"not a valid number ({exc})") from None


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _DuplicateKey
    return mapping


class _Pairs(list):
    """An object's (key, value) pairs as written, to find where a key repeats."""


def _first_repeat(node: object, path: str) -> str | None:
    if isinstance(node, _Pairs):
        seen = set()
        for key, value in node:
            if key in seen:
                return f"{path}.{key}"
            seen.add(key)
            found = _first_repeat(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found = _first_repeat(item, f"{path}[{i}]")
            if found:
                return found
    return None


def check_unique_keys(raw: bytes | str) -> None:
    """Refuse JSON naming a key twice in one object: msgspec silently keeps the last, so
    `{"amount": "1", "amount": "999999"}` would store 999999 (issue 12). Costs a second
    parse of the body (stdlib json, ~7 us an event against msgspec's ~4 us); only run on
    input that is not already canonical."""
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs)
    except _DuplicateKey:
        path = _first_repeat(json.loads(raw, object_pairs_hook=_Pairs), "$") or "$"
        raise ContractError("a key appears twice in one object", path) from None
    except RecursionError:
        raise ContractError(MAX_DEPTH_REASON) from None


def decode_event(raw: bytes | str, *, check_keys: bool = True) -> Event:
    """Decode one canonical event; raise ContractError naming the first bad field.

    `check_keys=False` skips the duplicate-key check, for callers that check it
    themselves or read what this module encoded (the log's payloads)."""
    event = _decode(_one, raw)
    if check_keys and encode_event(event) != raw:  # canonical bytes have no repeated key
        check_unique_keys(raw)
    return event


def decode_events(raw: bytes | str) -> list[Event]:
    """Decode a request body: one event or an array of events."""
    decoded = _decode(_many, raw)
    check_unique_keys(raw)
    return decoded if isinstance(decoded, list) else [decoded]


def convert_event(obj: dict) -> Event:
    """A canonical event from Python objects (the CRM adapters' dicts), validated alike."""
    try:
        return msgspec.convert(obj, Event, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise contract_error(exc) from None


def encode_event(event: Event) -> bytes:
    """The canonical bytes of an event: what is published, stored and hashed."""
    return _encoder.encode(event)


def event_type(event: Event) -> str:
    return event.__struct_config__.tag


def stream_key(event: Event) -> str:
    """The entity an event is about (`deal:D1`, `rep:zhang`): the log indexes it."""
    kind = event_type(event)
    data = event.data
    if kind in _DEAL_TYPES:
        return f"deal:{data.deal_id}"
    if kind.startswith("rep."):
        return f"rep:{data.rep_id}"
    if kind == "target.set":
        return f"target:{data.scope}:{data.scope_id}"
    if kind == "customer.created":
        return f"customer:{data.customer_id}"
    if kind == "activity.logged":
        return f"rep:{data.rep_id}"
    if kind == "objection.resolved":
        return f"objection:{data.objection_id}"
    return f"period:{data.period}"
