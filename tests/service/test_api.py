import pytest

from service import create_app
from service.endpoints import endpoint
from service.schemas import MAX_BATCH
from service.settings import Settings

SOLAR = ("The energy ministry signed a memorandum of understanding with a solar developer to "
         "build photovoltaic plants and battery storage on former coal land.")


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]["message"]


def test_tag_answers_every_field(client, app):
    r = client.post("/v1/tag", json={"text": SOLAR, "title": "Solar MoU"})
    body = r.get_json()
    assert r.status_code == 200
    assert list(body) == ["model_version", "sectors", "sector_scores", "agreement_type",
                          "agreement_scores"]
    assert body["model_version"] == app.extensions["tagsim"].searcher.model.version
    assert body["agreement_type"]["label"] == "memorandum_of_understanding"
    assert {"clean_energy", "policy"} <= {s["label"] for s in body["sectors"]}
    assert sum(body["agreement_scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert all(0 <= p <= 1 for p in body["sector_scores"].values())


def test_tag_explain(client):
    body = client.post("/v1/tag", json={"text": SOLAR, "explain": True}).get_json()
    explanation = body["explanation"]
    assert set(explanation["sectors"]) == {s["label"] for s in body["sectors"]}
    assert explanation["agreement_type"][body["agreement_type"]["label"]]


def test_batch_keeps_order_and_ids(client):
    items = [{"id": "a", "text": SOLAR}, {"text": "The bank raised a Series A round."},
             {"id": "c", "text": "A hospital licensed a diagnostic test.", "title": "Licence"}]
    r = client.post("/v1/tag/batch", json={"items": items})
    results = r.get_json()["results"]
    assert r.status_code == 200 and len(results) == 3
    assert [x.get("id") for x in results] == ["a", None, "c"]
    single = client.post("/v1/tag", json={"text": items[2]["text"], "title": "Licence"})
    assert results[2]["agreement_scores"] == single.get_json()["agreement_scores"]


def test_batch_limits(client):
    too_many = {"items": [{"text": "x"}] * (MAX_BATCH + 1)}
    error_of(client.post("/v1/tag/batch", json=too_many), 413, "too_large")
    error_of(client.post("/v1/tag/batch", json={"items": []}), 400, "invalid_input")
    message = error_of(client.post("/v1/tag/batch", json={"items": [{"text": "ok"},
                                                                      {"text": " ."}]}),
                       422, "empty_text")
    assert "items[1].text" in message


def test_similar_by_text_is_ranked_and_explained(client):
    r = client.post("/v1/similar", json={"text": SOLAR, "k": 5, "terms": 10_000})
    results = r.get_json()["results"]
    assert r.status_code == 200 and len(results) == 5
    scores = [x["score"] for x in results]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    for x in results:
        assert set(x) == {"id", "title", "score", "sectors", "agreement_type", "shared_terms"}
        weights = [t["weight"] for t in x["shared_terms"]]
        assert weights == sorted(weights, reverse=True)
        assert sum(weights) == pytest.approx(x["score"], abs=1e-4)


def test_shared_terms_are_capped_by_default(client, corpus_docs):
    long_text = " ".join(d["title"] for d in corpus_docs[:60])
    results = client.post("/v1/similar", json={"text": long_text, "k": 3}).get_json()["results"]
    full = client.post("/v1/similar", json={"text": long_text, "k": 3,
                                            "terms": 10_000}).get_json()["results"]
    assert [len(x["shared_terms"]) for x in results] == [min(10, len(x["shared_terms"]))
                                                          for x in full]
    assert any(len(x["shared_terms"]) > 10 for x in full)
    assert results[0]["shared_terms"] == full[0]["shared_terms"][:10]
    one = client.get(f"/v1/documents/{corpus_docs[0]['id']}/similar?k=2&terms=1").get_json()
    assert all(len(x["shared_terms"]) == 1 for x in one["results"])


@pytest.mark.parametrize("field, value", [("sector", "fintech"),
                                          ("agreement_type", "acquisition")])
def test_similar_filters(client, field, value):
    results = client.post("/v1/similar", json={"text": SOLAR, "k": 20, field: value}).get_json()
    assert results["results"]
    for x in results["results"]:
        labels = x["sectors"] if field == "sector" else [x["agreement_type"]]
        assert value in labels


def test_similar_min_score(client):
    every = client.post("/v1/similar", json={"text": SOLAR, "k": 50}).get_json()["results"]
    results = client.post("/v1/similar", json={"text": SOLAR, "k": 50,
                                               "min_score": 0.1}).get_json()["results"]
    assert results == [x for x in every if x["score"] >= 0.1]
    assert 0 < len(results) < len(every)  # the cut kept some and dropped some


@pytest.mark.parametrize("query", ["sector=fintech", "agreement_type=acquisition",
                                   "sector=policy&agreement_type=memorandum_of_understanding",
                                   "min_score={tenth}"])
def test_document_similar_takes_the_filters_of_post_similar(client, corpus_docs, query):
    doc_id = corpus_docs[0]["id"]
    unfiltered = client.get(f"/v1/documents/{doc_id}/similar?k=20").get_json()["results"]
    query = query.format(tenth=unfiltered[9]["score"])
    params = dict(pair.split("=") for pair in query.split("&"))
    got = client.get(f"/v1/documents/{doc_id}/similar?k=20&{query}")
    posted = client.post("/v1/similar", json={"id": doc_id, "k": 20, **{
        k: float(v) if k == "min_score" else v for k, v in params.items()}})
    assert got.status_code == 200 and got.get_json() == posted.get_json()
    assert got.get_json()["results"] and got.get_json()["results"] != unfiltered


@pytest.mark.parametrize("method, path", [
    ("get", "/v1/documents/{id}/similar?sectors=biomed"), ("get", "/v1/documents/{id}?k=3"),
    ("post", "/v1/similar?k=3"), ("get", "/healthz?verbose=1")])
def test_unknown_query_parameters_are_refused(client, corpus_docs, method, path):
    kwargs = {"json": {"text": SOLAR}} if method == "post" else {}
    message = error_of(getattr(client, method)(path.format(id=corpus_docs[0]["id"]), **kwargs),
                       400, "invalid_input")
    assert "unknown query parameter" in message


@pytest.mark.parametrize("query, message", [
    ("sector=fintech&sector=biomed", "query parameter 'sector' is given 2 times; give it once"),
    ("k=3&k=4", "query parameter 'k' is given 2 times"),
    ("sector=not-a-sector", "query parameter sector must be one of "),
    ("min_score=nan", 'query parameter min_score must be a number between 0 and 1; got "nan"'),
    ("k=%2B5", "query parameter k must be a whole number (digits only); got '+5'"),
    ("k=0", 'query parameter k must be a whole number from 1 to 100; got "0"'),
    ("terms=%205", "query parameter terms"),
])
def test_query_parameters_are_validated_as_bodies_are(client, corpus_docs, query, message):
    r = client.get(f"/v1/documents/{corpus_docs[0]['id']}/similar?{query}")
    assert message in error_of(r, 400, "invalid_input")


@pytest.mark.parametrize("query", ["text=true", "text=1&text=1", "head=sectors&head=sectors",
                                   "limit=5&colour=red"])
def test_review_query_is_validated_not_ignored(client, query):
    error_of(client.get(f"/v1/review?{query}"), 400, "invalid_input")


def test_one_declaration_adds_route_auth_query_check_and_spec(home, monkeypatch):
    from flask import Blueprint

    from service import endpoints
    from service.schemas import ReviewQuery

    monkeypatch.setattr(endpoints, "ENDPOINTS", dict(endpoints.ENDPOINTS))
    extra = Blueprint("extra", __name__)

    @endpoint(extra, "POST", "/v1/echo/<word>", "Echo a word", "the word", query=ReviewQuery,
              writes=True)
    def echo(word):
        return {"word": word, "limit": endpoints.declared_query().limit}

    app = create_app({"TESTING": True}, Settings(home=home, api_token="t"))
    app.register_blueprint(extra)
    client = app.test_client()
    assert client.post("/v1/echo/hi?limit=3").status_code == 401
    auth = {"Authorization": "Bearer t"}
    assert client.post("/v1/echo/hi?limit=3", headers=auth).get_json() == {"word": "hi", "limit": 3}
    error_of(client.post("/v1/echo/hi?limit=x", headers=auth), 400, "invalid_input")
    operation = client.get("/openapi.json").get_json()["paths"]["/v1/echo/{word}"]["post"]
    assert operation["summary"] == "Echo a word"
    assert [p["name"] for p in operation["parameters"]] == ["word", "head", "limit", "text"]


def test_readyz_counts_what_search_can_return(client, corpus_docs):
    before = client.get("/readyz").get_json()["documents"]
    assert before == len(corpus_docs)
    assert client.delete(f"/v1/documents/{corpus_docs[0]['id']}").status_code == 204
    assert client.get("/readyz").get_json()["documents"] == before - 1
    client.post("/v1/documents", json={"id": "new-1", "text": "A bank bought a lender."})
    client.post("/v1/documents", json={"id": corpus_docs[1]["id"], "text": "Replaced."})
    assert client.get("/readyz").get_json()["documents"] == before - 1 + 1 + 0


def test_similar_by_id_excludes_itself(client, corpus_docs):
    doc_id = corpus_docs[0]["id"]
    for r in (client.post("/v1/similar", json={"id": doc_id, "k": 3}),
              client.get(f"/v1/documents/{doc_id}/similar?k=3")):
        ids = [x["id"] for x in r.get_json()["results"]]
        assert r.status_code == 200 and len(ids) == 3 and doc_id not in ids


@pytest.mark.parametrize("body, status, code", [
    ({"text": SOLAR, "id": "x"}, 400, "invalid_input"),
    ({}, 400, "invalid_input"),
    ({"text": SOLAR, "k": 101}, 400, "invalid_input"),
    ({"text": SOLAR, "k": 0}, 400, "invalid_input"),
    ({"text": SOLAR, "k": "3"}, 400, "invalid_input"),
    ({"text": SOLAR, "sector": "crypto"}, 400, "invalid_input"),
    ({"text": SOLAR, "min_score": 2}, 400, "invalid_input"),
    ({"text": SOLAR, "terms": -1}, 400, "invalid_input"),
    ({"text": "?!"}, 422, "empty_text"),
    ({"id": "no-such-doc"}, 404, "not_found"),
])
def test_similar_errors(client, body, status, code):
    error_of(client.post("/v1/similar", json=body), status, code)


@pytest.mark.parametrize("query, status, code", [
    ("?k=abc", 400, "invalid_input"), ("?k=0", 400, "invalid_input"),
    ("?k=101", 400, "invalid_input"), ("?k=-1", 400, "invalid_input"),
    ("?terms=x", 400, "invalid_input"), ("?terms=10001", 400, "invalid_input"),
    ("?k=%C2%B2", 400, "invalid_input"),  # '²' is a digit to str.isdigit but not to int
])
def test_document_similar_errors(client, corpus_docs, query, status, code):
    error_of(client.get(f"/v1/documents/{corpus_docs[0]['id']}/similar{query}"), status, code)


def test_added_document_is_searchable_at_once_and_deletable(client):
    text = ("Zephyrine Robotics and the port of Valparaiso agreed a joint venture to run "
            "autonomous cranes with zephyrine lidar units")
    r = client.post("/v1/documents", json={"text": text, "title": "Cranes"})
    assert r.status_code == 201
    doc = r.get_json()
    assert r.headers["Location"] == f"/v1/documents/{doc['id']}"
    assert doc["predicted"] == ["sectors", "agreement_type"]
    top = client.post("/v1/similar", json={"text": "zephyrine lidar cranes", "k": 1})
    assert top.get_json()["results"][0]["id"] == doc["id"]
    got = client.get(f"/v1/documents/{doc['id']}").get_json()
    assert got["text"] == text and got["title"] == "Cranes" and got["labelled"] is False
    assert client.delete(f"/v1/documents/{doc['id']}").status_code == 204
    error_of(client.get(f"/v1/documents/{doc['id']}"), 404, "not_found")
    error_of(client.delete(f"/v1/documents/{doc['id']}"), 404, "not_found")
    top = client.post("/v1/similar", json={"text": "zephyrine lidar cranes", "k": 5})
    assert doc["id"] not in [x["id"] for x in top.get_json()["results"]]


def test_given_labels_are_stored_and_marked_labelled(client):
    body = {"id": "mine-1", "text": "A short note about a bank.", "sectors": ["fintech"],
            "agreement_type": "none"}
    assert client.post("/v1/documents", json=body).get_json()["predicted"] == []
    got = client.get("/v1/documents/mine-1").get_json()
    assert got["sectors"] == ["fintech"] and got["agreement_type"] == "none"
    assert got["labelled"] is True
    error_of(client.post("/v1/documents", json=body), 409, "conflict")


@pytest.mark.parametrize("body, status, code", [
    ({"text": "x", "sectors": ["crypto"]}, 400, "invalid_input"),
    ({"text": "x", "agreement_type": "merger"}, 400, "invalid_input"),
    ({"text": "x", "sectors": "fintech"}, 400, "invalid_input"),
    ({"text": "x", "id": "a/b"}, 400, "invalid_input"),
    ({"text": "x", "id": ""}, 400, "invalid_input"),
    ({"text": "x", "id": "."}, 400, "invalid_input"),
    ({"text": "x", "id": ".."}, 400, "invalid_input"),
    ({"text": "x", "id": "   "}, 400, "invalid_input"),
    ({"text": "x", "colour": "red"}, 400, "invalid_input"),
    ({"text": "   "}, 422, "empty_text"),
    ({"title": "no text"}, 400, "invalid_input"),
])
def test_document_errors(client, body, status, code):
    error_of(client.post("/v1/documents", json=body), status, code)


def test_corpus_documents_can_be_read_and_hidden(client, corpus_docs):
    doc = corpus_docs[1]
    got = client.get(f"/v1/documents/{doc['id']}").get_json()
    assert got["source"] == "corpus" and got["agreement_type"] == doc["agreement_type"]
    # A document whose neighbours include doc: doc's own nearest one.
    near = client.get(f"/v1/documents/{doc['id']}/similar?k=1").get_json()["results"][0]["id"]
    before = [x["id"] for x in client.get(
        f"/v1/documents/{near}/similar?k=100").get_json()["results"]]
    assert doc["id"] in before
    assert client.delete(f"/v1/documents/{doc['id']}").status_code == 204
    error_of(client.get(f"/v1/documents/{doc['id']}"), 404, "not_found")
    after = [x["id"] for x in client.get(
        f"/v1/documents/{near}/similar?k=100").get_json()["results"]]
    assert after[:99] == [x for x in before if x != doc["id"]]


def test_documents_survive_a_new_app(home, client):
    client.post("/v1/documents", json={"id": "keep", "text": "Wind farm loan signed."})
    again = create_app(settings=Settings(home=home)).test_client()
    assert again.get("/v1/documents/keep").status_code == 200
    assert "keep" in [x["id"] for x in again.post(
        "/v1/similar", json={"text": "wind farm loan", "k": 3}).get_json()["results"]]


def test_model_health_ready(client):
    manifest = client.get("/v1/model").get_json()
    assert {"version", "heads", "evaluation", "files"} <= set(manifest)
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["model_version"] == manifest["version"]


def test_not_ready_without_a_model(tmp_path):
    client = create_app(settings=Settings(home=tmp_path)).test_client()
    assert client.get("/healthz").status_code == 200
    assert "make train" in error_of(client.get("/readyz"), 503, "not_ready")
    error_of(client.post("/v1/tag", json={"text": "hello"}), 503, "not_ready")


def test_metrics_count_requests_and_labels(client):
    client.post("/v1/tag", json={"text": SOLAR})
    client.get("/nope")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'tagsim_requests_total{endpoint="/v1/tag",method="POST",status="200"} 1.0' in text
    assert 'status="404"' in text
    assert 'tagsim_predictions_total{head="agreement_type",label="memorandum_of_understanding"}' \
        in text
    assert "tagsim_request_seconds_bucket" in text


@pytest.mark.parametrize("method, path, kwargs, status, code", [
    ("post", "/v1/tag", {"data": "{bad", "content_type": "application/json"}, 400, "bad_json"),
    ("post", "/v1/tag", {"data": "[1]", "content_type": "application/json"}, 400,
     "invalid_input"),
    ("post", "/v1/tag", {"data": '{"text": NaN}', "content_type": "application/json"}, 400,
     "bad_json"),
    ("post", "/v1/tag", {"data": '{"text": "\\ud800"}', "content_type": "application/json"},
     400, "bad_json"),
    ("post", "/v1/tag", {"data": "[" * 50000 + "]" * 50000,
                         "content_type": "application/json"}, 400, "bad_json"),
    ("post", "/v1/tag", {"data": "text=hi", "content_type": "text/plain"}, 415,
     "unsupported_media_type"),
    ("post", "/v1/tag", {"data": b"\xff\xfe", "content_type": "application/json"}, 400,
     "bad_json"),
    ("post", "/v1/tag", {"data": "x" * ((1 << 20) + 1), "content_type": "application/json"},
     413, "too_large"),
    ("post", "/v1/tag", {"data": "x" * (1 << 20), "content_type": "application/json"},
     400, "bad_json"),  # exactly the limit is read (and is not JSON)
    ("post", "/v1/tag", {"json": {"text": "word " * 50_000}}, 413, "too_large"),
    ("put", "/v1/tag", {}, 405, "method_not_allowed"),
    ("get", "/v1/nothing", {}, 404, "not_found"),
    ("post", "/v1/tag", {"json": {"text": "x", "explain": "yes"}}, 400, "invalid_input"),
])
def test_error_table(client, method, path, kwargs, status, code):
    error_of(getattr(client, method)(path, **kwargs), status, code)


def test_openapi_documents_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    tag = spec["components"]["schemas"]["TagRequest"]
    # Neither field is required alone: a title with an empty text is an article too.
    assert "required" not in tag and tag["additionalProperties"] is False


@pytest.mark.parametrize("error, status", [
    ("InvalidInput", 400), ("EmptyText", 422), ("NotFound", 404), ("ArtifactError", 503),
    ("BadJson", 400), ("Unauthorized", 401), ("AlreadyExists", 409), ("TooLarge", 413),
    ("RequestTimeout", 408),
    ("UnsupportedMediaType", 415), ("NotReady", 503)])
def test_each_error_answers_with_its_own_status(app, error, status):
    import model.errors
    import service.errors

    kind = getattr(model.errors, error, None) or getattr(service.errors, error)
    assert kind.http_status == status

    @app.get(f"/raise/{error}")
    def raise_it():
        raise kind("what happened; what to do")

    error_of(app.test_client().get(f"/raise/{error}"), status, kind.code)


def test_a_locked_document_database_is_503_not_500(home):
    import sqlite3

    client = create_app({"TESTING": True}, Settings(home=home, database_timeout=0.3)).test_client()
    assert client.post("/v1/documents", json={"id": "a", "text": "Wind farm loan."}).status_code == 201
    holder = sqlite3.connect(home / "documents.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for r in (client.post("/v1/documents", json={"id": "b", "text": "Solar loan."}),
                  client.patch("/v1/documents/a", json={"agreement_type": "licensing"}),
                  client.delete("/v1/documents/a")):
            error_of(r, 503, "database_unavailable")
            assert "locked" in r.get_json()["error"]["message"]
        assert client.post("/v1/tag", json={"text": "A bank bought a start-up."}).status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.post("/v1/documents", json={"id": "b", "text": "Solar loan."}).status_code == 201


def test_a_title_with_an_empty_text_is_tagged_as_training_reads_it(client):
    title = "Solar developer signs memorandum with regional bank"
    alone = client.post("/v1/tag", json={"title": title})
    empty = client.post("/v1/tag", json={"title": title, "text": ""})
    assert alone.status_code == empty.status_code == 200
    # document_text joins a title and an empty body as the title alone, as training does.
    as_text = client.post("/v1/tag", json={"text": title}).get_json()
    for answer in (alone.get_json(), empty.get_json()):
        assert answer["sectors"] == as_text["sectors"]
        assert answer["agreement_type"] == as_text["agreement_type"]
    batch = client.post("/v1/tag/batch", json={"items": [{"title": title}, {"text": title}]})
    first, second = batch.get_json()["results"]
    assert first["agreement_scores"] == second["agreement_scores"]
    message = error_of(client.post("/v1/tag", json={"title": " ", "text": "?"}), 422, "empty_text")
    assert "text (with the title)" in message
    error_of(client.post("/v1/tag", json={}), 422, "empty_text")


def test_similar_takes_a_title_with_an_empty_text_as_tag_does(client):
    title = "Solar developer signs memorandum with regional bank"
    titled = client.post("/v1/similar", json={"title": title, "text": "", "k": 3})
    assert titled.status_code == 200, titled.get_json()
    as_text = client.post("/v1/similar", json={"text": title, "k": 3}).get_json()
    assert titled.get_json()["results"] == as_text["results"] and as_text["results"]
    message = error_of(client.post("/v1/similar", json={"title": " ", "text": "?"}), 422,
                       "empty_text")
    assert "text (with the title)" in message


def test_a_corpus_documents_text_leaves_its_title_out(client, corpus_docs):
    # The index keeps a corpus text joined to its title; an added one's text has no title.
    docs = corpus_docs[:2]
    assert all(d["title"] and d["text"].startswith(d["title"] + "\n") for d in docs)
    client.patch(f"/v1/documents/{docs[1]['id']}", json={"agreement_type": "none"})  # now live
    for doc in docs:
        got = client.get(f"/v1/documents/{doc['id']}").get_json()
        assert got["title"] == doc["title"] and got["text"] == doc["text"][len(doc["title"]) + 1:]
    queue = client.get("/v1/review?head=sectors&limit=5&text=1").get_json()["results"]
    titled = {d["id"]: d["title"] for d in corpus_docs}
    assert queue and [e["id"] for e in queue if e["text"].startswith(titled[e["id"]] + "\n")] == []
