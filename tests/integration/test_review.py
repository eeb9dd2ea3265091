"""`quotaboard review`: one self-contained HTML file, rendered by headless Chromium to a PNG
and a PDF, its figures read back from the page's DOM and compared with `standings --json`
and `scorecard --json`.

The store is the team history's (tests/support/team_history.py) through a real log and
rebuild. The browser tests need Debian's `chromium`; without it they are skipped, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from team_history import build_store

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium (Debian package `chromium`) "
    "is not installed: the report is not rendered",
)
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("review") / "data"
    build_store(data)
    return data


def cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def report(data_dir: Path) -> Path:
    out = data_dir.parent / "review-2026-08.html"
    res = cli(data_dir, "review", "--period", "2026-08", "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def browser(*args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *BROWSER_FLAGS, *args], capture_output=True, text=True, timeout=timeout
    )


class Cells(HTMLParser):
    """The `data-field` cells of each table row with `data-kind`/`data-id` or `data-rep`."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self._row: tuple[str, str] | None = None
        self._field: str | None = None
        self._attrs: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and ("data-id" in a or "data-rep" in a):
            self._row = (a.get("data-kind", "scorecard"), a.get("data-id") or a["data-rep"])
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None and "data-field" in a:
            self._field = a["data-field"]
            self._attrs = a
            self.rows[self._row][self._field] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            if self._field == "rag" and self._row is not None:
                self.rows[self._row]["rag"] = self._attrs.get("data-rag", "")
            self._field = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._field is not None and self._field != "rag" and self._row is not None:
            self.rows[self._row][self._field] += data.strip()


def number(text: str) -> Decimal | None:
    return None if text in ("—", "") else Decimal(text.replace(",", "").rstrip("%"))


def test_self_contained_and_offline(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") == 4  # team + 3 regions weekly; no deal was created in August:
    assert (
        "no deal was created in 2026-08" in html and "funnel 销售漏斗" not in html
    )  # no empty funnel
    # nothing fetched: no script file, no stylesheet or image from elsewhere (pygal's inline
    # config script only names its tooltip options; its tooltip script is switched off)
    assert not re.search(r'<script[^>]*src=|<link |(src|href)="(https?:)?//', html)
    assert "@page { size: A4" in html
    assert (
        "new-customer conversion 15.0% against the team&#39;s 25.0%" in html
    )  # escaped by the template


def test_unknown_period_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    res = cli(data_dir, "review", "--period", "2030-01", "--out", str(tmp_path / "x.html"))
    assert res.returncode == 1 and "no figures for period '2030-01'" in res.stderr


@needs_chromium
def test_png_and_pdf(report: Path, tmp_path: Path) -> None:
    png, pdf = tmp_path / "review.png", tmp_path / "review.pdf"
    res = browser(f"--screenshot={png}", "--window-size=820,3000", report.as_uri())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", res.stderr[-500:]
    res = browser(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri())
    body = pdf.read_bytes()
    assert body[:5] == b"%PDF-", res.stderr[-500:]
    pages = len(re.findall(rb"/Type\s*/Page[^s]", body))
    assert 2 <= pages <= 8
    boxes = {
        tuple(round(float(x)) for x in m.split())
        for m in re.findall(rb"/MediaBox \[0 0 ([\d.]+ [\d.]+)\]", body)
    }
    assert boxes == {(595, 842)}  # A4 in points


@needs_chromium
def test_figures_read_back_from_the_dom(data_dir: Path, report: Path) -> None:
    res = browser("--dump-dom", report.as_uri())
    assert res.returncode == 0, res.stderr[-500:]
    cells = Cells()
    cells.feed(res.stdout)
    standings = json.loads(cli(data_dir, "standings", "--period", "2026-08", "--json").stdout)
    reps = {rid: row for (kind, rid), row in cells.rows.items() if kind == "rep"}
    assert set(reps) == set(standings["reps"])
    for rep_id, row in reps.items():
        entry = standings["reps"][rep_id]
        assert number(row["actual"]) == Decimal(entry["bookings"])
        assert number(row["target"]) == Decimal(entry["target"])
        assert number(row["gap"]) == Decimal(entry["gap"])
        assert number(row["attainment"]) == (Decimal(entry["attainment"]) * 100).quantize(
            Decimal("0.1")
        )
        assert row["rag"] == entry["rag"]
    for region, entry in standings["regions"].items():
        assert number(cells.rows[("region", region)]["actual"]) == Decimal(entry["bookings"])
    scorecard = json.loads(cli(data_dir, "scorecard", "--period", "2026-08", "--json").stdout)
    for rep_id, card in scorecard["reps"].items():
        row = cells.rows[("scorecard", rep_id)]
        assert (row["score"], row["grade"]) == (card["score"], card["grade"])


def test_a_scope_without_any_week_on_week_change_still_draws() -> None:
    from schemas.read_models import WeekBookings, WeeklySeries, WeekRow
    from services.audit.review import weekly_chart

    flat = WeeklySeries(
        target=None,
        previous_week=WeekBookings(week="2026-W30", bookings="0.00"),
        weeks=[
            WeekRow(
                week=w,
                bookings="0.00",
                mom=None,
                cumulative="0.00",
                target=None,
                cumulative_target=None,
            )
            for w in ("2026-W31", "2026-W32")
        ],
    )
    assert weekly_chart("region West", flat).startswith("<svg")


def test_the_funnel_of_a_month_with_created_deals_is_drawn(data_dir: Path) -> None:
    from services.audit.review import render

    html = render(data_dir, "2026-07")  # the history's deals were created in July
    assert "funnel 销售漏斗" in html and "no deal was created" not in html
    assert "lead → qualified" in html


def y2_labels(svg: str) -> list[str]:
    axis = re.search(r'<g class="axis y2">(.*?)</g></g>(?!<g class="guides">)', svg)
    assert axis is not None, "no secondary axis"
    return re.findall(r"<text[^>]*>([^<]*)</text>", axis.group(1))


def test_the_week_on_week_axis_is_labelled_in_round_percentages() -> None:
    from schemas.read_models import WeekBookings, WeeklySeries, WeekRow
    from services.audit.review import weekly_chart

    def week(w: str, bookings: str, mom: str | None) -> WeekRow:
        return WeekRow(
            week=w,
            bookings=bookings,
            mom=mom,
            cumulative="0.00",
            target=None,
            cumulative_target=None,
        )

    series = WeeklySeries(
        target=None,
        previous_week=WeekBookings(week="2026-W31", bookings="400000.00"),
        weeks=[week("2026-W32", "0.00", "-1.0000"), week("2026-W33", "1620000.00", None),
               week("2026-W34", "2187000.00", "0.3500")],
    )  # fmt: skip
    svg = weekly_chart("team sales", series)
    # money 0 to 2,500,000 in 500,000s: six labels, and six round 环比 labels beside them
    assert all(f">{m:,}</text>" in svg for m in range(0, 2_500_001, 500_000))
    assert y2_labels(svg) == ["-100%", "-50%", "0%", "+50%", "+100%", "+150%"]
