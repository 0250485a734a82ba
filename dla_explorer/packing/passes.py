"""The pass structure of a layer on a chain of k_vec PEs, and the GEMM matrix of each pass.

A layer's filters are reduced over (r, s, c) with the input channel fastest, the order the pruner
uses for N:M. A pass is up to k_vec filters run together:

- when a group has at least k_vec filters (K/g >= k_vec), each group splits into
  ceil((K/g)/k_vec) passes, each reading that group's C/g channels;
- otherwise (depthwise, small groups) one pass holds floor(k_vec/(K/g)) whole groups and reads the
  union of their channels; its matrix is block-diagonal (structural zeros off the blocks).

A linear layer is a 1x1 conv on a 1x1 input. Filters and channels of a pass are contiguous, so a
pass is four numbers: the filter range [k0, k1) and the channel range [c0, c1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_explorer.workload import Layer


@dataclass(frozen=True)
class PassPlan:
    """Per-pass filter and channel ranges of one layer (arrays of length n_passes)."""

    k0: np.ndarray
    k1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    taps: int  # R * S

    @property
    def n_passes(self) -> int:
        return len(self.k0)

    @property
    def rows(self) -> np.ndarray:
        return self.k1 - self.k0

    @property
    def channels(self) -> np.ndarray:
        return self.c1 - self.c0

    @property
    def columns(self) -> np.ndarray:
        return self.channels * self.taps

    @property
    def column_offsets(self) -> np.ndarray:
        """Start of each pass's columns in the concatenation of all passes' columns."""
        return np.concatenate([[0], np.cumsum(self.columns)])


def plan(layer: Layer, k_vec: int) -> PassPlan:
    """The passes of `layer` on `k_vec` PEs (see the module docstring)."""
    kpg, cpg, groups = layer.k_per_group, layer.c_per_group, layer.groups
    if kpg >= k_vec:
        per_group = -(-kpg // k_vec)
        group = np.repeat(np.arange(groups), per_group)
        chunk = np.tile(np.arange(per_group), groups)
        k0 = group * kpg + chunk * k_vec
        k1 = np.minimum(k0 + k_vec, (group + 1) * kpg)
        c0, c1 = group * cpg, (group + 1) * cpg
    else:
        per_pass = k_vec // kpg
        first = np.arange(0, groups, per_pass)
        last = np.minimum(first + per_pass, groups)
        k0, k1, c0, c1 = first * kpg, last * kpg, first * cpg, last * cpg
    return PassPlan(
        k0.astype(np.int64), k1.astype(np.int64), c0.astype(np.int64), c1.astype(np.int64), layer.R * layer.S
    )


def reduction_major(weight: np.ndarray) -> np.ndarray:
    """(K, C/g, R, S) -> (K, R, S, C/g) (channel fastest); linear (K, C) -> (K, 1, 1, C)."""
    if weight.ndim == 2:
        return weight[:, None, None, :]
    return weight.transpose(0, 2, 3, 1)


def pass_matrix(weight_rsc: np.ndarray, layer: Layer, plan_: PassPlan, index: int) -> np.ndarray:
    """The (rows, taps * channels) matrix of pass `index`; columns ordered (r, s, c), c fastest.

    `weight_rsc` is `reduction_major(weight)`. Block-diagonal passes get structural zeros where a
    filter meets a channel of another group.
    """
    k0, k1 = int(plan_.k0[index]), int(plan_.k1[index])
    c0, c1 = int(plan_.c0[index]), int(plan_.c1[index])
    rows, cpg = k1 - k0, layer.c_per_group
    block = weight_rsc[k0:k1]  # (rows, R, S, cpg)
    if c1 - c0 == cpg:
        return np.ascontiguousarray(block).reshape(rows, -1)
    # several whole groups: put each filter's cpg channels at its group's offset in the union
    matrix = np.zeros((rows, *block.shape[1:3], c1 - c0), dtype=weight_rsc.dtype)
    local_group = (np.arange(k0, k1) // layer.k_per_group) * cpg - c0
    channel = local_group[:, None] + np.arange(cpg)[None, :]
    matrix[np.arange(rows)[:, None], :, :, channel] = block.transpose(0, 3, 1, 2)
    return matrix.reshape(rows, -1)


def column_channel_tap(plan_: PassPlan, index: int) -> tuple[np.ndarray, np.ndarray]:
    """For each column of pass `index`: its global input channel and its tap (r * S + s)."""
    channels = int(plan_.channels[index])
    column = np.arange(channels * plan_.taps)
    return plan_.c0[index] + column % channels, column // channels
