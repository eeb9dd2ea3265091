"""The cluster topology on loopback, for real: three nats-server processes of the wheel
with cluster routes, JetStream each with its own store, one user/password, the SALES
stream at 3 replicas, and `quotaboard up --nats URL1,URL2,URL3` against them.

A node (the stream's leader) is SIGKILLed during a steady ingest: senders retry on 503,
the log ends with every event id exactly once, and the node, restarted, catches up (its
own monitoring endpoint `/jsz` shows the whole stream).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from faultutil import Load, batches, company_events, log_ids
from natsutil import free_port, wait_until

from services.runtime.broker import find_nats_server

N_EVENTS = 10_000


class Node:
    def __init__(self, root: Path, name: str, user: str, password: str) -> None:
        self.name, self.dir = name, root / name
        self.dir.mkdir(parents=True)
        self.port, self.cport, self.mport = free_port(), free_port(), free_port()
        self.user, self.password = user, password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_conf(self, peers: list[Node]) -> None:
        routes = ", ".join(f"nats-route://127.0.0.1:{p.cport}" for p in peers if p is not self)
        (self.dir / "nats.conf").write_text(f"""
server_name: {self.name}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.mport}
jetstream {{ store_dir: {json.dumps(str(self.dir / "js"))} }}
cluster {{ name: qbtest, listen: 127.0.0.1:{self.cport}, routes: [ {routes} ] }}
authorization {{ users: [ {{ user: {json.dumps(self.user)}, password: {json.dumps(self.password)} }} ] }}
""")

    def start(self) -> Node:
        self.log = open(self.dir / "server.log", "ab")
        self.proc = subprocess.Popen([find_nats_server(), "-c", str(self.dir / "nats.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def jsz(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/jsz?streams=true&config=true", timeout=2) as r:
            return json.loads(r.read())

    def stream_state(self) -> dict | None:
        try:
            for acc in self.jsz().get("account_details") or []:
                for s in acc.get("stream_detail") or []:
                    if s["name"] == "SALES":
                        return s["state"]
        except OSError:
            return None
        return None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture
def cluster(tmp_path):
    user, password = "qbcluster", secrets.token_urlsafe(16)
    nodes = [Node(tmp_path / "cluster", f"n{i}", user, password) for i in (1, 2, 3)]
    for n in nodes:
        n.write_conf(nodes)
    for n in nodes:
        n.start()
    try:
        wait_until(lambda: all(n.healthy() for n in nodes), 30, 0.2, what="three healthy JetStream nodes")
        yield nodes
    finally:
        for n in nodes:
            n.stop()


async def _stream_info(urls: list[str], user: str, password: str):
    import nats

    nc = await nats.connect(servers=urls, user=user, password=password, connect_timeout=2)
    try:
        js = nc.jetstream()
        si = await js.stream_info("SALES")
        ci = await js.consumer_info("SALES", "recorder")
        return si, ci
    finally:
        await nc.close()


def test_node_killed_during_ingest_nothing_lost_and_it_catches_up(cluster, make_service):
    urls = [n.url for n in cluster]
    user, password = cluster[0].user, cluster[0].password
    svc = make_service(nats=",".join(urls), env={"QUOTABOARD_NATS_USER": user, "QUOTABOARD_NATS_PASSWORD": password,
                                                  "QUOTABOARD_STREAM_REPLICAS": "3"})
    def stream_and_consumer():
        try:  # the recorder makes its durable consumer as it starts: wait for it
            return asyncio.run(_stream_info(urls, user, password))
        except Exception:  # noqa: BLE001 - not there yet
            return None

    si, _ = wait_until(stream_and_consumer, 20, 0.2, what="the stream and the recorder's consumer")
    assert si.config.num_replicas == 3
    assert len(si.cluster.replicas or []) == 2 and si.cluster.leader

    events = company_events(N_EVENTS, prefix="cl")
    sent = [e["id"] for e in events]
    load = Load(svc.url, svc.secret, batches(events), senders=3, rate=1000, deadline=120).start()
    time.sleep(3)
    victim = next(n for n in cluster if n.name == si.cluster.leader)  # the stream leader: the hard case
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(5)
    killed_at = load.progress()
    result = load.wait()
    assert result.failed == [] and result.unfinished == 0, result
    assert set(result.statuses) <= {202, 503}, result.statuses
    assert result.errors == {}, result.errors

    others = [n for n in cluster if n is not victim]

    def all_acked():
        try:
            s, c = asyncio.run(_stream_info([n.url for n in others], user, password))
        except Exception:  # noqa: BLE001 - leader election
            return None
        return (s, c) if c.num_pending == 0 and c.num_ack_pending == 0 and s.state.messages >= N_EVENTS else None

    s, c = wait_until(all_acked, 60, 0.3, what="the recorder to acknowledge the whole stream")
    svc.wait_count(N_EVENTS, timeout=30)
    ids = log_ids(svc.data_dir)
    dup, lost = len(ids) - len(set(ids)), len(set(sent) - set(ids))
    assert svc.cli("verify").returncode == 0

    victim.start()  # same config, same store
    t0 = time.monotonic()
    state = wait_until(lambda: (st := victim.stream_state()) and st["messages"] == s.state.messages and st,
                       60, 0.3, what=f"node {victim.name} to catch up")
    catch_up = time.monotonic() - t0
    print(f"\nFAULT cluster node {victim.name} (stream leader) SIGKILL: sent={N_EVENTS}, stored={len(ids)}, "
          f"duplicated={dup}, lost={lost}, http={dict(result.statuses)}, killed_at_events_sent={killed_at}, "
          f"stream={s.state.messages}, node_caught_up_to={state['messages']} in {catch_up:.1f}s, "
          f"new_leader={s.cluster.leader}")
    assert (dup, lost) == (0, 0) and len(ids) == N_EVENTS
    assert state["last_seq"] == s.state.last_seq
    assert s.cluster.leader != victim.name
