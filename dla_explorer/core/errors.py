"""Errors a user can act on. The CLI prints them as one line and exits with `exit_code`."""

import inspect
import numbers
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parents[1])


class DlaError(Exception):
    """A run-time problem with the user's files or data (exit code 1)."""

    exit_code = 1


class UsageError(DlaError):
    """A bad argument, option or configuration value (exit code 2)."""

    exit_code = 2


class BadValue(UsageError, ValueError):
    """A value a config model refuses, raised in place of pydantic's multi-line ValidationError
    where one reaches a user (`hw.Architecture(k_vec=-1, ...)`); a ValueError too, as the
    ValidationError it replaces is, so code catching ValueError keeps working."""


class UnknownName(UsageError, KeyError):
    """A name (a layer, a table key) that is not there: a UsageError with its one-line message, and
    a KeyError, so `try: table[name] except KeyError` and `dict.get`-style code keep working."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument (quotes around the whole message)
        return str(self.args[0]) if self.args else ""


def check_whole(value: object, what: str, low: int, high: int | None = None) -> None:
    """Refuse a public API argument that is not a whole number in [low, high] (a seed of '1' or a
    batch of 0 failed deep in torch or numpy, or was silently replaced by a default).

    Args:
        value: the argument as given (a bool is not a whole number here).
        what: the argument's name, as the message should call it.
        low: the least value allowed.
        high: the largest value allowed (None: no bound).

    Raises:
        UsageError: `value` is not an integer, or outside [low, high].
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):  # type: ignore[operator]
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise UsageError(f"{what} = {value!r}: must be a whole number {bound}")


def check_type(value: object, expected: type | tuple[type, ...], what: str, hint: str = "") -> None:
    """Refuse a public API argument of the wrong type with one line naming the argument, the type
    wanted and the value given (an AttributeError deep in the simulator names none of them).

    Args:
        value: the argument as given.
        expected: the class (or classes) it must be an instance of.
        what: the argument's name, as the message should call it.
        hint: appended to the message: how to make the right object (e.g. "hw.load_memory(name)").

    Raises:
        UsageError: `value` is not an instance of `expected`.
    """
    if isinstance(value, expected):
        return
    names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    article = "an" if names[0].lower() in "aeiou" else "a"
    raise UsageError(
        f"{what} must be {article} {names}, not {type(value).__name__} {shown}{f' ({hint})' if hint else ''}"
    )


def user_stacklevel() -> int:
    """The `stacklevel` for `warnings.warn` that names the first line outside this package (the
    user's call), however deep in the package the warning is raised: a fixed level named the
    right line for one entry point only (`read_onnx` and `load_onnx` reach the same warning at
    different depths).

    Returns:
        1 for the function that calls this one, plus one per package frame above it.
    """
    level = 1
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the function about to warn
    while frame is not None and frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
