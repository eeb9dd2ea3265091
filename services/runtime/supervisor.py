"""`quotaboard up`: the embedded broker plus one child process per role, kept alive.

Roles are separate processes (`quotaboard run-role NAME --data DIR [--nats URL]`) so that a
crash, a SIGKILL in a test, or a slow projector cannot take the others down; the
supervisor restarts a role that dies (back-off 0.5 s doubling to 10 s, reset after 30 s
of uptime; the first pause is the `restart_backoff` setting) and restarts the embedded
nats-server the same way (same port, same store).

Adding a role: put a `Role` in `ROLES` (services/runtime/roles.py) (its `run(settings)` runs in the child) and,
if `up` should start it, give it `in_up=True`. `optional=True` roles whose module cannot
be imported yet are skipped with a warning instead of crash-looping.

Stopping (SIGINT/Ctrl-C or SIGTERM): the gateway first (no new intake), then the other
roles (the recorder drains the stream into the log before it exits), then the broker.
Each gets SIGTERM, then SIGKILL after a timeout. Children get PR_SET_PDEATHSIG so even a
SIGKILLed supervisor leaves nothing behind. Where everything runs is in
`<data>/run/service.json`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.config import Settings, private_dir
from services.record.recorder import CRASH_ENV
from services.runtime.broker import BrokerUnavailable, EmbeddedBroker, connect, ensure_stream
from services.runtime.processes import die_with_parent
from services.runtime.roles import ROLES, Role

log = logging.getLogger("quotaboard.supervisor")

STOP_TIMEOUT = 15.0


def available(role: Role) -> str | None:
    """None if the role can start, else why not."""
    if role.module:
        try:
            importlib.import_module(role.module)
        except Exception as exc:  # noqa: BLE001 - reported, role skipped
            return f"{type(exc).__name__}: {exc}"
    return None


def service_file(data_dir: Path) -> Path:
    return Path(data_dir) / "run" / "service.json"


@dataclass
class Child:
    role: Role
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    backoff: float = 0.5
    next_start: float = 0.0
    restarts: int = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.started = time.monotonic()
        log.info("started %s (pid %d)", self.role.name, self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Supervisor:
    settings: Settings
    roles: list[str] = field(default_factory=lambda: [n for n, r in ROLES.items() if r.in_up])
    broker: EmbeddedBroker | None = None
    children: list[Child] = field(default_factory=list)
    _stop: bool = False
    broker_backoff: float = 0.5
    broker_next: float = 0.0

    def __post_init__(self) -> None:
        self.broker_backoff = self.settings.restart_backoff

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def _argv(self, name: str) -> list[str]:
        s = self.settings
        argv = [sys.executable, "-m", "services.cli", "run-role", name, "--data", str(s.data_dir)]
        if s.config_file:
            argv += ["--config", str(s.config_file)]
        if s.nats_url:
            argv += ["--nats", s.nats_url]
        if name == "gateway":
            argv += ["--http", s.http]
        return argv

    def _ensure_stream(self) -> None:
        async def go() -> None:
            nc = await connect(self.settings, name="quotaboard-up", wait=10)
            try:
                await ensure_stream(nc.jetstream(), self.settings.replicas, self.settings.stream_max_age_days)
            finally:
                await nc.close()

        asyncio.run(go())

    def start(self) -> None:
        s = self.settings
        private_dir(s.data_dir)
        if s.embedded:
            self.broker = EmbeddedBroker(s.data_dir, port=_broker_port(), monitor=s.nats_monitor).start()
        self._ensure_stream()
        env = dict(os.environ)
        for name in self.roles:
            role = ROLES[name]
            if role.optional and (why := available(role)):
                log.warning("role %s not started: %s", name, why)
                continue
            child = Child(role, self._argv(name), env, backoff=s.restart_backoff)
            child.start()
            self.children.append(child)
        self._write_service_file()

    def _write_service_file(self) -> None:
        info = {
            "pid": os.getpid(),
            "http": f"http://{self.settings.http}",
            "broker": {"url": self.broker.url if self.broker else self.settings.nats_url,
                       "embedded": self.broker is not None,
                       "pid": self.broker.proc.pid if self.broker and self.broker.proc else None},
            "roles": {c.role.name: (c.proc.pid if c.alive() else None) for c in self.children},
        }
        path = service_file(self.settings.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, path)

    def watch_once(self) -> None:
        now = time.monotonic()
        changed = False
        if self.broker is not None and not self.broker.alive() and now >= self.broker_next:
            log.error("nats-server exited; restarting it")
            try:
                self.broker.start()
                self.broker_backoff = self.settings.restart_backoff
                changed = True
            except Exception as exc:  # noqa: BLE001 - retried with back-off
                log.error("broker restart failed: %s", exc)
                self.broker_next = now + self.broker_backoff
                self.broker_backoff = min(self.broker_backoff * 2, 10)
        for child in self.children:
            if child.alive():
                if now - child.started > 30:
                    child.backoff = self.settings.restart_backoff
                continue
            if child.next_start == 0.0:
                code = child.proc.returncode if child.proc else None
                log.error("%s exited (%s); restarting in %.1fs", child.role.name, code, child.backoff)
                child.next_start = now + child.backoff
                child.backoff = min(child.backoff * 2, 10)
            elif now >= child.next_start:
                child.env.pop(CRASH_ENV, None)  # the test hook fires once per `up`
                child.next_start = 0.0
                child.restarts += 1
                child.start()
                changed = True
        if changed:
            self._write_service_file()

    def stop(self) -> None:
        """Stop roles in stop_order (SIGTERM, then SIGKILL after a timeout), then the broker."""
        for order in sorted({c.role.stop_order for c in self.children}):
            group = [c for c in self.children if c.role.stop_order == order and c.alive()]
            for c in group:
                c.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for c in group:
                try:
                    c.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.error("%s did not stop in %.0fs; killing it", c.role.name, STOP_TIMEOUT)
                    c.proc.kill()
                    c.proc.wait()
        if self.broker is not None:
            self.broker.stop()
        service_file(self.settings.data_dir).unlink(missing_ok=True)

    def run(self) -> int:
        """Start everything and supervise until SIGINT/SIGTERM. Returns the exit code."""
        old_int = signal.signal(signal.SIGINT, self.request_stop)
        old_term = signal.signal(signal.SIGTERM, self.request_stop)
        try:
            self.start()
            while not self._stop:
                time.sleep(0.1)
                self.watch_once()
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return 0


def _broker_port() -> int | None:
    raw = os.environ.get("QUOTABOARD_BROKER_PORT")
    return int(raw) if raw and raw.isdigit() else None


__all__ = ["ROLES", "Role", "Supervisor", "BrokerUnavailable", "service_file"]
