"""The help of `tagsim` matches its commands (issue 22, item 5): derived from the parser."""

import argparse
import re

import pytest

from training.cli import build_parser, each_command, main

COMMANDS = list(each_command(build_parser()))


def test_the_help_lists_every_command_in_its_description_and_its_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    top = [prog.split()[1] for prog, _ in COMMANDS if len(prog.split()) == 2]
    assert exc.value.code == 0 and {"tune", "review", "serve"} <= set(top)
    description = " ".join(out.split("positional arguments:")[0].split())
    listed = out.split("positional arguments:")[1]
    for name in top:
        assert f" {name}" in description.replace(",", " ").replace(".", " "), name
        assert re.search(rf"^    {name}(\s|$)", listed, re.M), name


@pytest.mark.parametrize("prog, parser", COMMANDS, ids=[prog for prog, _ in COMMANDS])
def test_every_option_and_action_of_every_command_has_help(prog, parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing = [a.dest for a in action._choices_actions if not a.help]
        else:
            missing = [] if action.help else [action.dest]
        assert not missing, f"{prog}: {missing} have no help"
    help_text = parser.format_help()
    if any("--data" in a.option_strings for a in parser._actions):
        assert "Parquet" in help_text  # every command that reads data reads Parquet too
