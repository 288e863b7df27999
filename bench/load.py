"""Throughput and latency of the real server, driven over loopback by wrk.

Starts ``tagsim serve --workers 2`` on a free loopback port over a similarity corpus of
``--docs`` documents (built by bench/corpora.py and indexed with ``tagsim index``, using
the model in ``artifacts/``), then runs wrk for a bounded time against ``/v1/tag`` with a
3 KB article and ``/v1/similar`` with real held-out article text, first with many
connections (throughput) and then with one (the HTTP round trip, compared with the same
call in-process). Reports requests/s, p50/p99, errors, and each worker's memory.

    python bench/load.py [--docs 100000] [--seconds 15] [--connections 32] [--compare REV]

``--compare REV`` also serves the same home with the server code of git revision REV
(exported with ``git archive`` into a temporary folder, run with this venv) and prints
both, REV first: ``make bench-load`` compares with the last commit that served with
gunicorn and the hand-written buffering worker. wrk comes from Debian
(``apt-get install wrk``); ``make bench-load`` installs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import corpora

ROOT = Path(__file__).resolve().parents[1]

LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT {\\"requests\\": %%d, \\"seconds\\": %%f, "
    .. "\\"p50\\": %%f, \\"p99\\": %%f, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_home(n_docs, datasets, log):
    """A home with the default model and an index of n_docs generated documents."""
    home = corpora.RESULTS / f"load-home-{n_docs}"
    if (home / "current").exists():
        return home
    source = (ROOT / "artifacts" / "current").resolve()
    if not (source / "model.joblib").is_file():
        sys.exit("bench/load.py: no trained model in artifacts/: run 'make train' first")
    docs = corpora.build([n_docs], datasets, log=log)[0][n_docs] if n_docs else None
    shutil.rmtree(home, ignore_errors=True)
    (home / "versions").mkdir(parents=True)
    shutil.copytree(source, home / "versions" / source.name)
    (home / "current").symlink_to(Path("versions") / source.name)
    if docs is not None:
        log(f"indexing {n_docs} documents into {home}")
        subprocess.run([sys.executable, "-m", "training.cli", "index", "--home", str(home),
                        "--data", str(docs)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return home


def start_server(home, port, workers, log_file, root=ROOT):
    """Start `tagsim serve` from the tree *root*; return the process and the seconds until ready."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--home", str(home),
                             "--port", str(port), "--workers", str(workers)], cwd=root, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    while time.monotonic() < started + 120:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return proc, time.monotonic() - started
        except OSError:
            if proc.poll() is not None:
                sys.exit("bench/load.py: the server exited; see its log")
            time.sleep(0.05)
    sys.exit("bench/load.py: the server was not ready in 120 s")


def wrk(port, path, bodies, seconds, connections, threads):
    lua = LUA % (", ".join("[==[" + b + "]==]" for b in bodies), path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    try:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                              f"{seconds}s", "--timeout", "10s", "-s", fh.name,
                              f"http://127.0.0.1:{port}{path}"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(fh.name)
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def memory(pid):
    """(RSS, PSS) in MiB: PSS splits shared pages between the processes sharing them."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("Rss", 0.0), fields.get("Pss", 0.0)


def in_process_p50(home, tag_body, similar_bodies, repeats=300):
    from model.loaded import load_verified
    from model.search import Searcher

    model = load_verified(home)
    searcher = Searcher(model)
    tag = json.loads(tag_body)
    times = {"tag": [], "similar": []}
    for i in range(repeats):
        t = time.perf_counter()
        model.tagger.tag([(None, tag["text"])])
        times["tag"].append(time.perf_counter() - t)
        q = json.loads(similar_bodies[i % len(similar_bodies)])
        t = time.perf_counter()
        searcher.search(searcher.vectorize(None, q["text"]), q["k"])
        times["similar"].append(time.perf_counter() - t)
    return len(model.index), {k: statistics.median(v) * 1000 for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000,
                        help="similarity corpus size (0: the default corpus)")
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--compare", metavar="REV",
                        help="also measure the server code of this git revision, first")
    parser.add_argument("--datasets", type=Path, default=corpora.DEFAULT_DATASETS)
    parser.add_argument("--home", type=Path,
                        help="serve this home as it is instead of building one (--docs unused)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench/load.py: wrk is not installed: apt-get install wrk (make bench-load does)")

    def log(msg):
        print(msg, file=sys.stderr)

    home = args.home or prepare_home(args.docs, args.datasets, log)
    queries = [q["text"] for q in corpora.read_jsonl(corpora.RESULTS / "corpora" / "queries.jsonl")
               if len(q["text"].split()) >= 20][:200]
    article = next(q for q in queries if len(q) >= 3000)[:3000]
    tag_bodies = [json.dumps({"text": article})]
    similar_bodies = [json.dumps({"text": q[:3000], "k": 10}) for q in queries]
    servers = [("this tree", ROOT)]
    with tempfile.TemporaryDirectory(prefix="tagsim-bench-") as old_root:
        if args.compare:
            export_tree(args.compare, old_root)
            servers.insert(0, (args.compare, Path(old_root)))
        results = [(name, *measure(root, home, args, tag_bodies, similar_bodies))
                   for name, root in servers]
    n_indexed, local = in_process_p50(home, tag_bodies[0], similar_bodies)
    if args.home:
        corpus = f"{n_indexed} documents from {args.home}"
    else:
        corpus = f"{args.docs} generated documents" if args.docs else "the default corpus"
    for name, runs, ready_s, mem in results:
        print(f"\nwrk over loopback, `tagsim serve --workers {args.workers}` (server code of {name}), "
              f"similarity corpus of {corpus}, {args.seconds} s per run; the server answered "
              f"/readyz {ready_s:.1f} s after it was started\n")
        print("| endpoint | connections | requests/s | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|")
        for endpoint, conns, r in runs:
            print(f"| {endpoint} | {conns} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
                  f"| {r['errors']} |")
        print("\n| endpoint | in-process p50 ms | HTTP p50 ms (1 connection) | HTTP adds ms |")
        print("|---|---|---|---|")
        for (endpoint, _, r), key in zip([x for x in runs if x[1] == 1], ("tag", "similar"),
                                         strict=True):
            print(f"| {endpoint} | {local[key]:.2f} | {r['p50']:.2f} | {r['p50'] - local[key]:.2f} |")
        print("\n| worker pid | RSS MiB | PSS MiB (shared pages split) |")
        print("|---|---|---|")
        for pid, rss, pss in mem:
            print(f"| {pid} | {rss:.0f} | {pss:.0f} |")
    if len(results) == 2:
        (old, old_runs, *_), (new, new_runs, *_) = results
        print(f"\n| endpoint | connections | {old} requests/s | this tree requests/s | change |")
        print("|---|---|---|---|---|")
        for (endpoint, conns, a), (_, _, b) in zip(old_runs, new_runs, strict=True):
            print(f"| {endpoint} | {conns} | {a['rps']:.0f} | {b['rps']:.0f} "
                  f"| {b['rps'] / a['rps'] - 1:+.0%} |")


def export_tree(rev, folder):
    """Write the files of git revision *rev* into *folder* (its server code, run with this venv)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)


def measure(root, home, args, tag_bodies, similar_bodies):
    """(wrk runs, seconds to ready, worker memory) of the server code in *root*."""
    port = free_port()
    with open(corpora.RESULTS / "load-server.log", "ab") as log_file:
        proc, ready_s = start_server(home, port, args.workers, log_file, root)
        try:
            runs = []
            for name, path, bodies in (("tag (3 KB article)", "/v1/tag", tag_bodies),
                                       ("similar (k=10)", "/v1/similar", similar_bodies)):
                wrk(port, path, bodies, 2, 2, 1)  # warm up every worker
                runs.append((name, args.connections,
                             wrk(port, path, bodies, args.seconds, args.connections,
                                 args.threads)))
                runs.append((name, 1, wrk(port, path, bodies, args.seconds, 1, 1)))
            workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                     text=True).stdout.split()
            mem = [(pid, *memory(pid)) for pid in workers]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return runs, ready_s, mem

if __name__ == "__main__":
    main()
