"""A read-model store built through the real path (decode -> fold -> documents -> store).

For the TUI's tests, snapshots, docs capture and benchmark: no hand-made figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from services.project.readstore import ReadStore, new_store_path, swap_current

# ../shared beside the repository, as in development and CI
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
SEED_EVENTS = EXAMPLES / "seed-table1.jsonl"
SEED_RULESET = EXAMPLES / "rulesets" / "seed-table3.toml"


class FoldedStore:
    """A data dir whose live store is fed by a Projection held in memory."""

    def __init__(self, data_dir: Path | str, ruleset: Path | str = SEED_RULESET) -> None:
        from projections.projection import Projection
        from projections.rulesets import RulesetSet
        from services.project.rulesets import read_ruleset

        self.data_dir = Path(data_dir)
        self.projection = Projection(RulesetSet([read_ruleset(ruleset)]))
        path = new_store_path(self.data_dir)
        self.store = ReadStore(path, writer=True)
        self.store.write([], 0)
        swap_current(self.data_dir, path)
        self.position = 0

    def apply_raw(self, lines: Iterable[bytes | str]):
        """Decode canonical JSON events, fold them, write the documents; return the Changes."""
        from schemas.events import decode_event
        from services.project.projector import documents, gc_paused

        batch = []
        for raw in lines:
            if isinstance(raw, str):
                raw = raw.encode()
            if raw.strip():
                self.position += 1
                batch.append((self.position, decode_event(raw)))
        with gc_paused():
            changes = self.projection.apply(batch)
            self.store.write(documents(self.projection, changes), changes.position)
        return changes

    def apply_events(self, events: Iterable) -> object:
        from schemas.events import encode_event

        return self.apply_raw(encode_event(e) for e in events)

    def close(self) -> None:
        self.store.close()


def seed_store(data_dir: Path | str) -> FoldedStore:
    folded = FoldedStore(data_dir)
    folded.apply_raw(SEED_EVENTS.read_bytes().splitlines())
    return folded
