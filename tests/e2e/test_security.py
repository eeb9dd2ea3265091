"""Security defaults: the embedded broker refuses anonymous clients, the gateway listens on
loopback unless told otherwise, secrets never reach logs or output, signatures are compared
in constant time."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import textwrap
from pathlib import Path

import nats
import nats.errors
import pytest
from natsutil import SHARED, event, signed_headers

from services.config import Settings, load_settings
from services.runtime.broker import load_or_create_credentials, read_runtime


def test_embedded_broker_refuses_anonymous_and_wrong_password(service):
    url = read_runtime(service.data_dir)["url"]

    async def attempt(**kw):
        nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0, **kw)
        await nc.close()

    for kw in ({}, {"user": "quotaboard", "password": "wrong"}):
        with pytest.raises(nats.errors.Error) as info:
            asyncio.run(attempt(**kw))
        assert "authorization" in str(info.value).lower(), info.value
    creds = load_or_create_credentials(service.data_dir)
    asyncio.run(attempt(user=creds.user, password=creds.password))  # the real ones work
    assert (service.data_dir / "broker" / "credentials.json").stat().st_mode & 0o077 == 0


def test_gateway_and_broker_default_to_loopback(tmp_path):
    settings = load_settings(tmp_path, env={})
    assert settings.http_host == "127.0.0.1" and Settings().http_host == "127.0.0.1"
    from services.runtime.broker import EmbeddedBroker

    assert EmbeddedBroker(tmp_path).host == "127.0.0.1"


def test_gateway_listens_only_on_loopback(service):
    """The running service's sockets: every listener it owns is on 127.0.0.1."""
    pids = set(service.pids())
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    listeners = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                listeners.append(cols[1])
    assert listeners, "no listening sockets found for the service"
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert all(addr.split(":")[0] in loopback for addr in listeners), listeners


def test_secrets_never_appear_in_logs_or_output(make_service, tmp_path):
    svc = make_service()
    secret = svc.secret
    key_b64 = secret.removeprefix("whsec_")
    password = load_or_create_credentials(svc.data_dir).password
    outputs = []
    seed = SHARED / "examples" / "seed-table1.jsonl"
    for args in (("import", str(seed)), ("status", "--json"), ("status",), ("verify",),
                 ("standings", "--period", "2026-08", "--json")):
        res = svc.cli(*args)
        outputs += [res.stdout, res.stderr]
    for i in range(3):
        body = json.dumps([event(i, "sec")]).encode()
        assert svc.post(body, headers=signed_headers(secret, body)).status_code == 202
    bad = json.dumps([event("x", "sec")]).encode()
    assert svc.post(bad, headers=signed_headers("whsec_" + "B" * 44, bad)).status_code == 401
    svc.wait_count(40)
    svc.stop()
    outputs.append(svc.output())
    # Everything under the data dir except the files meant to hold them (mode 0600).
    holders = {svc.data_dir / "broker" / "credentials.json", svc.data_dir / "broker" / "nats-server.conf",
               svc.data_dir / "secrets.toml"}
    scanned = 0
    for path in [*svc.data_dir.rglob("*"), *tmp_path.glob("*.log")]:
        if path.is_file() and path not in holders:
            outputs.append(path.read_bytes().decode("latin-1"))
            scanned += 1
    assert scanned >= 5
    blob = "\n".join(outputs)
    for needle in (secret, key_b64, password):
        assert needle not in blob
    for holder in holders:
        if holder.exists():
            assert holder.stat().st_mode & 0o077 == 0, holder


def test_signature_checks_use_compare_digest():
    """Every verify path reaches hmac.compare_digest and never compares with ==."""
    from services.ingest import signing as gateway
    from services.ingest.adapters import base, dingtalk, hubspot, payments, pipedrive

    assert "hmac.compare_digest" in inspect.getsource(base.ct_equal)
    assert "hmac.compare_digest" in inspect.getsource(gateway.check_signature)
    for fn in (hubspot.verify, pipedrive.verify, payments.verify, dingtalk.verify):
        assert "ct_equal(" in inspect.getsource(fn), fn
    for fn in (gateway.check_signature, hubspot.verify, pipedrive.verify, payments.verify, dingtalk.verify):
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & {"expected", "signature", "given", "mac", "digest", "candidate"}, \
                    f"{fn.__qualname__} compares a signature with ==: {ast.unparse(node)}"


def test_signature_behaviour(service):
    """A signature off by one bit, truncated or of another body is refused; nothing stored."""
    import base64

    before = service.count()
    body = json.dumps([event("bits", "sig")]).encode()
    h = signed_headers(service.secret, body)
    raw = bytearray(base64.b64decode(h["webhook-signature"][3:]))
    variants = []
    flipped = bytes([raw[0] ^ 1]) + bytes(raw[1:])
    variants.append("v1," + base64.b64encode(flipped).decode())
    variants.append("v1," + base64.b64encode(bytes(raw[:16])).decode())
    variants.append("v1," + base64.b64encode(bytes(raw) + b"\0").decode())
    variants.append("v2," + base64.b64encode(bytes(raw)).decode())
    variants.append(h["webhook-signature"].upper())
    for sig in variants:
        r = service.client.post("/v1/events", content=body, headers={**h, "webhook-signature": sig})
        assert r.status_code == 401, sig
    other = json.dumps([event("bits2", "sig")]).encode()
    assert service.client.post("/v1/events", content=other, headers=h).status_code == 401
    assert service.count() == before
