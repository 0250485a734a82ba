"""Helpers shared by the command modules: argument types and table output."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dla_explorer.core.fileio import write_csv_atomic

MAX_COUNT = 10**9  # the largest count an option takes (array sizes, trials, workers, rows)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    if value > MAX_COUNT:  # beyond int64 products downstream (--rows 10^20 overflowed)
        raise argparse.ArgumentTypeError(f"{value} must be at most {MAX_COUNT:,}")
    return value


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


def print_table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> None:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False, float_format=float_format.format))


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    write_csv_atomic(frame, path)
    print(f"wrote {path}")


def si(value: float, unit: str = "") -> str:
    """1.23e9 -> '1.23 G' (for summaries)."""
    for threshold, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()
