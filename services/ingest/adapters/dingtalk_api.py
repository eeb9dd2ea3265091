"""DingTalk's open API (`api.dingtalk.com`, the "new" server API) for `quotaboard backfill
dingtalk`: an access token from the app's key and secret, then the CRM's customer tracks
page by page. Only shapes DingTalk documents are used (docs/adapters.md says where):

* Token: `POST /v1.0/oauth2/accessToken {"appKey", "appSecret"}` -> `{"accessToken",
  "expireIn"}` (open.dingtalk.com, "获取企业内部应用的accessToken": 7200 s; callers are to
  cache it and not ask often; `400 invalidClientIdOrSecret` for a wrong pair). Cached per
  (API URL, app key) until 90 % of its life has passed (at most 5 minutes early). A 401 from
  a data call drops it and asks for a new one, once: what DingTalk answers for an expired
  token is not in the material we found (401 is our assumption).
* Tracks: `GET /v1.0/crm/customers/tracks?maxResults=&nextToken=&order=asc` with the header
  `x-acs-dingtalk-access-token` (crm_1.0 `QueryAllTracks` of DingTalk's own SDK,
  aliyun/dingtalk-sdk: request {maxResults, nextToken, order}, response {hasMore,
  maxResults, nextToken, values: [{id, bizId, creator, customerId, corpId, type, subType,
  gmtCreate}]}): the fields of the `crm_customer_track` callback's tracks, so one function
  (dingtalk.track_event) makes the same event, with the same id, from both.
* Rate limits (open.dingtalk.com, "调用频次与限流"): 20 calls a second per app and API on a
  standard organisation, answered `Forbidden.AccessDenied.QpsLimitForAppkeyAndApi` /
  `Forbidden.AccessDenied.QpsLimitForApi` (the CRM pages list `400 request.too.frequent`);
  the limit lasts a second, so such an answer, whatever its HTTP status, waits its
  Retry-After or 1 s and is retried, as are 429, 5xx and dropped connections.
  `Forbidden.AccessDenied.ApiCountLimitForOrg` (the month's calls are spent) is final.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from services.ingest.adapters.base import AdapterSettings
from services.ingest.adapters.hubspot_api import UpstreamUnavailable
from services.ingest.adapters.vendor_http import header_wait, httpx_temporary, retrying

TOKEN_PATH = "/v1.0/oauth2/accessToken"
TRACKS_PATH = "/v1.0/crm/customers/tracks"
PAGE_SIZE = 20  # the SDK's documented example; DingTalk names no maximum for this call
SPENT = "Forbidden.AccessDenied.ApiCountLimitForOrg"  # the month's API calls are used up: final
THROTTLED = frozenset(
    {
        "request.too.frequent",
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "Forbidden.AccessDenied.QpsLimitForApi",
    }
)

_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (url, app key) -> (token, valid until)
_lock = threading.Lock()


def _code(response: Any) -> str | None:
    """The new API's error `code` of a response body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def temporary(exc: Exception) -> float | None:
    """A throttled answer waits its Retry-After or the documented second; then as httpx_temporary."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        code = _code(exc.response)
        if code == SPENT:
            return None  # the month's calls are spent, whatever the HTTP status says
        if code in THROTTLED:
            return header_wait(exc.response.headers) or 1.0
    return httpx_temporary(exc)


class DingTalkApi:
    """One client of the open API for one app (key and secret from configuration only)."""

    def __init__(
        self, settings: AdapterSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        import httpx

        if not settings.dingtalk_app_key or settings.dingtalk_app_secret is None:
            raise UpstreamUnavailable(
                "DingTalk's open API is not configured "
                "(QUOTABOARD_DINGTALK_APP_KEY and QUOTABOARD_DINGTALK_APP_SECRET)"
            )
        self.settings, self.clock = settings, clock
        self.key = (settings.dingtalk_api_url, settings.dingtalk_app_key)
        self.client = httpx.Client(base_url=settings.dingtalk_api_url, timeout=30)

    def close(self) -> None:
        self.client.close()

    def token(self) -> str:
        with _lock:
            cached = _tokens.get(self.key)
            if cached is not None and self.clock() < cached[1]:
                return cached[0]

            def ask() -> dict:
                resp = self.client.post(
                    TOKEN_PATH,
                    json={
                        "appKey": self.settings.dingtalk_app_key,
                        "appSecret": self.settings.dingtalk_app_secret.value,
                    },
                )
                resp.raise_for_status()
                return resp.json()

            body = retrying("DingTalk accessToken", ask, temporary)
            token, life = body.get("accessToken"), body.get("expireIn")
            if not isinstance(token, str) or not token or not isinstance(life, int | float):
                raise UpstreamUnavailable(
                    "DingTalk accessToken: the answer has no accessToken/expireIn"
                )
            _tokens[self.key] = (token, self.clock() + life - min(300.0, life * 0.1))
            return token

    def drop_token(self) -> None:
        with _lock:
            _tokens.pop(self.key, None)

    def get(self, path: str, params: dict, what: str) -> dict:
        """A GET with the cached token: retried on throttling, 5xx and transport errors;
        one 401 fetches a new token and tries again."""
        import httpx

        refreshed = {"done": False}

        def call() -> dict:
            resp = self.client.get(
                path, params=params, headers={"x-acs-dingtalk-access-token": self.token()}
            )
            if resp.status_code == 401:
                self.drop_token()
            resp.raise_for_status()
            return resp.json()

        def retry_after(exc: Exception) -> float | None:
            if (
                isinstance(exc, httpx.HTTPStatusError)
                and exc.response.status_code == 401
                and not refreshed["done"]
            ):
                refreshed["done"] = True
                return 0.0
            return temporary(exc)

        return retrying(what, call, retry_after)

    def track_pages(self, next_token: str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Every customer track, oldest first: (tracks, the token of the next page or None)."""
        while True:
            params: dict = {"maxResults": PAGE_SIZE, "order": "asc"}
            if next_token:
                params["nextToken"] = next_token
            body = self.get(TRACKS_PATH, params, f"DingTalk customer tracks at {next_token!r}")
            nxt = body.get("nextToken") if body.get("hasMore") else None
            values = body.get("values")
            yield (values if isinstance(values, list) else []), (str(nxt) if nxt else None)
            if not nxt:
                return
            next_token = str(nxt)
