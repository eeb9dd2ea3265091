"""What Linux's /proc says of a process, for the tests and the benchmarks: whether it
still runs, its CPU so far, and the processes it started. One reader of `/proc/<pid>/stat`
(the fields after the command name, which may itself hold spaces and parentheses)."""

from __future__ import annotations

import os
from pathlib import Path

STATE, PPID, UTIME, STIME = 0, 1, 11, 12  # indexes into stat() (fields 3, 4, 14, 15)


def stat(pid: int) -> list[str] | None:
    """The process's stat fields after its command name; None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (exited, not yet reaped)."""
    fields = stat(pid)
    return fields is not None and fields[STATE] != "Z"


def cpu_seconds(pid: int) -> float:
    """User and system CPU of one process so far (0 when it is gone)."""
    fields = stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[UTIME]) + int(fields[STIME])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes `pid` started that still run (one level)."""
    return [p for p, fields in _all().items() if int(fields[PPID]) == pid]


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of `pid` and of every process below it, so far."""
    table = _all()
    below: dict[int, list[int]] = {}
    for p, fields in table.items():
        below.setdefault(int(fields[PPID]), []).append(p)
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        if p in table:
            total += int(table[p][UTIME]) + int(table[p][STIME])
        todo += below.get(p, [])
    return total / os.sysconf("SC_CLK_TCK")


def _all() -> dict[int, list[str]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) is not None:
            table[int(entry.name)] = fields
    return table
