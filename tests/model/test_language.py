"""Telling English from other languages by its common words."""

import json
from pathlib import Path

import pytest

from model.language import MIN_WORDS, english_share, language_warning, looks_english

SAMPLES = [json.loads(line) for line in
           (Path(__file__).parent / "non_english.jsonl").read_text(encoding="utf-8").splitlines()]
GERMAN = next(s["text"] for s in SAMPLES if s["language"] == "de")

WIRE = ("ACME PRECISION <APCX> TO BUY TOOLMAKER FOR 12 MLN DLRS\n"
        "Acme Precision Corp said it agreed in principle to acquire privately held Norden "
        "Toolworks Inc for about 12 mln dlrs in cash and notes. The company said the purchase, "
        "subject to a definitive agreement, would add about 30 mln dlrs to annual revenues. "
        "Acme shares rose 3/8 to 21-1/4 on the American Stock Exchange.")
EARNINGS = ("QUIXOTE MILLS <QXM> 1ST QTR NET\n Shr 35 cts vs 30 cts\n Net 1,240,000 vs 980,000\n"
            " Revs 18.5 mln vs 16.1 mln\n Avg shrs 3,500,000 vs 3,260,000\n Nine mths\n"
            " Shr 1.02 dlrs vs 88 cts\n Net 3,610,000 vs 2,870,000\n Revs 54.2 mln vs 47.9 mln")
HEADLINES = ["Voltaris buys Kellmann stake", "Siemens wins Nordic rail signalling deal",
             "Übernahme: Voltaris kauft Kellmann", "Solaria Verde cierra ronda de 35 millones"]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["language"] for s in SAMPLES])
def test_business_news_in_other_languages_is_not_english(sample):
    assert looks_english(sample["text"]) is False


def test_a_german_article_gets_a_flag_and_a_warning():
    answer = language_warning("Voltaris übernimmt Kellmann", GERMAN)
    assert answer["not_english"] is True
    [warning] = answer["warnings"]
    assert "does not look like English" in warning and "0% of its 62 words" in warning


@pytest.mark.parametrize("text", [WIRE, EARNINGS], ids=["wire", "earnings table"])
def test_english_wire_copy_is_english(text):
    assert looks_english(text) is not False
    assert language_warning(None, text) == {}


def test_wire_copy_is_judged_not_just_let_through():
    assert looks_english(WIRE) is True and english_share(WIRE)[1] >= MIN_WORDS


@pytest.mark.parametrize("headline", HEADLINES)
def test_a_headline_is_too_short_to_say_anything(headline):
    assert looks_english(headline) is None
    assert language_warning(headline, "") == {}


def test_english_with_a_german_quote_is_english():
    text = ("Voltaris, the Munich battery maker, said on Tuesday it would buy a majority of "
            "supplier Kellmann Werkstoffe for about 45 million euros, adding that the deal still "
            "needs the approval of the federal cartel office. \"Wir wollen die Produktion in "
            "Deutschland ausbauen\", chief executive Andreas Brenner told reporters.")
    assert looks_english(text) is True


def test_german_with_an_english_quote_is_not_english():
    text = GERMAN + (" \"This is the right deal for our customers and for the company\", "
                     "sagte Brenner auf Englisch.")
    assert looks_english(text) is False


def test_the_verdict_follows_what_most_of_the_text_is():
    english, german = WIRE.split(". ")[0], GERMAN.split(". ")
    half = f"{english}. {german[0]}. {german[1]}."
    assert english_share(half)[0] < english_share(WIRE)[0]
    assert looks_english(f"{WIRE} {german[0]}.") is True
    assert looks_english(f"{english}. {'. '.join(german)}") is False


def test_another_script_is_not_english_even_without_spaces():
    chinese = next(s["text"] for s in SAMPLES if s["language"] == "zh")
    assert english_share(chinese)[1] < MIN_WORDS  # too few "words" to count
    assert looks_english(chinese) is False


def test_the_corpus_is_english(corpus_records):
    flagged = [r["id"] for r in corpus_records
               if looks_english(f"{r['title']}\n{r['text']}") is False]
    assert flagged == []
