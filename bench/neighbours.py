"""How useful are similar-article results? Leave-one-out label agreement on a corpus.

For every article, its top-k neighbours (itself excluded) are looked up and we count the
share that (a) has the same agreement type, (b) shares a sector (or, for an article with
no sector, also has none), and (c) both. tagsim's index is compared with a plain
scikit-learn TF-IDF cosine (default TfidfVectorizer) and with the tagger's whole word
block (what the index held before it had terms of its own) in the same run.

    python bench/neighbours.py [--data data/articles.jsonl.gz] [-k 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from model.similarity import SimilarityIndex
from training.datasets import load_dataset
from training.train import make_tagger


def agreement(dataset, index, k):
    sectors = [set(s) for s in dataset.targets["sectors"]]
    types = dataset.targets["agreement_type"]
    same_type = shared_sector = both = total = 0
    matrix = index.matrix  # decoded once
    for i in range(len(dataset)):
        allowed = np.ones(len(dataset), dtype=bool)
        allowed[i] = False
        rows, _ = index.top_k(matrix[i], k, allowed)
        for j in rows:
            t = types[j] == types[i]
            s = bool(sectors[i] & sectors[j]) or (not sectors[i] and not sectors[j])
            same_type += t
            shared_sector += s
            both += t and s
            total += 1
    return same_type / total, shared_sector / total, both / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/articles.jsonl.gz")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    dataset = load_dataset(args.data)
    rows = []
    started = time.perf_counter()
    tagger = make_tagger(dataset.specs)
    ours = tagger.features.fit(dataset.texts)
    X, counts = ours.transform_with_index(dataset.texts)
    index = SimilarityIndex.from_counts(counts, ours.index_idf_, dataset.ids)
    rows.append((f"tagsim index ({index.n_terms:,} terms: word 1-2-grams in at most "
                 f"{ours.index_max_df:.0%} of the texts, the {ours.index_max_terms:,} most "
                 "widespread)", agreement(dataset, index, args.k),
                 time.perf_counter() - started))
    started = time.perf_counter()
    words = ours.word_block(X)
    rows.append((f"the tagger's whole word block ({words.shape[1]:,} terms; the index before "
                 "issue 23)", agreement(dataset, SimilarityIndex(words, dataset.ids), args.k),
                 time.perf_counter() - started))
    started = time.perf_counter()
    plain = TfidfVectorizer().fit_transform(dataset.texts)
    rows.append(("plain TfidfVectorizer() cosine (baseline)",
                 agreement(dataset, SimilarityIndex(plain, dataset.ids), args.k),
                 time.perf_counter() - started))
    rng = np.random.default_rng(0)
    types = np.array(dataset.targets["agreement_type"])
    sectors = [set(s) for s in dataset.targets["sectors"]]
    pairs = rng.integers(0, len(dataset), size=(20000, 2))
    chance = (np.mean([types[a] == types[b] for a, b in pairs]),
              np.mean([bool(sectors[a] & sectors[b]) or (not sectors[a] and not sectors[b])
                       for a, b in pairs]),
              np.mean([types[a] == types[b] and (bool(sectors[a] & sectors[b])
                                                 or (not sectors[a] and not sectors[b]))
                       for a, b in pairs]))
    rows.append(("random articles (chance)", chance, 0.0))
    print(f"Leave-one-out over {len(dataset)} articles of {args.data}, top-{args.k} neighbours\n")
    print("| index | same agreement type | shares a sector | both | seconds |")
    print("|---|---|---|---|---|")
    for name, (t, s, b), secs in rows:
        print(f"| {name} | {t:.3f} | {s:.3f} | {b:.3f} | {secs:.1f} |")
    ratio = rows[0][1][2] / rows[2][1][2]
    print(f"\nboth-criteria ratio, tagsim / plain TF-IDF: {ratio:.2f}")


if __name__ == "__main__":
    main()
