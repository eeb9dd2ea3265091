"""Issue 12: the contract's bounds, refused at decode with a path (items 1, 4-6).

Each input here was accepted (or crashed the gateway with a 500) before the bounds:
times and periods outside 2000-2100, non-ASCII or underscored digits, over-long money,
ids with whitespace at an end (the broker trims its message-id header), repeated keys
(the last silently won), deep nesting and invalid UTF-8 (RecursionError and
UnicodeDecodeError, both 500s), and credit shares that only sum to 1 after rounding.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from schemas.events import ContractError, convert_event, decode_event, decode_events, encode_event


def envelope(data: dict | None = None, **fields) -> dict:
    base = {
        "id": "b1",
        "type": "deal.created",
        "occurred_at": "2026-08-01T10:00:00+08:00",
        "data": {
            "deal_id": "D1",
            "rep_id": "r",
            "customer_id": "c",
            "product_line": "A",
            "amount": "100",
        },
    }
    base["data"].update(data or {})
    base.update(fields)
    return base


def refused(raw: bytes | str) -> ContractError:
    with pytest.raises(ContractError) as info:
        decode_events(raw)
    return info.value


def dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "when",
    [
        "0999-12-31T23:00:00Z",
        "1999-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2100-12-31T23:00:00-05:00",
    ],
)  # 2101 in UTC
def test_occurred_at_outside_2000_to_2100_is_refused(when):
    err = refused(dumps(envelope(occurred_at=when)))
    assert err.path == "$.occurred_at" and "2000-2100" in err.reason


def test_occurred_at_at_the_edges_is_accepted():
    for when in (
        "2000-01-01T00:00:00Z",
        "2100-12-31T23:59:59.999999Z",
        "2000-01-01T07:00:00+07:00",
    ):
        (event,) = decode_events(dumps(envelope(occurred_at=when)))
        assert encode_event(event)


@pytest.mark.parametrize("period", ["0999-12", "1999", "2101-Q1", "9999-01"])
def test_periods_outside_2000_to_2100_are_refused(period):
    target = {
        "id": "t1",
        "type": "target.set",
        "occurred_at": "2026-08-01T00:00:00Z",
        "data": {
            "scope": "rep",
            "scope_id": "r",
            "period": period,
            "metric": "bookings",
            "amount": "1",
        },
    }
    assert refused(dumps(target)).path == "$.data.period"
    close = {
        "id": "c1",
        "type": "period.closed",
        "occurred_at": "2026-08-01T00:00:00Z",
        "data": {"period": period},
    }
    if len(period) == 7:
        assert refused(dumps(close)).path == "$.data.period"


@pytest.mark.parametrize(
    "amount",
    [
        "１００",
        "٣",
        "1_000",
        " 100",
        "100 ",
        "+100",
        "1e",
        ".5",
        "0x10",
        "１.5",
        "1234567890123456789",
        "0.0000001",
        "1.1234567",
        "NaN",
        "Infinity",
    ],
)
def test_money_outside_ascii_18_digits_6_decimals_is_refused(amount):
    err = refused(dumps(envelope({"amount": amount})))
    assert err.path == "$.data.amount", err


@pytest.mark.parametrize(
    "amount, stored",
    [
        ("100", "100"),
        ("840000.00", "840000.00"),
        ("0.000001", "0.000001"),
        ("123456789012.123456", "123456789012.123456"),
        ("1E+3", "1E+3"),
    ],
)
def test_plain_ascii_money_is_kept_exactly(amount, stored):
    (event,) = decode_events(dumps(envelope({"amount": amount})))
    assert event.data.amount == Decimal(stored) and str(event.data.amount) == stored


def test_money_as_a_json_number_is_exact_and_bounded():
    (event,) = decode_events(
        b'{"id":"n","type":"payment.received","occurred_at":"2026-08-01T00:00:00Z",'
        b'"data":{"payment_id":"p","deal_id":"D","amount":1234567.890123}}'
    )
    assert event.data.amount == Decimal("1234567.890123")
    body = (
        b'{"id":"n","type":"payment.received","occurred_at":"2026-08-01T00:00:00Z",'
        b'"data":{"payment_id":"p","deal_id":"D","amount":1.0000001}}'
    )
    assert refused(body).path == "$.data.amount"


def test_adapters_build_events_under_the_same_bounds():
    with pytest.raises(ContractError) as info:
        convert_event(envelope({"amount": "１００"}))
    assert info.value.path == "$.data.amount"
    assert convert_event(envelope({"amount": "100.5"})).data.amount == Decimal("100.5")


@pytest.mark.parametrize("event_id", ["idw ", " idw", "idw\t", "\u00a0idw", "idw\u3000"])
def test_ids_with_whitespace_at_an_end_are_refused(event_id):
    assert refused(dumps(envelope(id=event_id))).path == "$.id"


def test_ids_with_whitespace_inside_are_kept_byte_for_byte():
    (event,) = decode_events(dumps(envelope(id="crm 7 / x")))
    assert event.id == "crm 7 / x"


@pytest.mark.parametrize(
    "body, path",
    [
        (
            b'{"id":"d","type":"deal.created","occurred_at":"2026-08-01T00:00:00Z","data":{"deal_id":"D","rep_id":"r",'
            b'"customer_id":"c","product_line":"A","amount":"1","amount":"999999"}}',
            "$.data.amount",
        ),
        (
            b'{"id":"d","id":"e","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z",'
            b'"data":{"customer_id":"c"}}',
            "$.id",
        ),
        (
            b'[{"id":"a","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z","data":{"customer_id":"c"}},'
            b'{"id":"b","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z",'
            b'"data":{"customer_id":"c","extra":{"k":1,"k":2}}}]',
            "$[1].data.extra.k",
        ),
        (
            b'{"id":"d","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z",'
            b'"data":{"customer_id":"c","customer_\\u0069d":"z"}}',
            "$.data.customer_id",
        ),
    ],
)
def test_a_key_twice_in_one_object_is_refused_naming_it(body, path):
    err = refused(body)
    assert err.path == path and "twice" in err.reason
    if not body.startswith(b"["):
        with pytest.raises(ContractError) as one:
            decode_event(body)
        assert one.value.path == path


def test_deep_nesting_is_a_400_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    body = (
        b'{"id":"n","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z",'
        b'"data":{"customer_id":"c","x":' + deep + b"}}"
    )
    err = refused(body)
    assert err.reason == "nested too deeply" and err.path == "$"
    with pytest.raises(ContractError):
        decode_event(body)


def test_invalid_utf8_in_a_string_is_a_400_not_a_crash():
    body = b'{"id":"u","type":"customer.created","occurred_at":"2026-08-01T00:00:00Z","data":{"customer_id":"c\xff"}}'
    assert "UTF-8" in refused(body).reason
    with pytest.raises(ContractError):
        decode_event(body)


def split_event(*shares: str) -> bytes:
    splits = [{"rep_id": f"r{i}", "share": share} for i, share in enumerate(shares)]
    return dumps(
        {
            "id": "s",
            "type": "deal.credit_split",
            "occurred_at": "2026-08-01T00:00:00Z",
            "data": {"deal_id": "D", "splits": splits},
        }
    )


def test_credit_shares_are_summed_exactly():
    # 1 + 1e-30 was rounded to 1 by the 28-digit default context; now shares have at most
    # 6 decimals, and the sum is exact whatever the Structs are built from.
    assert refused(split_event("0.5", "0.5", "0.000000000000000000000000000001")).path.startswith(
        "$.data.splits"
    )
    assert refused(split_event("0.3333333", "0.6666667")).path == "$.data.splits[0].share"
    from schemas.events import CreditShare, DealCreditSplitData

    with pytest.raises(ValueError, match="sum to exactly 1"):
        DealCreditSplitData(
            deal_id="D",
            splits=[
                CreditShare(rep_id="a", share=Decimal("0.5")),
                CreditShare(rep_id="b", share=Decimal("0.5")),
                CreditShare(rep_id="c", share=Decimal("1e-30")),
            ],
        )
    (ok,) = decode_events(split_event("0.333334", "0.333333", "0.333333"))
    assert sum(s.share for s in ok.data.splits) == 1


def test_canonical_payloads_round_trip_unchanged():
    raw = dumps(envelope({"amount": "840000.10"}))
    (event,) = decode_events(raw)
    canonical = encode_event(event)
    assert decode_event(canonical) == event and encode_event(decode_event(canonical)) == canonical
