"""The adapters as gateway routes: `ROUTES[path] = async handler(AdapterRequest) -> (status,
dict, extra headers)` (e.g. Pipedrive's `WWW-Authenticate` on a 401).

Each route reads the vendor secrets from the environment or the service's config file
(`AdapterSettings.from_env`) and the mapping file (`QUOTABOARD_MAPPING_FILE`, re-read when
it changes; checked once when this module is loaded, i.e. when the gateway starts, so a
broken file stops the start with the file's line), builds an
`AdapterContext` around the gateway's `publish`, and runs the vendor's `handle`.

Quarantine of an authentic but malformed body: published to the SALES stream as
`sales.events.quarantine.<source>` with headers `Quotaboard-Quarantine-Reason` and
`Quotaboard-Source`. The payload `{"quarantine": {"source", "reason", "raw"}}` is not a
canonical event, so the recorder puts it in the event log's quarantine table (with the
reason inside the stored raw bytes), in the same path as every other poison message.
When no broker connection is reachable from the request, the item is appended to
`<data>/quarantine/<source>.jsonl` instead (never dropped).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from services.ingest.adapters import dingtalk, hubspot, payments, pipedrive
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterSettings,
    WebhookRequest,
    file_quarantine,
    quarantine_record,
)
from services.ingest.adapters.mapping import Mapping, MappingError, load_mapping

log = logging.getLogger("quotaboard.adapters")

QUARANTINE_SUBJECT = "sales.events.quarantine."

_mapping_cache: dict[tuple, Mapping] = {}


def config_values(settings: Any) -> dict:
    """The top-level keys of the service's config file (vendor tokens may be kept there)."""
    path = getattr(settings, "config_file", None)
    if path is None:
        return {}
    from services.config import _read_toml

    return _read_toml(Path(path))


def adapter_settings(settings: Any = None) -> AdapterSettings:
    return AdapterSettings.from_env(file=config_values(settings))


def current_mapping(settings: AdapterSettings) -> Mapping:
    path = settings.mapping_file
    if path is None:
        return Mapping()
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        mtime = None
    key = (str(path), mtime)
    if key not in _mapping_cache:
        _mapping_cache.clear()
        _mapping_cache[key] = load_mapping(path)
    return _mapping_cache[key]


def _js_of(request: Any):
    js = getattr(request, "js", None)
    if js is None:  # the gateway's bound `publish`: its owner holds the JetStream context
        js = getattr(getattr(request.publish, "__self__", None), "js", None)
    return js


def quarantine_sink(request: Any):
    own = getattr(request, "quarantine", None)
    if callable(own):
        return own
    data_dir = Path(getattr(getattr(request, "settings", None), "data_dir", "./var"))
    fallback = file_quarantine(data_dir / "quarantine")

    async def sink(source: str, reason: str, raw: bytes) -> None:
        js = _js_of(request)
        record = b'{"quarantine": ' + quarantine_record(source, reason, raw) + b"}"
        if js is not None:
            try:
                await js.publish(
                    QUARANTINE_SUBJECT + source.replace(".", "-"),
                    record,
                    headers={
                        "Nats-Msg-Id": "quarantine-" + hashlib.sha256(source.encode() + b"\0" + raw).hexdigest(),
                        "Quotaboard-Quarantine-Reason": reason[:1000],
                        "Quotaboard-Source": source,
                    },
                    timeout=2.0,
                )
                return
            except Exception as exc:  # noqa: BLE001 - fall back to the file, never drop it
                log.warning("quarantine publish failed (%s); writing to %s", exc, data_dir / "quarantine")
        await fallback(source, reason, raw)

    return sink


def _route(module):
    async def route(request) -> tuple[int, dict, tuple[tuple[str, str], ...]]:
        settings = adapter_settings(getattr(request, "settings", None))
        try:
            mapping = current_mapping(settings)
        except MappingError as exc:  # a configuration fault: 500, so the vendor retries later
            log.error("%s", exc)
            return 500, {"error": str(exc)}
        ctx = AdapterContext(
            settings=settings,
            mapping=mapping,
            publish=request.publish,
            quarantine=quarantine_sink(request),
        )
        req = WebhookRequest(
            method=request.method, path=request.path, query=request.query,
            headers={k.lower(): v for k, v in request.headers.items()}, body=request.body,
        )
        response = await module.handle(req, ctx)
        extra = tuple((k, v) for k, v in response.headers if k != "content-type")
        return response.status, json.loads(response.body), extra

    route.__name__ = f"{module.__name__.rsplit('.', 1)[-1]}_webhook"
    return route


ADAPTER_ROUTES = {
    hubspot.PATH: _route(hubspot),
    pipedrive.PATH: _route(pipedrive),
    payments.PATH: _route(payments),
    dingtalk.PATH: _route(dingtalk),
}


def check_mapping_at_start() -> None:
    """A mapping file that cannot be used stops the gateway's start, naming the line."""
    settings = AdapterSettings.from_env()
    if settings.mapping_file is not None:
        try:
            current_mapping(settings)
        except MappingError as exc:
            log.error("%s", exc)
            raise

