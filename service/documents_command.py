"""tagsim documents copy: move a home's documents from its SQLite file to PostgreSQL.

A home keeps the documents added through the API in ``documents.sqlite``; a server
started with TAGSIM_DATABASE_URL reads a PostgreSQL database instead and would not see
them. This command copies them, with their review history, once, all or nothing (the
rule for ids both hold is in model/document_copy.py).
"""

from __future__ import annotations

import argparse
import sys

from model.errors import TagsimError

SHOWN_CONFLICTS = 20
COPY_COMMAND = "tagsim documents copy"


def _database_url(value):
    if not value.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"must be a postgresql:// URL, got {value.split(':')[0]!r}")
    return value


def register(sub, home):
    """Add ``documents copy`` to *sub*; *home* is the parser of the shared --home."""
    p = sub.add_parser("documents", help="the documents added through the API: copy them to "
                                         "PostgreSQL")
    actions = p.add_subparsers(dest="documents_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "copy", parents=[home],
        help="copy the home's documents, corrections and their history into PostgreSQL",
        description="Copy the documents of the home's documents.sqlite, their corrections "
                    "(the whole review history) and stored scores into a PostgreSQL database, "
                    "in one transaction. Ids the database already holds as they are are skipped, "
                    "so a second run copies nothing; an id it holds differently is a conflict, "
                    "and then nothing is copied.")
    p.add_argument("--to", type=_database_url, metavar="URL",
                   help="the postgresql:// database (default: $TAGSIM_DATABASE_URL)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be copied, and any conflict, without copying (opening either "
                        "store still creates or upgrades its schema, as a server would)")
    p.set_defaults(run=copy)


def _counted(counts):
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def copy(args):
    """Copy, then print what was copied and both sides' counts; exit 1 on conflicts."""
    from model.document_copy import copy_documents, counts, plan_copy, read_records
    from model.documents import open_documents
    from model.errors import StoreUnavailable

    settings = args.settings
    url = args.to or settings.database_url
    if url is None:
        print("tagsim documents copy: error: give the database with --to postgresql://... or "
              "TAGSIM_DATABASE_URL", file=sys.stderr)
        return 2
    source = open_documents(settings.home, None, settings.database_timeout)
    target = open_documents(settings.home, url, settings.database_timeout)
    try:
        if not source.dialect.exists():
            print(f"nothing to copy: {source.location} does not exist")
            return 0
        try:
            plan = copy_documents(source, target, dry_run=args.dry_run)
        except StoreUnavailable as exc:  # the transaction did not commit: nothing was written
            raise StoreUnavailable(f"{exc}; nothing was copied: run this again once it is "
                                   "back") from None
        if plan.conflicts:
            for doc_id, why in plan.conflicts[:SHOWN_CONFLICTS]:
                print(f"tagsim documents copy: conflict: id {doc_id!r}: {why}", file=sys.stderr)
            more = len(plan.conflicts) - SHOWN_CONFLICTS
            if more > 0:
                print(f"tagsim documents copy: ... and {more} more conflicts", file=sys.stderr)
            print(f"tagsim documents copy: error: copied nothing: {len(plan.conflicts)} ids are "
                  f"held differently in {target.location}. To keep the database's, delete each "
                  "in the home (serve it without TAGSIM_DATABASE_URL, DELETE "
                  "/v1/documents/ID) and run this again", file=sys.stderr)
            return 1
        copied = plan.counts()
        verb = "would copy" if args.dry_run else "copied"
        if any(copied.values()):
            print(f"{verb} from {source.location} to {target.location}: {_counted(copied)}"
                  f" ({plan.present} ids already there)")
        else:
            print(f"nothing new to copy: the {plan.present} ids of {source.location} are "
                  f"already in {target.location}")
        print(f"home:     {_counted(counts(source))}")
        print(f"database: {_counted(counts(target))}")
        if args.dry_run:
            return 0
        records = read_records(source)  # read both again: every id of the home now in the target
        left = plan_copy(records, read_records(target, list(records)))
        if left.whole or left.tails or left.conflicts:
            raise TagsimError(f"verification failed: {len(left.whole) + len(left.tails)} ids "
                              f"are still missing from {target.location}; run this again")
        print("verified: the database holds every document, correction and deleted id of the home")
        return 0
    finally:
        source.close()
        target.close()


def left_behind(settings) -> str | None:
    """A one-line warning when the home's SQLite documents are missing from TAGSIM_DATABASE_URL.

    None when there is no database URL, no SQLite file, nothing missing, or either
    database cannot be read now (the server says so itself).
    """
    from model.document_copy import missing_ids
    from model.documents import open_documents
    from model.extras import MissingExtra

    if not settings.database_url:
        return None
    source = open_documents(settings.home, None, settings.database_timeout)
    target = None
    try:
        if not source.dialect.exists():
            return None
        target = open_documents(settings.home, settings.database_url, settings.database_timeout)
        missing = missing_ids(source, target)
    except MissingExtra:
        raise  # the server cannot use the database at all: it says so and stops
    except Exception:  # only a warning: whatever keeps it from being worked out, no warning
        return None
    finally:
        source.close()
        if target is not None:
            target.close()
    if not missing:
        return None
    return (f"{source.location} holds {len(missing)} documents or reviewed ids (first: "
            f"{missing[0]!r}) that the database {target.location} does not: they are not "
            f"served; copy them with '{COPY_COMMAND} --home {settings.home}'")
