"""A reader of the read store sees one commit per read (services/project/readstore.py):
the projector may commit between two SELECTs of a statement (its parts, then the rep's
standings entry) or of a document and the checkpoint."""

from __future__ import annotations

import msgspec

from services.project.readstore import ReadStore, new_store_path
from tui import sample


def _standings(position: int) -> bytes:
    return msgspec.json.encode(sample.standings("2026-08", reps=2, position=position))


def test_a_commit_between_two_reads_of_one_snapshot_is_not_seen(tmp_path):
    path = new_store_path(tmp_path)
    with ReadStore(path, writer=True) as writer, ReadStore(path) as reader:
        writer.write([("standings", "2026-08", "", _standings(1))], 1)
        with reader.snapshot():
            first = reader.standings("2026-08")
            writer.write([("standings", "2026-08", "", _standings(2))], 2)
            assert reader.position() == 1  # still the commit the first read saw
            assert reader.standings("2026-08") == first
        assert reader.position() == 2  # the next read sees the new commit
