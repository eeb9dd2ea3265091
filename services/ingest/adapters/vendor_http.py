"""Calling a vendor's API without giving up on its first bad second: `retrying` runs a call
again on what the caller says is temporary (a rate limit, a 5xx, a dropped connection),
waiting what the vendor asked for (`Retry-After`) or backing off, a bounded number of
times; then it raises UpstreamUnavailable, which the backfill turns into "run the same
command again to resume" and a webhook into 503 (the vendor redelivers).

Shared by the Pipedrive and Stripe backfills, the Pipedrive option labels and the DingTalk
open API (HubSpot's client retries by itself, through urllib3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from services.ingest.adapters.hubspot_api import UpstreamUnavailable

T = TypeVar("T")
ATTEMPTS = 6


def retrying(
    what: str,
    call: Callable[[], T],
    retry_after: Callable[[Exception], float | None],
    attempts: int = ATTEMPTS,
) -> T:
    """`call()`, retried on what `retry_after` says is temporary (a float: seconds to wait,
    0 for the back-off), at most `attempts` times."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - retry_after decides
            wait = retry_after(exc)
            if wait is None or attempt == attempts - 1:
                raise UpstreamUnavailable(f"{what}: {exc}") from None
            time.sleep(wait or min(0.5 * 2**attempt, 30))
    raise AssertionError("unreachable")


def header_wait(headers: Any) -> float:
    """Seconds of a `Retry-After` header (0 when absent or not a number: back off)."""
    value = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else 0.0
    except ValueError:
        return 0.0


def httpx_temporary(exc: Exception) -> float | None:
    """For httpx calls: 429 and 5xx wait their Retry-After (or back off), a transport
    error backs off, anything else is final."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError) and (
        exc.response.status_code == 429 or exc.response.status_code >= 500
    ):
        return header_wait(exc.response.headers)
    return 0.0 if isinstance(exc, httpx.TransportError) else None
