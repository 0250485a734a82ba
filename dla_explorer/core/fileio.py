"""Atomic file writes and validated YAML loading shared by every stage.

Writes go to a temporary file in the target folder and are renamed over the final name, so an
interrupted run never leaves a half-written file behind under a name a later run would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
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
    if path.is_dir():
        raise DlaError(f"{path}: is a folder; give a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only or missing folder, a file where a folder should be
        raise DlaError(f"{path}: cannot write ({exc.strerror or exc})") from None
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk: the old file stays as it was
            raise DlaError(
                f"{path}: cannot write ({exc.strerror or exc}); the old file is unchanged"
            ) from None
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


# keys of the further errors a one-line message names after the first one's rule
MORE_KEYS = 4


def format_validation_error(source: str, err: pydantic.ValidationError) -> str:
    """One line naming the file, the key and the rule that failed (the first error in full, the
    keys of the next few: a spec missing four keys is fixed in one go, not in four runs)."""
    errors = err.errors()
    first = errors[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = ""
    if len(errors) > 1:
        keys = [
            f"'{'.'.join(str(p) for p in e['loc']) or '(top level)'}' ({_short_rule(e)})"
            for e in errors[1 : 1 + MORE_KEYS]
        ]
        rest = len(errors) - 1 - len(keys)
        more = f" (also: {', '.join(keys)}{f' and {rest} more' if rest else ''})"
    msg = first["msg"].removeprefix("Value error, ")
    named = re.match(r"(?:key '([^']+)'|([A-Za-z_][\w.]*)): (.+)", msg, re.S)
    if not first["loc"] and named:  # a whole-file check that names its key ("models: ...")
        key, msg = named.group(1) or named.group(2), named.group(3).replace("Value error, ", "")
    if first["type"] == "missing":
        msg = "missing (a required key)"
    elif first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling)"
    elif first["type"] != "missing" and not isinstance(first.get("input"), dict | list):
        got = repr(first.get("input"))
        msg = f"{msg} (got {got if len(got) <= 60 else got[:57] + '...'})"
    return f"{source}: key '{key}': {msg}{more}"


def _short_rule(error: Any) -> str:
    """A few words for a further error of a one-line message."""
    if error["type"] == "missing":
        return "missing"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return "invalid value"


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A UTF-8 text file; a missing, unreadable or binary file is a one-line DlaError."""
    path = Path(path)
    if path.is_dir():  # "not found" sent a user looking for a file that is there, as a folder
        raise DlaError(f"{path}: a folder, not a {what}")
    if not path.is_file():
        raise DlaError(f"{path}: {what} not found")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DlaError(f"{path}: not UTF-8 text (byte {exc.start}); is it a binary file?") from None


def cut_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by a killed writer or a full disk. Only for the file's
    writer, under its lock: a reader must never write (it would cut rows being appended)."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "rb+") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


# A YAML document whose aliases expand to more nodes than this is refused: a few lines of
# nested aliases (the "billion laughs") would otherwise expand to gigabytes when validated,
# hashed or dumped. Real specs and configs have a few hundred nodes.
MAX_YAML_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts the nodes of the document with every alias expanded."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise yaml.YAMLError("a recursive alias (an anchor used inside itself)")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(n, sizes, active) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(
            _expanded_size(k, sizes, active) + _expanded_size(v, sizes, active) for k, v in node.value
        )
    active.discard(key)
    if size > MAX_YAML_NODES:
        raise yaml.YAMLError(f"aliases expand to more than {MAX_YAML_NODES:,} values (an alias bomb?)")
    sizes[key] = size
    return size


def as_path(value: object, what: str = "path") -> Path:
    """A file or folder argument as a Path (an int or None failed in pathlib with a TypeError
    naming neither the argument nor what it should be).

    Args:
        value: the argument as given.
        what: its name in the message.

    Returns:
        The Path.

    Raises:
        UsageError: `value` is not a str or os.PathLike.
    """
    if not isinstance(value, str | os.PathLike):
        raise UsageError(f"{what} must be a path (a str or Path), not {type(value).__name__} {value!r}")
    return Path(value)


def read_yaml(path: str | os.PathLike) -> Any:
    path = as_path(path)
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise UsageError(f"{path}: not valid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or exc).strip().splitlines()
        raise UsageError(
            f"{path}: not valid YAML{where}: {problem[0] if problem else 'parse error'}"
        ) from None


# Whole numbers in configs, recipes and specs stay within the exactly representable doubles:
# counts beyond this overflow numpy's int64 arithmetic downstream (10^300 fill cycles did).
MAX_INT = 2**53


def check_int_bounds(value: Any) -> Any:
    """`value` unchanged, or ValueError when it is (or holds, in a list / dict) an int beyond
    MAX_INT; a wildcard field validator of the config base classes, so the error names the key."""
    items = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else [value]
    )
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            raise ValueError(f"{item:.3g} is out of range (at most 2**53 in magnitude)")
    return value


def validate(model: type[M], data: Any, source: str) -> M:
    """Build `model` from plain data; a failure becomes a one-line UsageError naming `source`."""
    if data is None:  # an empty file (or only comments)
        raise UsageError(f"{source}: empty; expected a mapping of keys to values")
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UsageError(format_validation_error(source, exc)) from None


def load_yaml_model(model: type[M], path: str | os.PathLike) -> M:
    """Read a YAML file and validate it as `model`; errors name the file and the key."""
    return validate(model, read_yaml(path), str(path))


class FileLock:
    """An exclusive fcntl lock on a file, released by the kernel when the process dies (so a
    killed run never leaves a stale lock behind). `blocking=False` raises DlaError(busy) at once
    when another process holds it."""

    def __init__(self, path: str | os.PathLike, blocking: bool = True, busy: str = "") -> None:
        self.path = Path(path)
        self.blocking, self.busy = blocking, busy
        self._handle: Any = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            self._handle.close()
            raise DlaError(self.busy or f"{self.path}: locked by another process") from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
