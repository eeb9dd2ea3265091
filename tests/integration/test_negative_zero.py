"""No "-0.00" or "-0.0000" in the JSON: a ratio or sum that rounds to zero is written "0".

A refund of a few yuan against millions booked makes a collection rate of −0.000001,
which rounds to −0; a month whose refunds equal its payments has collections of zero.
Both go through the real path (a log, a rebuild, `quotaboard standings/statement --json`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from events.log import EventLog, log_path
from projections.views import fixed, money, ratio4
from schemas.events import decode_event
from services.project.projector import rebuild
from services.project.readstore import ReadStore

REPO = Path(__file__).resolve().parents[2]
NEGATIVE_ZERO = re.compile(r"^-0(\.0*)?$")


def _event(n: int, kind: str, at: str, data: dict) -> dict:
    return {"id": f"nz-{n:03d}", "type": kind, "occurred_at": at, "source": "test", "data": data}


def _events() -> list[dict]:
    """East's zhang: November paid in full; December books 5,000,000, pays 2 yuan and
    refunds 3 of November's payment (collections −1.00: a rate of −0.0000002). South's
    li: December pays and refunds the same 1,000 (collections 0.00)."""
    rows = [
        (
            "rep.onboarded",
            "2026-10-01T09:00:00+08:00",
            {
                "rep_id": "zhang",
                "name": "小张",
                "team": "sales",
                "region": "East",
                "hired_on": "2025-03-01",
            },
        ),
        (
            "rep.onboarded",
            "2026-10-01T09:00:00+08:00",
            {
                "rep_id": "li",
                "name": "小李",
                "team": "sales",
                "region": "South",
                "hired_on": "2025-03-01",
            },
        ),
        (
            "target.set",
            "2026-11-25T09:00:00+08:00",
            {
                "scope": "rep",
                "scope_id": "zhang",
                "period": "2026-12",
                "metric": "bookings",
                "amount": "4000000",
            },
        ),
        (
            "deal.created",
            "2026-11-02T10:00:00+08:00",
            {
                "deal_id": "D1",
                "rep_id": "zhang",
                "customer_id": "C1",
                "product_line": "A",
                "amount": "100000",
            },
        ),
        ("deal.won", "2026-11-05T10:00:00+08:00", {"deal_id": "D1"}),
        (
            "payment.received",
            "2026-11-06T10:00:00+08:00",
            {"payment_id": "P1", "deal_id": "D1", "amount": "100000"},
        ),
        (
            "deal.created",
            "2026-12-01T10:00:00+08:00",
            {
                "deal_id": "D2",
                "rep_id": "zhang",
                "customer_id": "C2",
                "product_line": "A",
                "amount": "5000000",
            },
        ),
        ("deal.won", "2026-12-03T10:00:00+08:00", {"deal_id": "D2"}),
        (
            "payment.received",
            "2026-12-04T10:00:00+08:00",
            {"payment_id": "P2", "deal_id": "D2", "amount": "2"},
        ),
        (
            "payment.refunded",
            "2026-12-05T10:00:00+08:00",
            {"payment_id": "P1", "deal_id": "D1", "amount": "3"},
        ),
        (
            "deal.created",
            "2026-11-10T10:00:00+08:00",
            {
                "deal_id": "D3",
                "rep_id": "li",
                "customer_id": "C3",
                "product_line": "B",
                "amount": "1000",
            },
        ),
        ("deal.won", "2026-12-06T10:00:00+08:00", {"deal_id": "D3"}),
        (
            "payment.received",
            "2026-12-07T10:00:00+08:00",
            {"payment_id": "P3", "deal_id": "D3", "amount": "1000"},
        ),
        (
            "payment.refunded",
            "2026-12-08T10:00:00+08:00",
            {"payment_id": "P3", "deal_id": "D3", "amount": "1000"},
        ),
    ]
    return [_event(i, kind, at, data) for i, (kind, at, data) in enumerate(rows, 1)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("negzero")
    with EventLog(log_path(data)) as log:
        log.append([decode_event(json.dumps(e, ensure_ascii=False)) for e in _events()])
    rebuild(data)
    return data


def _negative_zeros(doc, path: str = "$") -> list[str]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _negative_zeros(v, f"{path}.{k}")]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _negative_zeros(v, f"{path}[{i}]")]
    return [f"{path}={doc}"] if isinstance(doc, str) and NEGATIVE_ZERO.match(doc) else []


def test_fixed_writes_zero_unsigned():
    assert fixed(Decimal(0) / Decimal(-5), Decimal("0.0001")) == "0.0000"
    assert ratio4(Decimal("-0.00004")) == "0.0000"
    assert money(Decimal("-0.004")) == "0.00"
    assert money(Decimal("-0.005")) == "-0.01"  # half-up, away from zero: not a zero
    assert ratio4(Decimal("-0.25")) == "-0.2500"


def test_read_models_have_no_negative_zero(data_dir):
    with ReadStore.open_current(data_dir) as store:
        doc = store.standings("2026-12")
        zhang, li = doc.reps["zhang"], doc.reps["li"]
        assert zhang.collections == "-1.00" and zhang.collection_rate == "0.0000"
        assert li.collections == "0.00" and li.collection_rate == "0.0000"
        assert doc.regions["East"].collection_rate == "0.0000"
        docs = [
            doc,
            store.funnel("2026-12"),
            store.statement("2026-12", "zhang"),
            store.statement("2026-12", "li"),
            store.standings("2026-Q4"),
            store.standings("2026"),
        ]
    assert [p for d in docs for p in _negative_zeros(msgspec.to_builtins(d))] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["standings", "--period", "2026-12"],
        ["statement", "--rep", "zhang"],
        ["funnel", "--period", "2026-Q4"],
    ],
)
def test_cli_json_has_no_negative_zero(data_dir, argv):
    res = subprocess.run(
        [sys.executable, "-m", "services.cli", *argv, "--json", "--data", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert _negative_zeros(json.loads(res.stdout)) == []
