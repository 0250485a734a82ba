"""From group labels to what the array stores: kept weights, selects and per-pass statistics.

In each (row, group) only the largest-magnitude weight is kept (ties: the lowest column), the
others are pruned. The packed matrix of a pass has one column per group; each stored cell holds the
kept weight and a select, its position in the group's member list, telling the lane which of the
group's inputs to multiply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_explorer.packing.passes import (
    PassPlan,
    column_channel_tap,
    pass_matrix,
    reduction_major,
)
from dla_explorer.workload import Layer


@dataclass(frozen=True)
class GroupLayout:
    """Grouped columns sorted by (group, column): `order[j]` is the j-th sorted column."""

    order: np.ndarray
    starts: np.ndarray  # first sorted position of each group
    sizes: np.ndarray  # members per group
    group_of: np.ndarray  # group of each sorted position
    position: np.ndarray  # index of each sorted position inside its group (the select value)

    @property
    def n_groups(self) -> int:
        return len(self.starts)


def layout(labels: np.ndarray) -> GroupLayout:
    grouped = np.flatnonzero(labels >= 0)
    order = grouped[np.argsort(labels[grouped], kind="stable")]
    sorted_labels = labels[order]
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = sorted_labels[1:] != sorted_labels[:-1]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, order.size))
    group_of = np.repeat(np.arange(starts.size), sizes)
    return GroupLayout(order, starts, sizes, group_of, np.arange(order.size) - starts[group_of])


def _group_reduce(values: np.ndarray, lay: GroupLayout, ufunc: np.ufunc) -> np.ndarray:
    """(rows, sorted columns) -> (rows, groups) with `ufunc` over each group's members."""
    if lay.n_groups == 0:
        return np.zeros((values.shape[0], 0), dtype=values.dtype)
    return ufunc.reduceat(values, lay.starts, axis=1)


def kept(magnitude: np.ndarray, lay: GroupLayout) -> np.ndarray:
    """(rows, sorted columns) bool: the weight each (row, group) keeps (largest, then first)."""
    sorted_mag = magnitude[:, lay.order]
    group_max = _group_reduce(sorted_mag, lay, np.maximum)
    is_max = (sorted_mag == group_max[:, lay.group_of]) & (sorted_mag > 0)
    running = np.cumsum(is_max, axis=1, dtype=np.int64)
    before = np.zeros((running.shape[0], 1), dtype=np.int64)
    before_start = np.concatenate([before, running], axis=1)[:, lay.starts]
    return is_max & (running - before_start[:, lay.group_of] == 1)


@dataclass(frozen=True)
class PassStats:
    """What one pass packs to (counts of weights, groups and conflicts)."""

    groups: int
    nonzero_columns: int
    max_group: int
    nnz_before: int
    nnz_after: int
    pruned_magnitude: float
    magnitude: float
    max_conflicts: int  # the largest group's conflicts, to check a cached grouping


def pass_stats(matrix: np.ndarray, labels: np.ndarray) -> tuple[PassStats, np.ndarray]:
    """Statistics of one packed pass and its keep mask (rows, cols) in original column order."""
    magnitude = np.abs(matrix)
    lay = layout(labels)
    keep_sorted = kept(magnitude, lay)
    keep = np.zeros(matrix.shape, dtype=bool)
    keep[:, lay.order] = keep_sorted
    nonzero = magnitude > 0
    per_cell = _group_reduce(nonzero[:, lay.order].astype(np.int64), lay, np.add)
    conflicts = np.maximum(per_cell - 1, 0).sum(axis=0)
    stats = PassStats(
        groups=lay.n_groups,
        nonzero_columns=int(lay.order.size),
        max_group=int(lay.sizes.max(initial=0)),
        nnz_before=int(nonzero.sum()),
        nnz_after=int(keep.sum()),
        pruned_magnitude=float(magnitude[nonzero & ~keep].sum()),
        magnitude=float(magnitude.sum()),
        max_conflicts=int(conflicts.max(initial=0)),
    )
    return stats, keep


@dataclass(frozen=True)
class PackedPass:
    """One pass as the array stores it.

    `members[g]` lists the original columns (pass-local, (r, s, c) order) of packed column g, padded
    with -1; `selects[i, g]` is the member that lane i reads in packed column g and `values[i, g]`
    the weight it multiplies by (0 for an empty cell). Filters [k0, k1), channels [c0, c1).
    """

    k0: int
    k1: int
    c0: int
    c1: int
    members: np.ndarray
    selects: np.ndarray
    values: np.ndarray


def packed_pass(matrix: np.ndarray, labels: np.ndarray, ranges: tuple[int, int, int, int]) -> PackedPass:
    lay = layout(labels)
    keep_sorted = kept(np.abs(matrix), lay)
    width = int(lay.sizes.max(initial=1))
    members = np.full((lay.n_groups, width), -1, dtype=np.int64)
    members[lay.group_of, lay.position] = lay.order
    rows = matrix.shape[0]
    selects = np.zeros((rows, lay.n_groups), dtype=np.int64)
    values = np.zeros((rows, lay.n_groups), dtype=matrix.dtype)
    row, sorted_column = np.nonzero(keep_sorted)
    group = lay.group_of[sorted_column]
    selects[row, group] = lay.position[sorted_column]
    values[row, group] = matrix[row, lay.order[sorted_column]]
    return PackedPass(*ranges, members, selects, values)


def pass_labels(labels: np.ndarray, plan_: PassPlan, index: int) -> np.ndarray:
    offsets = plan_.column_offsets
    return labels[offsets[index] : offsets[index + 1]]


def singleton_labels(plan_: PassPlan) -> np.ndarray:
    """Every column its own group: the unpacked (dense-schedule) layout of all passes."""
    return np.concatenate([np.arange(n) for n in plan_.columns])


def passes(weight: np.ndarray, layer: Layer, plan_: PassPlan, labels: np.ndarray) -> list[PackedPass]:
    """All passes of a layer in the packed format."""
    rsc = reduction_major(weight)
    return [
        packed_pass(
            pass_matrix(rsc, layer, plan_, i),
            pass_labels(labels, plan_, i),
            (int(plan_.k0[i]), int(plan_.k1[i]), int(plan_.c0[i]), int(plan_.c1[i])),
        )
        for i in range(plan_.n_passes)
    ]


def pruned_weight(weight: np.ndarray, layer: Layer, plan_: PassPlan, labels: np.ndarray) -> np.ndarray:
    """`weight` (layer.weight_shape) with the conflict-pruned weights set to zero."""
    rsc = reduction_major(weight)
    out = rsc.copy()
    for i in range(plan_.n_passes):
        matrix = pass_matrix(rsc, layer, plan_, i)
        _, keep = pass_stats(matrix, pass_labels(labels, plan_, i))
        row, column = np.nonzero((matrix != 0) & ~keep)
        channel, tap = column_channel_tap(plan_, i)
        filt = plan_.k0[i] + row
        local_channel = channel[column] - (filt // layer.k_per_group) * layer.c_per_group
        out[filt, tap[column] // layer.S, tap[column] % layer.S, local_channel] = 0
    if weight.ndim == 2:
        return out[:, 0, 0, :]
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
