"""The signing cues and the lead, computed the quick way, equal the plain definitions."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from model.cues import _INSTRUMENT, WINDOW_CHARS, _counts, tally
from model.views import _SENTENCE_END, lead

SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def counts_by_sentence(text):
    """The definition: split into sentences, then look before each mention in its sentence."""
    counts = [0, 0, 0, 0]
    for sentence in SENTENCE.split(text.lower()):
        for match in _INSTRUMENT.finditer(sentence):
            tally(counts, sentence[max(0, match.start() - WINDOW_CHARS): match.start()])
    return counts


def lead_of_every_word(text, max_words):
    """The definition of `lead`, reading every word of the text."""
    spans = list(re.finditer(r"\S+", text))
    if len(spans) <= max_words:
        return text
    cut = spans[max_words - 1].end()
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, cut + 1) if m.end() <= cut]
    ends = [e for e in ends if len(text[:e].split()) >= max_words // 3]
    return text[: ends[-1]] if ends else text[:cut]


PIECES = st.sampled_from([
    "signed", "will sign", "a", "memorandum", "Agreement", "agreements", "letter of", "intent",
    "joint", "venture", "joint-venture", "not", "no", "hasn't", "talks", "to be signed", "JV",
    "under the", "deal", "partnership", "x" * 30, "Acme", "MoU", "co-operation", "stake",
    ".", "!", "?", ";", ":", ",", "\n", "\n\n", " ", "  ", "\t", '"', ")", "é", "2.5",
])
TEXTS = st.lists(PIECES, max_size=60).map(lambda parts: "".join(
    p if p.strip() == "" or p in ".!?;:,\")" else " " + p for p in parts))


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_counts_equal_the_sentence_by_sentence_definition(text):
    assert _counts(text) == counts_by_sentence(text)


@settings(max_examples=500, deadline=None)
@given(TEXTS, st.integers(0, 30))
def test_lead_equals_the_definition(text, max_words):
    assert lead(text, max_words) == lead_of_every_word(text, max_words)


def test_the_cues_see_a_signing_and_a_plan_in_separate_sentences():
    text = "Acme will consider options. It signed a memorandum with Beta; a deal is planned."
    assert _counts(text) == counts_by_sentence(text) == [1, 0, 0, 2]
