"""The similarity index's own terms: a bounded part of the tagger's word vocabulary."""

import joblib
import numpy as np
import pytest

from model.features import INDEX_DF_FROM, TextFeatures
from model.similarity import SimilarityIndex


def texts_with_known_frequencies(n=1200, seed=0):
    """*n* texts where 'everywhere' is in 90% of them, 'often' in 40%, and the rest rarer."""
    rng = np.random.default_rng(seed)
    rare = [f"w{i:03d}" for i in range(300)]
    texts = []
    for i in range(n):
        words = list(rng.choice(rare, size=12))
        if i % 10:
            words.append("everywhere")
        if i % 5 < 2:
            words.append("often")
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def fitted():
    texts = texts_with_known_frequencies()
    return TextFeatures(word_ngrams=(1, 1), min_df=2, max_df=1.0, index_max_df=0.5,
                        index_max_terms=200).fit(texts), texts


def test_the_index_leaves_out_the_most_common_words_and_keeps_the_most_widespread_rest(fitted):
    features, texts = fitted
    names = set(features.index_names_)
    assert "everywhere" not in names  # in 90% of the texts, over the 50% bound
    assert "often" in names           # in 40%: kept, and the most widespread of the rest
    assert len(names) == features.n_index_terms == 200 < features.n_word_features_
    vocabulary = features.word_.vocabulary_
    counts = np.bincount(features.word_.transform(texts).indices, minlength=len(vocabulary))
    kept = {vocabulary[name] for name in names}
    left_out = [j for name, j in vocabulary.items() if j not in kept and name != "everywhere"]
    assert min(counts[j] for j in kept) >= max(counts[j] for j in left_out)


def test_index_rows_are_the_kept_words_renormalised_one_row_at_a_time(fitted):
    features, texts = fitted
    X, counts = features.transform_with_index(texts[:50])
    assert (X != features.transform(texts[:50])).nnz == 0
    rows = features.index_rows(counts)
    assert rows.shape == (50, features.n_index_terms) and rows.dtype == np.float32
    words = features.word_block(X).toarray()[:, features.index_terms_]
    expected = words / np.linalg.norm(words, axis=1, keepdims=True)
    np.testing.assert_allclose(rows.toarray(), expected, rtol=1e-6)
    for i in (0, 7, 49):  # a row does not depend on the rows it came with
        alone = features.transform_index([texts[i]])
        np.testing.assert_array_equal(alone.toarray(), rows[i].toarray())
        assert (features.transform_with_index([texts[i]])[1] != counts[i]).nnz == 0


def test_a_text_with_only_left_out_words_has_an_empty_index_row(fitted):
    features, _ = fitted
    row = features.transform_index(["everywhere everywhere"])
    assert row.shape == (1, features.n_index_terms) and row.nnz == 0
    counts = features.transform_with_index(["w001 w002", "w003"])[1]
    index = SimilarityIndex.from_counts(counts, features.index_idf_, ["a", "b"])
    assert index.top_k(row, 5)[0].tolist() == []  # nothing to match, and no error


def test_a_small_training_set_keeps_its_common_words():
    texts = texts_with_known_frequencies(n=INDEX_DF_FROM - 1)
    features = TextFeatures(word_ngrams=(1, 1), max_df=1.0, index_max_df=0.5).fit(texts)
    assert "everywhere" in set(features.index_names_)


def test_features_saved_before_the_index_had_its_own_terms_index_every_word(fitted, tmp_path):
    features, texts = fitted
    features.transform_index(texts[:1])  # builds the cached column lookup
    assert "_index_column" in features.__dict__
    joblib.dump(features, tmp_path / "f.joblib")
    old = joblib.load(tmp_path / "f.joblib")
    assert "_index_column" not in old.__dict__  # the cached lookup is not saved
    del old.__dict__["index_terms_"]  # as a model pickled before issue 23 loads
    X = old.transform(texts[:3])
    assert old.n_index_terms == old.n_word_features_
    np.testing.assert_allclose(old.transform_index(texts[:3]).toarray(),
                               old.word_block(X).toarray(), rtol=1e-6)
    assert list(old.index_names_) == list(old.feature_names_[: old.n_word_features_])
