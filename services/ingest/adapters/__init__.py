"""CRM adapters: the vendor webhooks (HubSpot, Pipedrive, Stripe-scheme payments, DingTalk)
as extra gateway routes.

`services.ingest.adapters.routes.ADAPTER_ROUTES` maps a path (e.g. "/v1/crm/hubspot") to an async
handler `handler(request: services.ingest.gateway.AdapterRequest) -> tuple[int, dict]`. The
gateway reads the body (same 1 MiB limit) and passes `request.publish`, which is
`services.ingest.publish.publish_events` on the gateway's broker connection: translate the CRM
payload into canonical events, verify the CRM's own signature, then `await
request.publish(events)`. Raising BrokerUnavailable answers 503 with Retry-After.
See docs/adapters.md.
"""
