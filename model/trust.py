"""Which files of a sealed version need not be hashed again: their identity is as it was when hashed.

Hashing every byte of a version at start-up grows with its index (seconds at a million
documents). A version's files are written once and never changed, so after a file's
sha256 has been checked (when the version is published, or when a load had to hash
it) its identity is kept in a stamp beside the manifest: device, inode, size, and the
modification and change times in nanoseconds. A later load trusts a file whose
identity is still the stamped one and hashes the others. What each check catches is
in `ArtifactStore.verify`.

The stamp is sealed like the manifest (an HMAC under the artifact key when there is
one): a changed stamp is ignored, and everything is hashed.

A file changed within the same clock tick as its stamp could keep its times, so a file
whose change time is less than `RACY_NS` before the stamp is written is not stamped
(git calls this the racy case): it is hashed at the next load, and stamped then.
"""

from __future__ import annotations

import hmac
import json
import os
import uuid
from pathlib import Path

STAMP = ".verified.json"  # in the version folder; not one of the manifest's files
RACY_NS = 2_000_000_000   # two seconds: far above any file system's timestamp tick


def identity(path: Path) -> list[int]:
    """What changes when a file is written, replaced or moved in: dev, inode, size, mtime, ctime."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def trusted(folder: Path, seal) -> dict[str, list[int]]:
    """The stamped identities in *folder* (name -> identity); {} when the stamp is missing or unsealed."""
    try:
        data = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        body, signature = data["files"], data["seal"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(body, dict) or not isinstance(signature, str) or \
            not hmac.compare_digest(seal(_canonical(body)), signature):
        return {}
    return body


def stamp(folder: Path, checked: dict[str, list[int]], seal) -> None:
    """Stamp the files of *checked*, best effort: name -> its identity read before it was hashed.

    A file whose identity is no longer the one it had when its hash was read (it was
    written meanwhile) is not stamped, so what is stamped is what was hashed.
    """
    # Workers loading the same version at once each write a probe of their own.
    probe = folder / f"{STAMP}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        probe.write_text("{}", encoding="utf-8")
        now = os.stat(probe).st_mtime_ns  # the file system's clock, not the process'
        files = {}
        for name, before in checked.items():
            ident = identity(folder / name)
            if ident == before and now - ident[4] >= RACY_NS:
                files[name] = ident
        probe.write_text(json.dumps({"files": files, "seal": seal(_canonical(files))}),
                         encoding="utf-8")
        os.replace(probe, folder / STAMP)
    except OSError:  # a read-only version still loads; it is hashed each time
        probe.unlink(missing_ok=True)


def _canonical(files: dict) -> bytes:
    # A prefix of its own: a stamp's seal can never stand for a manifest's.
    return b"tagsim-stamp\n" + json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
