"""The report's workbook, read back with openpyxl.

`test_report_cells_from_store` writes read-model documents in the contract's shape
(cli.md `standings --json`) into a real SQLite read-model store and checks the cells;
the end-to-end path (events -> projector -> report) is in test_audit_service.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from services.readstore import ReadStore, encode_doc, new_store_path, swap_current
from services.report import SHEETS, ReportError, report

RULESET = {"id": "seed-table3", "hash": "sha256:abc"}


def _rep(name, region, bookings, target, attainment, gap, rag, statement, total):
    return {"name": name, "region": region, "team": "sales", "bookings": bookings, "collections": "0.00",
            "deals_won": 1, "deals_lost": 0, "new_customers": 1, "target": target, "attainment": attainment,
            "gap": gap, "rag": rag, "statement": statement, "total": total}


def _standings(period, bookings, target):
    return {
        "period": period, "ruleset": RULESET, "position": 37,
        "team": {"sales": {"bookings": bookings, "collections": "250000.00", "deals_won": 4, "new_customers": 4,
                           "target": target, "attainment": None if target is None else "0.9529",
                           "gap": None, "rag": "yellow" if target else "none", "win_rate": "0.8000",
                           "avg_deal_size": "405000.0000", "collection_rate": "0.1543", "cycle_days": "19.0500",
                           "activities": 5}},
        "regions": {"East": {"bookings": "840000.00", "target": "800000.00", "attainment": "1.0500",
                             "gap": "40000.00", "rag": "green"}},
        "product_lines": {"A": {"bookings": "840000.00", "target": None, "attainment": None, "gap": None,
                                "rag": "none"}},
        "reps": {
            "zhang": _rep("小张", "East", "840000.00", "800000.00", "1.0500", "40000.00", "green",
                          [{"component": "tiered", "amount": "16800.00", "explanation": "105.0% of target"},
                           {"component": "tiered", "amount": "1000.00", "explanation": "bonus for reaching 100%"}],
                          "17800.00"),
            "li": _rep("小李", "South", "450000.00", "600000.00", "0.7500", "-150000.00", "red", [], "0.00"),
            "wang": _rep("小王", "North", "330000.00", "300000.00", "1.1000", "30000.00", "green",
                         [{"component": "tiered", "amount": "6600.00", "explanation": "110.0% of target"}],
                         "6600.00"),
        },
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    path = new_store_path(data)
    store = ReadStore(path, writer=True)
    docs = [("standings", "2026-08", "", encode_doc(_standings("2026-08", "1620000.00", "1700000.00"))),
            ("standings", "2026-07", "", encode_doc(_standings("2026-07", "1200000.00", None))),
            ("statement", "2026-08", "zhang", encode_doc({"deals": [
                {"deal_id": "D1", "product_line": "A", "status": "won", "closed_at": "2026-08-15T10:00:00+08:00"}]}))]
    store.write(docs, 37)
    store.close()
    swap_current(data, path)
    return data


def test_report_cells_from_store(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    written = report(data_dir, "2026-08", out_xlsx=out, csv_dir=tmp_path / "csv")
    assert written["xlsx"] == str(out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == list(SHEETS)

    t1 = wb[SHEETS[0]]
    rows = {str(r[2].value): r for r in t1.iter_rows() if r[2].value and "(" in str(r[2].value)}
    zhang = rows["小张 (zhang)"]
    assert zhang[0].value == "East" and zhang[1].value == "A"
    assert zhang[3].value == 800000 and zhang[4].value == 840000  # numbers, not strings
    assert isinstance(zhang[5].value, float) and zhang[5].value == pytest.approx(1.05)
    assert "%" in zhang[5].number_format
    assert zhang[5].fill.fgColor.rgb.endswith("C6EFCE")  # green
    li = rows["小李 (li)"]
    assert li[6].value == -150000 and li[5].fill.fgColor.rgb.endswith("FFC7CE")  # red
    assert "below 80%" in li[8].value
    assert t1.freeze_panes is not None

    t2 = wb[SHEETS[1]]
    bookings = next(r for r in t2.iter_rows() if r[1].value and str(r[1].value).startswith("成单金额"))
    assert bookings[2].value == 1700000 and bookings[3].value == 1620000
    assert bookings[4].value == pytest.approx(1620000 / 1700000) and "%" in bookings[4].number_format
    assert bookings[4].fill.fgColor.rgb.endswith("FFEB9C")  # yellow
    assert bookings[6].value == pytest.approx(0.35)  # 环比 vs July 1,200,000
    assert bookings[7].value is None  # no 2025-08

    t3 = wb[SHEETS[2]]
    scheme = {str(r[0].value): str(r[1].value) for r in t3.iter_rows() if r[0].value and r[1].value}
    assert "≥100% 提成 2% + 奖金 1,000" in scheme["tiered 阶梯提成"]
    assert "500" in scheme["team_awards 团队奖"]
    totals = [r for r in t3.iter_rows() if r[2].value == "合计 total" and r[0].value == "小张 (zhang)"]
    assert totals[0][3].value == 17800

    with open(tmp_path / "csv" / "table1-targets.csv", encoding="utf-8-sig") as fh:
        table = list(csv.reader(fh))
    zhang_csv = next(r for r in table if r[2] == "小张 (zhang)")
    assert zhang_csv[3:7] == ["800000.00", "840000.00", "1.0500", "40000.00"]


def test_report_unknown_period(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no figures for period '2030-01'"):
        report(data_dir, "2030-01", out_xlsx=tmp_path / "x.xlsx")
