"""The read-model documents fit their Structs (schemas/read_models.py): the projector stores
them converted, byte for byte the JSON the fold's dicts made, and refuses one that drifts."""

from __future__ import annotations

import json

import msgspec
import pytest
from fold_helpers import ev, project, seed_raw

from projections.projection import Changes
from schemas.read_models import KINDS, Standings, as_document, statement_of
from services.project.projector import documents
from services.project.readstore import ReadStore


def _every_document(p):
    changes = Changes(p.position, periods=set(p.periods()))
    return list(documents(p, changes, every_rep=True))


def _closed_seed():
    return project([*seed_raw(), ev("period.closed", "2026-09-03T09:00:00", period="2026-08")])


@pytest.mark.parametrize(
    "make", [lambda: project(seed_raw()), _closed_seed], ids=["open", "closed"]
)
def test_stored_bytes_are_the_json_of_the_folds_dicts(make):
    """Declared in the documents' own order: converting to the Struct changes no byte of
    the JSON (cli.md's `--json`), keys only sometimes present included."""
    p = make()
    stored = _every_document(p)
    assert {kind for kind, *_ in stored} >= {
        "standings",
        "funnel",
        "statement",
        "unmatched",
        "weekly",
    }
    for kind, period, key, raw in stored:
        if kind == "standings":
            built = p.standings(period)
        elif kind == "statement":
            built = p.statement_parts(key, period)
        elif kind == "frozen":
            built = p.frozen(period)
        elif kind == "unmatched":
            built = p.unmatched()
        else:
            continue
        assert raw == msgspec.json.encode(built), (kind, period, key)


def test_publication_is_present_only_in_a_published_month():
    stored = {(k, per): raw for k, per, _key, raw in _every_document(_closed_seed())}
    closed = json.loads(stored[("standings", "2026-08")])
    assert closed["closed"] is True and "publication" in closed
    assert closed["publication"]["payout"] == "pending"
    assert ("frozen", "2026-08") in stored
    opened = msgspec.json.decode(stored[("standings", "2026-Q3")], type=Standings)
    assert opened.publication is msgspec.UNSET
    assert "publication" not in json.loads(stored[("standings", "2026-Q3")])


def test_a_document_that_does_not_fit_is_refused_naming_the_field():
    doc = project(seed_raw()).standings("2026-08")
    rep_id = next(iter(doc["reps"]))
    as_float = {
        **doc,
        "reps": {**doc["reps"], rep_id: {**doc["reps"][rep_id], "bookings": 840000.0}},
    }
    with pytest.raises(
        msgspec.ValidationError,
        match=r"Expected `str`, got `float` - at `\$\.reps\[\.\.\.\]\.bookings`",
    ):
        as_document("standings", as_float)
    with pytest.raises(msgspec.ValidationError, match="unknown field `surprise`"):
        as_document("funnel", {**project(seed_raw()).funnel("2026-08"), "surprise": 1})
    without = {k: v for k, v in doc.items() if k != "unassigned"}
    with pytest.raises(msgspec.ValidationError, match="missing required field `unassigned`"):
        as_document("standings", without)


def test_the_store_reads_each_kind_as_its_struct(tmp_path):
    p = project(seed_raw())
    with ReadStore(tmp_path / "rm.sqlite", writer=True) as store:
        store.write(_every_document(p), p.position)
        standings = store.standings("2026-08")
        assert isinstance(standings, Standings) and standings.position == p.position
        for kind, struct in KINDS.items():
            rows = store._db.execute(
                "SELECT period, key FROM docs WHERE kind = ?", (kind,)
            ).fetchall()
            for period, key in rows:
                doc = store.doc(kind, period, key)
                assert isinstance(doc, struct)
                raw = store._db.execute(
                    "SELECT doc FROM docs WHERE kind = ? AND period = ? AND key = ?",
                    (kind, period, key),
                ).fetchone()[0]
                # what `--json` printed before (json of the stored bytes) and prints now
                assert json.dumps(msgspec.to_builtins(doc), ensure_ascii=False) == json.dumps(
                    json.loads(raw), ensure_ascii=False
                )
        rep_id = next(iter(standings.reps))
        statement = store.statement("2026-08", rep_id)
        fold = p.statement(rep_id, "2026-08")
        assert msgspec.to_builtins(statement) == {**fold, "position": p.position}
        assert list(msgspec.to_builtins(statement)) == list(fold)  # cli.md's key order
        parts = store.doc("statement", "2026-08", rep_id)
        assert statement_of(parts, standings, standings.reps[rep_id]) == statement
