import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.features import TextFeatures


@pytest.fixture(scope="module")
def fitted(corpus_records):
    texts = [f"{r['title']}\n{r['text']}" for r in corpus_records[::3]]
    return TextFeatures().fit(texts), texts


def assert_same_row(features, text):
    fast = features.transform([text])
    slow = features.word_.transform([text]).tocsr()
    assert fast.shape == slow.shape and fast.dtype == slow.dtype == np.float32
    np.testing.assert_array_equal(fast.indices, slow.indices)
    np.testing.assert_array_equal(fast.data, slow.data)  # bit for bit, not approximately


def test_one_text_is_the_row_scikit_learn_gives(fitted, corpus_records, monkeypatch):
    features, _ = fitted
    calls = []
    original = type(features)._word_row
    monkeypatch.setattr(type(features), "_word_row",
                        lambda self, t: calls.append(t) or original(self, t))
    for record in corpus_records[1::3]:  # texts it was not fitted on
        assert_same_row(features, f"{record['title']}\n{record['text']}")
    assert len(calls) == len(corpus_records[1::3])  # the fast path answered every one


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_text_is_the_row_scikit_learn_gives(fitted, data):
    features, texts = fitted
    words = data.draw(st.lists(st.sampled_from(texts[0].split() + texts[1].split())
                               | st.text(max_size=12), max_size=60))
    assert_same_row(features, " ".join(words))


def test_batches_and_pickles_are_unchanged(fitted, tmp_path):
    features, texts = fitted
    batch = features.transform(texts[:5])
    for i in range(5):
        np.testing.assert_array_equal(batch[i].toarray(), features.transform([texts[i]]).toarray())
    joblib.dump(features, tmp_path / "f.joblib")  # after use: the cached analyzer is not saved
    loaded = joblib.load(tmp_path / "f.joblib")
    assert "_analyzer" not in loaded.__dict__
    assert_same_row(loaded, texts[0])
