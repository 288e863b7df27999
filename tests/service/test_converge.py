"""Every worker of a home serves the current version within 2 s of it changing.

Several in-process apps over one home stand for a server's workers: each has its own
watcher, as each worker process does.
"""

import time

import pytest

from model.store import ArtifactStore
from service import create_app
from service.settings import Settings
from training.train import train


@pytest.fixture
def workers(home):
    """Four apps over one home, each with its watcher, none of them asked anything yet."""
    return [create_app({"TESTING": True}, Settings(home=home, reload_seconds=0.2))
            for _ in range(4)]


def served(app):
    searcher = app.extensions["tagsim"].searcher
    return None if searcher is None else searcher.model.version


def converge(workers, version, seconds=10.0):
    # A deadline, not a timing target: on a loaded 2-core machine a poll can wait its turn.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(served(app) == version for app in workers):
            return True
        time.sleep(0.05)
    return [served(app) for app in workers]


def new_version(home, small_corpus):
    return train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)["version"]


def test_watchers_start_with_the_app_and_follow_train_and_rollback(home, small_corpus, workers):
    old = served(workers[0])
    new = new_version(home, small_corpus)  # no request has reached any worker
    assert converge(workers, new) is True
    ArtifactStore(home).rollback(old)
    assert converge(workers, old) is True


def test_a_version_that_failed_to_load_is_retried_once_its_files_are_repaired(
        home, small_corpus, workers):
    old = served(workers[0])
    new = new_version(home, small_corpus)
    model = ArtifactStore(home).current_dir() / "model.joblib"
    good = model.read_bytes()
    model.write_bytes(good[:-10] + b"x" * 10)  # damaged before any worker loaded it
    time.sleep(1.0)
    assert {served(app) for app in workers} == {old}  # refused: the old one goes on
    model.write_bytes(good)
    assert converge(workers, new) is True


def test_admin_reload_reaches_every_worker(home, workers):
    before = [app.extensions["tagsim"].searcher for app in workers]
    r = workers[0].test_client().post("/v1/admin/reload")
    assert r.status_code == 200 and r.get_json()["every_worker"] is True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = [app.extensions["tagsim"].searcher for app in workers]
        if all(a is not b for a, b in zip(after, before, strict=True)):
            break
        time.sleep(0.05)
    assert all(a is not b for a, b in zip(after, before, strict=True))
