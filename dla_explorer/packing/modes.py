"""Packing one layer in each mode (see `packing` for the modes and their step formulas)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from dla_explorer.core import units
from dla_explorer.core.errors import UsageError
from dla_explorer.packing import cache as _packcache
from dla_explorer.packing.combine import combine
from dla_explorer.packing.format import (
    PassStats,
    pass_labels,
    pass_stats,
    singleton_labels,
)
from dla_explorer.packing.packed import PackedLayer
from dla_explorer.packing.passes import (
    PassPlan,
    pass_matrix,
    plan,
    reduction_major,
)
from dla_explorer.workload import Layer

# floor(gamma * rows) must not lose a conflict to binary rounding (0.29 * 100 = 28.999...)
BUDGET_EPSILON = 1e-9


@dataclass(frozen=True)
class Params:
    """What `pack` was asked for; cache is the resolved folder (None: no cache)."""

    k_vec: int
    alpha: int
    gamma: float
    algorithm: str
    nm: tuple[int, int] | None
    cache: os.PathLike | None
    content_hash: str

    def budget(self, rows: int) -> int:
        """Conflicts a group may hold in a pass of `rows` filters: floor(gamma * rows)."""
        return math.floor(self.gamma * rows + BUDGET_EPSILON)


def _matrices(weight: np.ndarray, layer: Layer, plan_: PassPlan) -> list[np.ndarray]:
    rsc = reduction_major(weight)
    return [pass_matrix(rsc, layer, plan_, i) for i in range(plan_.n_passes)]


def _base(
    layer: Layer, weight: np.ndarray, plan_: PassPlan, matrices: list[np.ndarray], params: Params, mode: str
) -> dict:
    """The fields every mode shares."""
    return {
        "layer": layer,
        "mode": mode,
        "k_vec": params.k_vec,
        "rows": plan_.rows,
        "channels": plan_.channels,
        "columns": plan_.columns,
        "nonzero_columns": np.array([int(m.any(axis=0).sum()) for m in matrices], dtype=np.int64),
        "magnitude": float(np.abs(weight, dtype=np.float64).sum()),
        "dense_feeder_reads": int(plan_.columns.sum()),
        "nm": params.nm,
    }


def _dense_schedule(base: dict, layer: Layer, weight: np.ndarray, reason: str = "") -> PackedLayer:
    """Every column issued, c_vec channels of one tap per step (dense, unpacked, nm fallback)."""
    nnz = layer.weights if base["mode"] == "dense" else int(np.count_nonzero(weight))
    return PackedLayer(
        **base,
        schedule="dense",
        packable=not reason,
        reason=reason,
        packed_columns=base["columns"].copy(),
        nnz_before=nnz,
        nnz_after=nnz,
        pruned=0,
        pruned_magnitude=0.0,
        weight_cells=layer.weights,
        select_bits=0,
        metadata_bits=0,
        feeder_width=1,
        feeder_reads=int(base["columns"].sum()),
    )


def _follows_nm(weight: np.ndarray, n: int, m: int) -> bool:
    nonzero = reduction_major(weight != 0).reshape(weight.shape[0], -1, m)
    return bool((nonzero.sum(axis=2) <= n).all())


def _pack_nm(base: dict, layer: Layer, weight: np.ndarray, params: Params) -> PackedLayer:
    assert params.nm is not None, "pack() resolves the N:M pattern before packing in mode nm"
    n, m = params.nm
    if layer.c_per_group % m:
        return _dense_schedule(base, layer, weight, "nm not applicable: C/g not a multiple of M")
    if not _follows_nm(weight, n, m):
        return _dense_schedule(
            base, layer, weight, f"nm not applicable: weights are not {n}:{m} sparse (kept dense)"
        )
    nnz = int(np.count_nonzero(weight))
    kept = layer.K * layer.R * layer.S * (layer.c_per_group // m) * n
    return PackedLayer(
        **base,
        schedule="nm",
        packable=True,
        reason="",
        packed_columns=layer.R * layer.S * -(-base["channels"] // m) * n,
        nnz_before=nnz,
        nnz_after=nnz,
        pruned=0,
        pruned_magnitude=0.0,
        weight_cells=kept,
        select_bits=units.index_bits(m),
        metadata_bits=kept * units.index_bits(m),
        feeder_width=m,
        feeder_reads=int(base["columns"].sum()),
    )


def _stats(matrices: list[np.ndarray], plan_: PassPlan, labels: np.ndarray) -> list[PassStats]:
    return [pass_stats(m, pass_labels(labels, plan_, i))[0] for i, m in enumerate(matrices)]


def _grouping_ok(
    matrices: list[np.ndarray], plan_: PassPlan, labels: np.ndarray, stats: list[PassStats], params: Params
) -> bool:
    """Every non-zero column grouped, groups within alpha and the conflict budget."""
    return all(
        np.array_equal(pass_labels(labels, plan_, i) >= 0, m.any(axis=0))
        and st.max_group <= params.alpha
        and st.max_conflicts <= params.budget(m.shape[0])
        for i, (m, st) in enumerate(zip(matrices, stats, strict=True))
    )


def _combined(
    layer: Layer, matrices: list[np.ndarray], plan_: PassPlan, params: Params
) -> tuple[np.ndarray, list[PassStats]]:
    """Group labels of every pass (from the cache when a valid entry exists) and their stats."""
    key = _packcache.entry_key(
        params.content_hash, layer.name, params.k_vec, params.alpha, params.gamma, params.algorithm
    )
    columns = int(plan_.columns.sum())
    labels = _packcache.load(params.cache, key, columns) if params.cache else None
    if labels is not None:
        stats = _stats(matrices, plan_, labels)
        if _grouping_ok(matrices, plan_, labels, stats, params):
            return labels, stats
        # a damaged or stale entry: recompute and overwrite it below
    labels = np.concatenate(
        [
            combine(m != 0, np.abs(m), params.alpha, params.budget(m.shape[0]), params.algorithm)
            for m in matrices
        ]
    )
    stats = _stats(matrices, plan_, labels)
    if not _grouping_ok(matrices, plan_, labels, stats, params):
        raise RuntimeError(
            f"layer '{layer.name}': {params.algorithm} broke the alpha or gamma "
            "limit (a bug in dla_explorer, please report it)"
        )
    if params.cache:
        _packcache.store(params.cache, key, labels)
    return labels, stats


def _pack_packed(
    base: dict, layer: Layer, weight: np.ndarray, plan_: PassPlan, matrices: list[np.ndarray], params: Params
) -> PackedLayer:
    nnz = int(np.count_nonzero(weight))
    reason = ""
    if nnz == 0:
        reason = "all weights are zero: nothing to compute"
        labels = np.full(int(plan_.columns.sum()), -1, dtype=np.int64)
        stats = _stats(matrices, plan_, labels)
    elif nnz == layer.weights:
        reason = "no zero weights: columns kept 1:1 (combining would only prune)"
        labels = singleton_labels(plan_)
        stats = _stats(matrices, plan_, labels)
    else:
        labels, stats = _combined(layer, matrices, plan_, params)
    groups = np.array([st.groups for st in stats], dtype=np.int64)
    nonzero_columns = np.array([st.nonzero_columns for st in stats], dtype=np.int64)
    cells = int((plan_.rows * groups).sum())
    if reason:
        # not combined: stored as is behind a per-layer flag; the feeder walks the columns in
        # order (identity descriptors), so no selects and no descriptors are stored
        select_bits, metadata = 0, 0
    else:
        select_bits = units.index_bits(params.alpha)  # also the width of a group's size field (size - 1)
        index_bits = units.index_bits(np.asarray(plan_.columns, dtype=np.int64))
        descriptors = int((groups * select_bits + nonzero_columns * index_bits).sum())
        metadata = cells * select_bits + descriptors
    nnz_after = sum(st.nnz_after for st in stats)
    return PackedLayer(
        **base,
        schedule="packed",
        packable=not reason,
        reason=reason,
        packed_columns=groups,
        nnz_before=nnz,
        nnz_after=nnz_after,
        pruned=nnz - nnz_after,
        pruned_magnitude=sum(st.pruned_magnitude for st in stats),
        weight_cells=cells,
        select_bits=select_bits,
        metadata_bits=metadata,
        feeder_width=max((st.max_group for st in stats), default=0),
        feeder_reads=int(nonzero_columns.sum()),
        labels=labels.astype(np.int32),
    )


def pack_layer(layer: Layer, weight: np.ndarray, params: Params, mode: str) -> PackedLayer:
    """One layer of `pack`: its passes, then the mode's schedule and counts."""
    if weight.shape != layer.weight_shape:
        raise UsageError(
            f"layer '{layer.name}': weight shape {weight.shape} does not match "
            f"the layer's {layer.weight_shape}"
        )
    plan_ = plan(layer, params.k_vec)
    matrices = _matrices(weight, layer, plan_)
    base = _base(layer, weight, plan_, matrices, params, mode)
    if mode == "packed":
        return _pack_packed(base, layer, weight, plan_, matrices, params)
    if mode == "nm":
        return _pack_nm(base, layer, weight, params)
    return _dense_schedule(base, layer, weight)
