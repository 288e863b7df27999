"""Ascending lists of small numbers (rows of a posting list, terms of a document) in a byte each.

Each number is kept as its gap from the number before it in its list (the first: from
0) in one byte, or, where the gap is `ESCAPE` or more, as the byte `ESCAPE` with the
number itself in two bytes in a second array (``wide``), in order. Where each list's
escapes begin in ``wide`` is kept beside where the list begins, so any list decodes on
its own. In the similarity index about nine gaps in ten fit a byte: 1.2 to 1.3 bytes a
number where two-byte numbers took 2 (bench/README.md).

Decoding checks what it reads (the arrays may be mapped from files changed after they
were loaded): a list whose escapes do not match its share of ``wide`` is
`model.mapped.IndexChanged`. The numbers it gives can still be wrong if a gap changed;
callers check them against their range before using them as indexes.
"""

from __future__ import annotations

import numpy as np

from model.mapped import changed

ESCAPE = 255


def encode(values, starts, before=0):
    """(gaps, wide, escapes before each position and after the last) of *values*.

    *values* are ints below 2**16, ascending within each list; *starts* (bool, one per
    value) marks where a list begins. *before* is the number before ``values[0]`` when
    ``values[0]`` continues a list begun in an earlier call.

    >>> gaps, wide, escapes = encode(np.array([3, 5, 900, 2, 2000]), np.array([1, 0, 0, 1, 0], bool))
    >>> gaps.tolist(), wide.tolist(), escapes.tolist()
    ([3, 2, 255, 2, 255], [900, 2000], [0, 0, 0, 1, 1, 2])
    """
    values = np.asarray(values)
    if len(values) and (values.min() < 0 or values.max() >= 2**16):
        raise ValueError("gap coding needs ascending lists of numbers below 2**16")
    values = values.astype(np.int32)  # four bytes a number while coding, not eight
    starts = np.asarray(starts, dtype=bool)
    previous = np.empty_like(values)
    if len(values):
        previous[0] = before
        previous[1:] = values[:-1]
        previous[starts] = 0
    gap = values - previous
    if len(gap) and gap.min() < 0:
        raise ValueError("gap coding needs ascending lists of numbers below 2**16")
    escaped = gap >= ESCAPE
    gaps = np.where(escaped, ESCAPE, gap).astype(np.uint8)
    escapes = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(escaped, out=escapes[1:])
    return gaps, values[escaped].astype(np.uint16), escapes


def encode_lists(values, pointers):
    """`encode` of CSR lists: *pointers* say where each list of *values* begins (and the
    last ends). Returns (gaps, wide, where each list's escapes begin in *wide*, in
    *pointers*' type).

    >>> [a.tolist() for a in encode_lists(np.array([3, 900, 2]), np.array([0, 2, 2, 3]))]
    [[3, 255, 2], [900], [0, 1, 1, 1]]
    """
    pointers = np.asarray(pointers)
    starts = np.zeros(len(values), dtype=bool)
    starts[pointers[:-1][pointers[:-1] < len(values)]] = True
    gaps, wide, escapes = encode(values, starts)
    return gaps, wide, escapes[pointers].astype(pointers.dtype)


def gathered(starts, stops):
    """(positions, offsets): every position of the spans ``starts[i]:stops[i]`` one after
    the other, and where each span begins among them (``offsets[-1]`` in all).

    >>> [a.tolist() for a in gathered(np.array([5, 0, 9]), np.array([7, 0, 10]))]
    [[5, 6, 9], [0, 2, 2, 3]]
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(stops, dtype=np.int64) - starts
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths), \
        offsets


def decode(gaps, wide, starts, stops, wide_starts, wide_stops):
    """The numbers of the lists ``gaps[starts[i]:stops[i]]`` (escapes in
    ``wide[wide_starts[i]:wide_stops[i]]``), concatenated in order, as int64.

    The bounds are checked by the caller against ``len(gaps)`` (`model.mapped.spans`);
    the escapes are checked here against ``len(wide)`` and against each list's gaps.
    """
    starts, stops = np.asarray(starts, np.int64), np.asarray(stops, np.int64)
    wide_starts, wide_stops = np.asarray(wide_starts, np.int64), np.asarray(wide_stops, np.int64)
    lengths, wide_lengths = stops - starts, wide_stops - wide_starts
    if len(wide_lengths) and (wide_lengths.min() < 0 or wide_starts.min() < 0
                              or wide_stops.max() > len(wide)):
        raise changed("escape pointers out of range")
    where, offsets = gathered(starts, stops)
    values = gaps[where].astype(np.int64)
    escaped = values == ESCAPE
    per_list = np.bincount(np.repeat(np.arange(len(lengths)), lengths)[escaped],
                           minlength=len(lengths))
    if np.any(per_list != wide_lengths):
        raise changed("a list's escapes do not match its gaps")
    values[escaped] = wide[gathered(wide_starts, wide_stops)[0]]
    # A running sum that starts again at each list's start and at each escape (a number
    # given whole): the sum so far, plus what to add to it from the last restart.
    restart = escaped.copy()
    restart[offsets[:-1][lengths > 0]] = True
    running = np.cumsum(np.where(restart, 0, values))
    shift = values[restart] - running[restart]
    return running + shift[np.cumsum(restart) - 1]
