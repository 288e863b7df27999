"""bench/levers.py on a tiny fixture: each setting gets CV and both dev figures."""

import importlib.util
import sys

import pytest

from tests.conftest import ROOT, write_jsonl
from training.datasets import load_dataset

sys.path.insert(0, str(ROOT / "bench"))  # levers.py imports real.py beside it, as a script does
spec = importlib.util.spec_from_file_location("bench_levers", ROOT / "bench" / "levers.py")
levers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(levers)


@pytest.fixture(scope="module")
def small(tmp_path_factory, corpus_records):
    folder = tmp_path_factory.mktemp("levers")
    corpus = load_dataset(write_jsonl(folder / "corpus.jsonl", corpus_records[::5]))
    dev = load_dataset(write_jsonl(folder / "dev.jsonl", [
        {**r, "id": f"dev-{r['id']}", "text": " ".join(r["text"].split()[:50])}
        for r in corpus_records[2::50]]))
    return corpus, {"dev_a": dev}


def test_a_lever_changes_the_model_and_every_figure_is_reported(small):
    corpus, devs = small
    plain = levers.measure(corpus, devs, levers.LEVERS["defaults before issue 21"], folds=2)
    lead = levers.measure(corpus, devs, levers.LEVERS["lead block, 40 words"], folds=2)
    for row in (plain, lead):
        assert 0.5 <= row["cv_agreement_accuracy"] <= 1 and 0.5 <= row["cv_sector_micro_f1"] <= 1
        assert set(row["dev_a"]) == {"agreement_accuracy", "none_recall", "sp_precision",
                                     "sector_micro_f1", "fully_right"}
    # The setting reaches the model measured: the lead block is there, and only there.
    tagger, _ = levers.fit_tagsim(corpus, **levers.LEVERS["lead block, 40 words"])
    assert tagger.features.lead_ is not None and tagger.features.lead_weight == 1.0
    before, _ = levers.fit_tagsim(corpus, **levers.LEVERS["defaults before issue 21"])
    assert before.features.lead_ is None and before.heads["agreement_type"].null_label is None
    table = levers.report({"defaults": plain, "lead": lead}, ["dev_a"])
    assert table.count("\n") == 3 and "dev_a none recall" in table
