"""What every webhook adapter shares.

An adapter is two pure functions and a thin handler:

* `verify(request, settings, now) -> None`, raising `AuthError` when the request is not
  authentic (wrong/missing/stale signature or credentials). Nothing is stored then: 401.
* `translate(payload, mapping) -> TranslateResult(events, ignored, malformed)`: canonical
  events, how many vendor events were deliberately ignored, and the authentic-but-unusable
  ones with a reason (they are quarantined, never dropped silently).

`handle_webhook` runs them: 401 on `AuthError`; malformed parts quarantined; events
published through `publish_events` (503 + Retry-After when the broker is down, so the
vendor retries); 200 with counts for everything authentic, including ignored events.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from schemas.events import ContractError, Event, convert_event

log = logging.getLogger("quotaboard.adapters")

TOLERANCE_SECONDS = 300  # the 5-minute window of every timestamped signature


class AuthError(Exception):
    """The request is not authentic. The message is safe to show (no secret in it)."""


class NotConfigured(AuthError):
    """The adapter has no secret configured: every request is refused (401)."""


@dataclass(frozen=True)
class Malformed:
    reason: str
    raw: Any  # the vendor's event (or the whole body) that could not be used


@dataclass
class TranslateResult:
    events: list[Event] = field(default_factory=list)
    ignored: int = 0
    malformed: list[Malformed] = field(default_factory=list)

    def extend(self, other: TranslateResult) -> None:
        self.events.extend(other.events)
        self.ignored += other.ignored
        self.malformed.extend(other.malformed)


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    query: str  # raw query string, without '?'
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_params(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)

    @classmethod
    def json(
        cls, status: int, obj: Any, extra: tuple[tuple[str, str], ...] = ()
    ) -> WebhookResponse:
        return cls(status, json.dumps(obj).encode(), (("content-type", "application/json"), *extra))


# --- settings -----------------------------------------------------------------------


class _Secret:
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True)
class AdapterSettings:
    """Vendor secrets, API tokens and the mapping file: `QUOTABOARD_*` environment
    variables, else the same keys (lower case, without the prefix) at the top of the
    config file (services/config.py); never argv. HubSpot tokens are per portal:
    `QUOTABOARD_HUBSPOT_TOKEN_<portal id>` or `[hubspot_tokens] "<portal id>" = "..."`."""

    hubspot_client_secret: _Secret | None = None
    hubspot_public_url: str | None = None
    pipedrive_user: str | None = None
    pipedrive_password: _Secret | None = None
    stripe_secret: _Secret | None = None
    dingtalk_token: _Secret | None = None
    dingtalk_aes_key: _Secret | None = None
    dingtalk_corp_id: str | None = None
    mapping_file: Path | None = None
    hubspot_tokens: dict[str, _Secret] = field(default_factory=dict)  # portal id -> token
    hubspot_api_url: str = "https://api.hubapi.com"
    pipedrive_api_token: _Secret | None = None
    pipedrive_api_url: str | None = None  # https://<company>.pipedrive.com
    stripe_api_key: _Secret | None = None
    stripe_api_url: str | None = None  # only to point the client elsewhere (tests)
    dingtalk_app_key: str | None = None  # the internal app's Client ID (AppKey), for the open API
    dingtalk_app_secret: _Secret | None = None  # its Client Secret (AppSecret)
    dingtalk_api_url: str = "https://api.dingtalk.com"

    @classmethod
    def from_env(
        cls, env: dict[str, str] | None = None, file: dict | None = None
    ) -> AdapterSettings:
        env = os.environ if env is None else env
        file = file or {}

        def get(name: str) -> str | None:
            value = env.get("QUOTABOARD_" + name) or file.get(name.lower())
            return str(value) if value not in (None, "") else None

        def secret(name: str) -> _Secret | None:
            value = get(name)
            return _Secret(value) if value else None

        tokens = {
            str(k): _Secret(str(v)) for k, v in (file.get("hubspot_tokens") or {}).items() if v
        }
        for name, value in env.items():
            if name.startswith("QUOTABOARD_HUBSPOT_TOKEN_") and value:
                tokens[name.removeprefix("QUOTABOARD_HUBSPOT_TOKEN_")] = _Secret(value)
        mapping = get("MAPPING_FILE")
        return cls(
            hubspot_client_secret=secret("HUBSPOT_CLIENT_SECRET"),
            hubspot_public_url=get("HUBSPOT_PUBLIC_URL"),
            pipedrive_user=get("PIPEDRIVE_USER"),
            pipedrive_password=secret("PIPEDRIVE_PASSWORD"),
            stripe_secret=secret("STRIPE_SECRET"),
            dingtalk_token=secret("DINGTALK_TOKEN"),
            dingtalk_aes_key=secret("DINGTALK_AES_KEY"),
            dingtalk_corp_id=get("DINGTALK_CORP_ID"),
            mapping_file=Path(mapping) if mapping else None,
            hubspot_tokens=tokens,
            hubspot_api_url=(get("HUBSPOT_API_URL") or "https://api.hubapi.com").rstrip("/"),
            pipedrive_api_token=secret("PIPEDRIVE_API_TOKEN"),
            pipedrive_api_url=(get("PIPEDRIVE_API_URL") or "").rstrip("/") or None,
            stripe_api_key=secret("STRIPE_API_KEY"),
            stripe_api_url=(get("STRIPE_API_URL") or "").rstrip("/") or None,
            dingtalk_app_key=get("DINGTALK_APP_KEY"),
            dingtalk_app_secret=secret("DINGTALK_APP_SECRET"),
            dingtalk_api_url=(get("DINGTALK_API_URL") or "https://api.dingtalk.com").rstrip("/"),
        )


# --- small helpers ----------------------------------------------------------------


def ct_equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison of two strings/bytes."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


def from_millis(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def from_seconds(s: Any) -> datetime:
    return datetime.fromtimestamp(int(s), tz=UTC)


def parse_time(value: Any) -> datetime:
    """A vendor timestamp: epoch seconds/millis, ISO 8601 with Z/offset, or
    `YYYY-MM-DD HH:MM:SS` (UTC, as Pipedrive v1 writes it)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        n = int(value)
        return from_millis(n) if n > 10**11 else from_seconds(n)
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def to_decimal(value: Any) -> Decimal:
    """A vendor number as a Decimal, never through a binary float's noise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def vendor_decimal(name: str, value: Any) -> Decimal:
    """A vendor amount, or ValueError naming the vendor field: `value = 'lots' is not a number`."""
    try:
        d = to_decimal(value)
    except ValueError:
        raise VendorFieldError(f"{name} = {value!r} is not a number") from None
    if d < 0:
        raise VendorFieldError(f"{name} = {value!r} is negative")
    return d


def make_event(obj: dict, origin: dict[str, str] | None = None) -> Event:
    """Build a canonical event from a dict, validated by the contract.

    `origin` names, per canonical data field, the vendor field it came from (e.g.
    {"amount": "properties.amount = '-3'"}): a value the contract refuses is then
    reported as the vendor payload's problem, not as a canonical path."""
    try:
        return convert_event(obj)
    except ContractError as err:
        key = (
            err.path.removeprefix("$.data.").split(".", 1)[0]
            if err.path.startswith("$.data.")
            else None
        )
        if origin and key in origin:
            raise VendorFieldError(f"{origin[key]}: {err.reason}") from None
        raise VendorFieldError(
            f"the vendor payload gives no usable {key or err.path} for {obj.get('type')}: {err.reason}"
        ) from None


class VendorFieldError(ValueError):
    """A vendor payload whose field cannot make a canonical event; the message names the
    vendor's field and value."""


def stage_event(
    meaning: str, eid: str, env: dict, deal_id: str, *, amount: Any = None, reason: Any = None
) -> dict:
    """What a CRM stage move means canonically: won (with its amount), lost, or a stage."""
    if meaning == "won":
        data = {"deal_id": deal_id}
        if amount not in (None, ""):
            data["amount"] = str(vendor_decimal("value", amount))
        return {"id": eid, "type": "deal.won", **env, "data": data}
    if meaning == "lost":
        data = {"deal_id": deal_id}
        if reason:
            data["reason"] = str(reason)
        return {"id": eid, "type": "deal.lost", **env, "data": data}
    return {
        "id": eid,
        "type": "deal.stage_changed",
        **env,
        "data": {"deal_id": deal_id, "stage": meaning},
    }


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the handler flow ---------------------------------------------------------------

Publish = Callable[[list[Event]], Awaitable[Any]]  # returns something with accepted/duplicates
Quarantine = Callable[[str, str, bytes], Awaitable[None]]  # (source, reason, raw)


@dataclass
class AdapterContext:
    settings: AdapterSettings
    mapping: Any  # services.ingest.adapters.mapping.Mapping
    publish: Publish
    quarantine: Quarantine
    now: Callable[[], float] = field(default=lambda: __import__("time").time())
    publish_timeout: float | None = None


def quarantine_record(source: str, reason: str, raw: Any) -> bytes:
    """One quarantined item as JSON: the source, the reason and the raw vendor text."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, ensure_ascii=False, default=str)
    return json.dumps(
        {
            "source": source,
            "reason": reason,
            "raw": text,
            "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        },
        ensure_ascii=False,
    ).encode()


def file_quarantine(directory: Path) -> Quarantine:
    """A quarantine sink appending JSON Lines to `<directory>/<source>.jsonl`."""

    async def sink(source: str, reason: str, raw: bytes) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        line = quarantine_record(source, reason, raw) + b"\n"
        with open(directory / f"{source}.jsonl", "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    return sink


async def finish(source: str, result: TranslateResult, ctx: AdapterContext) -> WebhookResponse:
    """Quarantine the malformed parts, publish the events, answer with the counts.

    Raises BrokerUnavailable when the broker cannot take the events (the gateway answers
    503 with Retry-After, the vendor retries, and the retry is idempotent)."""
    from services.runtime.broker import BrokerUnavailable

    accepted = duplicates = 0
    if result.events:
        try:
            if ctx.publish_timeout is not None:
                outcome = await asyncio.wait_for(ctx.publish(result.events), ctx.publish_timeout)
            else:
                outcome = await ctx.publish(result.events)
        except TimeoutError:
            raise BrokerUnavailable(
                f"the broker did not acknowledge within {ctx.publish_timeout}s"
            ) from None
        accepted, duplicates = outcome.accepted, outcome.duplicates
    # after the events: a retry (503 above) re-publishes idempotently, and only then quarantines
    for bad in result.malformed:
        log.warning("%s: quarantined: %s", source, bad.reason)
        raw = (
            bad.raw
            if isinstance(bad.raw, bytes)
            else json.dumps(bad.raw, ensure_ascii=False, default=str).encode()
        )
        await ctx.quarantine(source, bad.reason, raw)
    if result.ignored:
        log.info("%s: ignored %d event(s)", source, result.ignored)
    return WebhookResponse.json(
        200,
        {
            "accepted": accepted,
            "duplicates": duplicates,
            "ignored": result.ignored,
            "quarantined": len(result.malformed),
        },
    )


async def handle_json(
    source: str,
    req: WebhookRequest,
    ctx: AdapterContext,
    verify: Callable,
    translate: Callable[[Any], TranslateResult | Awaitable[TranslateResult]],
) -> WebhookResponse:
    """The common shape of a JSON webhook: authenticate, parse, translate (a coroutine where
    the vendor must be asked for more, as HubSpot for a new deal's company), publish."""
    try:
        verify(req, ctx.settings, ctx.now())
    except AuthError as exc:
        return refuse(source, exc)
    try:
        payload = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return await finish(
            source,
            TranslateResult(malformed=[Malformed(f"body is not JSON: {exc}", req.body)]),
            ctx,
        )
    result = translate(payload)
    if inspect.isawaitable(result):
        result = await result
    return await finish(source, result, ctx)


def refuse(source: str, exc: AuthError, extra: tuple[tuple[str, str], ...] = ()) -> WebhookResponse:
    log.warning("%s: refused: %s", source, exc)
    return WebhookResponse.json(401, {"error": str(exc)}, extra)


def check_currency(currency: Any, m: Any, where: str) -> None:
    """A deal or payment in another currency than the deployment's is quarantined (the
    log holds one currency; no conversion table is configured)."""
    expected = getattr(m, "currency", None)
    if expected and currency not in (None, "") and str(currency).upper() != expected:
        raise VendorFieldError(
            f"{where} = {str(currency).upper()!r} is not the deployment's currency {expected}"
        )


__all__ = [
    "AuthError",
    "NotConfigured",
    "Malformed",
    "TranslateResult",
    "WebhookRequest",
    "WebhookResponse",
    "AdapterSettings",
    "AdapterContext",
    "ContractError",
    "make_event",
    "finish",
    "refuse",
    "ct_equal",
    "parse_time",
    "to_decimal",
    "from_millis",
    "VendorFieldError",
    "vendor_decimal",
    "check_currency",
]
