"""`quotaboard backfill pipedrive` and `quotaboard backfill stripe` against recorded
accounts served by pytest-httpserver from response files in the vendors' documented
shapes (tests/support/vendors/{pipedrive,stripe}/), through httpx (Pipedrive's REST v2)
and the real `stripe` client; each with a 429 in the middle and a page that fails once.
Then the accounts' webhooks, shuffled, through the real gateway: the figures equal those
of the same history posted as canonical events."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import pytest
from test_adapters import PD_PASSWORD, PD_USER, STRIPE_SECRET, pd_auth, stripe_header
from test_backfill_hubspot import figures, settled

pytest.importorskip("pytest_httpserver")
pytest.importorskip("stripe")

from werkzeug import Request, Response  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "vendors"
sys.path.insert(0, str(FIXTURES))
import pd_stripe_account  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REPS = [
    {
        "id": f"c-rep-{r}",
        "type": "rep.onboarded",
        "occurred_at": "2026-07-01T00:00:00+00:00",
        "data": {"rep_id": r, "name": r, "team": "sales", "region": "East"},
    }
    for r in ("li", "zhang")
]


class Pages:
    """Serves numbered page files; the 2nd page answers 429 (Retry-After: 1) once and the
    3rd answers 500 once. `position` maps a request to a page index."""

    def __init__(self, files: list[Path], position, check) -> None:
        self.files, self.position, self.check = files, position, check
        self.failed: set[int] = set()
        self.log: list[tuple[int, int]] = []

    def __call__(self, request: Request) -> Response:
        if not self.check(request):
            return Response(
                '{"success": false, "error": "unauthorized"}', 401, content_type="application/json"
            )
        index = self.position(request)
        if index in (1, 2) and index not in self.failed:
            self.failed.add(index)
            status = 429 if index == 1 else 500
            self.log.append((index, status))
            return Response(
                '{"error": {"message": "Too many requests"}}',
                status,
                headers={"Retry-After": "1"} if status == 429 else {},
                content_type="application/json",
            )
        self.log.append((index, 200))
        return Response(self.files[index].read_bytes(), 200, content_type="application/json")


def pages_of(directory: str, stem: str) -> list[Path]:
    return sorted(
        (FIXTURES / directory).glob(f"{stem}-page*.json"),
        key=lambda f: int(f.stem.rsplit("page", 1)[1]),
    )


def run_backfill(svc, vendor: str) -> dict:
    start = time.monotonic()
    res = svc.cli("backfill", vendor, "--json")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start >= 1.0  # a Retry-After was waited for
    assert not (svc.data_dir / "backfill" / f"{vendor}.json").exists()
    return json.loads(res.stdout)


@pytest.mark.slow
def test_pipedrive_backfill_then_webhooks_equal_the_canonical_history(httpserver, make_service):
    deal_files = pages_of("pipedrive", "deals")
    cursors = [None] + [
        json.loads(f.read_text())["additional_data"]["next_cursor"] for f in deal_files[:-1]
    ]
    token = lambda r: r.headers.get("x-api-token") == "pd-api-token"  # noqa: E731
    deals = Pages(deal_files, lambda r: cursors.index(r.args.get("cursor")), token)
    httpserver.expect_request("/api/v2/deals").respond_with_handler(deals)
    httpserver.expect_request("/api/v2/activities").respond_with_handler(
        Pages(pages_of("pipedrive", "activities"), lambda r: 0, token)
    )

    canonical = REPS + pd_stripe_account.pipedrive_canonical()
    reference = make_service()
    assert (
        reference.post(canonical[:500]).status_code == 202
        and reference.post(canonical[500:]).status_code == 202
    )
    settled(reference, len(canonical))

    svc = make_service(
        env={
            "QUOTABOARD_PIPEDRIVE_USER": PD_USER,
            "QUOTABOARD_PIPEDRIVE_PASSWORD": PD_PASSWORD,
            "QUOTABOARD_PIPEDRIVE_API_TOKEN": "pd-api-token",
            "QUOTABOARD_PIPEDRIVE_API_URL": httpserver.url_for("/").rstrip("/"),
            "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
        }
    )
    assert svc.post(REPS).status_code == 202
    done = run_backfill(svc, "pipedrive")
    assert (
        done["pages"] == 4
        and done["quarantined"] == 0
        and (1, 429) in deals.log
        and (2, 500) in deals.log
    )
    stored = len(REPS) + done["accepted"]
    settled(svc, stored)

    hooks = json.loads((FIXTURES / "pipedrive" / "webhooks.json").read_text())["notifications"]
    random.Random(3).shuffle(hooks)
    quarantined = 0
    for hook in hooks:
        resp = svc.client.post(
            "/v1/webhooks/pipedrive", content=json.dumps(hook).encode(), headers=pd_auth()
        )
        assert resp.status_code == 200, resp.text
        quarantined += resp.json()["quarantined"]
        stored += resp.json()["accepted"] - resp.json()["duplicates"]
    assert quarantined == 0
    settled(svc, stored)
    got = figures(svc)
    assert got == figures(reference)
    assert got[("funnel", "2026-08")]["stages"]["won"] > 10


@pytest.mark.slow
def test_stripe_backfill_then_webhooks_equal_the_canonical_history(httpserver, make_service):
    charge_files = pages_of("stripe", "charges")
    lasts = [None] + [json.loads(f.read_text())["data"][-1]["id"] for f in charge_files[:-1]]
    key = lambda r: r.headers.get("Authorization") == "Bearer sk_test_backfill"  # noqa: E731
    charges = Pages(charge_files, lambda r: lasts.index(r.args.get("starting_after")), key)
    httpserver.expect_request("/v1/charges").respond_with_handler(charges)
    httpserver.expect_request("/v1/invoices").respond_with_handler(
        Pages(pages_of("stripe", "invoices"), lambda r: 0, key)
    )

    canonical = REPS + pd_stripe_account.stripe_canonical()
    deals = [e for e in canonical if e["type"] not in ("payment.received", "payment.refunded")]
    reference = make_service()
    assert reference.post(canonical).status_code == 202
    settled(reference, len(canonical))

    svc = make_service(
        env={
            "QUOTABOARD_STRIPE_SECRET": STRIPE_SECRET,
            "QUOTABOARD_STRIPE_API_KEY": "sk_test_backfill",
            "QUOTABOARD_STRIPE_API_URL": httpserver.url_for("/").rstrip("/"),
            "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
        }
    )
    assert svc.post(deals).status_code == 202
    done = run_backfill(svc, "stripe")
    assert done["quarantined"] == 0 and (1, 429) in charges.log and (2, 500) in charges.log
    stored = len(deals) + done["accepted"]
    settled(svc, stored)

    hooks = json.loads((FIXTURES / "stripe" / "webhooks.json").read_text())["events"]
    random.Random(5).shuffle(hooks)
    for hook in hooks:
        body = json.dumps(hook).encode()
        resp = svc.client.post(
            "/v1/webhooks/payments",
            content=body,
            headers={"Stripe-Signature": stripe_header(body, int(time.time()))},
        )
        assert resp.status_code == 200 and resp.json()["quarantined"] == 0, resp.text
        assert resp.json()["accepted"] == resp.json()["duplicates"]  # all backfilled already
    settled(svc, stored)
    assert svc.count() == stored
    got = figures(svc)
    assert got == figures(reference)
    assert got[("standings", "2026-08")]["reps"]["zhang"]["collections"] != "0.00"


def test_an_interrupted_backfill_resumes_where_it_stopped(httpserver, make_service):
    """Page 2 is refused (the token revoked mid-way): the run stops with the cursor saved;
    the next run asks for page 2 on, not page 1 again, and nothing is stored twice."""
    deal_files = pages_of("pipedrive", "deals")
    cursors = [None] + [
        json.loads(f.read_text())["additional_data"]["next_cursor"] for f in deal_files[:-1]
    ]
    revoked = {"on": True}
    seen: list[int] = []

    def deals(request: Request) -> Response:
        index = cursors.index(request.args.get("cursor"))
        seen.append(index)
        if index == 1 and revoked["on"]:
            return Response(
                '{"success": false, "error": "unauthorized access"}',
                401,
                content_type="application/json",
            )
        return Response(deal_files[index].read_bytes(), 200, content_type="application/json")

    httpserver.expect_request("/api/v2/deals").respond_with_handler(deals)
    httpserver.expect_request("/api/v2/activities").respond_with_handler(
        Pages(pages_of("pipedrive", "activities"), lambda r: 0, lambda r: True)
    )
    svc = make_service(
        env={
            "QUOTABOARD_PIPEDRIVE_API_TOKEN": "t",
            "QUOTABOARD_PIPEDRIVE_API_URL": httpserver.url_for("/").rstrip("/"),
            "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
        }
    )
    first = svc.cli("backfill", "pipedrive", "--json")
    assert first.returncode == 1 and "run the same command again to resume" in first.stderr
    cursor = json.loads((svc.data_dir / "backfill" / "pipedrive.json").read_text())
    assert cursor["positions"] == {"deals": cursors[1]} and seen == [0, 1]
    revoked["on"] = False
    second = svc.cli("backfill", "pipedrive", "--json")
    assert second.returncode == 0, second.stderr
    assert seen[2:] == [1, 2] and json.loads(second.stdout)["duplicates"] == 0
    assert not (svc.data_dir / "backfill" / "pipedrive.json").exists()
