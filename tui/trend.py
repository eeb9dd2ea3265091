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

from tui.base import BACK, DataScreen
from tui.format import dec, money, pct, signed_pct

Scope = tuple[str, str]  # ("team" | "region" | "rep", id)
DOC_KEY = {"team": "team", "region": "regions", "rep": "reps"}
SCOPE_WORD = {"team": "Team", "region": "Region", "rep": "Rep"}


def scopes_of(doc: dict, rep: str | None) -> list[Scope]:
    """The scopes to step through: the rep (when opened for one), every team, every region."""
    out: list[Scope] = [("rep", rep)] if rep is not None else []
    out += [("team", t) for t in sorted(doc.get("team") or {})]
    out += [("region", r) for r in sorted(doc.get("regions") or {})]
    return out


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
        doc = self.app.source.weekly(self.app.period) or {}
        scopes = scopes_of(doc, self.rep)
        if self.scope not in scopes:
            self.scope = scopes[0] if scopes else None
        kind, key = self.scope or ("team", "")
        series = (doc.get(DOC_KEY[kind]) or {}).get(key)
        self.query_one("#title-line", Label).update(
            self.title_line(f"Trend · {self._scope_name(kind, key)}")
        )
        self.query_one("#trend-summary", Static).update(self._summary(series))
        rows = (series or {}).get("weeks") or []
        self._fill_table(rows)
        self._draw(rows, self._scope_name(kind, key))

    def _scope_name(self, kind: str, key: str) -> str:
        if not key:
            return "no figures"
        if kind != "rep":
            return f"{SCOPE_WORD[kind]} {key}"
        entry = ((self.app.source.standings(self.app.period) or {}).get("reps") or {}).get(
            key
        ) or {}
        name = entry.get("name") or key
        return f"{name} ({key})" if name != key else key

    def _summary(self, series: dict | None) -> Text:
        if not series:
            what = (
                "a rep's weeks in a year"
                if self.app.period.isdigit() and self.rep
                else "weekly figures"
            )
            return Text(f"No {what} for {self.app.period}.", style="dim")
        rows = series.get("weeks") or []
        text = Text()
        last = rows[-1] if rows else {}
        text.append(f"{money(last.get('cumulative'))} booked", style="bold")
        target = dec(series.get("target"))
        if target:
            done = (dec(last.get("cumulative")) or Decimal(0)) / target
            text.append(f" of {money(target)} target ({pct(done)})")
            line = dec(last.get("cumulative_target"))
            if line is not None:
                text.append(f" · target line {money(line)}")
        else:
            text.append(" · no target")
        prior = series.get("previous_week") or {}
        text.append(
            f" · week before {prior.get('week', '—')}: {money(prior.get('bookings'))}", style="dim"
        )
        return text

    def _fill_table(self, rows: list[dict]) -> None:
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
            mom = dec(r.get("mom"))
            table.add_row(
                r["week"],
                Text(money(r.get("bookings")), justify="right"),
                Text(
                    signed_pct(mom),
                    justify="right",
                    style="red" if mom is not None and mom < 0 else "",
                ),
                Text(money(r.get("target")), justify="right"),
                Text(money(r.get("cumulative")), justify="right"),
                Text(money(r.get("cumulative_target")), justify="right"),
                key=r["week"],
            )

    def _draw(self, rows: list[dict], label: str) -> None:
        bookings_key, target_key = (
            ("cumulative", "cumulative_target") if self.cumulative else ("bookings", "target")
        )
        actual = [dec(r.get(bookings_key)) or Decimal(0) for r in rows]
        target = [dec(r.get(target_key)) for r in rows]
        self.series = {"weeks": [r["week"] for r in rows], "bookings": actual, "target": target}
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
            plt.xticks(xs, [short_week(r["week"]) for r in rows])
        chart.refresh()

    def action_next_scope(self) -> None:
        scopes = scopes_of(self.app.source.weekly(self.app.period) or {}, self.rep)
        if scopes:
            index = (scopes.index(self.scope) + 1) % len(scopes) if self.scope in scopes else 0
            self.scope = scopes[index]
            self.load()

    def action_toggle_cumulative(self) -> None:
        self.cumulative = not self.cumulative
        self.load()
