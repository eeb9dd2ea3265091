"""Settings: one TOML file plus `QUOTABOARD_*` environment variables (the environment wins).

Where the file is: `--config FILE`, else `<data>/config.toml` (optional). Keys, all optional:

    data = "./var"                  # QUOTABOARD_DATA
    http = "127.0.0.1:8080"         # QUOTABOARD_HTTP
    nats = "nats://host:4222"       # QUOTABOARD_NATS   (absent: the embedded broker)
    nats_user = "..."               # QUOTABOARD_NATS_USER
    nats_password = "..."           # QUOTABOARD_NATS_PASSWORD
    replicas = 1                    # QUOTABOARD_REPLICAS or QUOTABOARD_STREAM_REPLICAS (1 embedded, 3 in a cluster)
    stream_max_age_days = 14        # QUOTABOARD_STREAM_MAX_AGE_DAYS (0: keep stream messages forever)
    webhook_secret = "whsec_..."    # QUOTABOARD_WEBHOOK_SECRET
    body_limit = 1048576            # QUOTABOARD_BODY_LIMIT
    max_events = 500                # QUOTABOARD_MAX_EVENTS

Secrets (webhook secret, NATS password) never come from argv and never appear in a repr
or a log line: `Secret` masks itself. When no webhook secret is configured, `up` calls
`ensure_webhook_secret`, which generates one into `<data>/secrets.toml` (mode 0600); that
file is read after config.toml and before the environment.
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
DEFAULT_STREAM_MAX_AGE_DAYS = 14.0  # see services/broker.py: the stream is a transport buffer


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


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"http address {text!r} is not HOST:PORT; use e.g. --http 127.0.0.1:8080")
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
    body_limit: int = 1024 * 1024
    max_events: int = 500
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
    "replicas": int, "stream_max_age_days": float, "webhook_secret": str, "body_limit": int, "max_events": int,
}


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
    for source in (_read_toml(cfg_path), _read_toml(secrets_path(data_dir))):
        for key, value in source.items():
            if key in _KEYS:
                values[key] = value
    for key in _KEYS:
        raw = env.get(ENV_PREFIX + key.upper())
        if key == "replicas" and not raw:
            raw = env.get(ENV_PREFIX + "STREAM_REPLICAS")  # the name the deployment docs use
        if raw:
            values[key] = raw
    for key, kind in _KEYS.items():
        if key in values:
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError):
                raise ConfigError(f"setting {key} = {values[key]!r} is not a {kind.__name__}") from None
    if data is None and "data" in values and not env.get(ENV_PREFIX + "DATA"):
        data_dir = Path(str(values["data"]))
    host, port = parse_hostport(http or str(values.get("http", DEFAULT_HTTP)))
    secret = values.get("webhook_secret")
    if secret is not None:
        check_webhook_secret(str(secret))
    password = values.get("nats_password")
    max_age = float(values.get("stream_max_age_days", DEFAULT_STREAM_MAX_AGE_DAYS))
    if not 0 <= max_age < 100_000:
        raise ConfigError(f"setting stream_max_age_days = {max_age!r} must be 0 (forever) or a number of days")
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
        body_limit=int(values.get("body_limit", 1024 * 1024)),
        max_events=int(values.get("max_events", 500)),
        config_file=cfg_path if cfg_path.exists() else None,
    )


def check_webhook_secret(secret: str) -> None:
    if not secret.startswith("whsec_"):
        raise ConfigError("the webhook secret must look like whsec_<base64 key>; fix QUOTABOARD_WEBHOOK_SECRET")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except ValueError:
        raise ConfigError("the webhook secret after whsec_ is not base64; fix QUOTABOARD_WEBHOOK_SECRET") from None
    if len(key) < 16:
        raise ConfigError("the webhook secret key is shorter than 16 bytes; generate a longer one")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_webhook_secret(settings: Settings) -> tuple[Settings, Path | None]:
    """If no secret is configured, generate one into <data>/secrets.toml (0600).
    Returns the settings with the secret and the file written (None if nothing was)."""
    if settings.webhook_secret is not None:
        return settings, None
    secret = "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()
    path = secrets_path(settings.data_dir)
    existing = _read_toml(path)
    lines = [f'{k} = "{v}"' for k, v in existing.items() if k != "webhook_secret" and isinstance(v, str)]
    lines.append(f'webhook_secret = "{secret}"')
    write_private(path, "\n".join(lines) + "\n")
    return settings.with_(webhook_secret=Secret(secret)), path
