"""`dla-explorer dram`: replay a request trace through the cycle-level DRAM model."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from dla_explorer.cli._common import formatter, positive_int
from dla_explorer.core.errors import DlaError, UsageError

if TYPE_CHECKING:
    from dla_explorer.sim.dram import DramConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dram",
        help="replay a DRAM request trace through the cycle-level DDR4/HBM2 model",
        formatter_class=formatter,
        description="Sustained bandwidth, efficiency, read latency and row-hit rate of a request "
        "trace on a DRAM configuration (hw_configs/dram/ or a YAML path), from a "
        "cycle-level controller model (see docs/dram.md). Without a time_ns column "
        "every request is available at time zero (a saturating source); requests "
        "are offered in order and one the controller cannot take waits. Bandwidth is "
        "measured until the last request is accepted.",
        epilog="trace CSV: a header, then address (decimal or 0x-hex byte address), op (R or W)\n"
        "and optionally time_ns (earliest offer time).\n\n"
        "examples:\n"
        "  dla-explorer dram trace.csv --memory dramsim3_ddr4_8gb_x8_2666\n"
        "  dla-explorer dram trace.csv --memory hbm2_s10mx_pc --max-outstanding 1 --json",
    )
    p.add_argument("trace", metavar="TRACE.csv", help="request trace")
    p.add_argument(
        "--memory",
        required=True,
        metavar="CONFIG",
        help="DRAM config: a name in hw_configs/dram/ or a YAML path",
    )
    p.add_argument(
        "--request-bytes",
        type=positive_int,
        default=64,
        metavar="B",
        help="bytes per request (default 64; several bursts if larger than one)",
    )
    p.add_argument(
        "--max-outstanding",
        type=positive_int,
        default=None,
        metavar="N",
        help="at most N requests in flight (default: no limit)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def load_dram_or_explain(name: str) -> DramConfig:
    """The DRAM config `name`; when it is a memory system's name (what 'simulate --memory'
    takes), the error says which DRAM device that system uses."""
    from dla_explorer.sim import config as hw
    from dla_explorer.sim.dram import load_dram

    try:
        return load_dram(name)
    except UsageError as exc:
        try:
            memory = hw.load_memory(name)
        except DlaError:
            raise exc from None
        raise UsageError(
            f"{exc}; '{name}' is a memory system (hw_configs/memory/), whose DRAM device is "
            f"--memory {memory.dram}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from dla_explorer.sim.dram import read_trace, simulate_trace

    config = load_dram_or_explain(args.memory)
    addresses, is_write, arrival = read_trace(args.trace)
    result = simulate_trace(
        config,
        addresses,
        is_write,
        arrival,
        request_bytes=args.request_bytes,
        max_outstanding=args.max_outstanding or 0,
    )
    summary = result.summary()
    if args.json:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
        print(json.dumps(clean))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        text = f"{value:.4f}" if isinstance(value, float) else f"{value}"
        print(f"{key:<{width}}  {text}")
    return 0
