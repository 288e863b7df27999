import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.errors import EmptyText


def check_answer(loaded, answer):
    for spec in loaded.tagger.specs:
        key = "sector_scores" if spec.name == "sectors" else "agreement_scores"
        scores = answer[key]
        assert all(0.0 <= p <= 1.0 for p in scores.values())
        if spec.multilabel:
            picked = [c["score"] for c in answer[spec.name]]
            assert picked == sorted(picked, reverse=True)
        else:
            assert answer[spec.name]["label"] == max(scores, key=scores.get)
            assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400), title=st.one_of(st.none(), st.text(max_size=40)))
def test_tag_never_crashes_on_arbitrary_unicode(loaded, text, title):
    if not re.search(r"\w", (title or "") + "\n" + text):  # an article is its title and text
        with pytest.raises(EmptyText, match="send at least one word"):
            loaded.tagger.tag([(title, text)])
        return
    check_answer(loaded, loaded.tagger.tag([(title, text)])[0])


@pytest.mark.parametrize("text", ["", "   \n\t", "!!! ... ---", "\u2014\u2014"])
def test_empty_text_is_refused(loaded, text):
    with pytest.raises(EmptyText):
        loaded.tagger.tag([(None, text)])


def test_explanation_terms_come_from_the_text_and_add_up(loaded):
    text = ("The ministry signed a memorandum of understanding with a solar power developer "
            "to build photovoltaic plants and battery storage.")
    answer = loaded.tagger.tag([(None, text)], explain=True)[0]
    explained = answer["explanation"]["agreement_type"][answer["agreement_type"]["label"]]
    assert explained, "the predicted agreement type should have supporting terms"
    for item in explained:
        assert all(word in text.lower() for word in item["term"].split())
        assert item["weight"] > 0
    weights = [t["weight"] for t in explained]
    assert weights == sorted(weights, reverse=True)
    assert set(answer["explanation"]["sectors"]) == {s["label"] for s in answer["sectors"]}


def test_obvious_articles_are_tagged_right(loaded):
    answers = loaded.tagger.tag([
        (None, "The biotech company agreed to acquire a cancer drug developer for $2 billion "
               "in cash, buying all outstanding shares in a definitive merger agreement."),
        (None, "The fintech start-up raised $40 million in a Series B funding round led by "
               "venture investors to expand its mobile payments app."),
    ])
    assert answers[0]["agreement_type"]["label"] == "acquisition"
    assert "biomed" in [s["label"] for s in answers[0]["sectors"]]
    assert answers[1]["agreement_type"]["label"] == "investment"
    assert "fintech" in [s["label"] for s in answers[1]["sectors"]]


def test_batch_equals_single(loaded):
    docs = [("A", "Wind farm financing agreed with the bank."), (None, "Hospital software deal.")]
    batch = loaded.tagger.tag(docs)
    singles = [loaded.tagger.tag([d])[0] for d in docs]
    for b, s in zip(batch, singles, strict=True):
        assert b["agreement_scores"] == s["agreement_scores"]
    assert np.isfinite(list(batch[0]["sector_scores"].values())).all()
