"""Whether each name the docs use exists: `tagsim` commands and options (the real parser),
`make` targets (the Makefile's rules), bench scripts and their options, HTTP paths (the
endpoint declarations of `service.endpoints`). Each function returns one line per problem.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tests.docs.answers import curl_request
from tests.docs.pages import ROOT, page_commands, program
from training.cli import build_parser

PARSER = build_parser()

# -- tagsim ------------------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _tagsim_commands(page: str):
    """(line, command path, options named, problems) for each ``tagsim`` command of *page*."""
    for command in page_commands(page):
        name, args = program(command.words)
        if name.rsplit("/", 1)[-1] != "tagsim":
            continue
        current, path, options, problems = PARSER, ["tagsim"], set(), []
        for arg in (a.strip("[]") for a in args):
            subs = _subcommands(current)
            if arg.startswith("-") and arg != "-" and not re.match(r"^-\d", arg):
                option = arg.split("=", 1)[0]
                options.add(option)
                if option not in current._option_string_actions:
                    problems.append(f"line {command.line}: {' '.join(path)} has no option {option}")
            elif subs and arg in subs:
                current, path = subs[arg], path + [arg]
            elif subs:
                problems.append(f"line {command.line}: {' '.join(path)} has no command {arg!r}")
                break
        yield command.line, " ".join(path), options, problems


def tagsim_problems(page: str) -> list[str]:
    """Each ``tagsim`` sub-command and option the page names that the parser lacks."""
    return [p for *_, problems in _tagsim_commands(page) for p in problems]


def _leaves(parser, path="tagsim"):
    """(command path, parser) of every command that runs (``tagsim review export`` ...)."""
    subs = _subcommands(parser)
    if not subs:
        return [(path, parser)]
    return [leaf for name, sub in subs.items() for leaf in _leaves(sub, f"{path} {name}")]


def undocumented(synopsis: str) -> list[str]:
    """Each command and option of the parser that *synopsis* (a page's usage lines) leaves out."""
    named = {}
    for _, path, options, _ in _tagsim_commands(synopsis):
        named.setdefault(path, set()).update(options)
    missing = []
    for path, parser in _leaves(PARSER):
        if path not in named:
            missing.append(f"{path} is not shown")
            continue
        missing += [f"{path} {action.option_strings[-1]} is not shown" for action in parser._actions
                    if action.option_strings and not isinstance(action, argparse._HelpAction)
                    and not named[path] & set(action.option_strings)]
    return missing


# -- make ---------------------------------------------------------------------------------

def make_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    """The targets of the Makefile's rules (``name: ...``, not ``NAME := ...``)."""
    targets = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        if (match := re.match(r"^([A-Za-z][\w.-]*(?: [A-Za-z][\w.-]*)*)\s*:(?![:=])", line)):
            targets.update(match.group(1).split())
    return targets


def make_problems(page: str, targets: set[str]) -> list[str]:
    """Each ``make`` target the page names that the Makefile does not have."""
    problems = []
    for command in page_commands(page):
        name, args = program(command.words)
        if name != "make":
            continue
        for arg in args:
            if not arg.startswith("-") and "=" not in arg and arg not in targets:
                problems.append(f"line {command.line}: the Makefile has no target {arg!r}")
    return problems


def script_problems(page: str) -> list[str]:
    """Each ``python SCRIPT.py --option`` the page shows: the script and its options exist."""
    problems = []
    for command in page_commands(page):
        name, args = program(command.words)
        if not name.startswith("python") or not args or not args[0].endswith(".py"):
            continue
        script = ROOT / args[0]
        if not script.is_file():
            problems.append(f"line {command.line}: there is no script {args[0]}")
            continue
        source = script.read_text(encoding="utf-8")
        for arg in args[1:]:
            option = arg.split("=", 1)[0]
            if option.startswith("--") and f'"{option}"' not in source:
                problems.append(f"line {command.line}: {args[0]} takes no option {option}")
    return problems


# -- HTTP paths ---------------------------------------------------------------------------

METHOD = r"(?:(GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD) )?"
PATH = r"(/v1/[^\s`'\"()\]\[,;|]*|/healthz|/readyz|/metrics|/openapi\.json)"


def _rule_pattern(rule: str) -> re.Pattern:
    """A Flask rule as a pattern: ``<doc_id>`` matches any one path segment."""
    return re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(rule)) + "$")


def path_problems(page: str, endpoints) -> list[str]:
    """Each HTTP path (and ``METHOD /path``) the page names that no endpoint declares."""
    declared = [(e.method, e.rule, _rule_pattern(e.rule)) for e in endpoints]
    problems = []
    for number, line in enumerate(page.splitlines(), 1):
        for method, path in re.findall(METHOD + PATH, line):
            problem = path_problem(method, path, declared)
            if problem:
                problems.append(f"line {number}: {problem}")
    for command in page_commands(page):
        if program(command.words)[0] == "curl":
            method, path = curl_request(command.words)
            if (problem := path_problem(method, path, declared)):
                problems.append(f"line {command.line}: {problem}")
    return problems


def path_problem(method: str, path: str, declared) -> str | None:
    """What is wrong with *method* *path* (None: an endpoint declares it)."""
    path = path.split("?", 1)[0].rstrip(".:")
    prefix = path.endswith(("…", "...", "*"))
    path = re.sub(r"(…|\.\.\.|\*)$", "", path)
    path = re.sub(r"<[^>/]+>|\{[^}/]+\}", "x", path)     # <id>, {doc_id}: any one segment
    if prefix:
        matches = [(m, rule) for m, rule, _ in declared if rule.startswith(path)]
    else:
        matches = [(m, rule) for m, rule, pattern in declared if pattern.match(path)]
    if not matches:
        return f"no endpoint declares {path}"
    if method and method not in {m for m, _ in matches}:
        return f"no endpoint declares {method} {path} (only {', '.join(sorted({m for m, _ in matches}))})"
    return None


# -- files and tests ----------------------------------------------------------------------

# Named to say they are not there: where DESIGN.md puts the document store (docs/layout.md),
# a module that was removed (bench/README.md).
ABSENT = {"service/documents.py", "model/npzfile.py"}
FILE = r"(?<![\w/.])((?:model|service|training|tests|bench|data|docs)/[\w/.-]*\.(?:py|md|gz|png|sh))\b"


def reference_problems(page: str) -> list[str]:
    """Each file of the repository the page names that is missing, and each test it cites as
    proof (``tests/x.py::test_y``, or ``::test_z`` for another of the same file) that is gone."""
    problems, tests_file = [], None
    for number, line in enumerate(page.splitlines(), 1):
        for path in re.findall(FILE, line):
            if not (ROOT / path).exists() and path not in ABSENT:
                problems.append(f"line {number}: there is no file {path}")
        for path, test in re.findall(r"(tests/[\w/]+\.py)?::(test\w*)", line):
            tests_file = path or tests_file
            source = (ROOT / tests_file).read_text("utf-8") if tests_file and \
                (ROOT / tests_file).exists() else ""
            if not re.search(rf"^(async )?def {test}\(", source, re.M):
                problems.append(f"line {number}: {tests_file} has no test {test}")
    return problems
