"""Publication, objections and payout through the real path: signed posts to the gateway
(`objection.raised` on the webhook secret, resolutions and approvals on the operator's),
read back with the CLI; the payout exported and read with openpyxl and csv."""

from __future__ import annotations

import csv
import json
import tomllib
from decimal import Decimal

import openpyxl
import pytest
from natsutil import SHARED, Service, signed_headers, wait_until

from services.config import secrets_path

SEED = SHARED / "examples" / "seed-table1.jsonl"


def ev(eid: str, kind: str, at: str, **data) -> dict:
    return {"id": eid, "type": kind, "occurred_at": at + "+08:00", "source": "test", "data": data}


def post(svc: Service, body, secret: str):
    raw = json.dumps(body).encode()
    return svc.client.post("/v1/events", content=raw, headers=signed_headers(secret, raw))


def cli_json(svc: Service, *args: str) -> dict:
    res = svc.cli(*args, "--json", check=True)
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def svc(tmp_path_factory, stopping):
    s = Service(tmp_path_factory.mktemp("publication") / "data").start()
    s.operator = tomllib.loads(secrets_path(s.data_dir).read_text())["operator_secret"]
    seed = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    assert post(s, seed, s.secret).status_code == 202
    close = ev("close-2026-08", "period.closed", "2026-09-05T10:00:00", period="2026-08")
    assert post(s, [close], s.operator).status_code == 202
    wait_until(
        lambda: (
            s.cli("standings", "--period", "2026-08", "--json").returncode == 0
            and "publication"
            in json.loads(s.cli("standings", "--period", "2026-08", "--json").stdout)
        ),
        20,
        what="August published",
    )
    yield s
    s.stop_soon()
    stopping.append(s)


def objections(svc: Service, period: str = "2026-08") -> dict:
    return cli_json(svc, "objections", "--period", period)


def test_resolutions_and_approvals_need_the_operator_secret(svc):
    o = ev(
        "o-x",
        "objection.resolved",
        "2026-09-08T10:00:00",
        objection_id="O-1",
        decision="rejected",
        note="n",
    )
    a = ev("a-x", "payout.approved", "2026-09-10T10:00:00", period="2026-08")
    assert post(svc, [o], svc.secret).status_code == 403
    assert post(svc, [a], svc.secret).status_code == 403


def test_the_cycle_window_objections_approval_corrections_and_export(svc, tmp_path):
    pub = cli_json(svc, "standings", "--period", "2026-08")["publication"]
    assert pub["window_closes"] == "2026-09-09T23:59:59+08:00" and pub["payout"] == "pending"
    # a rep portal raises on the webhook secret: one inside the window, one late
    raised = [
        ev(
            "r-1",
            "objection.raised",
            "2026-09-07T10:00:00",
            objection_id="O-1",
            period="2026-08",
            rep_id="zhang",
            reason="D9 missing",
            component="tiered",
            claimed_amount="1200",
        ),
        ev(
            "r-2",
            "objection.raised",
            "2026-09-11T10:00:00",
            objection_id="O-2",
            period="2026-08",
            rep_id="li",
            reason="split wrong",
        ),
    ]
    assert post(svc, raised, svc.secret).status_code == 202
    wait_until(lambda: len(objections(svc)["objections"]) == 2, 10, what="two objections")
    doc = objections(svc)
    assert doc["window_closes"] == "2026-09-09T23:59:59+08:00"
    assert [(o["id"], o["state"], o["late"]) for o in doc["objections"]] == [
        ("O-2", "late", True),
        ("O-1", "open", False),
    ]
    # the CLI refuses to approve with O-1 open, and records nothing
    before = svc.count()
    res = svc.cli("payout", "approve", "--period", "2026-08")
    assert res.returncode == 1 and "open objections (O-1)" in res.stderr
    res = svc.cli("payout", "export", "--period", "2026-08", "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 1 and "not approved" in res.stderr
    assert svc.count() == before
    # finance upholds O-1 before the approval, approves, then upholds O-2 after it (operator secret)
    decided = [
        ev(
            "s-1",
            "objection.resolved",
            "2026-09-09T10:00:00",
            objection_id="O-1",
            decision="upheld",
            amount="800",
            note="D9 counted",
        ),
        ev("a-1", "payout.approved", "2026-09-10T09:00:00", period="2026-08", by="finance"),
        ev(
            "s-2",
            "objection.resolved",
            "2026-09-12T10:00:00",
            objection_id="O-2",
            decision="upheld",
            amount="250",
            note="split corrected",
        ),
    ]
    assert post(svc, decided, svc.operator).status_code == 202
    wait_until(lambda: objections(svc)["objections"][0]["state"] == "upheld", 10, what="O-2 upheld")
    doc = objections(svc)
    assert [(o["id"], o["state"], o["amount"], o["paid_in"]) for o in doc["objections"]] == [
        ("O-2", "upheld", "250.00", "2026-09"),
        ("O-1", "upheld", "800.00", "payout"),
    ]
    pub = cli_json(svc, "standings", "--period", "2026-08")["publication"]
    assert (pub["payout"], pub["approved_at"], pub["objections_open"]) == (
        "approved",
        "2026-09-10T09:00:00+08:00",
        0,
    )
    sep = cli_json(svc, "statement", "--rep", "li", "--period", "2026-09")
    assert [
        (x["amount"], x["explanation"]) for x in sep["statement"] if x["component"] == "objection"
    ] == [("250.00", "objection O-2 for 2026-08: split corrected")]
    # refusals say why and change nothing
    before = svc.count()
    res = svc.cli("payout", "approve", "--period", "2026-08")
    assert res.returncode == 1 and "already approved" in res.stderr
    res = svc.cli("objection", "resolve", "O-1", "--rejected", "--note", "again")
    assert res.returncode == 1 and "already upheld" in res.stderr
    res = svc.cli("objection", "raise", "--period", "2026-10", "--rep", "li", "--reason", "x")
    assert res.returncode == 1 and "not published" in res.stderr
    assert svc.count() == before
    # the payout for payroll
    xlsx = tmp_path / "payout.xlsx"
    svc.cli("payout", "export", "--period", "2026-08", "--out", str(xlsx), check=True)
    ws = openpyxl.load_workbook(xlsx).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == [
        "rep_id",
        "name",
        "period",
        "published_total",
        "objection O-1",
        "payout",
        "approved_at",
    ]
    by_rep = {r[0]: r for r in rows[1:]}
    assert by_rep["zhang"] == [
        "zhang",
        "小张",
        "2026-08",
        17800,
        800,
        18600,
        "2026-09-10T09:00:00+08:00",
    ]
    assert by_rep["wang"][3:6] == [8100, None, 8100]
    out = tmp_path / "payout.csv"
    svc.cli("payout", "export", "--period", "2026-08", "--out", str(out), check=True)
    with open(out, encoding="utf-8") as fh:
        table = {r["rep_id"]: r for r in csv.DictReader(fh)}
    assert (
        Decimal(table["zhang"]["payout"]) == Decimal("18600.00")
        and table["li"]["objection O-1"] == ""
    )


def test_the_cli_raises_resolves_and_approves_over_nats(svc):
    close = ev("close-2026-09", "period.closed", "2026-10-08T10:00:00", period="2026-09")
    assert post(svc, [close], svc.operator).status_code == 202
    wait_until(
        lambda: "publication" in cli_json(svc, "standings", "--period", "2026-09"),
        10,
        what="Sept published",
    )
    raised = cli_json(
        svc,
        "objection",
        "raise",
        "--period",
        "2026-09",
        "--rep",
        "wang",
        "--reason",
        "visit missing",
        "--amount",
        "300",
    )
    assert raised["state"] == "late"  # raised now, long after the window
    resolved = cli_json(
        svc, "objection", "resolve", raised["objection"], "--upheld", "120", "--note", "ok"
    )
    assert resolved["paid_in"] == "payout"
    approved = cli_json(svc, "payout", "approve", "--period", "2026-09", "--by", "cfo")
    assert approved["approved"] is True
    sept = cli_json(svc, "objections", "--period", "2026-09")["objections"]
    assert [(o["rep"], o["state"], o["claimed"], o["amount"]) for o in sept] == [
        ("wang", "upheld", "300.00", "120.00")
    ]
    every = cli_json(svc, "objections")["objections"]
    assert [o["id"] for o in every][0] == raised["objection"]  # newest first


def test_a_rebuild_gives_the_live_read_models(svc):
    def read() -> dict:
        docs = {"objections": cli_json(svc, "objections")}
        for period in ("2026-08", "2026-09", "2026-Q3"):
            doc = cli_json(svc, "standings", "--period", period)
            doc.pop("position", None)
            docs[period] = doc
        return docs

    live = read()
    svc.cli("rebuild", check=True)
    assert read() == live
