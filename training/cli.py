"""The `tagsim` command line.

This is the console script. It only assembles the parser: the training commands live in
training/commands.py and the serving ones, serve included, in service/commands.py.
Registering those is the one place where training imports service
(see docs/layout.md); nothing else in training does, and service never imports training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from model.errors import BadOption, TagsimError
from service import commands as serving
from service import documents_command
from service.settings import InvalidSettings, Settings
from training import commands as training


class Parser(argparse.ArgumentParser):
    """argparse, with each usage error on one line (exit status 2) instead of three."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message.rstrip('.')}; see '{self.prog} --help'\n")


def home_arg(value):
    """``--home``: a folder, or one to create; a file is a usage error."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file; give the folder that holds (or "
                                         "will hold) the model versions")
    return value


def build_parser():
    """The argument parser of every sub-command."""
    parser = Parser(prog="tagsim")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", type=home_arg,
                      help="folder of model versions (default: $TAGSIM_HOME or artifacts/)")
    training.register(sub, home)
    serving.register(sub, home)
    documents_command.register(sub, home)
    parser.description = f"The `tagsim` command line: {', '.join(sub.choices)}."
    for prog, command in each_command(parser):
        command.set_defaults(prog=prog)  # for the usage errors found after parsing
    return parser


def each_command(parser):
    """(prog, parser) of every sub-command of *parser*, nested ones (``tagsim review export``) too."""
    for action in parser._actions:  # argparse lists sub-commands nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield command.prog, command
                yield from each_command(command)


def main(argv=None):
    """Run one sub-command; errors become one line on stderr (exit 1; usage errors 2).

    A usage error is a bad option or value: argparse finds most, the command the rest
    (`BadOption`, such as a --head the model does not have).

    The settings are read from the environment here, once, with the flags that override
    them on top, and reach the command as ``args.settings``.
    """
    args = build_parser().parse_args(argv)
    try:
        args.settings = Settings.from_environment().with_flags(
            home=Path(args.home) if getattr(args, "home", None) else None,
            port=getattr(args, "port", None), database_url=getattr(args, "database_url", None))
    except InvalidSettings as exc:
        print(f"tagsim: {exc}", file=sys.stderr)
        return 2
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below
        return code
    except BadOption as exc:  # as argparse says a bad option: one line, exit status 2
        print(f"{args.prog}: error: {str(exc).rstrip('.')}; see '{args.prog} --help'",
              file=sys.stderr)
        return 2
    except TagsimError as exc:
        print(f"tagsim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`tagsim similar ... | head -1`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"tagsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
