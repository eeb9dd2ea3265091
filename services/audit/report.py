"""`quotaboard report`: the users' three monthly tables as an Excel workbook (and CSV).

表1 目标分解与跟踪  target decomposition and tracking: one row per rep (region, the
    product lines the rep closed in the period, target, actual, attainment, gap, RAG,
    notes), then one row per region, per product line and per team. Actual, target,
    attainment, gap and RAG are on the plan's basis metric (as the leaderboard).
表2 团队分析  team analysis: per team and metric (bookings, collections, deals won, new
    customers, and the ratios without targets) target, actual, attainment, 环比 (vs the
    previous month) and 同比 (vs the same month last year), as DOMAIN.md defines them.
表3 激励方案与发放  the period's incentive scheme in words (the plan's components) and
    each rep's payout, line by line with the explanation, and the rep's total. When the
    period is closed the statements are the frozen (published, 公示) ones.

Every figure is read from the read-model store (nothing is recomputed here). Numbers are
written as numbers (money `#,##0.00`, ratios as percentages), RAG as red / yellow / green
fills, header rows frozen, columns sized. `csv_dir` writes the same three tables as CSV
(UTF-8 with BOM so Excel shows the Chinese headings), numbers as plain decimals.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from projections.periods import months_among
from projections.views import fixed
from schemas.documents import as_decimal as _dec

SHEETS = ("表1 目标分解与跟踪", "表2 团队分析", "表3 激励方案与发放")
CSV_NAMES = ("table1-targets.csv", "table2-team.csv", "table3-incentives.csv")
RAG_FILL = {"red": "#FFC7CE", "yellow": "#FFEB9C", "green": "#C6EFCE"}
RAG_FONT = {"red": "#9C0006", "yellow": "#9C5700", "green": "#006100"}
RAG_WORD = {"red": "红 red", "yellow": "黄 yellow", "green": "绿 green", "none": "— no target", None: "— no target"}

MONEY, RATIO, COUNT, TEXT, DAYS = "money", "ratio", "count", "text", "days"

TEAM_METRICS = [
    ("bookings", "成单金额 bookings", MONEY, True),
    ("collections", "回款 collections", MONEY, True),
    ("deals_won", "成单数 deals won", COUNT, True),
    ("new_customers", "新客户 new customers", COUNT, True),
    ("win_rate", "赢单率 win rate", RATIO, False),
    ("avg_deal_size", "客单价 average deal", MONEY, False),
    ("collection_rate", "回款率 collection rate", RATIO, False),
    ("cycle_days", "成交周期(天) cycle days", DAYS, False),
    ("activities", "跟进次数 activities", COUNT, False),
]


class ReportError(Exception):
    """One line for a person: what was wrong and what to do."""


@dataclass
class Table:
    """Rows of typed cells: a header, column kinds, rows; `rag` per row (colour of the row's RAG cells)."""

    title: str
    header: list[str]
    kinds: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    rag: list[str | None] = field(default_factory=list)
    bold: list[bool] = field(default_factory=list)
    preface: list[list[Any]] = field(default_factory=list)  # text rows above the table
    widths: list[int] = field(default_factory=list)
    row_kinds: list[str] | None = None  # overrides MONEY columns per row (表2: counts, ratios)

    def add(self, row: list[Any], rag: str | None = None, bold: bool = False) -> None:
        self.rows.append(row)
        self.rag.append(rag)
        self.bold.append(bold)




def _prev_month(period: str) -> str:
    y, m = (int(x) for x in period.split("-"))
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def _last_year(period: str) -> str:
    y, m = period.split("-")
    return f"{int(y) - 1}-{m}"


# --- gathering ---------------------------------------------------------------------------


def _open(data_dir: Path):
    from services.project.readstore import BuiltinDocuments, ReadStore

    store = ReadStore.open_current(data_dir)
    if store is None:
        raise ReportError(f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` "
                          "and import events first")
    return BuiltinDocuments(store)  # this report reads the documents by key


def _plan(data_dir: Path, period: str):
    from services.project.projector import current_rulesets

    return current_rulesets(data_dir).plan_for(period)


def _rep_notes(rep: dict, unmatched_by_rep: dict[str, int], frozen: bool) -> str:
    notes = []
    rag = rep.get("rag")
    if rag in ("red", "yellow"):
        notes.append({"red": "低于目标80% below 80%", "yellow": "接近目标 80–100%"}[rag])
    if rep.get("target") is None:
        notes.append("无目标 no target")
    pending = unmatched_by_rep.get(rep.get("_id", ""), 0)
    if pending:
        notes.append(f"{pending} 条待匹配 pending/unmatched")
    open_deals = [d for d in rep.get("_deals", []) if d.get("status") not in ("won", "closed", "lost")
                  and d.get("closed_at") is None]
    if open_deals:
        notes.append(f"{len(open_deals)} 单在途 open deals")
    if any(str(x.get("component", "")).startswith("adjustment") for x in rep.get("statement") or []):
        notes.append("含调整 adjustment for a closed month")
    if rep.get("honours"):
        notes.append(honours_words(rep["honours"]))
    if frozen:
        notes.append("已关账 frozen")
    return "; ".join(notes)


def honours_words(honours: list[str]) -> str:
    """`["star_of_month", "top_n:2"]` as 月度销售之星 star of the month; 季度TOP 第2名 quarter's top, 2nd."""
    words = []
    for h in honours:
        if h == "star_of_month":
            words.append("月度销售之星 star of the month")
        elif h.startswith("top_n:"):
            words.append(f"季度TOP 第{h[6:]}名 quarter's top, place {h[6:]}")
    return "; ".join(words)


def _unmatched_by_rep(doc: dict | None) -> tuple[dict[str, int], int]:
    """(per rep, total) events waiting for what they refer to. The fold's document lists
    them by deal (`{"count", "deals": {deal: [...]}}`): a deal not yet known has no rep."""
    if not doc:
        return {}, 0
    if isinstance(doc, dict) and "count" in doc:
        return {}, int(doc.get("count") or 0)
    items = doc.get("events", []) if isinstance(doc, dict) else doc
    counts: dict[str, int] = {}
    for item in items:
        rep = item.get("rep_id") if isinstance(item, dict) else None
        if rep:
            counts[rep] = counts.get(rep, 0) + 1
    return counts, len(items)


def table1(store, period: str, standings: dict, frozen: bool) -> Table:
    t = Table(
        SHEETS[0],
        ["区域 region", "产品线 product line", "销售员 rep", "目标 target", "实际 actual", "达成率 attainment",
         "差额 gap", "红绿灯 RAG", "备注 notes"],
        [TEXT, TEXT, TEXT, MONEY, MONEY, RATIO, MONEY, TEXT, TEXT],
        widths=[14, 18, 16, 16, 16, 14, 16, 14, 48],
    )
    ruleset = standings.get("ruleset") or {}
    t.preface.append([f"{period} 目标分解与跟踪 — ruleset {ruleset.get('id', '')}, log position "
                      f"{standings.get('position', '')}"])
    unmatched, unmatched_total = _unmatched_by_rep(store.unmatched())
    reps = standings.get("reps") or {}
    for rep_id in sorted(reps, key=lambda r: (str(reps[r].get("region", "")), r)):
        rep = dict(reps[rep_id])
        statement = store.statement(period, rep_id) or {}
        deals = [d for d in statement.get("deals", []) if isinstance(d, dict)]
        rep["_id"], rep["_deals"] = rep_id, deals
        lines = sorted({str(d.get("product_line")) for d in deals
                        if d.get("product_line") and d.get("closed_in_period", str(d.get("closed_at") or "")[:7] == period)}
                       or {str(d.get("product_line")) for d in deals if d.get("product_line")})
        name = rep.get("name") or rep_id
        t.add([rep.get("region", ""), " / ".join(lines), f"{name} ({rep_id})",
               _dec(rep.get("target")), _actual(rep, standings), _dec(rep.get("attainment")),
               _dec(rep.get("gap")), RAG_WORD.get(rep.get("rag"), rep.get("rag")),
               _rep_notes(rep, unmatched, frozen)], rep.get("rag"))
    for label, key, column in (("区域合计 region", "regions", 0), ("产品线合计 product line", "product_lines", 1),
                               ("团队合计 team", "team", 0)):
        for scope_id, m in sorted((standings.get(key) or {}).items()):
            row: list[Any] = ["", "", label]
            row[column] = scope_id
            row += [_dec(m.get("target")), _actual(m, standings), _dec(m.get("attainment")), _dec(m.get("gap")),
                    RAG_WORD.get(m.get("rag"), m.get("rag")), ""]
            t.add(row, m.get("rag"), bold=True)
    if unmatched_total:
        t.preface.append([f"{unmatched_total} 条事件待匹配 (events waiting for what they refer to): "
                          "`quotaboard unmatched`"])
    return t


def _basis(standings: dict) -> str:
    return standings.get("basis") or "bookings"


def _actual(m: dict, standings: dict) -> Decimal | None:
    return _dec(m.get(_basis(standings)))


def _metric_target(m: dict, metric: str, basis: str) -> Decimal | None:
    targets = m.get("targets")
    if isinstance(targets, dict) and targets.get(metric) is not None:
        entry = targets[metric]
        return _dec(entry.get("target") if isinstance(entry, dict) else entry)
    if m.get(f"{metric}_target") is not None:
        return _dec(m.get(f"{metric}_target"))
    return _dec(m.get("target")) if metric == basis else None


def table2(period: str, standings: dict) -> Table:
    """表2 from the team's figures as the fold computed them: targets, attainment and RAG
    from its `targets` block, 环比 / 同比 from its `changes` block. Nothing is recomputed."""
    t = Table(
        SHEETS[1],
        ["团队 team", "指标 metric", "目标 target", "实际 actual", "达成率 attainment", "红绿灯 RAG",
         "环比 MoM", "同比 YoY"],
        [TEXT, TEXT, MONEY, MONEY, RATIO, TEXT, RATIO, RATIO],
        widths=[12, 26, 16, 16, 14, 14, 12, 12],
    )
    t.preface.append([f"{period} 团队分析 (环比 vs {_prev_month(period)}, 同比 vs {_last_year(period)})"])
    for team_id, m in sorted((standings.get("team") or {}).items()):
        targets = m.get("targets") or {}
        changes = m.get("changes") or {}
        for metric, label, _kind, _has_target in TEAM_METRICS:
            if metric not in m:
                continue
            entry = targets.get(metric) or {}
            change = changes.get(metric) or {}
            rag = entry.get("rag") if entry else None
            t.add([team_id, label, _dec(entry.get("target")), _dec(m.get(metric)), _dec(entry.get("attainment")),
                   RAG_WORD.get(rag, "") if entry else "", _dec(change.get("mom")), _dec(change.get("yoy"))],
                  rag if entry else None)
    # per-row kinds of the target/actual columns: counts and days are not money
    t.row_kinds = [_row_kind(row[1]) for row in t.rows]
    return t


def _row_kind(label: str) -> str:
    for _, text, kind, _ in TEAM_METRICS:
        if text == label:
            return kind
    return MONEY


def _pct(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _money_words(value: Decimal) -> str:
    return f"{value:,.2f}".replace(".00", "")


def scheme_in_words(plan) -> list[list[str]]:
    """The plan's components as (component, words) rows, in statement line order."""
    if plan is None:
        return [["—", "no ruleset found for this period"]]
    inc = plan.ruleset.incentive
    basis = {"bookings": "成单金额 bookings", "collections": "回款 collections"}[inc.basis]
    rows = [["方案 plan", f"{plan.id} ({plan.hash[:19]}…), effective from {plan.effective_from}; "
                          f"period {inc.period}, basis {basis}"]]
    if inc.tiered:
        mode = "整额 whole" if inc.tiered.mode == "whole" else "分段 marginal"
        parts = [f"≥{_pct(t.from_)} 提成 {_pct(t.rate)}" + (f" + 奖金 {_money_words(t.bonus)}" if t.bonus else "")
                 for t in inc.tiered.tiers]
        rows.append(["tiered 阶梯提成", f"{mode}, by attainment of target: " + "; ".join(parts)])
    if inc.brackets:
        mode = "整额 whole" if inc.brackets.mode == "whole" else "分段 marginal"
        parts = [f"from {_money_words(b.from_)}: {_pct(b.rate)}" + (f" + {_money_words(b.bonus)}" if b.bonus else "")
                 for b in inc.brackets.brackets]
        rows.append(["brackets 金额分段", f"{mode}: " + "; ".join(parts)])
    if inc.product_rates:
        rows.append(["product_rates 产品线提成",
                     "; ".join(f"{k} {_pct(v)}" for k, v in sorted(inc.product_rates.items()))])
    if inc.renewal:
        rows.append(["renewal 续约加成", f"renewal {inc.basis} paid at {inc.renewal.multiplier}× the effective rate"])
    if inc.referral:
        rows.append(["referral 转介绍奖", f"{_money_words(inc.referral.bonus)} per closed referral deal"])
    for award in inc.team_awards:
        rows.append(["team_awards 团队奖", f"{award.scope} attainment ≥{_pct(award.from_)}: "
                                         f"{_money_words(award.per_member)} to every member"])
    for award in inc.rank_awards:
        rows.append(["rank_awards 排名奖", f"every {award.every}, top reps by {inc.basis}: "
                                         + " / ".join(_money_words(p) for p in award.prizes)
                                         + " (paid in the quarter's last month; ties share)"])
    if inc.mentor:
        rows.append(["mentor 伯乐奖", f"{_money_words(inc.mentor.bonus)} to the mentor when the mentee's first "
                                    f"deal closes within {inc.mentor.within_months} months of hiring"])
    if inc.clawback:
        rows.append(["clawback 退款追回", "refunds of deals credited earlier are taken back at that month's rate"])
    if inc.cap is not None:
        rows.append(["cap 封顶", f"monthly total capped at {_money_words(inc.cap)}"])
    rows.append(["adjustments 调整", "changes to a closed month are paid in the first open month after it"])
    honours = plan.ruleset.honours
    if honours.star_of_month:
        rows.append(["荣誉 月度销售之星", "star of the month: the highest attainment of at least 100% (ties: all)"])
    if honours.top_n:
        rows.append([f"荣誉 季度TOP{honours.top_n}", f"the quarter's top {honours.top_n} by attainment, "
                                                   "promotion priority (ties share a place)"])
    return rows


def table3(period: str, standings: dict, frozen_doc: dict | None, plan) -> Table:
    t = Table(
        SHEETS[2],
        ["销售员 rep", "区域 region", "组成 component", "金额 amount", "说明 explanation"],
        [TEXT, TEXT, TEXT, MONEY, TEXT],
        widths=[18, 12, 22, 16, 70],
    )
    source = frozen_doc if frozen_doc is not None else standings
    state = "已关账, 公示版 frozen (published)" if frozen_doc is not None else "未关账, 当前 current (open month)"
    t.preface.append([f"{period} 激励方案与发放 — {state}"])
    t.preface.append(["激励方案 scheme"])
    t.preface.extend(scheme_in_words(plan))
    t.preface.append([])
    live_reps = standings.get("reps") or {}
    reps = source.get("reps") or {}
    grand = Decimal(0)
    for rep_id in sorted(reps):
        rep = reps[rep_id]
        info = live_reps.get(rep_id) or rep
        who = f"{info.get('name') or rep_id} ({rep_id})"
        for line in rep.get("statement") or []:
            t.add([who, info.get("region", ""), line.get("component", ""), _dec(line.get("amount")),
                   line.get("explanation", "")])
        total = _dec(rep.get("total"))
        if total is None:
            total = sum((_dec(x.get("amount")) or Decimal(0) for x in rep.get("statement") or []), Decimal(0))
        grand += total
        if info.get("honours"):  # the standings show a published month's published list
            t.add([who, info.get("region", ""), "荣誉 honours", None, honours_words(info["honours"])])
        t.add([who, info.get("region", ""), "合计 total", total, ""], bold=True)
    t.add(["全部 all reps", "", "合计 total", grand, ""], bold=True)
    return t


def build_tables(data_dir: Path | str, period: str) -> list[Table]:
    data_dir = Path(data_dir)
    with _open(data_dir) as store:
        standings = store.standings(period)
        if standings is None:
            months = ", ".join(months_among(store.periods()))[-60:] or "none yet"
            raise ReportError(f"no figures for period {period!r} (months with figures: {months})")
        frozen = store.frozen(period)
        plan = _plan(data_dir, period)
        if plan is not None and "basis" not in standings:
            standings = {**standings, "basis": plan.ruleset.incentive.basis,
                         "definitions": {"red_below": str(plan.ruleset.definitions.red_below),
                                         "green_from": str(plan.ruleset.definitions.green_from)}}
        return [table1(store, period, standings, frozen is not None),
                table2(period, standings),
                table3(period, standings, frozen, plan)]


# --- writing ---------------------------------------------------------------------------


def _num(value: Any) -> float | int | None:
    if isinstance(value, Decimal):
        q = value if value == value.to_integral_value() and abs(value) < 2**53 else None
        return int(q) if q is not None else float(value)
    return value


def write_xlsx(tables: list[Table], path: Path | str) -> Path:
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    fmt = {
        "title": wb.add_format({"bold": True, "font_size": 13}),
        "header": wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True,
                                 "valign": "vcenter"}),
        "preface": wb.add_format({"text_wrap": False}),
    }
    cache: dict[tuple, Any] = {}

    def cell_format(kind: str, rag: str | None, bold: bool):
        key = (kind, rag, bold)
        if key not in cache:
            props: dict[str, Any] = {"border": 1}
            if kind == MONEY:
                props["num_format"] = "#,##0.00"
            elif kind == RATIO:
                props["num_format"] = "0.0%"
            elif kind == COUNT:
                props["num_format"] = "#,##0"
            elif kind == DAYS:
                props["num_format"] = "0.00"
            if rag in RAG_FILL:
                props["bg_color"] = RAG_FILL[rag]
                props["font_color"] = RAG_FONT[rag]
            if bold:
                props["bold"] = True
            cache[key] = wb.add_format(props)
        return cache[key]

    for table in tables:
        ws = wb.add_worksheet(table.title[:31])
        r = 0
        for i, pre in enumerate(table.preface):
            for c, value in enumerate(pre):
                ws.write(r, c, value, fmt["title"] if i == 0 else fmt["preface"])
            r += 1
        header_row = r
        for c, head in enumerate(table.header):
            ws.write(r, c, head, fmt["header"])
        r += 1
        row_kinds = table.row_kinds
        for i, row in enumerate(table.rows):
            rag = table.rag[i]
            for c, value in enumerate(row):
                kind = table.kinds[c]
                if row_kinds and kind == MONEY:
                    kind = row_kinds[i]
                coloured = rag if (kind == RATIO and c == _attainment_col(table)) or table.header[c].startswith("红绿灯") else None
                f = cell_format(kind, coloured, table.bold[i])
                if value is None:
                    ws.write_blank(r, c, None, f)
                elif isinstance(value, Decimal | int | float) and not isinstance(value, bool):
                    ws.write_number(r, c, _num(value), f)
                else:
                    ws.write_string(r, c, str(value), f)
            r += 1
        ws.freeze_panes(header_row + 1, 0 if table.title == SHEETS[2] else 3 if table.title == SHEETS[0] else 2)
        for c, width in enumerate(table.widths):
            ws.set_column(c, c, width)
        if table.rows:
            ws.autofilter(header_row, 0, header_row + len(table.rows), len(table.header) - 1)
    wb.close()
    return path


def _attainment_col(table: Table) -> int:
    for c, head in enumerate(table.header):
        if head.startswith("达成率"):
            return c
    return -1


def _csv_value(value: Any, kind: str) -> str:
    """Money to 2 decimals, ratios to 4, counts whole, half-up (the JSON contract's rule)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        places = {MONEY: "0.01", RATIO: "0.0001", DAYS: "0.0001", COUNT: "1"}.get(kind, "0.01")
        return fixed(value, Decimal(places))
    return str(value)


def write_csv(tables: list[Table], folder: Path | str) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for table, name in zip(tables, CSV_NAMES, strict=True):
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(table.header)
            for i, row in enumerate(table.rows):
                kinds = [table.row_kinds[i] if table.row_kinds and k == MONEY else k for k in table.kinds]
                writer.writerow([_csv_value(v, k) for v, k in zip(row, kinds, strict=True)])
        paths.append(path)
    return paths


def report(data_dir: Path | str, period: str, out_xlsx: Path | str | None = None,
           csv_dir: Path | str | None = None) -> dict:
    """Write the three tables; returns the paths written. Default: `report-<period>.xlsx`."""
    tables = build_tables(data_dir, period)
    written: dict[str, Any] = {"period": period}
    if out_xlsx is None and csv_dir is None:
        out_xlsx = Path(f"report-{period}.xlsx")
    if out_xlsx is not None:
        written["xlsx"] = str(write_xlsx(tables, out_xlsx))
    if csv_dir is not None:
        written["csv"] = [str(p) for p in write_csv(tables, csv_dir)]
    return written
