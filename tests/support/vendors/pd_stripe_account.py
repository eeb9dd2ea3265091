"""Recorded Pipedrive and Stripe accounts for the backfill tests (deterministic, seeded).

`python tests/support/vendors/pd_stripe_account.py` rewrites the response files in
pipedrive/ and stripe/ beside it; the tests read them and post the same history as
canonical events (`pipedrive_canonical()`, `stripe_canonical()`) to compare the figures.

Shapes (each file says so in "_source"):
* pipedrive/deals-pageN.json, activities-page1.json: GET /api/v2/deals and
  /api/v2/activities of Pipedrive's API v2 reference ("success", "data",
  "additional_data.next_cursor"); single-option custom fields as option ids;
* pipedrive/webhooks.json: webhooks v2 notifications ("meta" with action/entity/version
  "2.0", "data", "previous" holding only the changed fields) as in Pipedrive's
  "Webhooks v2" guide;
* stripe/charges-pageN.json, invoices-page1.json: list responses ("object": "list",
  "data", "has_more", "url") of Stripe's API reference for charges (with
  `expand[]=data.payment_intent&expand[]=data.refunds`) and invoices;
* stripe/webhooks.json: Event objects (payment_intent.succeeded, charge.refunded with
  its refunds list, invoice.paid) as in Stripe's "Event object" reference.
Assumed, not documented: a PaymentIntent's charge carries the PaymentIntent's metadata
(the refunds' deal comes from it); a change.deal's `update_time` is the time of that change (it is
what ids of value changes are keyed by), and `stage_change_time` / `won_time` /
`lost_time` of the API's deal equal the `update_time` of the webhook that made them.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
PL_KEY = "9dc80c50d78a15d8f6e8a2b8a6e7a7c5b1e1f2a3"
OPTIONS = {37: "A", 38: "B"}  # as in mappings/example.toml
OWNERS = {18487521: "zhang", 18487522: "li"}
STAGES = {1: "lead", 2: "qualified", 3: "negotiation", 4: "negotiation"}
PD_PAGE = 50
ST_PAGE = 25
PD_SRC = (
    "Pipedrive API v2 reference: GET /api/v2/{entity} response (data, additional_data.next_cursor)"
)
PD_HOOK_SRC = "Pipedrive Webhooks v2 guide: notification body (meta.version 2.0, data, previous)"
ST_SRC = "Stripe API reference: list charges / list invoices response (object list, data, has_more)"
ST_HOOK_SRC = "Stripe API reference: the Event object (payment_intent.succeeded, charge.refunded, invoice.paid)"


def _t(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def pipedrive_history() -> list[dict]:
    rnd = random.Random(1515)
    deals = []
    for i in range(120):
        t = datetime(2026, 8, 1, 2, tzinfo=UTC) + timedelta(minutes=rnd.randrange(0, 35 * 24 * 60))
        d = {
            "id": 700 + i,
            "owner": rnd.choice(list(OWNERS)),
            "org": 30 + rnd.randrange(0, 40),
            "option": rnd.choice(list(OPTIONS)),
            "add": t,
            "value0": rnd.randrange(10, 900) * 100,
            "stages": [],
            "value": None,
            "close": None,
        }
        for stage in (2, 3):
            if rnd.random() < 0.8:
                t += timedelta(minutes=rnd.randrange(1, 2 * 24 * 60))
                d["stages"].append((stage, t))
        if rnd.random() < 0.3:
            t += timedelta(minutes=rnd.randrange(1, 24 * 60))
            d["value"] = (rnd.randrange(10, 900) * 100, t)
        r = rnd.random()
        if r < 0.6:
            t += timedelta(minutes=rnd.randrange(1, 3 * 24 * 60))
            d["close"] = ("won" if r < 0.45 else "lost", t)
        deals.append(d)
    return deals


def pd_state(d: dict, upto: datetime | None = None) -> dict:
    """The deal as API v2 returns it, as of `upto` (None: now)."""

    def seen(t):
        return upto is None or t <= upto

    stage, stage_time = 1, d["add"]
    for s, t in d["stages"]:
        if seen(t):
            stage, stage_time = s, t
    value = d["value"][0] if d["value"] and seen(d["value"][1]) else d["value0"]
    status, won, lost = "open", None, None
    times = [d["add"], *[t for _, t in d["stages"] if seen(t)]]
    if d["value"] and seen(d["value"][1]):
        times.append(d["value"][1])
    if d["close"] and seen(d["close"][1]):
        status = d["close"][0]
        won, lost = (d["close"][1], None) if status == "won" else (None, d["close"][1])
        times.append(d["close"][1])
    return {
        "id": d["id"],
        "title": f"deal {d['id']}",
        "owner_id": d["owner"],
        "person_id": None,
        "org_id": d["org"],
        "stage_id": stage,
        "pipeline_id": 1,
        "value": value,
        "currency": "CNY",
        "status": status,
        "add_time": _t(d["add"]),
        "update_time": _t(max(times)),
        "stage_change_time": _t(stage_time),
        "won_time": _t(won) if won else None,
        "lost_time": _t(lost) if lost else None,
        "lost_reason": "price" if lost else None,
        "probability": None,
        "is_deleted": False,
        "custom_fields": {PL_KEY: d["option"]},
    }


def pd_activities() -> list[dict]:
    rnd = random.Random(99)
    out = []
    for i in range(30):
        t = datetime(2026, 8, 2, tzinfo=UTC) + timedelta(hours=rnd.randrange(0, 40 * 24))
        out.append(
            {
                "id": 4000 + i,
                "subject": "call",
                "type": rnd.choice(["call", "meeting", "lunch"]),
                "owner_id": rnd.choice(list(OWNERS)),
                "deal_id": 700 + rnd.randrange(0, 120),
                "org_id": 30,
                "person_id": None,
                "done": True,
                "add_time": _t(t),
                "update_time": _t(t),
            }
        )
    return out


def pd_webhooks() -> list[dict]:
    hooks, n = [], [0]

    def meta(action: str, entity: str, eid: int, t: datetime) -> dict:
        n[0] += 1
        return {
            "action": action,
            "entity": entity,
            "entity_id": str(eid),
            "id": f"wh-{n[0]:05d}",
            "version": "2.0",
            "company_id": "12882925",
            "correlation_id": f"c-{n[0]}",
            "is_bulk_edit": False,
            "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "type": "general",
            "user_id": "18487521",
            "webhook_id": "99",
            "webhook_owner_id": "18487521",
            "attempt": 1,
            "host": "company.pipedrive.com",
        }

    def with_option(state: dict) -> dict:
        return {
            **state,
            "custom_fields": {PL_KEY: {"type": "enum", "id": state["custom_fields"][PL_KEY]}},
        }

    for d in pipedrive_history():
        hooks.append(
            {
                "meta": meta("create", "deal", d["id"], d["add"]),
                "data": with_option(pd_state(d, d["add"])),
                "previous": None,
            }
        )
        changes = [(t, {"stage_id": None}) for _, t in d["stages"]]
        if d["value"]:
            changes.append((d["value"][1], {"value": d["value0"]}))
        if d["close"]:
            changes.append((d["close"][1], {"status": "open"}))
        for t, previous in sorted(changes, key=lambda c: c[0]):
            before = pd_state(d, t - timedelta(seconds=1))
            previous = {k: before[k] for k in previous}
            hooks.append(
                {
                    "meta": meta("change", "deal", d["id"], t),
                    "data": with_option(pd_state(d, t)),
                    "previous": previous,
                }
            )
    for a in pd_activities():
        hooks.append(
            {
                "meta": meta("create", "activity", a["id"], datetime.fromisoformat(a["add_time"])),
                "data": a,
                "previous": None,
            }
        )
    return hooks


def pipedrive_canonical() -> list[dict]:
    at = lambda dt: dt.isoformat()  # noqa: E731
    events = []
    for d in pipedrive_history():
        did = str(d["id"])
        events.append(
            {
                "id": f"c-pd-{did}",
                "type": "deal.created",
                "occurred_at": at(d["add"]),
                "data": {
                    "deal_id": did,
                    "rep_id": OWNERS[d["owner"]],
                    "customer_id": str(d["org"]),
                    "product_line": OPTIONS[d["option"]],
                    "amount": str(d["value0"]),
                },
            }
        )
        for stage, t in d["stages"]:
            events.append(
                {
                    "id": f"c-pd-{did}-s{stage}",
                    "type": "deal.stage_changed",
                    "occurred_at": at(t),
                    "data": {"deal_id": did, "stage": STAGES[stage]},
                }
            )
        if d["value"]:
            events.append(
                {
                    "id": f"c-pd-{did}-v",
                    "type": "deal.updated",
                    "occurred_at": at(d["value"][1]),
                    "data": {"deal_id": did, "amount": str(d["value"][0])},
                }
            )
        if d["close"]:
            status, t = d["close"]
            final = d["value"][0] if d["value"] else d["value0"]
            data = (
                {"deal_id": did, "amount": str(final)}
                if status == "won"
                else {"deal_id": did, "reason": "price"}
            )
            events.append(
                {
                    "id": f"c-pd-{did}-c",
                    "type": f"deal.{status}",
                    "occurred_at": at(t),
                    "data": data,
                }
            )
    kinds = {"call": "call", "meeting": "meeting", "lunch": "visit"}
    for a in pd_activities():
        events.append(
            {
                "id": f"c-pd-a{a['id']}",
                "type": "activity.logged",
                "occurred_at": datetime.fromisoformat(a["add_time"]).isoformat(),
                "data": {
                    "activity_id": str(a["id"]),
                    "rep_id": OWNERS[a["owner_id"]],
                    "kind": kinds[a["type"]],
                    "deal_id": str(a["deal_id"]),
                    "customer_id": "30",
                },
            }
        )
    return events


# --- Stripe ----------------------------------------------------------------------------------


def stripe_history() -> tuple[list[dict], list[dict]]:
    """(charges with their expanded payment intent and refunds, paid invoices)."""
    rnd = random.Random(4242)
    charges, invoices = [], []
    for i in range(70):
        created = int(datetime(2026, 8, 3, tzinfo=UTC).timestamp()) + rnd.randrange(0, 50 * 86400)
        amount = rnd.randrange(100, 5000) * 100
        pi = {
            "id": f"pi_3Mt{i:05d}LkdIwHu7ix",
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": "cny",
            "metadata": {"deal_id": f"S-{i % 40}"},
            "status": "succeeded",
            "created": created,
            "latest_charge": f"ch_3Mt{i:05d}LkdIwHu7ix",
        }
        refunds = []
        if rnd.random() < 0.2:
            part = rnd.randrange(1, amount // 100) * 100
            refunds.append(
                {
                    "id": f"re_3Mt{i:05d}LkdIwHu7ix",
                    "object": "refund",
                    "amount": part,
                    "currency": "cny",
                    "charge": f"ch_3Mt{i:05d}LkdIwHu7ix",
                    "payment_intent": pi["id"],
                    "status": "succeeded",
                    "created": created + 86400,
                }
            )
        charges.append(
            {
                "id": f"ch_3Mt{i:05d}LkdIwHu7ix",
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": sum(r["amount"] for r in refunds),
                "captured": True,
                "currency": "cny",
                "created": created,
                "metadata": dict(pi["metadata"]),
                "paid": True,
                "payment_intent": pi,
                "invoice": None,
                "refunded": False,
                "status": "succeeded",
                "refunds": {
                    "object": "list",
                    "data": refunds,
                    "has_more": False,
                    "url": f"/v1/charges/ch_3Mt{i:05d}LkdIwHu7ix/refunds",
                },
            }
        )
    for i in range(12):
        created = int(datetime(2026, 8, 5, tzinfo=UTC).timestamp()) + rnd.randrange(0, 40 * 86400)
        amount = rnd.randrange(100, 3000) * 100
        inv = {
            "id": f"in_1MtH{i:04d}LkdIwHu7ix",
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount,
            "currency": "cny",
            "created": created,
            "customer": "cus_NeZwdNtLEOXuvB",
            "metadata": {},
            "payment_intent": f"pi_3MtI{i:04d}LkdIwHu7ix",
            "status": "paid",
            "subscription": "sub_1MtHbE",
            "subscription_details": {"metadata": {"deal_id": f"S-{40 + i % 5}"}},
        }
        invoices.append(inv)
        charges.append(
            {
                "id": f"ch_3MtI{i:04d}LkdIwHu7ix",
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "captured": True,
                "currency": "cny",
                "created": created,
                "metadata": {},
                "paid": True,
                "invoice": inv["id"],
                "refunded": False,
                "status": "succeeded",
                "payment_intent": {
                    "id": inv["payment_intent"],
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": "cny",
                    "metadata": {},
                    "invoice": inv["id"],
                    "status": "succeeded",
                    "created": created,
                },
                "refunds": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "url": "/v1/charges/x/refunds",
                },
            }
        )
    charges.sort(key=lambda c: -c["created"])  # Stripe lists newest first
    return charges, invoices


def stripe_webhooks() -> list[dict]:
    charges, invoices = stripe_history()
    hooks = []

    def event(kind: str, obj: dict, created: int, n: int) -> dict:
        return {
            "id": f"evt_{kind.replace('.', '_')}_{n:05d}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }

    for n, ch in enumerate(charges):
        pi = ch["payment_intent"]
        hooks.append(event("payment_intent.succeeded", pi, ch["created"], n))
        if ch["refunds"]["data"]:
            refunded = {**ch, "payment_intent": pi["id"]}
            hooks.append(event("charge.refunded", refunded, ch["refunds"]["data"][0]["created"], n))
    for n, inv in enumerate(invoices):
        hooks.append(event("invoice.paid", inv, inv["created"], n))
    return hooks


def stripe_canonical() -> list[dict]:
    """The deals the payments are for, and the payments and refunds."""
    at = lambda s: datetime.fromtimestamp(s, tz=UTC).isoformat()  # noqa: E731
    events = []
    for i in range(45):
        events.append(
            {
                "id": f"c-st-d{i}",
                "type": "deal.created",
                "occurred_at": "2026-08-01T00:00:00+00:00",
                "data": {
                    "deal_id": f"S-{i}",
                    "rep_id": "zhang" if i % 2 else "li",
                    "customer_id": f"K{i}",
                    "product_line": "A",
                    "amount": "1000000",
                },
            }
        )
        events.append(
            {
                "id": f"c-st-w{i}",
                "type": "deal.won",
                "occurred_at": "2026-08-02T00:00:00+00:00",
                "data": {"deal_id": f"S-{i}"},
            }
        )
    charges, invoices = stripe_history()
    for ch in charges:
        if ch["invoice"]:
            continue
        pi = ch["payment_intent"]
        events.append(
            {
                "id": f"c-{pi['id']}",
                "type": "payment.received",
                "occurred_at": at(ch["created"]),
                "data": {
                    "payment_id": pi["id"],
                    "deal_id": pi["metadata"]["deal_id"],
                    "amount": f"{pi['amount_received'] / 100:.2f}",
                },
            }
        )
        for r in ch["refunds"]["data"]:
            events.append(
                {
                    "id": f"c-{r['id']}",
                    "type": "payment.refunded",
                    "occurred_at": at(r["created"]),
                    "data": {
                        "payment_id": pi["id"],
                        "deal_id": pi["metadata"]["deal_id"],
                        "amount": f"{r['amount'] / 100:.2f}",
                    },
                }
            )
    for inv in invoices:
        events.append(
            {
                "id": f"c-{inv['id']}",
                "type": "payment.received",
                "occurred_at": at(inv["created"]),
                "data": {
                    "payment_id": inv["payment_intent"],
                    "deal_id": inv["subscription_details"]["metadata"]["deal_id"],
                    "amount": f"{inv['amount_paid'] / 100:.2f}",
                },
            }
        )
    return events


def write() -> None:
    def dump(path: Path, doc: dict) -> None:
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")

    deals = [pd_state(d) for d in pipedrive_history()]
    for n, i in enumerate(range(0, len(deals), PD_PAGE)):
        nxt = f"eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6{n + 1}" if i + PD_PAGE < len(deals) else None
        dump(
            HERE / "pipedrive" / f"deals-page{n + 1}.json",
            {
                "_source": PD_SRC,
                "success": True,
                "data": deals[i : i + PD_PAGE],
                "additional_data": {"next_cursor": nxt},
            },
        )
    dump(
        HERE / "pipedrive" / "activities-page1.json",
        {
            "_source": PD_SRC,
            "success": True,
            "data": pd_activities(),
            "additional_data": {"next_cursor": None},
        },
    )
    dump(
        HERE / "pipedrive" / "webhooks.json",
        {"_source": PD_HOOK_SRC, "notifications": pd_webhooks()},
    )
    charges, invoices = stripe_history()
    for n, i in enumerate(range(0, len(charges), ST_PAGE)):
        dump(
            HERE / "stripe" / f"charges-page{n + 1}.json",
            {
                "_source": ST_SRC,
                "object": "list",
                "url": "/v1/charges",
                "data": charges[i : i + ST_PAGE],
                "has_more": i + ST_PAGE < len(charges),
            },
        )
    dump(
        HERE / "stripe" / "invoices-page1.json",
        {
            "_source": ST_SRC,
            "object": "list",
            "url": "/v1/invoices",
            "data": invoices,
            "has_more": False,
        },
    )
    dump(HERE / "stripe" / "webhooks.json", {"_source": ST_HOOK_SRC, "events": stripe_webhooks()})


if __name__ == "__main__":
    write()
