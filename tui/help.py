"""The help overlay: every screen's keys, read from the screens' own bindings, and the
RAG legend. Its own module because it names every screen (and the screens name none of it)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.format import rag_label
from tui.leaderboard import LeaderboardScreen
from tui.screens import FunnelScreen, ObjectionsScreen, RegionsScreen, StatementScreen
from tui.trend import TrendScreen
from tui.widgets import bindings_items


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False, expand=True)
        table.add_column("key", width=6, no_wrap=True)
        table.add_column("does", no_wrap=True)
        groups = [
            ("Leaderboard", LeaderboardScreen.BINDINGS),
            ("Statement", StatementScreen.BINDINGS),
            ("Funnel / regions / objections", FunnelScreen.BINDINGS + RegionsScreen.BINDINGS
             + ObjectionsScreen.BINDINGS),
            ("Trend", TrendScreen.BINDINGS),
            ("Everywhere", self.app.BINDINGS),
        ]
        seen = set()
        for title, bindings in groups:
            table.add_row("", Text(title, style="bold underline"))
            for key, description in bindings_items(bindings):
                if (title, key) in seen:
                    continue
                seen.add((title, key))
                table.add_row(key, description)
        legend = Text()
        legend.append("RAG: ")
        for rag in ("green", "yellow", "red", "none"):
            legend.append_text(rag_label(rag))
            legend.append("  ")
        legend.append("\nRank move since opened: ▲ up ▼ down = same • new")
        with VerticalScroll(id="help-box"):
            yield Static(legend)
            yield Static(table)
            yield Label("esc / ? closes · ↑↓ scroll", classes="dim")
