"""The two inner loops of a similarity search, compiled where the install could build them.

`add_postings` adds posting lists into a shard's accumulator and `row_scores` computes
candidate rows' exact scores (model/_kernels.c). Each does in one pass what numpy and
scipy do in several (decoding gap-coded rows and terms, widening one-byte codes into
buffers, gathering a row's entries before scipy's product), with the same float32
operations in the same order, so a search gives the same rows and the same score bits with or without them
(tests/model/test_kernels.py). They are an optional extension: an install without a C
compiler has neither (``None`` here, and `MISSING` says why) and searches with numpy
and scipy alone.
"""

from __future__ import annotations

try:
    from model import _kernels
except ImportError as error:  # built without a compiler: the numpy path answers alike
    _kernels = None
    MISSING = f"the compiled search kernels are not built ({error}); searching with numpy"
else:
    MISSING = ""

add_postings = getattr(_kernels, "add_postings", None)
row_scores = getattr(_kernels, "row_scores", None)
