"""The optional dependencies: import one, or say in one line how to install the extra that has it.

`make install` (and `make serve`) install what training and serving need. The rest come
in extras of pyproject.toml: ``scale`` (Dask for bulk tagging and index builds, pyarrow
for Parquet, psycopg for a PostgreSQL document store) and ``tune`` (Optuna). A path that
needs one calls `require`, which raises `MissingExtra` naming the command that installs
it where tagsim runs: the make target in a checkout, pip otherwise.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from model.errors import TagsimError

MAKE_TARGETS = {"scale": "install-scale", "tune": "install-tune"}  # extra -> its Makefile target


class MissingExtra(TagsimError):
    """An optional dependency is not installed; the message says how to install it."""

    code = "missing_dependency"
    http_status = 503


def checkout() -> Path | None:
    """The source checkout tagsim runs from (its Makefile and pyproject.toml), or None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file() else None


def install_command(extra: str) -> str:
    """The command that installs *extra* for the Python running now."""
    root = checkout()
    if root is None:
        return f"pip install 'tagsim[{extra}]'"
    if Path(sys.prefix).resolve() == root / ".venv":
        where = "" if Path.cwd().resolve() == root else f" in {root}"
        return f"make {MAKE_TARGETS[extra]}{where} (or .venv/bin/pip install -e '.[{extra}]')"
    return f"{sys.executable} -m pip install -e '{root}[{extra}]'"


def require(module: str, extra: str, purpose: str):
    """*module*, imported; or `MissingExtra`: "<purpose> needs <module>: install the <extra> extra ...".

    >>> require("json", "scale", "this").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # something the module itself needs is missing: not the extra
        raise MissingExtra(f"{purpose} needs {module.split('.')[0]}, from the {extra} extra: "
                           f"install it with {install_command(extra)}") from None
    except ImportError as exc:  # installed but cannot load (a missing system library, say)
        raise MissingExtra(f"{purpose} needs {module.split('.')[0]}, which is installed but "
                           f"does not load: {exc}") from None
