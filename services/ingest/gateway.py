"""The HTTP gateway: `POST /v1/events` (../shared/contracts/events.md), `GET /healthz` and
`GET /openapi.json` (schemas/openapi.json, generated with the event schemas: every answer
below is in it).

A plain ASGI app served by uvicorn: a few routes need no framework, and owning the body
reading lets the body limit be enforced while reading (413 as soon as the limit is
passed, or at once from Content-Length) and the signature be checked on the exact raw
bytes before anything parses them.

Order of checks for POST /v1/events: signature headers present and timestamp within 5
minutes (401) -> body read up to the limit (413) within `body_timeout` seconds (408,
connection closed) -> HMAC of "{id}.{timestamp}.{body}" compared in constant time against
every space-separated `v1,` signature, with the operator secret's key, then the webhook
secret's (401 if neither) -> decode_events (400 naming the first bad field) -> at most
`max_events` (413) -> a privileged type (services/ingest/trust.py) signed only with the webhook
secret (403, the whole request refused) -> a `ruleset.applied` whose hash is not its
TOML's (400 at `data.ruleset.hash`) -> publish_events, answering 202 only after JetStream
acknowledged every event (503 with Retry-After if the broker is unreachable).

Slow clients: a request must begin (its headers whole) within `body_timeout` seconds of
the connection opening or of the last response, else the connection is closed
(`timed_protocol`); its body must then arrive whole within `body_timeout` seconds (408);
uvicorn answers 503 beyond `max_connections` open connections. So slow or idle senders
cannot hold the process's file descriptors, nor its connection slots, for long.

`accepted` is the number of events of the request that are now in the stream (new or not);
`duplicates` is how many of them JetStream already had (same id within the duplicate
window): re-posting a request answers 202 with duplicates == accepted. `conflicts` lists
the ids already known with other content (services.ingest.publish): in the stream's duplicate
window, or in the event log when this gateway has it beside it (`quotaboard up`; not a
gateway in a container of its own, where the recorder still enters them).

Extra routes (the CRM adapters) come from `services.ingest.adapters.routes.ADAPTER_ROUTES`: path -> async
handler(AdapterRequest) -> (status, json-able body[, extra headers]). The gateway reads the body (with the
same limit) and hands the handler a `publish` that is `publish_events` on its connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files

from events.log import EventLog, LogNotFound, log_path
from schemas.events import ContractError, Event, decode_events
from services.config import Settings
from services.ingest.publish import PublishResult, publish_events
from services.ingest.signing import check_headers, check_signature, secret_key
from services.ingest.trust import (
    check_ruleset_hashes,
    event_path,
    first_privileged,
    privileged_refusal,
)
from services.runtime.broker import BrokerUnavailable, connect, ensure_stream

log = logging.getLogger("quotaboard.gateway")

RETRY_AFTER = "2"


OPERATOR, WEBHOOK = "operator", "webhook"  # which secret signed a request


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


@dataclass
class AdapterRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    publish: Callable[[list[Event]], Awaitable[PublishResult]]
    settings: Settings


class Gateway:
    """The ASGI app. One NATS connection per process, opened at lifespan start and retried
    in the background, so the gateway answers (503) even while the broker is down."""

    def __init__(self, settings: Settings, routes: dict | None = None) -> None:
        if settings.webhook_secret is None:
            raise ValueError("the gateway needs a webhook secret (QUOTABOARD_WEBHOOK_SECRET)")
        self.settings = settings
        self.key = secret_key(settings.webhook_secret.value)
        self.operator_key = secret_key(settings.operator_secret.value) if settings.operator_secret else None
        if routes is None:
            from services.ingest.adapters.routes import ADAPTER_ROUTES as routes  # noqa: N811
            from services.ingest.adapters.routes import check_mapping_at_start

            check_mapping_at_start()  # a mapping file that cannot be used stops the start
        self.routes = dict(routes)
        self.openapi = files("schemas").joinpath("openapi.json").read_bytes()
        self.nc = None
        self.js = None
        self._connector: asyncio.Task | None = None
        self._event_log: EventLog | None = None

    async def publish(self, events: list[Event]) -> PublishResult:
        if self.js is None:
            raise BrokerUnavailable("not connected to the broker yet")
        return await publish_events(self.js, events, log=self._log())

    def _log(self) -> EventLog | None:
        """The event log, read-only, to name conflicts past the duplicate window."""
        if self._event_log is None:
            try:
                self._event_log = EventLog(log_path(self.settings.data_dir), readonly=True)
            except LogNotFound:
                return None
        return self._event_log

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/v1/events":
            if method != "POST":
                await _json(send, 405, {"error": "use POST"}, [(b"allow", b"POST")])
                return
            await self._events(scope, receive, send)
        elif path == "/healthz":
            connected = bool(self.nc is not None and self.nc.is_connected)
            await _json(send, 200, {"ok": True, "broker_connected": connected})
        elif path == "/openapi.json":
            await _send(send, 200, self.openapi)
        elif path in self.routes:
            await self._adapter(self.routes[path], scope, receive, send)
        else:
            await _json(send, 404, {"error": f"no route {path}"})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._connector = asyncio.create_task(self._connect_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._connector is not None:
                    self._connector.cancel()
                if self._event_log is not None:
                    self._event_log.close()
                if self.nc is not None:
                    try:
                        await self.nc.drain()
                    except Exception:  # noqa: BLE001 - closing anyway
                        pass
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _connect_forever(self) -> None:
        while self.nc is None:
            try:
                nc = await connect(self.settings, name="quotaboard-gateway", wait=0)
                js = nc.jetstream(publish_async_max_pending=20_000)
                await ensure_stream(js, self.settings.replicas, self.settings.stream_max_age_days)
                self.nc, self.js = nc, js
                log.info("gateway connected to the broker")
            except BrokerUnavailable as exc:
                log.warning("%s; retrying", exc)
                await asyncio.sleep(1)
            except Exception as exc:  # noqa: BLE001 - keep trying, answer 503 meanwhile
                log.warning("broker set-up failed: %s; retrying", exc)
                await asyncio.sleep(1)

    async def _read_body(self, scope, receive) -> bytes:
        try:
            async with asyncio.timeout(self.settings.body_timeout):
                return await self._read_body_now(scope, receive)
        except TimeoutError:
            raise TooSlow from None

    async def _read_body_now(self, scope, receive) -> bytes:
        limit = self.settings.body_limit
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        raise TooLarge
                except ValueError:
                    pass
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _events(self, scope, receive, send) -> None:
        headers = _headers(scope)
        early = check_headers(headers)  # cheap refusals before reading the body
        if early:
            await _json(send, 401, {"error": early})
            return
        body = await self._body_or_refusal(scope, receive, send)
        if body is None:
            return
        signer, problem = self._authenticate(headers, body)
        if problem:
            await _json(send, 401, {"error": problem})
            return
        try:
            events = decode_events(body)
        except ContractError as exc:
            await _json(send, 400, {"error": exc.reason, "path": exc.path})
            return
        if len(events) > self.settings.max_events:
            await _json(send, 413, {"error": f"{len(events)} events; at most {self.settings.max_events} per request"})
            return
        refusal = _authorize(signer, events, body)
        if refusal:
            await _json(send, *refusal)
            return
        try:
            result = await self.publish(events)
        except BrokerUnavailable as exc:
            log.warning("503: %s", exc)
            await _json(send, 503, {"error": f"broker unavailable: {exc}; retry later"},
                        [(b"retry-after", RETRY_AFTER.encode())])
            return
        await _json(send, 202, {"accepted": result.accepted, "duplicates": result.duplicates,
                                "conflicts": list(result.conflicts)})

    def _authenticate(self, headers: dict[str, str], body: bytes) -> tuple[str | None, str | None]:
        """(who signed: OPERATOR or WEBHOOK, None) or (None, why the signature is refused)."""
        if self.operator_key is not None and check_signature(self.operator_key, headers, body) is None:
            return OPERATOR, None
        problem = check_signature(self.key, headers, body)
        return (None, problem) if problem else (WEBHOOK, None)

    async def _body_or_refusal(self, scope, receive, send) -> bytes | None:
        """The raw body, or None once a 413 (over the limit) or 408 (not sent whole within
        body_timeout) is sent, or the client left. Both refusals close the connection."""
        try:
            return await self._read_body(scope, receive)
        except TooLarge:
            await _json(send, 413, {"error": f"body over {self.settings.body_limit} bytes"},
                        [(b"connection", b"close")])
        except TooSlow:
            await _json(send, 408, {"error": f"body not received within {self.settings.body_timeout:g} seconds"},
                        [(b"connection", b"close")])
        except ConnectionResetError:
            pass
        return None

    async def _adapter(self, handler, scope, receive, send) -> None:
        body = await self._body_or_refusal(scope, receive, send)
        if body is None:
            return
        request = AdapterRequest(
            method=scope["method"], path=scope["path"], query=scope.get("query_string", b"").decode(),
            headers=_headers(scope), body=body, publish=self.publish, settings=self.settings,
        )
        try:
            status, payload, *extra = await handler(request)  # extra: (header, value) pairs
        except BrokerUnavailable as exc:
            await _json(send, 503, {"error": f"broker unavailable: {exc}; retry later"},
                        [(b"retry-after", RETRY_AFTER.encode())])
            return
        await _json(send, status, payload, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra[0] if extra else ())])


def _authorize(signer: str, events: list[Event], body: bytes) -> tuple[int, dict] | None:
    """(status, answer) refusing events the signer may not send or that lie about their
    ruleset, else None. services/ingest/trust.py says who may send what."""
    batch = body.lstrip(b" \t\r\n")[:1] == b"["
    if signer != OPERATOR and (why := privileged_refusal(events)):
        return 403, {"error": why, "path": event_path(first_privileged(events), batch) + ".type"}
    try:
        check_ruleset_hashes(events, batch=batch)
    except ContractError as exc:
        return 400, {"error": exc.reason, "path": exc.path}
    return None


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _json(send, status: int, body: dict, extra: list | None = None) -> None:
    await _send(send, status, json.dumps(body).encode(), extra)


async def _send(send, status: int, data: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def create_app(settings: Settings) -> Gateway:
    return Gateway(settings)


def timed_protocol(head_timeout: float) -> type:
    """uvicorn's h11 protocol with a deadline on what comes before a request's body.

    uvicorn times the idle time after a response (keep-alive) but neither a connection
    that never sends a request nor headers sent a byte at a time: those would hold a
    connection, and with `max_connections` every other client out, for ever. A
    connection whose next request has not begun `head_timeout` seconds after it opened
    (or after its last response) is closed."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_deadline()

        def connection_lost(self, exc) -> None:
            self._head_deadline.cancel()
            super().connection_lost(exc)

        def _arm_head_deadline(self) -> None:
            if getattr(self, "_head_deadline", None) is not None:
                self._head_deadline.cancel()
            self._head_deadline = self.loop.call_later(head_timeout, self._head_too_slow, self.cycle)

        def _head_too_slow(self, cycle) -> None:
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol


def serve(settings: Settings) -> None:
    """Run the gateway with uvicorn until SIGTERM/SIGINT (uvicorn handles both)."""
    import uvicorn

    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port,
        log_level="warning", lifespan="on", access_log=False, limit_concurrency=settings.max_connections,
        http=timed_protocol(settings.body_timeout),
    )
