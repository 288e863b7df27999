"""What every answer carries and every request must name: bounded metrics, security headers,
allowed hosts, escaped locations, and no database address in a public answer."""

import re
import socket

import pytest

from service import create_app
from service.protection import bound_hosts
from service.settings import Settings


def test_metrics_keep_one_series_per_known_method(client):
    for i in range(200):
        client.open("/v1/tag", method=f"INVENTED{i}")
        client.open(f"/no/such/path/{i}", method="GET")
    body = client.get("/metrics").get_data(as_text=True)
    methods = set(re.findall(r'method="([^"]*)"', body))
    assert methods <= {"GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "PUT", "other"}
    assert "other" in methods and "INVENTED1" not in body and "/no/such" not in body
    assert len(body) < 64_000


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/v1/model", "/no/such/page",
                                  "/v1/documents/nothing-here"])
def test_every_answer_carries_the_security_headers(client, path):
    r = client.get(path)
    r.close()  # a static file's answer holds it open
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_the_page_needs_nothing_its_policy_forbids(client):
    html = client.get("/").get_data(as_text=True)
    assert "script-src 'self'" in client.get("/").headers["Content-Security-Policy"]
    assert not re.search(r"\son\w+\s*=", html) and "style=" not in html and "<style" not in html
    inline = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all('type="application/json"' in attrs or (src and not body.strip())
               for attrs, body in inline for src in [re.search(r'src="(/static/[^"]+)"', attrs)])
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith("/static/") or ref.startswith("data:"), ref


@pytest.mark.parametrize("host, status", [
    ("localhost", 200), ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200),
    ("LOCALHOST", 200), ("evil.example", 400), ("evil.example:8000", 400),
    ("127.0.0.1.evil.example", 400), ("", 400),
])
def test_only_the_allowed_hosts_are_answered(client, host, status):
    r = client.get("/healthz", headers={"Host": host})
    assert r.status_code == status
    if status == 400:
        assert r.get_json()["error"]["code"] == "bad_host"
        assert "TAGSIM_ALLOWED_HOSTS" in r.get_json()["error"]["message"]


def test_the_allowed_hosts_can_be_set(home):
    client = create_app({"TESTING": True}, Settings(
        home=home, reload_seconds=0, allowed_hosts="tagsim.internal, 10.0.0.5")).test_client()
    assert client.get("/healthz", headers={"Host": "tagsim.internal:8000"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "10.0.0.5"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    anyone = create_app({"TESTING": True}, Settings(home=home, reload_seconds=0,
                                                    allowed_hosts="*")).test_client()
    assert anyone.get("/healthz", headers={"Host": "evil.example"}).status_code == 200


def test_the_default_hosts_are_the_bound_addresses_names():
    assert bound_hosts("127.0.0.1") == ("localhost", "127.0.0.1", "[::1]")
    assert bound_hosts("10.1.2.3") == ("localhost", "127.0.0.1", "[::1]", "10.1.2.3")
    assert bound_hosts("::1") == ("localhost", "127.0.0.1", "[::1]")
    assert bound_hosts("tagsim.internal")[-1] == "tagsim.internal"
    assert bound_hosts("0.0.0.0") == bound_hosts("::") == ("*",)


def test_location_escapes_reserved_characters_in_ids(client):
    doc_id = "a?b#c d%e&f=g;h+i~j\u00e9"
    r = client.post("/v1/documents", json={"id": doc_id, "text": "A bank lends to a wind farm."})
    assert r.status_code == 201
    location = r.headers["Location"]
    assert location == "/v1/documents/a%3Fb%23c%20d%25e%26f%3Dg%3Bh%2Bi~j%C3%A9"
    assert client.get(location).get_json()["id"] == doc_id


def test_readyz_does_not_show_the_databases_address(home, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://secretuser@127.0.0.1:{port}/secretdb"
    client = create_app({"TESTING": True}, Settings(home=home, database_url=url, reload_seconds=0,
                                                    database_timeout=1)).test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "database_unavailable"
    body = r.get_data(as_text=True)
    for secret in ("secretuser", "secretdb", str(port), "127.0.0.1"):
        assert secret not in body
    assert "secretdb" in caplog.text  # the operator finds it in the log
