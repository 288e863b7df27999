"""The `tagsim` command line: train, evaluate, index, tag, similar, versions, rollback, serve.

This is the console script. It only assembles the parser: the training commands live in
training/commands.py and the serving ones, serve included, in service/commands.py.
Registering those is the one place where training imports service (see the README's
layout section); nothing else in training does, and service never imports training.
"""

from __future__ import annotations

import argparse
import sys

from model.errors import TagsimError
from service import commands as serving
from training import commands as training


def build_parser():
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="tagsim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", help="folder of model versions (default: $TAGSIM_HOME or "
                                     "artifacts/)")
    training.register(sub, home)
    serving.register(sub, home)
    training.add_bulk_tagging(sub.choices["tag"], serving.tag)
    return parser


def main(argv=None):
    """Run one sub-command; errors become one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TagsimError as exc:
        print(f"tagsim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tagsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
