"""tagsim review export / import: Label Studio tasks and our JSONL, all or nothing."""

from __future__ import annotations

import json

import pytest

from model.documents import open_documents
from training.cli import main


def export(home, tmp_path, fmt, *extra):
    out = tmp_path / f"queue.{fmt}"
    assert main(["review", "export", "--home", str(home), "--format", fmt, "--out", str(out),
                 *extra]) == 0
    return out


def test_label_studio_export_has_predictions_and_a_matching_config(home, tmp_path, loaded):
    out = export(home, tmp_path, "label-studio", "--limit", "7", "--head", "sectors",
                 "--config", str(tmp_path / "config.xml"))
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 7
    task = tasks[0]
    assert task["data"]["text"] and set(task["data"]["tagsim_scores"]) == set(
        loaded.head("sectors").labels)
    prediction = task["predictions"][0]
    assert prediction["model_version"] == loaded.version and 0 <= prediction["score"] <= 1
    assert {r["from_name"] for r in prediction["result"]} == {"sectors", "agreement_type"}
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)  # least certain (smallest margin) first
    config = (tmp_path / "config.xml").read_text(encoding="utf-8")
    assert '<Choices name="agreement_type" toName="text" choice="single-radio">' in config


def test_label_studio_annotations_come_back_as_corrections(home, tmp_path):
    tasks = json.loads(export(home, tmp_path, "label-studio", "--limit", "3").read_text())
    stored = json.loads(export(home, tmp_path, "jsonl", "--limit", "1").read_text())
    assert stored["id"] == tasks[0]["data"]["doc_id"]
    label = "licensing" if stored["agreement_type"] != "licensing" else "none"
    tasks[0]["annotations"] = [{"completed_by": {"email": "ann@example.org"}, "was_cancelled": False,
                                "result": [{"from_name": "agreement_type", "to_name": "text",
                                            "type": "choices", "value": {"choices": [label]}}]}]
    tasks[1]["annotations"] = [{"was_cancelled": True, "result": []}]
    done = tmp_path / "done.json"
    done.write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    assert main(["review", "import", "--home", str(home), str(done)]) == 0
    history = open_documents(home).history(tasks[0]["data"]["doc_id"])
    assert [(h["labels"], h["reviewer"]) for h in history] == [
        ({"agreement_type": label}, "label-studio:ann@example.org")]
    assert open_documents(home).history(tasks[1]["data"]["doc_id"]) == []


def write_back(tmp_path, records, name="back.jsonl"):
    back = tmp_path / name
    back.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return back


def other_sectors(record):
    return ["policy"] if record["sectors"] != ["policy"] else ["biomed"]


def test_jsonl_round_trip(home, tmp_path):
    lines = export(home, tmp_path, "jsonl", "--limit", "2").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    sectors = other_sectors(records[0])
    records[0]["sectors"], records[0]["reviewer"] = sectors, "bob"
    assert main(["review", "import", "--home", str(home), str(write_back(tmp_path, records))]) == 0
    history = open_documents(home).history(records[0]["id"])
    assert history[0]["labels"] == {"sectors": sectors} and history[0]["reviewer"] == "bob"


def test_an_untouched_export_imports_as_unchanged(home, tmp_path, capsys):
    out = export(home, tmp_path, "jsonl", "--limit", "6")
    capsys.readouterr()
    assert main(["review", "import", "--home", str(home), str(out)]) == 0
    assert "applied 0 corrections; 6 records unchanged" in capsys.readouterr().err
    assert open_documents(home).corrections_since(0) == []  # nothing marked reviewed


def test_only_the_changed_record_and_head_become_a_correction(home, tmp_path, capsys):
    records = [json.loads(line) for line in
               export(home, tmp_path, "jsonl", "--limit", "6").read_text().splitlines()]
    sectors = other_sectors(records[3])
    records[3]["sectors"] = sectors  # its agreement_type, and every other record, as exported
    records.append(dict(records[3]))  # the same change twice in one file corrects it once
    capsys.readouterr()
    assert main(["review", "import", "--home", str(home), str(write_back(tmp_path, records))]) == 0
    assert "applied 1 corrections; 6 records unchanged" in capsys.readouterr().err
    [correction] = open_documents(home).corrections_since(0)
    assert (correction["id"], correction["labels"]) == (records[3]["id"], {"sectors": sectors})
    # Imported again, the file now matches what is stored: nothing more.
    assert main(["review", "import", "--home", str(home), str(write_back(tmp_path, records))]) == 0
    assert len(open_documents(home).corrections_since(0)) == 1


def test_label_studio_annotations_review_their_queued_head_and_nothing_unchanged_else(
        home, tmp_path):
    """Submitting a task reviews its queued head, changed or not; other heads only if changed."""
    tasks = json.loads(export(home, tmp_path, "label-studio", "--limit", "3").read_text())
    jsonl = {json.loads(line)["id"]: json.loads(line) for line in
             export(home, tmp_path, "jsonl", "--limit", "3").read_text().splitlines()}

    def annotation(sectors, agreement_type):
        return [{"completed_by": {"email": "ann@example.org"}, "result": [
            {"from_name": "sectors", "type": "choices", "value": {"choices": sectors}},
            {"from_name": "agreement_type", "type": "choices",
             "value": {"choices": [agreement_type]}}]}]

    for task in tasks:
        stored = jsonl[task["data"]["doc_id"]]
        task["annotations"] = annotation(stored["sectors"], stored["agreement_type"])
    queued = tasks[0]["data"]["tagsim_head"]
    other = "agreement_type" if queued == "sectors" else "sectors"
    changed = jsonl[tasks[1]["data"]["doc_id"]]
    if other == "sectors":
        tasks[1]["annotations"] = annotation(other_sectors(changed), changed["agreement_type"])
        new_other = {"sectors": other_sectors(changed)}
    else:
        label = next(t for t in ("licensing", "investment") if t != changed["agreement_type"])
        tasks[1]["annotations"] = annotation(changed["sectors"], label)
        new_other = {"agreement_type": label}
    done = tmp_path / "done.json"
    done.write_text(json.dumps(tasks), encoding="utf-8")
    assert main(["review", "import", "--home", str(home), str(done)]) == 0
    corrections = {c["id"]: c for c in open_documents(home).corrections_since(0)}
    assert set(corrections) == {t["data"]["doc_id"] for t in tasks}
    for task in tasks:
        c = corrections[task["data"]["doc_id"]]
        stored = jsonl[c["id"]]
        expected = {queued: stored[queued]} | (new_other if c["id"] == changed["id"] else {})
        expected = {k: sorted(v) if isinstance(v, list) else v for k, v in expected.items()}
        assert c["labels"] == expected and c["reviewer"] == "label-studio:ann@example.org"


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "zz-none", "sectors": ["policy"]}', "line 2, field 'id': no document"),
    ('{"id": "@", "agreement_type": "merger"}', "line 2, field 'agreement_type': unknown label 'merger'"),
    ('{"id": "@", "sectors": "policy"}', "line 2, field 'sectors': expected a list"),
    ('{"id": "@", "sectors": ["policy"], "reviewer": 3}', "line 2, field 'reviewer'"),
    ('{"id": "@"}', "line 2: no labels"),
    ("{not json", "line 2: not valid JSON"),
])
def test_a_bad_record_applies_nothing(home, tmp_path, corpus_docs, capsys, line, message):
    good = json.dumps({"id": corpus_docs[0]["id"], "agreement_type": "none"})
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line.replace("@", corpus_docs[1]["id"]) + "\n", encoding="utf-8")
    assert main(["review", "import", "--home", str(home), str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and message in err
    assert open_documents(home).history(corpus_docs[0]["id"]) == []


def test_bad_label_studio_task_names_its_line(home, tmp_path, corpus_docs, capsys):
    task = {"data": {"doc_id": corpus_docs[0]["id"]}, "annotations": [{"result": [
        {"from_name": "agreement_type", "type": "choices", "value": {"choices": ["a", "b"]}}]}]}
    path = tmp_path / "bad.json"
    path.write_text("[\n" + json.dumps({"data": {"doc_id": corpus_docs[1]["id"]}}) + ",\n"
                    + json.dumps(task) + "\n]\n", encoding="utf-8")
    assert main(["review", "import", "--home", str(home), str(path)]) == 1
    assert "bad.json, line 3, field 'value.choices'" in capsys.readouterr().err


def test_bad_usage_exits_2(home, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["review", "export", "--home", str(home), "--format", "csv"])
    assert exc.value.code == 2
