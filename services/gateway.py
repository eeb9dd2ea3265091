"""The HTTP gateway: `POST /v1/events` (../shared/contracts/events.md), `GET /healthz` and
`GET /openapi.json` (schemas/openapi.json, generated with the event schemas: every answer
below is in it).

A plain ASGI app served by uvicorn: a few routes need no framework, and owning the body
reading lets the body limit be enforced while reading (413 as soon as the limit is
passed, or at once from Content-Length) and the signature be checked on the exact raw
bytes before anything parses them.

Order of checks for POST /v1/events: signature headers present and timestamp within 5
minutes (401) -> body read up to the limit (413) -> HMAC of "{id}.{timestamp}.{body}"
compared in constant time against every space-separated `v1,` signature (401) ->
decode_events (400 naming the first bad field) -> at most `max_events` (413) ->
publish_events, answering 202 only after JetStream acknowledged every event (503 with
Retry-After if the broker is unreachable).

`accepted` is the number of events of the request that are now in the stream (new or not);
`duplicates` is how many of them JetStream already had (same id within the duplicate
window): re-posting a request answers 202 with duplicates == accepted.

Extra routes (the CRM adapters) come from `services.adapters.ROUTES`: path -> async
handler(AdapterRequest) -> (status, json-able body[, extra headers]). The gateway reads the body (with the
same limit) and hands the handler a `publish` that is `publish_events` on its connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files

from schemas.events import ContractError, Event, decode_events
from services.broker import BrokerUnavailable, connect, ensure_stream
from services.config import Settings
from services.publish import PublishResult, publish_events

log = logging.getLogger("quotaboard.gateway")

TOLERANCE = 5 * 60  # seconds
RETRY_AFTER = "2"


class TooLarge(Exception):
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


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value for a body (used by tests, the demo and adapters)."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def check_headers(headers: dict[str, str], now: float | None = None) -> str | None:
    """None if the signature headers are present and the timestamp is fresh, else why not."""
    if not all(headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    try:
        stamp = int(headers["webhook-timestamp"])
    except ValueError:
        return "webhook-timestamp is not Unix seconds"
    now = time.time() if now is None else now
    if abs(now - stamp) > TOLERANCE:
        return "webhook-timestamp is more than 5 minutes from now"
    return None


def check_signature(key: bytes, headers: dict[str, str], body: bytes, now: float | None = None) -> str | None:
    """None if the Standard Webhooks signature is valid, else the reason."""
    problem = check_headers(headers, now)
    if problem:
        return problem
    msg_id, ts, sigs = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    expected = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ok = False
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        ok |= hmac.compare_digest(given, expected)
    return None if ok else "no valid v1 signature"


class Gateway:
    """The ASGI app. One NATS connection per process, opened at lifespan start and retried
    in the background, so the gateway answers (503) even while the broker is down."""

    def __init__(self, settings: Settings, routes: dict | None = None) -> None:
        if settings.webhook_secret is None:
            raise ValueError("the gateway needs a webhook secret (QUOTABOARD_WEBHOOK_SECRET)")
        self.settings = settings
        self.key = secret_key(settings.webhook_secret.value)
        if routes is None:
            from services.adapters.routes import ADAPTER_ROUTES as routes  # noqa: N811
        self.routes = dict(routes)
        self.openapi = files("schemas").joinpath("openapi.json").read_bytes()
        self.nc = None
        self.js = None
        self._connector: asyncio.Task | None = None

    async def publish(self, events: list[Event]) -> PublishResult:
        if self.js is None:
            raise BrokerUnavailable("not connected to the broker yet")
        return await publish_events(self.js, events)

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
        problem = check_signature(self.key, headers, body)
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
        try:
            result = await self.publish(events)
        except BrokerUnavailable as exc:
            log.warning("503: %s", exc)
            await _json(send, 503, {"error": f"broker unavailable: {exc}; retry later"},
                        [(b"retry-after", RETRY_AFTER.encode())])
            return
        await _json(send, 202, {"accepted": result.accepted, "duplicates": result.duplicates})

    async def _body_or_refusal(self, scope, receive, send) -> bytes | None:
        """The raw body, or None once a 413 is sent (over the limit) or the client left."""
        try:
            return await self._read_body(scope, receive)
        except TooLarge:
            await _json(send, 413, {"error": f"body over {self.settings.body_limit} bytes"},
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


def serve(settings: Settings) -> None:
    """Run the gateway with uvicorn until SIGTERM/SIGINT (uvicorn handles both)."""
    import uvicorn

    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port,
        log_level="warning", lifespan="on", access_log=False,
    )
