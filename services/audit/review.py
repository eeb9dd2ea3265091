"""`quotaboard review`: the review report (复盘报告) as one self-contained HTML file.

For the weekly, monthly or quarterly review meeting: 表1 and 表2 with red-yellow-green
cells, the team's and each region's weekly bookings with 环比 and the pro-rated target,
the funnel by stage and by source, the scorecard, the diagnosis, honours and the
publication state where they exist, and a "next period" section listing the reps and
the drivers to act on.

Why this shape: a file that opens offline and prints on A4 is what is mailed before the
meeting and printed for it. Charts are drawn by pygal as inline SVG (no script, no
external file: its tooltip script is switched off); tables and text come from a Jinja2
template (services/audit/templates/review.html.j2) with autoescaping, never from string
concatenation. Every figure is read from the read-model store, as `standings --json`
shows it; nothing is recomputed here. Chart geometry is drawn from floats (only the
picture: every number printed is the store's decimal text).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import jinja2
import pygal
from pygal.style import Style

from projections import periods as pd
from services.audit.report import RAG_WORD, TEAM_METRICS, ReportError, _open

TEMPLATES = Path(__file__).resolve().parent / "templates"
RAG_ORDER = {"red": 0, "yellow": 1, "green": 2, "none": 3}
CHART_STYLE = Style(
    background="white",
    plot_background="white",
    font_family="DejaVu Sans, sans-serif",
    colors=("#2f6fb0", "#9aa5b1", "#d9822b"),
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
    title_font_size=13,
    value_font_size=10,
)


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def money_text(value) -> str:
    d = _dec(value)
    return "—" if d is None else f"{d:,.2f}"


def pct_text(value) -> str:
    d = _dec(value)
    return "—" if d is None else f"{d * 100:.1f}%"


def signed_pct(value) -> str:
    d = _dec(value)
    return "—" if d is None else f"{d * 100:+.1f}%"


def _svg(chart) -> str:
    return chart.render(is_unicode=True, disable_xml_declaration=True)


def weekly_chart(title: str, series: dict) -> str:
    """Bookings per week, the pro-rated weekly target, and 环比 on the second axis."""
    rows = series["weeks"]
    chart = pygal.Line(
        width=760,
        height=260,
        title=title,
        style=CHART_STYLE,
        js=(),
        legend_at_bottom=True,
        x_label_rotation=0,
        show_minor_x_labels=True,
        dots_size=3,
        explicit_size=True,
        value_formatter=lambda v: f"{v:,.0f}",
        secondary_range=None,
    )
    chart.x_labels = [r["week"][5:] for r in rows]
    chart.add("bookings 成单", [float(Decimal(r["bookings"])) for r in rows])
    if series.get("target") is not None:
        chart.add(
            "target (pro-rated)",
            [float(Decimal(r["target"])) for r in rows],
            stroke_style={"dasharray": "4,3"},
        )
    changes = [float(Decimal(r["mom"]) * 100) if r["mom"] is not None else None for r in rows]
    if any(v is not None for v in changes):  # pygal cannot scale an axis of no values
        chart.add("环比 %", changes, secondary=True, formatter=lambda v: f"{v:+.1f}%")
    return _svg(chart)


def funnel_chart(funnel: dict) -> str:
    chart = pygal.HorizontalBar(
        width=760,
        height=200,
        title="funnel 销售漏斗 (deals created in the period)",
        style=CHART_STYLE,
        js=(),
        show_legend=False,
        print_values=True,
        explicit_size=True,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    stages = funnel.get("stages", {})
    chart.x_labels = list(reversed(list(stages)))
    chart.add("reached", list(reversed([int(v) for v in stages.values()])))
    return _svg(chart)


def _table1(store, period: str, standings: dict) -> list[dict]:
    """表1 rows: one per rep (region, product lines closed in the period, target, actual,
    attainment, gap, RAG), then one per region and product line."""
    basis = standings.get("basis") or next(iter(standings.get("reps", {}).values()), {}).get(
        "basis", "bookings"
    )
    rows = []
    reps = standings.get("reps") or {}
    for rep_id in sorted(reps, key=lambda r: (str(reps[r].get("region") or ""), r)):
        rep = reps[rep_id]
        parts = store.doc("statement", period, rep_id) or {}
        lines = sorted(
            {
                str(d.get("product_line"))
                for d in parts.get("deals", [])
                if d.get("closed_in_period") and d.get("product_line")
            }
        )
        rows.append(
            {
                "kind": "rep",
                "id": rep_id,
                "region": rep.get("region") or "",
                "lines": " / ".join(lines),
                "label": f"{rep.get('name') or rep_id} ({rep_id})",
                "entry": rep,
                "actual": rep.get(basis),
            }
        )
    for kind, key in (("region", "regions"), ("product line", "product_lines")):
        for scope_id, entry in sorted((standings.get(key) or {}).items()):
            rows.append(
                {
                    "kind": kind,
                    "id": scope_id,
                    "region": scope_id if kind == "region" else "",
                    "lines": scope_id if kind != "region" else "",
                    "label": f"{kind} {scope_id}",
                    "entry": entry,
                    "actual": entry.get(basis),
                }
            )
    return rows


def _table2(standings: dict) -> list[dict]:
    """表2 rows: per team and metric the target, actual, attainment, RAG, 环比 and 同比 the
    fold computed (its `targets` and `changes` blocks)."""
    rows = []
    for team_id, m in sorted((standings.get("team") or {}).items()):
        for metric, label, kind, _ in TEAM_METRICS:
            if metric not in m:
                continue
            target = (m.get("targets") or {}).get(metric) or {}
            change = (m.get("changes") or {}).get(metric) or {}
            rows.append(
                {
                    "team": team_id,
                    "metric": metric,
                    "label": label,
                    "kind": kind,
                    "target": target.get("target"),
                    "actual": m.get(metric),
                    "attainment": target.get("attainment"),
                    "rag": target.get("rag"),
                    "mom": change.get("mom"),
                    "yoy": change.get("yoy"),
                }
            )
    return rows


def cell(value, kind: str) -> str:
    """A 表2 value as printed: money, a percentage, a count or days."""
    if value is None:
        return "—"
    if kind == "money":
        return money_text(value)
    if kind == "ratio":
        return pct_text(value)
    if kind == "days":
        return f"{Decimal(str(value)):.1f}"
    return str(value)


def _next_period(diagnosis: dict | None, scorecard: dict | None, standings: dict) -> list[dict]:
    """The reps to act on: those below green with their first drivers, worst RAG first."""
    out = []
    for rep_id, rep in (diagnosis or {}).get("reps", {}).items():
        card = (scorecard or {}).get("reps", {}).get(rep_id) or {}
        entry = standings.get("reps", {}).get(rep_id) or {}
        out.append(
            {
                "id": rep_id,
                "name": rep["name"],
                "rag": rep["rag"],
                "attainment": rep["attainment"],
                "gap": entry.get("gap"),
                "drivers": rep["drivers"][:2],
                "grade": card.get("grade"),
                "flagged": card.get("flagged", []),
            }
        )
    out.sort(key=lambda r: (RAG_ORDER.get(r["rag"], 9), Decimal(r["attainment"] or 0), r["id"]))
    return out


def _scorecard_for(store, period: str) -> dict | None:
    """The period's scorecard, else (a month under a quarterly assessment) its quarter's."""
    card = store.doc("scorecard", period)
    if card is None and pd.kind_of(period) == "month":
        card = store.doc("scorecard", pd.quarter_of(period))
    return card


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=money_text,
        pct=pct_text,
        signed_pct=signed_pct,
        rag_word=lambda r: RAG_WORD.get(r, r),
        cell=cell,
    )
    return env


def render(data_dir: Path | str, period: str) -> str:
    """The report's HTML for `period`, from the store."""
    with _open(Path(data_dir)) as store:
        standings = store.standings(period)
        if standings is None:
            raise ReportError(
                f"no figures for period {period!r}: pick a period `quotaboard standings` shows"
            )
        funnel = store.funnel(period) or {"stages": {}, "conversion": {}, "by_source": {}}
        weekly = store.doc("weekly", period)
        diagnosis = store.doc("diagnosis", period)
        scorecard = _scorecard_for(store, period)
        table1 = _table1(store, period, standings)
    t2 = _table2(standings)
    charts = []
    if weekly is not None:
        for team_id, series in weekly["team"].items():
            charts.append(
                weekly_chart(f"team {team_id}: weekly bookings 周度成单 and 环比", series)
            )
        for region_id, series in weekly["regions"].items():
            charts.append(weekly_chart(f"region {region_id}: weekly bookings and 环比", series))
    honours = [
        (rep_id, rep.get("name"), h)
        for rep_id, rep in sorted(standings.get("reps", {}).items())
        for h in rep.get("honours") or []
    ]
    return (
        environment()
        .get_template("review.html.j2")
        .render(
            period=period,
            standings=standings,
            table1=table1,
            table2=t2,
            weekly=weekly,
            charts=charts,
            funnel=funnel,
            funnel_svg=funnel_chart(funnel),
            scorecard=scorecard,
            diagnosis=diagnosis,
            honours=honours,
            publication=standings.get("publication"),
            next_rows=_next_period(diagnosis, scorecard, standings),
            next_period=pd.next_period(period),
        )
    )


def review(data_dir: Path | str, period: str, out: Path | str) -> dict:
    """Write the report to `out`; returns the path and the seconds it took."""
    started = time.perf_counter()
    html = render(data_dir, period)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return {
        "period": period,
        "html": str(out),
        "bytes": len(html.encode()),
        "seconds": round(time.perf_counter() - started, 3),
    }
