"""What a published version says about itself: the one shape train and reindex write.

`ArtifactStore.publish` adds ``files`` (each file's sha256) when it seals a version;
everything else is built here, so a version made by ``train`` and one made by
``index`` describe themselves with the same fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class IndexInfo:
    """The similarity corpus of a version: how many documents, how many terms, from where."""

    documents: int
    terms: int
    path: str
    sha256: str

    def as_dict(self) -> dict:
        return {"documents": self.documents, "terms": self.terms,
                "dataset": {"path": self.path, "sha256": self.sha256}}


@dataclass(frozen=True)
class Manifest:
    """A version's manifest, less the ``files`` that publishing adds.

    ``derived_from`` names the version whose model a reindexed version reuses (None
    for a trained one). `as_dict` is what goes into manifest.json.
    """

    version: str
    heads: list
    text_fields: list
    index: IndexInfo
    dataset: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    parameters_origin: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    corrections: dict = field(default_factory=dict)
    libraries: dict = field(default_factory=dict)
    python: str = ""
    git_commit: str | None = None
    training_seconds: float | None = None
    derived_from: str | None = None
    created_at: str = field(default_factory=_now)

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["index"] = self.index.as_dict()
        if self.derived_from is None:
            del out["derived_from"]
        return out

    def reindexed(self, version: str, index: IndexInfo) -> Manifest:
        """The manifest of a new version that keeps this one's model with another corpus."""
        return dataclasses.replace(self, version=version, derived_from=self.version,
                                   index=index, created_at=_now())

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """A manifest read from manifest.json (its ``files`` and unknown keys dropped)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        index = data.get("index") or {}
        source = index.get("dataset") or {}
        values["index"] = IndexInfo(int(index.get("documents", 0)), int(index.get("terms", 0)),
                                    str(source.get("path", "")), str(source.get("sha256", "")))
        return cls(**values)
