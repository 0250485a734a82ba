"""Packer: how each layer of a SparseModel maps onto a chain of k_vec PEs of width c_vec.

`pack(sparse, Geometry(k_vec, c_vec), mode)` returns a PackedWorkload: per layer, its passes (up
to k_vec filters each, see `_passes`), the columns the array issues and the `steps` (c_vec-wide
cycles per output pixel) of each mode:

- ``dense``: every weight counts (masks ignored); steps per pass = R*S*ceil(channels/c_vec), the
  Intel DLA formula ceil(K/k_vec)*ceil(C/c_vec)*R*S for ordinary convs;
- ``unpacked``: the sparse weights on the dense schedule (zeros are gated, not skipped);
- ``nm``: N:M structured weights, skipped by construction: steps per pass =
  R*S*ceil(ceil(channels/M)*N/c_vec) where C/g is a multiple of M, else the dense schedule;
- ``packed``: column combining (Kung, McDanel & Zhang, ASPLOS 2019): the non-zero columns of each
  pass are combined into groups of at most `alpha` with at most floor(gamma * rows) conflicts;
  per (row, group) the largest weight is kept. steps per pass = ceil(packed columns/c_vec): the
  feeder gathers across taps, so packed columns are not tap-aligned (this also folds shallow
  layers: conv1 with C=3 runs 147 columns in ceil(147/16) = 10 steps instead of 7*7*1 = 49).

The packing depends on k_vec, alpha, gamma and the algorithm but not on c_vec, so one
PackedWorkload serves every c_vec: `steps(c_vec)` is a vectorised formula over stored per-pass
counts. Packed groupings are cached on disk (see `_packcache`).
"""

from __future__ import annotations

import math
import numbers
import os
import sys

import numpy as np
from tqdm import tqdm

from dla_explorer.core.errors import UsageError, check_type
from dla_explorer.core.vocab import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_ALPHA,
    DEFAULT_GAMMA,
    MODES,
    Algorithm,
    Mode,
)
from dla_explorer.packing import cache as _packcache
from dla_explorer.packing.activations import compressed_activation_bytes
from dla_explorer.packing.format import PackedPass, singleton_labels
from dla_explorer.packing.format import passes as _passes_of
from dla_explorer.packing.format import pruned_weight as _pruned_weight
from dla_explorer.packing.modes import Params, pack_layer
from dla_explorer.packing.packed import (
    FRAME_COLUMNS,
    Geometry,
    PackedLayer,
    PackedWorkload,
    positive_int,
)
from dla_explorer.packing.passes import PassPlan, plan
from dla_explorer.packing.store import load as load_packed
from dla_explorer.packing.store import save as save_packed
from dla_explorer.sparsity.pruning import SparseModel, parse_nm

# tqdm shows the bar only when packing outlasts this many seconds
_PROGRESS_DELAY_S = 1.0
# where packed groupings are cached: True for default_cache_dir(), a folder, or None for none
CacheSpec = str | os.PathLike | bool | None
DEFAULT_CACHE: CacheSpec = True

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_ALPHA",
    "DEFAULT_CACHE",
    "DEFAULT_GAMMA",
    "FRAME_COLUMNS",
    "MODES",
    "Algorithm",
    "CacheSpec",
    "Geometry",
    "PackedLayer",
    "PackedPass",
    "Mode",
    "PackedWorkload",
    "compressed_activation_bytes",
    "conflict_pruned_weights",
    "default_cache_dir",
    "load_packed",
    "pack",
    "packed_passes",
    "pruned_layer_weight",
    "save_packed",
]

default_cache_dir = _packcache.default_cache_dir


def _check_options(mode: str, alpha: object, gamma: object, algorithm: str) -> tuple[int, float]:
    if mode not in MODES:
        raise UsageError(f"mode '{mode}' is not one of {', '.join(MODES)}")
    if algorithm not in ALGORITHMS:
        raise UsageError(f"algorithm '{algorithm}' is not one of {', '.join(ALGORITHMS)}")
    alpha = positive_int(alpha, "alpha")
    if (
        isinstance(gamma, bool)
        or not isinstance(gamma, numbers.Real)
        or not math.isfinite(gamma)
        or gamma < 0
    ):
        raise UsageError(f"gamma = {gamma!r}: must be a finite number >= 0 (conflicts per row)")
    return alpha, float(gamma)


def _nm_pattern(sparse: SparseModel) -> tuple[int, int]:
    pattern = sparse.recipe.get("nm")
    if not pattern:
        raise UsageError(
            f"mode 'nm' needs an N:M-pruned model; '{sparse.model}' was pruned "
            f"with method '{sparse.recipe.get('method')}'"
        )
    return parse_nm(pattern)


def pack(
    sparse: SparseModel,
    geometry: Geometry,
    mode: str = "packed",
    alpha: int = DEFAULT_ALPHA,
    gamma: float = DEFAULT_GAMMA,
    algorithm: str = DEFAULT_ALGORITHM,
    cache: CacheSpec = DEFAULT_CACHE,
    progress: bool = False,
) -> PackedWorkload:
    """Pack every layer of a sparse model for an array of `geometry.k_vec` PEs.

    Args:
        sparse: the pruned model (`pruning.prune` or `checkpoint.load`).
        geometry: the array; only k_vec shapes the packing (one packing serves every c_vec).
        mode: one of MODES: dense, unpacked, packed (column combining) or nm (N:M).
        alpha: packed mode: at most this many columns combined into one group.
        gamma: packed mode: conflicts allowed per row of a pass, on average.
        algorithm: packed mode: one of ALGORITHMS ("reference" is Kung et al.'s greedy).
        cache: where packed groupings are cached: True for `default_cache_dir()`, a folder, or
            None for no cache.
        progress: show a progress bar on stderr when packing takes more than a second.

    Returns:
        The PackedWorkload: per layer its passes, columns, steps and metadata; `save_packed`
        writes it for `simulate`.

    Raises:
        UsageError: an unknown mode or algorithm, alpha < 1, gamma < 0 or not finite, a `sparse`
            that is not a SparseModel, a geometry that is not a Geometry, or mode nm on a model
            that was not N:M-pruned.
    """
    check_type(sparse, SparseModel, "sparse", "pruning.prune(...) or checkpoint.load(path)")
    if not isinstance(geometry, Geometry):
        raise UsageError(f"geometry must be a Geometry(k_vec, c_vec), got {type(geometry).__name__}")
    alpha, gamma = _check_options(mode, alpha, gamma, algorithm)
    folder = _packcache.resolve(cache) if mode == "packed" else None
    params = Params(
        geometry.k_vec,
        alpha,
        gamma,
        algorithm,
        _nm_pattern(sparse) if mode == "nm" else None,
        folder,
        sparse.content_hash() if folder else "",
    )
    bar = tqdm(
        sparse.workload.layers,
        desc=f"packing {sparse.model}",
        unit="layer",
        file=sys.stderr,
        delay=_PROGRESS_DELAY_S,
        disable=None if progress else True,  # None: on a terminal only (tqdm)
        leave=False,
    )
    layers = tuple(pack_layer(layer, sparse.weights[layer.name], params, mode) for layer in bar)
    return PackedWorkload(
        model=sparse.model,
        content_hash=sparse.content_hash(),
        mode=mode,
        k_vec=geometry.k_vec,
        alpha=alpha,
        gamma=gamma,
        algorithm=algorithm,
        layers=layers,
        act_density=dict(sparse.act_density),
        workload=sparse.workload,
    )


# ----------------------------------------------------------------------------- weights and format


def _layer_labels(packed: PackedLayer, plan_: PassPlan) -> np.ndarray:
    return packed.labels.astype(np.int64) if packed.labels is not None else singleton_labels(plan_)


def _checked_weight(weight: np.ndarray, packed: PackedLayer) -> np.ndarray:
    weight = np.asarray(weight)
    if weight.shape != packed.layer.weight_shape:
        raise UsageError(
            f"layer '{packed.name}': weight shape {weight.shape} does not match "
            f"the layer's {packed.layer.weight_shape}"
        )
    return weight


def packed_passes(weight: np.ndarray, packed: PackedLayer) -> list[PackedPass]:
    """The layer as the array stores it, pass by pass.

    Args:
        weight: the layer's sparse weight (`packed.layer.weight_shape`).
        packed: the layer's packing.

    Returns:
        One PackedPass per pass: kept values, selects and group descriptors. Non-packed schedules
        appear as one column per group (every column of the pass, zeros included).

    Raises:
        UsageError: `weight` does not have the layer's shape.
    """
    weight = _checked_weight(weight, packed)
    plan_ = plan(packed.layer, packed.k_vec)
    return _passes_of(weight, packed.layer, plan_, _layer_labels(packed, plan_))


def pruned_layer_weight(weight: np.ndarray, packed: PackedLayer) -> np.ndarray:
    """One layer's weight after conflict pruning.

    Args:
        weight: the layer's sparse weight (`packed.layer.weight_shape`).
        packed: the layer's packing.

    Returns:
        A copy of `weight` with the entries conflict pruning removed set to 0 (unchanged unless
        the layer's schedule is packed).

    Raises:
        UsageError: `weight` does not have the layer's shape.
    """
    weight = _checked_weight(weight, packed)
    if packed.schedule != "packed":
        return weight.copy()
    plan_ = plan(packed.layer, packed.k_vec)
    return _pruned_weight(weight, packed.layer, plan_, _layer_labels(packed, plan_))


def conflict_pruned_weights(sparse: SparseModel, packed: PackedWorkload) -> dict[str, np.ndarray]:
    """Every layer's weights after conflict pruning (what the packed array computes with).

    Args:
        sparse: the model that was packed.
        packed: its packing.

    Returns:
        Layer name -> weight (layer.weight_shape) with the conflict-pruned entries set to 0.

    Raises:
        UsageError: `packed` was made from another model (the content hashes differ).
    """
    if packed.content_hash != sparse.content_hash():
        raise UsageError(
            f"the packing was made from another model (content hash "
            f"{packed.content_hash[:12]}, this model {sparse.content_hash()[:12]})"
        )
    return {p.name: pruned_layer_weight(sparse.weights[p.name], p) for p in packed}
