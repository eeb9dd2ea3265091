"""The drill-down screens: a rep's statement, the funnel, regions side by side, the objections."""

from __future__ import annotations

from msgspec.structs import asdict
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Sparkline, Static

from schemas.read_models import (
    ActivityRow,
    DealRow,
    Diagnosis,
    RepEntry,
    ScopeEntry,
    Statement,
    WeekBookings,
)
from tui.base import BACK, DataScreen
from tui.format import (
    RAG_STYLE,
    RAG_SYMBOL,
    attainment_cell,
    bar_text,
    dec,
    money,
    pct,
    signed_pct,
)
from tui.publication import STATE_STYLE, rep_objections, rep_publication_text
from tui.trend import TrendScreen


def _count(value: object) -> int:
    """A count that is a number in standings and a list in a statement."""
    if isinstance(value, list):
        return len(value)
    return int(value or 0)


def diagnosis_text(doc: Diagnosis | None, rep_id: str) -> Text:
    """Why a red or yellow rep is behind: the headline, then each driver as the sentence a
    manager reads aloud (the rep's and the team's value in it), worst first. Empty for a
    green rep or a period without a diagnosis."""
    entry = doc.reps.get(rep_id) if doc is not None else None
    text = Text()
    if entry is None:
        return text
    text.append("Why behind: ", style="bold")
    text.append(f"{entry.headline}\n", style=RAG_STYLE.get(entry.rag, ""))
    drivers = entry.drivers
    for i, driver in enumerate(drivers, 1):
        text.append(f" {i}. ")
        text.append(driver.explanation)
        text.append("\n")
    if not drivers:
        text.append(
            " no driver is below 80% of the team's: the gap is not in one figure", style="dim"
        )
    text.rstrip()
    return text


class StatementScreen(DataScreen):
    """One rep: figures, incentive lines with explanations, deals, activities, weekly bookings."""

    BINDINGS = [
        BACK,
        Binding("n", "next_rep", "Next rep"),
        Binding("p", "previous_rep", "Prev rep"),
        Binding("w", "trend", "Trend"),
    ]

    def __init__(self, rep_id: str, order: list[str] | None = None) -> None:
        super().__init__()
        self.rep_id = rep_id
        self.order = order or [rep_id]

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line", classes="title")
        with VerticalScroll(id="statement-body"):
            yield Static("", id="rep-summary")
            yield Static("", id="rep-publication")
            yield Static("", id="rep-diagnosis")
            yield Label("Incentive statement", classes="section-title")
            yield DataTable(id="lines", cursor_type="row", show_cursor=False)
            yield Label("Weekly bookings", classes="section-title")
            with Horizontal(id="spark-row"):
                yield Sparkline([], id="weekly")
                yield Label("", id="spark-legend")
            yield Label("Deals", classes="section-title")
            yield DataTable(id="deals", cursor_type="row")
            yield Label("Activities", classes="section-title")
            yield DataTable(id="activities", cursor_type="row")
        yield self.keybar()

    def load(self) -> None:
        statement = self.app.source.statement(self.app.period, self.rep_id)
        entry: Statement | RepEntry | None = statement
        if entry is None:  # no statement yet: the rep's figures in the standings
            standings = self.app.source.standings(self.app.period)
            entry = standings.reps.get(self.rep_id) if standings is not None else None
        name = (entry.name if entry is not None else "") or self.rep_id
        self.query_one("#title-line", Label).update(self.title_line(f"{name} ({self.rep_id})"))
        self.query_one("#rep-summary", Static).update(self._summary(entry))
        extra = rep_publication_text(
            entry.honours if entry is not None else [],
            rep_objections(self.app.source.publication(), self.app.period, self.rep_id),
        )
        publication = self.query_one("#rep-publication", Static)
        publication.update(extra)
        publication.display = bool(extra.plain)
        diagnosis = self.query_one("#rep-diagnosis", Static)
        why = diagnosis_text(self.app.source.diagnosis(self.app.period), self.rep_id)
        diagnosis.update(why)
        diagnosis.display = bool(why.plain)
        self._fill_lines(entry)
        self._fill_weekly(statement.weekly_bookings if statement is not None else [])
        self._fill_deals(statement.deals if statement is not None else [])
        self._fill_activities(statement.activities if statement is not None else [])

    def _summary(self, e: Statement | RepEntry | None) -> Table:
        if e is None:
            return Table.grid()
        rag = e.rag
        grid = Table.grid(padding=(0, 2), expand=False)
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_column(style="bold")
        grid.add_column()
        att = attainment_cell(e, width=10)
        att.append(f" {rag}", style=RAG_STYLE[rag])
        grid.add_row("Region", f"{e.region or '—'} · team {e.team or '—'}", "Attainment", att)
        grid.add_row("Bookings", money(e.bookings), "Target", money(e.target))
        gap = dec(e.gap)
        grid.add_row(
            "Gap",
            Text(money(gap, sign=True), style="red" if gap is not None and gap < 0 else ""),
            "Won / lost",
            f"{e.deals_won} / {e.deals_lost}  (win {pct(e.win_rate, 0)})",
        )
        grid.add_row(
            "Collections",
            f"{money(e.collections)} ({pct(e.collection_rate, 0)})",
            "Avg deal",
            money(e.avg_deal_size),
        )
        cycle = dec(e.cycle_days)
        grid.add_row(
            "Cycle",
            f"{cycle:.1f} days" if cycle is not None else "—",
            "Activities",
            str(_count(e.activities)),
        )
        grid.add_row("MoM", signed_pct(e.mom), "YoY", signed_pct(e.yoy))
        grid.add_row(
            "Earned",
            Text(money(e.total), style="bold"),
            "New customers",
            str(e.new_customers),
        )
        return grid

    def _fill_lines(self, e: Statement | RepEntry | None) -> None:
        table = self.query_one("#lines", DataTable)
        table.clear(columns=True)
        table.add_column("Component", key="component", width=12)
        table.add_column(Text("Amount", justify="right"), key="amount", width=11)
        table.add_column("Explanation", key="explanation")
        lines = e.statement if e is not None else []
        for i, line in enumerate(lines):
            table.add_row(
                line.component,
                Text(money(line.amount), justify="right"),
                line.explanation,
                key=str(i),
            )
        if not lines:
            table.add_row(
                "—", Text("0", justify="right"), "no incentive line this period", key="none"
            )
        table.add_row(
            Text("Total", style="bold"),
            Text(money(e.total if e is not None else "0"), justify="right", style="bold"),
            "",
            key="total",
        )

    def _fill_weekly(self, weeks: list[WeekBookings]) -> None:
        values = [float(dec(w.bookings) or 0) for w in weeks]
        spark = self.query_one("#weekly", Sparkline)
        spark.data = values or [0.0]
        legend = (
            "no bookings yet"
            if not weeks
            else (
                f"{weeks[0].week}…{weeks[-1].week}  max {money(max(values), True)}"
                f"  last {money(values[-1], True)}"
            )
        )
        self.query_one("#spark-legend", Label).update(legend)

    def _fill_deals(self, deals: list[DealRow]) -> None:
        table = self.query_one("#deals", DataTable)
        table.clear(columns=True)
        table.add_columns(
            ("Deal", "deal"),
            ("Customer", "customer"),
            ("Line", "line"),
            ("Kind", "kind"),
            ("Source", "source"),
            (Text("Amount", justify="right"), "amount"),
            ("Status", "status"),
            ("Closed", "closed"),
            (Text("Credited", justify="right"), "credited"),
        )
        for d in deals:
            closed = (d.closed_at or "")[:10] or "—"
            table.add_row(
                d.id,
                d.customer,
                d.product_line,
                d.kind,
                d.source_channel,
                Text(money(d.amount), justify="right"),
                d.status,
                closed,
                Text(money(d.credited), justify="right"),
            )
        if not deals:
            table.add_row("—", "", "", "", "", "", "no deals", "", "")

    def _fill_activities(self, activities: list[ActivityRow]) -> None:
        table = self.query_one("#activities", DataTable)
        table.clear(columns=True)
        table.add_columns(("When", "when"), ("Kind", "kind"), ("Deal", "deal"))
        for a in activities[-200:]:
            table.add_row(
                a.occurred_at[:16].replace("T", " "),
                a.kind,
                a.deal_id or "—",
            )
        if not activities:
            table.add_row("—", "no activities", "")

    def _step(self, n: int) -> None:
        if self.rep_id in self.order:
            index = (self.order.index(self.rep_id) + n) % len(self.order)
            self.rep_id = self.order[index]
            self.reload()

    def action_next_rep(self) -> None:
        self._step(1)

    def action_previous_rep(self) -> None:
        self._step(-1)

    def action_trend(self) -> None:
        self.app.push_screen(TrendScreen(("rep", self.rep_id)))


class FunnelScreen(DataScreen):
    """Cohort funnel of the period: stages as bars with conversion, and per lead source."""

    BINDINGS = [BACK, Binding("g", "regions", "Regions")]
    STAGES = ["lead", "qualified", "negotiation", "won"]

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line", classes="title")
        with VerticalScroll():
            yield Static("", id="stages")
            yield Label("By lead source", classes="section-title")
            yield Static("", id="sources")
        yield self.keybar()

    def load(self) -> None:
        doc = self.app.source.funnel(self.app.period)
        self.query_one("#title-line", Label).update(self.title_line("Funnel"))
        width = max(10, self.app.size.width - 48)
        stages = asdict(doc.stages) if doc is not None else dict.fromkeys(self.STAGES, 0)
        conv = doc.conversion if doc is not None else {}
        top = max([stages[s] for s in self.STAGES] + [1])
        table = Table.grid(padding=(0, 1))
        for _ in range(4):
            table.add_column()
        for i, stage in enumerate(self.STAGES):
            count = stages[stage]
            rate = ""
            if i > 0:
                rate = f"{pct(conv.get(f'{self.STAGES[i - 1]}_to_{stage}'), 0)} of {self.STAGES[i - 1]}"
            table.add_row(
                Text(f"{stage:<11}", style="bold"),
                Text(f"{count:>5}"),
                Text(bar_text(count / top, width), style="cyan"),
                Text(rate, style="dim"),
            )
        if doc is None:
            self.query_one("#stages", Static).update(f"No funnel for {self.app.period} yet.")
        else:
            self.query_one("#stages", Static).update(table)
        sources = doc.by_source if doc is not None else {}
        st = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        st.add_column("Source")
        st.add_column("Created", justify="right")
        st.add_column("Won", justify="right")
        st.add_column("Win %", justify="right")
        st.add_column("", min_width=10)
        # the fold's win rates (won ÷ created, 4 places; none without a deal created)
        rates = {name: dec(s.win_rate) for name, s in sources.items()}
        best = max((r for r in rates.values() if r is not None), default=None)
        for name, s in sorted(sources.items(), key=lambda kv: -kv[1].created):
            created, won, rate = s.created, s.won, rates[name]
            st.add_row(
                name,
                str(created),
                str(won),
                "—" if rate is None else f"{rate * 100:.0f}%",
                Text(
                    bar_text(rate, max(10, width - 20))
                    + (" ★" if rate and rate == best else ""),
                    style="green",
                ),
            )
        self.query_one("#sources", Static).update(st if sources else "No lead sources yet.")

    def action_regions(self) -> None:
        self.app.switch_screen(RegionsScreen())


class RegionCard(Static):
    pass


class RegionsScreen(DataScreen):
    """Regions side by side: bookings against target, RAG, deals, collections, members."""

    BINDINGS = [BACK, Binding("f", "funnel", "Funnel")]

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line", classes="title")
        yield Grid(id="region-grid")
        yield self.keybar()

    def load(self) -> None:
        doc = self.app.source.standings(self.app.period)
        self.query_one("#title-line", Label).update(self.title_line("Regions"))
        grid = self.query_one("#region-grid", Grid)
        regions = doc.regions if doc is not None else {}
        reps = doc.reps if doc is not None else {}
        columns = max(1, min(len(regions) or 1, max(1, self.app.size.width // 20)))
        grid.styles.grid_size_columns = columns
        cards = list(grid.query(RegionCard))
        names = sorted(regions)
        for card in cards[len(names) :]:
            card.remove()
        for index, name in enumerate(names):
            body = self._card(name, regions[name], reps)
            if index < len(cards):
                cards[index].update(body)
                cards[index].border_title = name
            else:
                card = RegionCard(body)
                card.border_title = name
                grid.mount(card)
        if not names:
            grid.mount(RegionCard(f"No figures for {self.app.period} yet."))

    def _card(self, name: str, m: ScopeEntry, reps: dict[str, RepEntry]) -> Text:
        rag = m.rag
        members = [e for e in reps.values() if e.region == name]
        best = max(members, key=lambda e: dec(e.attainment) or -1, default=None)
        text = Text()
        text.append(f"{money(m.bookings, True)} / {money(m.target, True)}\n")
        text.append(bar_text(dec(m.attainment), 14), style=RAG_STYLE[rag])
        text.append("\n")
        text.append(f"{pct(m.attainment)} {RAG_SYMBOL[rag]} {rag}\n", style=RAG_STYLE[rag])
        text.append(f"gap {money(m.gap, True, sign=True)}\n")
        text.append(f"won {m.deals_won} lost {m.deals_lost}\n")
        text.append(f"paid {money(m.collections, True)}\n")
        text.append(f"MoM {signed_pct(m.mom)} · {len(members)} reps")
        if best is not None:
            text.append(f"\ntop {best.name or ''} {pct(best.attainment, 0)}")
        return text

    def action_funnel(self) -> None:
        self.app.switch_screen(FunnelScreen())


class ObjectionsScreen(DataScreen):
    """Every objection on every published month, newest first, with its state."""

    BINDINGS = [BACK]

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line", classes="title")
        yield DataTable(id="objections", cursor_type="row", zebra_stripes=True)
        yield self.keybar()

    def load(self) -> None:
        doc = self.app.source.publication()
        months = doc.periods.values() if doc is not None else []
        every = [o for month in months for o in month.objections]
        every.sort(key=lambda o: o.raised_at, reverse=True)
        self.query_one("#title-line", Label).update(self.title_line(f"Objections ({len(every)})"))
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(
            "id", "period", "rep", "state", "claimed", "amount", "raised", "resolved", "reason"
        )
        for o in every:
            table.add_row(
                o.id,
                o.period,
                o.rep,
                Text(o.state, style=STATE_STYLE.get(o.state, "")),
                money(o.claimed),
                money(o.amount),
                o.raised_at[:16].replace("T", " "),
                (o.resolved_at or "—")[:16].replace("T", " "),
                o.reason,
                key=o.id,
            )
