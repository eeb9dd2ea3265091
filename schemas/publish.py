"""Generate the published JSON Schema files from the msgspec Structs.

    python -m schemas.publish            # (re)write schemas/*.schema.json
    python -m schemas.publish --check    # exit 1 if the committed files are stale

`make schemas` runs the first form. The files are committed so that CRM adapters,
editors and BI tools can validate against them without Python; tests/test_schemas.py
fails when they drift from schemas/events.py or schemas/ruleset.py.

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

from schemas.events import Event
from schemas.ruleset import Ruleset

HERE = Path(__file__).resolve().parent
DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF_TEMPLATE = "#/$defs/{name}"

EVENT_FILE = "event.schema.json"
RULESET_FILE = "ruleset.schema.json"


def _decimals_accept_numbers(node: Any) -> Any:
    """Rewrite every msgspec decimal (string, format decimal) as string-or-number."""
    if isinstance(node, list):
        return [_decimals_accept_numbers(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _decimals_accept_numbers(value) for key, value in node.items()}
    if out.get("type") == "string" and out.get("format") == "decimal":
        del out["type"], out["format"]
        out["anyOf"] = [{"type": "string", "format": "decimal"}, {"type": "number"}]
    return out


def event_schema() -> dict[str, Any]:
    """One canonical event or a batch (an array of them): what the gateway accepts."""
    (event,), components = msgspec.json.schema_components([Event], ref_template=REF_TEMPLATE)
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


def render(schema: dict[str, Any]) -> str:
    """The deterministic text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated() -> dict[str, str]:
    """File name -> the text it should hold."""
    return {EVENT_FILE: render(event_schema()), RULESET_FILE: render(ruleset_schema())}


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
