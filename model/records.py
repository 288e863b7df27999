"""Records from data files: JSON Lines (plain or gzipped), CSV and Parquet, checked line by line.

The one reader of the files users hand tagsim, for training, indexing and bulk tagging
alike: each bad line is an `InvalidInput` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from model.errors import InvalidInput
from model.extras import require
from model.features import document_text

DEFAULT_TEXT_FIELDS = ("title", "text")


def _raise(line, error):
    raise error


def read_records(path, on_error=_raise):
    """Yield (line number, record) from a .jsonl, .jsonl.gz, .csv or .parquet file.

    A line that is not a record is passed to *on_error* with its number and an
    `InvalidInput` naming the file and line: raised by default, skipped if *on_error*
    returns (bulk tagging logs it). For Parquet the line is the row number, from 1.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _parquet_records(path)
        return
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            if name.endswith((".csv", ".csv.gz")):
                yield from _csv_records(path, fh, on_error)
            else:
                yield from _jsonl_records(path, fh, on_error)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise InvalidInput(f"{path}: cannot be read as UTF-8 text ({exc})") from exc


def _jsonl_records(path, fh, on_error):
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            on_error(n, InvalidInput(f"{path}, line {n}, column {exc.colno}: not valid JSON "
                                     f"({exc.msg}); each line must be one JSON object"))
            continue
        if not isinstance(record, dict):
            on_error(n, InvalidInput(f"{path}, line {n}: expected a JSON object, got {kind_of(record)}"))
            continue
        yield n, record


def _csv_records(path, fh, on_error):
    reader = csv.DictReader(fh)
    for row in reader:
        try:
            yield reader.line_num, _csv_record(path, reader.line_num, row)
        except InvalidInput as exc:
            on_error(reader.line_num, exc)


def _csv_record(path, n, row):
    record = {}
    for key, value in row.items():
        if key is None:
            raise InvalidInput(f"{path}, line {n}: more cells than header columns")
        if value is not None and value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise InvalidInput(f"{path}, line {n}, field {key!r}: "
                                   "starts with '[' but is not a JSON list") from None
        record[key] = value
    return record


def _parquet_records(path, batch_rows=10_000):
    pq = require("pyarrow.parquet", "scale", f"{path}: reading Parquet")
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        n = 0
        for batch in batches:
            for record in batch.to_pylist():
                n += 1
                yield n, record
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidInput(f"{path}: cannot be read as Parquet ({exc})") from None


def kind_of(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def validated_records(path, text_fields=DEFAULT_TEXT_FIELDS, where=None, allow_empty=False,
                      empty_option="--allow-empty"):
    """Yield (line, id, title, text, record) for each record, text fields and id checked.

    Text fields are optional strings (the first of several is the title), but a record
    needs text in at least one of them unless *allow_empty*. Ids (default ``line-N``)
    must be unique. *where* (``"field=value"``) keeps only matching records.
    *empty_option* is the option of the command that would keep records with no text
    (None: it has none), named in the error. Raises `InvalidInput` naming the file, line
    and field of the first bad record.
    """
    keep = parse_where(where)
    seen: dict[str, int] = {}
    for n, record in read_records(path):
        if keep and str(record.get(keep[0])) != keep[1]:
            continue
        rid, title, text = checked_record(f"{path}, line {n}", n, record, text_fields, allow_empty,
                                          seen, empty_option)
        yield n, rid, title, text, record
    if not seen:
        raise InvalidInput(f"{path}: no records" + (f" with {where}" if keep else ""))


def checked_record(at, n, record, text_fields=DEFAULT_TEXT_FIELDS, allow_empty=False, seen=None,
                   empty_option="--allow-empty"):
    """(id, title, joined text) of one record, or `InvalidInput` naming *at* and the field.

    Text fields are optional strings (the first of several is the title), but the record
    needs text in at least one of them unless *allow_empty*; the error names
    *empty_option*, the option that keeps such records, if the command has one. *seen*
    maps the ids met so far to their line; this record's id is added to it.
    """
    parts = []
    for name in text_fields:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{at}, field {name!r}: expected a string, got {kind_of(value)}")
        parts.append(value or "")
    if not allow_empty and not any(part.strip() for part in parts):
        others = "".join(f", nor in {f!r}" for f in text_fields[:-1])
        advice = (f", or pass {empty_option} to keep records without any" if empty_option
                  else ", or leave it out: there is nothing to read in it")
        raise InvalidInput(f"{at}, field {text_fields[-1]!r}: no text{others}; give the record "
                           f"some text{advice}")
    rid = record.get("id", f"line-{n}")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
        raise InvalidInput(f"{at}, field 'id': expected a non-empty string or integer")
    rid = str(rid)
    if seen is not None:
        if rid in seen:
            raise InvalidInput(f"{at}, field 'id': {rid!r} already used on line {seen[rid]}")
        seen[rid] = n
    title = parts[0] if len(parts) > 1 else ""
    return rid, title, document_text(*parts)


def parse_where(where):
    """``--where`` FIELD=VALUE as (field, value); None for no filter."""
    if not where:
        return None
    name, sep, value = where.partition("=")
    if not sep or not name:
        raise InvalidInput(f"--where expects FIELD=VALUE, got {where!r}")
    return name, value
