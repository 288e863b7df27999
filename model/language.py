"""Whether a text is English: the share of its words that are common English words.

The models are fitted on English news; on a German article they still answer, with
confidence that means nothing. English prose, wire copy included, is about a third
function words ("the", "of", "said", ...) while other languages written in the Latin
alphabet have almost none of them and many of their own ("der", "la", "yang"...); a
text mostly in another script (Cyrillic, Chinese, Arabic...) is not English whatever
its words. Below `MIN_WORDS` words (a headline) a text says too little either way, and
nothing is said about it.
bench/language.py measures how often English text is flagged and other languages are
missed.
"""

from __future__ import annotations

import re

MIN_WORDS = 20        # fewer words (a headline): no verdict
MIN_SHARE = 0.08      # English text has at least this share of `ENGLISH_WORDS` among its words
MIN_LATIN = 0.5       # and at least this share of its letters in the Latin alphabet

# Words of English grammar and of news writing, none of them common in German, French,
# Spanish, Portuguese, Italian, Dutch, Indonesian or Turkish ("in", "a", "an", "also",
# "was", "will", "on", "no", "per" are, so they are not here). The last line is wire
# shorthand ("profit rose 12 pct to 4.1 mln dlrs"), which is English too.
ENGLISH_WORDS = frozenset("""
the of and to for is are that this these those with by at from it its be been being
has have had would could should which who whom whose what when where while their
they them he she his her we our you not but were or than into after over about said
says say can may might must up out off other more most such only any each both
before under between against during through new last next year years billion
because if then there how all some does did very just like
mln dlrs pct cts vs shr shrs qtr revs avg
""".split())

# The commonest words of the languages above that English does not use (not "o", "e",
# "un", "al": O'Reilly, e-commerce, the UN and Al-Subaie are English text too). More of
# them than of `ENGLISH_WORDS` is another language, even with an English quote inside.
OTHER_WORDS = frozenset("""
der die das und ist nicht mit von den dem des ein eine einen einer zu für auf sich auch
wird werden wurde bei nach über sie wie noch oder aber hat haben sind vom zum zur im
beim dass
le la les des du une et est dans pour pas qui que sur avec par au aux ont sont été cette
ces ses leur mais ou selon
el los las del una y en por con para es su sus se lo como más según ha han este esta
os da das dos um uma em na nos nas não com ao pelo pela é foi são seu sua mais
il gli della di che non nel nella alla sono è dei delle
het een van niet voor zijn op te dat aan bij ook naar worden wordt heeft
yang dan di ke dari untuk dengan ini itu tidak akan pada oleh dalam juga adalah telah
sebagai atau bahwa kepada tersebut
ve bir bu ile için olarak olan daha çok gibi ama sonra kadar göre ise
""".split()) - ENGLISH_WORDS

_WORD = re.compile(r"[^\W\d_]+")  # letters only: numbers and tickers' digits are not words
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def english_share(text: str) -> tuple[float, int]:
    """(share of the words that are in `ENGLISH_WORDS`, number of words) of *text*."""
    english, _, words = _counts(text)
    return (english / words if words else 0.0), words


def _counts(text):
    """(words in `ENGLISH_WORDS`, words in `OTHER_WORDS`, words) of *text*."""
    words = _WORD.findall(text.lower())
    return (sum(w in ENGLISH_WORDS for w in words), sum(w in OTHER_WORDS for w in words),
            len(words))


def looks_english(text: str) -> bool | None:
    """True if *text* reads as English, False if it does not, None if it is too short to say.

    Examples
    --------
    >>> looks_english("The company said it agreed to buy the plant for 12 mln dlrs.")  # short
    >>> looks_english("Die Gesellschaft hat am Dienstag mitgeteilt, dass sie die Mehrheit an "
    ...               "dem Hersteller von Windrädern übernehmen wird. Der Kaufpreis soll bei "
    ...               "rund 40 Millionen Euro liegen, teilte das Unternehmen mit.")
    False
    """
    letters = re.findall(r"[^\W\d_]", text)
    if len(letters) >= 4 * MIN_WORDS and len(_LATIN.findall(text)) < MIN_LATIN * len(letters):
        return False  # mostly another script; Chinese has no spaces to count words by
    english, other, words = _counts(text)
    if words < MIN_WORDS:
        return None
    return english >= MIN_SHARE * words and english >= other


def language_warning(title: str | None, text: str) -> dict:
    """The fields an answer gains when an article is not English: ``{}`` when it is (or is short).

    ``{"not_english": True, "warnings": ["..."]}`` otherwise: the labels are still
    given, but the client is told why they should not be trusted.
    """
    article = f"{title or ''}\n{text}"
    if looks_english(article) is not False:
        return {}
    share, words = english_share(article)
    return {"not_english": True, "warnings": [
        f"this text does not look like English ({share:.0%} of its {words} words are common "
        f"English words; English text has {MIN_SHARE:.0%} or more): the model was trained on "
        "English articles, so its labels and scores mean little here"]}
