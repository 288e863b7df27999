"""A loaded, verified model version: what the CLI and the service answer with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.errors import ArtifactError
from model.store import MODEL_FILE, ArtifactStore
from model.tagger import Tagger


@dataclass(frozen=True)
class LoadedTagger:
    """A tagger with the version and manifest it came from."""

    version: str
    manifest: dict
    tagger: Tagger
    folder: Path

    @property
    def tagger_text_fields(self):
        """The text fields the model was trained on."""
        return tuple(self.manifest.get("text_fields", ("title", "text")))


def load_tagger(home) -> LoadedTagger:
    """Verify and load the current version in *home*."""
    store = ArtifactStore(home)
    folder = store.current_dir()
    manifest, tagger = store.load_verified(MODEL_FILE, folder)
    if not isinstance(tagger, Tagger):
        raise ArtifactError(f"{folder / MODEL_FILE} does not hold a tagsim tagger; retrain")
    return LoadedTagger(manifest["version"], manifest, tagger, folder)
