"""The leaderboard screen: reps ranked by attainment, sortable, filterable, live.

When the period has a scorecard (the ruleset's `[assessment]` is of the period's kind) a
grade column is added: the grade, marked `⚑` when an indicator was flagged (a gap in the
data, not a bad rep); sorting on it orders by score. It takes the place of the deals-won
column, so the board still fits each width it was laid out for (80, 114, 156 columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from msgspec import UNSET
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from schemas.documents import rank_reps
from schemas.read_models import RepEntry, RepScore, Standings
from tui.format import RAG_STYLE, attainment_cell, dec, money, pct, signed_pct
from tui.publication import publication_text
from tui.screens import FunnelScreen, ObjectionsScreen, RegionsScreen, StatementScreen
from tui.trend import TrendScreen
from tui.widgets import KeyBar, ScopeHeader, bindings_items

NARROW, MEDIUM, WIDE = 0, 1, 2


@dataclass
class Column:
    key: str
    label: str
    widths: tuple[int, int, int]  # per mode
    mode: int = NARROW  # first mode showing it
    numeric: bool = True


COLUMNS = [
    Column("rank", "#", (4, 4, 4)),
    Column("move", "±", (0, 4, 4)),
    Column("rep", "Rep", (9, 16, 18), numeric=False),
    Column("region", "Region", (6, 8, 8), numeric=False),
    Column("target", "Target", (6, 10, 11)),
    Column("actual", "Actual", (6, 10, 11)),
    Column("attainment", "Attainment", (12, 16, 25)),
    Column("gap", "Gap", (7, 10, 10)),
    Column("won", "Won", (3, 4, 4)),
    Column("win_rate", "Win%", (0, 0, 5), mode=WIDE),
    Column("collections", "Collected", (0, 0, 11), mode=WIDE),
    Column("mom", "MoM", (0, 0, 7), mode=WIDE),
    Column("earned", "Earned", (6, 10, 11)),
    Column("grade", "Grade", (5, 5, 5), numeric=False),  # only when the period is assessed
]
SORT_DEFAULT_REVERSE = {"rank": False, "move": True, "rep": False, "region": False}
LINE_COLUMN = "line"


def mode_for(width: int) -> int:
    return WIDE if width >= 156 else MEDIUM if width >= 114 else NARROW


@dataclass
class Row:
    key: str
    entry: RepEntry
    rank: int
    move: int | None  # positive: climbed
    line: Decimal | None = None
    card: RepScore | None = None  # the rep's scorecard entry when the period is assessed
    cells: dict[str, object] = field(default_factory=dict)


SORT_KEYS = {
    "rank": lambda r: r.rank,
    "move": lambda r: r.move,
    "rep": lambda r: (r.entry.name or r.key).lower(),
    "region": lambda r: (r.entry.region or "", r.rank),
    "target": lambda r: dec(r.entry.target),
    "actual": lambda r: dec(r.entry.bookings),
    "attainment": lambda r: dec(r.entry.attainment),
    "gap": lambda r: dec(r.entry.gap),
    "won": lambda r: r.entry.deals_won,
    "win_rate": lambda r: dec(r.entry.win_rate),
    "collections": lambda r: dec(r.entry.collections),
    "mom": lambda r: dec(r.entry.mom),
    "earned": lambda r: dec(r.entry.total),
    "grade": lambda r: None if r.card is None else dec(r.card.score),
    LINE_COLUMN: lambda r: r.line,
}
SIGNATURE_FIELDS = (
    "name",
    "region",
    "target",
    "bookings",
    "attainment",
    "gap",
    "rag",
    "deals_won",
    "win_rate",
    "collections",
    "mom",
    "total",
)


def sort_value(column: str, row: Row):
    return SORT_KEYS[column](row)


def sort_rows(rows: list[Row], column: str, reverse: bool) -> list[Row]:
    """Sort by a column; rows without a value always go last; ties by rank."""
    value = SORT_KEYS[column]
    keyed = sorted(((value(r), r) for r in rows), key=lambda vr: (vr[1].rank, vr[1].key))
    present = [vr for vr in keyed if vr[0] is not None]
    present.sort(key=lambda vr: vr[0], reverse=reverse)
    return [r for _, r in present] + [r for v, r in keyed if v is None]


class LeaderboardScreen(Screen):
    BINDINGS = [
        Binding("enter", "open_statement", "Statement", key_display="⏎"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", key_display="S"),
        Binding("t", "filter_team", "Team"),
        Binding("e", "filter_region", "Region"),
        Binding("l", "filter_line", "Line"),
        Binding("x", "clear_filters", "Clear"),
        Binding("f", "funnel", "Funnel"),
        Binding("g", "regions", "Regions"),
        Binding("w", "trend", "Trend"),
        Binding("o", "objections", "Objections"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.board_mode = NARROW
        self.sort_column = "rank"
        self.sort_reverse = False
        self.team_filter: str | None = None
        self.region_filter: str | None = None
        self.line_filter: str | None = None
        self.doc: Standings | None = None
        self.cards: dict[str, RepScore] | None = None  # scorecard entries; None: not assessed
        self.rows: list[Row] = []
        self.stale = False
        self._baseline: dict[str, dict[str, int]] = {}
        self._shown_keys: list[str] = []
        self._shown_cells: dict[str, dict[str, object]] = {}
        self._shown_columns: list[str] = []
        self._line_cache: dict[tuple, dict[str, Decimal]] = {}
        self._cell_cache: dict[str, tuple[tuple, tuple, dict[str, object]]] = {}

    # --- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ScopeHeader(id="header")
        table = DataTable(id="leaderboard", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="empty")
        yield KeyBar(bindings_items(self.BINDINGS, self.app.BINDINGS), id="keys")

    def on_mount(self) -> None:
        self.board_mode = mode_for(self.app.size.width)
        self.reload()
        self.query_one(DataTable).focus()

    def on_resize(self, event) -> None:
        mode = mode_for(self.app.size.width)
        if mode != self.board_mode:
            self.board_mode = mode
            self.render_rows()

    def on_screen_resume(self) -> None:
        if self.stale:
            self.reload()

    def visible_columns(self) -> list[Column]:
        cols = [c for c in COLUMNS if c.mode <= self.board_mode and c.widths[self.board_mode] > 0]
        if self.cards is None:
            cols = [c for c in cols if c.key != "grade"]
        else:
            cols = [c for c in cols if c.key != "won"]
        if self.line_filter:
            if self.board_mode == NARROW:
                cols = [c for c in cols if c.key != "target"]
            index = [c.key for c in cols].index("actual") + 1
            cols.insert(index, Column(LINE_COLUMN, f"Line {self.line_filter}"[:12], (8, 12, 12)))
        return cols

    # --- data ------------------------------------------------------------------

    @property
    def period(self) -> str:
        return self.app.period

    def reload(self) -> None:
        """Read the period's standings again and redraw, keeping cursor and scroll."""
        self.stale = False
        self.doc = self.app.source.standings(self.period)
        self.app.mark_updated()
        reps = self.doc.reps if self.doc is not None else {}
        scorecard = self.app.source.scorecard(self.period) if reps else None
        self.cards = None if scorecard is None else scorecard.reps
        ranks = rank_reps(reps)
        baseline = self._baseline.setdefault(self.period, dict(ranks)) if reps else {}
        line_amounts = self._line_amounts(reps) if self.line_filter else {}
        rows = []
        for rep_id, entry in reps.items():
            if self.team_filter and entry.team != self.team_filter:
                continue
            if self.region_filter and entry.region != self.region_filter:
                continue
            if self.line_filter and not line_amounts.get(rep_id):
                continue
            before = baseline.get(rep_id)
            move = None if before is None else before - ranks[rep_id]
            card = None if self.cards is None else self.cards.get(rep_id)
            rows.append(Row(rep_id, entry, ranks[rep_id], move, line_amounts.get(rep_id), card))
        self.rows = rows
        self.render_rows()

    def _line_amounts(self, reps: dict[str, RepEntry]) -> dict[str, Decimal]:
        """Each rep's credited bookings on the filtered product line (from statements)."""
        position = self.doc.position if self.doc is not None else None
        cache_key = (self.period, position, self.line_filter)
        if cache_key not in self._line_cache:
            amounts: dict[str, Decimal] = {}
            for rep_id in reps:
                statement = self.app.source.statement(self.period, rep_id)
                total = Decimal(0)
                for deal in statement.deals if statement is not None else []:
                    if deal.product_line == self.line_filter and deal.closed_in_period:
                        total += dec(deal.credited) or 0
                if total:
                    amounts[rep_id] = total
            self._line_cache = {cache_key: amounts}
        return self._line_cache[cache_key]

    def cached_cells(
        self, row: Row, columns: list[Column], column_keys: tuple
    ) -> dict[str, object]:
        """The row's cells, reusing last refresh's cell objects for what has not changed
        (a rep overtaking others changes only the rank cells of those in between)."""
        e = row.entry
        card = row.card
        graded = (
            (None, None, False) if card is None else (card.score, card.grade, bool(card.flagged))
        )
        figures = (
            row.line,
            self.board_mode,
            column_keys,
            *graded,
            *(getattr(e, f) for f in SIGNATURE_FIELDS),
        )
        place = (row.rank, row.move)
        cached = self._cell_cache.get(row.key)
        if cached is not None and cached[0] == figures:
            if cached[1] == place:
                return cached[2]
            cells = dict(cached[2])
            cells.update(self.cells(row, [c for c in columns if c.key in ("rank", "move")]))
        else:
            cells = self.cells(row, columns)
        self._cell_cache[row.key] = (figures, place, cells)
        return cells

    def cells(self, row: Row, columns: list[Column]) -> dict[str, object]:
        e, compact, mode = row.entry, self.board_mode == NARROW, self.board_mode
        out: dict[str, object] = {}
        for col in columns:
            k = col.key
            if k == "rank":
                text = Text(f"{row.rank:>2}")
                if mode == NARROW:
                    text.append_text(self._move_text(row.move, short=True))
                out[k] = text
            elif k == "move":
                out[k] = self._move_text(row.move, short=False)
            elif k == "rep":
                name = e.name or row.key
                # a Text per row: its identity orders the table (see render_rows)
                out[k] = Text(name if mode == NARROW or name == row.key else f"{name} ({row.key})")
            elif k == "region":
                out[k] = e.region or "—"
            elif k == "target":
                out[k] = Text(money(e.target, compact), justify="right")
            elif k == "actual":
                out[k] = Text(money(e.bookings, compact), justify="right")
            elif k == LINE_COLUMN:
                out[k] = Text(money(row.line, compact), justify="right")
            elif k == "attainment":
                cell = attainment_cell(e, width=(4, 8, 10)[mode])
                if mode == WIDE:
                    cell.append(f" {e.rag}", style=RAG_STYLE[e.rag])
                out[k] = cell
            elif k == "gap":
                gap = dec(e.gap)
                out[k] = Text(
                    money(gap, compact, sign=True),
                    justify="right",
                    style="red" if gap is not None and gap < 0 else "",
                )
            elif k == "won":
                out[k] = Text(str(e.deals_won), justify="right")
            elif k == "win_rate":
                out[k] = Text(pct(e.win_rate, 0), justify="right")
            elif k == "collections":
                out[k] = Text(money(e.collections, compact), justify="right")
            elif k == "mom":
                out[k] = Text(signed_pct(e.mom), justify="right")
            elif k == "earned":
                out[k] = Text(money(e.total, compact), justify="right")
            elif k == "grade":
                out[k] = self._grade_text(row.card)
        return out

    @staticmethod
    def _grade_text(card: RepScore | None) -> Text:
        """`A`, `A⚑` when an indicator was flagged; `—` without a card or below every grade."""
        if card is None:
            return Text("—", style="dim")
        text = Text(card.grade or "—", style="bold")
        if card.flagged:
            text.append("⚑", style="yellow")
        return text

    @staticmethod
    def _move_text(move: int | None, short: bool) -> Text:
        if move is None:
            return Text(" •" if short else "new", style="cyan")
        if move > 0:
            return Text("▲" if short else f"▲{move}", style="green")
        if move < 0:
            return Text("▼" if short else f"▼{-move}", style="red")
        return Text(" " if short else " =", style="dim")

    def render_rows(self) -> None:
        """Show self.rows; a refresh updates only changed cells and reorders in place, so
        the cursor stays on its rep and the scroll offset is kept."""
        table = self.query_one(DataTable)
        columns = self.visible_columns()
        column_keys = [c.key for c in columns]
        if self.sort_column not in column_keys:
            self.sort_column, self.sort_reverse = "rank", False
        cursor_key = self.current_rep()
        rows = sort_rows(self.rows, self.sort_column, self.sort_reverse)
        keys = [r.key for r in rows]
        ckeys = tuple(column_keys)
        new_cells = {r.key: self.cached_cells(r, columns, ckeys) for r in rows}
        shown = set(self._shown_keys)
        wanted = set(keys)
        if column_keys != self._shown_columns or len(shown ^ wanted) > max(20, len(keys) // 4):
            scroll_y = table.scroll_y
            if column_keys != self._shown_columns:
                table.clear(columns=True)
                for col in columns:
                    label = col.label
                    if col.key == self.sort_column:
                        label += " ▼" if self.sort_reverse else " ▲"
                    table.add_column(
                        Text(
                            label, justify="right" if col.numeric and col.key != "rank" else "left"
                        ),
                        key=col.key,
                        width=col.widths[self.board_mode],
                    )
            else:
                table.clear()
            for key in keys:
                table.add_row(*new_cells[key].values(), key=key)
            if cursor_key in wanted:
                table.move_cursor(row=keys.index(cursor_key), scroll=False, animate=False)
            if scroll_y:
                self.call_after_refresh(table.scroll_to, y=scroll_y, animate=False)
        else:
            order = list(self._shown_keys)
            for key in shown - wanted:
                table.remove_row(key)
            order = [k for k in order if k in wanted]
            for key in keys:
                cells = new_cells[key]
                if key not in shown:
                    table.add_row(*cells.values(), key=key)
                    order.append(key)
                    continue
                old = self._shown_cells.get(key)
                if cells is not old:
                    for col, value in list(cells.items()):
                        previous = None if old is None else old.get(col)
                        if previous is value:
                            continue
                        if previous is not None and previous == value:
                            cells[col] = previous  # keep the table's object: it orders rows
                        else:
                            table.update_cell(key, col, value)
            if order != keys:
                position = {id(new_cells[k]["rep"]): i for i, k in enumerate(keys)}
                table.sort("rep", key=lambda cell: position[id(cell)])
                if cursor_key in wanted:
                    table.move_cursor(row=keys.index(cursor_key), scroll=False, animate=False)
        self._shown_columns, self._shown_keys, self._shown_cells = column_keys, keys, new_cells
        self.query_one("#empty", Static).update(
            ""
            if rows
            else f"No figures for {self.period} yet — waiting for events."
            if self.doc is None
            else "No rep matches the filter (x clears it)."
        )
        self.query_one("#empty").display = not rows
        self.refresh_header()

    def _sort_label_refresh(self) -> None:
        self._shown_columns = []  # rebuild headers with the sort arrow
        self.render_rows()

    def refresh_header(self) -> None:
        doc = self.doc
        compact = self.board_mode == NARROW
        if self.region_filter:
            regions = doc.regions if doc is not None else {}
            scope, entry = f"Region {self.region_filter}", regions.get(self.region_filter)
        elif self.line_filter:
            lines = doc.product_lines if doc is not None else {}
            scope, entry = f"Line {self.line_filter}", lines.get(self.line_filter)
        else:
            teams = doc.team if doc is not None else {}
            if self.team_filter:
                scope, entry = f"Team {self.team_filter}", teams.get(self.team_filter)
            elif len(teams) > 1:  # no one team stands for all: pick one with `t`
                scope, entry = f"All {len(teams)} teams (t: one)", None
            else:
                team_id = next(iter(teams), None)
                scope, entry = f"Team {team_id or '—'}", teams.get(team_id) if team_id else None
        title = self.app.title_text(scope)
        status = Text()
        col = next((c for c in COLUMNS if c.key == self.sort_column), None)
        label = col.label if col else f"Line {self.line_filter}"
        arrow = "▼ descending" if self.sort_reverse else "▲ ascending"
        team = f"team {self.team_filter} · " if self.team_filter else ""
        status.append(
            f"sort {label} {arrow} · {team}region {self.region_filter or 'all'} · line {self.line_filter or 'all'}"
            f" · {len(self.rows)}/{len(doc.reps) if doc is not None else 0} reps"
        )
        if not compact:
            ruleset, position = (doc.ruleset.id, doc.position) if doc is not None else ("—", 0)
            status.append(f" · ruleset {ruleset or '—'} · position {position}")
        if doc is not None and doc.publication is not UNSET:
            status.append("\n")
            status.append_text(publication_text(doc.publication, self.app.clock(), self.app.tz))
        self.query_one(ScopeHeader).show(title=title, entry=entry, status=status, compact=compact)

    # --- actions -----------------------------------------------------------------

    def current_rep(self) -> str | None:
        table = self.query_one(DataTable)
        if 0 <= table.cursor_row < len(self._shown_keys):
            return self._shown_keys[table.cursor_row]
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_statement(event.row_key.value)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = getattr(event.column_key, "value", event.column_key)
        if key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = key
            self.sort_reverse = SORT_DEFAULT_REVERSE.get(key, True)
        self._sort_label_refresh()

    def action_open_statement(self, rep_id: str | None = None) -> None:
        rep_id = rep_id or self.current_rep()
        if rep_id is None:
            return
        self.app.push_screen(StatementScreen(rep_id, order=list(self._shown_keys)))

    def action_sort_next(self) -> None:
        keys = [c.key for c in self.visible_columns()]
        index = (keys.index(self.sort_column) + 1) % len(keys) if self.sort_column in keys else 0
        self.sort_column = keys[index]
        self.sort_reverse = SORT_DEFAULT_REVERSE.get(self.sort_column, True)
        self._sort_label_refresh()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sort_label_refresh()

    def _cycle(self, current: str | None, options: list[str]) -> str | None:
        choices = [None, *sorted(options)]
        index = choices.index(current) if current in choices else 0
        return choices[(index + 1) % len(choices)]

    def action_filter_team(self) -> None:
        teams = self.doc.team if self.doc is not None else {}
        self.team_filter = self._cycle(self.team_filter, list(teams))
        self.reload()

    def action_filter_region(self) -> None:
        regions = self.doc.regions if self.doc is not None else {}
        self.region_filter = self._cycle(self.region_filter, list(regions))
        self.reload()

    def action_filter_line(self) -> None:
        lines = self.doc.product_lines if self.doc is not None else {}
        self.line_filter = self._cycle(self.line_filter, list(lines))
        self.reload()

    def action_clear_filters(self) -> None:
        self.team_filter = self.region_filter = self.line_filter = None
        self.reload()

    def action_funnel(self) -> None:
        self.app.push_screen(FunnelScreen())

    def action_regions(self) -> None:
        self.app.push_screen(RegionsScreen())

    def action_trend(self) -> None:
        """The trend of what the board is filtered on: the region, else the team."""
        if self.region_filter:
            scope = ("region", self.region_filter)
        else:
            scope = ("team", self.team_filter) if self.team_filter else None
        self.app.push_screen(TrendScreen(scope))

    def action_objections(self) -> None:
        self.app.push_screen(ObjectionsScreen())
