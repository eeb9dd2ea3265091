"""The defects of issue 15 ("what their webhooks really send"), one test each: every one
fails on the adapters before the fix. Payload shapes are the vendors' documented ones
(see tests/integration/test_adapters.py for the envelopes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from natsutil import REPO
from test_adapters import CHARGE, MAPPING, PI, pd_auth, pd_deal, pd_meta, stripe_event

from schemas.events import event_type
from services.config import Secret, Settings
from services.ingest.adapters import payments, pipedrive
from services.ingest.adapters.mapping import MappingError, load_mapping
from services.ingest.gateway import Gateway

# --- 1. Stripe manual capture -------------------------------------------------------------

AUTH = {**CHARGE, "captured": False, "amount": 200000, "amount_captured": 0, "status": "succeeded"}


def test_an_authorization_is_no_payment_and_the_capture_is():
    """charge.succeeded of an uncaptured charge moves no money; the capture is the payment."""
    auth = payments.translate(stripe_event("charge.succeeded", AUTH, eid="evt_auth"), "CNY")
    assert auth.events == [] and auth.ignored == 1
    captured_pi = {**PI, "amount": 200000, "amount_received": 120000}
    (paid,) = payments.translate(
        stripe_event("payment_intent.succeeded", captured_pi, eid="evt_pi"), "CNY"
    ).events
    assert paid.id == "stripe-payment-" + PI["id"] and paid.data.amount == Decimal("1200.00")
    captured = {**AUTH, "captured": True, "amount_captured": 120000}
    (same,) = payments.translate(
        stripe_event("charge.captured", captured, eid="evt_cap"), "CNY"
    ).events
    assert same.id == paid.id and same.data.amount == Decimal("1200.00")


# --- 2. Stripe invoices -------------------------------------------------------------------

INVOICE = {
    "id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
    "object": "invoice",
    "amount_due": 999000,
    "amount_paid": 999000,
    "currency": "cny",
    "customer": "cus_NeZwdNtLEOXuvB",
    "payment_intent": "pi_3MtHbELkdIwHu7ix0Ab1",
    "metadata": {},
    "status": "paid",
    "subscription": "sub_1MtHbELkdIwHu7ix",
    "subscription_details": {"metadata": {"deal_id": "1246965"}},
}


def test_invoice_paid_is_a_payment_linked_through_the_subscription():
    (paid,) = payments.translate(stripe_event("invoice.paid", INVOICE, eid="evt_inv"), "CNY").events
    assert event_type(paid) == "payment.received"
    assert (paid.id, paid.data.deal_id, paid.data.amount) == (
        "stripe-payment-pi_3MtHbELkdIwHu7ix0Ab1",
        "1246965",
        Decimal("9990.00"),
    )
    # the invoice's payment intent has no metadata (Stripe copies none): not quarantined
    pi = {**PI, "id": "pi_3MtHbELkdIwHu7ix0Ab1", "metadata": {}, "invoice": INVOICE["id"]}
    linked = payments.translate(stripe_event("payment_intent.succeeded", pi, eid="evt_pi2"), "CNY")
    assert linked.malformed == [] and linked.events == [] and linked.ignored == 1
    # a configured metadata key
    custom = {**INVOICE, "subscription_details": None, "metadata": {"crm_deal": "77"}}
    (other,) = payments.translate(
        stripe_event("invoice.paid", custom, eid="evt_inv2"), "CNY", "crm_deal"
    ).events
    assert other.data.deal_id == "77"
    lost = payments.translate(
        stripe_event("invoice.paid", {**INVOICE, "subscription_details": None}), "CNY"
    )
    assert (
        "metadata.deal_id is missing on the invoice and its subscription"
        in lost.malformed[0].reason
    )


# --- 3. Pipedrive single-option fields ----------------------------------------------------

PL_KEY = "9dc80c50d78a15d8f6e8a2b8a6e7a7c5b1e1f2a3"


def test_pipedrive_option_id_is_stored_as_its_label():
    deal = pd_deal(custom_fields={PL_KEY: {"type": "enum", "id": 38}})
    (created,) = pipedrive.translate(
        {"meta": pd_meta("create", "deal", "o-1"), "data": deal}, MAPPING.pipedrive
    ).events
    assert created.data.product_line == "B"
    unknown = pd_deal(custom_fields={PL_KEY: {"type": "enum", "id": 99}})
    bad = pipedrive.translate(
        {"meta": pd_meta("create", "deal", "o-2"), "data": unknown}, MAPPING.pipedrive
    )
    assert bad.events == [] and f"custom_fields.{PL_KEY} = option 99" in bad.malformed[0].reason


# --- 4. Pipedrive v1 ----------------------------------------------------------------------

V1 = {
    "v": 1,
    "matches_filters": {"current": []},
    "meta": {
        "v": 1,
        "action": "updated",
        "object": "deal",
        "id": 1,
        "company_id": 12882925,
        "user_id": 18487521,
        "timestamp": 1786000000,
    },
    "current": {"id": 1, "stage_id": 3},
    "previous": {"id": 1, "stage_id": 1},
    "event": "updated.deal",
    "retry": 0,
}


async def test_pipedrive_v1_is_refused_clearly():
    from test_adapters import Recorder, req

    rec = Recorder()
    resp = await pipedrive.handle(req(json.dumps(V1).encode(), pd_auth()), rec.ctx())
    assert resp.status == 400 and "version 2.0" in json.loads(resp.body)["error"]
    assert rec.events == [] and "version 2.0" in rec.quarantined[0][1]


# --- 5. currency --------------------------------------------------------------------------


def test_a_pipedrive_deal_in_another_currency_is_quarantined():
    eur = {"meta": pd_meta("create", "deal", "c-1"), "data": pd_deal(currency="EUR")}
    result = pipedrive.translate(eur, MAPPING.pipedrive)
    assert (
        result.events == []
        and "currency = 'EUR' is not the deployment's currency CNY" in result.malformed[0].reason
    )
    change = {
        "meta": pd_meta("change", "deal", "c-2"),
        "data": pd_deal(currency="EUR", value=5),
        "previous": {"value": 4},
    }
    assert pipedrive.translate(change, MAPPING.pipedrive).malformed


# --- 7. WWW-Authenticate through the gateway ------------------------------------------------


async def test_www_authenticate_reaches_the_client(monkeypatch):
    monkeypatch.setenv("QUOTABOARD_PIPEDRIVE_USER", "u")
    monkeypatch.setenv("QUOTABOARD_PIPEDRIVE_PASSWORD", "p")
    app = Gateway(Settings(webhook_secret=Secret("whsec_" + "A" * 44)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        resp = await client.post(
            "/v1/webhooks/pipedrive", content=b"{}", headers=pd_auth("u", "wrong")
        )
    assert (
        resp.status_code == 401 and resp.headers["www-authenticate"] == 'Basic realm="quotaboard"'
    )


# --- the mapping file: errors name the line --------------------------------------------------


def test_mapping_errors_name_the_line(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(
        '[hubspot]\nproduct_line_field = "pl"\n\n[pipedrive.stages]\nlead = [1]\nclosed = [2]\n'
    )
    with pytest.raises(MappingError, match=rf"^{path}:6: \[pipedrive.stages\] closed"):
        load_mapping(path)
    path.write_text('[pipedrive.option_labels."abc"]\n37 = ""\n')
    with pytest.raises(MappingError, match=rf"^{path}:2: "):
        load_mapping(path)
    path.write_text('[hubspot]\nowners = 3\nproduct_line_feld = "x"\n')
    with pytest.raises(MappingError, match=rf"^{path}:2: \[hubspot.owners\] must be a table"):
        load_mapping(path)


def test_up_refuses_a_broken_mapping_naming_the_line(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[hubspot]\nproduct_line_field = "pl"\n[hubspot.stages]\nclosed = ["x"]\n')
    env = {**os.environ, "QUOTABOARD_MAPPING_FILE": str(bad)}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--data",
            str(tmp_path / "d"),
            "--http",
            "127.0.0.1:1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert res.returncode == 1
    assert f"{bad}:4: [hubspot.stages] closed: 'closed' is not one of" in res.stderr


async def test_hubspot_creation_reads_the_deal_and_its_company_through_the_api(httpserver):
    """Defect 6 through the handler: deal.creation is read with the portal's token by the
    real hubspot-api-client (a local server in HubSpot's documented shape)."""
    from test_adapters import HS_SECRET, HS_URL, Recorder, hs_batch, hs_sign, req

    from services.ingest.adapters import hubspot
    from services.ingest.adapters.base import AdapterSettings, _Secret

    deal = {
        "id": "1246965",
        "properties": {
            "amount": "840000",
            "createdate": "2026-08-06T07:06:40Z",
            "dealtype": "newbusiness",
            "hubspot_owner_id": "52550154",
            "deal_currency_code": "CNY",
        },
        "associations": {"companies": {"results": [{"id": "9001", "type": "deal_to_company"}]}},
        "createdAt": "2026-08-06T07:06:40Z",
        "updatedAt": "2026-08-06T07:06:40Z",
        "archived": False,
    }
    httpserver.expect_request(
        "/crm/v3/objects/deals/1246965", headers={"Authorization": "Bearer pat-33"}
    ).respond_with_json(deal)
    httpserver.expect_request("/crm/v3/objects/deals/77").respond_with_json(
        {"status": "error", "message": "Object not found.", "category": "OBJECT_NOT_FOUND"},
        status=404,
    )
    settings = AdapterSettings(
        hubspot_client_secret=_Secret(HS_SECRET),
        hubspot_public_url=HS_URL,
        hubspot_tokens={"33": _Secret("pat-33")},
        hubspot_api_url=httpserver.url_for("/").rstrip("/"),
    )
    gone = {**hs_batch()[0], "objectId": 77, "eventId": 1}
    body = json.dumps([hs_batch()[0], gone]).encode()
    ts = str(int(1_786_000_000 * 1000))
    headers = {
        "X-HubSpot-Signature-v3": hs_sign("POST", HS_URL, body, ts),
        "X-HubSpot-Request-Timestamp": ts,
    }
    rec = Recorder()
    resp = await hubspot.handle(req(body, headers), rec.ctx(settings=settings))
    assert json.loads(resp.body)["accepted"] == 1
    (created,) = rec.events
    assert (
        created.data.customer_id,
        created.data.rep_id,
        created.data.kind,
        created.data.amount,
    ) == ("hubspot-33-company-9001", "li", "new", Decimal("840000"))
    assert "deal 77 of portal 33 is not found through the API" in rec.quarantined[0][1]
