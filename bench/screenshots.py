"""PNGs of the web page for the README: the Try page with an answer, the Review page with the queue.

Trains a model on data/articles.jsonl.gz into a temporary home, serves it on a free port and
drives headless Chromium (Debian's chromium and chromium-driver) with selenium.

    python bench/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from service import create_app
from service.settings import Settings
from tests.service.browser import ServerThread, start_browser
from training.train import train

ROOT = Path(__file__).resolve().parents[1]

TITLE = "Helio Grid and Northbank sign financing pact for battery parks"
TEXT = ("Helio Grid, a developer of solar and battery storage parks, said on Tuesday it had "
        "signed a memorandum of understanding with Northbank under which the lender would "
        "arrange up to 400 million euros of project finance for three battery parks. The two "
        "companies expect to sign binding loan agreements by the end of the year.")


def full_page(driver, path):
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, max(900, height + 40))
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    driver.set_window_size(1200, 900)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="tagsim-screens-"))
    train(ROOT / "data" / "articles.jsonl.gz", home, folds=0, progress=False, log=lambda *_: None)
    app = create_app(settings=Settings(home=home, reload_seconds=0))
    driver = start_browser()
    try:
        with ServerThread(app) as server:
            driver.get(server.url + "/")
            driver.find_element(By.ID, "try-title").send_keys(TITLE)
            driver.find_element(By.ID, "try-text").send_keys(TEXT)
            Select(driver.find_element(By.ID, "filter-sectors")).select_by_value("clean_energy")
            driver.find_element(By.CSS_SELECTOR, "#try-form button[type=submit]").click()
            WebDriverWait(driver, 30).until(EC.visibility_of_element_located((By.ID, "try-result")))
            full_page(driver, args.out / "page-try.png")
            driver.find_element(By.ID, "tab-review").click()
            driver.find_element(By.ID, "reviewer").send_keys("rita")
            Select(driver.find_element(By.ID, "queue-head")).select_by_value("sectors")
            driver.find_element(By.CSS_SELECTOR, "#queue-form button").click()
            WebDriverWait(driver, 30).until(EC.visibility_of_element_located((By.ID, "item")))
            # The stored labels, saved as shown: accepting the model's answer could replace a
            # corpus label, which asks first.
            driver.find_element(By.ID, "save").click()
            WebDriverWait(driver, 30).until(
                lambda d: "1 of" in d.find_element(By.ID, "progress").text
                and d.find_element(By.CSS_SELECTOR, "[data-provenance]").text)
            full_page(driver, args.out / "page-review.png")
    finally:
        driver.quit()
    print(f"wrote {args.out / 'page-try.png'} and {args.out / 'page-review.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
