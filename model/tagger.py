"""The tagger: one shared feature space and a set of heads, answering in the API's shape."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from model.errors import InvalidInput
from model.features import TextFeatures, document_text, require_words
from model.heads import CalibratedLinearHead
from model.views import short_views

_KINDS = {"multi-label": True, "single-label": False}


@dataclass(frozen=True)
class HeadSpec:
    """What a head predicts, and the names the API gives it.

    ``name`` is the label field (in datasets, documents and answers); ``filter_field``
    the `/v1/similar` field that keeps documents carrying one label (default: the
    name); ``scores_field`` the answer key of every label's probability (default:
    ``<name>_scores``).
    """

    name: str
    multilabel: bool
    labels: tuple[str, ...]
    filter_field: str = ""
    scores_field: str = ""

    def __post_init__(self):
        if not self.filter_field:
            object.__setattr__(self, "filter_field", self.name)
        if not self.scores_field:
            object.__setattr__(self, "scores_field", f"{self.name}_scores")

    @classmethod
    def from_manifest(cls, entry: dict) -> HeadSpec:
        """The head a manifest's ``heads`` entry describes (see `Tagger.manifest_heads`)."""
        return cls(str(entry["name"]), _KINDS[entry["kind"]], tuple(map(str, entry["labels"])),
                   str(entry["filter_field"]), str(entry["scores_field"]))

    def normalise(self, value, field=None, known=True):
        """*value* as this head stores labels: a sorted list without repeats, or one label.

        The one check of a labelling, wherever labels come in (the API, review files,
        training data, stored documents). `InvalidInput` says what is wrong in the
        API's words, naming *field* (default: the head's name): a list where one label
        is due or the reverse, an empty label, or — with *known* — a label the head
        does not have (*known* False takes any non-empty label: a head whose labels are
        whatever its data holds).

        >>> HeadSpec("sectors", True, ("biomed", "policy")).normalise(["policy", "biomed", "policy"])
        ['biomed', 'policy']
        >>> HeadSpec("type", False, ("mou", "none")).normalise("deal")
        Traceback (most recent call last):
        ...
        model.errors.InvalidInput: field 'type': unknown label 'deal'; expected one of mou, none
        """
        field = field or self.name
        if self.multilabel and not isinstance(value, list):
            raise InvalidInput(f"field {field!r}: expected a list of labels")
        if not self.multilabel and not isinstance(value, str):
            raise InvalidInput(f"field {field!r}: expected one label (a string)")
        for label in value if self.multilabel else [value]:
            if not isinstance(label, str) or not label:
                raise InvalidInput(f"field {field!r}: every label must be a non-empty string")
            if known and label not in self.labels:
                raise InvalidInput(f"field {field!r}: unknown label {label!r}; expected one of "
                                   + ", ".join(self.labels))
        return sorted(set(value)) if self.multilabel else value

    def accepts(self, value) -> bool:
        """Whether *value* is a valid labelling of this head (see `normalise`)."""
        try:
            self.normalise(value)
        except InvalidInput:
            return False
        return True


class Tagger:
    """Fitted features plus heads; immutable once fitted.

    Parameters
    ----------
    features : TextFeatures
        Unfitted feature space.
    specs : list of HeadSpec
        The heads to fit, in answer order.
    head_params : dict
        Keyword arguments for every `CalibratedLinearHead`.
    view_words : tuple of int
        Also train the heads on the lead of each longer article, cut near each of these
        lengths in words (see `model.views`); the features are fitted on whole texts.
    """

    def __init__(self, features: TextFeatures, specs: list[HeadSpec], head_params=None,
                 view_words=()):
        self.features = features
        self.specs = list(specs)
        self.head_params = dict(head_params or {})
        self.view_words = (view_words,) if isinstance(view_words, int) else tuple(view_words)
        self.heads: dict[str, CalibratedLinearHead] = {}

    def fit(self, texts, targets, progress=None):
        """Fit the features on *texts* and each head on ``targets[name]``.

        ``targets[name]`` is a list of label lists (multi-label) or of labels.
        """
        texts = list(texts)
        X = self.features.fit(texts).transform(texts)
        rows, groups = np.arange(len(texts)), None
        views = short_views(texts, self.view_words)
        if views:
            rows = np.concatenate([rows, [r for r, _ in views]]).astype(np.intp)
            X = sp.vstack([X, self.features.transform([v for _, v in views])], format="csr")
            groups = rows
        for spec in self.specs:
            if progress:
                progress(f"fitting head {spec.name}")
            head = CalibratedLinearHead(multilabel=spec.multilabel, **self.head_params)
            head.fit(X, encode(spec, [targets[spec.name][i] for i in rows]), groups=groups)
            self.heads[spec.name] = head
        return self

    def vectorize(self, docs):
        """Feature matrix for (title, text) pairs."""
        return self.features.transform([document_text(t, x) for t, x in docs])

    def given_or_predicted(self, X, given):
        """Each row's labels: per head, its own where they are valid, else the predicted ones.

        The one rule for documents that come with labels or without (the API's and an
        index's): a head that is missing, None, or holds labels the head does not know
        is predicted.

        Parameters
        ----------
        X : sparse matrix
            Feature rows (from `vectorize`, or ``features.transform`` of joined texts).
        given : list of dict
            Per row, head name -> the labels it came with: a list for a multi-label
            head, a string otherwise.

        Returns
        -------
        list of (dict, list of str)
            Per row, head name -> labels (multi-label: a sorted list without repeats),
            and the names of the heads whose labels were predicted.
        """
        guesses = self.predict_labels(X)
        rows = []
        for i, own in enumerate(given):
            labels, predicted = {}, []
            for spec in self.specs:
                try:
                    labels[spec.name] = spec.normalise(own.get(spec.name))
                except InvalidInput:
                    labels[spec.name] = guesses[spec.name][i]
                    predicted.append(spec.name)
            rows.append((labels, predicted))
        return rows

    def manifest_heads(self) -> list[dict]:
        """The heads as a manifest records them: kind, labels, API names, thresholds."""
        entries = []
        for spec in self.specs:
            entry = {"name": spec.name, "kind": "multi-label" if spec.multilabel else "single-label",
                     "labels": list(self.labels_of(spec)), "filter_field": spec.filter_field,
                     "scores_field": spec.scores_field}
            if spec.multilabel:
                entry["thresholds"] = dict(zip(spec.labels, map(float,
                                                                self.heads[spec.name].thresholds_),
                                               strict=True))
            entries.append(entry)
        return entries

    def predict_labels(self, X):
        """Per head, the predicted label list (multi-label) or label, for each row of X."""
        out = {}
        for spec in self.specs:
            head = self.heads[spec.name]
            if spec.multilabel:
                out[spec.name] = [[spec.labels[j] for j in np.flatnonzero(row)]
                                  for row in head.predict(X)]
            else:
                out[spec.name] = [str(c) for c in head.predict(X)]
        return out

    def operating_point(self, threshold=None, limit=None):
        """Per multi-label head, the thresholds a request asks for (None: the tuned ones).

        *threshold* is a number for every label of every multi-label head, or a mapping
        of label to number (other labels keep their tuned thresholds); numbers lie in
        [0, 1]. *limit* (1 or more) keeps at most that many labels per head. Raises
        `InvalidInput` naming the field when a value is out of range or a label unknown.

        Examples
        --------
        >>> from model.features import TextFeatures
        >>> t = Tagger(TextFeatures(), [HeadSpec("tags", True, ("a", "b"))])
        >>> t.heads["tags"] = type("Head", (), {"thresholds_": np.array([0.5, 0.4])})()
        >>> t.operating_point({"b": 0.9}, limit=1)
        ({'tags': array([0.5, 0.9])}, 1)
        """
        multi = [spec for spec in self.specs if spec.multilabel]
        cuts = {spec.name: None for spec in multi}
        if threshold is not None:
            if isinstance(threshold, dict):
                known = {label for spec in multi for label in spec.labels}
                unknown = sorted(set(threshold) - known)
                if unknown:
                    raise InvalidInput(f"threshold names an unknown label {unknown[0]!r}; the "
                                       f"labels are {', '.join(sorted(known)) or 'none'}")
            for spec in multi:
                tuned = np.asarray(self.heads[spec.name].thresholds_, dtype=np.float64)
                if isinstance(threshold, dict):
                    cuts[spec.name] = np.array([threshold.get(label, tuned[j])
                                                for j, label in enumerate(spec.labels)])
                else:
                    cuts[spec.name] = np.full(len(spec.labels), threshold, dtype=np.float64)
            values = threshold.values() if isinstance(threshold, dict) else [threshold]
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                    raise InvalidInput(f"threshold must be a number between 0 and 1; got {v!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidInput(f"limit must be a whole number, 1 or more; got {limit!r}")
        return cuts, limit

    def tag(self, docs, explain=False, top_terms=8, threshold=None, limit=None):
        """Answer the /v1/tag question for each (title, text) pair.

        *threshold* and *limit* set the operating point of the multi-label heads (see
        `operating_point`); by default each label uses its tuned threshold.
        Raises `EmptyText` when an article (title and text together) has no word at all.
        """
        cuts, limit = self.operating_point(threshold, limit)
        for title, text in docs:
            require_words(document_text(title, text))
        X = self.vectorize(docs)
        answers = [{} for _ in docs]
        for spec in self.specs:
            proba = self.heads[spec.name].predict_proba(X)
            for i, p in enumerate(proba):
                answers[i].update(self._answer(spec, p, cuts.get(spec.name), limit))
        if explain:
            for i, answer in enumerate(answers):
                answer["explanation"] = self.explain(X[i], answer, top_terms)
        return answers

    def labels_of(self, spec: HeadSpec) -> tuple[str, ...]:
        """The labels a head scores, in column order."""
        return spec.labels if spec.multilabel else tuple(map(str, self.heads[spec.name].classes_))

    def _answer(self, spec, p, thresholds=None, limit=None):
        labels = self.labels_of(spec)
        scores = {label: round(float(s), 6) for label, s in zip(labels, p, strict=True)}
        if spec.multilabel:
            passed = np.flatnonzero(self.heads[spec.name].decide(p[None, :], thresholds, limit)[0])
            ranked = sorted(passed, key=lambda j: -p[j])
            chosen = [{"label": labels[j], "score": scores[labels[j]]} for j in ranked]
        else:
            j = int(np.argmax(p))
            chosen = {"label": labels[j], "score": scores[labels[j]]}
        return {spec.name: chosen, spec.scores_field: scores}

    def explain(self, x, answer, top_terms=8):
        """Top terms behind each predicted label: coefficient times feature value.

        A term's weight in the lead block (``lead:…``) adds to the same term's in the
        body, so each term is listed once, as the text has it.
        """
        x = sp.csr_matrix(x)
        names = self.features.feature_names_
        terms = [str(names[i]).removeprefix("lead:") for i in x.indices]
        out = {}
        for spec in self.specs:
            head = self.heads[spec.name]
            chosen = answer[spec.name]
            labels = [c["label"] for c in chosen] if spec.multilabel else [chosen["label"]]
            out[spec.name] = {}
            for label in labels:
                j = self.labels_of(spec).index(label)
                by_term: dict[str, float] = {}
                for term, c in zip(terms, x.data * head.coef_[j, x.indices], strict=True):
                    by_term[term] = by_term.get(term, 0.0) + float(c)
                top = sorted(by_term.items(), key=lambda tc: -tc[1])[:top_terms]
                out[spec.name][label] = [{"term": term, "weight": round(c, 6)}
                                         for term, c in top if c > 0]
        return out


def encode(spec: HeadSpec, values):
    """Labels as a head fits them: an indicator matrix or a vector of label strings."""
    if not spec.multilabel:
        return np.asarray(values, dtype=object)
    index = {label: j for j, label in enumerate(spec.labels)}
    Y = np.zeros((len(values), len(spec.labels)), dtype=np.int8)
    for i, labels in enumerate(values):
        for label in labels:
            Y[i, index[label]] = 1
    return Y
