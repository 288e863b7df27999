import json
import shutil

import numpy as np
import pytest

from model.corpus import CorpusDocuments, LabelColumns, label_masks, save_line_ends
from model.errors import ArtifactError
from model.loaded import load_verified
from model.store import LABELS_FILE, ArtifactStore

DOCS = [
    {"id": "a", "title": "Solar – Ünïcode", "sectors": ["clean_energy", "policy"],
     "agreement_type": "mou"},
    {"id": "b", "title": "", "sectors": [], "agreement_type": "none"},
    {"id": "c", "title": "Bank", "sectors": ["fintech"], "agreement_type": "mou"},
]
HEADS = ["sectors", "agreement_type"]


def label_masks_of(documents, heads):
    """The masks `label_masks` should give, from the parsed documents."""
    masks = {}
    for j, doc in enumerate(documents):
        for head in heads:
            value = doc.get(head)
            for label in value if isinstance(value, list) else [value]:
                masks.setdefault((head, label), np.zeros(len(documents), dtype=bool))[j] = True
    return masks


def _write(path, docs, newline_at_end=True):
    text = "\n".join(json.dumps(d, ensure_ascii=False) for d in docs)
    path.write_text(text + ("\n" if newline_at_end and docs else ""), encoding="utf-8")
    return path


@pytest.mark.parametrize("with_ends", [False, True])
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_documents_read_each_row_as_written(tmp_path, newline_at_end, with_ends):
    path = _write(tmp_path / "d.jsonl", DOCS, newline_at_end)
    if with_ends:  # the line ends written with a version: the file is not scanned at opening
        save_line_ends(path, tmp_path / "d.ends.npy")
    docs = CorpusDocuments(path, tmp_path / "d.ends.npy")
    assert len(docs) == 3
    assert list(docs) == DOCS
    assert docs[-1] == DOCS[-1]
    with pytest.raises(IndexError):
        docs[3]


def test_line_ends_of_another_file_are_refused(tmp_path):
    save_line_ends(_write(tmp_path / "d.jsonl", DOCS), tmp_path / "d.ends.npy")
    _write(tmp_path / "d.jsonl", DOCS[:2])
    with pytest.raises(ValueError, match="does not match"):
        CorpusDocuments(tmp_path / "d.jsonl", tmp_path / "d.ends.npy")


def test_empty_documents_file(tmp_path):
    docs = CorpusDocuments(_write(tmp_path / "d.jsonl", []))
    assert len(docs) == 0 and list(docs) == []


def test_label_columns_give_the_masks_of_the_parsed_documents(tmp_path):
    columns = LabelColumns({"sectors": ["biomed", "clean_energy", "fintech", "policy"],
                            "agreement_type": ["mou", "none"]})
    columns.add(2, {h: [d[h] for d in DOCS[:2]] for h in HEADS})  # two blocks, rows continue
    columns.add(1, {h: [d[h] for d in DOCS[2:]] for h in HEADS})
    columns.save(tmp_path / LABELS_FILE)
    masks = label_masks(tmp_path / LABELS_FILE, HEADS, 3)
    expected = label_masks_of(DOCS, HEADS)
    assert masks.keys() == {k for k, m in expected.items() if m.any()}
    for key, mask in masks.items():
        assert mask.tolist() == expected[key].tolist(), key
    assert masks[("agreement_type", "mou")].tolist() == [True, False, True]
    assert ("sectors", "biomed") not in masks  # no row carries it
    with pytest.raises(ValueError, match="3 rows, not 4"):
        label_masks(tmp_path / LABELS_FILE, HEADS, 4)


def test_label_columns_count_rows_without_heads(tmp_path):
    columns = LabelColumns({})
    columns.add(5, {})
    columns.save(tmp_path / LABELS_FILE)
    assert label_masks(tmp_path / LABELS_FILE, [], 5) == {}


def test_loaded_masks_match_the_documents(trained_home):
    model = load_verified(trained_home)
    expected = label_masks_of(list(model.corpus), HEADS)
    assert model.masks.keys() == {k for k, m in expected.items() if m.any()}
    for key, mask in model.masks.items():
        assert np.array_equal(mask, expected[key]), key


def republished(tmp_path, trained_home, version, edit):
    """A copy of *trained_home* whose current version is republished after *edit(staging)*."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    store = ArtifactStore(home)
    folder = store.current_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    staging = store.staging()
    for path in folder.iterdir():
        if path.is_dir():
            shutil.copytree(path, staging / path.name)
        elif path.name not in ("manifest.json", "manifest.sig"):
            shutil.copy2(path, staging / path.name)
    edit(staging)
    store.publish(staging, dict(manifest, version=version))
    return home


@pytest.mark.parametrize("old_format", ["no label columns", "index in one .npz"])
def test_a_version_of_an_older_format_is_refused(tmp_path, trained_home, old_format):
    # Their readers are gone: such a version, like one from another scikit-learn, is retrained.
    def downgrade(staging):
        if old_format == "no label columns":
            (staging / LABELS_FILE).unlink()
            return
        index = staging / "index"
        arrays = {p.stem: np.load(p) for p in index.glob("*.npy")}
        shutil.rmtree(index)
        np.savez(staging / "index.npz", **arrays)

    home = republished(tmp_path, trained_home, "older", downgrade)
    assert load_verified(home, with_index=False).version == "older"
    with pytest.raises(ArtifactError, match="cannot read the index or documents.*retrain"):
        load_verified(home)


def test_documents_out_of_step_with_the_index_are_refused(tmp_path, trained_home):
    def drop_last_line(staging):
        lines = (staging / "documents.jsonl").read_text(encoding="utf-8").splitlines(True)
        (staging / "documents.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
        save_line_ends(staging / "documents.jsonl", staging / "documents.ends.npy")

    home = republished(tmp_path, trained_home, "short", drop_last_line)
    with pytest.raises(ArtifactError, match="index rows but"):
        load_verified(home)
