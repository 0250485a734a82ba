"""`dla-explorer validate`: the simulator against published data points."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dla_explorer.cli._common import add_parser, print_table, write_csv

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POINTS = (
    ROOT / "validation" / "points.yaml"
)  # study.validation.DEFAULT_POINTS (a test keeps them equal)
DEFAULT_DOCS = ROOT / "docs" / "validation.md"
COLUMNS = ["id", "set", "model", "figure", "published", "simulated", "error", "ddr_error", "power_error"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "validate",
        help="simulate published data points and compare",
        description="Simulate every published data point of POINTS.yaml (device, architecture as "
        "published, model, precision, clock, memory; published frames/s and, where given, DRAM MB "
        "per frame and power, or a ratio of two designs), print simulated against published with "
        "the error of each point and the summary per set (calibration points may inform a "
        "coefficient, validation points never do), and write the table into docs/validation.md "
        "(for the repository's own points only: with a POINTS.yaml of yours, only into --docs PATH).",
        epilog="examples:\n  dla-explorer validate\n  dla-explorer validate --no-docs --csv validation.csv",
    )
    p.add_argument(
        "points",
        nargs="?",
        metavar="POINTS.yaml",
        help="the points (default validation/points.yaml of the repository)",
    )
    p.add_argument("--no-docs", action="store_true", help="do not write the table into docs/validation.md")
    p.add_argument(
        "--docs",
        metavar="PATH",
        help="the Markdown file to write the table into, between its validate markers (default: "
        "docs/validation.md of the repository when POINTS.yaml is not given, else none)",
    )
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when the validation set misses the acceptance bounds"
    )
    p.set_defaults(handler=run)


ERROR_COLUMNS = ("error", "ddr_error", "power_error")


def in_percent(table: pd.DataFrame) -> pd.DataFrame:
    """The table's columns as printed: errors in percent (`error_pct`, ...), as the summary gives
    them (the Python API's table keeps fractions)."""
    shown = table[COLUMNS].copy()
    for column in ERROR_COLUMNS:
        shown[column] = shown[column] * 100
    return shown.rename(columns={c: f"{c}_pct" for c in ERROR_COLUMNS})


def run(args: argparse.Namespace) -> int:
    from dla_explorer.study import validation

    points = args.points or DEFAULT_POINTS
    # the repository's docs hold the shipped points' table: another points file never overwrites it
    docs = None if args.no_docs else args.docs or (None if args.points else DEFAULT_DOCS)
    if docs is not None:  # before a run of minutes, not after it
        validation.check_docs(docs)
    table = validation.run(points)
    shown = in_percent(table)
    print_table(shown, "{:.3f}")
    for name, check in validation.summary(table).items():
        print(
            f"{name}: {check['points']} points, median |error| {check['median_abs_error']:.1%}, "
            f"worst {check['max_abs_error']:.1%}; DRAM MB/frame within {validation.DDR_LIMIT:.0%}: "
            f"{check['ddr_within']} of {check['ddr_points']}"
        )
    ok = validation.accepted(table)
    print(f"acceptance on the validation set: {'met' if ok else 'not met'}")
    if args.csv:
        write_csv(shown.join(table.drop(columns=COLUMNS)), args.csv)
    if docs is not None:
        validation.write_docs(validation.markdown(table, validation.load_points(points).sources), docs)
        print(f"table written into {docs}")
    return 1 if args.check and not ok else 0
