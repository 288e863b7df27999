"""The one exception hierarchy shared by every tagsim package.

Each class says how a client sees it: ``code`` names it, ``http_status`` is the status
the HTTP API answers with (read only by service/errors.py; nothing here knows HTTP).
"""


class TagsimError(Exception):
    """Root of every error tagsim raises on purpose; ``code`` names it for clients."""

    code = "error"
    http_status = 400


class InvalidInput(TagsimError, ValueError):
    """The caller sent something tagsim cannot use (bad field, bad record, empty text)."""

    code = "invalid_input"
    http_status = 400


class BadOption(InvalidInput):
    """A command-line option's value the command cannot use, found after parsing: a usage error.

    The command line answers it as argparse does a bad option: one line, exit status 2.
    """

    code = "bad_option"

    def __init__(self, option: str, message: str):
        super().__init__(f"argument {option}: {message}")
        self.option = option


class EmptyText(InvalidInput):
    """The text holds no word the model knows how to read."""

    code = "empty_text"
    http_status = 422


class ArtifactError(TagsimError):
    """A model version is missing, incomplete, tampered with or incompatible."""

    code = "artifact_error"
    http_status = 503


class NotFound(TagsimError, LookupError):
    """A document or model version that does not exist was asked for."""

    code = "not_found"
    http_status = 404


class AlreadyExists(TagsimError):
    """A document with that id exists (or another writer created it first)."""

    code = "conflict"
    http_status = 409


class StoreUnavailable(TagsimError):
    """The document store (the database) cannot be reached; retry later."""

    code = "database_unavailable"
    http_status = 503
