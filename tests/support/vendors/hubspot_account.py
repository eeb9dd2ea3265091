"""A recorded HubSpot account for the backfill tests: two portals (33: 200 deals, 44: 110),
companies shared between deals, stage, amount and owner changes, won, lost and open deals,
all in August-September 2026. Deterministic (seeded).

`python tests/support/vendors/hubspot_account.py` rewrites the response files beside it
(hubspot/*.json) from `history()`; the tests read those files, and post the same history
as canonical events (`canonical()`) to compare the figures.

Shapes (each file says so in "_source"):
* deals pages: GET /crm/v3/objects/deals, the "Retrieve deals" example of HubSpot's CRM
  deals API reference (results[].id/properties/propertiesWithHistory/associations,
  paging.next.after), with propertiesWithHistory entries {value, timestamp, sourceType,
  sourceId, updatedByUserId} as in HubSpot's "properties with history" example;
* webhooks: the deal.creation / deal.propertyChange batch of HubSpot's Webhooks API
  reference (objectId, propertyName, propertyValue, changeSource, eventId,
  subscriptionId, portalId, appId, occurredAt, subscriptionType, attemptNumber).
Assumed, not documented: a propertyChange's occurredAt equals the timestamp of that
value in the property's history.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent / "hubspot"
PORTALS = {"33": 200, "44": 110}
PREFIX = {"33": "", "44": "eu-"}  # as in mappings/example.toml [hubspot.portals]
OWNERS = ["52550153", "52550154", "52550155"]
REPS = {"52550153": "zhang", "52550154": "li", "52550155": "52550155"}
STAGES = {
    "appointmentscheduled": "lead",
    "qualifiedtobuy": "qualified",
    "contractsent": "negotiation",
    "closedwon": "won",
    "closedlost": "lost",
}
PAGE = 50
PAGES_SOURCE = (
    "HubSpot CRM API reference, Deals: GET /crm/v3/objects/deals 'Retrieve deals' response example "
    "(paging.next.after; propertiesWithHistory; associations.companies)"
)
HOOKS_SOURCE = (
    "HubSpot Webhooks API reference: example deal.creation / deal.propertyChange notification batch"
)


def _ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{ms % 1000:03d}Z"
    )


def history() -> list[dict]:
    """Per deal: portal, id, company, createdate and each property's versions [(value, ms)]."""
    rnd = random.Random(15)
    deals = []
    for portal, n in PORTALS.items():
        for i in range(n):
            start = datetime(2026, 8, 1, 1, tzinfo=UTC) + timedelta(
                minutes=rnd.randrange(0, 40 * 24 * 60)
            )
            t0 = _ms(start)
            versions = {
                "amount": [(str(rnd.randrange(10, 900) * 1000), t0)],
                "hubspot_owner_id": [(rnd.choice(OWNERS), t0)],
                "dealstage": [("appointmentscheduled", t0)],
                "product_line": [(rnd.choice("AB"), t0)],
                "dealtype": [(rnd.choice(["newbusiness", "existingbusiness"]), t0)],
            }
            t = t0
            for stage in ("qualifiedtobuy", "contractsent"):
                if rnd.random() < 0.75:
                    t += rnd.randrange(1, 3 * 24 * 60) * 60_000
                    versions["dealstage"].append((stage, t))
            if rnd.random() < 0.3:
                t += rnd.randrange(1, 24 * 60) * 60_000
                versions["amount"].append((str(rnd.randrange(10, 900) * 1000), t))
            if rnd.random() < 0.15:
                t += rnd.randrange(1, 24 * 60) * 60_000
                versions["hubspot_owner_id"].append((rnd.choice(OWNERS), t))
            outcome = rnd.random()
            if outcome < 0.55:
                t += rnd.randrange(1, 5 * 24 * 60) * 60_000
                versions["dealstage"].append(("closedwon" if outcome < 0.4 else "closedlost", t))
            deals.append(
                {
                    "portal": portal,
                    "id": str(9_000_000 + i * 7 + (1 if portal == "44" else 0) * 0),
                    "company": str(5_000 + rnd.randrange(0, 90)) if rnd.random() < 0.9 else None,
                    "createdate": t0,
                    "versions": versions,
                }
            )
    return deals


def api_deal(d: dict) -> dict:
    """One deal as GET /crm/v3/objects/deals returns it."""
    current = {prop: vs[-1][0] for prop, vs in d["versions"].items()}
    updated = max(ms for vs in d["versions"].values() for _, ms in vs)
    out = {
        "id": d["id"],
        "properties": {
            **current,
            "createdate": _iso(d["createdate"]),
            "hs_lastmodifieddate": _iso(updated),
            "deal_currency_code": "CNY",
            "hs_object_id": d["id"],
        },
        "propertiesWithHistory": {
            prop: [
                {
                    "value": v,
                    "timestamp": _iso(ms),
                    "sourceType": "CRM_UI",
                    "sourceId": "userId:52550153",
                    "updatedByUserId": 52550153,
                }
                for v, ms in reversed(vs)
            ]
            for prop, vs in d["versions"].items()
        },
        "createdAt": _iso(d["createdate"]),
        "updatedAt": _iso(updated),
        "archived": False,
    }
    if d["company"]:
        out["associations"] = {
            "companies": {"results": [{"id": d["company"], "type": "deal_to_company"}]}
        }
    return out


def webhooks(d: dict, counter: list[int]) -> list[dict]:
    base = {
        "subscriptionId": 4356,
        "portalId": int(d["portal"]),
        "appId": 1160452,
        "attemptNumber": 0,
        "changeSource": "CRM",
        "objectId": int(d["id"]),
    }

    def nxt() -> int:
        counter[0] += 1
        return counter[0]

    hooks = [
        {
            **base,
            "eventId": nxt(),
            "occurredAt": d["createdate"],
            "subscriptionType": "deal.creation",
        }
    ]
    for prop, vs in d["versions"].items():
        for value, ms in vs:
            hooks.append(
                {
                    **base,
                    "eventId": nxt(),
                    "occurredAt": ms,
                    "subscriptionType": "deal.propertyChange",
                    "propertyName": prop,
                    "propertyValue": value,
                }
            )
    return hooks


def canonical() -> list[dict]:
    """The same history as a user would post it as canonical events."""
    events = [
        {
            "id": f"c-rep-{rep}",
            "type": "rep.onboarded",
            "occurred_at": "2026-07-01T00:00:00+00:00",
            "data": {"rep_id": rep, "name": rep, "team": "sales", "region": "East"},
        }
        for rep in sorted(set(REPS.values()))
    ]
    for d in history():
        did = PREFIX[d["portal"]] + d["id"]
        v = d["versions"]
        at = lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()  # noqa: E731
        customer = (
            f"hubspot-{d['portal']}-company-{d['company']}"
            if d["company"]
            else f"hubspot-{d['portal']}-deal-{d['id']}"
        )
        events.append(
            {
                "id": f"c-{did}-created",
                "type": "deal.created",
                "occurred_at": at(d["createdate"]),
                "data": {
                    "deal_id": did,
                    "rep_id": REPS[v["hubspot_owner_id"][0][0]],
                    "customer_id": customer,
                    "product_line": v["product_line"][0][0],
                    "amount": v["amount"][0][0],
                    "kind": {"newbusiness": "new", "existingbusiness": "renewal"}[
                        v["dealtype"][0][0]
                    ],
                },
            }
        )
        for value, ms in v["amount"][1:]:
            events.append(
                {
                    "id": f"c-{did}-amount-{ms}",
                    "type": "deal.updated",
                    "occurred_at": at(ms),
                    "data": {"deal_id": did, "amount": value},
                }
            )
        for value, ms in v["hubspot_owner_id"][1:]:
            events.append(
                {
                    "id": f"c-{did}-owner-{ms}",
                    "type": "deal.reassigned",
                    "occurred_at": at(ms),
                    "data": {"deal_id": did, "rep_id": REPS[value]},
                }
            )
        for value, ms in v["dealstage"][1:]:
            meaning = STAGES[value]
            kind = {"won": "deal.won", "lost": "deal.lost"}.get(meaning, "deal.stage_changed")
            data = (
                {"deal_id": did}
                if kind != "deal.stage_changed"
                else {"deal_id": did, "stage": meaning}
            )
            events.append(
                {"id": f"c-{did}-stage-{value}", "type": kind, "occurred_at": at(ms), "data": data}
            )
    return events


def write() -> None:
    HERE.mkdir(exist_ok=True)
    deals = history()
    for portal in PORTALS:
        mine = [api_deal(d) for d in deals if d["portal"] == portal]
        for n, i in enumerate(range(0, len(mine), PAGE)):
            page = {"_source": PAGES_SOURCE, "results": mine[i : i + PAGE]}
            if i + PAGE < len(mine):
                page["paging"] = {
                    "next": {
                        "after": str(i + PAGE),
                        "link": f"https://api.hubapi.com/crm/v3/objects/deals?after={i + PAGE}",
                    }
                }
            (HERE / f"deals-{portal}-page{n + 1}.json").write_text(
                json.dumps(page, separators=(",", ":")) + "\n"
            )
    counter = [3816279000]
    hooks = [h for d in deals for h in webhooks(d, counter)]
    (HERE / "webhooks.json").write_text(
        json.dumps({"_source": HOOKS_SOURCE, "events": hooks}, separators=(",", ":")) + "\n"
    )


if __name__ == "__main__":
    write()
