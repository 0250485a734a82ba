"""Stage 1, workloads: the table of compute layers of a network.

`extract` runs a torch model once with forward hooks; `zoo` holds the built-in networks;
`scalesim` reads and writes SCALE-Sim topology CSVs.

The names below are imported on first use (PEP 562), so that `dla_explorer.workload.zoo` can list
the zoo without loading torch (the CLI's `models` and `--help` stay fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        to_scalesim_csv,
    )

__all__ = [
    "AUX_KINDS",
    "LAYER_KINDS",
    "SCALESIM_COLUMNS",
    "AuxOp",
    "Layer",
    "LayerSequence",
    "Workload",
    "extract",
    "module_of",
    "read_scalesim_csv",
    "to_scalesim_csv",
    "uncovered",
    "warn_uncovered",
]
_SCALESIM = {"SCALESIM_COLUMNS", "read_scalesim_csv", "to_scalesim_csv"}
_HOME = {
    name: "dla_explorer.workload.scalesim" if name in _SCALESIM else "dla_explorer.workload.layers"
    for name in __all__
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dla_explorer.workload' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
