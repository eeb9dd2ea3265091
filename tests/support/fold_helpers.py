"""Helpers for the fold tests: canonical events from short descriptions, and runs."""

from __future__ import annotations

import json
from pathlib import Path

from projections.projection import Projection
from projections.rulesets import RulesetSet
from schemas.events import decode_event
from services.project.rulesets import read_ruleset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "examples"
SEED_EVENTS = SHARED / "seed-table1.jsonl"
SIGNED = SHARED / "rulesets" / "seed-table3.toml"
COLLECTED = SHARED / "rulesets" / "seed-table3-collected.toml"

_counter = [0]


def ev(event_type: str, at: str, **data) -> dict:
    """A canonical event as a dict; `at` is local Shanghai time unless it has an offset."""
    _counter[0] += 1
    if not (at.endswith("Z") or "+" in at[10:]):
        at = at + "+08:00"
    return {"id": f"t-{_counter[0]:06d}", "type": event_type, "occurred_at": at, "data": data}


def decode(items: list[dict]):
    return [decode_event(json.dumps(x)) for x in items]


def seed_raw() -> list[dict]:
    return [json.loads(line) for line in SEED_EVENTS.read_text().splitlines() if line.strip()]


def rulesets(path: Path = SIGNED) -> RulesetSet:
    return RulesetSet([read_ruleset(path)])


def project(items: list[dict], path: Path = SIGNED, batch: int | None = None, start: int = 1) -> Projection:
    p = Projection(rulesets(path))
    events = list(enumerate(decode(items), start))
    if batch is None:
        p.apply(events)
    else:
        for i in range(0, len(events), batch):
            p.apply(events[i:i + batch])
    return p


def strip_position(doc):
    """A document without the fields that name log positions (equal figures, other positions)."""
    if isinstance(doc, dict):
        return {k: strip_position(v) for k, v in doc.items() if k not in ("position",)}
    if isinstance(doc, list):
        return [strip_position(x) for x in doc]
    return doc


def everything(p: Projection) -> dict:
    """Every document the fold offers, without positions, for comparing two folds."""
    out = {}
    for period in p.periods():
        standings = p.standings(period)
        out[("standings", period)] = strip_position(standings)
        out[("funnel", period)] = strip_position(p.funnel(period))
        for rep in standings["reps"]:
            out[("statement", period, rep)] = strip_position(p.statement(rep, period))
    return out


def rep_summary(doc: dict, rep: str) -> dict:
    e = doc["reps"][rep]
    return {k: e[k] for k in ("bookings", "collections", "deals_won", "deals_lost", "target", "attainment", "rag",
                              "total")}
