"""The real thing: gunicorn with two workers on a free loopback port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.client import ApiError, TagsimClient


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home, args=(), workers=2):
        self.home, self.proc, self.port, self.log = home, None, None, None
        self.args, self.workers = list(args), workers

    def start(self):
        self.port = free_port()
        self.log = open(Path(self.home).parent / f"server-{self.port}.log", "ab")  # not a pipe: it would fill
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "training.cli", "serve", "--home", str(self.home),
             "--port", str(self.port), "--workers", str(self.workers), *self.args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client(timeout=1.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((Path(self.home).parent / f"server-{self.port}.log").read_text())
            try:
                client._call("GET", "/readyz")
                return self
            except ApiError:
                time.sleep(0.2)
        raise RuntimeError("server did not become ready in 60 s")

    def client(self, timeout=10.0):
        return TagsimClient(f"http://127.0.0.1:{self.port}", timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log:
            self.log.close()


@pytest.fixture
def server(home):
    srv = Server(home).start()
    yield srv
    srv.stop()


def test_every_worker_sees_writes_at_once(server):
    # Fresh connections spread over both workers; each answer must reflect the write.
    for round_ in range(3):
        doc = server.client().add_document(f"Harbour crane venture number {round_} signed.",
                                           id=f"w{round_}")
        for _ in range(12):
            assert server.client().get_document(doc["id"])["id"] == doc["id"]
            hits = server.client().similar(text=f"harbour crane venture number {round_}", k=3)
            assert doc["id"] in [h["id"] for h in hits]
        server.client().delete_document(doc["id"])
        for _ in range(12):
            with pytest.raises(ApiError) as info:
                server.client().get_document(doc["id"])
            assert info.value.status == 404 and info.value.code == "not_found"


def test_client_round_trip_and_errors(server):
    client = server.client()
    answer = client.tag("The insurer agreed to acquire a payments start-up.", explain=True)
    assert answer["agreement_type"]["label"] == "acquisition" and "explanation" in answer
    batch = client.tag_batch(["Solar farm financing closed.", {"id": "b", "text": "An MoU."}])
    assert len(batch) == 2 and batch[1]["id"] == "b"
    assert client.model()["version"] == answer["model_version"]
    with pytest.raises(ApiError) as info:
        client.tag("   ")
    assert (info.value.status, info.value.code) == (422, "empty_text")
    with pytest.raises(ApiError) as info:
        TagsimClient(f"http://127.0.0.1:{free_port()}", timeout=1).tag("hello")
    assert info.value.code == "unreachable" and info.value.status is None


def test_metrics_add_up_over_workers(server):
    import urllib.request

    for _ in range(6):
        server.client().tag("A bank signed a letter of intent.")
    url = f"http://127.0.0.1:{server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    line = next(x for x in text.splitlines()
                if x.startswith('tagsim_requests_total{endpoint="/v1/tag",method="POST"'))
    assert float(line.rsplit(" ", 1)[1]) == 6.0


def test_documents_survive_restart_and_kill_9(home):
    srv = Server(home).start()
    try:
        srv.client().add_document("Grid battery joint venture agreed in Chile.", id="durable-1",
                                  sectors=["clean_energy"], agreement_type="joint_venture")
        srv.stop(signal.SIGTERM)
        srv.start()
        assert srv.client().get_document("durable-1")["labelled"] is True
        srv.client().add_document("Copper smelter bought by a mining group.", id="durable-2")
        srv.stop(signal.SIGKILL)  # right after the 201
        srv.start()
        assert srv.client().get_document("durable-2")["id"] == "durable-2"
    finally:
        srv.stop()
