"""Settings: one TOML file plus `QUOTABOARD_*` environment variables (the environment wins).

Where the file is: `--config FILE`, else `<data>/config.toml` (optional). Keys, all optional:

    data = "./var"                  # QUOTABOARD_DATA
    http = "127.0.0.1:8080"         # QUOTABOARD_HTTP
    nats = "nats://host:4222"       # QUOTABOARD_NATS   (absent: the embedded broker)
    nats_user = "..."               # QUOTABOARD_NATS_USER
    nats_password = "..."           # QUOTABOARD_NATS_PASSWORD
    replicas = 1                    # QUOTABOARD_REPLICAS or QUOTABOARD_STREAM_REPLICAS (1 embedded, 3 in a cluster)
    stream_max_age_days = 14        # QUOTABOARD_STREAM_MAX_AGE_DAYS (0: keep stream messages forever)
    webhook_secret = "whsec_..."    # QUOTABOARD_WEBHOOK_SECRET  (what CRMs and finance sign with)
    operator_secret = "whsec_..."   # QUOTABOARD_OPERATOR_SECRET (the operator's credential)
    body_limit = 1048576            # QUOTABOARD_BODY_LIMIT
    body_timeout = 10               # QUOTABOARD_BODY_TIMEOUT (seconds to send a whole body)
    max_connections = 1000          # QUOTABOARD_MAX_CONNECTIONS (the gateway answers 503 above)
    max_events = 500                # QUOTABOARD_MAX_EVENTS
    nats_monitor = "127.0.0.1:8222" # QUOTABOARD_NATS_MONITOR (embedded broker's monitoring; off if absent)
    wall_http = "127.0.0.1:8090"    # QUOTABOARD_WALL_HTTP (the performance wall's own listener)
    wall_hide_money = false         # QUOTABOARD_WALL_HIDE_MONEY (attainment only, for shared spaces)
    viewer_token = "qbv_..."        # QUOTABOARD_VIEWER_TOKEN (who may look at the wall)
    restart_backoff = 0.5           # QUOTABOARD_RESTART_BACKOFF (seconds before a dead role's first restart; doubles to 10)
    ack_wait = 5.0                  # QUOTABOARD_ACK_WAIT (seconds before the broker redelivers what a dead recorder held)

The last two are there so that the fault tests need not wait out production pauses.

Secrets (webhook and operator secrets, NATS password) never come from argv and never
appear in a repr or a log line: `Secret` masks itself. A secret that is set but empty
(`QUOTABOARD_WEBHOOK_SECRET=""`) is an error, never "not configured". When a secret is
not configured, `up` calls `ensure_secrets`, which generates the webhook and operator
secrets and the wall's viewer token into `<data>/secrets.toml` (mode 0600); that file is read after config.toml and
before the environment. The operator secret admits the privileged event types
(services/ingest/trust.py); the two must differ.
"""

from __future__ import annotations

import base64
import os
import secrets as _secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

ENV_PREFIX = "QUOTABOARD_"
DEFAULT_DATA = "./var"
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_WALL_HTTP = "127.0.0.1:8090"  # its own port: the wall shows pay, the gateway faces CRMs
DEFAULT_STREAM_MAX_AGE_DAYS = 14.0  # see services/runtime/broker.py: the stream is a transport buffer
DEFAULT_BODY_TIMEOUT = 10.0  # seconds; a webhook body is at most 1 MiB, sent in milliseconds
DEFAULT_MAX_CONNECTIONS = 1000  # below the usual 1024 open files per process
DEFAULT_RESTART_BACKOFF = 0.5  # seconds; see services/runtime/supervisor.py
DEFAULT_ACK_WAIT = 5.0  # seconds; see services/record/recorder.py
SECRET_KEYS = ("webhook_secret", "operator_secret", "nats_password", "viewer_token")
VIEWER_TOKEN_PREFIX = "qbv_"


class ConfigError(Exception):
    """A setting that cannot be used; the message says what to do."""


class Secret:
    """A string that never shows itself in repr/str/logs. `.value` gives the real thing."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_hostport(text: str, setting: str = "http") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        example = "--http 127.0.0.1:8080" if setting == "http" else f'{setting} = "127.0.0.1:8222"'
        raise ConfigError(f"{setting} address {text!r} is not HOST:PORT; use e.g. {example}")
    return (host or "127.0.0.1").strip("[]"), int(port)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(DEFAULT_DATA)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    nats_url: str | None = None
    nats_user: str | None = None
    nats_password: Secret | None = None
    replicas: int = 1
    stream_max_age_days: float = DEFAULT_STREAM_MAX_AGE_DAYS
    webhook_secret: Secret | None = None
    operator_secret: Secret | None = None
    body_limit: int = 1024 * 1024
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_events: int = 500
    nats_monitor: str | None = None
    wall_host: str = "127.0.0.1"
    wall_port: int = 8090
    wall_hide_money: bool = False
    viewer_token: Secret | None = None
    restart_backoff: float = DEFAULT_RESTART_BACKOFF
    ack_wait: float = DEFAULT_ACK_WAIT
    config_file: Path | None = field(default=None, compare=False)

    @property
    def embedded(self) -> bool:
        return self.nats_url is None

    @property
    def http(self) -> str:
        return f"{self.http_host}:{self.http_port}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)


_KEYS = {
    "data": str, "http": str, "nats": str, "nats_user": str, "nats_password": str,
    "replicas": int, "stream_max_age_days": float, "webhook_secret": str, "operator_secret": str,
    "body_limit": int, "body_timeout": float, "max_connections": int, "max_events": int, "nats_monitor": str,
    "wall_http": str, "wall_hide_money": lambda v: _flag(v, "wall_hide_money"), "viewer_token": str,
    "restart_backoff": float, "ack_wait": float,
}


def _flag(value: object, key: str) -> bool:
    """A boolean setting from TOML (true/false) or the environment (1/0, true/false, yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"setting {key} = {value!r} is not true or false")


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file") from None


def secrets_path(data_dir: Path) -> Path:
    return Path(data_dir) / "secrets.toml"


def load_settings(
    data: str | Path | None = None,
    *,
    config: str | Path | None = None,
    http: str | None = None,
    nats: str | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Settings for a command. Precedence: command-line options (data/http/nats only, never
    secrets) > environment > secrets.toml > config file > defaults."""
    env = os.environ if env is None else env
    data_dir = Path(data or env.get(ENV_PREFIX + "DATA") or DEFAULT_DATA)
    cfg_path = Path(config) if config else data_dir / "config.toml"
    if config and not cfg_path.exists():
        raise ConfigError(f"config file {cfg_path} does not exist; pass an existing file to --config")
    values: dict[str, object] = {}
    for source, where in ((_read_toml(cfg_path), str(cfg_path)), (_read_toml(secrets_path(data_dir)), None)):
        for key, value in source.items():
            if key in _KEYS:
                values[key] = value
                if key in SECRET_KEYS and not str(value).strip():
                    _empty_secret(key, f"in {where or secrets_path(data_dir)}")
    for key in _KEYS:
        raw = env.get(ENV_PREFIX + key.upper())
        if key == "replicas" and not raw:
            raw = env.get(ENV_PREFIX + "STREAM_REPLICAS")  # the name the deployment docs use
        if raw is not None and key in SECRET_KEYS and not raw.strip():
            _empty_secret(key, f"by {ENV_PREFIX + key.upper()}")
        if raw:
            values[key] = raw
    for key, kind in _KEYS.items():
        if key in values:
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError):
                what = "true or false" if key == "wall_hide_money" else f"a {kind.__name__}"
                raise ConfigError(f"setting {key} = {values[key]!r} is not {what}") from None
    if data is None and "data" in values and not env.get(ENV_PREFIX + "DATA"):
        data_dir = Path(str(values["data"]))
    host, port = parse_hostport(http or str(values.get("http", DEFAULT_HTTP)))
    secret = values.get("webhook_secret")
    if secret is not None:
        check_webhook_secret(str(secret))
    operator = values.get("operator_secret")
    if operator is not None:
        check_webhook_secret(str(operator), "QUOTABOARD_OPERATOR_SECRET")
        if operator == secret:
            raise ConfigError("the operator secret equals the webhook secret; the operator's credential must be "
                              "its own: generate another for QUOTABOARD_OPERATOR_SECRET")
    password = values.get("nats_password")
    wall_host, wall_port = parse_hostport(str(values.get("wall_http", DEFAULT_WALL_HTTP)), "wall_http")
    viewer = values.get("viewer_token")
    if viewer is not None:
        check_viewer_token(str(viewer))
    max_age = float(values.get("stream_max_age_days", DEFAULT_STREAM_MAX_AGE_DAYS))
    if not 0 <= max_age < 100_000:
        raise ConfigError(f"setting stream_max_age_days = {max_age!r} must be 0 (forever) or a number of days")
    body_timeout = float(values.get("body_timeout", DEFAULT_BODY_TIMEOUT))
    if not 0 < body_timeout <= 3600:
        raise ConfigError(f"setting body_timeout = {body_timeout!r} must be a number of seconds above 0")
    max_connections = int(values.get("max_connections", DEFAULT_MAX_CONNECTIONS))
    if max_connections < 1:
        raise ConfigError(f"setting max_connections = {max_connections!r} must be at least 1")
    restart_backoff = float(values.get("restart_backoff", DEFAULT_RESTART_BACKOFF))
    if not 0 < restart_backoff <= 10:
        raise ConfigError(f"setting restart_backoff = {restart_backoff!r} must be a number of seconds above 0, at most 10")
    ack_wait = float(values.get("ack_wait", DEFAULT_ACK_WAIT))
    if not 0.5 <= ack_wait <= 3600:
        raise ConfigError(f"setting ack_wait = {ack_wait!r} must be a number of seconds from 0.5 to 3600")
    monitor = values.get("nats_monitor") or None
    if monitor is not None:
        parse_hostport(str(monitor), "nats_monitor")
    return Settings(
        data_dir=data_dir,
        http_host=host,
        http_port=port,
        nats_url=nats or values.get("nats") or None,
        nats_user=values.get("nats_user") or None,
        nats_password=Secret(str(password)) if password else None,
        replicas=int(values.get("replicas", 1)),
        stream_max_age_days=max_age,
        webhook_secret=Secret(str(secret)) if secret else None,
        operator_secret=Secret(str(operator)) if operator else None,
        body_limit=int(values.get("body_limit", 1024 * 1024)),
        body_timeout=body_timeout,
        max_connections=max_connections,
        max_events=int(values.get("max_events", 500)),
        nats_monitor=str(monitor) if monitor else None,
        wall_host=wall_host,
        wall_port=wall_port,
        wall_hide_money=bool(values.get("wall_hide_money", False)),
        viewer_token=Secret(str(viewer)) if viewer else None,
        restart_backoff=restart_backoff,
        ack_wait=ack_wait,
        config_file=cfg_path if cfg_path.exists() else None,
    )


def _empty_secret(key: str, where: str) -> None:
    raise ConfigError(f"setting {key} is set but empty {where}; give it a value or remove it "
                      "(an empty secret is never taken as 'generate one')")


def check_webhook_secret(secret: str, setting: str = "QUOTABOARD_WEBHOOK_SECRET") -> None:
    what = "the operator secret" if "OPERATOR" in setting else "the webhook secret"
    if not secret.startswith("whsec_"):
        raise ConfigError(f"{what} must look like whsec_<base64 key>; fix {setting}")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except ValueError:
        raise ConfigError(f"{what} after whsec_ is not base64; fix {setting}") from None
    if len(key) < 16:
        raise ConfigError(f"{what} key is shorter than 16 bytes; generate a longer one for {setting}")


def check_viewer_token(token: str) -> None:
    if len(token) < 24 or not token.isascii() or not token.isprintable() or " " in token:
        raise ConfigError("the viewer token must be at least 24 printable ASCII characters without spaces; "
                          "fix QUOTABOARD_VIEWER_TOKEN or remove it from secrets.toml to have one generated")


def new_viewer_token() -> str:
    """A fresh viewer token: 32 random bytes, URL-safe (it travels once in `?token=`)."""
    return VIEWER_TOKEN_PREFIX + _secrets.token_urlsafe(32)


def new_secret() -> str:
    """A fresh `whsec_` secret: 32 random bytes."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()


def private_dir(path: Path | str) -> Path:
    """Create the data dir (or a folder in it) for its owner only (0700), and tighten one
    made before (0755 by older versions): pay figures and secrets live under it."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except PermissionError:  # not ours (a mounted volume): its owner decides
            pass
    return path


def create_private(path: Path | str) -> None:
    """Create an empty file only its owner can read (0600) unless it exists: SQLite then
    opens it, and its -wal and -shm files take the same mode."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_secrets(settings: Settings) -> tuple[Settings, list[str], Path | None]:
    """Generate the webhook and operator secrets and the viewer token that are not
    configured into <data>/secrets.toml (0600). Returns the settings with all three, the
    names of the generated ones and the file written (None if nothing was)."""
    missing = [key for key in ("webhook_secret", "operator_secret", "viewer_token") if getattr(settings, key) is None]
    if not missing:
        return settings, [], None
    fresh = {key: new_viewer_token() if key == "viewer_token" else new_secret() for key in missing}
    path = secrets_path(settings.data_dir)
    existing = _read_toml(path)
    lines = [f'{k} = "{v}"' for k, v in existing.items() if k not in fresh and isinstance(v, str)]
    lines += [f'{k} = "{v}"' for k, v in fresh.items()]
    write_private(path, "\n".join(lines) + "\n")
    return settings.with_(**{k: Secret(v) for k, v in fresh.items()}), missing, path
