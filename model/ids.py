"""The document ids of an index's rows: row -> id and id -> row, without a Python object an id.

Ids are kept as their UTF-8 bytes end to end (``ids_utf8``) with where each ends
(``ids_ends``), and looked up through a sorted table of 64-bit BLAKE2b hashes of them
(``ids_hashes``, with the row of each in ``ids_by_hash``). At a million ids that is
about 24 MB, mapped from the index's files and shared by every process that maps them,
where a dict from id to row took about 130 MB of each process' own memory (and
numpy's fixed-width strings took 44 MB on disk, four bytes a character of the longest
id). Indexes written before keep ``ids.npy`` (fixed-width strings) and load as they are,
their hash table computed when they are loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.mapped import changed

FILES = ("ids_utf8", "ids_ends", "ids_hashes", "ids_by_hash")


def _utf8(doc_id) -> bytes:
    # surrogatepass: a JSON id may hold a lone surrogate; it round-trips like any other
    return str(doc_id).encode("utf-8", "surrogatepass")


def _hash(encoded: bytes) -> int:
    """The 64-bit hash the table is sorted by (BLAKE2b: the same in every process)."""
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "little")


def _narrow(values, largest):
    return np.asarray(values, dtype=np.uint32 if largest < 2**32 else np.int64)


class Ids(Sequence):
    """The ids of an index's rows (a read-only sequence of str) with `row` to find an id's row.

    >>> ids = Ids.of(["b-7", "a-1", "ü"])
    >>> len(ids), ids[2], list(ids), ids.row("a-1"), ids.row("nope")
    (3, 'ü', ['b-7', 'a-1', 'ü'], 1, None)
    """

    def __init__(self, utf8, ends, hashes, by_hash):
        self.utf8, self.ends, self.hashes, self.by_hash = utf8, ends, hashes, by_hash

    @classmethod
    def of(cls, ids):
        """The table of *ids* (any sequence of str), in memory."""
        encoded = [_utf8(doc_id) for doc_id in ids]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        ends = np.cumsum(lengths)
        utf8 = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        hashes = np.fromiter(map(_hash, encoded), dtype=np.uint64, count=len(encoded))
        by_hash = np.argsort(hashes, kind="stable")  # equal hashes in row order
        return cls(utf8, _narrow(ends, ends[-1] if len(ends) else 0), hashes[by_hash],
                   _narrow(by_hash, len(encoded)))

    def save(self, folder: Path):
        for name, array in zip(FILES, (self.utf8, self.ends, self.hashes, self.by_hash),
                               strict=True):
            np.save(Path(folder) / f"{name}.npy", array)

    @classmethod
    def load(cls, array, exists):
        """The ids of an index folder: *array(name)* reads ``name.npy``, *exists(name)* asks for it."""
        if exists("ids_utf8"):
            return cls(*(array(name) for name in FILES))
        return cls.of(array("ids").tolist())  # written before: fixed-width strings

    def __len__(self):
        return len(self.ends)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} of {len(self)} ids")
        start = int(self.ends[row - 1]) if row else 0
        stop = int(self.ends[row])
        if not 0 <= start <= stop <= len(self.utf8):
            raise changed("id ends out of range")
        try:
            return bytes(self.utf8[start:stop]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise changed("an id is not UTF-8") from None

    def row(self, doc_id: str) -> int | None:
        """The row of *doc_id* (the last, if several rows have it), or None."""
        if not isinstance(doc_id, str):
            return None
        key = np.uint64(_hash(_utf8(doc_id)))
        first = int(np.searchsorted(self.hashes, key, side="left"))
        last = int(np.searchsorted(self.hashes, key, side="right"))
        for at in range(last - 1, first - 1, -1):  # one, but for a 64-bit collision
            row = int(self.by_hash[at])
            if 0 <= row < len(self) and self[row] == doc_id:
                return row
        return None

    def __contains__(self, doc_id):
        return self.row(doc_id) is not None
