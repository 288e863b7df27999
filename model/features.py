"""The TF-IDF feature space, fitted once and shared by every head and the similarity index."""

from __future__ import annotations

import re
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfVectorizer,
    strip_accents_unicode,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from model.cues import NAMES as CUE_NAMES
from model.cues import signing_cues
from model.errors import EmptyText
from model.similarity import weigh
from model.views import lead

_WORD = re.compile(r"\w")
# Below this many training texts no word is common enough to cost the index anything, and
# a few shared words may be all two short texts have: `index_max_df` is not applied.
INDEX_DF_FROM = 1000
# Wire-copy shorthand and the words modern copy uses for it: the same meaning gets the
# same feature whichever style a story was written in.
WIRE_SHORTHAND = {
    "mln": "million", "mlns": "millions", "bln": "billion", "dlrs": "dollars",
    "dlr": "dollar", "pct": "percent", "shrs": "shares", "shr": "share", "cts": "cents",
    "qtr": "quarter", "qtrs": "quarters", "yr": "year", "yrs": "years", "avg": "average",
    "corp": "corporation", "inc": "incorporated", "co": "company", "cos": "companies",
    "govt": "government", "intl": "international", "natl": "national", "mgmt": "management",
    "acquisitions": "acquisition", "acquires": "acquire", "acquired": "acquire",
    "%": " percent ", "$": " dollars ",
}
_SHORTHAND = re.compile(r"(?<![\w-])(" + "|".join(
    re.escape(k) for k in sorted(WIRE_SHORTHAND, key=len, reverse=True) if k[0].isalnum())
    + r")(?![\w-])|[%$]")


def normalize_wire(text: str) -> str:
    """Lower-case, strip accents and spell out wire shorthand ("mln dlrs" -> "million dollars").

    Examples
    --------
    >>> normalize_wire("Acme <ACM> buys 5.1 PCT for 12 mln dlrs, or $1.2 bln")
    'acme <acm> buys 5.1 percent for 12 million dollars, or  dollars 1.2 billion'
    """
    text = strip_accents_unicode(text.lower())
    return _SHORTHAND.sub(lambda m: WIRE_SHORTHAND[m.group(0)], text)


def document_text(*fields: str | None) -> str:
    r"""Join a document's text fields (title first, body last): the non-empty ones, one per line.

    The one place a title and a body are joined, for training, tagging and search
    alike. An empty or missing field adds nothing, so a title with an empty body
    reads as the title alone.

    >>> document_text("Solar deal", "Signed today."), document_text(None, "x"), document_text("T", "")
    ('Solar deal\nSigned today.', 'x', 'T')
    """
    return "\n".join(field for field in fields if field)


def require_words(text: str, field: str = "text") -> None:
    """Raise `EmptyText` when *text* holds no letter or digit at all."""
    if not _WORD.search(text):
        raise EmptyText(
            f"{field} has no words (it is empty, whitespace or punctuation only); "
            "send at least one word"
        )


class TextFeatures(TransformerMixin, BaseEstimator):
    """Word n-gram TF-IDF, optionally stacked with character n-gram TF-IDF.

    The word block is always first, so ``transform(...)[:, :n_word_features_]`` is the
    L2-normalised word TF-IDF. The similarity index and its shared terms use a part of
    it (`index_block`): the word n-grams in at most `index_max_df` of the training texts,
    at most `index_max_terms` of them, the most widespread first, each row L2-normalised
    again. The words in most texts are the longest posting lists and say least about
    which articles are alike, and the rarest n-grams mostly name one story's parties:
    leaving both out made every query read 60% fewer postings and kept the index's
    width fixed as the tagger's vocabulary grows, and similar articles agreed on their
    labels at least as often as before (`make bench-neighbours`, bench/README.md).

    Parameters
    ----------
    word_ngrams : tuple of int
        Range of word n-gram lengths.
    min_df : int
        Minimum document frequency of a word n-gram.
    max_df : float
        Drop word n-grams in more than this share of documents.
    char_ngrams : tuple of int or None
        Range of character n-gram lengths (within word boundaries); None for none.
    char_weight : float
        Scale of the character block relative to the word block.
    max_features : int or None
        Cap on the word vocabulary, most frequent first.
    wire_shorthand : bool
        Spell out wire shorthand before tokenising (see `normalize_wire`), so that
        "mln dlrs" and "million dollars" are the same words.
    lead_words : int
        Also give the lead — the headline and the first sentences, up to about this
        many words (see `model.views.lead`) — a word TF-IDF block of its own, last;
        0 for none. What a story reports is said at its top; background comes later.
    lead_weight : float
        Scale of the lead block relative to the word block.
    cue_weight : float
        Scale of a block of signing evidence (see `model.cues`), last; 0 for none.
    index_max_df : float
        The similarity index leaves out word n-grams in more than this share of the
        training texts (from `INDEX_DF_FROM` texts on); 1.0 keeps them all.
    index_max_terms : int or None
        The similarity index keeps at most this many word n-grams, those in the most
        training texts first; None for no cap.

    Examples
    --------
    >>> f = TextFeatures(min_df=1, max_df=1.0, char_ngrams=None).fit(["solar farm", "bank loan"])
    >>> f.transform(["solar bank"]).shape
    (1, 6)
    """

    # What each parameter takes, in scikit-learn's terms (the order within a range is
    # checked by training.train.parse_params, which validates --param against these).
    _parameter_constraints = {
        "word_ngrams": [tuple, list],
        "min_df": [Interval(Integral, 1, None, closed="left"), Interval(Real, 0, 1, closed="both")],
        "max_df": [Interval(Real, 0, 1, closed="right"), Interval(Integral, 1, None, closed="left")],
        "char_ngrams": [tuple, list, None],
        "char_weight": [Interval(Real, 0, None, closed="neither")],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "wire_shorthand": ["boolean"],
        "lead_words": [Interval(Integral, 0, None, closed="left")],
        "lead_weight": [Interval(Real, 0, None, closed="neither")],
        "cue_weight": [Interval(Real, 0, None, closed="left")],
        "index_max_df": [Interval(Real, 0, 1, closed="right")],
        "index_max_terms": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, word_ngrams=(1, 2), min_df=2, max_df=0.9, char_ngrams=None,
                 char_weight=1.0, max_features=None, wire_shorthand=False, lead_words=0,
                 lead_weight=1.0, cue_weight=0.0, index_max_df=0.25, index_max_terms=16384):
        self.word_ngrams = word_ngrams
        self.min_df = min_df
        self.max_df = max_df
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.max_features = max_features
        self.wire_shorthand = wire_shorthand
        self.lead_words = lead_words
        self.lead_weight = lead_weight
        self.cue_weight = cue_weight
        self.index_max_df = index_max_df
        self.index_max_terms = index_max_terms

    # Objects pickled before the lead block, the cues and the index's own terms existed
    # have none of them: their index holds every word column.
    lead_words = 0
    lead_weight = 1.0
    lead_ = None
    cue_weight = 0.0
    index_max_df = 1.0
    index_max_terms = None
    index_terms_ = None

    def fit(self, texts, y=None):
        texts = list(texts)
        self.word_ = TfidfVectorizer(
            ngram_range=tuple(self.word_ngrams), sublinear_tf=True,
            **self._preprocessing(), min_df=self._df(self.min_df, len(texts)), max_df=self.max_df,
            max_features=self.max_features, dtype=np.float32,
        ).fit(texts)
        self.char_ = None
        if self.char_ngrams:
            self.char_ = TfidfVectorizer(
                analyzer="char_wb", ngram_range=tuple(self.char_ngrams), sublinear_tf=True,
                **self._preprocessing(), min_df=self._df(self.min_df, len(texts)),
                dtype=np.float32,
            ).fit(texts)
        self.lead_ = None
        if self.lead_words:
            self.lead_ = TfidfVectorizer(
                ngram_range=tuple(self.word_ngrams), sublinear_tf=True, **self._preprocessing(),
                min_df=self._df(self.min_df, len(texts)), max_df=self.max_df, dtype=np.float32,
            ).fit(self._leads(texts))
        self.n_word_features_ = len(self.word_.vocabulary_)
        self.feature_names_ = self._names()
        self.index_terms_ = self._index_terms(len(texts))
        return self

    def _index_terms(self, n_texts):
        """The word columns the similarity index keeps, in column order (see the class)."""
        # Document frequencies, read back from the smoothed idf: ln((1 + n) / (1 + df)) + 1
        # (float32, so a rare term of a corpus of millions may be off by one: it moves a
        # term across the cap or the bound only where the two sides are all but equal).
        idf = self.word_.idf_.astype(np.float64)
        df = np.rint((1 + n_texts) / np.exp(idf - 1) - 1)
        keep = np.ones(len(df), dtype=bool)
        if n_texts >= INDEX_DF_FROM:
            keep = df <= self.index_max_df * n_texts
        kept = np.flatnonzero(keep)
        if self.index_max_terms is not None and len(kept) > self.index_max_terms:
            kept = kept[np.argsort(-df[kept], kind="stable")[: self.index_max_terms]]
        return np.sort(kept).astype(np.int32)

    def _preprocessing(self):
        if self.wire_shorthand:
            return {"preprocessor": normalize_wire}
        return {"strip_accents": "unicode"}

    @staticmethod
    def _df(min_df, n_docs):
        # A tiny training set cannot afford to drop words seen once.
        return min_df if isinstance(min_df, float) or n_docs >= 10 * min_df else 1

    def _names(self):
        names = list(self.word_.get_feature_names_out())
        if self.char_ is not None:
            names += [f"chars:{g}" for g in self.char_.get_feature_names_out()]
        if self.lead_ is not None:
            names += [f"lead:{g}" for g in self.lead_.get_feature_names_out()]
        if self.cue_weight:
            names += list(CUE_NAMES)
        return np.asarray(names, dtype=object)

    def transform(self, texts):
        return self.transform_with_index(texts)[0]

    def transform_with_index(self, texts):
        """``transform(texts)`` and the similarity index's term counts of *texts*, tokenising once.

        The counts are over the index's terms (`index_terms_`); ``index_rows`` of them is
        ``transform_index(texts)``.
        """
        check_is_fitted(self, "word_")
        texts = list(texts)
        words, counts = self._words(texts)
        blocks = [words]
        if self.char_ is not None:
            blocks.append(self.char_.transform(texts) * np.float32(self.char_weight))
        if self.lead_ is not None:
            blocks.append(self.lead_.transform(self._leads(texts)) * np.float32(self.lead_weight))
        if self.cue_weight:
            blocks.append(signing_cues(texts, self.lead_words or 40) * np.float32(self.cue_weight))
        index_counts = self._index_counts(counts)
        if len(blocks) == 1:
            return words.tocsr(), index_counts
        return sp.hstack(blocks, format="csr", dtype=np.float32), index_counts

    def transform_words(self, texts):
        """The word block alone (``word_block(transform(texts))``), without computing the rest."""
        check_is_fitted(self, "word_")
        return self._words(list(texts))[0].tocsr()

    def _words(self, texts):
        """The word TF-IDF rows of *texts* (``word_.transform(texts)``, bit for bit) and their
        word counts."""
        if len(texts) == 1 and self._plain_word_tfidf():
            return self._word_row(texts[0])
        counts = CountVectorizer.transform(self.word_, texts)  # what word_.transform counts
        weighing = getattr(self.word_, "_tfidf", None)  # and then weighs (scikit-learn 1.5-1.9)
        if weighing is None:  # another layout: tokenise twice rather than guess
            return self.word_.transform(texts), counts
        return weighing.transform(counts.copy(), copy=False), counts

    @property
    def index_idf_(self):
        """The idf of each of the similarity index's terms (float32, by index column)."""
        check_is_fitted(self, "word_")
        idf = np.asarray(self.word_.idf_, dtype=np.float32)
        return idf if self.index_terms_ is None else idf[self.index_terms_]

    def _index_counts(self, counts):
        """Word *counts* restricted to the index's terms, renumbered: an int32 CSR matrix."""
        counts = sp.csr_matrix(counts)
        if not counts.has_sorted_indices:
            counts = counts.sorted_indices()
        if self.index_terms_ is None:
            return sp.csr_matrix((counts.data.astype(np.int32), counts.indices, counts.indptr),
                                 shape=counts.shape)
        column = self.__dict__.get("_index_column")
        if column is None:  # word column -> index column, or -1; kept, never pickled
            column = np.full(self.n_word_features_, -1, dtype=np.int32)
            column[self.index_terms_] = np.arange(len(self.index_terms_), dtype=np.int32)
            self.__dict__["_index_column"] = column
        mapped = column[counts.indices]
        kept = mapped >= 0
        indptr = np.concatenate(([0], np.cumsum(kept, dtype=np.int64)))[counts.indptr]
        return sp.csr_matrix((counts.data[kept].astype(np.int32), mapped[kept], indptr),
                             shape=(counts.shape[0], len(self.index_terms_)))

    def index_rows(self, index_counts):
        """The similarity index's rows (float32 CSR) of index term counts (see `weigh`)."""
        return weigh(index_counts, self.index_idf_)[0]

    def _leads(self, texts):
        return [lead(text, self.lead_words) for text in texts]

    def _plain_word_tfidf(self):
        w = self.word_
        return (w.sublinear_tf and w.use_idf and w.norm == "l2" and not w.binary
                and w.dtype == np.float32)

    def _word_row(self, text):
        """The row ``word_.transform([text])`` returns, bit for bit, in half the time, and its counts.

        scikit-learn's per-call checks and matrix building cost more than tokenising a
        3 KB text (0.58 against 0.28 ms here). This uses the same analyzer and the same
        float32 operations in the same order: log, +1, times idf, divided by the L2
        norm summed in float64.
        """
        analyzer = self.__dict__.get("_analyzer")
        if analyzer is None:  # building it costs 0.15 ms; kept, but never pickled
            analyzer = self.__dict__["_analyzer"] = self.word_.build_analyzer()
        vocabulary, counts = self.word_.vocabulary_, {}
        for token in analyzer(text):
            j = vocabulary.get(token)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        indices = np.fromiter(sorted(counts), dtype=np.int32, count=len(counts))
        data = np.fromiter((counts[j] for j in indices.tolist()), dtype=np.float32,
                           count=len(counts))
        indptr = np.asarray([0, len(data)], dtype=np.int32)
        shape = (1, len(self.word_.idf_))
        raw = sp.csr_matrix((data.copy(), indices, indptr), shape=shape)
        np.log(data, out=data)
        data += 1.0
        data *= self.word_.idf_[indices]
        if len(data):
            norm = np.sqrt(np.cumsum(data * data, dtype=np.float64)[-1])
            if norm > 0:
                data /= norm
        return sp.csr_matrix((data, indices, indptr), shape=shape), raw

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_analyzer", None)
        state.pop("_index_column", None)
        return state

    def word_block(self, X):
        """The word TF-IDF columns of a matrix this object produced."""
        return X[:, : self.n_word_features_] if X.shape[1] > self.n_word_features_ else X

    @property
    def n_index_terms(self):
        """Width of the similarity index's rows."""
        check_is_fitted(self, "word_")
        return self.n_word_features_ if self.index_terms_ is None else len(self.index_terms_)

    @property
    def index_names_(self):
        """The similarity index's terms, by column (what shared terms are called)."""
        names = self.feature_names_[: self.n_word_features_]
        return names if self.index_terms_ is None else names[self.index_terms_]

    def transform_index(self, texts):
        """The similarity index's rows of *texts*: float32 CSR, one row L2-normalised at a time.

        The kept word columns' sublinear TF-IDF (see `model.similarity.weigh`), so a row
        does not depend on the others it came with.
        """
        check_is_fitted(self, "word_")
        return self.index_rows(self._index_counts(self._words(list(texts))[1]))
