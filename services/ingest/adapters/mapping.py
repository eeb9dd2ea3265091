"""The mapping file: what a CRM's own ids mean in canonical events.

One TOML file (`QUOTABOARD_MAPPING_FILE`, example: `mappings/example.toml`) with one
section per CRM: `[hubspot]`, `[pipedrive]`, `[dingtalk]`, and `[payments]`. A CRM section:

    product_line_field = "product_line"   # the deal property / custom field key holding it
    default_product_line = "general"      # when the deal does not say
    customer_field = "company_id"         # optional: the deal property holding the customer
    source_channel_field = "lead_source"  # optional: the deal property holding the lead source
    deal_id_prefix = ""                   # optional: "hs-" makes deal 42 "hs-42" (two CRMs at once)
    [hubspot.stages]                      # canonical meaning -> the CRM's stage ids
    lead = ["appointmentscheduled"]
    qualified = ["qualifiedtobuy"]
    negotiation = ["presentationscheduled", "contractsent"]
    won = ["closedwon"]
    lost = ["closedlost"]
    [hubspot.owners]                      # the CRM's owner/user id -> rep_id
    "12345" = "zhang"
    [pipedrive.activity_kinds]            # the CRM's activity type -> canonical kind
    call = "call"

    [pipedrive.option_labels."<field key>"]  # a single-option field's option id -> label
    37 = "B"
    [hubspot.deal_kinds]                  # dealtype -> new/renewal/upsell
    newbusiness = "new"
    [hubspot.portals]                     # portal id -> deal id prefix (several portals)
    "33" = ""

`[payments] currency = "CNY"` (optional) is the deployment's one currency: a deal or a
payment in another one is quarantined, by every adapter and the backfill; Stripe's minor
units are converted with that currency's exponent. `[payments] deal_id_field` (default
`deal_id`) is the metadata key holding the deal id on PaymentIntents and invoices.

The webhooks and `quotaboard backfill` read the same file; it is checked when the gateway
starts and when a backfill starts, and every error names the file and the line.

Ids are compared as strings, so `stage_id = 3` in Pipedrive matches `"3"` or `3` here.
An owner id missing from `owners` is passed through as the rep id (it shows up as an
unknown rep instead of being dropped); add it to the file to name the rep.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Meaning = Literal["lead", "qualified", "negotiation", "won", "lost"]
MEANINGS: tuple[str, ...] = ("lead", "qualified", "negotiation", "won", "lost")
ACTIVITY_KINDS = ("call", "visit", "meeting", "email", "demo", "other")
DEAL_KINDS = ("new", "renewal", "upsell")
# HubSpot's two default `dealtype` options (New Business / Existing Business)
HUBSPOT_DEAL_KINDS = {"newbusiness": "new", "existingbusiness": "renewal"}


class MappingError(Exception):
    """The mapping file cannot be used; the message names the file, the line and the key."""


@dataclass(frozen=True)
class CrmMapping:
    stages: dict[str, str] = field(default_factory=dict)  # CRM stage id -> meaning
    owners: dict[str, str] = field(default_factory=dict)  # CRM owner id -> rep_id
    activity_kinds: dict[str, str] = field(default_factory=dict)
    option_labels: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # field -> option id -> label
    deal_kinds: dict[str, str] = field(default_factory=dict)  # CRM deal type -> new/renewal/upsell
    portals: dict[str, str] = field(default_factory=dict)  # HubSpot portal id -> deal id prefix
    product_line_field: str | None = None
    default_product_line: str = "unknown"
    customer_field: str | None = None
    source_channel_field: str | None = None
    deal_id_prefix: str = ""
    currency: str | None = None  # the deployment's currency ([payments] currency)
    labels_fetched: bool = False  # option_labels include those read from the CRM's API

    def deal_id(self, crm_id: object) -> str:
        return f"{self.deal_id_prefix}{crm_id}"

    def stage(self, stage_id: object) -> str | None:
        if stage_id is None:
            return None
        return self.stages.get(str(stage_id))

    def rep(self, owner_id: object) -> str | None:
        if owner_id is None or owner_id == "":
            return None
        key = str(owner_id)
        return self.owners.get(key, key)

    def activity_kind(self, kind: object) -> str:
        text = str(kind or "").strip().lower()
        if text in self.activity_kinds:
            return self.activity_kinds[text]
        return text if text in ACTIVITY_KINDS else "other"

    def deal_kind(self, crm_kind: object) -> str | None:
        """The canonical kind of a CRM deal type; None when the mapping does not name it."""
        if crm_kind in (None, ""):
            return None
        text = str(crm_kind).strip()
        return self.deal_kinds.get(text) or self.deal_kinds.get(text.lower())

    def option_label(self, field_key: str, option_id: object) -> str | None:
        return self.option_labels.get(field_key, {}).get(str(option_id))

    def with_fetched_labels(self, fetched: dict[str, dict[str, str]]) -> CrmMapping:
        """This mapping plus option labels read from the CRM (services/ingest/adapters/
        pipedrive_fields.py); a label the file gives wins over the fetched one."""
        merged = {key: dict(options) for key, options in fetched.items()}
        for key, options in self.option_labels.items():
            merged.setdefault(key, {}).update(options)
        return replace(self, option_labels=merged, labels_fetched=True)


@dataclass(frozen=True)
class Mapping:
    hubspot: CrmMapping = field(default_factory=CrmMapping)
    pipedrive: CrmMapping = field(default_factory=CrmMapping)
    dingtalk: CrmMapping = field(default_factory=CrmMapping)
    currency: str | None = None  # [payments] currency
    deal_id_field: str = "deal_id"  # [payments] deal_id_field: the metadata key
    path: Path | None = None

    def crm(self, name: str) -> CrmMapping:
        return getattr(self, name)


class _Where:
    """Names a key of the file as `path:line: [section] key` (tomllib keeps no positions,
    so the line is found in the text: the key's line inside its table, else the table's)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")

    def __init__(self, name: str, text: str | None) -> None:
        self.name = name
        self.lines = (text or "").splitlines()

    def _norm(self, header: str) -> str:
        return ".".join(part.strip().strip('"').strip("'") for part in header.split("."))

    def line(self, table: str, key: object = None) -> int | None:
        current, table_line = "", None
        for number, raw in enumerate(self.lines, start=1):
            header = self._HEADER.match(raw)
            if header:
                current = self._norm(header.group(1))
                if current == table:
                    table_line = number
                continue
            if current == table and key is not None:
                lhs = raw.split("=", 1)[0].strip().strip('"').strip("'")
                if "=" in raw and lhs == str(key):
                    return number
        if table_line is None and "." in table:  # `owners = 3` inside [hubspot]: a key, not a table
            parent, last = table.rsplit(".", 1)
            return self.line(parent, last)
        return table_line

    def __call__(self, table: str, key: object = None) -> str:
        number = self.line(table, key)
        at = f"{self.name}:{number}" if number else self.name
        return f"{at}: [{table}]" + (f" {key}" if key is not None else "")


def _table(value: Any, where: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise MappingError(f"{where} must be a table of {what}")
    return value


def _crm(section: Any, name: str, w: _Where, currency: str | None) -> CrmMapping:
    _table(section, w(name), "settings")
    stages: dict[str, str] = {}
    for meaning, ids in _table(
        section.get("stages", {}), w(f"{name}.stages"), "meaning = [stage ids]"
    ).items():
        if meaning not in MEANINGS:
            raise MappingError(
                f"{w(f'{name}.stages', meaning)}: {meaning!r} is not one of {', '.join(MEANINGS)}"
            )
        for stage_id in ids if isinstance(ids, list) else [ids]:
            key = str(stage_id)
            if key in stages and stages[key] != meaning:
                raise MappingError(
                    f"{w(f'{name}.stages', meaning)}: stage id {key!r} is listed as both {stages[key]} and {meaning}"
                )
            stages[key] = meaning
    owners = _table(section.get("owners", {}), w(f"{name}.owners"), "owner ids = rep ids")
    for owner, rep in owners.items():
        if not isinstance(rep, str) or not rep:
            raise MappingError(
                f"{w(f'{name}.owners', owner)}: the rep id must be a non-empty string"
            )
    kinds = _table(
        section.get("activity_kinds", {}), w(f"{name}.activity_kinds"), "CRM type = kind"
    )
    for crm_kind, kind in kinds.items():
        if kind not in ACTIVITY_KINDS:
            raise MappingError(
                f"{w(f'{name}.activity_kinds', crm_kind)}: {kind!r} is not one of {', '.join(ACTIVITY_KINDS)}"
            )
    deal_kinds = dict(HUBSPOT_DEAL_KINDS) if name == "hubspot" else {}
    for crm_kind, kind in _table(
        section.get("deal_kinds", {}), w(f"{name}.deal_kinds"), "CRM deal type = kind"
    ).items():
        if kind not in DEAL_KINDS:
            raise MappingError(
                f"{w(f'{name}.deal_kinds', crm_kind)}: {kind!r} is not one of {', '.join(DEAL_KINDS)}"
            )
        deal_kinds[str(crm_kind)] = kind
    labels: dict[str, dict[str, str]] = {}
    for field_key, options in _table(
        section.get("option_labels", {}),
        w(f"{name}.option_labels"),
        "field key = {option id = label}",
    ).items():
        table = f"{name}.option_labels.{field_key}"
        for option_id, label in _table(options, w(table), "option id = label").items():
            if not isinstance(label, str) or not label:
                raise MappingError(f"{w(table, option_id)}: the label must be a non-empty string")
        labels[str(field_key)] = {str(k): v for k, v in options.items()}
    portals = _table(section.get("portals", {}), w(f"{name}.portals"), "portal id = deal id prefix")
    for portal, prefix in portals.items():
        if not isinstance(prefix, str) or not str(portal).isdigit():
            raise MappingError(
                f"{w(f'{name}.portals', portal)}: a numeric portal id = a deal id prefix (string)"
            )

    def opt(key: str) -> str | None:
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise MappingError(f"{w(name, key)}: must be a non-empty string")
        return value

    prefix = section.get("deal_id_prefix", "")
    if not isinstance(prefix, str):
        raise MappingError(f"{w(name, 'deal_id_prefix')}: must be a string")
    known = {
        "stages",
        "owners",
        "activity_kinds",
        "deal_kinds",
        "option_labels",
        "portals",
        "product_line_field",
        "default_product_line",
        "customer_field",
        "source_channel_field",
        "deal_id_prefix",
    }
    for key in section:
        if key not in known:
            raise MappingError(
                f"{w(name, key)}: unknown key; expected one of {', '.join(sorted(known))}"
            )
    return CrmMapping(
        stages=stages,
        owners={str(k): v for k, v in owners.items()},
        activity_kinds={str(k).lower(): v for k, v in kinds.items()},
        option_labels=labels,
        deal_kinds=deal_kinds,
        portals={str(k): v for k, v in portals.items()},
        product_line_field=opt("product_line_field"),
        default_product_line=opt("default_product_line") or "unknown",
        customer_field=opt("customer_field"),
        source_channel_field=opt("source_channel_field"),
        deal_id_prefix=prefix,
        currency=currency,
    )


def parse_mapping(data: dict, where: str = "mapping", text: str | None = None) -> Mapping:
    """The mapping from parsed TOML; `text` (the file's) lets errors name the line."""
    w = _Where(where, text)
    known = {"hubspot", "pipedrive", "dingtalk", "payments"}
    unknown = set(data) - known
    if unknown:
        first = sorted(unknown)[0]
        raise MappingError(
            f"{w(first)}: unknown section(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}"
        )
    payments = _table(data.get("payments", {}), w("payments"), "settings")
    currency = payments.get("currency")
    if currency is not None and (
        not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha()
    ):
        raise MappingError(f'{w("payments", "currency")}: must be a 3-letter ISO code like "CNY"')
    deal_id_field = payments.get("deal_id_field", "deal_id")
    if not isinstance(deal_id_field, str) or not deal_id_field:
        raise MappingError(
            f"{w('payments', 'deal_id_field')}: must be a metadata key (a non-empty string)"
        )
    currency = currency.upper() if currency else None
    return Mapping(
        hubspot=_crm(data.get("hubspot", {}), "hubspot", w, currency),
        pipedrive=_crm(data.get("pipedrive", {}), "pipedrive", w, currency),
        dingtalk=_crm(data.get("dingtalk", {}), "dingtalk", w, currency),
        currency=currency,
        deal_id_field=deal_id_field,
    )


def load_mapping(path: str | Path | None) -> Mapping:
    """Read the mapping file; no path means an empty mapping (every id passes through)."""
    if path is None:
        return Mapping()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(
            f"mapping file {p} does not exist; fix QUOTABOARD_MAPPING_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping file {p}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {p}: {exc}") from None
    m = parse_mapping(data, str(p), text)
    return Mapping(m.hubspot, m.pipedrive, m.dingtalk, m.currency, m.deal_id_field, p)
