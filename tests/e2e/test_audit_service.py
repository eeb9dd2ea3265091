"""Audit through the real service: `quotaboard up` (embedded nats-server, recorder,
projector) on a temp dir, the seed imported, then `close`, `replay`, `--apply` and
`report` run as the `quotaboard` command, exactly as an auditor would."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import openpyxl
import pytest
from natsutil import wait_until
from test_audit import COLLECTED, FIRST, SEED

pytestmark = pytest.mark.slow

# seed-table3 with the 100% tier at 2.5% instead of 2%: the correction an auditor applies
CORRECTED = COLLECTED.read_text().replace('id = "seed-table3-collected"', 'id = "seed-table3-fix"')
CORRECTED = CORRECTED.replace('closed_when = "signed_and_collected"', 'closed_when = "signed"')
CORRECTED = CORRECTED.replace('{ from = "1.00", rate = "0.02", bonus = "1000" }',
                              '{ from = "1.00", rate = "0.025", bonus = "1000" }')


def store_doc(data: Path, kind: str, period: str, key: str = "") -> dict | None:
    from services.project.readstore import ReadStore

    store = ReadStore.open_current(data)
    if store is None:
        return None
    with store:
        return msgspec.to_builtins(store.doc(kind, period, key))


def projected(data: Path, position: int) -> bool:
    from services.project.readstore import ReadStore

    store = ReadStore.open_current(data)
    if store is None:
        return False
    with store:
        return store.position() >= position


def totals_of(doc: dict) -> dict[str, str]:
    return {rep: r["total"] for rep, r in doc["reps"].items()}


def adjustments(doc: dict, rep: str) -> list[str]:
    return [x["amount"] for x in doc["reps"][rep]["statement"] if x["component"].startswith("adjustment")]


def test_close_replay_apply_report(make_service, tmp_path: Path) -> None:
    svc = make_service()
    data = svc.data_dir
    svc.cli("import", str(SEED), check=True)
    svc.wait_count(37, timeout=20)
    wait_until(lambda: projected(data, 37), 20, what="the projector at 37")
    assert totals_of(store_doc(data, "standings", "2026-08")) == FIRST

    # close: published through NATS, the projector freezes the statements as they stand
    res = svc.cli("close", "--period", "2026-08", "--json", check=True)
    closed = json.loads(res.stdout)
    assert closed["event_id"] == "close-2026-08" and closed["frozen"] is True
    assert closed["ruleset"]["id"] == "seed-table3"
    svc.wait_count(38)
    frozen = store_doc(data, "frozen", "2026-08")
    assert totals_of(frozen) == FIRST and frozen["ruleset"]["id"] == "seed-table3"

    again = svc.cli("close", "--period", "2026-08")
    assert again.returncode == 1
    assert "2026-08 is already closed" in again.stderr and again.stderr.count("\n") == 1
    assert svc.count() == 38

    # replay: the contract's JSON, byte-identical across runs; nothing published
    first = svc.cli("replay", "--period", "2026-08", "--ruleset", str(COLLECTED), "--json", check=True).stdout
    second = svc.cli("replay", "--period", "2026-08", "--ruleset", str(COLLECTED), "--json", check=True).stdout
    assert first == second
    result = json.loads(first)
    assert {r: v["delta"] for r, v in result["reps"].items()} == {"zhang": "-17800.00", "li": "0.00",
                                                                  "wang": "-8100.00"}
    assert result["baseline"] == {"ruleset": frozen["ruleset"], "frozen": True}
    assert svc.count() == 38
    csv_path = tmp_path / "replay.csv"
    svc.cli("replay", "--period", "2026-08", "--ruleset", str(COLLECTED), "--csv", str(csv_path), check=True)
    assert "2026-08,zhang,tiered,1,16800.00,0.00,-16800.00" in csv_path.read_text()

    # a back-dated deal for the closed month: an adjustment in September, frozen unchanged
    late = [{"id": "late-1", "type": "deal.created", "occurred_at": "2026-08-12T10:00:00+08:00", "source": "test",
             "data": {"deal_id": "D9", "rep_id": "li", "customer_id": "C9", "product_line": "B", "amount": "50000"}},
            {"id": "late-2", "type": "deal.won", "occurred_at": "2026-08-21T10:00:00+08:00", "source": "test",
             "data": {"deal_id": "D9"}}]
    assert svc.post(late).status_code == 202
    svc.wait_count(40)
    wait_until(lambda: projected(data, 40), 20, what="the projector at 40")
    assert totals_of(store_doc(data, "frozen", "2026-08")) == FIRST
    assert adjustments(store_doc(data, "standings", "2026-09"), "li") == ["7500.00"]

    # apply a corrected plan: ruleset.applied through NATS, deltas paid as adjustments
    fix = tmp_path / "fix.toml"
    fix.write_text(CORRECTED)
    preview = json.loads(svc.cli("replay", "--period", "2026-08", "--ruleset", str(fix), "--json",
                                 check=True).stdout)
    assert preview["reps"]["zhang"]["delta"] == "4200.00"  # 840,000 x 0.5%
    assert preview["reps"]["wang"]["delta"] == "1650.00"  # 330,000 x 0.5%
    applied = json.loads(svc.cli("replay", "--period", "2026-08", "--ruleset", str(fix), "--json", "--apply",
                                 check=True).stdout)
    assert applied["applied"]["event_id"].startswith("apply-2026-08-")
    assert Path(applied["applied"]["copy"]).read_text() == CORRECTED
    assert Path(applied["applied"]["copy"]).parent == data / "rulesets" / "applied"
    svc.wait_count(41)
    wait_until(lambda: projected(data, 41), 20, what="the projector at 41")
    september = store_doc(data, "standings", "2026-09")
    assert adjustments(september, "zhang") == ["4200.00"]
    assert adjustments(september, "wang") == ["1650.00"]
    assert totals_of(store_doc(data, "frozen", "2026-08")) == FIRST

    # the report of the closed month holds the published statements
    out = tmp_path / "report.xlsx"
    svc.cli("report", "--period", "2026-08", "--out", str(out), check=True)
    wb = openpyxl.load_workbook(out)
    t1 = wb.worksheets[0]
    zhang = next(r for r in t1.iter_rows() if r[2].value == "小张 (zhang)")
    assert (zhang[3].value, zhang[4].value) == (800000, 840000)
    assert zhang[5].value == pytest.approx(1.05) and "%" in zhang[5].number_format
    t3 = wb.worksheets[2]
    total = next(r for r in t3.iter_rows() if r[0].value == "小张 (zhang)" and r[2].value == "合计 total")
    assert total[3].value == 17800
