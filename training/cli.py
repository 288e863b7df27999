"""The `tagsim` command line: train, evaluate, index, tag, similar, versions, rollback, serve.

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

from model.errors import TagsimError
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
    parser = Parser(prog="tagsim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", type=home_arg,
                      help="folder of model versions (default: $TAGSIM_HOME or artifacts/)")
    training.register(sub, home)
    serving.register(sub, home)
    documents_command.register(sub, home)
    return parser


def main(argv=None):
    """Run one sub-command; errors become one line on stderr (exit 1; usage errors 2).

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
