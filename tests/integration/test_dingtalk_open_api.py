"""DingTalk's open API (services/ingest/adapters/dingtalk_api.py) and `quotaboard backfill
dingtalk`, against a local server (pytest-httpserver) answering with response files in
DingTalk's documented shapes (tests/support/vendors/dingtalk/): the access token cached
until it expires and fetched again when DingTalk refuses it, throttling answers waited
for, a page failing once; then the account's crm_customer_track callbacks, shuffled,
through the real gateway: each track is stored once, whichever came first."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path

import pytest
from test_adapters import DT_AES_KEY, DT_CORP, DT_TOKEN, dt_decrypt, dt_encrypt
from test_adapters_e2e import rows

pytest.importorskip("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402

from services.ingest.adapters import dingtalk_api  # noqa: E402
from services.ingest.adapters.base import AdapterSettings, _Secret  # noqa: E402
from services.ingest.adapters.hubspot_api import UpstreamUnavailable  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "vendors"
sys.path.insert(0, str(FIXTURES))
import dingtalk_account  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((FIXTURES / "dingtalk").glob("tracks-page*.json"))
TOKEN_DOC = json.loads((FIXTURES / "dingtalk" / "token.json").read_text())


def settings(server, app_key: str) -> AdapterSettings:
    """One app key per test: the token cache is per (API URL, app key)."""
    return AdapterSettings(
        dingtalk_app_key=app_key,
        dingtalk_app_secret=_Secret("GT-lsu-taDAxxxsTsxxxx"),
        dingtalk_api_url=server.url_for("/").rstrip("/"),
    )


class Tokens:
    """The token endpoint: issues tok-1, tok-2, ... with `lives` seconds each (the
    documented answer's shape), checks the key and secret, counts the calls."""

    def __init__(self, app_key: str, lives: list[int]) -> None:
        self.app_key, self.lives, self.issued = app_key, lives, []

    def __call__(self, request: Request) -> Response:
        body = request.get_json()
        if body != {"appKey": self.app_key, "appSecret": "GT-lsu-taDAxxxsTsxxxx"}:
            return Response(
                '{"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}',
                400,
                content_type="application/json",
            )
        token = f"tok-{len(self.issued) + 1}"
        life = self.lives[min(len(self.issued), len(self.lives) - 1)]
        self.issued.append(token)
        return Response(
            json.dumps({**TOKEN_DOC, "accessToken": token, "expireIn": life}),
            200,
            content_type="application/json",
        )


def page_response(index: int) -> Response:
    return Response(PAGES[index].read_bytes(), 200, content_type="application/json")


def test_the_token_is_cached_until_shortly_before_it_expires_then_fetched_again(httpserver):
    tokens = Tokens("app-cache", [7200])
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(tokens)
    now = [1000.0]
    api = dingtalk_api.DingTalkApi(settings(httpserver, "app-cache"), clock=lambda: now[0])
    try:
        assert api.token() == api.token() == "tok-1" and len(tokens.issued) == 1
        now[0] += 6899  # fetched again 5 minutes (at most a tenth of its life) early
        assert api.token() == "tok-1" and len(tokens.issued) == 1
        now[0] += 2
        assert api.token() == "tok-2" and len(tokens.issued) == 2
    finally:
        api.close()
    short = Tokens("app-short", [60])
    httpserver.clear()
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(short)
    api = dingtalk_api.DingTalkApi(settings(httpserver, "app-short"), clock=lambda: now[0])
    try:
        api.token()
        now[0] += 53  # a 60 s token is kept for 54 s
        api.token()
        now[0] += 2
        assert api.token() == "tok-2" and short.issued == ["tok-1", "tok-2"]
    finally:
        api.close()


def test_a_refused_token_is_fetched_again_once(httpserver):
    tokens = Tokens("app-401", [7200])
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(tokens)
    seen: list[str] = []

    def tracks(request: Request) -> Response:
        token = request.headers.get("x-acs-dingtalk-access-token")
        seen.append(token)
        if token == "tok-1":  # expired on DingTalk's side before our clock said so
            return Response(
                '{"code": "InvalidAuthentication"}', 401, content_type="application/json"
            )
        return page_response(2)

    httpserver.expect_request(dingtalk_api.TRACKS_PATH).respond_with_handler(tracks)
    api = dingtalk_api.DingTalkApi(settings(httpserver, "app-401"))
    try:
        values, nxt = next(api.track_pages())
        assert seen == ["tok-1", "tok-2"] and nxt is None and len(values) == 10
    finally:
        api.close()
    # a token refused again is not fetched a third time: the run stops
    revoked = Tokens("app-revoked", [7200])
    httpserver.clear()
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(revoked)
    httpserver.expect_request(dingtalk_api.TRACKS_PATH).respond_with_data(
        '{"code": "InvalidAuthentication"}', 401, content_type="application/json"
    )
    api = dingtalk_api.DingTalkApi(settings(httpserver, "app-revoked"))
    try:
        with pytest.raises(UpstreamUnavailable, match="401"):
            next(api.track_pages())
        assert revoked.issued == ["tok-1", "tok-2"]
    finally:
        api.close()


@pytest.mark.parametrize(
    "status, code",
    [
        (400, "request.too.frequent"),
        (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
        (403, "Forbidden.AccessDenied.QpsLimitForApi"),
    ],
)
def test_a_throttled_answer_waits_a_second_and_is_retried(httpserver, status, code):
    key = f"app-{code}"
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(
        Tokens(key, [7200])
    )
    calls: list[float] = []

    def tracks(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Response(
                json.dumps({"code": code, "message": "限流"}),
                status,
                content_type="application/json",
            )
        return page_response(2)

    httpserver.expect_request(dingtalk_api.TRACKS_PATH).respond_with_handler(tracks)
    api = dingtalk_api.DingTalkApi(settings(httpserver, key))
    try:
        values, _ = next(api.track_pages())
    finally:
        api.close()
    assert len(values) == 10 and len(calls) == 2 and calls[1] - calls[0] >= 1.0


def test_a_wrong_secret_is_final(httpserver):
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(
        Tokens("the-right-key", [7200])
    )
    api = dingtalk_api.DingTalkApi(settings(httpserver, "a-wrong-key"))
    try:
        with pytest.raises(UpstreamUnavailable, match="400"):
            api.token()
    finally:
        api.close()
    assert len(httpserver.log) == 1  # not retried


def test_no_app_key_says_what_to_configure():
    with pytest.raises(UpstreamUnavailable, match="QUOTABOARD_DINGTALK_APP_KEY"):
        dingtalk_api.DingTalkApi(AdapterSettings())


def post_callback(svc, message: dict):
    encrypted = dt_encrypt(json.dumps(message, ensure_ascii=False))
    ts, nonce = str(int(time.time() * 1000)), "n0nce42"
    sig = hashlib.sha1("".join(sorted([DT_TOKEN, ts, nonce, encrypted])).encode()).hexdigest()
    return svc.client.post(
        f"/v1/webhooks/dingtalk?msg_signature={sig}&timestamp={ts}&nonce={nonce}",
        content=json.dumps({"encrypt": encrypted}).encode(),
    )


def stored_activities(svc) -> dict[str, dict]:
    found = rows(svc, "SELECT id, occurred_at, payload FROM events WHERE type = 'activity.logged'")
    return {r[0]: {"occurred_at": r[1], "data": json.loads(r[2])["data"]} for r in found}


@pytest.mark.slow
def test_dingtalk_backfill_then_callbacks_store_each_track_once(httpserver, make_service):
    tokens = Tokens("app-backfill", [7200])
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(tokens)
    positions = [None] + [json.loads(p.read_text())["nextToken"] for p in PAGES[:-1]]
    log: list[tuple[int, int | str]] = []

    def tracks(request: Request) -> Response:
        index = positions.index(request.args.get("nextToken"))
        token = request.headers.get("x-acs-dingtalk-access-token")
        assert request.args.get("order") == "asc"
        if token == "tok-1" and index == 2:  # tok-1 expires while the run reads page 3
            log.append((index, 401))
            return Response(
                '{"code": "InvalidAuthentication"}', 401, content_type="application/json"
            )
        if token not in tokens.issued:
            return Response(
                '{"code": "InvalidAuthentication"}', 401, content_type="application/json"
            )
        if index == 1 and (1, 429) not in log:
            log.append((1, 429))
            return Response(
                '{"code": "Throttled"}',
                429,
                headers={"Retry-After": "1"},
                content_type="application/json",
            )
        if index == 2 and (2, 500) not in log:
            log.append((2, 500))
            return Response('{"code": "systemError"}', 500, content_type="application/json")
        log.append((index, token))
        return page_response(index)

    httpserver.expect_request(dingtalk_api.TRACKS_PATH).respond_with_handler(tracks)
    svc = make_service(
        env={
            "QUOTABOARD_DINGTALK_TOKEN": DT_TOKEN,
            "QUOTABOARD_DINGTALK_AES_KEY": DT_AES_KEY,
            "QUOTABOARD_DINGTALK_CORP_ID": DT_CORP,
            "QUOTABOARD_DINGTALK_APP_KEY": "app-backfill",
            "QUOTABOARD_DINGTALK_APP_SECRET": "GT-lsu-taDAxxxsTsxxxx",
            "QUOTABOARD_DINGTALK_API_URL": httpserver.url_for("/").rstrip("/"),
            "QUOTABOARD_MAPPING_FILE": str(ROOT / "mappings" / "example.toml"),
        }
    )
    start = time.monotonic()
    res = svc.cli("backfill", "dingtalk", "--json")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start >= 1.0  # the Retry-After was waited for
    done = json.loads(res.stdout)
    assert done == {"pages": 3, "accepted": 50, "duplicates": 0, "quarantined": 0, "ignored": 0}
    assert (1, 429) in log and (2, 500) in log and (2, 401) in log
    assert tokens.issued == ["tok-1", "tok-2"] and log[-1] == (2, "tok-2")
    assert not (svc.data_dir / "backfill" / "dingtalk.json").exists()

    messages = json.loads((FIXTURES / "dingtalk" / "callbacks.json").read_text())["messages"]
    random.Random(9).shuffle(messages)
    for message in messages:
        resp = post_callback(svc, message)
        assert resp.status_code == 200, resp.text
        assert dt_decrypt(resp.json()["encrypt"]) == "success"
    expected = {e["id"]: e for e in dingtalk_account.canonical()}
    deadline = time.monotonic() + 30
    while len(stored_activities(svc)) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = stored_activities(svc)
    assert set(stored) == set(expected)  # 50 backfilled + 5 new
    assert (
        len(rows(svc, "SELECT id FROM events WHERE type = 'activity.logged'")) == 55
    )  # none twice
    for eid, event in expected.items():
        assert stored[eid]["data"] == event["data"]
        assert stored[eid]["occurred_at"][:19] == event["occurred_at"][:19]


@pytest.mark.parametrize("status", [403, 429])
def test_a_spent_month_is_final_whatever_its_status(httpserver, status):
    """The month's quota decides by its code, not by the HTTP status it comes with."""
    app = f"app-month-{status}"
    httpserver.expect_request(dingtalk_api.TOKEN_PATH, method="POST").respond_with_handler(
        Tokens(app, [7200])
    )
    httpserver.expect_request(dingtalk_api.TRACKS_PATH).respond_with_data(
        '{"code": "Forbidden.AccessDenied.ApiCountLimitForOrg"}',
        status,
        content_type="application/json",
    )
    api = dingtalk_api.DingTalkApi(settings(httpserver, app))
    try:
        with pytest.raises(UpstreamUnavailable, match=str(status)):
            next(api.track_pages())
    finally:
        api.close()
    assert sum(1 for request, _ in httpserver.log if request.path == dingtalk_api.TRACKS_PATH) == 1
