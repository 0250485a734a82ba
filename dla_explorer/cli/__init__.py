"""The `dla-explorer` command: a thin layer over the Python API.

Exit codes: 0 success, 1 an error in the data or files, 2 a usage error (bad option or value).
Each command lives in its own module with a `register(subparsers)` function.
"""

from __future__ import annotations

import argparse
import sys

from dla_explorer.cli import (
    accuracy,
    dram,
    experiment,
    pack,
    prune,
    search,
    simulate,
    systolic,
    validate,
    zoo,
)
from dla_explorer.cli._common import check_outputs
from dla_explorer.core.errors import DlaError

COMMAND_MODULES = (zoo, prune, pack, simulate, search, systolic, dram, experiment, validate, accuracy)

DESCRIPTION = """\
Design-space explorer for sparse CNN inference on FPGA deep-learning accelerators.

The main job:
  dla-explorer run experiments/paper.yaml --report     the reference comparison, with a report

Step by step:
  dla-explorer models                                  list the model zoo
  dla-explorer workload resnet50                       layer table of a network
  dla-explorer prune models/resnet50_random90.yaml     prune a model from a recipe
  dla-explorer inspect models/resnet50_random90.npz    summarise a pruned checkpoint
  dla-explorer pack models/resnet50_random90.npz --k-vec 64 --c-vec 16 --alpha 8
                                                       column-combine the sparse filters
  dla-explorer simulate models/resnet50_random90.npz --memory hbm2_x2
                                                       throughput, power, bounds of a design
  dla-explorer sweep experiments/mobilenet_sweep.yaml  every design of a small space
  dla-explorer search experiments/resnet50_hbm2_search.yaml   an Optuna study (resumable)
  dla-explorer show results/resnet50_hbm2_search       best designs and the Pareto set
  dla-explorer workload resnet50 --scalesim topology.csv   export a SCALE-Sim topology
  dla-explorer systolic topology.csv --rows 32 --cols 32 --dataflow ws   SCALE-Sim-style cycles
  dla-explorer dram trace.csv --memory dramsim3_hbm2_8gb_x128   cycle-level DRAM replay
  dla-explorer validate                                the simulator against published data points
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dla-explorer", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


# options that name a file a command writes when done: a folder given there is refused before
# the work (validate --csv ran half a minute, then failed)
FILE_OPTIONS = ("csv", "scalesim", "output")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_outputs(*(getattr(args, name, None) for name in FILE_OPTIONS))
        return args.handler(args) or 0
    except DlaError as exc:  # one line, always (a library message may quote several)
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"dla-explorer {args.command}: error: {text}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"dla-explorer {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # read-only folder, a folder as output, disk full, unwritable cache
        print(f"dla-explorer {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"dla-explorer {args.command}: error: out of memory (inputs too large?)", file=sys.stderr)
        return 1


def os_error_text(exc: OSError) -> str:
    """'path: reason' in one line (e.g. 'results/x/sweep.csv: No space left on device')."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{where}: {reason}" if where else str(reason)
