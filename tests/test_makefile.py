"""The Makefile, the front door: `make help` lines up, `make bench` runs every benchmark,
a benchmark without the datasets stops in one line naming DATASETS= (issue 22, item 5)."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=120)


def rules():
    """target -> (prerequisites, recipe lines), from make's own database (nothing is run)."""
    out = make("-pRrq", "help").stdout
    found = {}
    for block in out.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        head = next((line for line in lines if re.match(r"^[\w.-]+:( |$)", line)), None)
        if head is not None:
            name, _, prerequisites = head.partition(":")
            found[name] = (prerequisites.split(), [line for line in lines if line.startswith("\t")])
    return found


def benches():
    return sorted(name for name in rules() if name.startswith("bench-"))


def test_make_bench_runs_every_benchmark():
    prerequisites, _ = rules()["bench"]
    assert len(benches()) >= 8
    assert sorted(p for p in prerequisites if p.startswith("bench")) == benches()


def test_make_help_lines_up_every_documented_target():
    documented = re.findall(r"^([\w-]+):.*## ", (ROOT / "Makefile").read_text(), re.M)
    lines = make("help").stdout.splitlines()
    assert [line.split()[1] for line in lines] == documented
    width = max(len(name) for name in documented)
    starts = {line.index(line.split()[2], len("  make ") + len(line.split()[1])) for line in lines}
    assert starts == {len("  make ") + width + 2}, lines


@pytest.mark.parametrize("target", ["bench"] + [
    name for name in benches() if any("$(DATASETS)" in line or "--datasets" in line
                                      for line in rules()[name][1])])
def test_a_benchmark_without_the_datasets_stops_in_one_line(tmp_path, target):
    proc = make("-n", target, f"DATASETS={tmp_path / 'nowhere'}")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"no datasets folder at {tmp_path / 'nowhere'}" in proc.stderr
    assert "DATASETS=/path/to/datasets" in proc.stderr
