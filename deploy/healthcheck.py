#!/usr/bin/env python
"""Container health checks (installed in the image as `quotaboard-healthcheck`).

    quotaboard-healthcheck http URL
        healthy when GET URL answers 2xx within 3 s (gateway /healthz, NATS /healthz).
    quotaboard-healthcheck status [quotaboard status options...]
        healthy when `quotaboard status --json ...` exits 0 and says the broker is
        connected (recorder, projector: their data directory and the cluster answer).

Exit 0 healthy, 1 not, with one line on stderr saying why. Standard library only:
the slim image has no curl or wget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

TIMEOUT = 3.0


def http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - local URL
            if 200 <= response.status < 300:
                return None
            return f"{url}: HTTP {response.status}"
    except Exception as exc:  # HTTPError (non-2xx), URLError, timeout
        return f"{url}: {exc}"


def status(args: list[str]) -> str | None:
    try:
        done = subprocess.run(["quotaboard", "status", "--json", *args],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"quotaboard status: {exc}"
    if done.returncode != 0:
        return f"quotaboard status exited {done.returncode}: {done.stderr.strip()[-200:]}"
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return "quotaboard status --json did not print JSON"
    if not (report.get("broker") or {}).get("connected"):
        return "quotaboard status: broker not connected"
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        problem = http(argv[1])
    elif argv and argv[0] == "status":
        problem = status(argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
