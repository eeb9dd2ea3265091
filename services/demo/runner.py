"""`quotaboard demo`: the whole service with a demo company and a simulated CRM.

1. Starts `quotaboard up` as a child process on the given (or a new temporary) data
   dir, with a freshly generated webhook secret passed through the environment
   (QUOTABOARD_WEBHOOK_SECRET), never on the command line.
2. Creates the demo organisation (services.demo.crm_sim.organisation) by posting signed
   canonical events to the gateway over real HTTP.
3. Runs the simulated CRM in a background thread, posting signed webhooks at a lifelike
   pace (`--speed` divides the pauses; `--seed` repeats the company and the sequence).
   `--now` builds the company as of that instant; the simulator's and the TUI's clock
   then run on from it at the real pace (webhook signatures keep the real time).
4. Opens the TUI on top; leaving it (q) stops the CRM and then the service (SIGINT,
   as Ctrl-C would). `--headless` runs without the TUI until Ctrl-C or `--duration`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from services.config import new_viewer_token
from services.demo.crm_sim import CrmSimulator, clock_from, organisation
from services.ingest.signing import sign
from services.runtime.broker import free_port
from services.runtime.processes import die_with_parent, stop_process

REPO = Path(__file__).resolve().parents[2]
BATCH = 250


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Poster:
    """Signs and posts canonical events to the gateway; retries 503 and connection errors."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.url = base_url.rstrip("/") + "/v1/events"
        self.secret = secret
        self.client = httpx.Client(timeout=10)
        self.posted = 0

    def post(self, events: list[dict], stop: threading.Event | None = None) -> None:
        body = json.dumps(events, ensure_ascii=False).encode()
        for attempt in range(60):
            msg_id = f"msg_{uuid.uuid4().hex}"
            ts = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": msg_id,
                       "webhook-timestamp": str(ts), "webhook-signature": sign(self.secret, msg_id, ts, body)}
            try:
                resp = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 202:
                self.posted += len(events)
                return
            if resp is not None and resp.status_code not in (502, 503, 504):
                raise RuntimeError(f"gateway answered {resp.status_code}: {resp.text[:200]}")
            if stop is not None and stop.is_set():
                return
            time.sleep(min(0.2 * (attempt + 1), 2.0))
        raise RuntimeError("gateway unavailable for a minute; see the service log")

    def close(self) -> None:
        self.client.close()


class Service:
    """`quotaboard up` as a child process."""

    def __init__(self, data_dir: Path, secret: str, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        # the secrets and the viewer token through the environment: the demo writes no secrets.toml
        self.viewer_token = new_viewer_token()
        self.wall_port = free_port()
        self.env = {**os.environ, "QUOTABOARD_WEBHOOK_SECRET": secret, "QUOTABOARD_OPERATOR_SECRET": new_secret(),
                    "QUOTABOARD_VIEWER_TOKEN": self.viewer_token, "QUOTABOARD_WALL_HTTP": f"127.0.0.1:{self.wall_port}"}
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / "demo-service.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def wall_url(self) -> str:
        return f"http://127.0.0.1:{self.wall_port}/wall?token={self.viewer_token}"

    def start(self, timeout: float = 40.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "services.cli", "up", "--data", str(self.data_dir),
                "--http", f"127.0.0.1:{self.port}"]
        log = open(self.log_path, "ab")
        try:
            # Its own session (a Ctrl-C reaches the demo, which stops it in order), and a
            # SIGTERM from Linux should the demo die without doing so (killed, terminal closed).
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True,
                                         preexec_fn=die_with_parent)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`quotaboard up` exited with {self.proc.returncode}; see {self.log_path}")
            try:
                r = httpx.get(self.base_url + "/healthz", timeout=0.5)
                if r.status_code == 200 and r.json().get("broker_connected"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the service did not become ready within {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        return stop_process(proc, signal.SIGINT, timeout)


def simulate(poster: Poster, sim: CrmSimulator, speed: float, stop: threading.Event) -> None:
    """Post what the simulated CRM sends until `stop` is set."""
    while not stop.is_set():
        pause, events = sim.next()
        if stop.wait(pause / max(speed, 0.01)):
            return
        if events:
            try:
                poster.post(events, stop)
            except RuntimeError as exc:
                print(f"quotaboard demo: {exc}", file=sys.stderr)
                stop.wait(1.0)


def _wait_for_figures(data_dir: Path, posted: int, timeout: float = 30.0) -> None:
    """Let the projector fold the history first: the TUI opens on the month the figures
    say (projections.periods.default_month), and a half-folded history could say another."""
    from services.project.readstore import ReadStore

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = ReadStore.open_current(data_dir)
        if store is not None:
            with store:
                if store.position() >= posted:
                    return
        time.sleep(0.2)


def parse_now(text: str) -> datetime:
    """`--now`: an RFC 3339 instant with its offset (`Z` or `+08:00`)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValueError(f"--now {text!r} is not an RFC 3339 instant with an offset; "
                         "use e.g. 2026-12-01T00:00:30+08:00 or 2026-11-30T16:00:30Z")
    return value


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_demo(*, seed: int = 7, speed: float = 1.0, show: Callable[[Path, Callable[[], datetime]], None] | None = None,
             duration: float | None = None, data: Path | str | None = None, now: datetime | None = None,
             out=sys.stderr) -> int:
    """The service, the demo company and its simulated CRM; then `show(data_dir, clock)`
    (the TUI) until it returns, or headless (`show=None`) until Ctrl-C or `duration`."""
    data_dir = Path(data) if data else Path(tempfile.mkdtemp(prefix="quotaboard-demo-"))
    secret = new_secret()
    service = Service(data_dir, secret, free_port())
    print(f"quotaboard demo: starting the service on {data_dir} (log {service.log_path})", file=out)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # stop as on Ctrl-C: the finally below runs
        signal.signal(sig, _interrupt)
    service.start()
    poster = Poster(service.base_url, secret)
    stop = threading.Event()
    thread = None
    try:
        clock = clock_from(now)
        org = organisation(seed, clock())
        for i in range(0, len(org.events), BATCH):
            poster.post(org.events[i:i + BATCH])
        print(f"quotaboard demo: {len(org.reps)} reps, {poster.posted} events of history posted to "
              f"{service.base_url}; simulated CRM at speed {speed:g}", file=out)
        print(f"quotaboard demo: the wall at {service.wall_url}", file=out)
        sim = CrmSimulator(org, seed, clock=clock)
        thread = threading.Thread(target=simulate, args=(poster, sim, speed, stop), daemon=True, name="crm-sim")
        thread.start()
        if show is None:
            started = time.monotonic()
            last_report = started
            try:
                while duration is None or time.monotonic() - started < duration:
                    time.sleep(0.2)
                    if time.monotonic() - last_report >= 10:
                        last_report = time.monotonic()
                        print(f"quotaboard demo: {poster.posted} events posted", file=out)
                    if service.proc is None or service.proc.poll() is not None:
                        print("quotaboard demo: the service stopped", file=out)
                        return 1
            except KeyboardInterrupt:
                pass
        else:
            _wait_for_figures(data_dir, poster.posted)
            show(data_dir, clock)
        return 0
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=15)
        poster.close()
        code = service.stop()
        print(f"quotaboard demo: stopped ({poster.posted} events posted; service exit {code}); "
              f"data kept in {data_dir}", file=out)
