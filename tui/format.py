"""Formatting for the TUI: RAG as colour *and* symbol, text bars; money, ratios and RAG
words come from schemas.documents, which the wall prints with too.

Figures arrive as the contract's decimal strings; they are only formatted here, never
recomputed. Every RAG colour is paired with a symbol and, where there is room, a word,
so the screens stay readable without colour (NO_COLOR, monochrome terminals).
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from schemas.documents import RAG_SYMBOL, money, pct, signed_pct
from schemas.documents import as_decimal as dec
from schemas.read_models import RepEntry, ScopeEntry, Statement

__all__ = [
    "RAG_STYLE",
    "RAG_SYMBOL",
    "attainment_cell",
    "bar_text",
    "dec",
    "money",
    "pct",
    "rag_label",
    "signed_pct",
]

Figures = ScopeEntry | RepEntry | Statement
"""What shows a scope's figures (bookings, target, attainment, RAG...): a team, region or
product line, a rep's standings entry, a rep's statement."""

RAG_STYLE = {"green": "green", "yellow": "yellow", "red": "red", "none": "dim"}
BLOCKS = " ▏▎▍▌▋▊▉█"


def rag_label(rag: str) -> Text:
    return Text(f"{RAG_SYMBOL.get(rag, '·')} {rag}", style=RAG_STYLE.get(rag, "dim"))


def bar_text(ratio: Decimal | float | None, width: int) -> str:
    """A bar of `width` cells filled to `ratio` (capped at 1), in eighths."""
    if ratio is None or width <= 0:
        return " " * max(width, 0)
    r = max(0.0, min(1.0, float(ratio)))
    eighths = round(r * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BLOCKS[part] if part else "")
    return text.ljust(width)


def attainment_cell(entry: Figures, width: int = 8) -> Text:
    """Bar coloured by RAG, the ratio, and the RAG symbol (readable without colour)."""
    rag = entry.rag
    att = dec(entry.attainment)
    style = RAG_STYLE[rag]
    text = Text()
    text.append(bar_text(att, width), style=style)
    text.append(f" {pct(att, 0):>5}" if att is not None else "     —", style=style)
    text.append(f" {RAG_SYMBOL[rag]}", style=style)
    return text
