"""A training run killed at any moment never breaks the version being served."""

import os
import signal
import subprocess
import sys
import time

import pytest

from model.errors import ArtifactError
from model.loaded import load_verified
from model.store import ArtifactStore
from training.train import train

QUIET = {"folds": 0, "progress": False, "log": lambda *_: None}


def start_training(corpus, home):
    return subprocess.Popen([sys.executable, "-m", "training.cli", "train", "--data", str(corpus),
                             "--home", str(home), "--folds", "0", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_kill_9_during_train_keeps_current(home_copy, small_corpus, delay):
    tmp_path, first = home_copy, ArtifactStore(home_copy).current_version()
    proc = start_training(small_corpus, tmp_path)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    current = load_verified(tmp_path, with_index=False).version
    assert current == first or (proc.returncode == 0 and current != first)
    # The next run cleans what the killed one left and publishes normally.
    second = train(small_corpus, tmp_path, **QUIET)["version"]
    assert load_verified(tmp_path, with_index=False).version == second
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".staging-", ".current-"))]


def test_second_training_fails_fast_on_the_lock(home_copy, small_corpus):
    tmp_path = home_copy
    with ArtifactStore(tmp_path).lock():
        started = time.monotonic()
        proc = start_training(small_corpus, tmp_path)
        _, err = proc.communicate(timeout=120)
        assert time.monotonic() - started < 60
    assert proc.returncode == 1
    assert b"another train or index run is writing" in err and err.count(b"\n") == 1
    with ArtifactStore(tmp_path).lock():
        with pytest.raises(ArtifactError, match="another train or index run"):
            train(small_corpus, tmp_path, **QUIET)
    assert os.path.islink(tmp_path / "current")


def test_index_also_takes_the_lock(home_copy, small_corpus):
    from training.index import reindex

    tmp_path = home_copy
    with ArtifactStore(tmp_path).lock():
        with pytest.raises(ArtifactError, match="another train or index run"):
            reindex(small_corpus, tmp_path, log=lambda *_: None)
