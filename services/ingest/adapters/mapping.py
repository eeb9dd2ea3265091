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

`[payments] currency = "CNY"` (optional) refuses payments in another currency (the
system holds one currency); Stripe's minor units are converted with that currency's exponent.

Ids are compared as strings, so `stage_id = 3` in Pipedrive matches `"3"` or `3` here.
An owner id missing from `owners` is passed through as the rep id (it shows up as an
unknown rep instead of being dropped); add it to the file to name the rep.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Meaning = Literal["lead", "qualified", "negotiation", "won", "lost"]
MEANINGS: tuple[str, ...] = ("lead", "qualified", "negotiation", "won", "lost")
ACTIVITY_KINDS = ("call", "visit", "meeting", "email", "demo", "other")


class MappingError(Exception):
    """The mapping file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class CrmMapping:
    stages: dict[str, str] = field(default_factory=dict)  # CRM stage id -> meaning
    owners: dict[str, str] = field(default_factory=dict)  # CRM owner id -> rep_id
    activity_kinds: dict[str, str] = field(default_factory=dict)
    product_line_field: str | None = None
    default_product_line: str = "unknown"
    customer_field: str | None = None
    source_channel_field: str | None = None
    deal_id_prefix: str = ""

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


@dataclass(frozen=True)
class Mapping:
    hubspot: CrmMapping = field(default_factory=CrmMapping)
    pipedrive: CrmMapping = field(default_factory=CrmMapping)
    dingtalk: CrmMapping = field(default_factory=CrmMapping)
    currency: str | None = None  # [payments] currency
    path: Path | None = None

    def crm(self, name: str) -> CrmMapping:
        return getattr(self, name)


def _crm(section: dict, name: str, where: str) -> CrmMapping:
    if not isinstance(section, dict):
        raise MappingError(f"{where}: [{name}] must be a table")
    stages: dict[str, str] = {}
    raw_stages = section.get("stages", {})
    if not isinstance(raw_stages, dict):
        raise MappingError(f"{where}: [{name}.stages] must be a table of meaning = [stage ids]")
    for meaning, ids in raw_stages.items():
        if meaning not in MEANINGS:
            raise MappingError(
                f"{where}: [{name}.stages] key {meaning!r} is not one of {', '.join(MEANINGS)}"
            )
        if not isinstance(ids, list):
            ids = [ids]
        for stage_id in ids:
            key = str(stage_id)
            if key in stages and stages[key] != meaning:
                raise MappingError(
                    f"{where}: stage id {key!r} is listed as both {stages[key]} and {meaning} in [{name}.stages]"
                )
            stages[key] = meaning
    owners = section.get("owners", {})
    if not isinstance(owners, dict) or not all(isinstance(v, str) and v for v in owners.values()):
        raise MappingError(f"{where}: [{name}.owners] must map owner ids to rep ids (strings)")
    kinds = section.get("activity_kinds", {})
    if not isinstance(kinds, dict):
        raise MappingError(f"{where}: [{name}.activity_kinds] must be a table")
    for crm_kind, kind in kinds.items():
        if kind not in ACTIVITY_KINDS:
            raise MappingError(
                f"{where}: [{name}.activity_kinds] {crm_kind!r} = {kind!r} is not one of {', '.join(ACTIVITY_KINDS)}"
            )
    def opt(key: str) -> str | None:
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise MappingError(f"{where}: [{name}] {key} must be a non-empty string")
        return value

    return CrmMapping(
        stages=stages,
        owners={str(k): v for k, v in owners.items()},
        activity_kinds={str(k).lower(): v for k, v in kinds.items()},
        product_line_field=opt("product_line_field"),
        default_product_line=opt("default_product_line") or "unknown",
        customer_field=opt("customer_field"),
        source_channel_field=opt("source_channel_field"),
        deal_id_prefix=section.get("deal_id_prefix", "") if isinstance(section.get("deal_id_prefix", ""), str) else "",
    )


def parse_mapping(data: dict, where: str = "mapping") -> Mapping:
    known = {"hubspot", "pipedrive", "dingtalk", "payments"}
    unknown = set(data) - known
    if unknown:
        raise MappingError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}")
    payments = data.get("payments", {})
    currency = payments.get("currency") if isinstance(payments, dict) else None
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3):
        raise MappingError(f"{where}: [payments] currency must be a 3-letter ISO code like \"CNY\"")
    return Mapping(
        hubspot=_crm(data.get("hubspot", {}), "hubspot", where),
        pipedrive=_crm(data.get("pipedrive", {}), "pipedrive", where),
        dingtalk=_crm(data.get("dingtalk", {}), "dingtalk", where),
        currency=currency.upper() if currency else None,
    )


def load_mapping(path: str | Path | None) -> Mapping:
    """Read the mapping file; no path means an empty mapping (every id passes through)."""
    if path is None:
        return Mapping()
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise MappingError(f"mapping file {p} does not exist; fix QUOTABOARD_MAPPING_FILE") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {p}: {exc}") from None
    m = parse_mapping(data, str(p))
    return Mapping(m.hubspot, m.pipedrive, m.dingtalk, m.currency, p)
