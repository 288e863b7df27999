"""The commands the docs show, read out of their Markdown: fenced blocks, code spans, and
in them each command's words and the answer shown after it.

The checks (tests/docs/names.py, tests/docs/answers.py) take a page's text, so a test can
feed them a real page or a planted mistake alike.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
SHELL = {"sh", "bash", "shell", "console"}    # fenced blocks run as shell commands
SYNOPSIS = {"", "text"}                         # untagged: usage lines, diagrams
SEPARATORS = {"|", "||", "&&", ";", "&"}
PREFIXES = {"time", "exec", "env", "nohup", "sudo"}


@dataclass
class Command:
    """One command of a page: its words, where it starts, and the answer the page shows."""

    line: int
    words: list[str]
    answer: str = ""    # a '# -> ...' comment after it, a trailing '# NNN ...', or a JSON block


@dataclass
class Block:
    """A fenced code block of a page."""

    line: int           # the page line of the block's first line of code
    lang: str
    text: str
    end: int = 0        # the page line of its closing fence


def blocks(page: str) -> list[Block]:
    """The fenced code blocks of a Markdown page."""
    found, lang, start, body = [], None, 0, []
    for number, line in enumerate(page.splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, body = line[3:].strip(), number + 1, []
            else:
                found.append(Block(start, lang, "\n".join(body), number))
                lang = None
        elif lang is not None:
            body.append(line)
    return found


def inline_spans(page: str) -> list[tuple[int, str]]:
    """The `code spans` of a page outside its fenced blocks, with their line numbers."""
    spans, fenced = [], False
    for number, line in enumerate(page.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            spans += [(number, span) for span in re.findall(r"`([^`]+)`", line)]
    return spans


def _lines(block: Block):
    """(line, code, comment) per logical line: quotes may span lines, ``\\`` continues one."""
    text, out, code, comment, quote = block.text + "\n", [], [], None, None
    line = start = block.line
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "\\" and text[i + 1] == "\n":
            code, i, line = code + [" "], i + 2, line + 1
            continue
        elif c == "#" and (not code or code[-1] in " \t"):
            end = text.index("\n", i)
            comment, i = text[i + 1:end].strip(), end
            continue
        if c == "\n" and not quote:
            out.append((start, "".join(code), comment))
            code, comment, line = [], None, line + 1
            start = line
        else:
            code.append(c)
            line += c == "\n"
        i += 1
    return out


def _words(code: str, shell: bool) -> list[list[str]]:
    """The commands of one line of code, split at pipes and ``&&`` in shell blocks."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    commands = [[]]
    for word in lexer:
        if shell and word in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def commands(block: Block) -> list[Command]:
    """The commands of a shell block (or a synopsis block), each with the answer shown."""
    shell, merged, found = block.lang in SHELL, [], []
    for line, code, comment in _lines(block):
        indented = code[:1].isspace() and not code.lstrip().startswith(("tagsim ", "make "))
        coded = [m for m in merged if m[1].strip()]
        if not shell and coded and indented and code.strip():
            coded[-1][1] += " " + code      # a synopsis goes on over indented lines
            continue
        merged.append([line, code, comment])
    for line, code, comment in merged:
        if code.strip():
            found += [Command(line, words) for words in _words(code, shell)]
            if comment and found:
                found[-1].answer = comment   # trailing: 'curl ... # 204'
        elif comment is not None and found:
            if comment.startswith("->"):
                found[-1].answer = comment[2:].strip()
            elif _still_open(found[-1].answer):
                found[-1].answer += " " + comment   # an answer shown over several lines
    return found


def _still_open(text: str) -> bool:
    """Whether *text* has more brackets opened than closed (strings left out)."""
    text = re.sub(r'"[^"]*"', "", text)
    return sum(text.count(c) for c in "{[") > sum(text.count(c) for c in "}]")


def program(words: list[str]) -> tuple[str, list[str]]:
    """The program a command runs and its arguments (``VAR=value`` and ``time`` skipped)."""
    rest = list(words)
    while rest and (re.match(r"^\w+=", rest[0]) or rest[0] in PREFIXES):
        rest.pop(0)
    return (rest[0], rest[1:]) if rest else ("", [])


# A code span that is a command: `tagsim train --data ...`, `PORT=9000 make serve`, but not
# the error message `tagsim train: error: ...`.
COMMAND_SPAN = r"^(\w+=\S*\s+)*(tagsim(?=$| (?!\S*:(\s|$)))|make( |$)|curl |python3? \S+\.py)"


def page_commands(page: str) -> list[Command]:
    """Every command of a page: its shell and synopsis blocks, and its code spans that
    start with a command (``tagsim ...``, ``make ...``, ``PORT=9000 make serve``)."""
    found = []
    for block in blocks(page):
        if block.lang in SHELL | SYNOPSIS:
            found += commands(block)
    for line, span in inline_spans(page):
        if re.match(COMMAND_SPAN, span):
            found += [Command(line, words) for words in _words(span, shell=True)]
    return found
