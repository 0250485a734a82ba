"""Functional executor: run a layer from its packed format the way the PE array would.

Per pass, per packed column, per lane (filter): the lane's select picks one of the packed column's
original columns, i.e. one (tap, input channel) of the im2col'd input, multiplies it by the stored
weight and accumulates. Vectorised as im2col + one gather per pass; the result must equal a plain
convolution with the conflict-pruned weights, which is what the tests check against torch.
"""

from __future__ import annotations

import numpy as np

from dla_explorer.core.errors import UsageError, check_type
from dla_explorer.packing import PackedLayer, packed_passes
from dla_explorer.packing.format import PackedPass
from dla_explorer.workload import Layer

__all__ = [
    "im2col",
    "run_layer",
]

# output pixels gathered at once: bounds the (pixels, lanes, packed columns) temporary
_PIXEL_CHUNK = 1024


def im2col(x: np.ndarray, layer: Layer, c0: int, c1: int) -> np.ndarray:
    """(N, C, H, W) -> (N*P*Q, R*S*(c1-c0)) for channels [c0, c1), columns (r, s, c), c fastest.

    Args:
        x: the layer's input, (N, C, H, W).
        layer: the layer (its kernel, stride, padding and output size).
        c0: the first input channel of the block.
        c1: one past its last.

    Returns:
        One row per output pixel, one column per (r, s, c) of the block.
    """
    pad = layer.padding
    padded = np.pad(x[:, c0:c1], ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (layer.R, layer.S), axis=(2, 3))
    stride = layer.stride
    windows = windows[:, :, : layer.P * stride : stride, : layer.Q * stride : stride]
    # (N, c, P, Q, R, S) -> (N, P, Q, R, S, c)
    return windows.transpose(0, 2, 3, 4, 5, 1).reshape(x.shape[0] * layer.P * layer.Q, -1)


def _run_pass(columns: np.ndarray, packed: PackedPass) -> np.ndarray:
    """(pixels, pass columns) inputs -> (pixels, lanes) partial sums of one pass.

    Args:
        columns: the pass's inputs, one row per output pixel, one column per original column.
        packed: the pass's stored format (kept weights, selects, group members).

    Returns:
        The partial sums, one row per pixel, one column per PE lane (filter of the pass).
    """
    lanes = packed.selects.shape[0]
    out = np.zeros((columns.shape[0], lanes), dtype=np.result_type(columns, packed.values))
    if packed.members.shape[0] == 0:
        return out
    packed_column = np.arange(packed.members.shape[0])[None, :]
    source = packed.members[packed_column, packed.selects]  # (lanes, packed cols): input column
    # empty cells select member 0 with weight 0; a padded member (-1) never carries a weight
    source = np.where(source < 0, 0, source)
    for start in range(0, columns.shape[0], _PIXEL_CHUNK):
        chunk = columns[start : start + _PIXEL_CHUNK]
        out[start : start + _PIXEL_CHUNK] = np.einsum("plg,lg->pl", chunk[:, source], packed.values)
    return out


def run_layer(x: np.ndarray, weight: np.ndarray, packed: PackedLayer) -> np.ndarray:
    """Run one layer from its packed format, pass by pass, the way the PE array would.

    The stored format (and so the conflict pruning) is rebuilt from `weight` and the packing's
    group labels; comparing the output with a dense convolution checks the packing end to end.

    Args:
        x: the layer's input, (N, C, H, W), or (N, C) for a linear layer.
        weight: the layer's sparse weight, of shape `packed.layer.weight_shape`.
        packed: the layer's packing (an element of `pack(...).layers`).

    Returns:
        The output (N, K, P, Q), or (N, K) for a linear layer; no bias.

    Raises:
        UsageError: `x` or `weight` does not have the layer's shape, or `packed` is not a
            PackedLayer.
    """
    check_type(packed, PackedLayer, "packed", "one layer of a packing: pack(...)[layer_name]")
    layer = packed.layer
    x = np.asarray(x)
    expected = (layer.C,) if layer.kind == "linear" else (layer.C, layer.H, layer.W)
    if x.ndim != len(expected) + 1 or x.shape[1:] != expected:
        raise UsageError(
            f"layer '{layer.name}': input shape {x.shape} does not match (N, {', '.join(map(str, expected))})"
        )
    images = x[:, :, None, None] if layer.kind == "linear" else x
    batch = images.shape[0]
    out = np.zeros((batch * layer.P * layer.Q, layer.K), dtype=np.result_type(x, weight))
    for packed_pass in packed_passes(weight, packed):
        columns = im2col(images, layer, packed_pass.c0, packed_pass.c1)
        out[:, packed_pass.k0 : packed_pass.k1] = _run_pass(columns, packed_pass)
    out = out.reshape(batch, layer.P, layer.Q, layer.K).transpose(0, 3, 1, 2)
    return out[:, :, 0, 0] if layer.kind == "linear" else out
