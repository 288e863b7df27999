import json
import shutil

import pytest

from tests.conftest import write_jsonl
from training.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_version_and_metrics(tmp_path, small_corpus, capsys):
    code, out, err = run(capsys, "train", "--data", str(small_corpus), "--home", str(tmp_path),
                         "--folds", "2")
    assert code == 0
    assert (tmp_path / "versions" / out.strip()).is_dir()
    assert "| sectors | multi-label |" in err and "cross-validating" in err
    assert "\r" not in err  # no progress bar when stderr is not a terminal (a log)


def test_train_bad_record_is_one_line_and_exit_1(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": "Deal.", "sectors": [],
                                               "agreement_type": "merger"}])
    code, out, err = run(capsys, "train", "--data", str(data), "--home", str(tmp_path / "h"))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"tagsim train: error: {data}, line 1, field 'agreement_type': "
                          "unknown label 'merger'")
    assert not (tmp_path / "h" / "current").exists()


def test_tag_prints_the_api_answer(trained_home, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("The bank signed a letter of intent to buy a payments start-up.")
    code, out, _ = run(capsys, "tag", "--home", str(trained_home), str(article))
    answer = json.loads(out)
    assert code == 0
    assert set(answer) == {"model_version", "sectors", "sector_scores", "agreement_type",
                           "agreement_scores"}


def test_tag_reads_json_and_stdin_with_explain(trained_home, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(
        {"title": "Solar", "text": "A solar farm was financed by a green bond."})))
    code, out, _ = run(capsys, "tag", "--home", str(trained_home), "--explain", "-")
    assert code == 0 and "explanation" in json.loads(out)


@pytest.mark.parametrize("content, message", [
    ("   ", "text has no words"),
    ('{"text": 5}', "needs a string field 'text'"),
    ('{"text": "x", "title": 3}', "field 'title': must be a string"),
])
def test_tag_bad_input(trained_home, tmp_path, capsys, content, message):
    path = tmp_path / "a.txt"
    path.write_text(content)
    code, _, err = run(capsys, "tag", "--home", str(trained_home), str(path))
    assert code == 1 and message in err and err.count("\n") == 1


def test_tag_missing_file_and_missing_model(tmp_path, trained_home, capsys):
    code, _, err = run(capsys, "tag", "--home", str(trained_home), str(tmp_path / "nope.txt"))
    assert code == 1 and "nope.txt: cannot read" in err
    code, _, err = run(capsys, "tag", "--home", str(tmp_path), str(tmp_path / "nope.txt"))
    assert code == 1 and "no trained model" in err


def loaded_labels(home):
    from model.loaded import load_verified

    head = {h.name: h for h in load_verified(home, with_index=False).heads}["agreement_type"]
    return head.labels


def test_evaluate_json_shape(trained_home, small_corpus, capsys):
    code, out, _ = run(capsys, "evaluate", "--home", str(trained_home), "--data",
                       str(small_corpus), "--json")
    metrics = json.loads(out)
    assert code == 0
    assert set(metrics) == {"sectors", "agreement_type"}
    assert set(metrics["agreement_type"]) == {"accuracy", "micro_f1", "macro_f1", "n",
                                              "per_label"}
    assert set(metrics["agreement_type"]["per_label"]) == set(loaded_labels(trained_home))
    assert {"precision_at_1", "ndcg", "lrap"} <= set(metrics["sectors"])
    assert metrics["agreement_type"]["accuracy"] > 0.9  # the data it was trained on


def test_evaluate_cross_validation(small_corpus, capsys):
    code, out, _ = run(capsys, "evaluate", "--data", str(small_corpus), "--cv", "2", "--json")
    metrics = json.loads(out)
    assert code == 0 and 0.3 < metrics["agreement_type"]["macro_f1"] <= 1.0
    assert metrics["sectors"]["n"] == len(small_corpus.read_text().splitlines())


def outcome(capsys, argv):
    """(exit status, stdout, stderr) of `tagsim ARGV`, usage errors included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path, trained_home):
    """The paths the mistakes below name."""
    few = write_jsonl(tmp_path / "few.jsonl", [
        {"id": f"d{i}", "text": f"{'solar grid' if i % 2 else 'bank loan'} story {i}",
         "label": "rare" if i < 2 else ["alpha", "beta"][i % 2]} for i in range(20)])
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"id": "a", "text": "A deal.", "sectors": [], "agreement_type": "none"},
        '{"id": "b", "text": oops}'])
    merger = write_jsonl(tmp_path / "merger.jsonl", [
        {"id": "m", "text": "Two banks merge.", "sectors": ["banking"], "agreement_type": "none"}])
    empty = write_jsonl(tmp_path / "empty.jsonl", [
        {"id": "e", "title": "", "text": " ", "sectors": [], "agreement_type": "none"}])
    (tmp_path / "bad.json").write_text('{"text": "a bank deal",}')
    (tmp_path / "a-file").write_text("not a folder")
    return {"few": few, "bad": bad, "merger": merger, "empty": empty, "home": trained_home,
            "json": tmp_path / "bad.json", "file": tmp_path / "a-file", "folder": tmp_path,
            "out": tmp_path / "out",
            "nohome": tmp_path / "no-home", "data": small_corpus_path(trained_home)}


def small_corpus_path(home):
    return json.loads((home / "current" / "manifest.json").read_text())["dataset"]["path"]


# Each mistake of issue 12: usage errors exit 2, data errors 1, always one line naming the
# option or the file, line and field.
@pytest.mark.parametrize("argv, code, message", [
    ("train --data {data} --param heads.C=abc", 2,
     "argument --param: heads.C=abc: The 'C' parameter of CalibratedLinearHead must be a float"),
    ("train --data {data} --param heads.C=-1", 2, "argument --param: heads.C=-1: The 'C'"),
    ("train --data {data} --param features.word_ngrams=abc", 2,
     "argument --param: features.word_ngrams=abc: The 'word_ngrams' parameter"),
    ("train --data {data} --param features.min_df=0.5.1", 2,
     "argument --param: features.min_df=0.5.1: The 'min_df' parameter"),
    ("train --data {data} --param features.word_ngrams=3,1", 2, "1 <= LOW <= HIGH"),
    ("train --data {data} --param foo.bar=1", 2, "argument --param: expects GROUP.NAME=VALUE"),
    ("train --data {data} --where split", 2, "argument --where: expected FIELD=VALUE"),
    ("train --data {data} --folds 1", 2, "argument --folds: expected 0"),
    ("train --data {data} --folds -3", 2, "argument --folds: expected 0"),
    ("evaluate --data {data} --cv 5 --holdout 0.2", 2, "argument --holdout: not allowed with"),
    ("evaluate --data {data} --cv 1", 2, "argument --cv: expected a whole number of folds"),
    ("train --data {data} --home {file}", 2, "argument --home: {file} is a file"),
    ("train", 2, "the following arguments are required: --data"),
    ("serve --port 99999", 2, "argument --port: expected a whole number from 0 to 65535"),
    ("serve --workers 0", 2, "argument --workers: expected a whole number from 1"),
    ("serve --host nope.invalid", 2, "argument --host: expected an IP address such as 127.0.0.1"),
    ("similar --home {home} -k 0 {json}", 2, "argument -k: expected a whole number from 1 to 100"),
    # Issue 22: the options checked after parsing exit 2 as well, in argparse's words.
    ("tag --home {home} --threshold 2 {json}", 2,
     "argument --threshold: expected probabilities between 0 and 1, got '2'"),
    ("tag --home {home} --threshold biomed=-1 {json}", 2, "argument --threshold: expected"),
    ("tag --home {home} --threshold nope=0.5 {json}", 2,
     "argument --threshold: names an unknown label 'nope'; the labels are "),
    ("tag --home {home} --data {data} --out {file}", 2,
     "argument --out: {file} is a file; give a folder"),
    ("tag --home {home} --data {data} --out {out} --similar 101", 2,
     "argument --similar: expected a whole number from 0 to 100"),
    ("tag --home {home} --data {data} --out {out} --workers 0", 2, "argument --workers: expected"),
    ("tag --home {home} --data {data} --out {out} --threshold nope=0.5", 2,
     "argument --threshold: names an unknown label 'nope'"),
    ("review export --home {home} --head nope", 2,
     "tagsim review export: error: argument --head: expected one of sectors, agreement_type"),
    ("review export --home {home} --limit 0", 2,
     "argument --limit: expected a whole number from 1 to 500, got '0'"),
    ("review export --home {home} --out {folder}", 2, "argument --out: {folder} is a folder"),
    ("review export --home {home} --config {folder}", 2, "argument --config: {folder} is a folder"),
    ("tag --home {home} --data {data} --out {out} --scheduler nope", 2,
     "argument --scheduler: missing port number in address 'nope'; give an address such as "),
    ("index --home {home} --data {data} --scheduler nope", 2, "argument --scheduler: missing port"),
    ("rollback --home {home} --to nope", 2, "argument --to: no version 'nope' in "),
    ("tune --data {data} --budget 1s", 2, "argument --budget: give at least 1m"),
    ("tune --data {data} --trials 0", 2, "argument --trials: expected a whole number, 1 or more"),
    ("tune --data {data} --out {folder}", 2, "argument --out: {folder} is a folder"),
    ("tune --data {data} --seed -1", 2, "argument --seed: expected a whole number, 0 or more"),
    ("evaluate --data {data} --home {home} --param heads.C=1", 2,
     "argument --param: only applies with --cv or --holdout"),
    ("evaluate --data {data} --home {home} --label-field nope", 2,
     "argument --label-field: nope: the model in {home} has no such head"),
    ("train --data {few} --label-field label --home {nohome}", 1,
     "{few}, field 'label': label 'rare' has 2 records, fewer than the 5 folds of --folds; "
     "use --folds 2 or fewer"),
    ("evaluate --data {few} --label-field label --cv 5", 1,
     "label 'rare' has 2 records, fewer than the 5 folds of --cv"),
    ("train --data {data} --home /proc/tagsim-home", 1, "cannot write to the home folder"),
    ("train --data {data} --home {file}/sub", 1, "cannot write to the home folder"),
    ("evaluate --data {merger} --home {home}", 1,
     "{merger}, line 1, field 'sectors': unknown label 'banking'"),
    ("evaluate --data {bad} --home {home}", 1, "{bad}, line 2, column 21: not valid JSON"),
    ("evaluate --data {empty} --home {home}", 1,
     "{empty}, line 1, field 'text': no text, nor in 'title'; give the record some text, or "
     "pass --allow-empty"),
    ("tag --home {home} {json}", 1, "{json}, line 1, column 24: not valid JSON"),
    ("rollback --home {nohome}", 1, "no versions in"),
    ("versions --home {nohome}", 1, "no versions in {nohome}: train one"),
])
def test_every_mistake_is_one_line_with_the_right_exit_status(capsys, files, argv, code, message):
    got, out, err = outcome(capsys, argv.format(**files).split())
    assert (got, out) == (code, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message.format(**files) in err
    assert err.startswith("tagsim")
    if code == 2:  # a usage error points at the command's help, as argparse's own do
        assert err.rstrip().endswith("--help'"), err
    assert not files["out"].exists()


def test_index_advises_only_what_index_takes(capsys, files):
    code, out, err = outcome(capsys, ["index", "--data", str(files["empty"]), "--home",
                                      str(files["home"])])
    assert (code, out) == (1, "") and "Traceback" not in err
    assert err.splitlines()[-1] == (  # after the progress line "indexing ... with model ..."
        f"tagsim index: error: {files['empty']}, line 1, field 'text': no text, nor in 'title'; "
        "give the record some text, or leave it out: there is nothing to read in it")


def test_evaluate_on_the_training_data_warns(capsys, trained_home):
    data = small_corpus_path(trained_home)
    code, out, err = outcome(capsys, ["evaluate", "--home", str(trained_home), "--data", data,
                                      "--json"])
    assert code == 0 and json.loads(out)["agreement_type"]["n"] > 0
    assert "warning: " + data + " is the data version" in err and "--holdout" in err


def test_evaluate_warns_only_when_the_filter_reads_the_training_records(
        tmp_path, corpus_records, capsys):
    rows = [{**r, "split": "train" if i % 3 else "test", "lang": "en"}
            for i, r in enumerate(corpus_records[:300])]
    data = str(write_jsonl(tmp_path / "split.jsonl", rows))
    home = str(tmp_path / "home")
    assert outcome(capsys, ["train", "--data", data, "--where", "split=train", "--home", home,
                            "--folds", "0", "--quiet"])[0] == 0
    warned = {}
    for where in ("split=test", "split=train", "lang=en", None):
        code, _, err = outcome(capsys, ["evaluate", "--home", home, "--data", data, "--json"]
                               + (["--where", where] if where else []))
        assert code == 0
        warned[where] = "optimistic" in err
    assert warned == {"split=test": False, "split=train": True, "lang=en": True, None: True}


def test_a_record_with_a_title_and_no_body_is_used(tmp_path, trained_home, capsys):
    data = write_jsonl(tmp_path / "t.jsonl", [
        {"id": "t", "title": "Bank buys a payments lender", "text": "", "sectors": ["fintech"],
         "agreement_type": "acquisition"}])
    code, out, err = outcome(capsys, ["evaluate", "--home", str(trained_home), "--data",
                                      str(data), "--json"])
    assert code == 0 and json.loads(out)["sectors"]["n"] == 1, err


def test_serve_explains_its_options_and_warns_on_an_open_host(capsys, tmp_path, monkeypatch):
    code, out, _ = outcome(capsys, ["serve", "--help"])
    assert code == 0
    for option in ("--host", "--port", "--workers"):
        assert option in out
    assert "this machine" in " ".join(out.split()) and "TAGSIM_THREADS" in out
    monkeypatch.delenv("TAGSIM_API_TOKEN", raising=False)
    code, _, err = outcome(capsys, ["serve", "--home", str(tmp_path), "--host", "0.0.0.0"])
    assert code == 1 and "no trained model" in err
    assert "warning: listening on 0.0.0.0 with no TAGSIM_API_TOKEN: anyone" in err


def test_a_closed_pipe_is_not_a_traceback(trained_home, tmp_path):
    import subprocess
    import sys

    article = tmp_path / "a.txt"
    article.write_text("A wind farm developer signed a power purchase agreement.")
    proc = subprocess.run(f"{sys.executable} -m training.cli similar --home {trained_home} "
                          f"-k 100 --terms 100 {article} | head -c 1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout == "{" and proc.stderr == ""


def test_versions_and_rollback(tmp_path, small_corpus, capsys):
    from training.train import train

    quiet = {"folds": 0, "progress": False, "log": lambda *_: None}
    first = train(small_corpus, tmp_path, **quiet)["version"]
    second = train(small_corpus, tmp_path, **quiet)["version"]
    code, out, _ = run(capsys, "versions", "--home", str(tmp_path))
    assert code == 0 and out.splitlines() == [f"  {first}", f"* {second}"]
    code, out, _ = run(capsys, "rollback", "--home", str(tmp_path))
    assert code == 0 and out.strip() == first
    code, _, err = run(capsys, "rollback", "--home", str(tmp_path))
    assert code == 1 and "no version older" in err
    code, out, _ = run(capsys, "rollback", "--home", str(tmp_path), "--to", second)
    assert code == 0 and out.strip() == second


def test_similar_and_index_commands(trained_home, tmp_path, small_corpus, capsys):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    article = tmp_path / "a.txt"
    article.write_text("A wind farm developer signed a power purchase agreement.")
    code, out, _ = run(capsys, "similar", "--home", str(home), "-k", "3", str(article))
    results = json.loads(out)["results"]
    assert code == 0 and len(results) == 3
    subset = write_jsonl(tmp_path / "sub.jsonl", [
        {"id": "n1", "text": "A wind farm developer signed a power purchase agreement."},
        {"id": "n2", "text": "A bank acquired a payments company.", "sectors": ["fintech"],
         "agreement_type": "acquisition"}])
    code, out, _ = run(capsys, "index", "--home", str(home), "--data", str(subset))
    assert code == 0
    code, out, _ = run(capsys, "similar", "--home", str(home), "-k", "5", str(article))
    results = json.loads(out)["results"]
    assert [r["id"] for r in results][0] == "n1" and len(results) <= 2


def test_serve_without_a_loadable_model_is_one_line(tmp_path, trained_home, capsys):
    code, _, err = run(capsys, "serve", "--home", str(tmp_path / "empty"), "--port", "1")
    assert code == 1 and "no trained model" in err and err.count("\n") == 1
    home = tmp_path / "damaged"
    shutil.copytree(trained_home, home, symlinks=True)
    model = home / "current" / "model.joblib"
    data = model.read_bytes()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    code, _, err = run(capsys, "serve", "--home", str(home), "--port", "1")
    assert code == 1 and "does not match the sha256" in err and err.count("\n") == 1


def test_train_threshold_objective_moves_the_thresholds(tmp_path, small_corpus, capsys):
    import json as _json
    runs = {}
    for objective in ("f1", "precision:0.97"):
        home = tmp_path / objective.replace(":", "_")
        code, out, _ = run(capsys, "train", "--data", str(small_corpus), "--home", str(home),
                           "--folds", "0", "--quiet", "--threshold-objective", objective)
        assert code == 0
        manifest = _json.loads((home / "current" / "manifest.json").read_text())
        assert manifest["parameters"]["heads"]["threshold_objective"] == objective
        runs[objective] = manifest["heads"][0]["thresholds"]
    assert runs["precision:0.97"] != runs["f1"]
    # The F1 cut of a label with out-of-fold precision under 0.97 must rise to reach it.
    assert max(runs["precision:0.97"][k] - runs["f1"][k] for k in runs["f1"]) > 0


@pytest.mark.parametrize("objective", ["f2", "precision:2", "recall"])
def test_train_bad_threshold_objective_is_a_usage_error(tmp_path, small_corpus, capsys, objective):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(small_corpus), "--home", str(tmp_path),
              "--threshold-objective", objective])
    assert exc.value.code == 2
    assert "threshold objective must be" in capsys.readouterr().err.splitlines()[-1]
