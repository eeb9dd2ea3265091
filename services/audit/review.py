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
from typing import TYPE_CHECKING

import jinja2
import msgspec
import pygal
from pygal.style import Style

from projections import periods as pd
from schemas.documents import as_decimal
from schemas.read_models import Diagnosis, Funnel, Scorecard, Standings, WeeklySeries, given
from services.audit.chart_axes import labels_matching, labels_over
from services.audit.report import RAG_WORD, TEAM_METRICS, ReportError, _open, actual_on

if TYPE_CHECKING:
    from services.project.readstore import ReadStore

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


def money_text(value: str | int | Decimal | None) -> str:
    d = as_decimal(value)
    return "—" if d is None else f"{d:,.2f}"


def pct_text(value: str | None) -> str:
    d = as_decimal(value)
    return "—" if d is None else f"{d * 100:.1f}%"


def signed_pct(value: str | None) -> str:
    d = as_decimal(value)
    return "—" if d is None else f"{d * 100:+.1f}%"


def _svg(chart) -> str:
    return chart.render(is_unicode=True, disable_xml_declaration=True)


def _money_label(v: float) -> str:
    return f"{v:,.0f}"


def _pct_label(v: float) -> str:
    return "0%" if v == 0 else f"{v:+,.0f}%"


def weekly_chart(title: str, series: WeeklySeries) -> str:
    """Bookings per week, the pro-rated weekly target, and 环比 on the second axis (round
    labels on both: services/audit/chart_axes.py)."""
    rows = series.weeks
    bookings = [float(as_decimal(r.bookings)) for r in rows]
    targets = [float(as_decimal(r.target)) for r in rows] if series.target is not None else []
    changes = [float(as_decimal(r.mom) * 100) if r.mom is not None else None for r in rows]
    known = [v for v in changes if v is not None]
    money = labels_over(min(bookings + targets, default=0), max(bookings + targets, default=0))
    pct = labels_matching(min(known), max(known), len(money)) if known else None
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
        value_formatter=_pct_label,  # pygal writes the secondary axis' labels with it
        secondary_range=(pct[0], pct[-1]) if pct else None,
    )
    chart.y_labels = [{"label": _money_label(v), "value": v} for v in money]
    chart.x_labels = [r.week[5:] for r in rows]
    chart.add("bookings 成单", bookings, formatter=_money_label)
    if targets:
        chart.add(
            "target (pro-rated)",
            targets,
            formatter=_money_label,
            stroke_style={"dasharray": "4,3"},
        )
    if known:  # pygal cannot scale an axis of no values
        chart.add("环比 %", changes, secondary=True, formatter=lambda v: f"{v:+.1f}%")
    return _svg(chart)


def funnel_chart(funnel: Funnel) -> str:
    """The deals created in the period by the furthest stage they reached."""
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
    stages = msgspec.structs.asdict(funnel.stages)
    chart.x_labels = list(reversed(list(stages)))
    chart.add("reached", list(reversed(list(stages.values()))))
    return _svg(chart)


def _table1(store: ReadStore, period: str, standings: Standings) -> list[dict]:
    """表1 rows: one per rep (region, product lines closed in the period, target, actual,
    attainment, gap, RAG), then one per region and product line."""
    rows = []
    reps = standings.reps
    for rep_id in sorted(reps, key=lambda r: (reps[r].region or "", r)):
        rep = reps[rep_id]
        parts = store.doc("statement", period, rep_id)
        deals = parts.deals if parts is not None else []
        lines = sorted({d.product_line for d in deals if d.closed_in_period and d.product_line})
        rows.append(
            {
                "kind": "rep",
                "id": rep_id,
                "region": rep.region or "",
                "lines": " / ".join(lines),
                "label": f"{rep.name or rep_id} ({rep_id})",
                "entry": rep,
                "actual": actual_on(rep),
            }
        )
    for kind, scopes in (("region", standings.regions), ("product line", standings.product_lines)):
        for scope_id, entry in sorted(scopes.items()):
            rows.append(
                {
                    "kind": kind,
                    "id": scope_id,
                    "region": scope_id if kind == "region" else "",
                    "lines": scope_id if kind != "region" else "",
                    "label": f"{kind} {scope_id}",
                    "entry": entry,
                    "actual": actual_on(entry),
                }
            )
    return rows


def _table2(standings: Standings) -> list[dict]:
    """表2 rows: per team and metric the target, actual, attainment, RAG, 环比 and 同比 the
    fold computed (its `targets` and `changes` blocks)."""
    rows = []
    for team_id, m in sorted(standings.team.items()):
        for metric, label, kind, _ in TEAM_METRICS:
            target = m.targets.get(metric)
            change = m.changes.get(metric)
            rows.append(
                {
                    "team": team_id,
                    "metric": metric,
                    "label": label,
                    "kind": kind,
                    "target": target.target if target is not None else None,
                    "actual": getattr(m, metric),
                    "attainment": target.attainment if target is not None else None,
                    "rag": target.rag if target is not None else None,
                    "mom": change.mom if change is not None else None,
                    "yoy": change.yoy if change is not None else None,
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
        return f"{as_decimal(value):.1f}"
    return str(value)


def _next_period(
    diagnosis: Diagnosis | None, scorecard: Scorecard | None, standings: Standings
) -> list[dict]:
    """The reps to act on: those below green with their first drivers, worst RAG first."""
    out = []
    for rep_id, rep in (diagnosis.reps if diagnosis is not None else {}).items():
        card = scorecard.reps.get(rep_id) if scorecard is not None else None
        entry = standings.reps.get(rep_id)
        out.append(
            {
                "id": rep_id,
                "name": rep.name,
                "rag": rep.rag,
                "attainment": rep.attainment,
                "gap": entry.gap if entry is not None else None,
                "drivers": rep.drivers[:2],
                "grade": card.grade if card is not None else None,
                "flagged": card.flagged if card is not None else [],
            }
        )
    out.sort(
        key=lambda r: (RAG_ORDER[r["rag"]], as_decimal(r["attainment"]) or Decimal(0), r["id"])
    )
    return out


def _scorecard_for(store: ReadStore, period: str) -> Scorecard | None:
    """The period's scorecard, else (a month under a quarterly assessment) its quarter's."""
    card = store.scorecard(period)
    if card is None and pd.kind_of(period) == "month":
        card = store.scorecard(pd.quarter_of(period))
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
        rag_word=RAG_WORD.__getitem__,
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
        funnel = store.funnel(period)
        weekly = store.weekly(period)
        diagnosis = store.diagnosis(period)
        scorecard = _scorecard_for(store, period)
        table1 = _table1(store, period, standings)
    t2 = _table2(standings)
    charts = []
    if weekly is not None:
        for team_id, series in weekly.team.items():
            charts.append(
                weekly_chart(f"team {team_id}: weekly bookings 周度成单 and 环比", series)
            )
        for region_id, series in weekly.regions.items():
            charts.append(weekly_chart(f"region {region_id}: weekly bookings and 环比", series))
    honours = [
        (rep_id, rep.name, h) for rep_id, rep in sorted(standings.reps.items()) for h in rep.honours
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
            # nothing to draw when no deal was created in the period (the template says so)
            funnel_svg=funnel_chart(funnel) if funnel is not None and funnel.stages.lead else None,
            scorecard=scorecard,
            diagnosis=diagnosis,
            honours=honours,
            publication=given(standings.publication),
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
