"""The one exception hierarchy shared by every tagsim package."""


class TagsimError(Exception):
    """Root of every error tagsim raises on purpose; ``code`` names it for clients."""

    code = "error"


class InvalidInput(TagsimError, ValueError):
    """The caller sent something tagsim cannot use (bad field, bad record, empty text)."""

    code = "invalid_input"


class EmptyText(InvalidInput):
    """The text holds no word the model knows how to read."""

    code = "empty_text"


class ArtifactError(TagsimError):
    """A model version is missing, incomplete, tampered with or incompatible."""

    code = "artifact_error"


class NotFound(TagsimError, LookupError):
    """A document or model version that does not exist was asked for."""

    code = "not_found"
