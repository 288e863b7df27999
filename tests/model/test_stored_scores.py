"""A version's stored scores are read when the review queue first asks, not when it loads."""

import numpy as np
import pytest

from model.errors import ArtifactError
from model.loaded import StoredScores


def test_scores_are_read_on_first_use_and_checked(tmp_path):
    path = tmp_path / "scores.npz"
    np.savez(path, sectors=np.ones((3, 5), np.float32), agreement_type=np.zeros((3, 8), np.float32))
    scores = StoredScores(path, ["sectors", "agreement_type"], 3)
    assert scores._arrays is None and len(scores) == 2 and list(scores) == ["sectors", "agreement_type"]
    assert "sectors" in scores and "other" not in scores  # known without reading the file
    assert scores._arrays is None
    assert scores["sectors"].shape == (3, 5) and scores.get("other") is None
    assert scores._arrays is not None
    wrong = StoredScores(path, ["sectors"], 4)  # rows that do not match the corpus
    assert len(wrong) == 1
    with pytest.raises(ArtifactError, match="3 rows of sectors, not 4"):
        wrong["sectors"]


def test_a_version_without_stored_scores_has_none(tmp_path):
    scores = StoredScores(tmp_path / "scores.npz", ["sectors"], 3)
    assert not scores and scores.get("sectors") is None
