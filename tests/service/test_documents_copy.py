"""Moving a home from SQLite to PostgreSQL: `tagsim documents copy`, and the server's warning."""

import logging

import pytest

from service import create_app
from service.settings import Settings
from training.cli import main

BODY = {"id": "moved-1", "title": "Harbour cranes", "sectors": ["clean_energy"],
        "agreement_type": "investment", "text": "Port authority signs a harbour crane venture."}


def serve(home, url=None):
    return create_app({"TESTING": True}, Settings(home=home, database_url=url)).test_client()


@pytest.fixture
def used_home(home):
    """A home whose SQLite store holds an added, reviewed document and a hidden corpus one."""
    client = serve(home)
    assert client.post("/v1/documents", json=BODY).status_code == 201
    assert client.patch("/v1/documents/moved-1", json={"agreement_type": "joint_venture",
                                                       "reviewer": "ann"}).status_code == 200
    return home


def copy(capsys, *args):
    code = main(["documents", "copy", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_server_warns_until_the_documents_are_copied_and_then_serves_them(
        used_home, postgres_db, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        serve(used_home, postgres_db.url)
    [warning] = [r.getMessage() for r in caplog.records if "documents copy" in r.getMessage()]
    assert "holds 1 documents" in warning and f"--home {used_home}" in warning
    assert "\n" not in warning

    code, out, err = copy(capsys, "--home", str(used_home), "--to", postgres_db.url)
    assert code == 0, err
    assert "copied from" in out and "1 documents, 0 deleted ids, 1 corrections" in out
    assert "home:     1 documents" in out and "database: 1 documents" in out
    assert "verified" in out

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        client = serve(used_home, postgres_db.url)
    assert not [r for r in caplog.records if "documents copy" in r.getMessage()]
    doc = client.get("/v1/documents/moved-1").get_json()
    assert doc["text"] == BODY["text"] and doc["agreement_type"] == "joint_venture"
    assert [h["reviewer"] for h in doc["history"]] == ["ann"]


def test_a_second_run_copies_nothing_and_says_so(used_home, postgres_db, capsys):
    assert copy(capsys, "--home", str(used_home), "--to", postgres_db.url)[0] == 0
    code, out, err = copy(capsys, "--home", str(used_home), "--to", postgres_db.url)
    assert code == 0 and out.startswith("nothing new to copy: the 1 ids of")
    assert "database: 1 documents" in out and "verified" in out


def test_a_conflict_is_named_exits_1_and_copies_nothing(used_home, postgres_db, capsys):
    other = serve(used_home, postgres_db.url)
    assert other.post("/v1/documents", json=BODY | {"text": "Another story."}).status_code == 201
    code, out, err = copy(capsys, "--home", str(used_home), "--to", postgres_db.url)
    assert code == 1 and out == ""
    assert "conflict: id 'moved-1': the database holds another document with this id (text " \
           "differ)" in err
    assert "copied nothing: 1 ids are held differently" in err
    assert other.get("/v1/documents/moved-1").get_json()["history"] == []


def test_no_database_is_a_usage_error(home, capsys, monkeypatch):
    monkeypatch.delenv("TAGSIM_DATABASE_URL", raising=False)
    code, _, err = copy(capsys, "--home", str(home))
    assert code == 2 and "give the database with --to postgresql://... or TAGSIM_DATABASE_URL" in err


def test_a_database_that_is_not_postgresql_is_a_usage_error(home, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["documents", "copy", "--home", str(home), "--to", "mysql://db/x"])
    assert exited.value.code == 2
    assert "must be a postgresql:// URL, got 'mysql'" in capsys.readouterr().err


def test_a_home_without_documents_has_nothing_to_copy(home, postgres_db, capsys):
    code, out, _ = copy(capsys, "--home", str(home), "--to", postgres_db.url)
    assert code == 0 and out.startswith("nothing to copy:")
    assert not (home / "documents.sqlite").exists()


def test_a_database_that_is_down_is_one_line_exit_1_and_no_warning(used_home, postgres_db,
                                                                   capsys, caplog, monkeypatch):
    monkeypatch.setenv("TAGSIM_DATABASE_TIMEOUT", "1")
    postgres_db.go_down()
    code, out, err = copy(capsys, "--home", str(used_home), "--to", postgres_db.url)
    assert code == 1 and out == ""
    assert err.startswith("tagsim documents: error: database postgresql://") and \
        err.count("\n") == 1 and err.endswith("nothing was copied: run this again once it is back\n")
    with caplog.at_level(logging.WARNING):
        create_app({"TESTING": True, "TAGSIM_LOAD_MODEL": False},
                   Settings(home=used_home, database_url=postgres_db.url, database_timeout=1))
    assert not [r for r in caplog.records if "documents copy" in r.getMessage()]
