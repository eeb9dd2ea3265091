"""A recorded DingTalk CRM account for the DingTalk open-API tests (deterministic, seeded):
50 customer tracks by two users in August 2026, then 5 more that only callbacks report.

`python tests/support/vendors/dingtalk_account.py` rewrites the response files in
dingtalk/ beside it; the tests read them and compare what is stored with `canonical()`,
written out here from the mapping (mappings/example.toml), not by the adapter's code.

Shapes (each file says so in "_source"):
* dingtalk/token.json: `POST /v1.0/oauth2/accessToken` answer {accessToken, expireIn} as in
  open.dingtalk.com "获取企业内部应用的accessToken" (its example: expireIn 7200);
* dingtalk/tracks-pageN.json: `GET /v1.0/crm/customers/tracks` answer {hasMore, maxResults,
  nextToken, values[{id, bizId, creator, customerId, corpId, type, subType, gmtCreate}]} as
  DingTalk's SDK defines QueryAllTracksResponseBody (aliyun/dingtalk-sdk, crm_1_0);
* dingtalk/callbacks.json: decrypted `crm_customer_track` messages {EventType, EventTime,
  BizId, CorpId, tracks[...]} as the public SDK zhaoyunxing92/dingtalk defines them
  (event/crm_customer_track.go).
Assumed, not documented: that the API's track `id` is the callback's `id` for the same track
(both are the "动态加密主键" of the SDK's field comments).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORP = "ding4ee83cd86390472dbc961a6cb783455b"
CREATORS = {"manager4220": "zhang", "user1024": "wang"}  # as in mappings/example.toml
KINDS = {1: "visit", 2: "call", 3: "other"}  # type 1/2 mapped there; 3 is not -> other
PAGE = 20
TOKEN_SRC = (
    'open.dingtalk.com "获取企业内部应用的accessToken": POST /v1.0/oauth2/accessToken response'
)
TRACKS_SRC = (
    "aliyun/dingtalk-sdk crm_1_0 QueryAllTracks: GET /v1.0/crm/customers/tracks "
    "response (hasMore, maxResults, nextToken, values)"
)
CALLBACK_SRC = "zhaoyunxing92/dingtalk event/crm_customer_track.go: the crm_customer_track message"


def tracks() -> list[dict]:
    rnd = random.Random(1509)
    out = []
    t = datetime(2026, 8, 1, 1, tzinfo=UTC)
    for i in range(55):
        t += timedelta(minutes=rnd.randrange(30, 20 * 60))
        out.append(
            {
                "id": f"trk{i:03d}+{rnd.randrange(16**6):06x}/=",
                "bizId": f"{rnd.randrange(16**8):08X}",
                "creator": rnd.choice(list(CREATORS)),
                "customerId": f"cust-{rnd.randrange(1, 12):02d}",
                "corpId": CORP,
                "type": rnd.choice(list(KINDS)),
                "subType": rnd.randrange(1, 4),
                "gmtCreate": int(t.timestamp() * 1000),
            }
        )
    return out


BACKFILLED = 50  # the API lists the first 50; the last 5 come after the backfill


def callbacks() -> list[dict]:
    """Callbacks of 30 backfilled tracks (in ones and twos) and of the 5 new ones."""
    rnd = random.Random(77)
    chosen = rnd.sample(tracks()[:BACKFILLED], 30) + tracks()[BACKFILLED:]
    messages, i = [], 0
    while i < len(chosen):
        group = chosen[i : i + rnd.choice((1, 2))]
        i += len(group)
        messages.append(
            {
                "CorpId": CORP,
                "corpId": CORP,
                "EventType": "crm_customer_track",
                "EventTime": group[-1]["gmtCreate"],
                "BizId": group[0]["bizId"],
                "tracks": group,
            }
        )
    return messages


def canonical() -> list[dict]:
    """The activities the account holds, as canonical events."""
    return [
        {
            "id": f"dingtalk-track-{t['id']}",
            "type": "activity.logged",
            "occurred_at": datetime.fromtimestamp(t["gmtCreate"] / 1000, UTC).isoformat(),
            "data": {
                "activity_id": t["id"],
                "rep_id": CREATORS[t["creator"]],
                "kind": KINDS[t["type"]],
                "customer_id": t["customerId"],
            },
        }
        for t in tracks()
    ]


def write() -> None:
    def dump(path: Path, doc: dict) -> None:
        path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")

    (HERE / "dingtalk").mkdir(exist_ok=True)
    dump(
        HERE / "dingtalk" / "token.json",
        {"_source": TOKEN_SRC, "accessToken": "fw8ef8we8f76e6f7s8dxxxx", "expireIn": 7200},
    )
    listed = tracks()[:BACKFILLED]
    pages = range(0, len(listed), PAGE)
    for n, i in enumerate(pages):
        more = i + PAGE < len(listed)
        dump(
            HERE / "dingtalk" / f"tracks-page{n + 1}.json",
            {
                "_source": TRACKS_SRC,
                "hasMore": more,
                "maxResults": PAGE,
                "nextToken": str(i + PAGE) if more else None,
                "values": listed[i : i + PAGE],
            },
        )
    dump(HERE / "dingtalk" / "callbacks.json", {"_source": CALLBACK_SRC, "messages": callbacks()})


if __name__ == "__main__":
    write()
