"""The metadata of a version's indexed documents, read without parsing it all at start.

``documents.jsonl`` holds one JSON object per index row (id, title and each head's
labels) and stays the readable record; it is memory-mapped and a line is parsed only
when a result needs it. ``labels.npz`` holds the same labels as columns (per head: the
label names, and a row and a label code for each assignment), so the filter masks of a
million-document corpus are built with a few array operations instead of a million
``json.loads`` calls and a million dicts in every worker.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.errors import ArtifactError


class CorpusDocuments(Sequence):
    """Row-indexed view of ``documents.jsonl``; each line is parsed when it is read.

    The file must be one a version was published with (hashed by its manifest), so
    every line is a JSON object.
    """

    def __init__(self, path: Path, ends: Path | None = None):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            size = fh.seek(0, 2)
            self._buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        if ends is not None and Path(ends).is_file():
            # where each line ends, written with the version: opening reads no line at all
            self._ends = np.load(ends, mmap_mode="r", allow_pickle=False)
            if self._ends.ndim != 1 or (size and (len(self._ends) == 0 or self._ends[-1]
                                                  not in (size - 1, size))):
                raise ValueError(f"{ends} does not match {self.path}")
        else:  # a version written before the line ends were: find them
            self._ends = line_ends(self._buf, size)

    def __len__(self):
        return len(self._ends)

    def __getitem__(self, row):
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} of {len(self)}")
        row = row % len(self)
        start = int(self._ends[row - 1]) + 1 if row else 0
        try:  # the file is mapped: a byte changed after loading is read here
            meta = json.loads(self._buf[start:int(self._ends[row])])
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise ArtifactError(f"line {row + 1} of {self.path} is no longer a JSON object: the "
                                "file changed after it was loaded; restore the version's files")
        return meta


def line_ends(buffer, size):
    """The offset of each line's newline (or the size, for a last line without one)."""
    ends = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8) == ord("\n"))
    if size and (not len(ends) or ends[-1] != size - 1):
        ends = np.append(ends, size)  # no newline after the last line
    return ends


def save_line_ends(path: Path, out: Path):
    """Write where each line of *path* ends (`CorpusDocuments` reads it instead of the file)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            np.save(out, line_ends(buffer, size).astype(np.int64))
        finally:
            if size:
                buffer.close()


class LabelColumns:
    """Collects each head's labels, block by block in row order, for `save`."""

    def __init__(self, labels_of: dict[str, list[str]]):
        self.names = {head: list(labels) for head, labels in labels_of.items()}
        self._code = {head: {label: i for i, label in enumerate(labels)}
                      for head, labels in labels_of.items()}
        self._rows = {head: [] for head in labels_of}
        self._codes = {head: [] for head in labels_of}
        self.n_rows = 0

    def add(self, n_rows: int, targets: dict[str, list]):
        """Append *n_rows* rows: per head, one value (a label, a list of labels or None) each."""
        for head, values in targets.items():
            code = self._code[head]
            for i, value in enumerate(values):
                for label in value if isinstance(value, list) else [value]:
                    if label in code:
                        self._rows[head].append(self.n_rows + i)
                        self._codes[head].append(code[label])
        self.n_rows += n_rows

    def save(self, path: Path):
        """Write the columns as an uncompressed .npz (no pickle)."""
        arrays = {"n_rows": np.asarray([self.n_rows], dtype=np.int64)}
        for head, names in self.names.items():
            arrays[f"{head}.labels"] = np.asarray(names, dtype=str)
            arrays[f"{head}.rows"] = np.asarray(self._rows[head], dtype=np.int32)
            arrays[f"{head}.codes"] = np.asarray(self._codes[head], dtype=np.int32)
        with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a path
            np.savez(fh, **arrays)


def label_masks(path: Path, heads, n_rows: int) -> dict[tuple[str, str], np.ndarray]:
    """Per (head, label), a boolean array over the rows: True where the row has the label.

    Labels no row carries have no mask.
    """
    with np.load(path, allow_pickle=False) as z:
        if int(z["n_rows"][0]) != n_rows:
            raise ValueError(f"{path} has labels for {int(z['n_rows'][0])} rows, not {n_rows}")
        masks = {}
        for head in heads:
            rows, codes = z[f"{head}.rows"], z[f"{head}.codes"]
            for code, label in enumerate(z[f"{head}.labels"]):
                members = rows[codes == code]
                if len(members):
                    masks[(head, str(label))] = np.zeros(n_rows, dtype=bool)
                    masks[(head, str(label))][members] = True
    return masks
