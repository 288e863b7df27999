import json
import os

import pytest

from model.errors import ArtifactError
from model.store import ArtifactStore


def publish(store, payload=b"weights", **extra):
    staging = store.staging()
    (staging / "model.joblib").write_bytes(payload)
    manifest = {"version": extra.pop("version", None) or f"v{len(store.list_versions()):03d}",
                "libraries": {"scikit-learn": __import__("sklearn").__version__}, **extra}
    return store.publish(staging, manifest).name


def test_manifest_edited_by_hand_is_refused(tmp_path):
    store = ArtifactStore(tmp_path, key="")
    publish(store)
    path = store.current_dir() / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["note"] = "edited"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="changed after training"):
        store.verify()


def test_hmac_sealed_versions_need_the_right_key(tmp_path):
    publish(ArtifactStore(tmp_path, key="s3cret"))
    assert ArtifactStore(tmp_path, key="s3cret").verify()["version"] == "v000"
    with pytest.raises(ArtifactError, match="HMAC does not match"):
        ArtifactStore(tmp_path, key="other").verify()
    with pytest.raises(ArtifactError, match="set TAGSIM_ARTIFACT_KEY"):
        ArtifactStore(tmp_path, key="").verify()


def test_forged_manifest_without_the_key_is_refused(tmp_path):
    store = ArtifactStore(tmp_path, key="s3cret")
    publish(store)
    folder = store.current_dir()
    (folder / "model.joblib").write_bytes(b"evil")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model.joblib"] = __import__("hashlib").sha256(b"evil").hexdigest()
    data = json.dumps(manifest).encode()
    (folder / "manifest.json").write_bytes(data)
    (folder / "manifest.sig").write_text(ArtifactStore(tmp_path, key="").seal(data))
    with pytest.raises(ArtifactError):
        store.verify()


def test_lock_fails_fast_and_cleans_leftovers(tmp_path):
    store = ArtifactStore(tmp_path)
    leftover = store.staging()
    (tmp_path / ".current-dead").symlink_to("versions/nothing")
    with store.lock():
        assert not leftover.exists() and not (tmp_path / ".current-dead").is_symlink()
        with pytest.raises(ArtifactError, match="another train or index run"):
            with ArtifactStore(tmp_path).lock():
                pass
    with store.lock():  # released
        pass


def test_prune_keeps_the_newest_and_current(tmp_path):
    names = [publish(ArtifactStore(tmp_path, keep=10), version=f"v{i}") for i in range(4)]
    store = ArtifactStore(tmp_path, keep=2)
    store.point_current_at(names[0])
    assert store.prune() == ["v1"]
    assert store.list_versions() == ["v0", "v2", "v3"]


def test_publish_keeps_the_configured_number(tmp_path):
    store = ArtifactStore(tmp_path, keep=3)
    for i in range(5):
        publish(store, version=f"v{i}")
    assert store.list_versions() == ["v2", "v3", "v4"] and store.current_version() == "v4"
    with pytest.raises(ArtifactError, match="TAGSIM_KEEP_VERSIONS must be 1 or more"):
        ArtifactStore(tmp_path, keep=0)


def test_rollback_to_previous_and_named(tmp_path):
    store = ArtifactStore(tmp_path)
    names = [publish(store, version=f"v{i}") for i in range(3)]
    assert store.rollback() == names[1]
    assert os.readlink(tmp_path / "current") == "versions/v1"
    assert store.rollback(to="v2") == "v2"
    with pytest.raises(ArtifactError, match="no version 'v9'"):
        store.rollback(to="v9")
    store.rollback(to="v0")
    with pytest.raises(ArtifactError, match="no version older"):
        store.rollback()


def test_rollback_refuses_a_damaged_version(tmp_path):
    store = ArtifactStore(tmp_path)
    publish(store, version="v0")
    publish(store, version="v1")
    (tmp_path / "versions" / "v0" / "model.joblib").write_bytes(b"damaged")
    with pytest.raises(ArtifactError, match="does not match"):
        store.rollback()
    assert store.current_version() == "v1"


def test_version_ids_sort_in_creation_order_within_a_second():
    from model.store import new_version_id

    ids = [new_version_id() for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_new_version_publishes_on_success_and_removes_on_error(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.new_version() as staged:
        (staged.folder / "model.joblib").write_bytes(b"weights")
        staged.manifest = {"libraries": {"scikit-learn": __import__("sklearn").__version__}}
    assert store.current_version() == staged.version
    assert store.verify()["files"] == {"model.joblib": __import__("hashlib").sha256(
        b"weights").hexdigest()}
    for failure in (OSError("disk full"), None):
        with pytest.raises(OSError if failure else ArtifactError):
            with store.new_version() as failed:
                (failed.folder / "model.joblib").write_bytes(b"half")
                if failure:
                    raise failure  # otherwise: no manifest was set
        assert not failed.folder.exists()
    assert store.list_versions() == [staged.version]
    assert store.current_version() == staged.version


def test_holding_lock_finds_the_home_argument(tmp_path):
    from model.store import holding_lock

    @holding_lock
    def write(data, home, note="x"):
        with pytest.raises(ArtifactError, match="another train or index run"):
            with ArtifactStore(home).lock():
                pass
        return data, note

    assert write(1, tmp_path) == (1, "x")
    assert write(2, note="y", home=tmp_path) == (2, "y")
    with ArtifactStore(tmp_path).lock():  # released
        pass
