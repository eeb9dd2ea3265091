"""Reading HubSpot deals through `hubspot-api-client`, for the backfill and for the
webhook's `deal.creation` (which carries no properties and no company).

One client per portal (a private-app or OAuth token belongs to one portal), built with
urllib3's `Retry`: 429 and 5xx are retried, honouring `Retry-After` (HubSpot's 429s
carry it), with exponential back-off otherwise. A deal becomes a plain record
`{"id", "properties", "history": {property: [(value, millis)]}, "companies": [ids]}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from urllib3.util.retry import Retry

from services.ingest.adapters.base import AdapterSettings
from services.ingest.adapters.mapping import CrmMapping
from services.runtime.broker import BrokerUnavailable

PAGE_SIZE = 50  # HubSpot's most per page when propertiesWithHistory is asked for
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


HANDLED_PROPERTIES = ("dealstage", "amount", "hubspot_owner_id", "dealtype")


def properties_read(m: CrmMapping) -> list[str]:
    """The deal properties the adapter and the backfill read from the API."""
    extra = [f for f in (m.product_line_field, m.customer_field, m.source_channel_field) if f]
    return [*HANDLED_PROPERTIES, "createdate", "deal_currency_code", "hs_lastmodifieddate", *extra]


class UpstreamUnavailable(BrokerUnavailable):
    """The vendor's API did not answer usefully after the retries; safe to retry later
    (a webhook is answered 503, so the vendor redelivers)."""


def retry_policy() -> Retry:
    return Retry(
        total=6,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "POST"),
        respect_retry_after_header=True,
    )


def client(settings: AdapterSettings, portal: str):
    from hubspot import HubSpot

    token = settings.hubspot_tokens.get(str(portal))
    if token is None:
        raise UpstreamUnavailable(
            f"no HubSpot token for portal {portal} (QUOTABOARD_HUBSPOT_TOKEN_{portal})"
        )
    return HubSpot(access_token=token.value, retry=retry_policy(), host=settings.hubspot_api_url)


def millis(value: Any) -> int:
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (dt - EPOCH) // timedelta(milliseconds=1)
    from services.ingest.adapters.base import parse_time

    return millis(parse_time(value))


def _plain(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def record(deal: Any) -> dict:
    """A deal object of the client library as a plain record."""
    d = _plain(deal)
    history = {
        prop: sorted(
            (v.get("value"), millis(v.get("timestamp"))) for v in map(_plain, versions or [])
        )
        for prop, versions in (d.get("properties_with_history") or {}).items()
    }
    companies = ((d.get("associations") or {}).get("companies") or {}).get("results") or []
    return {
        "id": str(d["id"]),
        "properties": d.get("properties") or {},
        "history": history,
        "companies": [str(c["id"]) for c in companies],
    }


def read_deals(settings: AdapterSettings, portal: str, ids: list[str], m: CrmMapping) -> dict:
    """The deals `ids` of one portal, by (portal, id), with their company association;
    None for a deal HubSpot no longer has (404: deleted since)."""
    from hubspot.crm.deals import ApiException

    api = client(settings, portal).crm.deals.basic_api
    out: dict = {}
    for deal_id in ids:
        try:
            deal = api.get_by_id(deal_id, properties=properties_read(m), associations=["companies"])
        except ApiException as exc:
            if exc.status != 404:
                raise UpstreamUnavailable(
                    f"HubSpot deal {deal_id} of portal {portal}: {exc.status} {exc.reason}"
                ) from None
            out[(str(portal), str(deal_id))] = None
            continue
        except Exception as exc:  # noqa: BLE001 - urllib3's MaxRetryError once the retries are spent, ...
            raise UpstreamUnavailable(
                f"HubSpot deal {deal_id} of portal {portal} could not be read: {exc}"
            ) from None
        out[(str(portal), str(deal_id))] = record(deal)
    return out


def deal_pages(
    settings: AdapterSettings, portal: str, m: CrmMapping, after: str | None = None
) -> Iterator[tuple[list[dict], str | None]]:
    """Every deal of a portal, page by page: (records, the cursor of the next page)."""
    api = client(settings, portal).crm.deals.basic_api
    history = [*HANDLED_PROPERTIES, *([m.product_line_field] if m.product_line_field else [])]
    while True:
        try:
            page = api.get_page(
                limit=PAGE_SIZE,
                after=after,
                properties=properties_read(m),
                properties_with_history=history,
                associations=["companies"],
            )
        except Exception as exc:  # noqa: BLE001 - see read_deals
            raise UpstreamUnavailable(
                f"HubSpot deals of portal {portal} after {after!r}: {exc}"
            ) from None
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        yield [record(d) for d in page.results or []], nxt
        if nxt is None:
            return
        after = nxt
