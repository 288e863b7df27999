"""Opening a sealed version hashes only what may have changed since its hashes were checked."""

from __future__ import annotations

import json
import os
import time

import pytest

import model.store as store_module
import model.trust as trust
from model.errors import ArtifactError
from model.store import ArtifactStore


@pytest.fixture
def version(tmp_path, monkeypatch):
    """A published version with a model and a 1 MB index file, written 50 ms before sealing."""
    monkeypatch.setattr(trust, "RACY_NS", 10_000_000)
    store = ArtifactStore(tmp_path)
    staging = store.staging()
    (staging / "model.joblib").write_bytes(b"weights")
    (staging / "index").mkdir()
    (staging / "index" / "counts.npy").write_bytes(os.urandom(1 << 20))
    time.sleep(0.05)
    store.publish(staging, {"version": "v1",
                            "libraries": {"scikit-learn": __import__("sklearn").__version__}})
    return store


def hashed_by(store, monkeypatch, **kwargs):
    seen = []
    original = store_module.sha256_of
    monkeypatch.setattr(store_module, "sha256_of", lambda p: seen.append(p.name) or original(p))
    store.verify(**kwargs)
    return seen


def test_a_sealed_version_opens_without_hashing_its_index(version, monkeypatch):
    assert hashed_by(version, monkeypatch) == ["model.joblib"]  # the pickle: every time
    assert sorted(hashed_by(version, monkeypatch, full=True)) == ["counts.npy", "model.joblib"]


def test_a_byte_changed_in_place_is_hashed_and_refused(version, monkeypatch):
    path = version.current_dir() / "index" / "counts.npy"
    with open(path, "r+b") as fh:  # same size, same place: only the times say so
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        version.verify()


@pytest.mark.parametrize("size", [0, 1000, (1 << 20) + 1])
def test_a_truncated_or_resized_file_is_refused(version, size):
    path = version.current_dir() / "index" / "counts.npy"
    os.truncate(path, size)
    with pytest.raises(ArtifactError, match="truncated or resized"):
        version.verify()


def test_a_copied_version_is_hashed_once_then_trusted(version, monkeypatch, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(version.home, copy, symlinks=True)  # new inodes: the stamp no longer holds
    store = ArtifactStore(copy)
    assert sorted(hashed_by(store, monkeypatch)) == ["counts.npy", "model.joblib"]
    time.sleep(0.05)  # past the racy window of the copy's times
    hashed_by(store, monkeypatch)  # hashed again: the copy was too fresh to stamp at first
    assert hashed_by(store, monkeypatch) == ["model.joblib"]


def test_an_edited_stamp_is_ignored(version, monkeypatch):
    path = version.current_dir() / trust.STAMP
    data = json.loads(path.read_text())
    data["files"]["index/counts.npy"][2] += 1  # a forger's identity: the seal no longer fits
    path.write_text(json.dumps(data))
    assert sorted(hashed_by(version, monkeypatch)) == ["counts.npy", "model.joblib"]


def test_a_file_changed_after_it_was_hashed_is_not_stamped(version, monkeypatch):
    """A writer between the hash and the stamp: the stamp must not vouch for the new bytes."""
    path = version.current_dir() / "index" / "counts.npy"
    original = store_module.sha256_of

    def hash_then_change(p):
        digest = original(p)
        if p == path:  # same size, written after its hash was read
            time.sleep(0.02)
            with open(p, "r+b") as fh:
                fh.write(b"\x00")
        return digest

    monkeypatch.setattr(store_module, "sha256_of", hash_then_change)
    # As if hashing the rest took longer than the racy window: only the identity can tell.
    monkeypatch.setattr(trust, "RACY_NS", 0)
    version.verify(full=True)  # the bytes it hashed were the sealed ones
    monkeypatch.setattr(store_module, "sha256_of", original)
    assert "index/counts.npy" not in trust.trusted(version.current_dir(), version.seal)
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        version.verify()


def test_each_loader_writes_a_probe_of_its_own_and_leaves_none(version):
    folder = version.current_dir()
    trust.stamp(folder, {"index/counts.npy": trust.identity(folder / "index" / "counts.npy")},
                version.seal)
    assert not list(folder.glob("*.tmp"))
    assert "index/counts.npy" in trust.trusted(folder, version.seal)
