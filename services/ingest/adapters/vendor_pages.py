"""The vendors' APIs read page by page for `quotaboard backfill`: each source yields
`(TranslateResult, next position)` per page, the position being what resumes it (HubSpot's
`after`, Pipedrive's `cursor`, Stripe's `starting_after`; None once the last page is done).

The events are built by the same functions as the webhooks' (hubspot.deal_facts,
pipedrive.created_events, payments.object_events), so both give the same ids. Rate
limits: HubSpot through urllib3's Retry in the client library (hubspot_api); Pipedrive
(httpx) and Stripe (whose client does not retry a 429) through `retrying`, which honours
Retry-After and backs off otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from services.ingest.adapters import (
    dingtalk,
    dingtalk_api,
    hubspot,
    hubspot_api,
    payments,
    pipedrive,
    pipedrive_fields,
)
from services.ingest.adapters.base import AdapterSettings, Malformed, TranslateResult, parse_time
from services.ingest.adapters.hubspot_api import UpstreamUnavailable
from services.ingest.adapters.mapping import Mapping
from services.ingest.adapters.vendor_http import header_wait, httpx_temporary, retrying

Page = Iterator[tuple[TranslateResult, Any]]


# --- HubSpot -----------------------------------------------------------------------------


def hubspot_pages(
    settings: AdapterSettings, mapping: Mapping, portal: str, after: Any, since: datetime | None
) -> Page:
    for records, nxt in hubspot_api.deal_pages(settings, portal, mapping.hubspot, after):
        out = TranslateResult()
        for rec in records:
            modified = rec["properties"].get("hs_lastmodifieddate")
            if since is not None and modified and parse_time(modified) < since:
                continue
            out.extend(hubspot.deal_facts(portal, rec, mapping.hubspot))
        yield out, nxt


# --- Pipedrive (REST API v2 with httpx) -----------------------------------------------------


def pipedrive_pages(
    settings: AdapterSettings, mapping: Mapping, entity: str, cursor: Any, since: datetime | None
) -> Page:
    import httpx

    if settings.pipedrive_api_token is None or not settings.pipedrive_api_url:
        raise UpstreamUnavailable(
            "Pipedrive is not configured for the backfill "
            "(QUOTABOARD_PIPEDRIVE_API_TOKEN and QUOTABOARD_PIPEDRIVE_API_URL)"
        )
    m = mapping.pipedrive

    with httpx.Client(
        base_url=settings.pipedrive_api_url,
        timeout=30,
        headers={"x-api-token": settings.pipedrive_api_token.value},
    ) as client:
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            if since is not None:
                params["updated_since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")

            def get(params: dict = params) -> dict:
                resp = client.get(f"/api/v2/{entity}", params=params)
                resp.raise_for_status()
                return resp.json()

            body = retrying(f"Pipedrive {entity} at cursor {cursor!r}", get, httpx_temporary)
            out = TranslateResult()
            records = body.get("data") or []
            if entity == "deals" and any(pipedrive.needs_labels(obj, m) for obj in records):
                m = m.with_fetched_labels(pipedrive_fields.labels(settings))
            for obj in records:
                try:
                    if entity == "deals":
                        out.events.extend(pipedrive.created_events(obj, m))
                    else:
                        out.events.append(pipedrive.activity_event(obj, m))
                except (KeyError, TypeError, ValueError) as exc:
                    out.malformed.append(
                        Malformed(f"Pipedrive {entity[:-1]} {obj.get('id')}: {exc}", obj)
                    )
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            yield out, cursor
            if not cursor:
                return


# --- Stripe (the `stripe` client) -------------------------------------------------------------


def stripe_pages(
    settings: AdapterSettings, mapping: Mapping, kind: str, after: Any, since: datetime | None
) -> Page:
    """`charges` (payments, captures and their refunds) or `invoices` (paid ones)."""
    import stripe

    if settings.stripe_api_key is None:
        raise UpstreamUnavailable(
            "Stripe is not configured for the backfill (QUOTABOARD_STRIPE_API_KEY)"
        )
    base = {"api": settings.stripe_api_url} if settings.stripe_api_url else None
    client = stripe.StripeClient(
        settings.stripe_api_key.value, base_addresses=base, max_network_retries=2
    )
    service = client.v1.charges if kind == "charges" else client.v1.invoices

    def temporary(exc: Exception) -> float | None:
        if isinstance(exc, stripe.RateLimitError):
            return header_wait(exc.headers)
        return 0.0 if isinstance(exc, stripe.APIConnectionError) else None

    while True:
        params: dict = {"limit": 100}
        if after:
            params["starting_after"] = after
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        if kind == "charges":
            params["expand"] = ["data.payment_intent", "data.refunds"]
        else:
            params["status"] = "paid"
        page = retrying(
            f"Stripe {kind} after {after!r}", lambda p=params: service.list(params=p), temporary
        )
        out = TranslateResult()
        for obj in page.data:
            raw = obj.to_dict()
            try:
                if kind == "invoices":
                    made = payments.object_events(
                        "invoice.paid",
                        raw,
                        raw.get("created"),
                        mapping.currency,
                        mapping.deal_id_field,
                    )
                else:
                    made = payments.object_events(
                        "charge.succeeded",
                        raw,
                        raw.get("created"),
                        mapping.currency,
                        mapping.deal_id_field,
                    )
                    if raw.get("amount_refunded"):
                        made += payments.object_events(
                            "charge.refunded",
                            raw,
                            raw.get("created"),
                            mapping.currency,
                            mapping.deal_id_field,
                        )
                out.events.extend(made)
            except (KeyError, TypeError, ValueError) as exc:
                out.malformed.append(
                    Malformed(f"Stripe {raw.get('object')} {raw.get('id')}: {exc}", raw)
                )
        after = page.data[-1].id if page.data and page.has_more else None
        yield out, after
        if after is None:
            return


# --- DingTalk (the open API's customer tracks, with httpx) ----------------------------------


def dingtalk_pages(
    settings: AdapterSettings, mapping: Mapping, next_token: Any, since: datetime | None
) -> Page:
    """The customer tracks, as the crm_customer_track callback's events. The API takes no
    date filter: `--since` keeps tracks created from that day (all pages are still read)."""
    api = dingtalk_api.DingTalkApi(settings)
    try:
        for tracks, nxt in api.track_pages(next_token):
            if since is not None:
                tracks = [t for t in tracks if not _before(t, since)]
            yield dingtalk.track_events(tracks, mapping.dingtalk), nxt
    finally:
        api.close()


def _before(track: Any, since: datetime) -> bool:
    try:
        return parse_time(track.get("gmtCreate")) < since
    except (AttributeError, ValueError, OverflowError, OSError):
        return False  # kept: track_events quarantines it with its reason


def streams(vendor: str, settings: AdapterSettings) -> list[str]:
    """The resumable streams of a vendor's backfill, in order."""
    if vendor == "hubspot":
        if not settings.hubspot_tokens:
            raise UpstreamUnavailable(
                "no HubSpot token configured (QUOTABOARD_HUBSPOT_TOKEN_<portal id>)"
            )
        return [f"deals@{portal}" for portal in sorted(settings.hubspot_tokens)]
    if vendor == "pipedrive":
        return ["deals", "activities"]
    if vendor == "dingtalk":
        return ["tracks"]
    return ["charges", "invoices"]


def pages(
    vendor: str,
    stream: str,
    settings: AdapterSettings,
    mapping: Mapping,
    position: Any,
    since: datetime | None,
) -> Page:
    if vendor == "hubspot":
        return hubspot_pages(settings, mapping, stream.split("@", 1)[1], position, since)
    if vendor == "pipedrive":
        return pipedrive_pages(settings, mapping, stream, position, since)
    if vendor == "dingtalk":
        return dingtalk_pages(settings, mapping, position, since)
    return stripe_pages(settings, mapping, stream, position, since)
