"""The published JSON Schemas (schemas/*.schema.json) match the msgspec Structs."""

from __future__ import annotations

import json

import pytest

from schemas import publish
from schemas.events import EVENT_TYPES, TYPE_NAMES


@pytest.mark.parametrize("name", [publish.EVENT_FILE, publish.RULESET_FILE, publish.NOTICE_FILE,
                                  publish.READ_MODELS_FILE, publish.OPENAPI_FILE])
def test_committed_schema_matches_the_code(name):
    committed = (publish.HERE / name).read_text(encoding="utf-8")
    assert committed == publish.generated()[name], (
        f"schemas/{name} is stale: run `make schemas` and commit it"
    )


def test_output_is_deterministic():
    assert publish.generated() == publish.generated()
    for text in publish.generated().values():
        assert text.endswith("}\n")
        json.loads(text)


@pytest.fixture(scope="module")
def events():
    return json.loads((publish.HERE / publish.EVENT_FILE).read_text(encoding="utf-8"))


def test_every_event_type_is_published(events):
    defs = events["$defs"]
    mapping = defs["Event"]["discriminator"]["mapping"]
    assert set(mapping) == set(TYPE_NAMES)
    assert len(defs["Event"]["anyOf"]) == len(EVENT_TYPES)
    for tag, ref in mapping.items():
        member = defs[ref.rsplit("/", 1)[-1]]
        assert member["properties"]["type"] == {"enum": [tag]}
        assert {"type", "id", "occurred_at", "data"} <= set(member["required"])


def test_one_event_or_a_batch(events):
    assert events["$schema"] == publish.DIALECT
    assert events["anyOf"] == [{"$ref": "#/$defs/Event"}, {"$ref": "#/$defs/EventBatch"}]
    assert events["$defs"]["EventBatch"] == {
        "title": "EventBatch",
        "description": "A batch of canonical events, in order.",
        "type": "array",
        "items": {"$ref": "#/$defs/Event"},
    }


def test_deal_won_requires_deal_id(events):
    defs = events["$defs"]
    won = defs[defs["Event"]["discriminator"]["mapping"]["deal.won"].rsplit("/", 1)[-1]]
    data = defs[won["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
    assert "deal_id" in data["required"]
    assert "amount" not in data["required"]


def test_money_is_a_decimal_string_or_a_number(events):
    amount = events["$defs"]["DealCreatedData"]["properties"]["amount"]
    text = {"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"}
    assert amount["anyOf"] == [text, {"type": "number"}]
    assert "18 significant digits and 6 decimals" in amount["description"]
    # No decimal is left string-only: the decoder accepts numbers too.
    decimals = ({"type": "string", "format": "decimal"}, text)  # rulesets' and events'
    found = 0

    def walk(node):
        nonlocal found
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("format") == "decimal":
                assert node in decimals, node
            if any(d in node.get("anyOf", []) for d in decimals):
                found += 1
                assert {"type": "number"} in node["anyOf"], node
            for value in node.values():
                walk(value)

    for text in publish.generated().values():
        walk(json.loads(text))
    assert found > 10


def test_ruleset_schema_forbids_unknown_keys_and_spells_from():
    ruleset = json.loads((publish.HERE / publish.RULESET_FILE).read_text(encoding="utf-8"))
    defs = ruleset["$defs"]
    assert ruleset["$ref"] == "#/$defs/Ruleset"
    assert set(defs["Ruleset"]["required"]) == {"id", "effective_from"}
    for name in ("Ruleset", "Definitions", "Incentive", "Tiered", "Tier", "Bracket"):
        assert defs[name]["additionalProperties"] is False, name
    assert "from" in defs["Tier"]["properties"] and "from_" not in defs["Tier"]["properties"]


def test_check_mode_reports_drift(tmp_path, monkeypatch):
    for name, text in publish.generated().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert publish.stale(tmp_path) == []
    (tmp_path / publish.RULESET_FILE).write_text("{}\n", encoding="utf-8")
    assert publish.stale(tmp_path) == [publish.RULESET_FILE]


def test_openapi_documents_every_route_of_the_gateway():
    """Routes added to the gateway (an adapter, say) must be described in the document."""
    from services.ingest.adapters.routes import ADAPTER_ROUTES as ROUTES

    document = json.loads((publish.HERE / publish.OPENAPI_FILE).read_text(encoding="utf-8"))
    assert set(document["paths"]) == {"/v1/events", "/healthz", "/openapi.json", *ROUTES}


def test_asyncapi_document_is_current_and_names_every_subject():
    """schemas/asyncapi.json is what services.project.notices generates (`make schemas`), and it
    describes the events stream and the change notices with the published schemas."""
    from services.project.notices import ASYNCAPI_FILE, asyncapi_document

    committed = json.loads((publish.HERE / ASYNCAPI_FILE).read_text(encoding="utf-8"))
    generated = json.loads(publish.render(asyncapi_document(committed["info"]["version"])))
    assert committed == generated
    addresses = {c["address"] for c in committed["channels"].values()}
    assert addresses == {"sales.events.>", "quotaboard.changes"}
    refs = {s["$ref"] for s in committed["components"]["schemas"].values()}
    assert refs == {"event.schema.json", "notice.schema.json"}
