"""A version's files are read under one lock: numpy and joblib parse headers with `ast`,
which CPython 3.11 does not do safely in two threads at once (python/cpython#106905)."""

from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np

import model.loaded as loaded
from model.mapped import AST_LOCK


def test_every_file_of_a_version_is_read_holding_the_lock(trained_home, monkeypatch):
    seen = []
    real_joblib, real_np = joblib.load, np.load

    def watched(what, real):
        return lambda *a, **k: seen.append((what, AST_LOCK._is_owned())) or real(*a, **k)

    monkeypatch.setattr(loaded.joblib, "load", watched("joblib", real_joblib))
    monkeypatch.setattr(np, "load", watched("numpy", real_np))
    loaded.load_verified(trained_home)
    assert {what for what, _ in seen} == {"joblib", "numpy"}
    assert all(owned for _, owned in seen), seen
    assert not AST_LOCK._is_owned()  # released after


def test_threads_loading_versions_at_once_all_succeed(trained_home):
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: loaded.load_verified(trained_home), range(12)))
    assert len({m.version for m in models}) == 1 and all(len(m.index) > 0 for m in models)


def test_an_app_compiles_its_url_rules_holding_the_lock(trained_home, monkeypatch):
    import ast

    from service import create_app
    from service.settings import Settings

    seen, real = [], ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: seen.append(AST_LOCK._is_owned())
                        or real(*a, **k))
    create_app({"TESTING": True}, Settings(home=trained_home, reload_seconds=0))
    assert seen and all(seen)  # werkzeug parsed every rule under the lock
