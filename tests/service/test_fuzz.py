"""Whatever a client sends, the answer is JSON and never a 5xx."""

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENDPOINTS = [("post", "/v1/tag"), ("post", "/v1/tag/batch"), ("post", "/v1/similar"),
             ("post", "/v1/documents")]
FIELDS = ["text", "title", "explain", "items", "id", "k", "sector", "agreement_type",
          "min_score", "sectors"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(), st.integers(min_value=10**30, max_value=10**40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5),
                                                 inner, max_size=4)), max_leaves=12)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6) | values

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def check(response):
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json or response.status_code == 204
    if response.status_code >= 400:
        error = response.get_json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_arbitrary_json_bodies(client, endpoint, body):
    method, path = endpoint
    check(getattr(client, method)(path, data=json.dumps(body), content_type="application/json"))


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), raw=st.binary(max_size=200))
def test_arbitrary_bytes(client, endpoint, raw):
    method, path = endpoint
    check(getattr(client, method)(path, data=raw, content_type="application/json"))


@SETTINGS
@given(text=st.text(alphabet=st.characters(codec=None), max_size=300),
       doc_id=st.text(max_size=20))
def test_unicode_everywhere(client, text, doc_id):
    check(client.post("/v1/tag", json={"text": text}))
    check(client.post("/v1/similar", json={"text": text, "k": 3}))
    check(client.post("/v1/documents", json={"text": text, "id": doc_id}))
    path = f"/v1/documents/{quote(doc_id, safe='')}"
    check(client.get(path))
    check(client.get(f"{path}/similar", query_string={"k": doc_id}))
    check(client.delete(path))
