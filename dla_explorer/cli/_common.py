"""Helpers shared by the command modules: argument types, table output, progress.

This module and the command modules import only the standard library and `dla_explorer.core` at
the top: `dla-explorer --help` must not load torch, optuna, matplotlib or pandas (seconds of
start-up). The stages are imported inside the command handlers.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dla_explorer.core.units import GIGA, KILO, MEGA, MILLI, TERA
from dla_explorer.core.vocab import ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_ALPHA, DEFAULT_GAMMA

if TYPE_CHECKING:
    import pandas as pd

# a progress line is refreshed this often while a step without its own bar runs
TICK_S = 0.5

MAX_COUNT = 10**9  # the largest count an option takes (array sizes, trials, workers, rows)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    if value > MAX_COUNT:  # beyond int64 products downstream (--rows 10^20 overflowed)
        raise argparse.ArgumentTypeError(f"{value} must be at most {MAX_COUNT:,}")
    return value


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value


def _float_type(accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"{text} must be a finite number {rule}")
        return value

    return parse


positive_float = _float_type(lambda v: v > 0, "> 0")
non_negative_float = _float_type(lambda v: v >= 0, ">= 0")


def input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 1,3,224,224") from None
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': give N,C,H,W with every size >= 1")
    return shape


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_parser(subparsers: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser with the CLI's help formatter."""
    return subparsers.add_parser(name, formatter_class=formatter, **kwargs)


def add_grouping_options(p: argparse.ArgumentParser, scope: str = "") -> None:
    """--alpha, --gamma and --algorithm: how column combining groups columns (`scope` prefixes
    their help, e.g. "packed: " where they act in one mode only)."""
    p.add_argument(
        "--alpha",
        type=positive_int,
        default=DEFAULT_ALPHA,
        metavar="A",
        help=f"{scope}most columns combined into one (default {DEFAULT_ALPHA})",
    )
    p.add_argument(
        "--gamma",
        type=non_negative_float,
        default=DEFAULT_GAMMA,
        metavar="G",
        help=f"{scope}conflicts allowed per row on average (default {DEFAULT_GAMMA})",
    )
    p.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default=DEFAULT_ALGORITHM,
        help=f"{scope}grouping algorithm (default {DEFAULT_ALGORITHM}; reference is Kung et al.'s greedy)",
    )


def print_table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False, float_format=float_format.format))


def check_outputs(*paths: str | Path | None) -> None:
    """Refuse an output path that is a folder before the work, not after it (minutes, for some
    commands); the atomic write would refuse it too, with the same message.

    Raises:
        DlaError: a path is an existing folder.
    """
    from dla_explorer.core.errors import DlaError

    for path in paths:
        if path is not None and Path(path).is_dir():
            raise DlaError(f"{path}: is a folder; give a file name to write")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    from dla_explorer.core.fileio import write_csv_atomic

    write_csv_atomic(frame, path)
    print(f"wrote {path}")


#: resource counts are whole blocks; the simulator computes them as floats (vectorised)
RESOURCE_COLUMNS = ("dsp", "m20k", "alm", "multipliers")


def for_display(frame: pd.DataFrame, fractions: tuple[str, ...] = ()) -> pd.DataFrame:
    """The CLI's units in a table: utilisation-like `fractions` as percent (renamed NAME_pct, so
    the unit is in the column name), latencies in ms (latency_s -> latency_ms) and resource counts
    as whole numbers. Every command prints and writes its tables through this."""
    out = frame.copy()
    renames = {}
    for column in fractions:
        if column in out:
            out[column] = out[column] * 100.0
            renames[column] = f"{column.removesuffix('_pct')}_pct"
    if "latency_s" in out:
        out["latency_s"] = out["latency_s"] / MILLI
        renames["latency_s"] = "latency_ms"
    for column in RESOURCE_COLUMNS:
        if column in out and out[column].notna().all():
            out[column] = out[column].round().astype("int64")
    return out.rename(columns=renames)


def si(value: float, unit: str = "") -> str:
    """1.23e9 -> '1.23 G' (for summaries)."""
    for threshold, prefix in ((TERA, "T"), (GIGA, "G"), (MEGA, "M"), (KILO, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def require_extra(module: str, extra: str, needed_for: str) -> None:
    """A one-line usage error, before any work, when an optional package is not installed.

    Raises:
        UsageError: `module` cannot be imported; the message names the extra that installs it.
    """
    import importlib.util

    from dla_explorer.core.errors import UsageError

    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"{needed_for} needs the optional package '{module}': pip install 'dla-explorer[{extra}]'"
        )


@contextlib.contextmanager
def working(description: str, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A progress line with the elapsed time (on a terminal only; never when not `enabled`) while
    a step that reports no progress of its own runs: long silent waits look like hangs. Yields a
    function that ends the line early (when the step starts reporting progress itself)."""
    from tqdm import tqdm

    bar = tqdm(
        desc=description,
        total=None,
        bar_format="{desc}: {elapsed}",
        disable=None if enabled else True,
        leave=False,
    )
    done = threading.Event()

    def tick() -> None:
        while not done.wait(TICK_S):
            bar.refresh()

    def stop() -> None:
        if not done.is_set():
            done.set()
            thread.join()
            bar.close()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop()


class LayerBars:
    """Per-layer progress of a step that reports each layer of each of its stages as
    `bars(stage, layer, layers)` (pruning.LayerProgress): one tqdm bar per stage on stderr, on a
    terminal only (tqdm's disable=None) and never when not `enabled`. `before` runs at the first
    report (it ends the elapsed-time line of the step's silent start, see `working`)."""

    def __init__(self, description: str, enabled: bool = True, before: Callable[[], None] | None = None):
        self.description, self.enabled, self.before = description, enabled, before
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, stage: str, layer: str, layers: int) -> None:
        if stage != self.stage:
            if self.before is not None and self.stage is None:
                self.before()
            self.close()
            from tqdm import tqdm

            self.stage = stage
            self.bar = tqdm(
                total=layers,
                desc=f"{self.description}: {stage}",
                unit="layer",
                file=sys.stderr,
                disable=None if self.enabled else True,
                leave=False,
            )
        self.bar.set_postfix_str(layer, refresh=False)
        self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
