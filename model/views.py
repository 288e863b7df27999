"""Short views of long articles: the lead a wire brief would carry.

Users send one-paragraph briefs as often as long features. A head trained on long
articles alone learns scores, calibration and thresholds for long texts, and a brief
then scores below every cut. Training on each article's lead as well (with the
article's labels) shows the heads what short copy looks like.
"""

from __future__ import annotations

import re
from itertools import islice

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s)")


def lead(text: str, max_words: int) -> str:
    """The start of *text* up to the last sentence end within its first *max_words* words.

    When no sentence ends that early, the first *max_words* words.

    Examples
    --------
    >>> lead("Acme buys Beta. The deal closes in May. Terms were not given.", 8)
    'Acme buys Beta. The deal closes in May.'
    >>> lead("one two three four five", 3)
    'one two three'
    """
    # The first max_words + 1 words are enough to know whether the text is longer.
    spans = list(islice(_WORD.finditer(text), max_words + 1 if max_words > 0 else None))
    if len(spans) <= max_words:
        return text
    cut = spans[max_words - 1].end()
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, cut + 1) if m.end() <= cut]
    # A sentence end in the first few words is more likely an abbreviation than a lead.
    ends = [e for e in ends if len(text[:e].split()) >= max_words // 3]
    return text[: ends[-1]] if ends else text[:cut]


def short_views(texts, view_words=(), min_ratio=1.5):
    """Leads of the longer *texts*: a list of (row, text) for each length in *view_words*.

    A text gets a view of length L only when it has more than ``min_ratio * L`` words,
    so a view is always much shorter than its article.
    """
    out = []
    for row, text in enumerate(texts):
        n = len(text.split())
        for length in view_words:
            if n > min_ratio * length:
                out.append((row, lead(text, length)))
    return out
