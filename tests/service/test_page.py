"""The page in a real browser: Try tags and finds similar articles; Review corrects a label."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from service import create_app
from service.settings import Settings
from tests.service.browser import ServerThread, start_browser

HOSTILE = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 1\">"


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def served(home):
    app = create_app({"TESTING": True}, Settings(home=home, api_token="s3cret"))
    with ServerThread(app) as server:
        yield server, app.test_client()


def wait(driver, condition, seconds=20, message=None):
    try:
        return WebDriverWait(driver, seconds).until(condition)
    except Exception:
        if message:
            print("page status:", message())
        raise


def test_try_tags_a_text_and_shows_similar_articles(browser, served, corpus_docs):
    server, _ = served
    browser.get(server.url + "/")
    doc = next(d for d in corpus_docs if "clean_energy" in d["sectors"])
    browser.find_element(By.ID, "try-title").send_keys(doc["title"])
    browser.find_element(By.ID, "try-text").send_keys(doc["text"][:1500])
    Select(browser.find_element(By.ID, "filter-sectors")).select_by_value("clean_energy")
    browser.find_element(By.ID, "try-text").send_keys(Keys.CONTROL, Keys.ENTER)
    # Similar articles are documents: with a token set, the page asks for it once.
    token = wait(browser, EC.visibility_of_element_located((By.ID, "token")))
    token.send_keys("s3cret", Keys.ENTER)
    wait(browser, EC.visibility_of_element_located((By.ID, "try-result")))
    tags = [t.get_attribute("data-head") + ":" + t.text.split()[0]
            for t in browser.find_elements(By.CSS_SELECTOR, "#tags li.tag")]
    assert "sectors:clean_energy" in tags
    assert browser.find_elements(By.CSS_SELECTOR, "#highlighted mark")
    similar = browser.find_elements(By.CSS_SELECTOR, "#similar li.similar")
    assert similar and all("clean_energy" in s.find_element(By.CLASS_NAME, "meta").text
                           for s in similar)
    assert doc["title"] in similar[0].text  # the article itself is the nearest


def test_review_corrects_a_label_and_the_api_returns_it(browser, served):
    server, client = served
    auth = {"Authorization": "Bearer s3cret"}
    added = client.post("/v1/documents", headers=auth, json={
        "id": "hostile", "title": "Odd " + HOSTILE, "text": "A bank and a solar developer "
        "talk about a loan. " + HOSTILE, "sectors": ["fintech"]})
    assert added.status_code == 201
    queue = client.get("/v1/review?head=agreement_type&limit=60", headers=auth).get_json()
    position = [r["id"] for r in queue["results"]].index("hostile")
    browser.get(server.url + "/")
    browser.find_element(By.ID, "tab-review").click()
    limit = browser.find_element(By.ID, "queue-limit")
    limit.clear()
    limit.send_keys(str(position + 1))
    browser.find_element(By.ID, "reviewer").send_keys("rita")
    Select(browser.find_element(By.ID, "queue-head")).select_by_value("agreement_type")
    browser.find_element(By.CSS_SELECTOR, "#queue-form button").click()
    # The queue shows documents: with a token set, the page asks for it once per tab.
    token = wait(browser, EC.visibility_of_element_located((By.ID, "token")))
    token.send_keys("s3cret", Keys.ENTER)
    wait(browser, EC.visibility_of_element_located((By.ID, "item")))
    for _ in range(position):  # skip to the added document by keyboard
        browser.find_element(By.TAG_NAME, "body").send_keys("n")
    assert browser.find_element(By.ID, "item-meta").text.startswith("hostile ")
    assert HOSTILE in browser.find_element(By.ID, "item-text").text  # shown, not run
    assert browser.execute_script("return window.pwned") is None
    browser.find_element(By.CSS_SELECTOR, "input[name=agreement_type][value=licensing]").click()
    browser.find_element(By.ID, "save").click()  # a write: the token given above is used
    wait(browser, lambda d: "saved hostile" in d.find_element(By.ID, "status").text,
         message=lambda: browser.find_element(By.ID, "status").text)
    assert browser.find_element(By.ID, "progress").text == f"1 of {position + 1} reviewed"
    doc = client.get("/v1/documents/hostile", headers=auth).get_json()
    assert doc["agreement_type"] == "licensing"
    assert doc["label_status"]["agreement_type"]["status"] == "reviewed"
    assert doc["history"][-1]["reviewer"] == "rita"
    assert browser.execute_script("return sessionStorage.getItem('tagsim-token')") == "s3cret"
    assert "s3cret" not in browser.current_url


AUTH = {"Authorization": "Bearer s3cret"}
LOAN = ("A bank and a solar developer talk about a loan for a new plant; the regulator "
        "and a software firm watch.")


def give_token(browser):
    """The page asks for the token once per tab when it first reads documents."""
    wait(browser, EC.visibility_of_element_located((By.ID, "token"))).send_keys("s3cret", Keys.ENTER)


def status(browser):
    return browser.find_element(By.ID, "status").text


def press(browser, *keys):
    browser.switch_to.active_element.send_keys(*keys)


def add_where_queued(client, doc_id, head="agreement_type", **labels):
    """Add a document; return its place in *head*'s queue and the model's answer for it."""
    assert client.post("/v1/documents", headers=AUTH, json={
        "id": doc_id, "title": "Loan talks", "text": LOAN, **labels}).status_code == 201
    queue = client.get(f"/v1/review?head={head}&limit=500", headers=AUTH).get_json()["results"]
    entry = next(r for r in queue if r["id"] == doc_id)
    return queue.index(entry), entry["answer"]


def review_queue_at(browser, server, position, head="agreement_type", reviewer="rita"):
    """Load *head*'s queue (to two past *position*) in the page and skip to *position* by keyboard."""
    browser.get(server.url + "/")
    browser.find_element(By.ID, "tab-review").click()
    limit = browser.find_element(By.ID, "queue-limit")
    limit.clear()
    limit.send_keys(str(position + 3))
    browser.find_element(By.ID, "reviewer").send_keys(reviewer)
    Select(browser.find_element(By.ID, "queue-head")).select_by_value(head)
    browser.find_element(By.CSS_SELECTOR, "#queue-form button").click()
    give_token(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "item")))
    for _ in range(position):
        browser.find_element(By.TAG_NAME, "body").send_keys("n")


def provenance(browser, head):
    selector = f"[data-provenance='{head}']"
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, selector).text)
    return browser.find_element(By.CSS_SELECTOR, selector).text


def other_label(loaded, head, label):
    return next(x for x in loaded.head(head).labels if x != label)


def test_review_checks_the_stored_labels_and_says_where_they_came_from(browser, served, loaded):
    server, client = served
    answer = client.post("/v1/tag", json={"text": LOAN}).get_json()["agreement_type"]["label"]
    given = other_label(loaded, "agreement_type", answer)
    position, _ = add_where_queued(client, "given", agreement_type=given)  # sectors predicted
    review_queue_at(browser, server, position)
    assert browser.find_element(By.ID, "item-meta").text.startswith("given ")
    checked = [b.get_attribute("value") for b in browser.find_elements(
        By.CSS_SELECTOR, "input[name=agreement_type]") if b.is_selected()]
    assert checked == [given]  # the person's label, not the model's answer
    line = provenance(browser, "agreement_type")
    assert f"stored: {given} — given when the document was added" in line
    assert f"the model says {answer}" in line
    stored = client.get("/v1/documents/given", headers=AUTH).get_json()["sectors"]
    assert [b.get_attribute("value") for b in browser.find_elements(
        By.CSS_SELECTOR, "input[name=sectors]") if b.is_selected()] == stored
    assert "predicted by the model when the document was added" in provenance(browser, "sectors")
    assert browser.find_element(By.ID, "item-history").text == "none yet"


def test_replacing_a_given_label_asks_first_and_keeps_it_unless_told(browser, served, loaded):
    server, client = served
    answer = client.post("/v1/tag", json={"text": LOAN}).get_json()["agreement_type"]["label"]
    given = other_label(loaded, "agreement_type", answer)
    position, _ = add_where_queued(client, "given", agreement_type=given)  # sectors predicted
    review_queue_at(browser, server, position)
    press(browser, "a")  # accept the model's answer: it would replace the given label
    dialog = wait(browser, EC.visibility_of_element_located((By.ID, "confirm")))
    assert f"agreement_type: {given} (given when the document was added) → {answer}" in dialog.text
    assert browser.switch_to.active_element.get_attribute("id") == "confirm-keep"
    press(browser, Keys.ESCAPE)
    wait(browser, EC.invisibility_of_element_located((By.ID, "confirm")))
    assert "nothing saved" in status(browser)
    doc = client.get("/v1/documents/given", headers=AUTH).get_json()
    assert (doc["agreement_type"], doc["history"]) == (given, [])
    assert doc["label_status"]["agreement_type"]["status"] == "given"
    press(browser, "a")
    wait(browser, EC.visibility_of_element_located((By.ID, "confirm")))
    press(browser, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "confirm-replace"
    press(browser, Keys.ENTER)
    wait(browser, lambda d: "saved given" in status(d), message=lambda: status(browser))
    doc = client.get("/v1/documents/given", headers=AUTH).get_json()
    assert doc["agreement_type"] == answer
    assert doc["label_status"]["agreement_type"]["reviewer"] == "rita"
    assert [h["labels"] for h in doc["history"]] == [{"agreement_type": answer}]  # sectors untouched


def test_a_saved_message_is_neutral_and_goes_with_the_next_item(browser, served):
    server, client = served
    position, answer = add_where_queued(client, "predicted")  # every label the model's
    review_queue_at(browser, server, position)
    press(browser, "a")  # the model's own labels: nothing a person gave is replaced
    wait(browser, lambda d: "saved predicted" in status(d), message=lambda: status(browser))
    assert not browser.find_element(By.ID, "confirm").is_displayed()
    colour = browser.execute_script(
        "return getComputedStyle(document.getElementById('status')).color")
    red, green, blue = (int(x) for x in re.findall(r"\d+", colour)[:3])
    assert abs(red - green) < 16 and abs(red - blue) < 16, colour  # grey, not an error's red
    assert client.get("/v1/documents/predicted", headers=AUTH).get_json()["agreement_type"] == answer
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    wait(browser, lambda d: status(d) == "", message=lambda: status(browser))


def tag_in_page(browser, title, text):
    browser.find_element(By.ID, "try-title").clear()
    browser.find_element(By.ID, "try-title").send_keys(title)
    area = browser.find_element(By.ID, "try-text")
    area.clear()
    area.send_keys(text)
    area.send_keys(Keys.CONTROL, Keys.ENTER)


def test_a_failed_tag_clears_the_previous_answer(browser, served, corpus_docs):
    server, _ = served
    browser.get(server.url + "/")
    doc = corpus_docs[0]
    tag_in_page(browser, doc["title"], doc["text"][:800])
    give_token(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "try-result")))
    tag_in_page(browser, "", "!!! ???")  # no words: the API answers 422
    wait(browser, lambda d: "Error" in status(d), message=lambda: status(browser))
    assert not browser.find_element(By.ID, "try-result").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#tags li") == []


def test_text_that_is_not_english_is_tagged_with_the_warning_shown(browser, served, corpus_docs):
    import json
    from pathlib import Path

    server, _ = served
    lines = (Path(__file__).parents[1] / "model" / "non_english.jsonl").read_text("utf-8")
    german = next(r for r in map(json.loads, lines.splitlines()) if r["language"] == "de")
    browser.get(server.url + "/")
    tag_in_page(browser, "", german["text"])
    give_token(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "try-result")))
    warnings = browser.find_elements(By.CSS_SELECTOR, "#warnings li")
    assert len(warnings) == 1 and "does not look like English" in warnings[0].text
    assert browser.find_elements(By.CSS_SELECTOR, "#tags li")  # the labels are still given
    doc = corpus_docs[0]  # an English text next: no warning left standing
    tag_in_page(browser, doc["title"], doc["text"][:800])
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#warnings li")
         and d.find_element(By.ID, "try-result").is_displayed())


def test_each_label_has_its_own_colour_and_its_name_beside_it(browser, served, corpus_docs):
    server, _ = served
    browser.get(server.url + "/")
    doc = next(d for d in corpus_docs if d["sectors"] and d["agreement_type"] != "none")
    tag_in_page(browser, doc["title"], doc["text"][:1500])
    give_token(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "try-result")))
    legend = {li.get_attribute("data-key"): li.text for li in
              browser.find_elements(By.CSS_SELECTOR, "#legend li")}
    tags = browser.find_elements(By.CSS_SELECTOR, "#tags li.tag")
    assert len(legend) == len(tags) >= 2
    assert all(any(text.startswith(t.text.split()[0] + " (") for text in legend.values())
               for t in tags)  # each label by name, with its head
    marks = browser.find_elements(By.CSS_SELECTOR, "#highlighted mark")
    keys = {m.get_attribute("data-key").split(",")[0] for m in marks}
    assert keys <= set(legend) and len(keys) >= 2
    colour = "return getComputedStyle(arguments[0]).backgroundColor"
    first_of = {m.get_attribute("data-key").split(",")[0]: m for m in marks}
    assert len({browser.execute_script(colour, m) for m in first_of.values()}) == len(first_of)
    number = "return getComputedStyle(arguments[0], '::after').content"
    assert browser.execute_script(number, marks[0]) == '"' + marks[0].get_attribute("data-key") + '"'


def test_similar_results_open_their_documents_and_history(browser, served, corpus_docs):
    server, client = served
    doc = next(d for d in corpus_docs if "clean_energy" in d["sectors"])
    browser.get(server.url + "/")
    tag_in_page(browser, doc["title"], doc["text"][:1500])
    give_token(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "try-result")))
    link = browser.find_element(By.CSS_SELECTOR, "#similar li.similar a")
    first = client.get(f"/v1/documents/{doc['id']}", headers=AUTH).get_json()
    assert link.text == first["title"]
    client.patch(f"/v1/documents/{doc['id']}", headers=AUTH, json={
        "sectors": first["sectors"], "reviewer": "vera", "note": "checked " + HOSTILE})
    link.send_keys(Keys.ENTER)  # a link: the keyboard opens it
    wait(browser, EC.visibility_of_element_located((By.ID, "item")))
    assert browser.find_element(By.ID, "item-meta").text.startswith(doc["id"] + " · corpus")
    assert browser.find_element(By.ID, "item-title").text == doc["title"]
    text = browser.find_element(By.ID, "item-text").text
    body = doc["text"][len(doc["title"]) + 1:]  # the index keeps the title joined to the text
    assert doc["text"].startswith(doc["title"] + "\n")
    assert not text.startswith(doc["title"]) and text.startswith(body[:40].strip())
    assert "reviewed by vera" in provenance(browser, "sectors")
    assert "from the labelled corpus" in provenance(browser, "agreement_type")
    assert "vera" in browser.find_element(By.ID, "item-history").text
    assert "checked " + HOSTILE in browser.find_element(By.ID, "item-history").text  # as text
    assert browser.execute_script("return window.pwned") is None
