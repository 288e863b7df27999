"""The default corpus meets the minimums the product promises (data/LABELS.md)."""

import re
import statistics
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import CORPUS
from training.datasets import TAXONOMY, load_dataset

HARD_CASES = ("talks_no_deal", "loose_letter", "loose_partnership", "loose_license",
              "loi_future_deal", "mou_future_jv", "policy_clean_energy",
              "background_agreement", "fossil_not_clean")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(CORPUS)  # validates every record against the taxonomy


def words(record):
    return len(record["text"].split())


def is_brief(record):
    """A one-paragraph wire brief: 40-150 words, no blank line inside."""
    return 40 <= words(record) <= 150 and "\n\n" not in record["text"].strip()


def test_size_and_lengths(dataset):
    lengths = [words(r) for r in dataset.records]
    assert len(dataset) >= 1600
    assert sum(map(is_brief, dataset.records)) >= 400, "one-paragraph wire briefs are missing"
    assert statistics.median(lengths) >= 70
    assert min(lengths) <= 50, "very short briefs (~45 words) are missing"
    assert max(lengths) >= 700, "long features (~800 words) are missing"
    assert sum(n >= 400 for n in lengths) >= 60


def test_every_agreement_type_has_120_and_none_is_common(dataset):
    counts = Counter(dataset.targets["agreement_type"])
    assert set(counts) == set(TAXONOMY["agreement_type"])
    assert min(counts.values()) >= 120, counts
    assert counts["none"] >= 320, "stories that report no agreement are too few"


def test_sector_coverage(dataset):
    sectors = dataset.targets["sectors"]
    counts = Counter(s for labels in sectors for s in labels)
    assert set(counts) == set(TAXONOMY["sectors"])
    assert min(counts.values()) >= 200, counts
    assert sum(len(labels) >= 2 for labels in sectors) >= 250
    assert sum(not labels for labels in sectors) >= 200


def test_wire_style_copy_is_there(dataset):
    """Real copy users send: tickers in brackets, 'mln dlrs', 'pct' (data/LABELS.md)."""
    texts = [(r.get("title") or "") + " " + r["text"] for r in dataset.records]
    assert sum(bool(re.search(r"<[A-Z.]{2,8}>", t)) for t in texts) >= 300
    assert sum("mln dlrs" in t for t in texts) >= 300
    assert sum(bool(re.search(r"\bpct\b", t)) for t in texts) >= 200


def test_hard_cases_have_five_each(dataset):
    counts = Counter(h for r in dataset.records for h in r.get("hard_cases", []))
    assert set(counts) <= set(HARD_CASES), set(counts) - set(HARD_CASES)
    for case in HARD_CASES:
        assert counts[case] >= 5, f"{case}: {counts[case]}"


def test_hard_case_labels_follow_the_rules(dataset):
    for r in dataset.records:
        cases = r.get("hard_cases", [])
        if "loi_future_deal" in cases:
            assert r["agreement_type"] == "letter_of_intent", r["id"]
        if "mou_future_jv" in cases:
            assert r["agreement_type"] == "memorandum_of_understanding", r["id"]
        if "talks_no_deal" in cases:
            assert r["agreement_type"] == "none", r["id"]
        if "policy_clean_energy" in cases:
            assert {"policy", "clean_energy"} <= set(r["sectors"]), r["id"]
        if "loose_letter" in cases:
            assert r["agreement_type"] != "letter_of_intent", r["id"]


def shingle_matrix(texts, n=5):
    vocab, rows, cols = {}, [], []
    for i, text in enumerate(texts):
        w = re.findall(r"\w+", text.lower())
        for key in {" ".join(w[j:j + n]) for j in range(len(w) - n + 1)}:
            rows.append(i)
            cols.append(vocab.setdefault(key, len(vocab)))
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)))


def test_shingle_jaccard_finds_a_planted_duplicate():
    base = "the ministry signed a memorandum with the bank on green bonds for solar farms today"
    M = shingle_matrix([base, base + " and wind", "something else entirely is written here ok"])
    inter = (M @ M.T).toarray()
    assert inter[0, 1] / (M[0].sum() + M[1].sum() - inter[0, 1]) > 0.8
    assert inter[0, 2] == 0


def test_no_near_duplicates(dataset):
    M = shingle_matrix([r["text"] for r in dataset.records])
    inter = (M @ M.T).toarray()
    size = np.asarray(M.sum(axis=1)).ravel()
    jaccard = inter / np.maximum(size[:, None] + size[None, :] - inter, 1)
    np.fill_diagonal(jaccard, 0)
    i, j = np.unravel_index(np.argmax(jaccard), jaccard.shape)
    assert jaccard[i, j] <= 0.30, (dataset.ids[i], dataset.ids[j], jaccard[i, j])


COOPERATION = re.compile(r"\b(partnership|cooperation|co-operation|collaboration|memorand\w*|MoU|"
                         r"agreement|partner\w*|alliance|joint venture)\b", re.I)
TALK = re.compile(r"\b(visit\w*|delegation|forum|meeting|met|talks|discuss\w*|explor\w*|roundtable|"
                  r"matchmaking|will sign|to be signed|to sign|approv\w+ the signing|prospects|"
                  r"agreed to study|expressed interest|conference|summit|exhibition|expo)\b", re.I)
PUBLIC_OR_INSTITUTION = re.compile(r"\b(ministry|minister|university|technopark|science park|IT park|"
                                   r"agency|foundation|government|council|institute|fund|city|"
                                   r"municipal\w*|provinc\w+|regional|state)\b", re.I)
COMPANY_NEWS = re.compile(r"\b(profit|revenue|results|quarter|launch\w*|appoint\w*|lawsuit|sue[sd]?|"
                          r"fine[sd]?|guidance|outage|layoffs|approval)\b", re.I)
NOT_PUBLIC_BY_ITSELF = re.compile(r"\b(university|technopark|science park|IT park|technology park|"
                                  r"state-owned|sovereign (wealth )?fund|state fund|innovation hub)\b",
                                  re.I)


def test_modern_institutional_copy_is_there(dataset):
    """Issue 21's minimums, counted from the text and labels (data/LABELS.md)."""
    rows = [((r.get("title") or "") + " " + r["text"], r["agreement_type"], set(r["sectors"]))
            for r in dataset.records]
    talk = sum(t == "none" and bool(COOPERATION.search(x)) and bool(TALK.search(x))
               for x, t, _ in rows)
    signed = sum(t in ("memorandum_of_understanding", "letter_of_intent", "strategic_partnership")
                 and bool(PUBLIC_OR_INSTITUTION.search(x)) for x, t, _ in rows)
    news = sum(t == "none" and bool(s) and bool(COMPANY_NEWS.search(x)) for x, t, s in rows)
    institutions = sum("policy" not in s and bool(NOT_PUBLIC_BY_ITSELF.search(x)) for x, _, s in rows)
    assert talk >= 400, f"cooperation talk that signs nothing: {talk}"
    assert signed >= 300, f"signed memoranda, letters and cooperation agreements: {signed}"
    assert news >= 200, f"results, launches, appointments and lawsuits: {news}"
    assert institutions >= 150, f"universities, technoparks, state companies without policy: {institutions}"
    assert sum(not (r.get("title") or "").strip() for r in dataset.records) >= 400, \
        "stories pasted without a headline are missing"
