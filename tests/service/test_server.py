"""The real thing: `tagsim serve` (Granian) with two workers on a free loopback port."""

import signal

import pytest

from service.client import ApiError, TagsimClient
from tests.service.live import Server, free_port


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


def test_serve_removes_its_metrics_folder_when_it_stops(home, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    srv = Server(home, env={"TMPDIR": str(scratch)}).start()
    try:
        assert [p.name[:15] for p in scratch.iterdir()] == ["tagsim-metrics-"]
    finally:
        srv.stop()
    assert list(scratch.iterdir()) == []
