"""Gap coding (model/gaps.py): any ascending lists round-trip, in one call or in blocks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.gaps import ESCAPE, decode, encode
from model.mapped import IndexChanged


@st.composite
def lists(draw):
    """Ascending lists of numbers below 2**16, some empty, gaps small and large."""
    out = []
    for _ in range(draw(st.integers(0, 8))):
        gaps = draw(st.lists(st.sampled_from([0, 1, 2, 254, 255, 256, 3000]), max_size=12))
        values = np.cumsum(gaps)
        out.append(values[values < 2**16])
    return out


def flat(parts):
    values = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else \
        np.zeros(0, dtype=np.int64)
    bounds = np.cumsum([0] + [len(p) for p in parts])
    starts = np.zeros(len(values), dtype=bool)
    starts[bounds[:-1][bounds[:-1] < len(values)]] = True
    return values, bounds, starts


@settings(max_examples=300, deadline=None)
@given(lists(), st.integers(1, 7))
def test_lists_round_trip_whole_and_in_blocks(parts, block):
    values, bounds, starts = flat(parts)
    gaps, wide, escapes = encode(values, starts)
    assert gaps.dtype == np.uint8 and wide.dtype == np.uint16 and len(gaps) == len(values)
    assert len(wide) == escapes[-1] == np.count_nonzero(gaps == ESCAPE)
    got = decode(gaps, wide, bounds[:-1], bounds[1:], escapes[bounds[:-1]], escapes[bounds[1:]])
    np.testing.assert_array_equal(got, values)
    # in blocks, each going on from the number before it (as the index writer does)
    pieces = [encode(values[i:i + block], starts[i:i + block],
                     before=int(values[i - 1]) if i else 0) for i in range(0, len(values), block)]
    if pieces:
        np.testing.assert_array_equal(np.concatenate([p[0] for p in pieces]), gaps)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in pieces]), wide)
    # any one list on its own, as a search reads it
    for i in range(len(parts)):
        one = decode(gaps, wide, bounds[i:i + 1], bounds[i + 1:i + 2], escapes[bounds[i:i + 1]],
                     escapes[bounds[i + 1:i + 2]])
        np.testing.assert_array_equal(one, parts[i])


def test_what_cannot_be_gap_coded_is_refused():
    with pytest.raises(ValueError, match="ascending"):
        encode(np.array([5, 3]), np.array([True, False]))
    with pytest.raises(ValueError, match="below 2"):
        encode(np.array([2**16]), np.array([True]))


def test_escapes_that_do_not_match_their_gaps_are_an_index_changed_error():
    gaps, wide, escapes = encode(np.array([1, 400, 401]), np.array([True, False, False]))
    with pytest.raises(IndexChanged, match="escapes"):  # a gap changed to an escape
        decode(np.array([255, 255, 1], np.uint8), wide, [0], [3], [0], [1])
    with pytest.raises(IndexChanged, match="escape pointers"):  # past the escaped numbers
        decode(gaps, wide, [0], [3], [0], [2])
    with pytest.raises(IndexChanged, match="escape pointers"):
        decode(gaps, wide, [0], [3], [1], [0])
