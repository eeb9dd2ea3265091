"""Labels of Pipedrive's single-option fields read through `GET /api/v2/dealFields` when the
mapping file does not name them (services/ingest/adapters/pipedrive_fields.py), against a
local server answering with response files in the documented shape
(tests/support/vendors/pipedrive/dealFields-page*.json): the file's label wins, the fetched
ones are cached, an id Pipedrive does not list either is quarantined naming the field and
the id, and a Pipedrive that does not answer makes the webhook a 503 (redelivered)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_adapters import SETTINGS, Recorder, pd_auth, pd_deal, pd_meta, req

pytest.importorskip("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402

from schemas.events import DealCreated  # noqa: E402
from services.ingest.adapters import pipedrive, pipedrive_fields, vendor_pages  # noqa: E402
from services.ingest.adapters.base import _Secret  # noqa: E402
from services.ingest.adapters.hubspot_api import UpstreamUnavailable  # noqa: E402
from services.ingest.adapters.mapping import load_mapping, parse_mapping  # noqa: E402

VENDORS = Path(__file__).resolve().parents[1] / "support" / "vendors"
ROOT = Path(__file__).resolve().parents[2]
PL = "9dc80c50d78a15d8f6e8a2b8a6e7a7c5b1e1f2a3"
FIELD_PAGES = [VENDORS / "pipedrive" / f"dealFields-page{n}.json" for n in (1, 2)]
CURSOR = json.loads(FIELD_PAGES[0].read_text())["additional_data"]["next_cursor"]


class Fields:
    """GET /api/v2/dealFields by cursor, for one API token; counts the calls."""

    def __init__(self, fail: int = 0) -> None:
        self.calls, self.fail = 0, fail

    def __call__(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.fail:
            return Response('{"success": false}', 502, content_type="application/json")
        if request.headers.get("x-api-token") != "pd-api-token":
            return Response('{"success": false, "error": "unauthorized"}', 401)
        page = FIELD_PAGES[1] if request.args.get("cursor") == CURSOR else FIELD_PAGES[0]
        return Response(page.read_bytes(), 200, content_type="application/json")


def serve(httpserver, prefix: str, handler: Fields):
    """A distinct API URL per test (the labels are cached per API URL)."""
    httpserver.expect_request(f"/{prefix}{pipedrive_fields.PATH}").respond_with_handler(handler)
    return replace(
        SETTINGS,
        pipedrive_api_token=_Secret("pd-api-token"),
        pipedrive_api_url=httpserver.url_for(f"/{prefix}"),
    )


def created(option: int, deal_id: int) -> bytes:
    deal = pd_deal(id=deal_id, custom_fields={PL: {"type": "enum", "id": option}})
    return json.dumps(
        {"meta": pd_meta("create", "deal", f"m-{deal_id}"), "data": deal, "previous": None}
    ).encode()


async def post(recorder: Recorder, settings, body: bytes):
    return await pipedrive.handle(req(body, pd_auth(), path=pipedrive.PATH), recorder.ctx(settings))


async def test_an_option_the_file_does_not_label_is_read_from_pipedrive_once(httpserver):
    fields = Fields()
    settings = serve(httpserver, "labels", fields)
    rec = Recorder()
    # 37 is labelled by the mapping file ("A"): Pipedrive is not asked, the file wins
    assert (await post(rec, settings, created(37, 501))).status == 200
    assert fields.calls == 0 and rec.events[0].data.product_line == "A"
    # 39 is not in the file: the labels are read (two pages), then cached
    assert (await post(rec, settings, created(39, 502))).status == 200
    assert (await post(rec, settings, created(39, 503))).status == 200
    assert fields.calls == 2
    assert [e.data.product_line for e in rec.events if isinstance(e, DealCreated)] == [
        "A",
        "C",
        "C",
    ]
    # an id Pipedrive does not list either: quarantined, naming the field and the id
    resp = await post(rec, settings, created(41, 504))
    assert json.loads(resp.body)["quarantined"] == 1 and fields.calls == 2  # cached for a minute
    ((_, reason, _),) = rec.quarantined
    assert f"custom_fields.{PL} = option 41" in reason and "GET /api/v2/dealFields" in reason


async def test_without_an_api_token_an_unlabelled_option_is_quarantined_as_before(httpserver):
    rec = Recorder()
    resp = await post(rec, SETTINGS, created(39, 505))
    assert json.loads(resp.body)["quarantined"] == 1 and not rec.events
    ((_, reason, _),) = rec.quarantined
    assert f"custom_fields.{PL} = option 39" in reason and "dealFields" not in reason


async def test_a_pipedrive_that_does_not_answer_makes_the_webhook_retried(httpserver):
    settings = serve(httpserver, "down", Fields(fail=5))
    rec = Recorder()
    with pytest.raises(UpstreamUnavailable):  # the gateway answers 503 + Retry-After
        await post(rec, settings, created(39, 506))
    assert not rec.events and not rec.quarantined
    # it recovers: one 502 is retried within the webhook
    settings = serve(httpserver, "flaky", Fields(fail=1))
    assert (await post(rec, settings, created(39, 507))).status == 200
    assert rec.events[0].data.product_line == "C"


async def test_webhooks_behind_a_failed_read_answer_at_once_until_it_is_tried_again(
    httpserver, monkeypatch
):
    """A Pipedrive that is down is asked once, not once per queued webhook: for
    FAILED_SECONDS the next webhooks get the same 503 without a call (none waits out its
    own retries, none holds a worker thread); after that Pipedrive is asked again."""
    fields = Fields(fail=2)
    settings = serve(httpserver, "down-once", fields)
    rec = Recorder()
    with pytest.raises(UpstreamUnavailable):
        await post(rec, settings, created(39, 508))
    asked = fields.calls
    for deal_id in (509, 510):
        with pytest.raises(UpstreamUnavailable):
            await post(rec, settings, created(39, deal_id))
    assert fields.calls == asked and not rec.events
    monkeypatch.setattr(pipedrive_fields, "FAILED_SECONDS", 0.0)
    assert (await post(rec, settings, created(39, 511))).status == 200
    assert fields.calls > asked and rec.events[0].data.product_line == "C"


def test_the_backfill_labels_api_numbers_of_a_field_the_file_does_not_list(httpserver):
    """API v2 deals carry a bare option id; without `[pipedrive.option_labels]` for the field
    the labels come from Pipedrive, read once for the run."""
    fields = Fields()
    settings = serve(httpserver, "backfill", fields)
    page = json.loads((VENDORS / "pipedrive" / "deals-page3.json").read_text())
    httpserver.expect_request("/backfill/api/v2/deals").respond_with_json(page)
    example = load_mapping(ROOT / "mappings" / "example.toml")
    no_labels = parse_mapping({"pipedrive": {"product_line_field": PL, "stages": {"won": [5]}}})
    mapping = replace(example, pipedrive=no_labels.pipedrive)
    ((result, cursor),) = list(vendor_pages.pipedrive_pages(settings, mapping, "deals", None, None))
    options = {d["id"]: d["custom_fields"][PL] for d in page["data"]}
    expected = {37: "Product A in Pipedrive", 38: "B"}
    made = {
        e.data.deal_id: e.data.product_line for e in result.events if isinstance(e, DealCreated)
    }
    assert made == {str(i): expected[o] for i, o in options.items()}
    assert fields.calls == 2 and cursor is None and not result.malformed
