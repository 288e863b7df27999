"""Model versions on disk: written whole or not at all, verified before they are loaded.

Layout of a home folder::

    home/versions/<version>/   manifest.json, model.joblib, index.npz, report.md, ...
    home/current -> versions/<version>   (a symlink, replaced atomically)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import joblib
import sklearn

from model.errors import ArtifactError

MANIFEST = "manifest.json"
MODEL_FILE = "model.joblib"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version_id() -> str:
    """A sortable, unique version name: UTC time plus a short random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """The versions in one home folder and its ``current`` pointer."""

    def __init__(self, home):
        self.home = Path(home)
        self.versions = self.home / "versions"
        self.current = self.home / "current"

    def staging(self) -> Path:
        """A fresh folder, on the same file system as the versions, to write a version into."""
        self.versions.mkdir(parents=True, exist_ok=True)
        path = self.home / f".staging-{uuid.uuid4().hex}"
        path.mkdir()
        return path

    def publish(self, staging: Path, manifest: dict) -> Path:
        """Hash the staged files into the manifest, move the folder into place, switch current.

        Until the final rename of ``current`` nothing a reader can see has changed, so a
        crash at any point leaves the previous version current.
        """
        try:
            files = sorted(p for p in staging.iterdir() if p.is_file() and p.name != MANIFEST)
            manifest = dict(manifest, files={p.name: sha256_of(p) for p in files})
            with open(staging / MANIFEST, "w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=2, sort_keys=True)
                fh.write("\n")
            for p in [*files, staging / MANIFEST]:
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
            _fsync_dir(staging)
            final = self.versions / manifest["version"]
            os.rename(staging, final)
            _fsync_dir(self.versions)
            link = self.home / f".current-{uuid.uuid4().hex}"
            os.symlink(Path("versions") / final.name, link)
            os.replace(link, self.current)
            _fsync_dir(self.home)
            return final
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def current_dir(self) -> Path:
        """The folder of the current version; `ArtifactError` when there is none."""
        if not self.current.exists():
            raise ArtifactError(
                f"no trained model in {self.home}: run 'make train' "
                f"(or 'tagsim train --data PATH --home {self.home}')"
            )
        return self.current.resolve()

    def read_manifest(self, version_dir: Path | None = None) -> dict:
        """The manifest of a version (the current one by default)."""
        folder = version_dir or self.current_dir()
        try:
            with open(folder / MANIFEST, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"cannot read {folder / MANIFEST}: {exc}; retrain") from exc

    def verify(self, version_dir: Path | None = None) -> dict:
        """Check every file of a version against its manifest; return the manifest."""
        folder = version_dir or self.current_dir()
        manifest = self.read_manifest(folder)
        files = manifest.get("files")
        if not isinstance(files, dict) or MODEL_FILE not in files:
            raise ArtifactError(f"{folder / MANIFEST} lists no {MODEL_FILE}; retrain")
        for name, expected in files.items():
            path = folder / name
            if not path.is_file():
                raise ArtifactError(f"{path} is missing; retrain")
            if sha256_of(path) != expected:
                raise ArtifactError(f"{path} does not match the sha256 in its manifest; "
                                    "the file was changed or damaged: retrain")
        trained_with = manifest.get("libraries", {}).get("scikit-learn")
        if trained_with != sklearn.__version__:
            raise ArtifactError(
                f"{folder.name} was trained with scikit-learn {trained_with}, this is "
                f"{sklearn.__version__}: retrain with 'make train'"
            )
        return manifest

    def load_verified(self, name: str, version_dir: Path | None = None):
        """Verify a whole version, then joblib-load one of its files; return (manifest, obj)."""
        folder = version_dir or self.current_dir()
        manifest = self.verify(folder)
        return manifest, joblib.load(folder / name)
