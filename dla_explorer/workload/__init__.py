"""Stage 1, workloads: the table of compute layers of a network.

`extract` runs a torch model once with forward hooks; `zoo` holds the built-in networks;
`scalesim` reads and writes SCALE-Sim topology CSVs.
"""

from dla_explorer.workload.layers import (
    AUX_KINDS,
    LAYER_KINDS,
    AuxOp,
    Layer,
    LayerSequence,
    Workload,
    extract,
    module_of,
    uncovered,
    warn_uncovered,
)
from dla_explorer.workload.scalesim import (
    SCALESIM_COLUMNS,
    read_scalesim_csv,
    scalesim_output_size,
    to_scalesim_csv,
)

__all__ = [
    "AUX_KINDS",
    "AuxOp",
    "LAYER_KINDS",
    "Layer",
    "LayerSequence",
    "SCALESIM_COLUMNS",
    "Workload",
    "extract",
    "module_of",
    "read_scalesim_csv",
    "scalesim_output_size",
    "to_scalesim_csv",
    "uncovered",
    "warn_uncovered",
]
