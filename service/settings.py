"""Every setting the environment gives tagsim, read once into one validated object.

`Settings.from_environment()` is called at the edges only: by the console script
(training/cli.py, for every command) and by `create_app`. Everything below them gets
the values as arguments, so `model/` never reads the environment and a test sets a
field (``Settings(home=tmp_path, api_token="t")``) instead of patching ``os.environ``.
The configuration table in docs/configuration.md lists exactly these fields (a test compares them).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.errors import InvalidInput

PREFIX = "TAGSIM_"


class InvalidSettings(InvalidInput):
    """A setting in the environment has a value it cannot take; the message names it."""


class Settings(BaseSettings):
    """tagsim's settings: defaults, then ``TAGSIM_*`` variables, then the values given.

    Each field's description says what its variable must hold; an empty variable
    counts as unset. Command-line flags (``--home``, ``--port``, ``--database-url``)
    take precedence over their variables (`with_flags`).
    """

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="forbid",
                                      frozen=True, validate_default=True, populate_by_name=True)

    home: Path = Field(Path("artifacts"), description="a folder")
    port: int = Field(8000, ge=0, le=65535, validation_alias="PORT",
                      description="a whole number from 0 to 65535")
    max_body_bytes: int = Field(1 << 20, ge=1, description="a whole number of bytes, 1 or more")
    max_text_chars: int = Field(200_000, ge=1, description="a whole number of characters, 1 or more")
    reload_seconds: float = Field(2.0, ge=0, allow_inf_nan=False,
                                  description="a number of seconds, 0 or more")
    api_token: str = Field("", repr=False, description="a string")
    read_token: str = Field("", repr=False, description="a string")
    artifact_key: str | None = Field(None, repr=False, description="a string")
    keep_versions: int = Field(5, ge=1, description="a whole number of 1 or more")
    threads: int = Field(4, ge=1, description="a whole number of 1 or more")
    search_threads: int = Field(1, ge=1, description="a whole number of 1 or more")
    read_timeout: int = Field(10, ge=1, description="a whole number of seconds, 1 or more")
    max_connections: int = Field(1000, ge=1, description="a whole number of 1 or more")
    access_log: bool = Field(True, description="1 or 0")
    database_url: str | None = Field(None, pattern=r"^postgres(ql)?://", repr=False,
                                     description="a postgresql:// URL")
    database_timeout: float = Field(5.0, gt=0, allow_inf_nan=False,
                                    description="a number of seconds, more than 0")
    allowed_hosts: str | None = Field(None, pattern=r"^[\w.:\[\]*, -]*$",
                                      description="host names separated by commas, or *")

    @classmethod
    def from_environment(cls, **values) -> Settings:
        """The settings of ``os.environ`` (and *values*); `InvalidSettings` names a bad variable."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            raise InvalidSettings(_problem(name, first.get("input"))) from None

    def with_flags(self, **flags) -> Settings:
        """These settings with the command-line flags that were given (not None) on top."""
        given = {name: value for name, value in flags.items() if value is not None}
        return self.model_copy(update=given) if given else self

    @property
    def token_required(self) -> bool:
        """Whether any token is set, so that no anonymous request reads or writes documents."""
        return bool(self.api_token or self.read_token)


def variable(name: str) -> str:
    """The environment variable of the field *name*."""
    field = Settings.model_fields[name]
    return field.validation_alias if isinstance(field.validation_alias, str) \
        else PREFIX + name.upper()


def _problem(loc, value):
    name = next((n for n, f in Settings.model_fields.items() if loc in (n, f.validation_alias)), None)
    if name is None:
        return f"unexpected setting {loc!r}"
    field = Settings.model_fields[name]
    shown = "a secret value" if field.repr is False else repr(value)
    return f"{variable(name)} must be {field.description}, got {shown}; fix or unset it"
