"""Systolic mode: dense compute cycles of a rows x cols systolic array, matching SCALE-Sim v3.

Each layer becomes SCALE-Sim's GEMM view: M = ofmap pixels (N*P*Q), N = filters (K),
K = reduction window (R*S*C per group). The dataflow decides which two of them are laid out
spatially (Sr over the array rows, Sc over the columns) and which one is streamed in time (T):

    os: Sr = pixels, Sc = filters, T = window     (outputs stay in the PEs)
    ws: Sr = window, Sc = filters, T = pixels     (weights stay in the PEs)
    is: Sr = window, Sc = pixels,  T = filters    (inputs stay in the PEs)

The operands are cut into ceil(Sr/rows) * ceil(Sc/cols) folds run one after the other, and
SCALE-Sim lets every fold drain before the next starts, so the cycles are folds * (T + fill) - 1,
with no overlap. Only compute is modelled: no SRAM stalls, no DRAM bandwidth, no sparsity
(see docs/systolic.md).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dla_explorer.core.errors import DlaError, UsageError, check_type
from dla_explorer.workload import Workload, read_scalesim_csv

__all__ = [
    "SystolicConfig",
    "read_scalesim_cfg",
    "run",
    "systolic_cycles",
]

_DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True)
class SystolicConfig:
    """The SCALE-Sim .cfg knobs we keep: array shape, dataflow and the SRAM/DRAM sizing.

    The SRAM sizes and bandwidth are carried for reports and future memory modelling; the cycle
    model itself only uses rows, cols and dataflow.
    """

    rows: int
    cols: int
    dataflow: str
    ifmap_sram_kb: int
    filter_sram_kb: int
    ofmap_sram_kb: int
    bandwidth: int | None = None  # words/cycle; None when SCALE-Sim estimates it ("CALC")
    run_name: str = ""

    def __post_init__(self) -> None:
        _check_array(self.rows, self.cols, self.dataflow)


def _check_array(rows: object, cols: object, dataflow: object, source: str = "systolic") -> None:
    """Raise UsageError unless rows and cols are whole numbers >= 1 and dataflow is os/ws/is.

    Args:
        rows: PE rows of the array.
        cols: PE columns of the array.
        dataflow: os, ws or is.
        source: what the message names first (a file, an option).

    Raises:
        UsageError: naming the value and the rule.
    """
    for key, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{source}: {key} must be a whole number >= 1, got {value!r}")
    if dataflow not in _DATAFLOWS:
        raise UsageError(f"{source}: dataflow must be one of {', '.join(_DATAFLOWS)}, got {dataflow!r}")


def read_scalesim_cfg(path: str | os.PathLike) -> SystolicConfig:
    """Read a SCALE-Sim .cfg (INI) file; a missing or malformed key is a UsageError naming it.

    Args:
        path: the .cfg file.

    Returns:
        Its array size, dataflow and interface bandwidth mode.

    Raises:
        DlaError: the file does not exist.
        UsageError: not an INI file, or a key missing or out of range (naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: file not found")
    # SCALE-Sim's files use both "key: value" and "key = value"; keys are case-insensitive.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(), source=str(path))
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise UsageError(f"{path}: not a valid SCALE-Sim config: {first_line}") from None
    arch = "architecture_presets"

    def text(key: str, section: str = arch) -> str:
        if not parser.has_option(section, key):
            raise UsageError(f"{path}: missing key '{key}' in section [{section}]")
        return parser.get(section, key).strip()

    def whole(key: str, minimum: int = 0) -> int:
        value = text(key).split(",")[0].strip()  # Bandwidth may list one value per memory
        if not value.isdigit() or int(value) < minimum:
            raise UsageError(f"{path}: key '{key}' must be a whole number >= {minimum}, got '{value}'")
        return int(value)

    dataflow = text("Dataflow").lower()
    if dataflow not in _DATAFLOWS:
        raise UsageError(f"{path}: key 'Dataflow' must be one of {', '.join(_DATAFLOWS)}, got '{dataflow}'")
    mode = parser.get("run_presets", "InterfaceBandwidth", fallback="CALC").strip().upper()
    if mode not in ("CALC", "USER"):
        raise UsageError(f"{path}: key 'InterfaceBandwidth' must be CALC or USER, got '{mode}'")
    return SystolicConfig(
        rows=whole("ArrayHeight", 1),
        cols=whole("ArrayWidth", 1),
        dataflow=dataflow,
        ifmap_sram_kb=whole("IfmapSramSzkB"),
        filter_sram_kb=whole("FilterSramSzkB"),
        ofmap_sram_kb=whole("OfmapSramSzkB"),
        # SCALE-Sim only uses Bandwidth with InterfaceBandwidth = USER; with CALC it estimates it.
        bandwidth=whole("Bandwidth", 1) if mode == "USER" else None,
        run_name=parser.get("general", "run_name", fallback="").strip() or path.stem,
    )


def _ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return -(-a // b)


def systolic_cycles(workload: Workload, rows: int, cols: int, dataflow: str) -> pd.DataFrame:
    """Dense compute cycles and utilisation per layer (workload order), as SCALE-Sim v3 reports
    (docs/systolic.md#formulas).

    Grouped and depthwise layers are mapped the way SCALE-Sim sees `to_scalesim_csv`'s export
    (Channels = C per group, all K filters side by side): exact MACs, optimistic utilisation.
    Output sizes are the layers' own P x Q; a SCALE-Sim topology read with `read_scalesim_csv`
    carries SCALE-Sim's own (rounded-up) output sizes.

    Args:
        workload: the layers.
        rows: PE rows of the array.
        cols: PE columns of the array.
        dataflow: os, ws or is.

    Returns:
        One row per layer: layer, dataflow, Sr, Sc, T, folds, MACs, compute_cycles and the
        utilisation and mapping efficiency in percent.

    Raises:
        UsageError: rows, cols or dataflow out of range.
    """
    _check_array(rows, cols, dataflow)
    fields = ("N", "C", "K", "R", "S", "P", "Q", "groups")
    n, c, k, r, s, p, q, groups = (
        np.array([[getattr(layer, f) for f in fields] for layer in workload.layers], dtype=np.int64)
        .reshape(-1, len(fields))
        .T
    )
    pixels, window = n * p * q, r * s * (c // groups)
    sr, sc, t = {"os": (pixels, k, window), "ws": (window, k, pixels), "is": (window, pixels, k)}[dataflow]
    row_folds, col_folds = _ceil_div(sr, rows), _ceil_div(sc, cols)
    folds = row_folds * col_folds
    # Per-fold fill and drain, from SCALE-Sim's demand matrices. os: operands are skewed over the
    # rows and columns (rows-1 + cols-1) while T partial products accumulate in place. ws/is: the
    # stationary operand is first loaded (rows cycles), then partial sums travel down the rows
    # (rows-1) and out across the skewed columns (cols-1).
    fill = rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2
    # SCALE-Sim reports the index of the last cycle (counted from 0), hence the -1.
    cycles = folds * (t + fill) - 1
    macs = pixels * k * window
    return pd.DataFrame(
        {
            "layer": [layer.name for layer in workload.layers],
            "dataflow": dataflow,
            "spatial_rows": sr,
            "spatial_cols": sc,
            "temporal": t,
            "row_folds": row_folds,
            "col_folds": col_folds,
            "macs": macs,
            "compute_cycles": cycles,
            # SCALE-Sim's "Overall Util %" and "Mapping Efficiency %" (mean over folds of PEs used).
            "utilization": 100.0 * macs / (cycles * rows * cols),
            "mapping_efficiency": 100.0 * sr * sc / (folds * rows * cols),
        }
    )


def run(
    topology: str | os.PathLike | Workload,
    rows: int | None = None,
    cols: int | None = None,
    dataflow: str | None = None,
    config: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Systolic cycles of a SCALE-Sim topology CSV (or a Workload); arguments given override the
    optional .cfg.

    Args:
        topology: a SCALE-Sim topology CSV, or a Workload (`workload.extract`, `sparse.workload`).
        rows: PE rows of the array; None takes the .cfg's.
        cols: PE columns of the array; None takes the .cfg's.
        dataflow: os, ws or is; None takes the .cfg's.
        config: a SCALE-Sim .cfg file, or None.

    Returns:
        One row per layer (see `systolic_cycles`).

    Raises:
        UsageError: rows, cols or dataflow missing or out of range, a bad .cfg or topology, or a
            topology that is neither a path nor a Workload.
        DlaError: a file that does not exist.
    """
    cfg = read_scalesim_cfg(config) if config is not None else None
    if cfg is not None:
        rows = cfg.rows if rows is None else rows
        cols = cfg.cols if cols is None else cols
        dataflow = cfg.dataflow if dataflow is None else dataflow
    if rows is None or cols is None or dataflow is None:
        missing = [
            name for name, value in (("rows", rows), ("cols", cols), ("dataflow", dataflow)) if value is None
        ]
        raise UsageError(
            f"systolic: {', '.join(missing)} not given: pass --rows, --cols and "
            "--dataflow, or a SCALE-Sim --config file"
        )
    dataflow = (
        dataflow.strip().lower() if isinstance(dataflow, str) else dataflow
    )  # _check_array names a bad one
    _check_array(rows, cols, dataflow)
    if isinstance(topology, Workload):  # what systolic_cycles takes: no CSV round trip
        return systolic_cycles(topology, rows, cols, dataflow)
    check_type(topology, (str, os.PathLike), "topology", "a SCALE-Sim topology CSV or a Workload")
    return systolic_cycles(read_scalesim_csv(topology), rows, cols, dataflow)
