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
from typing import TYPE_CHECKING, Any

from projections.periods import months_among
from projections.views import fixed
from schemas.documents import as_decimal as _dec
from schemas.read_models import DealRow, Frozen, FrozenRep, RepEntry, ScopeEntry, Standings

if TYPE_CHECKING:
    from services.project.readstore import ReadStore

SHEETS = ("表1 目标分解与跟踪", "表2 团队分析", "表3 激励方案与发放")
CSV_NAMES = ("table1-targets.csv", "table2-team.csv", "table3-incentives.csv")
RAG_FILL = {"red": "#FFC7CE", "yellow": "#FFEB9C", "green": "#C6EFCE"}
RAG_FONT = {"red": "#9C0006", "yellow": "#9C5700", "green": "#006100"}
RAG_WORD = {"red": "红 red", "yellow": "黄 yellow", "green": "绿 green", "none": "— no target"}

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


def _open(data_dir: Path) -> ReadStore:
    from services.project.readstore import ReadStore

    store = ReadStore.open_current(data_dir)
    if store is None:
        raise ReportError(
            f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` "
            "and import events first"
        )
    return store


def _plan(data_dir: Path, period: str):
    from services.project.projector import current_rulesets

    return current_rulesets(data_dir).plan_for(period)


def _rep_notes(rep: RepEntry, deals: list[DealRow], frozen: bool) -> str:
    notes = []
    if rep.rag in ("red", "yellow"):
        notes.append({"red": "低于目标80% below 80%", "yellow": "接近目标 80–100%"}[rep.rag])
    if rep.target is None:
        notes.append("无目标 no target")
    open_deals = [
        d for d in deals if d.status not in ("won", "closed", "lost") and d.closed_at is None
    ]
    if open_deals:
        notes.append(f"{len(open_deals)} 单在途 open deals")
    if any(line.component.startswith("adjustment") for line in rep.statement):
        notes.append("含调整 adjustment for a closed month")
    if rep.honours:
        notes.append(honours_words(rep.honours))
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


def _product_lines(deals: list[DealRow]) -> list[str]:
    """The product lines the rep closed in the period, else those of all the rep's deals."""
    closed = {d.product_line for d in deals if d.product_line and d.closed_in_period}
    return sorted(closed or {d.product_line for d in deals if d.product_line})


def table1(store: ReadStore, period: str, standings: Standings, frozen: bool) -> Table:
    t = Table(
        SHEETS[0],
        [
            "区域 region",
            "产品线 product line",
            "销售员 rep",
            "目标 target",
            "实际 actual",
            "达成率 attainment",
            "差额 gap",
            "红绿灯 RAG",
            "备注 notes",
        ],
        [TEXT, TEXT, TEXT, MONEY, MONEY, RATIO, MONEY, TEXT, TEXT],
        widths=[14, 18, 16, 16, 16, 14, 16, 14, 48],
    )
    t.preface.append(
        [
            f"{period} 目标分解与跟踪 — ruleset {standings.ruleset.id}, log position "
            f"{standings.position}"
        ]
    )
    unmatched = store.unmatched()
    reps = standings.reps
    for rep_id in sorted(reps, key=lambda r: (str(reps[r].region), r)):
        rep = reps[rep_id]
        # the rep's deals: the statement parts (ReadStore.statement would parse the standings again)
        parts = store.doc("statement", period, rep_id)
        deals = parts.deals if parts is not None else []
        t.add(
            [
                rep.region,
                " / ".join(_product_lines(deals)),
                f"{rep.name or rep_id} ({rep_id})",
                _dec(rep.target),
                actual_on(rep),
                _dec(rep.attainment),
                _dec(rep.gap),
                RAG_WORD[rep.rag],
                _rep_notes(rep, deals, frozen),
            ],
            rep.rag,
        )
    for label, scopes, column in (
        ("区域合计 region", standings.regions, 0),
        ("产品线合计 product line", standings.product_lines, 1),
        ("团队合计 team", standings.team, 0),
    ):
        for scope_id, m in sorted(scopes.items()):
            row: list[Any] = ["", "", label]
            row[column] = scope_id
            row += [
                _dec(m.target),
                actual_on(m),
                _dec(m.attainment),
                _dec(m.gap),
                RAG_WORD[m.rag],
                "",
            ]
            t.add(row, m.rag, bold=True)
    if unmatched is not None and unmatched.count:
        t.preface.append(
            [
                f"{unmatched.count} 条事件待匹配 (events waiting for what they refer to): "
                "`quotaboard unmatched`"
            ]
        )
    return t


def actual_on(m: ScopeEntry) -> Decimal | None:
    """The scope's actual on the basis its attainment was computed on (the entry's own
    `basis`: the plan that governed the period, a `ruleset.applied` override included)."""
    return _dec(m.collections if m.basis == "collections" else m.bookings)


def table2(period: str, standings: Standings) -> Table:
    """表2 from the team's figures as the fold computed them: targets, attainment and RAG
    from its `targets` block, 环比 / 同比 from its `changes` block. Nothing is recomputed."""
    t = Table(
        SHEETS[1],
        [
            "团队 team",
            "指标 metric",
            "目标 target",
            "实际 actual",
            "达成率 attainment",
            "红绿灯 RAG",
            "环比 MoM",
            "同比 YoY",
        ],
        [TEXT, TEXT, MONEY, MONEY, RATIO, TEXT, RATIO, RATIO],
        widths=[12, 26, 16, 16, 14, 14, 12, 12],
    )
    t.preface.append(
        [f"{period} 团队分析 (环比 vs {_prev_month(period)}, 同比 vs {_last_year(period)})"]
    )
    for team_id, m in sorted(standings.team.items()):
        for metric, label, _kind, _has_target in TEAM_METRICS:
            entry = m.targets.get(metric)
            change = m.changes.get(metric)
            rag = entry.rag if entry is not None else None
            t.add(
                [
                    team_id,
                    label,
                    _dec(entry.target) if entry is not None else None,
                    _dec(getattr(m, metric)),
                    _dec(entry.attainment) if entry is not None else None,
                    RAG_WORD[rag] if rag else "",
                    _dec(change.mom) if change is not None else None,
                    _dec(change.yoy) if change is not None else None,
                ],
                rag,
            )
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
    rows = [
        [
            "方案 plan",
            f"{plan.id} ({plan.hash[:19]}…), effective from {plan.effective_from}; "
            f"period {inc.period}, basis {basis}",
        ]
    ]
    if inc.tiered:
        mode = "整额 whole" if inc.tiered.mode == "whole" else "分段 marginal"
        parts = [
            f"≥{_pct(t.from_)} 提成 {_pct(t.rate)}"
            + (f" + 奖金 {_money_words(t.bonus)}" if t.bonus else "")
            for t in inc.tiered.tiers
        ]
        rows.append(["tiered 阶梯提成", f"{mode}, by attainment of target: " + "; ".join(parts)])
    if inc.brackets:
        mode = "整额 whole" if inc.brackets.mode == "whole" else "分段 marginal"
        parts = [
            f"from {_money_words(b.from_)}: {_pct(b.rate)}"
            + (f" + {_money_words(b.bonus)}" if b.bonus else "")
            for b in inc.brackets.brackets
        ]
        rows.append(["brackets 金额分段", f"{mode}: " + "; ".join(parts)])
    if inc.product_rates:
        rows.append(
            [
                "product_rates 产品线提成",
                "; ".join(f"{k} {_pct(v)}" for k, v in sorted(inc.product_rates.items())),
            ]
        )
    if inc.renewal:
        rows.append(
            [
                "renewal 续约加成",
                f"renewal {inc.basis} paid at {inc.renewal.multiplier}× the effective rate",
            ]
        )
    if inc.referral:
        rows.append(
            ["referral 转介绍奖", f"{_money_words(inc.referral.bonus)} per closed referral deal"]
        )
    for award in inc.team_awards:
        rows.append(
            [
                "team_awards 团队奖",
                f"{award.scope} attainment ≥{_pct(award.from_)}: "
                f"{_money_words(award.per_member)} to every member",
            ]
        )
    for award in inc.rank_awards:
        rows.append(
            [
                "rank_awards 排名奖",
                f"every {award.every}, top reps by {inc.basis}: "
                + " / ".join(_money_words(p) for p in award.prizes)
                + " (paid in the quarter's last month; ties share)",
            ]
        )
    if inc.mentor:
        rows.append(
            [
                "mentor 伯乐奖",
                f"{_money_words(inc.mentor.bonus)} to the mentor when the mentee's first "
                f"deal closes within {inc.mentor.within_months} months of hiring",
            ]
        )
    if inc.clawback:
        rows.append(
            [
                "clawback 退款追回",
                "refunds of deals credited earlier are taken back at that month's rate",
            ]
        )
    if inc.cap is not None:
        rows.append(["cap 封顶", f"monthly total capped at {_money_words(inc.cap)}"])
    rows.append(
        ["adjustments 调整", "changes to a closed month are paid in the first open month after it"]
    )
    honours = plan.ruleset.honours
    if honours.star_of_month:
        rows.append(
            [
                "荣誉 月度销售之星",
                "star of the month: the highest attainment of at least 100% (ties: all)",
            ]
        )
    if honours.top_n:
        rows.append(
            [
                f"荣誉 季度TOP{honours.top_n}",
                f"the quarter's top {honours.top_n} by attainment, "
                "promotion priority (ties share a place)",
            ]
        )
    return rows


def table3(period: str, standings: Standings, frozen: Frozen | None, plan) -> Table:
    t = Table(
        SHEETS[2],
        ["销售员 rep", "区域 region", "组成 component", "金额 amount", "说明 explanation"],
        [TEXT, TEXT, TEXT, MONEY, TEXT],
        widths=[18, 12, 22, 16, 70],
    )
    state = (
        "已关账, 公示版 frozen (published)"
        if frozen is not None
        else "未关账, 当前 current (open month)"
    )
    t.preface.append([f"{period} 激励方案与发放 — {state}"])
    t.preface.append(["激励方案 scheme"])
    t.preface.extend(scheme_in_words(plan))
    t.preface.append([])
    reps: dict[str, FrozenRep] | dict[str, RepEntry] = (
        frozen.reps if frozen is not None else standings.reps
    )
    grand = Decimal(0)
    for rep_id in sorted(reps):
        rep = reps[rep_id]
        # name, region and honours from the standings (a published month's as published)
        info = standings.reps.get(rep_id)
        who = f"{(info.name if info is not None else '') or rep_id} ({rep_id})"
        region = info.region if info is not None else ""
        for line in rep.statement:
            t.add([who, region, line.component, _dec(line.amount), line.explanation])
        total = _dec(rep.total)
        grand += total
        if info is not None and info.honours:
            t.add([who, region, "荣誉 honours", None, honours_words(info.honours)])
        t.add([who, region, "合计 total", total, ""], bold=True)
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
        return [
            table1(store, period, standings, frozen is not None),
            table2(period, standings),
            table3(period, standings, frozen, plan),
        ]


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
        "header": wb.add_format(
            {
                "bold": True,
                "bg_color": "#D9E1F2",
                "border": 1,
                "text_wrap": True,
                "valign": "vcenter",
            }
        ),
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
                coloured = (
                    rag
                    if (kind == RATIO and c == _attainment_col(table))
                    or table.header[c].startswith("红绿灯")
                    else None
                )
                f = cell_format(kind, coloured, table.bold[i])
                if value is None:
                    ws.write_blank(r, c, None, f)
                elif isinstance(value, Decimal | int | float) and not isinstance(value, bool):
                    ws.write_number(r, c, _num(value), f)
                else:
                    ws.write_string(r, c, str(value), f)
            r += 1
        ws.freeze_panes(
            header_row + 1, 0 if table.title == SHEETS[2] else 3 if table.title == SHEETS[0] else 2
        )
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
                kinds = [
                    table.row_kinds[i] if table.row_kinds and k == MONEY else k for k in table.kinds
                ]
                writer.writerow([_csv_value(v, k) for v, k in zip(row, kinds, strict=True)])
        paths.append(path)
    return paths


def report(
    data_dir: Path | str,
    period: str,
    out_xlsx: Path | str | None = None,
    csv_dir: Path | str | None = None,
) -> dict:
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
