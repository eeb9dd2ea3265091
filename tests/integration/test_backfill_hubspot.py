"""`quotaboard backfill hubspot` against a recorded account served by a local HTTP server
(pytest-httpserver) from HubSpot-shaped response files (tests/support/vendors/hubspot/),
read by the real `hubspot-api-client`: 310 deals of two portals whose deal ids collide,
7 pages, a 429 with Retry-After in the middle and a page that fails once. Then the
account's webhooks are replayed on top, shuffled, through the real gateway (whose
deal.creation reads the deal through the same server): the figures equal those of the
same history posted as canonical events to another service."""

from __future__ import annotations

import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from faultutil import projector_position
from natsutil import wait_until
from test_adapters import HS_SECRET, hs_sign

pytest.importorskip("pytest_httpserver")
pytest.importorskip("hubspot")

from werkzeug import Request, Response  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "vendors"
sys.path.insert(0, str(FIXTURES))
import hubspot_account  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"33": "pat-na1-33", "44": "pat-eu1-44"}
PUBLIC_URL = "https://hooks.example.com/v1/webhooks/hubspot"


class RecordedAccount:
    """Serves the page files per portal (by token); the 2nd page of portal 33 answers 429
    (Retry-After: 1) once, the 1st page of portal 44 answers 500 once."""

    def __init__(self) -> None:
        self.pages = {
            p: sorted(
                (FIXTURES / "hubspot").glob(f"deals-{p}-page*.json"),
                key=lambda f: len(f.name) * 100 + int(f.stem.rsplit("page", 1)[1]),
            )
            for p in TOKENS
        }
        self.deals = {
            p: {d["id"]: d for f in files for d in json.loads(f.read_text())["results"]}
            for p, files in self.pages.items()
        }
        self.failed: set[str] = set()
        self.log: list[tuple[str, str, int]] = []

    def portal(self, request: Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return next((p for p, t in TOKENS.items() if auth == f"Bearer {t}"), None)

    def __call__(self, request: Request) -> Response:
        portal = self.portal(request)
        if portal is None:
            return Response(
                json.dumps({"status": "error", "category": "INVALID_AUTHENTICATION"}), 401
            )
        path = request.path.removeprefix("/crm/v3/objects/deals").strip("/")
        if path:  # GET /crm/v3/objects/deals/{dealId}: the webhook's creation
            deal = self.deals[portal].get(path)
            return Response(json.dumps(deal), 200 if deal else 404, content_type="application/json")
        after = int(request.args.get("after") or 0)
        index = after // hubspot_account.PAGE
        key = f"{portal}-{index}"
        if key in ("33-1", "44-0") and key not in self.failed:
            self.failed.add(key)
            status = 429 if key == "33-1" else 500
            self.log.append((portal, key, status))
            body = (
                {
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "policyName": "SECONDLY",
                }
                if status == 429
                else {"status": "error", "message": "internal error"}
            )
            return Response(
                json.dumps(body),
                status,
                headers={"Retry-After": "1"} if status == 429 else {},
                content_type="application/json",
            )
        self.log.append((portal, key, 200))
        return Response(
            self.pages[portal][index].read_bytes(), 200, content_type="application/json"
        )


def service_env(server_url: str) -> dict:
    return {
        "QUOTABOARD_HUBSPOT_CLIENT_SECRET": HS_SECRET,
        "QUOTABOARD_HUBSPOT_PUBLIC_URL": PUBLIC_URL,
        "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
        "QUOTABOARD_HUBSPOT_API_URL": server_url.rstrip("/"),
        **{f"QUOTABOARD_HUBSPOT_TOKEN_{p}": t for p, t in TOKENS.items()},
    }


def without_position(doc):
    """The figures without the log position they were read at (the logs differ in length:
    the backfill stores each property's first value as its own fact)."""
    if isinstance(doc, dict):
        return {k: without_position(v) for k, v in doc.items() if k != "position"}
    if isinstance(doc, list):
        return [without_position(v) for v in doc]
    return doc


def figures(svc) -> dict:
    """Each period's standings and funnel from the CLI (the eight commands run side by side:
    each is a process of its own that mostly starts Python)."""
    asks = [
        (c, p)
        for p in ("2026-08", "2026-09", "2026-10", "2026-Q3")
        for c in ("standings", "funnel")
    ]
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda ask: svc.cli(ask[0], "--period", ask[1], "--json"), asks)
        return {
            ask: without_position(json.loads(res.stdout))
            if res.returncode == 0
            else res.stderr.strip()
            for ask, res in zip(asks, answers, strict=True)
        }


def settled(svc, total: int) -> None:
    wait_until(lambda: svc.count() >= total, 60, what=f"{total} events in the log")

    # read from the store in this process: a `status` command per poll costs half a second
    wait_until(lambda: projector_position(svc.data_dir) >= total, 60, what="the projector")


def post_hooks(svc, events: list[dict]) -> dict:
    totals = {"accepted": 0, "duplicates": 0, "ignored": 0, "quarantined": 0}
    for i in range(0, len(events), 100):
        body = json.dumps(events[i : i + 100]).encode()
        ts = str(int(time.time() * 1000))
        headers = {
            "X-HubSpot-Signature-v3": hs_sign("POST", PUBLIC_URL, body, ts),
            "X-HubSpot-Request-Timestamp": ts,
            "content-type": "application/json",
        }
        resp = svc.client.post("/v1/webhooks/hubspot", content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        for k in totals:
            totals[k] += resp.json()[k]
    return totals


@pytest.mark.slow
def test_backfill_then_webhooks_equal_the_canonical_history(httpserver, make_service):
    account = RecordedAccount()
    httpserver.expect_request("/crm/v3/objects/deals").respond_with_handler(account)
    for deal_id in {d for p in account.deals.values() for d in p}:
        httpserver.expect_request(f"/crm/v3/objects/deals/{deal_id}").respond_with_handler(account)
    assert sum(len(d) for d in account.deals.values()) == 310

    canonical = hubspot_account.canonical()
    reference = make_service()
    for i in range(0, len(canonical), 500):
        assert reference.post(canonical[i : i + 500]).status_code == 202
    settled(reference, len(canonical))

    svc = make_service(env=service_env(httpserver.url_for("/")))
    reps = [e for e in canonical if e["type"] == "rep.onboarded"]
    assert svc.post(reps).status_code == 202
    start = time.monotonic()
    res = svc.cli("backfill", "hubspot", "--json")
    assert res.returncode == 0, res.stderr
    backfilled = json.loads(res.stdout)
    assert (
        backfilled["pages"] == 7
        and backfilled["quarantined"] == 0
        and backfilled["duplicates"] == 0
    )
    assert ("33", "33-1", 429) in account.log and ("44", "44-0", 500) in account.log
    assert time.monotonic() - start >= 1.0  # the Retry-After was waited for
    assert not (svc.data_dir / "backfill" / "hubspot.json").exists()  # done: no cursor left
    stored = len(reps) + backfilled["accepted"]
    settled(svc, stored)

    hooks = json.loads((FIXTURES / "hubspot" / "webhooks.json").read_text())["events"]
    random.Random(7).shuffle(hooks)
    replay = post_hooks(svc, hooks)
    assert replay["quarantined"] == 0
    assert replay["accepted"] == replay["duplicates"]  # every webhook fact was backfilled already
    settled(svc, stored)
    assert svc.count() == stored

    got = figures(svc)
    assert got == figures(reference)
    august = got[("standings", "2026-08")]
    assert (
        august["reps"]["zhang"]["bookings"] != "0.00"
        and august["reps"]["zhang"]["new_customers"] > 0
    )
    assert got[("funnel", "2026-08")]["stages"]["won"] > 50
