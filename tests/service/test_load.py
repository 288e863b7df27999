"""Under load, a retrain is swapped in by every worker with no failed request."""

import subprocess
import sys
import threading
import time
from collections import Counter

from model.store import ArtifactStore
from service.client import ApiError
from tests.service.test_server import Server

ARTICLE = ("The regional development bank signed a loan agreement to finance a 120 MW solar "
           "park and battery storage, with the energy ministry guaranteeing the offtake. ") * 8


def test_retrain_under_load_fails_no_request(home, small_corpus):
    server = Server(home).start()
    old = server.client().model()["version"]
    stop = threading.Event()
    outcomes, versions, lock = Counter(), [], threading.Lock()

    def hammer(n):
        client = server.client(timeout=60)
        while not stop.is_set():
            try:
                if n % 2:
                    answer = client.tag(ARTICLE)
                else:
                    client.similar(text=ARTICLE, k=5)
                    answer = client.model()
                with lock:
                    outcomes["ok"] += 1
                    versions.append(answer.get("model_version") or answer.get("version"))
            except ApiError as exc:
                with lock:
                    outcomes[f"{exc.status} {exc.code}"] += 1

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(3)
        subprocess.run([sys.executable, "-m", "training.cli", "train", "--data", str(small_corpus),
                        "--home", str(home), "--folds", "0", "--quiet"], check=True, timeout=300)
        new = ArtifactStore(home).current_version()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                recent = versions[-40:]
            if recent and all(v != old for v in recent):
                break
            time.sleep(0.2)
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()
    assert set(outcomes) == {"ok"}, outcomes
    assert outcomes["ok"] > 50
    assert old in versions
    tail = versions[-40:]
    assert all(v != old for v in tail), Counter(tail)
    assert set(tail) == {new}
