"""Shared fixtures: a small slice of the default corpus and a model trained on it once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.store import load_verified
from training.train import train

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "articles.jsonl"


def write_jsonl(path: Path, records) -> Path:
    """Write records (dicts, or raw strings written as they are) one per line."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


@pytest.fixture(scope="session")
def corpus_records():
    """Every record of the default corpus."""
    with open(CORPUS, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, corpus_records):
    """Every second article of the default corpus, written to its own file."""
    path = tmp_path_factory.mktemp("data") / "small.jsonl"
    return write_jsonl(path, corpus_records[::2])


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, small_corpus):
    """A home folder holding one version trained on `small_corpus`."""
    home = tmp_path_factory.mktemp("home")
    train(small_corpus, home, folds=2, progress=False, log=lambda *_: None)
    return home


@pytest.fixture(scope="session")
def loaded(trained_home):
    """The verified, loaded model of `trained_home`."""
    return load_verified(trained_home, with_index=False)


@pytest.fixture
def home_copy(tmp_path, trained_home):
    """A private copy of `trained_home` (its one version current), to change or train into."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True,
                    ignore=shutil.ignore_patterns("documents.sqlite*", ".lock"))
    return home
