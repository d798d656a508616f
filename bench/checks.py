"""Checks of the CLI's paths and URIs, made before a command writes anything.

Each check raises :class:`InputError` (exit 2 in the CLI) naming the option and the path, and
writes nothing: a directory's writability is probed with an unnamed temporary file
(``O_TMPFILE`` on Linux), a file's by opening it for update without writing.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlparse

SQLITE_HEADER = b"SQLite format 3\x00"
# The schemes MLflow 3 registers for tracking stores; plugins may add more (asked only then).
KNOWN_SCHEMES = ("sqlite", "file", "", "http", "https", "postgresql", "mysql", "mssql", "databricks",
                 "databricks-uc", "uc")
RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")  # mlflow.utils.validation._RUN_ID_REGEX


class InputError(ValueError):
    """A bad command-line input (an option's value, a path): the message names it."""


def uri_scheme(uri: str) -> str:
    """``sqlite`` for ``sqlite:///x.db``, ``postgresql`` for ``postgresql+psycopg2://…``, ``""`` for a path."""
    scheme = urlparse(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter
        return ""
    return scheme.split("+")[0]


def _mlflow_schemes() -> list[str]:
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return sorted(_tracking_store_registry._registry)
    except Exception:  # a private API: fall back to the schemes known here
        return list(KNOWN_SCHEMES)


def _writable_dir(path: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_tracking_uri(uri: str, option: str, *, write: bool, must_exist: bool) -> None:
    """``uri`` names a store MLflow knows; a local store (SQLite file, file-store folder) must
    exist when ``must_exist`` (reading must not create an empty one), and be writable, or
    creatable, when ``write``."""
    scheme = uri_scheme(uri)
    if scheme not in KNOWN_SCHEMES:
        supported = _mlflow_schemes()
        if scheme not in supported:
            raise InputError(f"invalid {option}: {uri!r} has the unknown scheme {scheme!r}; MLflow stores: "
                             f"{', '.join(repr(s) for s in supported if s)} (or a local path)")
    if scheme == "sqlite":
        _check_sqlite(uri, option, write=write, must_exist=must_exist)
    elif scheme in ("", "file"):
        _check_file_store(uri, option, write=write, must_exist=must_exist)


def _check_sqlite(uri: str, option: str, *, write: bool, must_exist: bool) -> None:
    if uri in ("sqlite://", "sqlite:///:memory:"):
        return
    if not uri.startswith("sqlite:///"):
        raise InputError(f"invalid {option}: {uri!r}: a SQLite store is 'sqlite:///<path>' "
                         f"(four slashes for an absolute path)")
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).expanduser()
    where = f"tracking store {uri}"
    if path.is_dir():
        raise InputError(f"invalid {option}: {where} is a directory, not an SQLite database")
    if path.exists():
        try:
            with open(path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as err:
            raise InputError(f"invalid {option}: cannot read {where}: {err.strerror or err}") from None
        if header and header != SQLITE_HEADER:
            raise InputError(f"invalid {option}: {where} is not an SQLite database (a corrupt or foreign file)")
        if write:
            try:
                open(path, "r+b").close()
            except OSError as err:
                raise InputError(f"invalid {option}: {where} is not writable ({err.strerror or err})") from None
            if not _writable_dir(path.parent):  # SQLite's journal and the claims' lock file go beside it
                raise InputError(f"invalid {option}: {where}: its directory {path.parent} is not writable")
        return
    if must_exist or not write:
        raise InputError(f"no tracking store at {uri} ({path.absolute()} does not exist); "
                         "run a sweep first, or pass --tracking-uri")
    _check_creatable(path.absolute().parent, option, f"tracking store {uri}")


def _check_file_store(uri: str, option: str, *, write: bool, must_exist: bool) -> None:
    parsed = urlparse(uri)
    path = Path(parsed.path if parsed.scheme else uri).expanduser()
    where = f"tracking store {uri}"
    if path.exists() and not path.is_dir():
        raise InputError(f"invalid {option}: {where} is a file; a file store is a directory")
    if not path.exists():
        if must_exist or not write:
            raise InputError(f"no tracking store at {uri} ({path.absolute()} does not exist); "
                             "run a sweep first, or pass --tracking-uri")
        _check_creatable(path, option, f"tracking store {uri}")
    elif write and not _writable_dir(path):
        raise InputError(f"invalid {option}: the directory of {where} is not writable")


def _check_creatable(path: Path, option: str, target: str) -> None:
    """``path`` is a writable directory, or can be created as one (by the command, later)."""
    ancestor = _existing_ancestor(path)
    here = " (the working directory)" if ancestor == Path.cwd() else ""
    if not ancestor.is_dir():
        raise InputError(f"invalid {option}: cannot create {target}: {str(ancestor)!r} is a file")
    if not _writable_dir(ancestor):
        raise InputError(f"invalid {option}: cannot write {target}: {str(ancestor)!r}{here} is not writable")


def check_dir(path: Path, option: str) -> None:
    """``path`` is a writable directory, or can be created as one; created by nothing here."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"invalid {option}: {str(path)!r} is a file, not a directory")
    _check_creatable(path, option, f"directory {str(path)!r}")


def check_output_file(path: Path, option: str) -> None:
    """``path`` can be written: not a directory, in an existing writable directory."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"invalid {option}: {str(path)!r} is a directory")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise InputError(f"invalid {option}: the directory {str(parent)!r} does not exist")
    if path.exists():
        try:
            open(path, "r+b").close()
        except OSError as err:
            raise InputError(f"invalid {option}: {str(path)!r} is not writable ({err.strerror or err})") from None
    elif not _writable_dir(parent):
        raise InputError(f"invalid {option}: the directory {str(parent)!r} is not writable")


def check_input_file(path: Path, option: str) -> None:
    """``path`` is a readable file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"invalid {option}: {str(path)!r} does not exist")
    if not path.is_file():
        raise InputError(f"invalid {option}: {str(path)!r} is not a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"invalid {option}: {str(path)!r} is not readable")


def check_run_id(run_id: str, option: str) -> None:
    if not RUN_ID.match(run_id):
        raise InputError(f"invalid {option}: {run_id!r} is not an MLflow run id")
