"""The page in a real browser: Try tags and finds similar articles; Review corrects a label."""

from __future__ import annotations

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
