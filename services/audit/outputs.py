"""A replay's answer written out: the contract's JSON, the CSV, and a table for a person."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

CSV_FIELDS = ["period", "rep", "component", "line", "before", "after", "delta"]


def replay_json(result: dict) -> str:
    """The contract's JSON, byte-identical for the same inputs (sorted keys)."""
    return json.dumps(result, ensure_ascii=False, sort_keys=True, indent=2)


def write_replay_csv(result: dict, path: Path | str) -> Path:
    """One row per rep and line (line = 1, 2… within the rep), then the rep's total row
    (component `total`, line empty), so a rep without lines still has a row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for rep_id, rep in result["reps"].items():
            for i, line in enumerate(rep["lines"], 1):
                writer.writerow(
                    [result["period"], rep_id, line["component"], i,
                     line["before"], line["after"], line["delta"]]
                )  # fmt: skip
            writer.writerow(
                [result["period"], rep_id, "total", "", rep["before"], rep["after"], rep["delta"]]
            )
    return path


def print_replay(result: dict, console=None) -> None:
    """A person's view of a replay: per rep before → after (delta), lines below."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    base, new = result["baseline"], result["replayed"]
    console.print(
        f"[bold]Replay {result['period']}[/]: {'frozen' if base['frozen'] else 'current'} "
        f"{base['ruleset'].get('id')} → {new['ruleset']['id']}"
        + (f" as of {new['as_of']}" if new["as_of"] else "")
    )
    table = Table("rep", "component", "before", "after", "delta")
    for rep_id, rep in result["reps"].items():
        for line in rep["lines"]:
            table.add_row(
                rep_id, line["component"], line["before"], line["after"], _signed(line["delta"])
            )
        table.add_row(
            f"[bold]{rep_id}[/]",
            "[bold]total[/]",
            rep["before"],
            rep["after"],
            _signed(rep["delta"]),
        )
    t = result["totals"]
    table.add_row("[bold]all[/]", "", t["before"], t["after"], _signed(t["delta"]))
    console.print(table)
    scorecard = result.get("scorecard")
    if scorecard:
        grades = Table("rep", "score before", "score after", "delta", "grade")
        for rep_id, r in scorecard["reps"].items():
            grades.add_row(rep_id, r["score_before"] or "—", r["score_after"] or "—", _signed(r["score_delta"]),
                           f"{r['grade_before'] or '—'} → {r['grade_after'] or '—'}")
        console.print(f"[bold]Scorecard {scorecard['period']}[/]")
        console.print(grades)


def _signed(value: str) -> str:
    d = Decimal(value)
    if d > 0:
        return f"[green]+{value}[/]"
    if d < 0:
        return f"[red]{value}[/]"
    return value
