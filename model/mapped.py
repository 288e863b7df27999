"""Reading a memory-mapped sparse matrix whose file may change under us, safely.

A version's index is mapped, not copied, so a byte changed in place in one of its files
is read at once by every process that mapped it; scipy's compiled kernels trust the
row pointers and column numbers they are given, and an out-of-range one is a read or
write outside the arrays (SIGSEGV). Every pointer and column number a search uses is
checked here first, on the slices the query touches only, and a bad one is an
`IndexChanged` (503), never a crash.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from model.errors import ArtifactError

# CPython 3.11's AST constructor keeps its recursion depth where threads share it: two
# threads parsing with `ast` at once can fail with "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905). numpy parses every .npy header that way (and
# joblib its arrays), and werkzeug compiles each of Flask's URL rules that way; a version
# loads in a background thread while another app may be starting. Whatever parses with
# `ast` here — reading a version's files, building the app — holds this lock.
AST_LOCK = threading.RLock()
if hasattr(AST_LOCK, "_at_fork_reinit"):  # held by another thread at a fork: free in the child
    os.register_at_fork(after_in_child=AST_LOCK._at_fork_reinit)


class IndexChanged(ArtifactError):
    """A mapped index file holds what its loader never wrote: changed after loading."""


def changed(what: str) -> IndexChanged:
    """The error for a bad *what* (names the array and the problem)."""
    return IndexChanged(f"the similarity index changed on disk after it was loaded ({what}); "
                        "restore the version's files or point 'current' at a good version")


def spans(indptr, items, nnz: int, what: str):
    """``indptr[items]`` and ``indptr[items + 1]`` as copies, checked: 0 <= start <= stop <= nnz."""
    starts = np.asarray(indptr[items], dtype=np.int64)
    stops = np.asarray(indptr[items + 1], dtype=np.int64)
    if len(starts) and (starts.min() < 0 or stops.max() > nnz or np.any(stops < starts)):
        raise changed(f"{what} row pointers out of range")
    return starts, stops


def check_range(values, limit: int, what: str):
    """*values* (column or row numbers) all in ``[0, limit)``, or `IndexChanged`."""
    # One pass: seen as unsigned, a negative number is larger than any limit.
    unsigned = values if values.dtype.kind == "u" else \
        values.view(np.uint32 if values.dtype == np.int32 else np.uint64)
    if len(values) and unsigned.max() >= limit:
        raise changed(f"{what} numbers out of range")


def checked_rows(matrix, rows, what: str):
    """The CSR rows *rows* of a mapped *matrix* (a copy), every pointer and column checked."""
    rows = np.asarray(rows, dtype=np.int64)
    spans(matrix.indptr, rows, len(matrix.indices), what)
    sub = matrix[rows]  # scipy copies the rows whose pointers were just checked
    check_range(sub.indices, matrix.shape[1], what)
    return sub
