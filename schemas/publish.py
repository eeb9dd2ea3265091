"""Generate the published JSON Schema files and the gateway's OpenAPI document from the
msgspec Structs.

    python -m schemas.publish            # (re)write schemas/*.schema.json, schemas/openapi.json
    python -m schemas.publish --check    # exit 1 if the committed files are stale

`make schemas` runs the first form. The files are committed so that CRM adapters,
editors and BI tools can validate against them without Python; tests/unit/test_schemas.py
fails when they drift from schemas/events.py, schemas/ruleset.py, schemas/notices.py or
schemas/read_models.py.

Output is deterministic: sorted keys, 2-space indent, UTF-8, trailing newline.

Two adjustments to what msgspec generates, so the schema says what the decoder accepts:

* msgspec describes a Decimal as `{"type": "string", "format": "decimal"}`, but the
  decoder (and the contracts: events.md, ruleset.md) also accepts a number, so decimal
  fields become "a decimal string or a number".
* What `__post_init__` checks (money limits, credit shares summing to 1, ascending
  tiers, a timezone-aware `occurred_at`) cannot be said in JSON Schema: a document that
  validates here may still be refused, with a path naming the field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import Event, schema_hook
from schemas.notices import ChangeNotice
from schemas.read_models import KINDS, Statement
from schemas.ruleset import Ruleset

HERE = Path(__file__).resolve().parent
DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF_TEMPLATE = "#/$defs/{name}"

EVENT_FILE = "event.schema.json"
RULESET_FILE = "ruleset.schema.json"
NOTICE_FILE = "notice.schema.json"  # the change notice on quotaboard.changes (asyncapi.json)
READ_MODELS_FILE = "read-models.schema.json"  # the stored documents, cli.md's --json
OPENAPI_FILE = "openapi.json"  # served by the gateway at GET /openapi.json


def _decimals_accept_numbers(node: Any) -> Any:
    """Rewrite every msgspec decimal (string, format decimal) as string-or-number."""
    if isinstance(node, list):
        return [_decimals_accept_numbers(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _decimals_accept_numbers(value) for key, value in node.items()}
    if out.get("type") == "string" and out.get("format") == "decimal":
        del out["type"], out["format"]
        text = {"type": "string", "format": "decimal"}
        if "pattern" in out:  # the event contract's decimals (schemas.events.schema_hook)
            text["pattern"] = out.pop("pattern")
        out["anyOf"] = [text, {"type": "number"}]
    return out


def event_schema() -> dict[str, Any]:
    """One canonical event or a batch (an array of them): what the gateway accepts."""
    (event,), components = msgspec.json.schema_components([Event], schema_hook=schema_hook, ref_template=REF_TEMPLATE)
    for name in ("Event", "EventBatch"):
        if name in components:
            raise RuntimeError(f"a Struct named {name!r} collides with the published $defs name")
    defs = dict(components)
    defs["Event"] = {
        "title": "Event",
        "description": "One canonical event: an envelope whose `type` selects the shape of `data`.",
        **event,
    }
    defs["EventBatch"] = {
        "title": "EventBatch",
        "description": "A batch of canonical events, in order.",
        "type": "array",
        "items": {"$ref": REF_TEMPLATE.format(name="Event")},
    }
    return _decimals_accept_numbers({
        "$schema": DIALECT,
        "title": "quotaboard canonical events",
        "description": (
            "One canonical event or an array of them, as accepted by the gateway and "
            "`quotaboard import` (one event per line). Generated from schemas/events.py "
            "by `make schemas`; do not edit."
        ),
        "anyOf": [
            {"$ref": REF_TEMPLATE.format(name="Event")},
            {"$ref": REF_TEMPLATE.format(name="EventBatch")},
        ],
        "$defs": defs,
    })


def ruleset_schema() -> dict[str, Any]:
    """A ruleset file (TOML, read as the equivalent JSON document)."""
    (ruleset,), components = msgspec.json.schema_components([Ruleset], ref_template=REF_TEMPLATE)
    return _decimals_accept_numbers({
        "$schema": DIALECT,
        "title": "quotaboard ruleset",
        "description": (
            "A ruleset file (<data>/rulesets/*.toml), as the JSON document its TOML reads as. "
            "Generated from schemas/ruleset.py by `make schemas`; do not edit."
        ),
        **ruleset,
        "$defs": components,
    })


def notice_schema() -> dict[str, Any]:
    """The change notice the projector publishes after each commit."""
    _, components = msgspec.json.schema_components([ChangeNotice], ref_template=REF_TEMPLATE)
    return {
        **components["ChangeNotice"],
        "$schema": DIALECT,
        "title": "quotaboard change notice",
        "description": (
            "Published on core NATS `quotaboard.changes` after each read-store commit: the "
            "store reached `position`, the documents of `periods` and `reps` changed "
            "(schemas/asyncapi.json). Generated from schemas/notices.py by `make schemas`; "
            "do not edit."
        ),
    }


def read_models_schema() -> dict[str, Any]:
    """The read-model documents: every kind the projector stores, and the statement a
    reader gets (the rep's standings entry with the stored parts)."""
    kinds = {**KINDS, "statement": Statement, "statement_parts": KINDS["statement"]}
    refs, components = msgspec.json.schema_components(list(kinds.values()), ref_template=REF_TEMPLATE)
    return {
        "$schema": DIALECT,
        "title": "quotaboard read-model documents",
        "description": (
            "The documents the projector stores in readmodels/*.sqlite and the CLI prints with "
            "--json (standings, funnel, statement, unmatched, scorecard, diagnose, weekly, "
            "objections; ../shared/contracts/cli.md). Money and ratios are decimal strings. "
            "Generated from schemas/read_models.py by `make schemas`; do not edit."
        ),
        "anyOf": list(refs),
        "$defs": components,
    }


def _json_body(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}
_SIGNATURE_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Standard Webhooks message id (signed with the body)."},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds; refused when more than 5 minutes from the gateway's clock."},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Space-separated `v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, with the "
                    "key of the `whsec_` webhook secret (or of the operator secret, which alone admits "
                    "`ruleset.applied` and `period.closed`); checked on the raw bytes, in constant time."},
]
ADAPTERS = {  # path -> the vendor and how it authenticates (the adapter modules say more)
    "/v1/webhooks/hubspot": "HubSpot webhooks (X-HubSpot-Signature-v3: HMAC-SHA256 of method, URI, "
                            "body and timestamp).",
    "/v1/webhooks/pipedrive": "Pipedrive webhooks v2 (HTTP basic auth).",
    "/v1/webhooks/payments": "Payments in Stripe's webhook scheme (Stripe-Signature: t=...,v1=...).",
    "/v1/webhooks/dingtalk": "DingTalk encrypted callbacks (msg_signature, timestamp and nonce in the "
                             "query; AES-encrypted body); answered with DingTalk's encrypted `success`.",
}


def openapi_document() -> dict[str, Any]:
    """The gateway's HTTP interface: what it accepts and every answer it gives."""
    (event, batch), components = msgspec.json.schema_components(
        [Event, list[Event]], schema_hook=schema_hook, ref_template="#/components/schemas/{name}")
    refusal = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "what was refused and why, in one sentence"},
        "path": {"type": "string", "description": "the field at fault (contract errors), e.g. `$[0].data.amount`"}}}
    schemas = dict(components)
    schemas.update({
        "EventOrBatch": {"description": "One canonical event or an array of them (at most `max_events`, 500 "
                                        "by default), as in contracts/events.md.",
                         "anyOf": [event, batch]},
        "Accepted": {"type": "object", "required": ["accepted", "duplicates", "conflicts"], "properties": {
            "accepted": {"type": "integer", "description": "events now in the stream, in order"},
            "duplicates": {"type": "integer", "description": "of those, ids the stream already held "
                                                           "(the event log stores every id once in any case)"},
            "conflicts": {"type": "array", "items": {"type": "string"},
                          "description": "ids already known with other content: the first content stays, "
                                         "the conflict is kept (`quotaboard unmatched`)"}}},
        "AdapterAccepted": {"type": "object", "properties": {
            "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
            "ignored": {"type": "integer", "description": "vendor events with no canonical meaning"},
            "quarantined": {"type": "integer", "description": "authentic but malformed parts, kept with a reason"}}},
        "Refusal": refusal,
        "DingTalkReply": {"type": "object", "required": ["msg_signature", "timeStamp", "nonce", "encrypt"],
                          "properties": {k: {"type": "string"} for k in ("msg_signature", "timeStamp", "nonce",
                                                                           "encrypt")}},
        "Health": {"type": "object", "required": ["ok", "broker_connected"], "properties": {
            "ok": {"type": "boolean"}, "broker_connected": {"type": "boolean"}}},
    })
    unavailable = _json_body(_ref("Refusal"), "The broker is unreachable: nothing was stored; retry.", _RETRY_AFTER)
    paths: dict[str, Any] = {
        "/v1/events": {"post": {
            "summary": "Publish canonical events",
            "description": "Verified (signature on the raw body, then the contract) before anything is "
                           "published; 202 only once JetStream has acknowledged every event.",
            "parameters": _SIGNATURE_HEADERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EventOrBatch")}}},
            "responses": {
                "202": _json_body(_ref("Accepted"), "Every event is in the stream."),
                "400": _json_body(_ref("Refusal"), "Not the contract: nothing was published."),
                "401": _json_body(_ref("Refusal"), "Missing, stale or wrong signature: nothing was read."),
                "403": _json_body(_ref("Refusal"), "A type that needs the operator's credential (`ruleset.applied`, "
                                  "`period.closed`, `objection.resolved`, `payout.approved`) signed with the webhook "
                                  "secret: nothing of the request was stored; `path` names the first."),
                "408": _json_body(_ref("Refusal"), "The body did not arrive whole within `body_timeout` seconds; "
                                  "the connection is closed."),
                "413": _json_body(_ref("Refusal"), "Body over `body_limit` bytes or more than `max_events` events."),
                "503": unavailable,
            }},
        },
        "/healthz": {"get": {"summary": "Liveness and broker connection",
                             "responses": {"200": _json_body(_ref("Health"), "The gateway answers.")}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {}}}}}},
    }
    for path, vendor in ADAPTERS.items():
        paths[path] = {"post": {
            "summary": vendor.split(" (")[0],
            "description": vendor + " Translated into canonical events; see docs/adapters.md.",
            "requestBody": {"required": True, "content": {"application/json": {}}},
            "responses": {
                "200": _json_body(_ref("DingTalkReply" if path.endswith("dingtalk") else "AdapterAccepted"),
                                  "Authentic: translated, then published or quarantined."),
                "401": _json_body(_ref("Refusal"), "Not authentic, or the adapter is not configured."),
                "408": _json_body(_ref("Refusal"), "The body did not arrive whole within `body_timeout` seconds."),
                "413": _json_body(_ref("Refusal"), "Body over `body_limit` bytes."),
                "500": _json_body(_ref("Refusal"), "The mapping file is broken: the vendor retries later."),
                "503": unavailable,
            }}}
    paths["/v1/webhooks/pipedrive"]["post"]["responses"]["400"] = _json_body(
        _ref("Refusal"), "A webhooks v1 body: recreate the webhook as version 2.0 (the body is quarantined).")
    return _decimals_accept_numbers({
        "openapi": "3.1.0",
        "info": {"title": "quotaboard gateway", "version": "1",
                 "description": "Webhook intake of quotaboard. Generated from schemas/events.py by "
                                "`make schemas`; do not edit."},
        "paths": paths,
        "components": {"schemas": schemas},
    })


def render(schema: dict[str, Any]) -> str:
    """The deterministic text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated() -> dict[str, str]:
    """File name -> the text it should hold."""
    return {EVENT_FILE: render(event_schema()), RULESET_FILE: render(ruleset_schema()),
            NOTICE_FILE: render(notice_schema()), READ_MODELS_FILE: render(read_models_schema()),
            OPENAPI_FILE: render(openapi_document())}


def stale(folder: Path = HERE) -> list[str]:
    """The published files whose committed text differs from what the code generates."""
    return [
        name for name, text in generated().items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a published file is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        if names:
            print(f"stale: {', '.join(names)}; run `make schemas` and commit them", file=sys.stderr)
            return 1
        return 0
    for name, text in generated().items():
        path = HERE / name
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
