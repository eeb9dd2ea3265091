"""`status` reads the live read store once: no store is "not started", a store whose file is
damaged is said to be unreadable, never taken for an empty one (services/cli/ops.py)."""

from __future__ import annotations

from services.cli.ops import read_models
from services.project.readstore import ReadStore, new_store_path, swap_current


def test_no_store_is_not_started(tmp_path):
    position, state, set_aside = read_models(tmp_path)
    assert (position, state["state"], set_aside) == (0, "not started", 0)


def test_a_store_with_a_checkpoint_is_read(tmp_path):
    path = new_store_path(tmp_path)
    with ReadStore(path, writer=True) as store:
        store.write([], 42)
    swap_current(tmp_path, path)
    position, state, set_aside = read_models(tmp_path)
    assert (position, state["state"], set_aside) == (42, "not started", 0)


def test_a_damaged_store_is_unreadable_with_its_path(tmp_path):
    path = new_store_path(tmp_path)
    path.write_bytes(b"this is not a database " * 500)
    swap_current(tmp_path, path)
    position, state, _ = read_models(tmp_path)
    assert position == 0 and state["state"] == "unreadable"
    assert path.name in state["error"] and "rebuild" in state["error"]
