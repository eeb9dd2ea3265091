"""Ruleset files: where the live set lives and how a file becomes a LoadedRuleset.

The parsing and validation are pure (projections/rulesets.py); reading files is I/O,
so it lives here, in the shell. The live set is `<data>/rulesets/*.toml`; when that
folder has none, the repository's `rulesets/` (the seed's scheme) is the default set.
"""

from __future__ import annotations

from pathlib import Path

from projections.rulesets import LoadedRuleset, RulesetError, RulesetSet, load_ruleset

FOLDER = "rulesets"


def read_ruleset(path: Path | str) -> LoadedRuleset:
    """One ruleset file; RulesetError naming the file when it cannot be read or is invalid."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesetError(str(path), f"cannot read the file ({exc.strerror or exc})") from None
    return load_ruleset(raw, path=str(path))


def load_ruleset_dir(path: Path | str) -> RulesetSet:
    """Every `*.toml` file directly in `path` (not in subfolders) as a RulesetSet."""
    folder = Path(path)
    if not folder.is_dir():
        raise RulesetError(str(folder), "not a folder of rulesets (expected a folder holding *.toml files)")
    files = sorted(p for p in folder.glob("*.toml") if p.is_file())
    if not files:
        raise RulesetError(str(folder), "no *.toml ruleset in this folder (expected at least one)")
    return RulesetSet([read_ruleset(p) for p in files])


def default_rulesets_dir() -> Path:
    """The repository's `rulesets/` (the seed's scheme)."""
    return Path(__file__).resolve().parents[2] / FOLDER


def load_live_rulesets(data_dir: Path | str) -> RulesetSet:
    """The live set: `<data>/rulesets/*.toml`, or the repository's default when there are none."""
    folder = Path(data_dir) / FOLDER
    if folder.is_dir() and any(p.is_file() for p in folder.glob("*.toml")):
        return load_ruleset_dir(folder)
    return load_ruleset_dir(default_rulesets_dir())
