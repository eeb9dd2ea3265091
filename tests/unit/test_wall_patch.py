"""The wall's patches (services/wall/patch.py): what a page is sent when a board changed.
Pure: boards are HTML strings, written here or rendered from the real template."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from jinja2 import Environment, PackageLoader, select_autoescape

from schemas.read_models import Standings
from services.wall.morning import MorningRanks
from services.wall.patch import BoardError, diff, read_board
from services.wall.view import wall_view
from tui import sample
from tui.source import MemorySource

TARGET = Decimal("50000.00")

NOW = datetime(2026, 8, 20, 7, 30, tzinfo=UTC)
MONEY = re.compile(r"\d+(\.\d+)?\s*[kM]\b|[¥$€]|\d{1,3}(,\d{3})+")

ROWS = """<table><tbody data-f="rows" data-order>
<tr class="rag-green" data-f="row@a"><td data-f="rank@a">1</td><td>Ann</td></tr>
<tr class="rag-red" data-f="row@b"><td data-f="rank@b">2</td><td>Bo</td></tr>
</tbody></table><p data-f="foot">position 7</p>"""


def apply(old, patch):
    """What a page holds after the patch: the old slots with the patch's values set."""
    slots = {key: (dict(slot.attrs), slot.text) for key, slot in old.slots.items()}
    for key, attrs, text in patch["set"]:
        was_attrs, was_text = slots[key]
        slots[key] = ({**was_attrs, **(attrs or {})}, was_text if text is None else text)
    orders = {**{k: list(v) for k, v in old.orders.items()}, **patch["order"]}
    return slots, orders


def held(board):
    return {k: (dict(s.attrs), s.text) for k, s in board.slots.items()}, {
        k: list(v) for k, v in board.orders.items()
    }


def test_slots_are_read_with_their_attributes_and_text():
    board = read_board(ROWS)
    assert board.slots["rank@a"].text == "1"
    assert dict(board.slots["row@b"].attrs) == {"class": "rag-red"}
    assert board.slots["row@b"].text is None  # it holds elements: their text is skeleton
    assert board.orders == {"rows": ("row@a", "row@b")}
    assert "rag-red" not in board.skeleton and "position 7" not in board.skeleton
    assert "Bo" in board.skeleton


def test_an_unchanged_board_needs_nothing():
    assert diff(read_board(ROWS), read_board(ROWS)) == {"set": [], "order": {}}


def test_a_changed_text_and_attribute_are_sent_alone():
    new = ROWS.replace('rag-red" data-f="row@b"', 'rag-green" data-f="row@b"').replace(
        "position 7", "position 8"
    )
    patch = diff(read_board(ROWS), read_board(new))
    assert patch == {
        "set": [["row@b", {"class": "rag-green"}, None], ["foot", None, "position 8"]],
        "order": {},
    }


def test_rows_swapped_are_an_order_and_their_ranks():
    a = '<tr class="rag-green" data-f="row@a"><td data-f="rank@a">1</td><td>Ann</td></tr>'
    b = '<tr class="rag-red" data-f="row@b"><td data-f="rank@b">2</td><td>Bo</td></tr>'
    swapped = ROWS.replace(a, "\0").replace(b, a.replace(">1<", ">2<"))
    swapped = swapped.replace("\0", b.replace(">2<", ">1<"))
    old, new = read_board(ROWS), read_board(swapped)
    patch = diff(old, new)
    assert patch["order"] == {"rows": ["row@b", "row@a"]}
    assert sorted(patch["set"]) == [["rank@a", None, "2"], ["rank@b", None, "1"]]
    assert apply(old, patch) == held(new)


@pytest.mark.parametrize(
    "change",
    [
        ("<td>Bo</td>", "<td>Bo</td><td>new column</td>"),  # an element more
        ("<td>Bo</td>", "<td>Bob</td>"),  # text outside a slot
        ('class="rag-red"', 'class="rag-red" title="x"'),  # a slot's attribute more
        ("</tbody>", '<tr data-f="row@c"><td data-f="rank@c">3</td><td>Cy</td></tr></tbody>'),
    ],
)
def test_a_changed_skeleton_needs_the_whole_board(change):
    assert diff(read_board(ROWS), read_board(ROWS.replace(*change))) is None


def test_texts_and_attributes_are_read_unescaped():
    board = read_board('<p data-f="x" title="a &amp; &quot;b&quot;">&lt;i&gt; &amp; 李</p>')
    assert board.slots["x"] == board.slots["x"].__class__((("title", 'a & "b"'),), "<i> & 李")


@pytest.mark.parametrize(
    "html, why",
    [
        ('<p data-f="x">1</p><p data-f="x">2</p>', "twice"),
        ("<div><p>open</div>", "closes"),
        ("<div>", "never closed"),
    ],
)
def test_a_board_that_cannot_be_patched_says_why(html, why):
    with pytest.raises(BoardError, match=why):
        read_board(html)


# --- the real template ---------------------------------------------------------------


def _standings(position: int = 1, **reps: tuple[str, str]) -> Standings:
    """Standings of reps at (attainment, bookings) against 50,000 each, in region East."""
    entries = {}
    for rep, (att, bookings) in reps.items():
        entries[rep] = sample.rep_entry(rep.title(), "East", Decimal(bookings), TARGET, won=1)
        assert entries[rep]["attainment"] == str(Decimal(att).quantize(Decimal("0.0001")))
    return sample.standings_of("2026-08", entries, position)


def render(tmp_path, doc: Standings, hide_money: bool = False) -> str:
    source = MemorySource({("standings", "2026-08", ""): doc})
    view = wall_view(source, "2026-08", NOW, MorningRanks(tmp_path), hide_money)
    templates = Environment(
        loader=PackageLoader("services.wall", "templates"), autoescape=select_autoescape()
    )
    return templates.get_template("board.html").render(view=view)


@pytest.mark.parametrize("hide_money", [False, True])
def test_a_deal_won_patches_the_rows_it_moves_and_nothing_else(tmp_path, hide_money):
    before = _standings(li=("0.6", "30000.00"), wu=("1.2", "60000.00"), zhao=("0.5", "25000.00"))
    after = _standings(2, li=("1.4", "70000.00"), wu=("1.2", "60000.00"), zhao=("0.5", "25000.00"))
    old = read_board(render(tmp_path, before, hide_money))
    new = read_board(render(tmp_path, after, hide_money))
    patch = diff(old, new)
    assert patch is not None
    assert patch["order"] == {"rows": ["row@li", "row@wu", "row@zhao"]}
    touched = {key.split("@")[1] for key, _, _ in patch["set"] if "@" in key}
    assert "zhao" not in touched  # third before and after
    assert {"li", "wu"} <= touched
    assert apply(old, patch) == held(new)
    if hide_money:
        assert not MONEY.search(str(patch)), MONEY.search(str(patch))
    else:
        assert "bookings@li" in {key for key, _, _ in patch["set"]}


def test_a_new_rep_is_a_whole_board(tmp_path):
    before = _standings(li=("0.6", "30000.00"))
    after = _standings(li=("0.6", "30000.00"), wu=("0.2", "10000.00"))
    assert diff(read_board(render(tmp_path, before)), read_board(render(tmp_path, after))) is None
