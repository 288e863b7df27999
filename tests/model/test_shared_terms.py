import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from model.loaded import load_verified
from model.search import Searcher

# Few distinct weights, so equal products (ties) are common.
WEIGHTS = st.sampled_from([0.125, 0.25, 0.5, 0.3, 0.7, 1.0])


@pytest.fixture(scope="module")
def searcher(trained_home):
    return Searcher(load_verified(trained_home))


def reference(searcher, query, vector, limit):
    """The plain scipy product: terms in both rows, largest product first, ties by term."""
    product = sp.csr_matrix(query).multiply(vector).tocsr()
    order = np.argsort(-product.data, kind="stable")[:limit]
    return [{"term": str(searcher.terms[product.indices[i]]),
             "weight": round(float(product.data[i]), 6)} for i in order]


@st.composite
def rows(draw, n_terms):
    terms = sorted(draw(st.sets(st.integers(0, n_terms - 1), max_size=30)))
    data = [draw(WEIGHTS) for _ in terms]
    return sp.csr_matrix((np.asarray(data, dtype=np.float32), terms, [0, len(terms)]),
                         shape=(1, n_terms))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), limit=st.none() | st.integers(1, 12))
def test_shared_terms_equal_the_sparse_product(searcher, data, limit):
    n = min(len(searcher.terms), 60)  # a narrow range, so the rows overlap
    query, vector = data.draw(rows(n)), data.draw(rows(n))
    query.resize(1, len(searcher.terms))
    vector.resize(1, len(searcher.terms))
    want = reference(searcher, query, vector, limit)
    assert searcher.shared_terms(query, vector, limit) == want
    assert searcher.shared_terms(query, (vector.indices, vector.data), limit) == want


def test_results_list_the_terms_of_the_stored_rows(searcher):
    matrix = searcher.model.index.matrix
    listed = 0
    for j in range(0, matrix.shape[0], 37):
        meta = searcher.model.corpus[j]
        query = searcher.vectorize(None, meta["title"] or " ".join(meta["text"].split()[:12]))
        result = searcher._result(searcher.visible, query, 0.5, "corpus", j, None)
        assert result["shared_terms"] == reference(searcher, query, matrix[j], None)
        listed += len(result["shared_terms"])
    assert listed > 0
