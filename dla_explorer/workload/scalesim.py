"""SCALE-Sim topology CSVs (v2/v3 "conv" format): read them as a Workload, write ours as one."""

from __future__ import annotations

import os
from pathlib import Path

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.core.fileio import read_text, write_text_atomic
from dla_explorer.workload.layers import Layer, Workload

# SCALE-Sim topology CSV (v2/v3 "conv" format). SCALE-Sim has no padding and no groups, and it
# rounds the output size up: ceil((H - R + stride) / stride), so a stride that does not divide
# H - R adds a partial edge window. We read with its rule, export an input size that its rule maps
# back to our P x Q, and export grouped layers with Channels = C per group (exact MAC count).


def _scalesim_output_size(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size: ceil((size - kernel + stride) / stride) (no padding, rounded up).

    Args:
        size: the input height or width, in elements (padding included, if any).
        kernel: the filter height or width.
        stride: the stride along that axis.

    Returns:
        The output height or width SCALE-Sim computes for that axis.
    """
    return -(-(size - kernel + stride) // stride)


def _scalesim_input_size(layer: Layer, out: int, kernel: int, size: int) -> int:
    padded = size + 2 * layer.padding
    if _scalesim_output_size(padded, kernel, layer.stride) == out:
        return padded
    return (out - 1) * layer.stride + kernel


SCALESIM_COLUMNS = (
    "Layer name",
    "IFMAP Height",
    "IFMAP Width",
    "Filter Height",
    "Filter Width",
    "Channels",
    "Num Filter",
    "Strides",
)


def to_scalesim_csv(workload: Workload, path: str | os.PathLike) -> None:
    """Write a workload as a SCALE-Sim topology CSV (one row per compute layer).

    Input sizes are chosen so that SCALE-Sim's output-size rule gives back our P x Q; grouped
    layers are written with Channels = C per group (the exact MAC count).

    Args:
        workload: the layer table.
        path: the CSV to write (atomically).
    """
    lines = [", ".join(SCALESIM_COLUMNS) + ","]
    for layer in workload:
        height = _scalesim_input_size(layer, layer.P, layer.R, layer.H)
        width = _scalesim_input_size(layer, layer.Q, layer.S, layer.W)
        row = (layer.name, height, width, layer.R, layer.S, layer.c_per_group, layer.K, layer.stride)
        lines.append(", ".join(str(v) for v in row) + ",")
    write_text_atomic(path, "\n".join(lines) + "\n")


# Largest height, width or channel count of a topology row: 100x a 224-pixel ImageNet input's
# 22,400 still fits; products of such sizes stay far below 2^63 in the simulators' int64 counts.
MAX_TOPOLOGY_SIZE = 1_000_000
# and of a layer's MACs: 10^15 is 250,000 ResNet-50s in one layer, and times the cycle and byte
# factors the simulators apply it stays below 2^63
MAX_TOPOLOGY_MACS = 10**15


def read_scalesim_csv(path: str | os.PathLike, name: str | None = None) -> Workload:
    """Read a SCALE-Sim topology CSV (v2/v3 "conv" format) as a Workload.

    Blank lines and trailing commas are accepted, as SCALE-Sim accepts them. Rows with a 1x1
    input and a 1x1 filter are linear layers; output sizes follow SCALE-Sim's rule.

    Args:
        path: the topology file.
        name: the workload's name (default: the file name without its suffix).

    Returns:
        The Workload, batch 1, input shape from the first row.

    Raises:
        DlaError: the file does not exist, or is not UTF-8 text.
        UsageError: an empty file, a wrong header, no layer row, a short row, a size that is not a
            whole number >= 1, a filter larger than its input, or sizes beyond
            MAX_TOPOLOGY_SIZE / MAX_TOPOLOGY_MACS (the message names the file and the row).
    """
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: file not found")
    lines = [ln.strip() for ln in read_text(path, "topology file").splitlines() if ln.strip()]
    if not lines:
        raise UsageError(f"{path}: empty topology file")
    header = [h.strip() for h in lines[0].rstrip(",").split(",")]
    width = len(SCALESIM_COLUMNS)
    if [h.lower() for h in header[:width]] != [c.lower() for c in SCALESIM_COLUMNS]:
        raise UsageError(f"{path}: header must start with: {', '.join(SCALESIM_COLUMNS)}")
    layers = []
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.rstrip(",").split(",")]
        if len(cells) < width:
            raise UsageError(f"{path}: row {number} has {len(cells)} columns, expected {width}")
        try:
            h, w, r, s, c, k, stride = (int(v) for v in cells[1:width])
        except ValueError:
            raise UsageError(f"{path}: row {number}: sizes must be whole numbers") from None
        if r > h or s > w:
            raise UsageError(f"{path}: row {number} ('{cells[0]}'): filter larger than the input")
        if min(h, w, r, s, c, k, stride) < 1:
            raise UsageError(f"{path}: row {number} ('{cells[0]}'): sizes must be >= 1")
        macs = h * w * r * s * c * k  # an upper bound of the layer's MACs (exact Python ints)
        if max(h, w, c, k) > MAX_TOPOLOGY_SIZE or macs > MAX_TOPOLOGY_MACS:
            # beyond these the int64 MAC and cycle counts overflow (10^12 gave negative cycles)
            raise UsageError(
                f"{path}: row {number} ('{cells[0]}'): sizes must be at most {MAX_TOPOLOGY_SIZE:,} "
                f"and H*W*R*S*C*K at most {MAX_TOPOLOGY_MACS:.0e}"
            )
        kind = "linear" if (h, w, r, s) == (1, 1, 1, 1) else "conv"
        layers.append(
            Layer(
                cells[0],
                kind,
                1,
                c,
                k,
                r,
                s,
                h,
                w,
                _scalesim_output_size(h, r, stride),
                _scalesim_output_size(w, s, stride),
                stride,
            )
        )
    if not layers:
        raise UsageError(f"{path}: the topology has a header but no layers")
    return Workload(name or path.stem, (1, layers[0].C, layers[0].H, layers[0].W), tuple(layers))
