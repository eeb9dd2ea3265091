"""What changed between two renderings of a board, as a patch a page applies in place.

Repainting a whole 1920x1080 board on every notice costs each open page a full parse,
layout and paint; with fifty pages on a small machine that is the wall's latency. So the
server sends only what changed, and the page sets those attributes and texts on the
nodes it already has (textContent and setAttribute: no HTML is parsed on a patch).

The template is the only source of the strings: this module reads them back out of the
rendered HTML, so no second formatter can drift from the page. An element marked
`data-f="<key>"` is a slot: its attributes are values, and so is its text when it holds
no element. An element marked `data-order` also carries the order of its keyed children
(the leaderboard's rows). Everything else is the board's skeleton. Two boards with the
same skeleton differ by a patch; when the skeleton changed (a new rep, an honour, another
week in the trend, money shown or hidden) the page gets the whole board instead.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}
)


@dataclass(frozen=True)
class Slot:
    attrs: tuple[tuple[str, str], ...]
    text: str | None  # None: the element holds elements, its text is the skeleton's


@dataclass(frozen=True)
class Board:
    """A rendered board read back: its skeleton, its slots and its ordered containers."""

    skeleton: str
    slots: dict[str, Slot]
    orders: dict[str, tuple[str, ...]]


class BoardError(ValueError):
    """The HTML is not a board this module can patch (a key twice, an unbalanced tag)."""


@dataclass
class _Node:
    tag: str
    attrs: list[tuple[str, str]]
    children: list = field(default_factory=list)  # _Node or str


# The board is the template's own output (autoescaped: no raw `<` in a text, no raw `"` in
# an attribute), so a tag is read with a pattern; html.parser took longer than the render.
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=/>]+(?:=\"[^\"<]*\")?)*)\s*(/?)>")
ATTR = re.compile(r'([^\s=/>]+)(?:="([^"]*)")?')


def _tree(html: str) -> _Node:
    root = _Node("", [])
    stack = [root]
    at = 0
    for match in TAG.finditer(html):
        text = html[at : match.start()]
        if "<" in text:
            raise BoardError(f"unreadable markup near {text[text.index('<') :][:40]!r}")
        if text:
            stack[-1].children.append(unescape(text))
        at = match.end()
        closing, tag, attrs, selfclosing = match.groups()
        tag = tag.lower()
        if closing:
            if stack[-1].tag != tag:
                raise BoardError(f"</{tag}> closes <{stack[-1].tag or 'nothing'}>")
            stack.pop()
            continue
        node = _Node(tag, [(k, unescape(v or "")) for k, v in ATTR.findall(attrs)])
        stack[-1].children.append(node)
        if not selfclosing and tag not in VOID:
            stack.append(node)
    rest = html[at:]
    if "<" in rest:
        raise BoardError(f"unreadable markup near {rest[rest.index('<') :][:40]!r}")
    if rest:
        stack[-1].children.append(unescape(rest))
    if len(stack) != 1:
        raise BoardError(f"<{stack[-1].tag}> is never closed")
    return root


def read_board(html: str) -> Board:
    """The board's skeleton, slots and orders (BoardError if it cannot be patched)."""
    root = _tree(html)
    slots: dict[str, Slot] = {}
    orders: dict[str, tuple[str, ...]] = {}
    skeleton = "".join(_skeleton(child, slots, orders) for child in root.children)
    return Board(skeleton, slots, orders)


def _skeleton(node, slots: dict[str, Slot], orders: dict[str, tuple[str, ...]]) -> str:
    if isinstance(node, str):
        return node
    attrs = dict(node.attrs)
    key = attrs.pop("data-f", None)
    ordered = "data-order" in attrs
    if key is None:
        head = "".join(f' {k}="{v}"' for k, v in node.attrs)
    else:
        if key in slots:
            raise BoardError(f"the slot {key!r} is on the board twice")
        leaf = all(isinstance(child, str) for child in node.children)
        slots[key] = Slot(tuple(sorted(attrs.items())), "".join(node.children) if leaf else None)
        head = f' data-f="{key}"' + "".join(f" {k}" for k in sorted(attrs))
        if leaf:
            return f"<{node.tag}{head}></{node.tag}>"
    inner = [_skeleton(child, slots, orders) for child in node.children]
    if ordered:
        keys = tuple(
            dict(child.attrs)["data-f"]
            for child in node.children
            if isinstance(child, _Node) and "data-f" in dict(child.attrs)
        )
        orders[key or ""] = keys
        inner.sort()  # the order is a value, not the skeleton
    return f"<{node.tag}{head}>{''.join(inner)}</{node.tag}>"


def diff(old: Board, new: Board) -> dict | None:
    """What turns `old` into `new`: {"set": [[key, {attr: value} | None, text | None]],
    "order": {container: [keys]}}; None when the skeleton changed (send the whole board)."""
    if old.skeleton != new.skeleton:
        return None
    changes = []
    for key, slot in new.slots.items():
        was = old.slots[key]
        attrs = dict(slot.attrs)
        changed = {k: v for k, v in attrs.items() if dict(was.attrs).get(k) != v}
        text = slot.text if slot.text != was.text else None
        if changed or text is not None:
            changes.append([key, changed or None, text])
    order = {key: list(keys) for key, keys in new.orders.items() if old.orders.get(key) != keys}
    return {"set": changes, "order": order}
