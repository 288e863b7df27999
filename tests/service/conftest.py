import json
import shutil

import pytest

from service import create_app
from service.settings import Settings
from tests.service.live import Server


@pytest.fixture
def home(tmp_path, trained_home):
    """A private copy of the trained home, so writes never leak between tests."""
    dst = tmp_path / "home"
    shutil.copytree(trained_home, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("documents.sqlite*"))
    return dst


@pytest.fixture
def app(home):
    return create_app({"TESTING": True}, Settings(home=home))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def corpus_docs(home):
    """The indexed corpus' metadata, in row order."""
    lines = (home / "current" / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def server(home):
    """A real server (Granian, two workers) over a private copy of the trained home."""
    srv = Server(home).start()
    yield srv
    srv.stop()
