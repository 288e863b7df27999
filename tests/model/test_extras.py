"""A path that needs an optional extra says in one line how to install it (issue 22, item 1).

Each case runs `tagsim` in a fresh interpreter in which the extra's modules cannot be
imported (``sys.modules[name] = None`` makes ``import name`` fail as if it were missing).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from model import extras
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = {"scale-db": ("psycopg", "psycopg_pool"), "dask": ("distributed", "dask"),
           "arrow": ("pyarrow", "pyarrow.parquet"), "tune": ("optuna",)}


def tagsim_without(blocked, argv, env=None, timeout=120):
    code = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            "from training.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def inputs(tmp_path, trained_home):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    article = tmp_path / "a.txt"
    article.write_text("A bank signed a loan for a wind farm.")
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "A bank bought a lender."}])
    parquet = tmp_path / "d.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"id": "p", "text": "A bank bought a lender.",
                                          "sectors": '["fintech"]', "agreement_type": "acquisition"}]),
                   parquet)
    return {"home": home, "article": article, "data": data, "parquet": parquet,
            "out": tmp_path / "out", "db": "postgresql://127.0.0.1:1/none"}


@pytest.mark.parametrize("blocked, argv, extra, needs", [
    ("scale-db", "similar --home {home} --database-url {db} {article}", "scale", "psycopg"),
    ("scale-db", "serve --home {home} --database-url {db} --port 0", "scale", "psycopg"),
    ("scale-db", "review export --home {home} --database-url {db}", "scale", "psycopg"),
    ("dask", "tag --home {home} --data {data} --out {out}", "scale", "distributed"),
    ("dask", "index --home {home} --data {data} --scheduler tcp://127.0.0.1:1", "scale",
     "distributed"),
    ("arrow", "tag --home {home} --data {data} --out {out} --format parquet", "scale", "pyarrow"),
    ("arrow", "evaluate --home {home} --data {parquet}", "scale", "pyarrow"),
    ("tune", "tune --home {home} --data {data}", "tune", "optuna"),
])
def test_a_missing_extra_is_one_line_naming_its_install_command(inputs, monkeypatch, blocked, argv,
                                                                extra, needs):
    proc = tagsim_without(BLOCKED[blocked], argv.format(**inputs).split())
    monkeypatch.chdir(ROOT)  # where the command ran: the advice depends on it
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"needs {needs}, from the {extra} extra: install it with " in proc.stderr
    assert proc.stderr.rstrip().endswith(extras.install_command(extra)), proc.stderr
    assert not inputs["out"].exists()  # nothing was started


def test_the_server_refuses_to_start_rather_than_answer_503s(inputs):
    env = {"PATH": "/usr/bin:/bin", "TAGSIM_DATABASE_URL": inputs["db"]}
    proc = tagsim_without(BLOCKED["scale-db"], ["serve", "--home", str(inputs["home"]), "--port", "0"],
                          env=env)
    assert proc.returncode == 1 and "needs psycopg" in proc.stderr
    assert "serving" not in proc.stderr


@pytest.mark.parametrize("prefix, cwd, expected", [
    (".venv", ".", "make install-scale (or .venv/bin/pip install -e '.[scale]')"),
    (".venv", "/", "make install-scale in {root} (or .venv/bin/pip install -e '.[scale]')"),
    ("/opt/other-venv", ".", "{python} -m pip install -e '{root}[scale]'"),
])
def test_the_install_command_fits_where_tagsim_runs(monkeypatch, tmp_path, prefix, cwd, expected):
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        (root / name).write_text("")
    monkeypatch.setattr(extras, "checkout", lambda: root)
    monkeypatch.setattr(sys, "prefix", str(root / prefix))
    monkeypatch.chdir(root / cwd)
    assert extras.install_command("scale") == expected.format(root=root, python=sys.executable)


def test_outside_a_checkout_the_command_is_pip(monkeypatch):
    monkeypatch.setattr(extras, "checkout", lambda: None)
    assert extras.install_command("tune") == "pip install 'tagsim[tune]'"


def test_every_extra_has_a_make_target_that_installs_it():
    import re

    section = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1]
    declared = set(re.findall(r"^(\w+) = \[", section.split("\n[", 1)[0], re.M))
    assert set(extras.MAKE_TARGETS) == declared - {"dev", "bench"}  # those two: make test, make bench-*
    makefile = (ROOT / "Makefile").read_text()
    for extra, target in extras.MAKE_TARGETS.items():
        rule = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert f"install -e '.[{extra}]'" in rule
        assert "## " in rule.splitlines()[0]  # listed by make help


def test_an_extra_installed_but_broken_is_not_told_to_install(tmp_path, monkeypatch):
    from model.extras import MissingExtra, require

    (tmp_path / "brokenpq.py").write_text('raise ImportError("no pq wrapper available")\n')
    (tmp_path / "needsmore.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra, match="installed but does not load: no pq wrapper"):
        require("brokenpq", "scale", "a test")
    with pytest.raises(ModuleNotFoundError, match="not_a_module_anywhere"):
        require("needsmore", "scale", "a test")  # its own dependency, not the extra
    with pytest.raises(MissingExtra, match="install it with"):
        require("not_installed_at_all", "scale", "a test")
