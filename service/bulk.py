"""Bulk tagging, file to file, on a Dask cluster (`tagsim tag --data GLOB --out DIR`).

One task per input file, one output partition per task, written under a temporary name
and renamed into place when complete: a rerun skips the partitions that exist, and a
killed run loses only those in flight. A record that cannot be tagged goes to
``errors.jsonl`` (file, line, reason) and the run goes on. Each answer is the one
``/v1/tag`` gives, from the version that was current when the run started.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from model.cluster import dask_client, require_distributed, worker_model
from model.errors import BadOption, InvalidInput, TagsimError
from model.extras import require
from model.language import language_warning
from model.loaded import load_verified
from model.records import checked_record, read_records

SUFFIXES = (".jsonl.gz", ".jsonl", ".csv.gz", ".csv", ".parquet")
FORMATS = ("jsonl", "parquet")
ERRORS_FILE = "errors.jsonl"
PARTIAL_ERRORS = ".errors"  # each finished partition's errors, merged into errors.jsonl
BLOCK = 2_000               # records tagged together


@dataclass
class Partition:
    """What one task did with one input file."""

    source: str
    output: str
    articles: int = 0
    errors: int = 0
    seconds: float = 0.0
    skipped: bool = False
    failed: str | None = None  # why the whole file could not be read


def input_files(pattern) -> list[Path]:
    """The data files a path or glob names, sorted; one line of error when there are none."""
    paths = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
    files = [p for p in paths if p.is_file() and p.name.lower().endswith(SUFFIXES)]
    if not files:
        raise InvalidInput(f"--data {pattern}: no {', '.join(SUFFIXES)} file matches")
    return files


def checked_operating_point(tagger, threshold, limit):
    """Check --threshold and --limit against the model's labels: `BadOption` if they do not fit."""
    try:
        tagger.operating_point(threshold, limit)
    except InvalidInput as exc:  # "threshold names an unknown label ...": the option, then why
        option, _, message = str(exc).partition(" ")
        raise BadOption(f"--{option}", message) from None


def partition_name(path: Path) -> str:
    """The output name of an input file: its name without the data suffix."""
    name = path.name
    return name[:-len(next(s for s in SUFFIXES if name.lower().endswith(s)))]


def bulk_tag(data, out, home, fmt="jsonl", explain=False, similar=0, scheduler=None,
             workers=None, database_url=None, log=None, threshold=None, limit=None, key=None,
             database_timeout=5.0):
    """Tag every record of the files *data* names into *out*; return the run's summary.

    Runs on the Dask cluster at *scheduler*, else on a local cluster of *workers*
    processes. Partitions already in *out* are skipped. *threshold* and *limit* set
    the operating point as on ``/v1/tag``. *key* opens a sealed version; --similar
    searches the documents at *database_url* too (waiting *database_timeout* s at most).
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    files = input_files(data)
    require_distributed(scheduler)  # the extras and the address checked before any work
    if fmt == "parquet" or any(p.name.lower().endswith(".parquet") for p in files):
        require("pyarrow", "scale", "Parquet files")
    names = {}
    for path in files:
        other = names.setdefault(partition_name(path), path)
        if other != path:
            raise InvalidInput(f"{other} and {path} would both write {partition_name(path)}.{fmt}; "
                               "rename one or tag them separately")
    home, out = Path(home).resolve(), Path(out).resolve()
    loaded = load_verified(home, with_index=False, key=key)  # checked here, its version pinned for the run
    checked_operating_point(loaded.tagger, threshold, limit)  # before the run starts
    version = loaded.version
    try:
        (out / PARTIAL_ERRORS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TagsimError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    jobs = [(str(p.resolve()), str(out / f"{partition_name(p)}.{fmt}")) for p in files]
    done = [Partition(src, dst, skipped=True) for src, dst in jobs if Path(dst).exists()]
    todo = [(src, dst) for src, dst in jobs if not Path(dst).exists()]
    report = Progress(log, sum(1 for _ in todo))
    started = time.monotonic()
    if todo:
        with dask_client(scheduler, workers) as client:
            from distributed import as_completed

            futures = [client.submit(tag_partition, src, dst, str(home), version, fmt, explain,
                                     similar, database_url, threshold, limit, key,
                                     database_timeout, pure=False)
                       for src, dst in todo]
            for future in as_completed(futures):
                part = Partition(**future.result())
                report.partition(part)
                done.append(part)
    report.close()
    _merge_errors(out, [dst for _, dst in jobs])
    seconds = time.monotonic() - started
    tagged = [p for p in done if not p.skipped]
    articles = sum(p.articles for p in tagged)
    return {"model_version": version, "partitions": len(jobs),
            "written": sum(1 for p in tagged if not p.failed),
            "skipped": len(done) - len(tagged), "failed": [p.source for p in tagged if p.failed],
            "articles": articles, "errors": sum(p.errors for p in tagged),
            "seconds": round(seconds, 3),
            "articles_per_second": round(articles / seconds, 1) if seconds else 0.0}


def tag_partition(source, output, home, version, fmt="jsonl", explain=False, similar=0,
                  database_url=None, threshold=None, limit=None, key=None,
                  database_timeout=5.0) -> dict:
    """Tag one file into *output* (on a worker); return its `Partition` as a dict."""
    started = time.monotonic()
    part = Partition(source, output)
    output = Path(output)
    errors_path = output.parent / PARTIAL_ERRORS / f"{output.name}.jsonl"
    tmp = output.parent / f".{output.name}.{uuid.uuid4().hex}.tmp"
    errors = []

    def bad(line, reason):
        errors.append({"file": source, "line": line, "reason": reason})

    try:
        model = worker_model(home, version, key=key)
        searcher = _searcher(home, version, database_url, key, database_timeout) \
            if similar else None
        with _writer(fmt, tmp, model) as write:
            for block in _blocks(source, model.text_fields, bad):
                answers = model.tagger.tag([(None, text) for _, _, text in block], explain,
                                           threshold=threshold, limit=limit)
                rows = []
                for (_, rid, text), answer in zip(block, answers, strict=True):
                    row = {"id": rid, "model_version": version, **answer,
                           **language_warning(None, text)}
                    if searcher is not None:
                        row["similar"] = searcher.search(searcher.vectorize(None, text), similar)
                    rows.append(row)
                write(rows)
                part.articles += len(rows)
        _write_jsonl_atomically(errors_path, errors)
        os.replace(tmp, output)  # the partition exists only once it is whole
    except TagsimError as exc:  # the file as a whole (unreadable, not UTF-8, model gone)
        tmp.unlink(missing_ok=True)
        part.failed = str(exc)
        bad(None, str(exc))
    part.errors = len(errors)
    part.seconds = round(time.monotonic() - started, 3)
    if part.failed:
        _write_jsonl_atomically(errors_path, errors)
    return asdict(part)


def _blocks(source, text_fields, bad):
    """Blocks of (line, id, text) of the valid records of a file; the others go to *bad*."""
    from model.errors import EmptyText
    from model.features import require_words

    seen, block = {}, []
    for n, record in read_records(source, on_error=lambda n, exc: bad(n, str(exc))):
        at = f"{source}, line {n}"
        try:
            rid, _, text = checked_record(at, n, record, text_fields, seen=seen, empty_option=None)
            require_words(text)
        except EmptyText as exc:
            bad(n, f"{at}: {exc}")
            continue
        except InvalidInput as exc:
            bad(n, str(exc))
            continue
        block.append((n, rid, text))
        if len(block) == BLOCK:
            yield block
            block = []
    if block:
        yield block


def _searcher(home, version, database_url, key, timeout):
    from model.documents import open_documents
    from model.search import Searcher

    searcher = Searcher(worker_model(home, version, with_index=True, key=key),
                        open_documents(home, database_url, timeout))
    searcher.sync()
    return searcher


class _writer:
    """Append blocks of answers to a JSONL or Parquet file, fsynced on a clean close."""

    def __init__(self, fmt, path, model):
        self.fmt, self.path, self.model = fmt, path, model
        self.fh = self.parquet = None

    def __enter__(self):
        if self.fmt == "jsonl":
            self.fh = open(self.path, "w", encoding="utf-8")
        return self.write

    def write(self, rows):
        if self.fmt == "jsonl":
            self.fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([_flat(r) for r in rows], schema=_parquet_schema(self.model))
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.path, table.schema)
        self.parquet.write_table(table)

    def __exit__(self, exc_type, exc, tb):
        if self.fh is not None:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
        elif self.fmt == "parquet":
            if self.parquet is None and exc_type is None:  # no valid record: an empty partition
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist([], schema=_parquet_schema(self.model)),
                               self.path)
            elif self.parquet is not None:
                self.parquet.close()
            if exc_type is None:
                _fsync(self.path)
        return False


def _parquet_schema(model):
    """Columns of a Parquet partition: id, version, each head's answer and scores."""
    import pyarrow as pa

    chosen = pa.struct([("label", pa.string()), ("score", pa.float64())])
    fields = [("id", pa.string()), ("model_version", pa.string())]
    for spec in model.heads:
        fields.append((spec.name, pa.list_(chosen) if spec.multilabel else chosen))
        fields.append((spec.scores_field, pa.struct(
            [(label, pa.float64()) for label in model.tagger.labels_of(spec)])))
    fields += [("explanation", pa.string()), ("similar", pa.string()),  # JSON, when asked for
               ("not_english", pa.bool_()), ("warnings", pa.list_(pa.string()))]  # when not English
    return pa.schema(fields)


def _flat(row):
    out = dict(row)
    for key in ("explanation", "similar"):
        if key in out:
            out[key] = json.dumps(out[key], ensure_ascii=False)
    return out


def _fsync(path):
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_jsonl_atomically(path, rows):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _merge_errors(out, outputs):
    """errors.jsonl: every partition's errors, in input order (rebuilt on each run)."""
    rows = []
    for dst in outputs:
        part = out / PARTIAL_ERRORS / f"{Path(dst).name}.jsonl"
        if part.is_file():
            rows.extend(json.loads(line) for line in part.read_text(encoding="utf-8").splitlines())
    _write_jsonl_atomically(out / ERRORS_FILE, rows)


class Progress:
    """A bar with articles/s on a terminal, one line per partition otherwise."""

    def __init__(self, log, partitions):
        self.log = log
        self.partitions, self.done, self.articles = partitions, 0, 0
        self.started = time.monotonic()
        self.bar = None
        if log is None and sys.stderr.isatty() and partitions:
            from tqdm import tqdm

            self.bar = tqdm(unit=" articles", unit_scale=True, desc=f"0/{partitions} partitions",
                            file=sys.stderr)

    def partition(self, part: Partition):
        self.done += 1
        self.articles += part.articles
        if self.bar is not None:
            self.bar.set_description_str(f"{self.done}/{self.partitions} partitions")
            self.bar.update(part.articles)
            return
        rate = self.articles / max(time.monotonic() - self.started, 1e-9)
        status = f"failed: {part.failed}" if part.failed else \
            f"{part.articles} articles, {part.errors} errors"
        (self.log or (lambda m: print(m, file=sys.stderr)))(
            f"[{self.done}/{self.partitions}] {Path(part.output).name}: {status} "
            f"({rate:,.0f} articles/s overall)")

    def close(self):
        if self.bar is not None:
            self.bar.close()
