"""The README and docs/ pages against the code: every command, option, target and path they
name exists, their links lead somewhere, and their curl and client examples answer as shown.

Each check is also fed a planted mistake, so a check that stopped finding anything fails.
"""

import importlib
import pkgutil
import re
import shutil
import subprocess

import pytest

from tests.docs.answers import curl_examples, curl_problems, python_examples, run_python
from tests.docs.names import (
    make_problems,
    make_targets,
    path_problems,
    reference_problems,
    script_problems,
    tagsim_problems,
    undocumented,
)
from tests.docs.pages import PAGES, ROOT, blocks
from tests.service.live import Server


def declared_endpoints():
    """Every declared endpoint: the service's modules register theirs when imported."""
    import service
    from service.endpoints import ENDPOINTS

    for module in pkgutil.iter_modules(service.__path__):
        importlib.import_module(f"service.{module.name}")
    return list(ENDPOINTS.values())


def name_problems(text):
    return (tagsim_problems(text) + make_problems(text, make_targets())
            + script_problems(text) + path_problems(text, declared_endpoints())
            + reference_problems(text))


def link_problems(page, text):
    """Relative links that lead to no file, or to no heading of a Markdown page."""
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)|<img src=\"([^\"]+)\"", text):
        target = "".join(target)
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text("utf-8")):
            problems.append(f"{target}: {file.name} has no heading #{anchor}")
    return problems


def anchors(text):
    """The anchors GitHub gives a page's headings (not the comments of its code blocks)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", prose, re.M)}


def page_id(page):
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_command_option_target_and_path_named_exists(page):
    assert name_problems(page.read_text("utf-8")) == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_link_leads_somewhere(page):
    assert link_problems(page, page.read_text("utf-8")) == []


def test_the_pages_are_the_readme_and_the_reference():
    names = {page_id(p) for p in PAGES}
    assert {"README.md", "docs/api.md", "docs/cli.md", "docs/configuration.md"} <= names


@pytest.mark.parametrize("planted, problem", [
    ("```sh\ntagsim train --data x --no-such-flag 3\n```", "tagsim train has no option --no-such-flag"),
    ("`tagsim frobnicate --data x`", "tagsim has no command 'frobnicate'"),
    ("```\ntagsim review export [--head H]\n               [--limti 3]\n```",
     "tagsim review export has no option --limti"),
    ("```sh\ntagsim tag --explain - | tagsim rollbak\n```", "tagsim has no command 'rollbak'"),
    ("`PORT=1 make serv`", "the Makefile has no target 'serv'"),
    ("```sh\nmake train bench-everything\n```", "the Makefile has no target 'bench-everything'"),
    ("`python bench/similarity.py --sise 3`", "bench/similarity.py takes no option --sise"),
    ("`python bench/nope.py`", "there is no script bench/nope.py"),
    ("as `model/feature.py` does", "there is no file model/feature.py"),
    ("(`tests/service/test_api.py::test_error_table`, `::test_no_such_test`)",
     "tests/service/test_api.py has no test test_no_such_test"),
    ("`tests/service/test_review.py::test_error_table`",
     "tests/service/test_review.py has no test test_error_table"),
    ("the answer of `/v1/tags`", "no endpoint declares /v1/tags"),
    ("`DELETE /v1/tag`", "no endpoint declares DELETE /v1/tag"),
    ("`GET /v1/documents/<id>/simliar`", "no endpoint declares /v1/documents/x/simliar"),
    ("```sh\ncurl -s -XPUT localhost:8000/v1/model\n```", "no endpoint declares PUT /v1/model"),
    ("```sh\ncurl -s localhost:8000/v1/documents -d '{}'\ncurl -s localhost:8000/v1/documents\n```",
     "no endpoint declares GET /v1/documents"),
])
def test_a_planted_mistake_is_found(planted, problem):
    problems = name_problems(f"# A page\n\nSome text.\n\n{planted}\n")
    assert any(problem in p for p in problems), problems


def test_what_the_real_pages_name_is_found_too():
    """The checks see the real synopsis, spans and curl lines (a renamed name fails)."""
    cli = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert "--folds 5" in cli and "`make train`" in cli
    assert any("no option --fold" in p for p in name_problems(cli.replace("--folds 5", "--fold 5")))
    assert any("no target 'trian'" in p
               for p in name_problems(cli.replace("`make train`", "`make trian`")))
    api = (ROOT / "docs" / "api.md").read_text("utf-8")
    assert any("/v1/review" in p for p in name_problems(api.replace("/v1/review?", "/v1/reviews?")))


def cli_synopsis():
    """The usage lines of docs/cli.md (its untagged code blocks)."""
    page = (ROOT / "docs" / "cli.md").read_text("utf-8")
    return "\n".join(f"```\n{b.text}\n```" for b in blocks(page) if b.lang == "")


def test_the_synopsis_shows_every_command_and_option():
    assert undocumented(cli_synopsis()) == []


def test_a_command_or_option_left_out_of_the_synopsis_is_found():
    synopsis = cli_synopsis()
    assert "[--jobs N] [--quiet]" in synopsis and "\ntagsim rollback " in synopsis
    cut = synopsis.replace("[--jobs N] [--quiet]", "[--jobs N]").replace("\ntagsim rollback ", "\n")
    assert undocumented(cut) == ["tagsim train --quiet is not shown", "tagsim rollback is not shown"]


def test_a_link_to_nothing_is_found():
    page = ROOT / "docs" / "api.md"
    assert link_problems(page, "[a](scaling.md) [b](cli.md#make)") == []
    assert link_problems(page, '[a](scalling.md) [b](cli.md#makes) <img src="page.png">') == [
        "scalling.md: no such file", "cli.md#makes: cli.md has no heading #makes",
        "page.png: no such file"]


def test_the_layout_greps_find_nothing():
    """docs/layout.md says these find nothing: the dependencies point one way."""
    layout = (ROOT / "docs" / "layout.md").read_text("utf-8")
    greps = re.findall(r"`(grep -rnE [^`]+)`", layout)
    assert len(greps) == 2
    for grep in greps:
        done = subprocess.run(grep, shell=True, cwd=ROOT, capture_output=True, text=True)
        assert (done.returncode, done.stdout) == (1, ""), grep


# -- the examples, live --------------------------------------------------------------------

LIVE_PAGES = [p for p in PAGES if curl_examples(p.read_text("utf-8"))
              or python_examples(p.read_text("utf-8"))]


@pytest.fixture
def live(tmp_path, trained_home):
    """`tagsim serve` over a private copy of the test model's home; its host:port."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True,
                    ignore=shutil.ignore_patterns("documents.sqlite*", ".lock"))
    server = Server(home).start()
    yield f"127.0.0.1:{server.port}"
    server.stop()


def test_the_examples_run_include_the_api_and_the_readme():
    assert {"README.md", "docs/api.md"} <= {page_id(p) for p in LIVE_PAGES}
    assert len(curl_examples((ROOT / "docs" / "api.md").read_text("utf-8"))) >= 15


@pytest.mark.parametrize("page", LIVE_PAGES, ids=page_id)
def test_the_examples_answer_as_shown(page, live):
    """In page order: the status each curl shows (200 unless another), JSON, and every key
    the docs show (nested ones too); then the Python client examples run without error."""
    text = page.read_text("utf-8")
    assert curl_problems(text, live) == []
    for block in python_examples(text):
        run_python(block, live)


def test_an_answer_unlike_the_docs_is_found(live):
    planted = """```sh
curl -s localhost:8000/v1/model
# -> {"version", "no_such_key": 1}
curl -s localhost:8000/v1/documents/no-such-id
curl -s localhost:8000/v1/similar -H 'Content-Type: application/json' \\
  -d '{"text": "solar", "k": 1}'
# -> {"results": [{"id", "score", "no_such_field"}]}
curl -s localhost:8000/v1/similar -H 'Content-Type: application/json' \\
  -d '{"text": "solar", "k": 1, "min_score": 1.0}'
# -> {"results": [{"id"}]}
curl -s -XDELETE localhost:8000/v1/documents/wex013  # 200
```
```sh
curl -s localhost:8000/v1/tag -H 'Content-Type: application/json' -d '{"text": "solar power deal"}'
```
```json
{"model_version": "...", "sector": []}
```
"""
    problems = curl_problems(planted, live)
    assert [p.split(":")[0] for p in problems] == [
        "line 2", "line 4", "line 5", "line 8", "line 11", "line 14"], problems
    assert "has no key 'no_such_key'" in problems[0]
    assert problems[1].startswith("line 4: status 404, the docs show 200")
    assert "the answer.results[0] has no key 'no_such_field'" in problems[2]
    assert "the answer.results is empty; the docs show an item" in problems[3]
    assert problems[4].startswith("line 11: status 204, the docs show 200")
    assert "the answer has no key 'sector'" in problems[5]
