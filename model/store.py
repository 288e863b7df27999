"""Model versions on disk: written whole or not at all, verified before they are loaded.

Layout of a home folder (every file name is defined here, once)::

    home/versions/<version>/   manifest.json, manifest.sig, model.joblib, index/*.npy,
                               documents.jsonl, documents.ends.npy, labels.npz, scores.npz,
                               report.md, confusion_*.png, tradeoff_*.png
    home/current -> versions/<version>   (a symlink, replaced atomically)
    home/.lock                           (held by whoever is writing a version)
    home/documents.sqlite                (documents added through the API, unless
                                          $TAGSIM_DATABASE_URL names a PostgreSQL database)

``manifest.json`` lists the sha256 of every other file; ``manifest.sig`` seals the
manifest itself: an HMAC-SHA256 under ``TAGSIM_ARTIFACT_KEY`` when that is set, a plain
sha256 otherwise. A plain hash catches damage and hand edits; only the HMAC stops
someone who can write the folder from forging a model, because ``joblib.load`` runs code.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import inspect
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sklearn

from model.documents import DOCUMENT_STORE  # noqa: F401 (a file of the home, named here too)
from model.errors import ArtifactError
from model.trust import STAMP, identity, stamp, trusted

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MODEL_FILE = "model.joblib"          # the fitted `Tagger`
INDEX_FILE = "index"                 # the `SimilarityIndex`: a folder, one .npy per array
DOCUMENTS_FILE = "documents.jsonl"   # id, title and labels of each index row (`CorpusDocuments`)
DOCUMENT_ENDS = "documents.ends.npy"  # where each of its lines ends
LABELS_FILE = "labels.npz"           # the same labels as columns, for the search filters
SCORES_FILE = "scores.npz"           # each index row's probabilities per head (the review queue)
REPORT_FILE = "report.md"            # the training report
CONFUSION_PLOT = "confusion_{head}.png"  # its confusion matrix of each single-label head
TRADEOFF_PLOT = "tradeoff_{head}.png"    # its precision/recall by threshold of each multi-label head
KEY_VARIABLE = "TAGSIM_ARTIFACT_KEY"   # named in messages; service/settings.py reads them
KEEP_VARIABLE = "TAGSIM_KEEP_VERSIONS"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version_id() -> str:
    """A sortable, unique version name: UTC time to the microsecond plus a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:6]




def holding_lock(func):
    """Run *func*, a function with a ``home`` argument, holding that home's write lock.

    ``train`` and ``index`` hold it from their first step, so a second run fails at
    once rather than after its work, and write their version with `ArtifactStore.new_version`.
    """
    signature = inspect.signature(func)

    @functools.wraps(func)
    def locked(*args, **kwargs):
        home = signature.bind(*args, **kwargs).arguments["home"]
        with ArtifactStore(home).lock():
            return func(*args, **kwargs)

    return locked


@dataclass
class StagedVersion:
    """A version being written: its id, its staging folder, and the manifest to publish."""

    folder: Path
    version: str
    manifest: dict | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """The versions in one home folder and its ``current`` pointer.

    Parameters
    ----------
    home : path
        The folder.
    key : str or None
        HMAC key for manifests (``$TAGSIM_ARTIFACT_KEY`` at the edges); None: plain sha256.
    keep : int
        How many versions `publish` keeps (the current one always stays).
    """

    def __init__(self, home, key=None, keep=5):
        self.home = Path(home)
        self.versions = self.home / "versions"
        self.current = self.home / "current"
        self.key = key or None
        self.keep = keep
        if self.keep < 1:
            raise ArtifactError(f"{KEEP_VARIABLE} must be 1 or more, got {self.keep}")

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self):
        """Hold the home's write lock; fail at once if another run holds it."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            fh = open(self.home / ".lock", "a+")
        except OSError as exc:
            raise ArtifactError(f"cannot write to the home folder {self.home} ({exc.strerror}); "
                                "choose a folder you can write to (--home or $TAGSIM_HOME)") from None
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArtifactError(
                    f"another train or index run is writing to {self.home} (it holds "
                    f"{self.home / '.lock'}); wait for it to finish") from None
            self._clean_leftovers()
            yield self
        finally:
            fh.close()

    def _clean_leftovers(self):
        # Only called under the lock: nothing else can be writing these now.
        for path in self.home.glob(".staging-*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in self.home.glob(".current-*"):
            path.unlink(missing_ok=True)

    def staging(self) -> Path:
        """A fresh folder, on the same file system as the versions, to write a version into."""
        self.versions.mkdir(parents=True, exist_ok=True)
        path = self.home / f".staging-{uuid.uuid4().hex}"
        path.mkdir()
        return path

    @contextlib.contextmanager
    def new_version(self):
        """Yield a `StagedVersion` to write into; publish it when the block ends, remove it on error.

        The block sets ``manifest`` (without ``files``: `publish` adds them). Hold the
        home's `lock` around it (see `holding_lock`): this does not take the lock, so
        a run can hold it from its first step and a second run fails at once.
        """
        staged = StagedVersion(self.staging(), new_version_id())
        try:
            yield staged
            if staged.manifest is None:
                raise ArtifactError(f"version {staged.version} was written without a manifest")
        except BaseException:
            shutil.rmtree(staged.folder, ignore_errors=True)
            raise
        self.publish(staged.folder, dict(staged.manifest, version=staged.version))

    def seal(self, manifest_bytes: bytes) -> str:
        """The signature line of a manifest."""
        if self.key:
            mac = hmac.new(self.key.encode(), manifest_bytes, hashlib.sha256).hexdigest()
            return f"hmac-sha256:{mac}"
        return f"sha256:{hashlib.sha256(manifest_bytes).hexdigest()}"

    def publish(self, staging: Path, manifest: dict) -> Path:
        """Hash the staged files into the manifest, move the folder into place, switch current.

        Until the final rename of ``current`` nothing a reader can see has changed, so a
        crash at any point leaves the previous version current.
        """
        try:
            names = {MANIFEST, SIGNATURE, STAMP}  # a copied version's stamp is not its file
            files = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*"))
                     if p.is_file() and p.relative_to(staging).as_posix() not in names
                     and not p.name.startswith(STAMP)}
            # Each file's identity as it was hashed: a rename of its folder keeps it.
            checked = {name: identity(p) for name, p in files.items()}
            manifest = dict(manifest, files={name: sha256_of(p) for name, p in files.items()},
                            sizes={name: p.stat().st_size for name, p in files.items()})
            data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
            (staging / MANIFEST).write_bytes(data)
            (staging / SIGNATURE).write_text(self.seal(data) + "\n", encoding="ascii")
            for p in [*files.values(), staging / MANIFEST, staging / SIGNATURE]:
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
            for folder in [p for p in staging.rglob("*") if p.is_dir()] + [staging]:
                _fsync_dir(folder)
            final = self.versions / manifest["version"]
            os.rename(staging, final)
            _fsync_dir(self.versions)
            stamp(final, checked, self.seal)  # hashed just now: later loads need not hash them
            self.point_current_at(final.name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.prune()
        return final

    def point_current_at(self, version: str) -> None:
        """Switch ``current`` to a version with one atomic rename."""
        link = self.home / f".current-{uuid.uuid4().hex}"
        os.symlink(Path("versions") / version, link)
        os.replace(link, self.current)
        _fsync_dir(self.home)

    def prune(self) -> list[str]:
        """Delete all but the newest `keep` versions (never the current one)."""
        current = self.current_version()
        removed = []
        for name in self.list_versions()[:-self.keep]:
            if name != current:
                shutil.rmtree(self.versions / name, ignore_errors=True)
                removed.append(name)
        return removed

    def rollback(self, to: str | None = None) -> str:
        """Point ``current`` at *to*, or at the version before the current one."""
        versions = self.list_versions()
        current = self.current_version()
        if not versions:
            raise ArtifactError(f"no versions in {self.versions}: nothing to roll back to; "
                                "train one first, or give the right home (--home)")
        if to is None:
            older = [v for v in versions if current is None or v < current]
            if not older:
                raise ArtifactError(f"no version older than the current one ({current}) in "
                                    f"{self.versions}: nothing to roll back to")
            to = older[-1]
        if to not in versions:
            raise ArtifactError(f"no version {to!r} in {self.versions}; have: "
                                + (", ".join(versions) or "none"))
        self.verify(self.versions / to)
        self.point_current_at(to)
        return to

    # -- reading -------------------------------------------------------------------------

    def list_versions(self) -> list[str]:
        """Published versions, oldest first."""
        if not self.versions.is_dir():
            return []
        return sorted(p.name for p in self.versions.iterdir() if (p / MANIFEST).is_file())

    def current_version(self) -> str | None:
        """The name of the current version, or None."""
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def current_dir(self) -> Path:
        """The folder of the current version; `ArtifactError` when there is none."""
        if not self.current.exists():
            raise ArtifactError(
                f"no trained model in {self.home}: run 'make train' "
                f"(or 'tagsim train --data PATH --home {self.home}')"
            )
        return self.current.resolve()

    def verify(self, version_dir: Path | None = None, full: bool = False) -> dict:
        """Check the manifest's seal and every file; return the manifest.

        The seal is checked, then every file's size against the manifest's (a truncated
        or resized file is refused), then each file's sha256 — except where the file's
        identity (inode, size, modification and change times) is still the one stamped
        when its hash was last checked (`model.trust`): opening a version then costs the
        same for ten documents as for ten million. The tagger (unpickled, so able to run
        code) is hashed every time. *full* hashes every file.
        """
        folder = version_dir or self.current_dir()
        try:
            data = (folder / MANIFEST).read_bytes()
            seal = (folder / SIGNATURE).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"cannot read the manifest of {folder}: {exc}; retrain") from None
        if seal.startswith("hmac-sha256:") and not self.key:
            raise ArtifactError(f"{folder.name} is signed with a key: set {KEY_VARIABLE} "
                                "to the key it was trained with")
        if not hmac.compare_digest(seal, self.seal(data)):
            what = "its HMAC does not match TAGSIM_ARTIFACT_KEY" if self.key else \
                "it does not match manifest.sig"
            raise ArtifactError(f"{folder / MANIFEST} was changed after training ({what}); "
                                "refusing to load it: retrain or roll back")
        try:
            manifest = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{folder / MANIFEST} is not valid JSON ({exc}); retrain") from None
        files = manifest.get("files")
        if not isinstance(files, dict) or MODEL_FILE not in files:
            raise ArtifactError(f"{folder / MANIFEST} lists no {MODEL_FILE}; retrain")
        sizes = manifest.get("sizes") or {}  # versions sealed before sizes were: hashed
        stamped = {} if full else trusted(folder, self.seal)
        hashed, checked = [], {}
        for name, expected in files.items():
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ArtifactError(f"{folder / MANIFEST} lists a file outside its folder "
                                    f"({name!r}); refusing to load it")
            path = folder / name
            if not path.is_file():
                raise ArtifactError(f"{path} is missing; retrain")
            if name in sizes and path.stat().st_size != sizes[name]:
                raise ArtifactError(f"{path} has {path.stat().st_size} bytes, its manifest says "
                                    f"{sizes[name]}: the file was truncated or resized; retrain")
            before = identity(path)
            if name in sizes:
                checked[name] = before
            if name != MODEL_FILE and name in sizes and stamped.get(name) == before:
                continue
            if sha256_of(path) != expected:
                raise ArtifactError(f"{path} does not match the sha256 in its manifest; "
                                    "the file was changed or damaged: retrain")
            hashed.append(name)
        if any(name != MODEL_FILE for name in hashed):
            stamp(folder, checked, self.seal)
        trained_with = manifest.get("libraries", {}).get("scikit-learn")
        if trained_with != sklearn.__version__:
            raise ArtifactError(
                f"{folder.name} was trained with scikit-learn {trained_with}, this is "
                f"{sklearn.__version__}: retrain with 'make train'"
            )
        return manifest
