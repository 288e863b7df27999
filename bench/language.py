"""How well tagsim tells English from other languages (model/language.py).

False positives: the share of English articles flagged "not English" — the corpus
(data/articles.jsonl.gz), both real dev sets, Reuters-21578 (terse 1987 wire copy,
earnings tables included) and BBC News, read where they are (``--datasets``), never
copied. Detection: the share of the non-English paragraphs written for the tests
(tests/model/non_english.jsonl: business news in German, French, Spanish, Portuguese,
Indonesian, Malay, Turkish, Italian, Dutch, Russian, Chinese, about invented firms)
that are flagged, whole and cut to their first sentence or first 25 words.

    python bench/language.py [--data data/articles.jsonl.gz] [--datasets ../shared/datasets]
                             [--samples tests/model/non_english.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.language import MIN_SHARE, MIN_WORDS, english_share, looks_english  # noqa: E402

ENGLISH_SETS = ("real_deals_dev.jsonl", "real_modern_dev.jsonl", "reuters21578_modapte.jsonl.gz",
                "bbc_news.jsonl.gz")


def read_jsonl(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def article(record):
    """Title and text as the API reads them (model/language.py `language_warning`)."""
    return f"{record.get('title') or ''}\n{record.get('text') or ''}"


def false_positives(name, texts):
    """How many of the English *texts* are flagged, too short to judge, and the lowest shares."""
    verdicts = [looks_english(t) for t in texts]
    judged = sorted(english_share(t)[0] for t, v in zip(texts, verdicts, strict=True) if v is not None)
    flagged = [t for t, v in zip(texts, verdicts, strict=True) if v is False]
    return {"set": name, "n": len(texts), "flagged": len(flagged),
            "rate": len(flagged) / len(texts) if texts else 0.0,
            "too_short": sum(v is None for v in verdicts),
            "lowest_share": judged[0] if judged else None,
            "share_1st_percentile": judged[len(judged) // 100] if judged else None,
            "examples": [t[:160] for t in flagged[:3]]}


def first_sentence(text):
    return re.split(r"(?<=[.!?。])\s*", text, maxsplit=1)[0]


def detection(samples):
    """Per language and cut: how many paragraphs are flagged, missed, or too short to judge."""
    cuts = {"whole": lambda t: t, "first sentence": first_sentence,
            "first 25 words": lambda t: " ".join(t.split()[:25])}
    rows = []
    for cut, shorten in cuts.items():
        verdicts = [(s["language"], looks_english(shorten(s["text"]))) for s in samples]
        rows.append({"cut": cut, "n": len(verdicts),
                     "flagged": sum(v is False for _, v in verdicts),
                     "too_short": sum(v is None for _, v in verdicts),
                     "missed": sorted(lang for lang, v in verdicts if v is True)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "articles.jsonl.gz")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets",
                        help="folder of the public corpora (read in place)")
    parser.add_argument("--samples", type=Path, default=ROOT / "tests" / "model" / "non_english.jsonl")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    sets = [("corpus", args.data)] + [(name.split(".")[0], args.datasets / name)
                                      for name in ENGLISH_SETS]
    started = time.perf_counter()
    english, skipped = [], []
    for name, path in sets:
        if path.exists():
            english.append(false_positives(name, [article(r) for r in read_jsonl(path)]))
        else:
            skipped.append(str(path))
    detected = detection(read_jsonl(args.samples))
    seconds = time.perf_counter() - started
    checked = sum(row["n"] for row in english) + sum(row["n"] for row in detected)
    result = {"min_words": MIN_WORDS, "min_share": MIN_SHARE, "english": english,
              "non_english": detected, "skipped": skipped,
              "ms_per_text": 1000 * seconds / max(checked, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"English flagged as not English (a text of {MIN_WORDS}+ words with under "
          f"{MIN_SHARE:.0%} common English words):\n")
    print("| set | texts | flagged | rate | too short to judge | lowest share | 1st percentile |")
    print("|---|---|---|---|---|---|---|")
    for row in english:
        print(f"| {row['set']} | {row['n']:,} | {row['flagged']} | {row['rate']:.2%} | "
              f"{row['too_short']} | {row['lowest_share'] or 0:.3f} | "
              f"{row['share_1st_percentile'] or 0:.3f} |")
    print("\nNon-English paragraphs (tests/model/non_english.jsonl) flagged:\n")
    print("| cut | paragraphs | flagged | too short to judge | missed |")
    print("|---|---|---|---|---|")
    for row in detected:
        print(f"| {row['cut']} | {row['n']} | {row['flagged']} | {row['too_short']} | "
              f"{', '.join(row['missed']) or '-'} |")
    for row in english:
        for example in row["examples"]:
            print(f"\nflagged in {row['set']}: {example!r}")
    for path in skipped:
        print(f"\nskipped (not found): {path}")
    print(f"\n{result['ms_per_text']:.3f} ms per text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
