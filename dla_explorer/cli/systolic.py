"""`dla-explorer systolic`: SCALE-Sim-compatible dense cycles of a 2-D systolic array."""

from __future__ import annotations

import argparse

from dla_explorer.cli._common import add_parser, positive_int, print_table, write_csv
from dla_explorer.core.vocab import DATAFLOWS

COLUMNS = ["layer", "macs", "row_folds", "col_folds", "compute_cycles", "utilization_pct"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "systolic",
        help="SCALE-Sim-compatible cycles of a 2-D systolic array",
        description="Dense compute cycles and utilisation of a rows x cols systolic array with an "
        "output-, weight- or input-stationary dataflow, per layer of a SCALE-Sim "
        "topology CSV. The cycles equal SCALE-Sim v3's compute cycles (see "
        "docs/systolic.md); SRAM and DRAM stalls are not modelled. Utilisation is in percent.",
        epilog="examples:\n"
        "  dla-explorer workload resnet50 --scalesim topology.csv   # make a topology\n"
        "  dla-explorer systolic topology.csv --rows 32 --cols 32 --dataflow ws\n"
        "  dla-explorer systolic topology.csv --config scale.cfg --csv cycles.csv",
    )
    p.add_argument("topology", metavar="TOPOLOGY.csv", help="SCALE-Sim topology file")
    p.add_argument("--rows", type=positive_int, help="array rows (ArrayHeight; needed without --config)")
    p.add_argument("--cols", type=positive_int, help="array columns (ArrayWidth; needed without --config)")
    p.add_argument(
        "--dataflow",
        choices=DATAFLOWS,
        type=str.lower,
        help="os (output), ws (weight) or is (input) stationary",
    )
    p.add_argument(
        "--config", metavar="X.cfg", help="SCALE-Sim config; --rows/--cols/--dataflow override its values"
    )
    p.add_argument("--csv", metavar="OUT", help="write the per-layer table as CSV")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dla_explorer.sim import systolic

    # SCALE-Sim reports utilisation in percent already: only the column name says so here
    frame = systolic.run(args.topology, args.rows, args.cols, args.dataflow, args.config)
    frame = frame.rename(columns={"utilization": "utilization_pct"})
    print_table(frame[COLUMNS], "{:.2f}")
    total = frame["compute_cycles"].sum()
    overall = (frame["utilization_pct"] * frame["compute_cycles"]).sum() / total  # cycle-weighted
    print(
        f"total: {total:,} compute cycles for {frame['macs'].sum():,} MACs, "
        f"overall utilisation {overall:.1f}%"
    )
    if args.csv:
        write_csv(frame, args.csv)
    return 0
