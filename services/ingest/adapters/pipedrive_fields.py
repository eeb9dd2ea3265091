"""The labels of Pipedrive's single-option fields, read through its API when the mapping
file does not name them.

A single-option custom field arrives as its option id (`{"type": "enum", "id": 37}` in
webhooks v2, `37` in the REST API v2); its label is what the product line (or customer,
or lead source) should say. The mapping file's `[pipedrive.option_labels]` wins; for what
it does not list, `GET /api/v2/dealFields` (Pipedrive's API v2 reference: `data[]` of
`{field_code, field_name, field_type, options: [{id, label}] | null}`, cursor pagination
through `additional_data.next_cursor`) gives every option of every deal field.

The answer is cached per API URL: read again at most once a minute, and only when an
option id is still unknown (an option added in Pipedrive since). An id Pipedrive does not
list either is quarantined by the adapter, naming the field and the id. Needs
`QUOTABOARD_PIPEDRIVE_API_TOKEN` and `QUOTABOARD_PIPEDRIVE_API_URL` (the backfill's).
"""

from __future__ import annotations

import threading
import time

from services.ingest.adapters.base import AdapterSettings
from services.ingest.adapters.hubspot_api import UpstreamUnavailable
from services.ingest.adapters.vendor_http import ATTEMPTS, httpx_temporary, retrying

PATH = "/api/v2/dealFields"
REFRESH_SECONDS = 60.0
FAILED_SECONDS = 30.0  # after a failed read, answer "unavailable" at once for this long
Labels = dict[str, dict[str, str]]  # field code -> option id -> label

_cache: dict[str, tuple[float, Labels]] = {}
_failed: dict[str, tuple[float, UpstreamUnavailable]] = {}
_lock = threading.Lock()


def configured(settings: AdapterSettings) -> bool:
    return settings.pipedrive_api_token is not None and bool(settings.pipedrive_api_url)


def cached(settings: AdapterSettings) -> Labels:
    """What was fetched before (empty if nothing was)."""
    entry = _cache.get(settings.pipedrive_api_url or "")
    return entry[1] if entry else {}


def fetch(settings: AdapterSettings, attempts: int = ATTEMPTS) -> Labels:
    """Every option label of every deal field, page by page (UpstreamUnavailable when
    Pipedrive does not answer usefully after the retries)."""
    import httpx

    labels: Labels = {}
    cursor = None
    with httpx.Client(
        base_url=settings.pipedrive_api_url or "",
        timeout=10,
        headers={"x-api-token": settings.pipedrive_api_token.value},
    ) as client:
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}

            def get(params: dict = params) -> dict:
                resp = client.get(PATH, params=params)
                resp.raise_for_status()
                return resp.json()

            body = retrying(
                f"Pipedrive {PATH} at cursor {cursor!r}", get, httpx_temporary, attempts
            )
            for field in body.get("data") or []:
                code, options = field.get("field_code"), field.get("options")
                if code and isinstance(options, list):
                    labels[str(code)] = {
                        str(o["id"]): str(o["label"])
                        for o in options
                        if isinstance(o, dict) and o.get("id") is not None and o.get("label")
                    }
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return labels


def labels(settings: AdapterSettings, attempts: int = ATTEMPTS) -> Labels:
    """The labels, fetched unless they were fetched less than a minute ago. A failed read
    is remembered for FAILED_SECONDS: webhooks queued behind it answer 503 at once instead
    of each waiting out its own retries against a Pipedrive that is down (and holding a
    worker thread the other vendors' webhooks need)."""
    key = settings.pipedrive_api_url or ""
    with _lock:
        entry = _cache.get(key)
        if entry is not None and time.monotonic() - entry[0] < REFRESH_SECONDS:
            return entry[1]
        failed = _failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < FAILED_SECONDS:
            raise failed[1]
        try:
            fetched = fetch(settings, attempts)
        except UpstreamUnavailable as exc:
            _failed[key] = (time.monotonic(), exc)
            raise
        _failed.pop(key, None)
        _cache[key] = (time.monotonic(), fetched)
        return fetched
