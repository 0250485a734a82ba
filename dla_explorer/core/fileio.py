"""Atomic file writes and validated YAML loading shared by every stage.

Writes go to a temporary file in the target folder and are renamed over the final name, so an
interrupted run never leaves a half-written file behind under a name a later run would trust.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pydantic
import yaml

from dla_explorer.core.errors import DlaError, UsageError

M = TypeVar("M", bound=pydantic.BaseModel)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_csv_atomic(frame: Any, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame as CSV (no index) atomically: readers never see half a table."""
    with atomic_open(path, "w") as handle:
        frame.to_csv(handle, index=False)


def format_validation_error(source: str, err: pydantic.ValidationError) -> str:
    """One line naming the file, the key and the rule that failed (first error only)."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling)"
    elif first["type"] != "missing" and not isinstance(first.get("input"), dict | list):
        msg = f"{msg} (got {first.get('input')!r})"
    return f"{source}: key '{key}': {msg}{more}"


def read_yaml(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def validate(model: type[M], data: Any, source: str) -> M:
    """Build `model` from plain data; a failure becomes a one-line UsageError naming `source`."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UsageError(format_validation_error(source, exc)) from None


def load_yaml_model(model: type[M], path: str | os.PathLike) -> M:
    """Read a YAML file and validate it as `model`; errors name the file and the key."""
    return validate(model, read_yaml(path), str(path))
