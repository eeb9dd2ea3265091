"""Unit tests of the webhook adapters: the vendors' documented payload shapes, signed as the
vendors document, through the pure verify/translate functions and the handlers (with an
in-memory publish; the end-to-end tests through the real gateway and nats-server are in
tests/integration/test_adapters_e2e.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from schemas.events import encode_event, event_type
from services.ingest.adapters import dingtalk, hubspot, payments, pipedrive
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterSettings,
    AuthError,
    NotConfigured,
    WebhookRequest,
    _Secret,
)
from services.ingest.adapters.mapping import MappingError, load_mapping, parse_mapping
from services.ingest.publish import PublishResult
from services.runtime.broker import BrokerUnavailable

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "example.toml")
NOW = 1_786_000_000.0  # a fixed clock (2026-08)

HS_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HS_URL = "https://hooks.example.com/v1/webhooks/hubspot"
PD_USER, PD_PASSWORD = "pipedrive-hook", "s3cret:with:colons"
STRIPE_SECRET = "whsec_test_5ZqVb0pL3kJfR9mNwQxYz2Ab"
DT_TOKEN = "MLBVpjG4VLaUrZda2A"
DT_AES_KEY = "lPEjaswljAlrcjwTyU752yXxxOdkMYpK8VmlfuixdG4"
DT_CORP = "ding4ee83cd86390472dbc961a6cb783455b"

SETTINGS = AdapterSettings(
    hubspot_client_secret=_Secret(HS_SECRET), hubspot_public_url=HS_URL,
    pipedrive_user=PD_USER, pipedrive_password=_Secret(PD_PASSWORD),
    stripe_secret=_Secret(STRIPE_SECRET),
    dingtalk_token=_Secret(DT_TOKEN), dingtalk_aes_key=_Secret(DT_AES_KEY), dingtalk_corp_id=DT_CORP,
)


def req(body: bytes, headers: dict | None = None, query: str = "", path: str = "/") -> WebhookRequest:
    return WebhookRequest("POST", path, query, {k.lower(): v for k, v in (headers or {}).items()}, body)


class Recorder:
    """An in-memory publish + quarantine, for the handler unit tests."""

    def __init__(self, down: bool = False) -> None:
        self.events: list = []
        self.quarantined: list[tuple[str, str, bytes]] = []
        self.down = down

    async def publish(self, events):
        if self.down:
            raise BrokerUnavailable("down")
        self.events.extend(events)
        return PublishResult(len(events), 0)

    async def quarantine(self, source, reason, raw):
        self.quarantined.append((source, reason, raw))

    def ctx(self, settings=SETTINGS, now=NOW) -> AdapterContext:
        return AdapterContext(settings, MAPPING, self.publish, self.quarantine, lambda: now)


# --- HubSpot ------------------------------------------------------------------------


def hs_sign(method: str, uri: str, body: bytes, ts: str, secret: str = HS_SECRET) -> str:
    """HubSpot's documented v3 recipe, written out independently of the adapter."""
    source = f"{method}{uri}".encode() + body + ts.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def hs_batch() -> list[dict]:
    # HubSpot's documented webhook batch shape, for deal subscriptions
    base = {"subscriptionId": 25, "portalId": 33, "appId": 1160452, "attemptNumber": 0, "changeSource": "CRM"}
    return [
        {**base, "objectId": 1246965, "eventId": 3816279340, "occurredAt": 1786000000000,
         "subscriptionType": "deal.creation"},
        {**base, "objectId": 1246965, "eventId": 3816279341, "occurredAt": 1786000000100,
         "subscriptionType": "deal.propertyChange", "propertyName": "amount", "propertyValue": "840000.00"},
        {**base, "objectId": 1246965, "eventId": 3816279342, "occurredAt": 1786000000200,
         "subscriptionType": "deal.propertyChange", "propertyName": "hubspot_owner_id", "propertyValue": "52550153"},
        {**base, "objectId": 1246965, "eventId": 3816279343, "occurredAt": 1786000000300,
         "eventType": "deal.propertyChange", "propertyName": "dealstage", "propertyValue": "qualifiedtobuy"},
        {**base, "objectId": 1246965, "eventId": 3816279344, "occurredAt": 1786000000400,
         "subscriptionType": "deal.propertyChange", "propertyName": "dealstage", "propertyValue": "closedwon"},
        {**base, "objectId": 1246965, "eventId": 3816279345, "occurredAt": 1786000000500,
         "subscriptionType": "deal.propertyChange", "propertyName": "product_line", "propertyValue": "B"},
        {**base, "objectId": 77, "eventId": 3816279346, "occurredAt": 1786000000600,
         "subscriptionType": "deal.deletion"},
        {**base, "objectId": 1246978, "eventId": 3816279480, "occurredAt": 1786000000700,
         "subscriptionType": "contact.creation"},
        {**base, "objectId": 1246965, "eventId": 3816279347, "occurredAt": 1786000000800,
         "subscriptionType": "deal.propertyChange", "propertyName": "dealname", "propertyValue": "Big one"},
    ]


HS_RECORDS = {("33", "1246965"): {"id": "1246965", "companies": ["9001"], "properties": {
    "amount": "0", "createdate": "2026-08-06T07:06:40Z", "dealtype": "existingbusiness", "deal_currency_code": "CNY"}}}


def test_hubspot_translates_documented_batch():
    result = hubspot.translate(hs_batch(), MAPPING.hubspot, HS_RECORDS)
    kinds = [(event_type(e), e.id) for e in result.events]
    assert kinds == [
        ("deal.created", "hubspot-33-1246965-created"),
        ("deal.updated", "hubspot-33-1246965-amount-1786000000100"),
        ("deal.reassigned", "hubspot-33-1246965-hubspot_owner_id-1786000000200"),
        ("deal.stage_changed", "hubspot-33-1246965-dealstage-qualifiedtobuy"),
        ("deal.won", "hubspot-33-1246965-dealstage-closedwon"),
        ("deal.updated", "hubspot-33-1246965-product_line-1786000000500"),
    ]
    created, amount, owner, stage, won, product = result.events
    assert created.data.deal_id == "1246965" and created.data.product_line == "A"
    assert created.source == "hubspot" and created.occurred_at.isoformat() == "2026-08-06T07:06:40+00:00"
    assert amount.data.amount == Decimal("840000.00")
    assert owner.data.rep_id == "zhang"
    assert stage.data.stage == "qualified"
    assert won.data.deal_id == "1246965" and won.data.amount is None
    assert product.data.product_line == "B"
    assert result.ignored == 3  # deletion, contact, dealname
    assert result.malformed == []


def test_hubspot_deal_has_its_company_and_kind_and_portal():
    """Defect 6: the company is an association (read through the API), dealtype is the
    kind, and two portals' deal 42 are two deals."""
    created = hubspot.translate(hs_batch()[:1], MAPPING.hubspot, HS_RECORDS).events[0]
    assert created.data.customer_id == "hubspot-33-company-9001" and created.data.kind == "renewal"
    change = {"portalId": 33, "objectId": 42, "eventId": 1, "occurredAt": 1786000000000,
              "subscriptionType": "deal.propertyChange", "propertyName": "dealtype", "propertyValue": "newbusiness"}
    (kind,) = hubspot.translate([change], MAPPING.hubspot).events
    assert event_type(kind) == "deal.updated" and kind.data.kind == "new"
    other = hubspot.translate([{**change, "portalId": 44}], MAPPING.hubspot).events[0]
    assert (kind.data.deal_id, other.data.deal_id) == ("42", "eu-42") and kind.id != other.id
    stranger = hubspot.translate([{**change, "portalId": 55}], MAPPING.hubspot)
    assert "portalId = '55' is not listed in [hubspot.portals]" in stranger.malformed[0].reason
    no_portals = parse_mapping({}).hubspot
    assert hubspot.translate([change], no_portals).events[0].data.deal_id == "33-42"
    # without the API token the creation cannot know its company: quarantined, saying so
    bare = hubspot.translate(hs_batch()[:1], MAPPING.hubspot)
    assert "no company" in bare.malformed[0].reason and "QUOTABOARD_HUBSPOT_TOKEN_33" in bare.malformed[0].reason


def test_hubspot_lost_stage_unknown_stage_and_bad_amount():
    base = {"portalId": 33, "objectId": 5, "occurredAt": 1786000000000, "subscriptionType": "deal.propertyChange"}
    events = [
        {**base, "eventId": 1, "propertyName": "dealstage", "propertyValue": "closedlost"},
        {**base, "eventId": 2, "propertyName": "dealstage", "propertyValue": "some-other-pipeline-stage"},
        {**base, "eventId": 3, "propertyName": "amount", "propertyValue": "12,5 EUR"},
        {**base, "eventId": 4, "propertyName": "amount", "propertyValue": "-3"},
        {"eventId": 5, "portalId": 33, "occurredAt": 1786000000000, "subscriptionType": "deal.creation"},
    ]
    result = hubspot.translate(events, MAPPING.hubspot)
    assert [event_type(e) for e in result.events] == ["deal.lost"]
    assert result.ignored == 1
    reasons = [m.reason for m in result.malformed]
    assert len(reasons) == 3
    # defect 8: the reason names the vendor's field and value, not a canonical path
    assert reasons[0] == "HubSpot deal.propertyChange: propertyValue = '12,5 EUR' is not a number"
    assert reasons[1] == "HubSpot deal.propertyChange: propertyValue = '-3' is negative"
    assert reasons[2] == "HubSpot deal.creation event 5 has no objectId"
    assert not any("$." in r for r in reasons)


def test_hubspot_generic_object_events_for_deals():
    event = {"portalId": 33, "objectId": 9, "eventId": 1, "occurredAt": 1786000000000, "subscriptionType": "object.propertyChange",
             "objectTypeId": "0-3", "propertyName": "dealstage", "propertyValue": "contractsent"}
    result = hubspot.translate([event], MAPPING.hubspot)
    assert result.events[0].data.stage == "negotiation"


def test_hubspot_verify_signature_over_public_url():
    body = json.dumps(hs_batch()).encode()
    ts = str(int(NOW * 1000))
    good = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    # the request arrives over plain http on an internal address behind the TLS proxy
    hubspot.verify(req(body, {**good, "Host": "10.0.0.7:8080"}, path="/v1/webhooks/hubspot"), SETTINGS, NOW)


def test_hubspot_url_with_encoded_characters_is_decoded_as_documented():
    public = "https://hooks.example.com/v1/webhooks/hubspot?portal=33&tag=a%3Ab%2Cc%40d%21&q=%25ok%20x"
    decoded = "https://hooks.example.com/v1/webhooks/hubspot?portal=33&tag=a:b,c@d!&q=%25ok%20x"
    body = b'[{"eventId":1,"objectId":2,"occurredAt":1786000000000,"subscriptionType":"deal.creation"}]'
    ts = str(int(NOW * 1000))
    settings = AdapterSettings(hubspot_client_secret=_Secret(HS_SECRET), hubspot_public_url=public)
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", decoded, body, ts), "X-HubSpot-Request-Timestamp": ts}
    hubspot.verify(req(body, headers), settings, NOW)
    # a signature over the undecoded URL is not HubSpot's and is refused
    headers["X-HubSpot-Signature-v3"] = hs_sign("POST", public, body, ts)
    with pytest.raises(AuthError):
        hubspot.verify(req(body, headers), settings, NOW)


def test_hubspot_request_query_is_appended_to_the_public_url():
    body = b"[]"
    ts = str(int(NOW * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL + "?a=1(b)", body, ts), "X-HubSpot-Request-Timestamp": ts}
    hubspot.verify(req(body, headers, query="a=1%28b%29"), SETTINGS, NOW)


@pytest.mark.parametrize("case", ["forged", "stale", "future", "missing", "tampered", "wrong-secret", "unconfigured"])
def test_hubspot_refuses(case):
    body = json.dumps(hs_batch()).encode()
    ts = str(int(NOW * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    settings = SETTINGS
    if case == "forged":
        headers["X-HubSpot-Signature-v3"] = base64.b64encode(b"\0" * 32).decode()
    elif case == "stale":
        old = str(int((NOW - 301) * 1000))
        headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, old), "X-HubSpot-Request-Timestamp": old}
    elif case == "future":
        new = str(int((NOW + 301) * 1000))
        headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, new), "X-HubSpot-Request-Timestamp": new}
    elif case == "missing":
        del headers["X-HubSpot-Signature-v3"]
    elif case == "tampered":
        body = body.replace(b"840000.00", b"940000.00")
    elif case == "wrong-secret":
        headers["X-HubSpot-Signature-v3"] = hs_sign("POST", HS_URL, body, ts, secret="other")
    elif case == "unconfigured":
        settings = AdapterSettings()
    with pytest.raises(AuthError):
        hubspot.verify(req(body, headers), settings, NOW)


async def test_hubspot_handler_publishes_ignores_and_quarantines():
    batch = hs_batch() + [{"eventId": 9, "subscriptionType": "deal.creation"}]
    body = json.dumps(batch).encode()
    ts = str(int(NOW * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    rec = Recorder()
    resp = await hubspot.handle(req(body, headers), rec.ctx())
    assert resp.status == 200  # no API token configured: the creation is quarantined
    assert json.loads(resp.body) == {"accepted": 5, "duplicates": 0, "ignored": 3, "quarantined": 2}
    assert len(rec.events) == 5
    source, reason, raw = rec.quarantined[1]
    assert source == "hubspot" and "objectId" in reason and json.loads(raw)["eventId"] == 9


async def test_hubspot_handler_refuses_without_storing_and_quarantines_bad_json():
    rec = Recorder()
    resp = await hubspot.handle(req(b"[]", {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1"}), rec.ctx())
    assert resp.status == 401 and rec.events == [] and rec.quarantined == []
    body = b"{not json"
    ts = str(int(NOW * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    resp = await hubspot.handle(req(body, headers), rec.ctx())
    assert resp.status == 200 and rec.quarantined[0][2] == body


async def test_broker_down_raises_for_a_503():
    body = json.dumps(hs_batch()).encode()
    ts = str(int(NOW * 1000))
    headers = {"X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts), "X-HubSpot-Request-Timestamp": ts}
    with pytest.raises(BrokerUnavailable):
        await hubspot.handle(req(body, headers), Recorder(down=True).ctx())


# --- Pipedrive ----------------------------------------------------------------------


def pd_auth(user=PD_USER, password=PD_PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def pd_meta(action: str, entity: str, mid: str, **extra) -> dict:
    # Pipedrive's documented v2 meta block
    return {"action": action, "entity": entity, "version": "2.0", "company_id": "12882925",
            "correlation_id": "a1b2c3", "entity_id": "1", "id": mid, "is_bulk_edit": False,
            "timestamp": "2026-08-05T03:06:40.000Z", "type": "general", "user_id": "18487521",
            "webhook_id": "99", "webhook_owner_id": "18487521", "attempt": 1,
            "host": "company.pipedrive.com", **extra}


def pd_deal(**changes) -> dict:
    deal = {"id": 1, "title": "test deal", "value": 840000, "currency": "CNY", "status": "open",
            "stage_id": 1, "pipeline_id": 1, "owner_id": 18487521, "person_id": 3, "org_id": 2,
            "lost_reason": None, "add_time": "2026-08-05T03:06:40Z", "update_time": "2026-08-06T01:00:00Z",
            "custom_fields": {"9dc80c50d78a15d8f6e8a2b8a6e7a7c5b1e1f2a3": {"type": "varchar", "value": "B"}}}
    deal.update(changes)
    return deal


def test_pipedrive_create_deal():
    payload = {"meta": pd_meta("create", "deal", "5b4c-1"), "data": pd_deal(), "previous": None}
    result = pipedrive.translate(payload, MAPPING.pipedrive)
    (created,) = result.events
    assert created.id == "pipedrive-deal-1-created" and created.source == "pipedrive"
    assert created.data.deal_id == "1" and created.data.rep_id == "zhang" and created.data.customer_id == "2"
    assert created.data.amount == Decimal("840000") and created.data.product_line == "B"
    assert created.occurred_at.isoformat() == "2026-08-05T03:06:40+00:00"


def test_pipedrive_change_deal_stage_status_value_owner():
    stage = {"meta": pd_meta("change", "deal", "m-2"), "data": pd_deal(stage_id=3), "previous": {"stage_id": 1}}
    won = {"meta": pd_meta("change", "deal", "m-3"), "data": pd_deal(status="won", value=900000),
           "previous": {"status": "open", "value": 840000}}
    lost = {"meta": pd_meta("change", "deal", "m-4"), "data": pd_deal(status="lost", lost_reason="price"),
            "previous": {"status": "open"}}
    owner = {"meta": pd_meta("change", "deal", "m-5"), "data": pd_deal(owner_id=18487522), "previous": {"owner_id": 18487521}}
    title = {"meta": pd_meta("change", "deal", "m-6"), "data": pd_deal(title="x"), "previous": {"title": "test deal"}}
    out = [pipedrive.translate(p, MAPPING.pipedrive) for p in (stage, won, lost, owner, title)]
    assert [(event_type(e), e.id) for e in out[0].events] == [("deal.stage_changed", "pipedrive-deal-1-stage-3")]
    assert out[0].events[0].data.stage == "negotiation"
    assert [event_type(e) for e in out[1].events] == ["deal.won", "deal.updated"]
    assert out[1].events[0].data.amount == Decimal("900000")
    assert out[2].events[0].data.reason == "price"
    assert out[3].events[0].data.rep_id == "li"
    assert out[4].events == [] and out[4].ignored == 1


def test_pipedrive_create_activity_and_ignored():
    activity = {"meta": pd_meta("create", "activity", "a-1"),
                "data": {"id": 55, "type": "lunch", "owner_id": 18487521, "deal_id": 1, "org_id": 2,
                         "subject": "Lunch", "add_time": "2026-08-05T04:00:00Z"}, "previous": None}
    (logged,) = pipedrive.translate(activity, MAPPING.pipedrive).events
    assert event_type(logged) == "activity.logged" and logged.data.kind == "visit" and logged.data.deal_id == "1"
    person = {"meta": pd_meta("create", "person", "p-1"), "data": {"id": 3}, "previous": None}
    assert pipedrive.translate(person, MAPPING.pipedrive).ignored == 1
    delete = {"meta": pd_meta("delete", "deal", "d-1"), "data": None, "previous": pd_deal()}
    assert pipedrive.translate(delete, MAPPING.pipedrive).ignored == 1
    broken = {"meta": pd_meta("create", "deal", "b-1"), "data": pd_deal(value="lots")}
    assert pipedrive.translate(broken, MAPPING.pipedrive).malformed[0].reason == (
        "Pipedrive create.deal 1: value = 'lots' is not a number")


@pytest.mark.parametrize("headers", [
    {}, pd_auth(password="wrong"), pd_auth(user="other"), {"Authorization": "Bearer abc"},
    {"Authorization": "Basic !!!"}, pd_auth(password=PD_PASSWORD + "x"),
])
def test_pipedrive_refuses_bad_credentials(headers):
    with pytest.raises(AuthError):
        pipedrive.verify(req(b"{}", headers), SETTINGS)


def test_pipedrive_accepts_and_requires_configuration():
    pipedrive.verify(req(b"{}", pd_auth()), SETTINGS)
    with pytest.raises(NotConfigured):
        pipedrive.verify(req(b"{}", pd_auth()), AdapterSettings())


# --- payments (Stripe's scheme) -------------------------------------------------------


def stripe_header(body: bytes, t: int, secret: str = STRIPE_SECRET, extra_v1: tuple = ()) -> str:
    """Stripe's documented scheme: HMAC-SHA256 of "{t}.{body}" keyed with the whole secret."""
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return ",".join([f"t={t}", *[f"v1={v}" for v in extra_v1], f"v1={sig}", "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"])


def stripe_event(kind: str, obj: dict, eid: str = "evt_3MtwBwLkdIwHu7ix28a3tqPa", **extra) -> dict:
    # Stripe's documented event envelope
    return {"id": eid, "object": "event", "api_version": "2024-06-20", "created": 1786000000,
            "data": {"object": obj, **extra}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": "req_x", "idempotency_key": None}, "type": kind}


PI = {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 15000000, "amount_received": 15000000,
      "currency": "cny", "latest_charge": "ch_3MtwBwLkdIwHu7ix2ZQ3rzGb", "metadata": {"deal_id": "1246965"},
      "status": "succeeded", "created": 1785999990}
CHARGE = {"id": "ch_3MtwBwLkdIwHu7ix2ZQ3rzGb", "object": "charge", "amount": 15000000, "amount_captured": 15000000,
          "amount_refunded": 0, "currency": "cny", "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
          "metadata": {"deal_id": "1246965"}, "paid": True, "refunded": False, "status": "succeeded"}


def test_payments_received_once_for_intent_and_charge():
    a = payments.translate(stripe_event("payment_intent.succeeded", PI), "CNY").events[0]
    b = payments.translate(stripe_event("charge.succeeded", CHARGE, eid="evt_other"), "CNY").events[0]
    assert event_type(a) == "payment.received" and a.id == b.id == "stripe-payment-pi_3MtwBwLkdIwHu7ix28a3tqPa"
    assert a.data.amount == Decimal("150000.00") and a.data.deal_id == "1246965" and a.source == "payments"
    assert encode_event(a) == encode_event(b)


def test_payments_refund_is_this_events_part():
    refunded = {**CHARGE, "amount_refunded": 5000000, "refunded": False}
    first = payments.translate(stripe_event("charge.refunded", refunded, eid="evt_r1",
                                            previous_attributes={"amount_refunded": 0}), "CNY").events[0]
    second_obj = {**CHARGE, "amount_refunded": 15000000, "refunded": True}
    second = payments.translate(stripe_event("charge.refunded", second_obj, eid="evt_r2",
                                             previous_attributes={"amount_refunded": 5000000}), "CNY").events[0]
    assert (first.id, first.data.amount) == ("stripe-evt_r1", Decimal("50000.00"))
    assert (second.id, second.data.amount) == ("stripe-evt_r2", Decimal("100000.00"))
    assert event_type(second) == "payment.refunded" and second.data.payment_id == PI["id"]


@pytest.mark.parametrize("currency,minor,expected", [
    ("jpy", 84000, "84000"), ("usd", 2000, "20.00"), ("KWD", 12345, "12.345"), ("cny", 1, "0.01"),
])
def test_payments_minor_units_by_currency_exponent(currency, minor, expected):
    obj = {**PI, "currency": currency, "amount_received": minor}
    (event,) = payments.translate(stripe_event("payment_intent.succeeded", obj), None).events
    assert event.data.amount == Decimal(expected) and str(event.data.amount) == expected


def test_payments_ignored_and_malformed():
    assert payments.translate(stripe_event("customer.created", {"id": "cus_1"}), "CNY").ignored == 1
    no_deal = payments.translate(stripe_event("payment_intent.succeeded", {**PI, "metadata": {}}), "CNY")
    assert "deal_id" in no_deal.malformed[0].reason
    usd = payments.translate(stripe_event("payment_intent.succeeded", {**PI, "currency": "usd"}), "CNY")
    assert "USD" in usd.malformed[0].reason


def test_payments_verify_several_v1_and_refusals():
    body = json.dumps(stripe_event("payment_intent.succeeded", PI)).encode()
    t = int(NOW)
    rolled = hmac.new(b"whsec_old", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    payments.verify(req(body, {"Stripe-Signature": stripe_header(body, t, extra_v1=(rolled,))}), SETTINGS, NOW)
    # the new secret's signature first, the old one second: either order is fine
    new = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    payments.verify(req(body, {"Stripe-Signature": f"t={t},v1={new},v1={rolled}"}), SETTINGS, NOW)
    refusals = [
        {},
        {"Stripe-Signature": stripe_header(body, t - 301)},  # expired
        {"Stripe-Signature": stripe_header(body, t, secret="whsec_forged")},
        {"Stripe-Signature": f"t={t},v1={rolled}"},  # only a signature with another secret
        {"Stripe-Signature": f"t={t}"},
        {"Stripe-Signature": f"v1={new}"},
        # the secret is used as is, not base64-decoded as Standard Webhooks would
        {"Stripe-Signature": stripe_header(body, t, secret=STRIPE_SECRET.removeprefix("whsec_"))},
    ]
    for headers in refusals:
        with pytest.raises(AuthError):
            payments.verify(req(body, headers), SETTINGS, NOW)
    with pytest.raises(AuthError):
        payments.verify(req(body + b" ", {"Stripe-Signature": stripe_header(body, t)}), SETTINGS, NOW)


# --- DingTalk -------------------------------------------------------------------------


def dt_encrypt(message: str, key_b64: str = DT_AES_KEY, corp: str = DT_CORP) -> str:
    """DingTalk's documented encryption, written out with cryptography's own PKCS7."""
    key = base64.b64decode(key_b64 + "=")
    msg = message.encode()
    plain = os.urandom(16) + len(msg).to_bytes(4, "big") + msg + corp.encode()
    padder = padding.PKCS7(256).padder()
    plain = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def dt_decrypt(encrypted: str) -> str:
    key = base64.b64decode(DT_AES_KEY + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    unpadder = padding.PKCS7(256).unpadder()
    plain = unpadder.update(plain) + unpadder.finalize()
    n = int.from_bytes(plain[16:20], "big")
    assert plain[20 + n:].decode() == DT_CORP
    return plain[20:20 + n].decode()


def dt_request(message: dict | str, ts: int | None = None, token: str = DT_TOKEN, **kw) -> WebhookRequest:
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    encrypted = dt_encrypt(text, **kw)
    timestamp = str(ts if ts is not None else int(NOW * 1000))
    nonce = "nEXhMP4r"
    sig = hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()
    return req(json.dumps({"encrypt": encrypted}).encode(),
               query=f"msg_signature={sig}&timestamp={timestamp}&nonce={nonce}", path=dingtalk.PATH)


# the crm_customer_track callback as a public DingTalk SDK documents it
# (zhaoyunxing92/dingtalk, event/crm_customer_track.go)
DT_DEAL = {"CorpId": DT_CORP, "corpId": DT_CORP, "EventType": "crm_customer_track", "EventTime": 1786000000000,
           "BizId": "21057D5806944EF9C93192B36DC5F7B4",
           "tracks": [{"creator": "manager4220", "corpId": DT_CORP, "customerId": "ad6b2b05-91f1-4393-8ed5-96e9e558b604",
                       "subType": 1, "id": "qoZCjgT7of7XAtUjo/4JgFy+RR432dJXcXqRbNxwTVM=", "gmtCreate": 1786000000000,
                       "type": 1}]}


def test_dingtalk_crypto_round_trip_both_ways():
    crypto = dingtalk.DingTalkCrypto(DT_TOKEN, DT_AES_KEY, DT_CORP)
    assert crypto.decrypt(dt_encrypt("中文/abc/123")) == "中文/abc/123"
    assert dt_decrypt(crypto.encrypt("success")) == "success"
    assert dt_decrypt(crypto.encrypt("x" * 12)) == "x" * 12  # 16+4+12+36 = 68 bytes: padded to 96


def test_dingtalk_verify_and_translate():
    message = json.loads(dingtalk.verify(dt_request(DT_DEAL), SETTINGS, NOW))
    (logged,) = dingtalk.translate(message, MAPPING.dingtalk).events
    assert (event_type(logged), logged.id, logged.source) == (
        "activity.logged", "dingtalk-track-qoZCjgT7of7XAtUjo/4JgFy+RR432dJXcXqRbNxwTVM=", "dingtalk-crm")
    assert (logged.data.rep_id, logged.data.kind) == ("zhang", "visit")
    assert logged.data.customer_id == "ad6b2b05-91f1-4393-8ed5-96e9e558b604"


def test_dingtalk_only_documented_shapes():
    """Defect 9: the crm_deal_* names appear in no DingTalk material: not translated."""
    for kind in ("crm_deal_create", "crm_deal_update", "crm_activity_create", "check_url"):
        made = dingtalk.translate({"EventType": kind, "data": {"deal_id": "D-1", "create_time": 1786000000000}},
                                  MAPPING.dingtalk)
        assert made.events == [] and made.ignored == 1
    assert dingtalk.translate({"EventType": "crm_customer_track", "tracks": []}, MAPPING.dingtalk).malformed


@pytest.mark.parametrize("case", ["forged", "stale", "wrong-token", "wrong-key", "wrong-corp", "no-query", "not-json"])
def test_dingtalk_refuses(case):
    r = dt_request(DT_DEAL)
    if case == "forged":
        r = WebhookRequest(r.method, r.path, r.query.replace("msg_signature=", "msg_signature=0"), r.headers, r.body)
    elif case == "stale":
        r = dt_request(DT_DEAL, ts=int((NOW - 400) * 1000))
    elif case == "wrong-token":
        r = dt_request(DT_DEAL, token="other")
    elif case == "wrong-key":
        r = dt_request(DT_DEAL, key_b64="a" * 43)
    elif case == "wrong-corp":
        r = dt_request(DT_DEAL, corp="dingOTHER")
    elif case == "no-query":
        r = WebhookRequest(r.method, r.path, "", r.headers, r.body)
    elif case == "not-json":
        r = WebhookRequest(r.method, r.path, r.query, r.headers, b"encrypt=abc")
    with pytest.raises(AuthError):
        dingtalk.verify(r, SETTINGS, NOW)


async def test_dingtalk_handler_replies_encrypted_success():
    rec = Recorder()
    resp = await dingtalk.handle(dt_request(DT_DEAL), rec.ctx())
    assert resp.status == 200
    reply = json.loads(resp.body)
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    expected = hashlib.sha1("".join(sorted([DT_TOKEN, reply["timeStamp"], reply["nonce"], reply["encrypt"]])).encode()).hexdigest()
    assert reply["msg_signature"] == expected
    assert dt_decrypt(reply["encrypt"]) == "success"
    assert [event_type(e) for e in rec.events] == ["activity.logged"]
    # the registration check is answered the same way, nothing published
    rec2 = Recorder()
    resp = await dingtalk.handle(dt_request({"EventType": "check_url"}), rec2.ctx())
    assert resp.status == 200 and dt_decrypt(json.loads(resp.body)["encrypt"]) == "success" and rec2.events == []


async def test_dingtalk_handler_answers_within_budget_or_503():
    import asyncio

    async def slow(events):
        await asyncio.sleep(5)

    rec = Recorder()
    ctx = AdapterContext(SETTINGS, MAPPING, slow, rec.quarantine, lambda: NOW)
    start = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await dingtalk.handle(dt_request(DT_DEAL), ctx)
    assert time.monotonic() - start < 1.5


# --- mapping ------------------------------------------------------------------------


def test_mapping_errors_name_the_key():
    with pytest.raises(MappingError, match="closed"):
        parse_mapping({"hubspot": {"stages": {"closed": ["x"]}}})
    with pytest.raises(MappingError, match="both"):
        parse_mapping({"hubspot": {"stages": {"won": ["x"], "lost": ["x"]}}})
    with pytest.raises(MappingError, match="activity_kinds"):
        parse_mapping({"pipedrive": {"activity_kinds": {"x": "party"}}})
    with pytest.raises(MappingError, match="unknown section"):
        parse_mapping({"salesforce": {}})
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping("/nonexistent/mapping.toml")


def test_unmapped_owner_passes_through():
    assert MAPPING.hubspot.rep("999") == "999" and MAPPING.hubspot.rep("52550153") == "zhang"


def test_settings_from_env_mask_secrets():
    s = AdapterSettings.from_env({"QUOTABOARD_STRIPE_SECRET": "whsec_abc", "QUOTABOARD_MAPPING_FILE": "m.toml"})
    assert s.stripe_secret.value == "whsec_abc" and "whsec_abc" not in repr(s)
    assert s.mapping_file == Path("m.toml") and s.hubspot_client_secret is None
