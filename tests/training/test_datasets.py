import gzip
import json

import pytest

from model.errors import InvalidInput
from model.features import document_text
from tests.conftest import write_jsonl
from training.datasets import load_dataset

GOOD = {"id": "a1", "title": "T", "text": "Solar deal signed.", "sectors": ["clean_energy"],
        "agreement_type": "investment"}


def with_(**changes):
    record = dict(GOOD, **changes)
    return {k: v for k, v in record.items() if v is not ...}


@pytest.mark.parametrize("bad, message", [
    ("{not json", r"line 2, column 2: not valid JSON"),
    ("[1, 2]", r"line 2: expected a JSON object, got a list"),
    (with_(text=..., title=...), r"line 2, field 'text': no text, nor in 'title'; .*--allow-empty"),
    (with_(text="   ", title=""), r"line 2, field 'text': no text, nor in 'title'"),
    (with_(text=42), r"line 2, field 'text': expected a string, got a number"),
    (with_(title=["x"]), r"line 2, field 'title': expected a string, got a list"),
    (with_(sectors=["crypto"]), r"line 2, field 'sectors': unknown label 'crypto'"),
    (with_(agreement_type="merger"), r"line 2, field 'agreement_type': unknown label 'merger'"),
    (with_(agreement_type=...), r"line 2, field 'agreement_type': missing"),
    (with_(sectors="biomed"), r"line 2, field 'sectors': expected a list of labels as on line 1"),
    (with_(agreement_type=["none"]), r"line 2, field 'agreement_type': expected a single label"),
    (with_(sectors=[3]), r"line 2, field 'sectors': labels must be non-empty strings"),
    (with_(agreement_type=""), r"line 2, field 'agreement_type': .*empty string"),
    (with_(id="a0"), r"line 2, field 'id': 'a0' already used on line 1"),
    (with_(id=True), r"line 2, field 'id': expected a non-empty string or integer"),
])
def test_bad_record_names_line_and_field(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "d.jsonl", [dict(GOOD, id="a0"), bad])
    with pytest.raises(InvalidInput, match=message) as info:
        load_dataset(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", [..., "", "   "])
def test_a_title_without_a_body_is_a_record(tmp_path, text):
    path = write_jsonl(tmp_path / "d.jsonl", [with_(text=text)])
    ds = load_dataset(path)
    assert ds.texts[0].strip() == "T" and ds.titles == ["T"]


def test_valid_jsonl_loads_heads_and_joins_title(tmp_path):
    records = [dict(GOOD, id=f"a{i}") for i in range(3)]
    records[1].update(sectors=["biomed", "digital"], agreement_type="licensing")
    records[2].pop("title")
    ds = load_dataset(write_jsonl(tmp_path / "d.jsonl", records))
    assert ds.ids == ["a0", "a1", "a2"]
    assert ds.texts[0] == "T\nSolar deal signed." and ds.texts[2] == "Solar deal signed."
    assert [(s.name, s.multilabel) for s in ds.specs] == [("sectors", True),
                                                           ("agreement_type", False)]
    assert ds.specs[0].labels == ("biomed", "clean_energy", "digital")
    assert ds.targets["agreement_type"] == ["investment", "licensing", "investment"]


def test_gzip_and_where_filter(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i, split in enumerate(["train", "test", "train"]):
            fh.write(json.dumps({"id": i, "text": f"story {i}", "labels": ["x"], "split": split})
                     + "\n")
    ds = load_dataset(path, label_fields=["labels"], where="split=train")
    assert ds.ids == ["0", "2"]
    with pytest.raises(InvalidInput, match="no records with split=dev"):
        load_dataset(path, label_fields=["labels"], where="split=dev")


def test_custom_label_fields_accept_any_labels(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": 1, "text": "a b", "label": "sport"},
                                              {"id": 2, "text": "c d", "label": "tech"}])
    ds = load_dataset(path, text_fields=["text"], label_fields=["label"])
    assert ds.specs[0].multilabel is False and ds.specs[0].labels == ("sport", "tech")


def test_csv_with_json_list_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,title,text,sectors,agreement_type\n'
                    'c1,Hello,"Bank, fintech and solar",'
                    '"[""fintech"", ""clean_energy""]",investment\n'
                    'c2,,Plain text,[],none\n', encoding="utf-8")
    ds = load_dataset(path)
    assert ds.targets["sectors"] == [["fintech", "clean_energy"], []]
    assert ds.texts == ["Hello\nBank, fintech and solar", "Plain text"]
    assert ds.titles == ["Hello", ""]


def test_csv_bad_list_cell_names_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,text,sectors,agreement_type\nc1,x,[oops,none\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"line 2, field 'sectors': starts with '\['"):
        load_dataset(path)


@pytest.mark.parametrize("name, content, message", [
    ("missing.jsonl", None, "no such file"),
    ("empty.jsonl", b"\n\n", "no records"),
    ("latin.jsonl", b'{"text": "caf\xe9"}\n', "cannot be read as UTF-8"),
])
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        load_dataset(path)


def test_title_and_body_are_joined_the_same_way_everywhere(tmp_path, loaded):
    path = write_jsonl(tmp_path / "d.jsonl", [dict(GOOD, id="a"), dict(GOOD, id="b", text=""),
                                              dict(GOOD, id="c", title="", text="")])
    ds = load_dataset(path, allow_empty=True)
    # an empty body adds nothing: a title with an empty body reads as the title alone
    assert ds.texts == ["T\nSolar deal signed.", "T", ""]
    features = loaded.tagger.features
    for record, text in zip(ds.records, ds.texts, strict=True):
        assert document_text(record["title"], record["text"]) == text
        tagged = loaded.tagger.vectorize([(record["title"], record["text"])])
        assert (tagged != features.transform([text])).nnz == 0


def test_training_asks_the_document_store_and_leaves_no_file_behind(tmp_path, monkeypatch):
    from model.documents import open_documents
    from training.datasets import with_corrections, with_labelled_documents

    monkeypatch.delenv("TAGSIM_DATABASE_URL", raising=False)
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", [GOOD, with_(id="a2")]))
    home = tmp_path / "home"
    assert with_labelled_documents(dataset, home, log=print) is dataset
    assert with_corrections(dataset, home, log=print)[0] is dataset
    assert not home.exists()  # asking created no documents.sqlite
    store = open_documents(home)
    store.correct([{"id": "a1", "labels": {"agreement_type": "licensing"}}])
    assert with_corrections(dataset, home)[0].targets["agreement_type"][0] == "licensing"
    store.delete("a1", must_exist=False)  # a delete retires the correction: no longer training data
    assert with_corrections(dataset, home)[0] is dataset
    store.close()
