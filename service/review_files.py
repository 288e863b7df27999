"""The review queue in and out of files: Label Studio tasks, or our JSONL.

Export writes the queue (least certain first) with the model's answer and scores.
Import reads corrections and checks every record against the served model before
any is applied, so a file with one bad record changes nothing. Only the heads whose
labels differ from the stored ones become corrections: a record exported and brought
back untouched changes nothing and marks nothing reviewed. A Label Studio annotation
is the exception for its task's queued head: submitting it, changed or not, reviews it.

Label Studio: each task's ``data`` holds ``doc_id``, ``title`` and ``text``; its
``predictions`` carry the model version, a score (the uncertainty measure of
`model.review`: a margin, so Label Studio's sort by lowest score lists the least sure
first) and
one ``choices`` result per head (``from_name`` = the head's name, ``to_name`` =
``text``). Completed annotations in that shape come back through import; the latest
annotation of a task that was not cancelled wins, and ``completed_by`` becomes the
reviewer. `label_config` writes the matching labelling interface.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from model.errors import InvalidInput

FORMATS = ("label-studio", "jsonl")


def label_config(heads) -> str:
    """The Label Studio labelling interface (XML) for the heads of a model."""
    lines = ["<View>", '  <Header value="$title"/>', '  <Text name="text" value="$text"/>']
    for head in heads:
        choice = "multiple" if head.multilabel else "single-radio"
        lines.append(f"  <Choices name={quoteattr(head.name)} toName=\"text\" choice=\"{choice}\">")
        lines += [f"    <Choice value={quoteattr(label)}/>" for label in head.labels]
        lines.append("  </Choices>")
    return "\n".join(lines + ["</View>"]) + "\n"


def export_records(entries, heads, version, fmt):
    """The queue *entries* (with ``text``) as Label Studio tasks or as our JSONL records."""
    if fmt == "jsonl":
        return [{"id": e["id"], "title": e["title"], "text": e["text"], **e["labels"],
                 "model_version": e["scored_by"], "head": e["head"], "answer": e["answer"],
                 "scores": e["scores"], "uncertainty": e["uncertainty"]} for e in entries]
    tasks = []
    for e in entries:
        result = []
        for head in heads:  # the queue's head as the model answers it, the others as they stand
            value = e["answer"] if head.name == e["head"] else e["labels"].get(head.name)
            if value is None:
                continue
            result.append({"id": f"{e['id']}-{head.name}", "from_name": head.name,
                           "to_name": "text", "type": "choices",
                           "value": {"choices": value if head.multilabel else [value]}})
        tasks.append({"data": {"doc_id": e["id"], "title": e["title"], "text": e["text"],
                               "tagsim_head": e["head"], "tagsim_scores": e["scores"]},
                      "predictions": [{"model_version": e["scored_by"],
                                       "score": e["uncertainty"],
                                       "result": result}]})
    return tasks


def write_export(records, fmt, out):
    """Write exported records to the text stream *out*: a JSON array or one object a line."""
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        json.dump(records, out, ensure_ascii=False, indent=1)
        out.write("\n")


def read_corrections(path, heads, exists):
    """Every correction in *path*, validated; `InvalidInput` naming file, line and field.

    *exists* tells whether a document id is visible. A ``.json`` file (or one starting
    with ``[``) is read as Label Studio tasks, anything else as our JSONL.
    Returns a list of ``{"id", "labels", "reviewer", "note"}`` and the number of tasks
    skipped because they hold no completed annotation.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from None
    by_head = {h.name: h for h in heads}
    corrections, skipped = [], 0
    if raw.lstrip().startswith("["):
        for line, task in _array_items(path, raw):
            record = _from_task(f"{path}, line {line}", task, by_head)
            if record is None:
                skipped += 1
            else:
                corrections.append(_checked(f"{path}, line {line}", record, by_head, exists))
    else:
        for line, text in enumerate(raw.splitlines(), 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}, line {line}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InvalidInput(f"{path}, line {line}: expected a JSON object")
            labels = {name: record[name] for name in by_head if record.get(name) is not None}
            corrections.append(_checked(f"{path}, line {line}", {
                "id": record.get("id"), "labels": labels, "reviewer": record.get("reviewer"),
                "note": record.get("note")}, by_head, exists))
    return corrections, skipped


def changed_only(corrections, heads, stored_labels):
    """The *corrections* cut to the heads whose labels differ from the stored ones; how many changed none.

    *stored_labels(doc_id)* gives a document's labels now (head name -> labels). Records
    are compared in file order, each against the labels the ones before it leave, so a
    file that sets a label and later sets it again corrects it once.
    """
    by_head = {h.name: h for h in heads}
    now, changed, unchanged = {}, [], 0
    for c in corrections:
        labels = now.setdefault(c["id"], dict(stored_labels(c["id"])))
        diff = {name: value for name, value in c["labels"].items()
                if _as_stored(by_head[name], labels.get(name)) != value
                or name == c.get("confirms")}
        if diff:
            labels.update(diff)
            changed.append({k: v for k, v in c.items() if k != "confirms"} | {"labels": diff})
        else:
            unchanged += 1
    return changed, unchanged


def _as_stored(head, value):
    """A stored labelling in the form `normalise` gives, or None when it has none."""
    if value is None:
        return None
    return sorted(set(value)) if head.multilabel else value


def _array_items(path, raw):
    """(line, item) of each element of a top-level JSON array, lines counted from 1."""
    decoder = json.JSONDecoder()
    pos = raw.index("[") + 1
    while True:
        while pos < len(raw) and raw[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(raw):
            raise InvalidInput(f"{path}: the JSON array is not closed")
        if raw[pos] == "]":
            return
        line = raw.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(raw, pos)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        yield line, item


def _from_task(at, task, by_head):
    """A correction from a Label Studio task's latest completed annotation, or None."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise InvalidInput(f"{at}, field 'data': a Label Studio task needs a data object")
    done = [a for a in task.get("annotations") or [] if isinstance(a, dict)
            and not a.get("was_cancelled")]
    if not done:
        return None
    annotation = done[-1]
    results = annotation.get("result")
    if not isinstance(results, list):
        raise InvalidInput(f"{at}, field 'annotations.result': expected a list")
    labels = {}
    for item in results:
        if not isinstance(item, dict) or item.get("type") != "choices":
            continue
        name = item.get("from_name")
        choices = (item.get("value") or {}).get("choices")
        if name not in by_head:
            raise InvalidInput(f"{at}, field 'from_name': unknown head {name!r}; expected one of "
                               + ", ".join(by_head))
        if not isinstance(choices, list):
            raise InvalidInput(f"{at}, field 'value.choices' of {name}: expected a list")
        if by_head[name].multilabel:
            labels[name] = choices
        elif len(choices) != 1:
            raise InvalidInput(f"{at}, field 'value.choices' of {name}: a single-label head "
                               f"takes one choice, got {len(choices)}")
        else:
            labels[name] = choices[0]
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    # The task's queued head was put in front of the annotator: submitting it unchanged
    # confirms it, and a confirmation is a review (changed_only keeps it).
    queued = task["data"].get("tagsim_head")
    return {"id": task["data"].get("doc_id"), "labels": labels,
            "reviewer": None if who is None else f"label-studio:{who}", "note": None,
            "confirms": queued if queued in labels else None}


def _checked(at, record, by_head, exists):
    doc_id = record["id"]
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidInput(f"{at}, field 'id': expected a document id (a non-empty string)")
    if not exists(doc_id):
        raise InvalidInput(f"{at}, field 'id': no document with id {doc_id!r}")
    for name in ("reviewer", "note"):
        if record[name] is not None and not isinstance(record[name], str):
            raise InvalidInput(f"{at}, field {name!r}: expected a string")
    if not record["labels"]:
        raise InvalidInput(f"{at}: no labels for any head ({', '.join(by_head)})")
    labels = {}
    for name, value in record["labels"].items():
        try:
            labels[name] = by_head[name].normalise(value)
        except InvalidInput as exc:
            raise InvalidInput(f"{at}, {exc}") from None
    return {"id": doc_id, "labels": labels, "reviewer": record["reviewer"], "note": record["note"],
            "confirms": record.get("confirms")}
