"""Formatting for the TUI: money, ratios, RAG as colour *and* symbol, text bars.

Figures arrive as the contract's decimal strings; they are only formatted here, never
recomputed. Every RAG colour is paired with a symbol and, where there is room, a word,
so the screens stay readable without colour (NO_COLOR, monochrome terminals).
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from schemas.documents import as_decimal as dec

RAG_STYLE = {"green": "green", "yellow": "yellow", "red": "red", "none": "dim"}
RAG_SYMBOL = {"green": "●", "yellow": "◐", "red": "○", "none": "·"}
BLOCKS = " ▏▎▍▌▋▊▉█"




def money(value: object, compact: bool = False, sign: bool = False) -> str:
    d = dec(value)
    if d is None:
        return "—"
    prefix = "+" if sign and d > 0 else ""
    if compact:
        a = abs(d)
        neg = "-" if d < 0 else prefix
        if a >= 1_000_000:
            return f"{neg}{a / 1_000_000:.2f}M"
        if a >= 1_000:
            return f"{neg}{a / 1_000:.1f}k"
        return f"{neg}{a:.0f}"
    return f"{prefix}{d:,.0f}" if d == d.to_integral_value() else f"{prefix}{d:,.2f}"


def pct(value: object, digits: int = 1) -> str:
    d = dec(value)
    if d is None:
        return "—"
    return f"{d * 100:.{digits}f}%"


def signed_pct(value: object) -> str:
    d = dec(value)
    if d is None:
        return "—"
    return f"{d * 100:+.1f}%"


def rag_of(entry: dict) -> str:
    rag = entry.get("rag") or "none"
    return rag if rag in RAG_STYLE else "none"


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


def attainment_cell(entry: dict, width: int = 8) -> Text:
    """Bar coloured by RAG, the ratio, and the RAG symbol (readable without colour)."""
    rag = rag_of(entry)
    att = dec(entry.get("attainment"))
    style = RAG_STYLE[rag]
    text = Text()
    text.append(bar_text(att, width), style=style)
    text.append(f" {pct(att, 0):>5}" if att is not None else "     —", style=style)
    text.append(f" {RAG_SYMBOL[rag]}", style=style)
    return text
