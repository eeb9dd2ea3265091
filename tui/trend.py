"""The trend screen (`w`): weekly bookings of the team, a region or a rep against the
pro-rated target, as a plotext chart, with the week-on-week change (环比) beneath.

The figures are the `weekly` document's (projections/trend.py), only drawn here: bars of
each ISO week's bookings and the line of the week's share of the period's target, or
(`c`) the cumulative bookings against the cumulative target line. `e` steps through the
scopes the document has: the rep the screen was opened for, the teams, the regions.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static
from textual_plotext import PlotextPlot

from schemas.read_models import Weekly, WeeklySeries, WeekRow
from tui.base import BACK, DataScreen
from tui.format import dec, money, pct, signed_pct

Scope = tuple[str, str]  # ("team" | "region" | "rep", id)
SCOPE_WORD = {"team": "Team", "region": "Region", "rep": "Rep"}


def scopes_of(doc: Weekly | None, rep: str | None) -> list[Scope]:
    """The scopes to step through: the rep (when opened for one), every team, every region."""
    out: list[Scope] = [("rep", rep)] if rep is not None else []
    if doc is not None:
        out += [("team", t) for t in sorted(doc.team)]
        out += [("region", r) for r in sorted(doc.regions)]
    return out


def series_of(doc: Weekly | None, scope: Scope) -> WeeklySeries | None:
    """The weeks of one scope, None where the document has none (a rep in a year)."""
    if doc is None:
        return None
    kind, key = scope
    return {"team": doc.team, "region": doc.regions, "rep": doc.reps}[kind].get(key)


def short_week(week: str) -> str:
    """`2026-W31` -> `W31`: the chart's ticks."""
    return week.rpartition("-")[2]


class TrendScreen(DataScreen):
    """Weekly bookings of one scope against its pro-rated target line."""

    BINDINGS = [
        BACK,
        Binding("e", "next_scope", "Scope"),
        Binding("c", "toggle_cumulative", "Cumulative"),
    ]

    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__()
        self.rep = scope[1] if scope is not None and scope[0] == "rep" else None
        self.scope = scope
        self.cumulative = False
        self.series: dict[str, list[Decimal | None]] = {}  # what the chart shows (tests)

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line", classes="title")
        yield Static("", id="trend-summary")
        yield PlotextPlot(id="trend-chart")
        yield DataTable(id="trend-weeks", cursor_type="row", show_cursor=False)
        yield self.keybar()

    def load(self) -> None:
        doc = self.app.source.weekly(self.app.period)
        scopes = scopes_of(doc, self.rep)
        if self.scope not in scopes:
            self.scope = scopes[0] if scopes else None
        kind, key = self.scope or ("team", "")
        series = series_of(doc, (kind, key))
        self.query_one("#title-line", Label).update(
            self.title_line(f"Trend · {self._scope_name(kind, key)}")
        )
        self.query_one("#trend-summary", Static).update(self._summary(series))
        rows = series.weeks if series is not None else []
        self._fill_table(rows)
        self._draw(rows, self._scope_name(kind, key))

    def _scope_name(self, kind: str, key: str) -> str:
        if not key:
            return "no figures"
        if kind != "rep":
            return f"{SCOPE_WORD[kind]} {key}"
        standings = self.app.source.standings(self.app.period)
        entry = standings.reps.get(key) if standings is not None else None
        name = (entry.name if entry is not None else "") or key
        return f"{name} ({key})" if name != key else key

    def _summary(self, series: WeeklySeries | None) -> Text:
        if series is None:
            what = (
                "a rep's weeks in a year"
                if self.app.period.isdigit() and self.rep
                else "weekly figures"
            )
            return Text(f"No {what} for {self.app.period}.", style="dim")
        rows = series.weeks
        text = Text()
        last = rows[-1] if rows else None
        cumulative = last.cumulative if last is not None else None
        text.append(f"{money(cumulative)} booked", style="bold")
        target = dec(series.target)
        if target:
            done = (dec(cumulative) or Decimal(0)) / target
            text.append(f" of {money(target)} target ({pct(done)})")
            line = dec(last.cumulative_target) if last is not None else None
            if line is not None:
                text.append(f" · target line {money(line)}")
        else:
            text.append(" · no target")
        prior = series.previous_week
        text.append(f" · week before {prior.week}: {money(prior.bookings)}", style="dim")
        return text

    def _fill_table(self, rows: list[WeekRow]) -> None:
        table = self.query_one("#trend-weeks", DataTable)
        table.clear(columns=True)
        table.add_column("Week", key="week")
        for label, key in (
            ("Bookings", "bookings"),
            ("WoW 环比", "mom"),
            ("Target", "target"),
            ("Cumulative", "cumulative"),
            ("Cum. target", "cumulative_target"),
        ):
            table.add_column(Text(label, justify="right"), key=key)
        for r in rows:
            mom = dec(r.mom)
            table.add_row(
                r.week,
                Text(money(r.bookings), justify="right"),
                Text(
                    signed_pct(mom),
                    justify="right",
                    style="red" if mom is not None and mom < 0 else "",
                ),
                Text(money(r.target), justify="right"),
                Text(money(r.cumulative), justify="right"),
                Text(money(r.cumulative_target), justify="right"),
                key=r.week,
            )

    def _draw(self, rows: list[WeekRow], label: str) -> None:
        if self.cumulative:
            actual = [dec(r.cumulative) or Decimal(0) for r in rows]
            target = [dec(r.cumulative_target) for r in rows]
        else:
            actual = [dec(r.bookings) or Decimal(0) for r in rows]
            target = [dec(r.target) for r in rows]
        self.series = {"weeks": [r.week for r in rows], "bookings": actual, "target": target}
        chart = self.query_one("#trend-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        if rows:
            xs = list(range(1, len(rows) + 1))
            what = "cumulative bookings" if self.cumulative else "weekly bookings"
            plt.title(f"{label}: {what} against the pro-rated target")
            if self.cumulative:
                plt.plot(
                    xs, [float(v) for v in actual], label="bookings", marker="braille", color="cyan"
                )
            else:
                plt.bar(xs, [float(v) for v in actual], label="bookings", color="cyan", width=0.5)
            if all(t is not None for t in target):
                plt.plot(
                    xs,
                    [float(t) for t in target],
                    label="target (pro-rated)",
                    marker="braille",
                    color="yellow",
                )
            plt.xticks(xs, [short_week(r.week) for r in rows])
        chart.refresh()

    def action_next_scope(self) -> None:
        scopes = scopes_of(self.app.source.weekly(self.app.period), self.rep)
        if scopes:
            index = (scopes.index(self.scope) + 1) % len(scopes) if self.scope in scopes else 0
            self.scope = scopes[index]
            self.load()

    def action_toggle_cumulative(self) -> None:
        self.cumulative = not self.cumulative
        self.load()
