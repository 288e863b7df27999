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


def test_lead_block_comes_last_and_reads_only_the_lead():
    texts = ["Acme signs memorandum with Beta. Later paragraphs talk about solar panels.",
             "Gamma reports results. The bank said profit rose, and solar was not mentioned."]
    plain = TextFeatures(min_df=1, max_df=1.0).fit(texts)
    led = TextFeatures(min_df=1, max_df=1.0, lead_words=4).fit(texts)
    X, W = led.transform(texts), plain.transform(texts)
    assert X.shape[1] > W.shape[1] == led.n_word_features_
    # The word block is untouched (similarity reads it), the lead block follows it.
    assert (led.word_block(X) != W).nnz == 0
    lead_names = [n for n in led.feature_names_ if n.startswith("lead:")]
    assert "lead:memorandum" in lead_names and "lead:solar" not in lead_names


def test_the_word_block_alone_is_the_word_block_of_the_whole(fitted):
    features, texts = fitted
    led = TextFeatures(lead_words=20, lead_weight=0.5).fit(texts)
    for batch in ([texts[0]], texts[:5]):
        whole = led.word_block(led.transform(batch))
        alone = led.transform_words(batch)
        assert alone.shape == whole.shape and (alone != whole).nnz == 0


@pytest.mark.parametrize("text, cue", [
    ("The state government has entered into an MoU with Acme Health.", "cue:done"),
    ("Acme reached a worldwide patent licensing agreement with Beta.", "cue:done"),
    ("The ministry will sign a memorandum with the bank next month.", "cue:intent"),
    ("The two sides discussed a possible partnership during the visit.", "cue:intent"),
    ("Gamma said it has not reached a final agreement with Delta.", "cue:negated"),
])
def test_signing_cues_tell_a_signed_deal_from_talk(text, cue):
    cues = TextFeatures(min_df=1, max_df=1.0, cue_weight=2.0).fit([text, "filler words"])
    X = cues.transform([text]).toarray()[0]
    named = dict(zip(cues.feature_names_, X, strict=True))
    assert named[cue] > 0
    others = {"cue:done", "cue:intent", "cue:negated"} - {cue}
    assert all(named[o] == 0 for o in others), named
    # The cue block is last and scaled; the word block before it is untouched.
    plain = TextFeatures(min_df=1, max_df=1.0).fit([text, "filler words"])
    assert (cues.word_block(cues.transform([text])) != plain.transform([text])).nnz == 0
    assert X[-len(named) + len(plain.feature_names_):].max() <= 2.0 * np.log1p(10)
