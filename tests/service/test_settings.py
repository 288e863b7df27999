"""One settings object: read once from the environment, validated, documented in docs/."""

import re
from pathlib import Path

import pytest

from model.store import ArtifactStore
from service import create_app
from service.settings import InvalidSettings, Settings, variable
from training.cli import main

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_table(text):
    """variable -> default of the table under the page's "# Configuration" heading."""
    section = text.split("\n# Configuration\n", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| `?([^`|]*?)`? \|", section, re.M))


def test_the_documented_table_lists_exactly_the_settings_fields():
    table = documented_table("\n" + CONFIGURATION.read_text(encoding="utf-8"))
    assert sorted(table) == sorted(variable(name) for name in Settings.model_fields)
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = {None: "unset", "": "unset", True: "1", False: "0"}.get(default, default) \
            if isinstance(default, (bool, str, type(None))) else default
        if isinstance(shown, float) and shown.is_integer():
            shown = int(shown)
        assert table[variable(name)] == str(shown), name


@pytest.mark.parametrize("name, value, message", [
    ("TAGSIM_MAX_BODY_BYTES", "abc", "TAGSIM_MAX_BODY_BYTES must be a whole number of bytes, "
                                     "1 or more, got 'abc'"),
    ("TAGSIM_THREADS", "0", "TAGSIM_THREADS must be a whole number of 1 or more, got '0'"),
    ("TAGSIM_SEARCH_THREADS", "two", "TAGSIM_SEARCH_THREADS must be a whole number of 1 or more"),
    ("TAGSIM_RELOAD_SECONDS", "-1", "TAGSIM_RELOAD_SECONDS must be a number of seconds"),
    ("TAGSIM_DATABASE_TIMEOUT", "inf", "TAGSIM_DATABASE_TIMEOUT must be a number of seconds"),
    ("TAGSIM_ACCESS_LOG", "maybe", "TAGSIM_ACCESS_LOG must be 1 or 0, got 'maybe'"),
    ("PORT", "http", "PORT must be a whole number from 0 to 65535, got 'http'"),
    ("TAGSIM_DATABASE_URL", "mysql://me:pw@db/x", "TAGSIM_DATABASE_URL must be a postgresql:// URL, "
                                                  "got a secret value"),
])
def test_a_bad_variable_is_one_line_naming_it(monkeypatch, capsys, tmp_path, name, value, message):
    monkeypatch.setenv(name, value)
    assert main(["versions", "--home", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"tagsim: {message}")
    assert "pw" not in err
    with pytest.raises(InvalidSettings, match=re.escape(message)):
        create_app()


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("TAGSIM_MAX_BODY_BYTES", "")
    assert Settings.from_environment().max_body_bytes == 1 << 20


def test_flags_take_precedence_over_the_environment(monkeypatch, capsys, trained_home, tmp_path):
    monkeypatch.setenv("TAGSIM_HOME", str(tmp_path / "nothing-here"))
    assert main(["versions"]) == 1  # the environment's home is used without the flag
    capsys.readouterr()
    assert main(["versions", "--home", str(trained_home)]) == 0
    assert capsys.readouterr().out.startswith("* ")


def test_the_cli_passes_the_artifact_key_down(monkeypatch, capsys, small_corpus, tmp_path):
    monkeypatch.setenv("TAGSIM_ARTIFACT_KEY", "s3cret")
    assert main(["train", "--data", str(small_corpus), "--home", str(tmp_path), "--folds", "0",
                 "--quiet"]) == 0
    version = capsys.readouterr().out.strip()
    assert ArtifactStore(tmp_path, key="s3cret").verify()["version"] == version
    assert main(["versions", "--home", str(tmp_path)]) == 0
    assert main(["rollback", "--home", str(tmp_path), "--to", version]) == 0
    monkeypatch.setenv("TAGSIM_ARTIFACT_KEY", "other")
    assert main(["rollback", "--home", str(tmp_path), "--to", version]) == 1
    assert "TAGSIM_ARTIFACT_KEY" in capsys.readouterr().err


def test_create_app_reads_the_environment_once(monkeypatch, home):
    monkeypatch.setenv("TAGSIM_HOME", str(home))
    monkeypatch.setenv("TAGSIM_MAX_TEXT_CHARS", "5")
    client = create_app({"TESTING": True}).test_client()
    monkeypatch.setenv("TAGSIM_MAX_TEXT_CHARS", "500")  # read at start-up, not per request
    r = client.post("/v1/tag", json={"text": "A bank deal."})
    assert r.status_code == 413 and "the limit is 5" in r.get_json()["error"]["message"]


def test_search_threads_reach_the_served_index_and_answer_alike(monkeypatch, home):
    monkeypatch.setenv("TAGSIM_HOME", str(home))
    answers = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TAGSIM_SEARCH_THREADS", threads)
        app = create_app({"TESTING": True})
        assert app.extensions["tagsim"].searcher.model.index.threads == int(threads)
        r = app.test_client().post("/v1/similar", json={"text": "Wind farm loan by a bank", "k": 5})
        assert r.status_code == 200
        answers.append(r.get_json())
    assert answers[0] == answers[1] and answers[0]["results"]
