import json
import os

import joblib
import pytest

from model.errors import ArtifactError
from model.loaded import load_verified
from model.similarity import SimilarityIndex
from model.store import ArtifactStore, sha256_of
from training.train import train

QUIET = {"folds": 0, "progress": False, "log": lambda *_: None}


def current(home):
    return ArtifactStore(home).current_version()


def test_version_has_every_file_and_a_complete_manifest(trained_home, small_corpus):
    folder = ArtifactStore(trained_home).current_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("model.joblib", "index/counts.npy", "index/ids_utf8.npy", "documents.jsonl",
                 "labels.npz", "report.md", "confusion_agreement_type.png"):
        assert manifest["files"][name] == sha256_of(folder / name)
    assert manifest["version"] == folder.name
    assert manifest["dataset"]["sha256"] == sha256_of(small_corpus)
    assert manifest["text_fields"] == ["title", "text"]
    heads = {h["name"]: h for h in manifest["heads"]}
    assert heads["sectors"]["kind"] == "multi-label"
    assert set(heads["sectors"]["thresholds"]) == set(heads["sectors"]["labels"])
    assert len(heads["agreement_type"]["labels"]) == 8
    metrics = manifest["evaluation"]["metrics"]
    assert {"micro_f1", "macro_f1", "n", "precision_at_1", "ndcg"} <= set(metrics["sectors"])
    assert manifest["parameters_origin"] == {"defaults": "domain"}
    assert set(metrics["agreement_type"]) == {"accuracy", "micro_f1", "macro_f1", "n"}
    assert {"scikit-learn", "numpy", "scipy", "joblib"} <= set(manifest["libraries"])


def test_report_lists_every_label(trained_home):
    folder = ArtifactStore(trained_home).current_dir()
    report = (folder / "report.md").read_text()
    for label in ("biomed", "fintech", "letter_of_intent", "none"):
        assert f"| {label} |" in report
    assert (folder / "confusion_agreement_type.png").read_bytes()[:4] == b"\x89PNG"


def test_report_shows_the_precision_recall_tradeoff(trained_home):
    folder = ArtifactStore(trained_home).current_dir()
    report = (folder / "report.md").read_text()
    section = report.split("### sectors: precision / recall by threshold")[1].split("![")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert {r.split(" | ")[0][2:] for r in rows} == {"biomed", "clean_energy", "digital",
                                                      "fintech", "policy"}
    for row in rows:
        cells = row.strip("| ").split(" | ")[1:-1]
        precision = [float(c.split(" / ")[0]) for c in cells]
        recall = [float(c.split(" / ")[1]) for c in cells]
        assert recall == sorted(recall, reverse=True)  # a higher cut never finds more
        assert all(0.0 <= v <= 1.0 for v in precision + recall)
    assert (folder / "tradeoff_sectors.png").read_bytes()[:4] == b"\x89PNG"


def test_index_rows_match_documents(trained_home):
    folder = ArtifactStore(trained_home).current_dir()
    index = SimilarityIndex.load(folder / "index")
    docs = [json.loads(line) for line in (folder / "documents.jsonl").read_text().splitlines()]
    assert list(index.ids) == [d["id"] for d in docs]
    rows, scores = index.top_k(index.matrix[3], 1)
    assert rows[0] == 3 and scores[0] == pytest.approx(1.0, abs=1e-5)
    # kept as counts, and read back as the rows the vectoriser gives the same texts
    assert (folder / "index" / "counts.npy").is_file() and not (folder / "index" / "data.npy").exists()
    tagger = joblib.load(folder / "model.joblib")
    texts = [d["text"] for d in docs[:5]]  # a trained corpus keeps its joined texts
    assert (tagger.features.transform_index(texts) != index.matrix[:5]).nnz == 0


def test_a_second_run_switches_current_and_keeps_the_first(home_copy, small_corpus):
    first = current(home_copy)
    second = train(small_corpus, home_copy, **QUIET)["version"]
    assert first != second
    assert os.readlink(home_copy / "current") == f"versions/{second}"
    assert (home_copy / "versions" / first / "model.joblib").is_file()


def test_a_failed_run_leaves_current_untouched(home_copy, small_corpus, monkeypatch):
    tmp_path, first = home_copy, current(home_copy)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(joblib, "dump", disk_full)
    with pytest.raises(OSError, match="No space"):
        train(small_corpus, tmp_path, **QUIET)
    assert load_verified(tmp_path, with_index=False).version == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "current", "versions"]
    assert [p.name for p in (tmp_path / "versions").iterdir()] == [first]


def test_a_failed_publish_leaves_current_untouched(home_copy, small_corpus, monkeypatch):
    tmp_path, first = home_copy, current(home_copy)
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("current"):
            raise OSError(5, "I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        train(small_corpus, tmp_path, **QUIET)
    assert load_verified(tmp_path, with_index=False).version == first


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_model_file_is_refused(home_copy, damage):
    tmp_path = home_copy
    path = ArtifactStore(tmp_path).current_dir() / "model.joblib"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:100]))
    else:
        path.unlink()
    with pytest.raises(ArtifactError, match="model.joblib"):
        load_verified(tmp_path, with_index=False)


def test_other_library_version_is_refused(home_copy):
    tmp_path = home_copy
    path = ArtifactStore(tmp_path).current_dir() / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.1"
    data = json.dumps(manifest).encode()
    path.write_bytes(data)
    (path.parent / "manifest.sig").write_text(ArtifactStore(tmp_path).seal(data))
    with pytest.raises(ArtifactError, match="scikit-learn 0.1.*retrain"):
        load_verified(tmp_path, with_index=False)


def test_no_model_yet(tmp_path):
    with pytest.raises(ArtifactError, match="make train"):
        load_verified(tmp_path, with_index=False)


def test_labelled_api_documents_join_the_next_training(home_copy, small_corpus):
    from model.documents import open_documents

    tmp_path = home_copy
    first = json.loads((tmp_path / "current" / "manifest.json").read_text())
    store = open_documents(tmp_path)
    store.put("api-1", "Fresh", "A fintech lender signed a licence for credit scoring software.",
              {"sectors": ["fintech", "digital"], "agreement_type": "licensing"}, labelled=True)
    store.put("api-2", "", "Predicted labels only.", {"sectors": [], "agreement_type": "none"},
              labelled=False)
    existing = json.loads(small_corpus.read_text().splitlines()[0])["id"]
    store.put(existing, "Relabelled", "A corpus article, relabelled by a client.",
              {"sectors": [], "agreement_type": "none"}, labelled=True)
    store.close()
    second = train(small_corpus, tmp_path, **QUIET)
    assert second["dataset"]["records"] == first["dataset"]["records"] + 1
    docs = (ArtifactStore(tmp_path).current_dir() / "documents.jsonl").read_text()
    assert '"id": "api-1"' in docs and '"id": "api-2"' not in docs
    assert '"title": "Relabelled"' in docs
