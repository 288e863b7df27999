"""The curl and Python examples of the docs, run against a live server, and the answers
they show (status, and the keys of the JSON) compared with the real ones."""

from __future__ import annotations

import json
import re
import subprocess

from tests.docs.pages import SHELL, Block, Command, blocks, commands, program

# -- curl examples and the answers shown --------------------------------------------------

DOCS_SERVER = "localhost:8000"


def curl_request(words: list[str]) -> tuple[str, str]:
    """The method and path a curl command sends (``-X``, else POST with ``-d``, else GET)."""
    method, path, args = "GET", "", program(words)[1]
    for i, word in enumerate(args):
        if word.startswith("-X"):
            method = word[2:] or args[i + 1]
        elif word in ("-d", "--data") and method == "GET":
            method = "POST"
        elif DOCS_SERVER in word:
            path = "/" + word.split(DOCS_SERVER, 1)[1].lstrip("/")
    return method, path


def curl_examples(page: str) -> list[Command]:
    """The page's curl commands, with the answer shown after each (a JSON block that
    follows a shell block is the answer of its last command)."""
    found, fenced = [], blocks(page)
    for i, block in enumerate(fenced):
        after = fenced[i + 1] if i + 1 < len(fenced) else None
        if block.lang not in SHELL:
            continue
        curls = [c for c in commands(block) if program(c.words)[0] == "curl"]
        if curls and after is not None and after.lang == "json" and after.line == block.end + 2:
            curls[-1].answer = after.text
        found += curls
    return found


def shown_answer(answer: str) -> tuple[int, object]:
    """The status (200 unless the answer starts with one) and the shape the answer shows."""
    status = re.match(r"^(\d{3})\b", answer)
    return (int(status.group(1)) if status else 200,
            _shape(answer, answer.index("{"))[0] if "{" in answer else None)


def _string(s: str, i: int) -> tuple[str, int]:
    end = s.index('"', i + 1)
    return s[i + 1:end], end + 1


def _skip(s: str, i: int, stops: str) -> int:
    """The index of the next of *stops* outside brackets and strings (or the end)."""
    depth = 0
    while i < len(s):
        if s[i] == '"':
            i = _string(s, i)[1]
            continue
        if depth == 0 and s[i] in stops:
            return i
        depth += (s[i] in "{[") - (s[i] in "}]")
        if depth < 0:
            return i
        i += 1
    return i


def _shape(s: str, i: int):
    """(shape, next index) of the value at *i*: {key: shape} for an object, [shape of the
    first item] for a list, None for anything else. The docs' shorthand is understood:
    ``...`` and bare words stand for more, ``{"a", "b"}`` names keys without values, and
    ``"corpus"|"api"`` gives alternatives."""
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s):
        return None, i
    if s[i] == "[":
        first, i = _shape(s, i + 1)
        i = _skip(s, i, "]")
        return [first], i + 1
    if s[i] != "{":
        return None, (_string(s, i)[1] if s[i] == '"' else _skip(s, i, ",}]"))
    shape, i = {}, i + 1
    while i < len(s) and s[i] != "}":
        if s[i] in ", \n\t":
            i += 1
            continue
        key, i = _string(s, i) if s[i] == '"' else (None, _skip(s, i, ":,}"))
        value = None
        if i < len(s) and s[i] == ":":
            value, i = _shape(s, i + 1)
            i = _skip(s, i, ",}")
        if key and key.strip(".…"):
            shape[key] = value
    return shape, i + 1


def shape_problems(shown, actual, where: str = "the answer") -> list[str]:
    """Each key the docs show that the actual answer lacks (objects and lists, recursively)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where} is not an object"]
        return [problem for key, sub in shown.items()
                for problem in ([f"{where} has no key {key!r}"] if key not in actual
                                else shape_problems(sub, actual[key], f"{where}.{key}"))]
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where} is not a list"]
        if shown[0] is not None and not actual:
            return [f"{where} is empty; the docs show an item"]
        return shape_problems(shown[0], actual[0], f"{where}[0]") if shown[0] is not None else []
    return []


def run_curl(words: list[str], server: str) -> tuple[int, str]:
    """Run a docs' curl command against *server* (``127.0.0.1:PORT``): status and body."""
    args = [w.replace(DOCS_SERVER, server) for w in program(words)[1]]
    done = subprocess.run(["curl", *args, "--max-time", "30", "-w", "\n%{http_code}"],
                          capture_output=True, text=True, timeout=60, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def curl_problems(page: str, server: str) -> list[str]:
    """Run the page's curl examples in order; what answers otherwise than the page shows."""
    problems = []
    for command in curl_examples(page):
        if not any(DOCS_SERVER in w for w in command.words):
            problems.append(f"line {command.line}: the example does not call {DOCS_SERVER}")
            continue
        status, body = run_curl(command.words, server)
        expected, shown = shown_answer(command.answer)
        where = f"line {command.line}"
        if status != expected:
            problems.append(f"{where}: status {status}, the docs show {expected}: {body[:300]}")
        elif body and curl_request(command.words)[1] != "/metrics":
            try:
                actual = json.loads(body)
            except ValueError:
                problems.append(f"{where}: the answer is not JSON: {body[:300]}")
                continue
            problems += [f"{where}: {p}" for p in shape_problems(shown, actual)]
    return problems


def python_examples(page: str) -> list[Block]:
    """The page's Python blocks that talk to a server through the client."""
    return [b for b in blocks(page) if b.lang == "python" and "TagsimClient(" in b.text]


def run_python(block: Block, server: str) -> None:
    """Run a Python example against *server* (its ``127.0.0.1:8000`` replaced)."""
    code = block.text.replace("127.0.0.1:8000", server).replace(DOCS_SERVER, server)
    exec(compile("\n" * (block.line - 1) + code, f"<docs line {block.line}>", "exec"), {})
