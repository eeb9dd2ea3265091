"""Widgets shared by the screens: the key bar (every action on a key) and the header."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static

from schemas.read_models import ScopeEntry
from tui.format import RAG_STYLE, RAG_SYMBOL, dec, money, pct

KEY_NAMES = {
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "escape": "esc",
    "enter": "⏎",
    "slash": "/",
    "full_stop": ".",
    "comma": ",",
}

STATE_MARK = {
    "live": ("● live", "green"),
    "reconnecting": ("◌ reconnecting", "yellow"),
    "offline": ("✖ offline", "red"),
    "static": ("○ static", "dim"),
}


def key_label(key: str) -> str:
    first = key.split(",")[0].strip()
    if first in KEY_NAMES:
        return KEY_NAMES[first]
    if first.startswith("shift+") and len(first) == 7:
        return first[-1].upper()
    return first


class KeyBar(Widget):
    """Every binding of the screen, wrapped onto as many lines as the width needs."""

    DEFAULT_CSS = """
    KeyBar { height: auto; dock: bottom; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, items: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.items = items

    def _lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        line = Text()
        for key, description in self.items:
            piece_len = len(key) + 1 + len(description)
            if line.cell_len and line.cell_len + 2 + piece_len > width:
                lines.append(line)
                line = Text()
            if line.cell_len:
                line.append("  ")
            line.append(key, style="bold reverse")
            line.append(" " + description)
        if line.cell_len or not lines:
            lines.append(line)
        return lines

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines(max(width, 10)))

    def render(self) -> Text:
        return Text("\n").join(self._lines(max(self.content_size.width, 10)))


def bindings_items(*binding_lists) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    for bindings in binding_lists:
        for b in bindings:
            key, description, show = b.key, b.description, b.show
            if not show or not description or key in seen:
                continue
            seen.add(key)
            items.append((b.key_display or key_label(key), description))
    return items


class ScopeHeader(Vertical):
    """The scope (team, or the filtered region / product line) against its target."""

    DEFAULT_CSS = """
    ScopeHeader { height: auto; padding: 0 1; background: $boost; }
    ScopeHeader #title-line { width: 1fr; }
    ScopeHeader #bar-line { height: 1; }
    ScopeHeader ProgressBar { width: 1fr; }
    ScopeHeader ProgressBar Bar { width: 1fr; }
    ScopeHeader #bar-figures { width: auto; padding-left: 1; }
    ScopeHeader #status-line { width: 1fr; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="title-line")
        with Horizontal(id="bar-line"):
            yield ProgressBar(total=100, show_eta=False, show_percentage=False, id="scope-bar")
            yield Label("", id="bar-figures")
        yield Label("", id="status-line")

    def show(self, *, title: Text, entry: ScopeEntry | None, status: Text, compact: bool) -> None:
        self.query_one("#title-line", Label).update(title)
        bar = self.query_one("#scope-bar", ProgressBar)
        figures = Text()
        if entry is None:
            target = actual = attainment = None
            rag = "none"
        else:
            target, actual = dec(entry.target), dec(entry.bookings)
            attainment, rag = entry.attainment, entry.rag
        for cls in ("-green", "-yellow", "-red", "-none"):
            bar.remove_class(cls)
        bar.add_class(f"-{rag}")
        if target and target > 0:
            bar.update(total=float(target), progress=float(min(actual or 0, target)))
        else:
            bar.update(total=100, progress=0)
        style = RAG_STYLE.get(rag, "dim")
        figures.append(f"{money(actual, compact)} / {money(target, compact)} ")
        figures.append(f"{pct(attainment)} {RAG_SYMBOL.get(rag, '·')} {rag}", style=style)
        self.query_one("#bar-figures", Label).update(figures)
        self.query_one("#status-line", Label).update(status)


def state_text(state: str) -> Text:
    label, style = STATE_MARK.get(state, (state, "dim"))
    return Text(label, style=style)


class Section(Static):
    DEFAULT_CSS = """
    Section { height: auto; padding: 0 1; }
    """
