"""An index's ids: row -> id and id -> row from mapped arrays, old layouts included."""

import numpy as np
import pytest
import scipy.sparse as sp

from model import ids as ids_module
from model.ids import Ids
from model.mapped import IndexChanged
from model.similarity import SimilarityIndex

NAMES = ["doc-0", "Ünïcödé 文章", "x" * 300, "", "a\ud800b", "doc-5"]  # long, empty, a lone surrogate


def index_of(names, tmp_path, **kw):
    counts = sp.csr_matrix(np.ones((len(names), 3), dtype=np.int64))
    index = SimilarityIndex.from_counts(counts, [1.0, 2.0, 3.0], names, **kw)
    index.save(tmp_path / "index")
    return index, SimilarityIndex.load(tmp_path / "index")


def test_every_id_round_trips_and_is_found_at_its_row(tmp_path):
    for ids in index_of(NAMES, tmp_path):
        assert isinstance(ids.ids, Ids) and list(ids.ids) == NAMES and len(ids.ids) == len(NAMES)
        for row, name in enumerate(NAMES):
            assert ids.ids[row] == name and ids.ids.row(name) == row and name in ids.ids
        assert ids.ids[-1] == "doc-5" and ids.ids[1:3] == NAMES[1:3]
        for absent in ("doc-1", "doc-0 ", "DOC-0", 5, None):
            assert ids.ids.row(absent) is None and absent not in ids.ids
        with pytest.raises(IndexError):
            ids.ids[len(NAMES)]


def test_a_repeated_id_is_found_at_its_last_row():
    assert Ids.of(["a", "b", "a"]).row("a") == 2  # as a dict built row by row would say


def test_ids_with_the_same_hash_are_told_apart(monkeypatch):
    monkeypatch.setattr(ids_module, "_hash", lambda encoded: 42)  # every id collides
    table = Ids.of(["p", "q", "r"])
    assert [table.row(x) for x in ("r", "p", "q", "s")] == [2, 0, 1, None]


def test_an_index_written_with_fixed_width_ids_still_loads_and_finds_them(tmp_path):
    index_of(["a", "bb", "ccc"], tmp_path)
    folder = tmp_path / "index"
    for name in ids_module.FILES:
        (folder / f"{name}.npy").unlink()
    np.save(folder / "ids.npy", np.asarray(["a", "bb", "ccc"], dtype=str))  # the old layout
    loaded = SimilarityIndex.load(folder)
    assert list(loaded.ids) == ["a", "bb", "ccc"] and loaded.ids.row("bb") == 1


def test_ids_take_their_utf8_bytes_not_four_bytes_a_character_of_the_longest(tmp_path):
    names = [f"doc-{i}" for i in range(10_000)] + ["y" * 200]
    index_of(names, tmp_path)
    folder = tmp_path / "index"
    size = sum((folder / f"{name}.npy").stat().st_size for name in ids_module.FILES)
    fixed_width = len(names) * 200 * 4
    assert size < 30 * len(names) < fixed_width / 20  # about 9 + 4 + 8 + 4 bytes an id


@pytest.mark.parametrize("name", ["ends", "utf8"])
def test_a_changed_id_file_is_an_index_changed_error(tmp_path, name):
    index_of(["doc-0", "doc-1", "doc-2"], tmp_path)
    loaded = SimilarityIndex.load(tmp_path / "index", mmap=False)  # writable copies
    if name == "ends":
        loaded.ids.ends[1] = 10**9  # past the bytes
    else:
        loaded.ids.utf8[int(loaded.ids.ends[0])] = 0xFF  # doc-1's first byte: not UTF-8
    with pytest.raises(IndexChanged):
        loaded.ids[1]
    with pytest.raises(IndexChanged):
        loaded.ids.row("doc-1")
    assert loaded.ids[0] == "doc-0" and loaded.ids.row("doc-0") == 0  # the rest still read
