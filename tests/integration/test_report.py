"""The report's workbook, read back with openpyxl.

The store is built the real way: the seed's events in a real log, a real rebuild; the
service path (events over NATS -> projector -> `quotaboard report`) is in
test_audit_service.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from events.log import EventLog, log_path
from schemas.events import decode_event
from services.audit.report import SHEETS, ReportError, report
from services.project.projector import rebuild

SEED = Path(__file__).resolve().parents[3] / "shared" / "examples" / "seed-table1.jsonl"
# A July deal for zhang, so that August's 环比 has something to compare with.
JULY = [
    {"id": "july-c", "type": "deal.created", "occurred_at": "2026-07-02T10:00:00+08:00",
     "data": {"deal_id": "D0", "rep_id": "zhang", "customer_id": "C0", "product_line": "A", "amount": "1200000"}},
    {"id": "july-w", "type": "deal.won", "occurred_at": "2026-07-10T10:00:00+08:00", "data": {"deal_id": "D0"}},
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The seed month (plus July) through the real log and a real rebuild."""
    data = tmp_path / "data"
    data.mkdir()
    events = [decode_event(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    events += [decode_event(json.dumps(e)) for e in JULY]
    with EventLog(log_path(data)) as log:
        log.append(events)
    rebuild(data)
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
    assert bookings[4].value == pytest.approx(0.9529) and "%" in bookings[4].number_format
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


def test_report_shows_the_honours(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "rulesets").mkdir(parents=True)
    seed_toml = SEED.parent / "rulesets" / "seed-table3.toml"
    (data / "rulesets" / "seed.toml").write_text(seed_toml.read_text() + "\n[honours]\nstar_of_month = true\n")
    events = [decode_event(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    with EventLog(log_path(data)) as log:
        log.append(events)
    rebuild(data)
    out = tmp_path / "h.xlsx"
    report(data, "2026-08", out_xlsx=out)
    wb = openpyxl.load_workbook(out)
    notes = {str(r[2].value): str(r[8].value or "") for r in wb[SHEETS[0]].iter_rows() if r[2].value}
    assert "月度销售之星" in notes["小王 (wang)"] and "月度销售之星" not in notes["小张 (zhang)"]
    t3 = [[c.value for c in r] for r in wb[SHEETS[2]].iter_rows()]
    assert ["小王 (wang)", "North", "荣誉 honours", None, "月度销售之星 star of the month"] in t3
    assert any(r[0] == "荣誉 月度销售之星" for r in t3)
