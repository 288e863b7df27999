"""Bad fields are answered in the API's words, never pydantic's (issue 22, item 4)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from model.tagger import HeadSpec
from service.field_errors import describe
from service.schemas import head_requests

TEXT = "A bank signed a loan for a wind farm."
NUMBER = "a number between 0 and 1"


@pytest.mark.parametrize("method, path, body, message", [
    ("post", "/v1/tag", {"text": TEXT, "threshold": 1.5},
     f"threshold must be {NUMBER}, or an object of label -> number between 0 and 1; got 1.5"),
    ("post", "/v1/tag", {"text": TEXT, "threshold": "high"}, 'threshold must be a number'),
    ("post", "/v1/tag", {"text": TEXT, "threshold": {"biomed": 2}},
     f"threshold.biomed must be {NUMBER}; got 2"),
    ("post", "/v1/tag", {"text": TEXT, "limit": 0}, "limit must be a whole number, 1 or more; got 0"),
    ("post", "/v1/tag", {"text": 5}, "text must be a string; got 5"),
    ("post", "/v1/tag", {"text": TEXT, "explain": "yes"}, 'explain must be true or false; got "yes"'),
    ("post", "/v1/tag", {"text": TEXT, "colour": "red"},
     "unknown field colour; send only: explain, limit, text, threshold, title"),
    ("post", "/v1/tag/batch", {"items": [{"text": TEXT}, {"text": TEXT}, {"text": TEXT}, "x"]},
     'items[3] must be an object; got "x"'),
    ("post", "/v1/tag/batch", {"items": []},
     "items must be a list of at least 1 item, each an object; got an empty list"),
    ("post", "/v1/tag/batch", {}, "items is required"),
    ("post", "/v1/tag/batch", {"items": [{"text": TEXT, "id": "a\x07b"}]},
     "items[0].id must not contain control characters (found U+0007)"),
    ("post", "/v1/tag/batch", {"items": [{"text": TEXT, "colour": 1}]},
     "unknown field items[0].colour; items[0] takes: id, text, title"),
    ("post", "/v1/documents", {"id": "a\nb", "text": TEXT},
     "id must not contain control characters (found U+000A)"),
    ("post", "/v1/documents", {"id": "a/b", "text": TEXT}, "id must not contain '/'"),
    ("post", "/v1/documents", {"id": "..", "text": TEXT}, "id must not be '.', '..' or only spaces"),
    ("post", "/v1/documents", {"id": "x" * 201, "text": TEXT},
     "id must be a string of 1 to 200 characters; got a string of 201 characters"),
    ("post", "/v1/documents", {"title": "t"}, "text is required"),
    ("post", "/v1/documents", {"text": TEXT, "sectors": ["space"]}, 'sectors[0] must be one of '),
    ("post", "/v1/similar", {"text": TEXT, "k": "3"},
     'k must be a whole number from 1 to 100; got "3"'),
    ("post", "/v1/similar", {"text": TEXT, "min_score": 2}, f"min_score must be {NUMBER}; got 2"),
    ("get", "/v1/review?limit=501", None,
     'query parameter limit must be a whole number from 1 to 500; got "501"'),
    ("get", "/v1/review?head=colour", None, 'query parameter head must be one of sectors, '),
    ("get", "/v1/review?text=2", None, 'query parameter text must be one of 0, 1; got "2"'),
])
def test_bad_fields_are_named_in_the_apis_words(client, method, path, body, message):
    r = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_input"
    got = r.get_json()["error"]["message"]
    assert got.startswith(message), got
    for python_word in ("Input should", "constrained", "instance of", "Value error", "^[", "dict["):
        assert python_word not in got


HEADS = (HeadSpec("sectors", True, ("biomed", "fintech"), "sector"),
         HeadSpec("agreement_type", False, ("none", "merger"), "agreement_type"))


@pytest.mark.parametrize("model, body, message", [
    ("correction", {"sectors": "biomed"}, 'sectors must be a list, each one of biomed, fintech; '
                                          'got "biomed"'),
    ("correction", {"sectors": [1]}, "sectors[0] must be one of biomed, fintech; got 1"),
    ("correction", {"reviewer": "r" * 201},
     "reviewer must be a string of at most 200 characters; got a string of 201 characters"),
    ("similar", {"text": TEXT, "sector": "space"}, 'sector must be one of biomed, fintech; got "space"'),
    ("similar", {"id": 3}, "id must be a string of 1 to 200 characters; got 3"),
    ("similar_query", {"k": "+5"}, "k must be a whole number (digits only); got '+5'"),
    ("tag", {"text": "x", "threshold": {"fintech": "x"}}, f'threshold.fintech must be {NUMBER}; got "x"'),
])
def test_each_request_model_words_its_errors(model, body, message):
    schema = getattr(head_requests(HEADS), model)
    with pytest.raises(ValidationError) as caught:
        schema.model_validate(body)
    assert describe(caught.value, schema, body) == message


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["text", "title", "id", "k", "items",
                                                       "threshold", "biomed", "sectors", "x"]),
                                      inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(list(head_requests(HEADS))),
       body=st.dictionaries(st.sampled_from(["text", "title", "id", "k", "items", "threshold",
                                             "limit", "explain", "sectors", "agreement_type",
                                             "sector", "min_score", "head", "reviewer", "x"]),
                            JSON, max_size=4))
def test_any_body_gets_one_line_that_names_a_field(model, body):
    try:
        model.model_validate(body)
    except ValidationError as exc:
        message = describe(exc, model, body)
        assert "\n" not in message
        assert " must " in message or message.startswith("unknown field ") or \
            message.endswith(" is required"), message  # never pydantic's words
