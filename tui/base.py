"""What every drill-down screen shares: reading documents for the app's period, redrawing
on reload(), the title line and the key bar. Its own module so the screens that open one
another (statement, trend) need not import each other's modules."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Label

from tui.widgets import KeyBar, bindings_items

BACK = Binding("escape", "back", "Back", key_display="esc")


class DataScreen(Screen):
    """A screen that reads documents for the app's period and redraws on reload()."""

    def __init__(self) -> None:
        super().__init__()
        self.stale = False

    def keybar(self) -> KeyBar:
        return KeyBar(bindings_items(self.BINDINGS, self.app.BINDINGS), id="keys")

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.stale:
            self.reload()

    def reload(self) -> None:
        self.stale = False
        self.app.mark_updated()
        self.load()

    def load(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def action_back(self) -> None:
        self.app.pop_screen()

    def title_line(self, scope: str) -> Text:
        self._scope = scope
        return self.app.title_text(scope)

    def refresh_header(self) -> None:
        scope = getattr(self, "_scope", None)
        if scope is not None:
            self.query_one("#title-line", Label).update(self.app.title_text(scope))
