"""CRM adapters (owned by the adapters engineer): extra gateway routes.

`ROUTES` maps a path (e.g. "/v1/crm/hubspot") to an async handler
`handler(request: services.gateway.AdapterRequest) -> tuple[int, dict]`.
The gateway reads the body (same 1 MiB limit) and passes `request.publish`, which is
`services.publish.publish_events` on the gateway's broker connection: translate the CRM
payload into canonical events, verify the CRM's own signature, then `await
request.publish(events)`. Raising BrokerUnavailable answers 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

ROUTES: dict[str, Callable[..., Awaitable[tuple[int, dict]]]] = {}


def _register() -> None:
    # The vendor webhooks (HubSpot, Pipedrive, Stripe-scheme payments, DingTalk): see
    # services/adapters/routes.py and docs/adapters.md.
    from services.adapters.routes import ADAPTER_ROUTES

    ROUTES.update(ADAPTER_ROUTES)


_register()
