"""Under load, a retrain is swapped in by every worker with no failed request."""

import subprocess
import sys
import threading
from collections import Counter

from model.store import ArtifactStore
from service.client import ApiError
from tests.service.live import Server

ARTICLE = ("The regional development bank signed a loan agreement to finance a 120 MW solar "
           "park and battery storage, with the energy ministry guaranteeing the offtake. ") * 8


def test_retrain_under_load_fails_no_request(home, small_corpus):
    server = Server(home).start()
    old = server.client().model()["version"]
    stop = threading.Event()
    outcomes, versions = Counter(), []
    answered = threading.Condition()  # notified after every answer

    def hammer(n):
        client = server.client(timeout=60)
        while not stop.is_set():
            try:
                if n % 2:
                    answer = client.tag(ARTICLE)
                else:
                    client.similar(text=ARTICLE, k=5)
                    answer = client.model()
                outcome, version = "ok", answer.get("model_version") or answer.get("version")
            except ApiError as exc:
                outcome, version = f"{exc.status} {exc.code}", None
            with answered:
                outcomes[outcome] += 1
                if version:
                    versions.append(version)
                answered.notify_all()

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        with answered:  # the clients are busy before the retrain starts
            assert answered.wait_for(lambda: len(versions) >= 40, timeout=60), outcomes
        subprocess.run([sys.executable, "-m", "training.cli", "train", "--data", str(small_corpus),
                        "--home", str(home), "--folds", "0", "--quiet"], check=True, timeout=300)
        new = ArtifactStore(home).current_version()
        with answered:  # then 40 answers in a row come from the new version
            since = len(versions)
            assert answered.wait_for(lambda: len(versions) >= since + 40 and all(
                v == new for v in versions[-40:]), timeout=60), Counter(versions[-40:])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()
    assert set(outcomes) == {"ok"}, outcomes
    assert old in versions and new != old
