"""Accuracy of packed models and packing-aware fine-tuning (Kung, McDanel & Zhang, ASPLOS 2019).

Column combining is a training method as much as a layout: conflict pruning drops the smaller
weights of every (row, group), which costs accuracy that masked retraining recovers. The stages
this module measures, in the order Kung et al. run them:

1. dense: the trained model;
2. pruned: the recipe's pruning, no retraining;
3. sparse (retrained): masked retraining with the pruning masks: the unpacked reference;
4. packed: (3) packed and conflict-pruned, no retraining: the drop packing costs;
5. packed (fine-tuned): `iterations` rounds of combine (pack, conflict-prune) and masked
   retraining; each round re-packs the retrained weights, so the groups can adapt. The result
   keeps the last round's grouping (its masks are the packed ones; the PackedWorkload carries
   the group labels). A fresh re-pack of the result may regroup, since gamma admits new
   conflicts: `final_pruned_share` reports the share of |w| it would prune.

The module lives above `sparsity` because it packs; `sparsity.tasks` holds the data and the
training loop. Results of (4, 5) are cached per (model content, data, k_vec, alpha, gamma,
algorithm, training settings): the packing does not depend on c_vec, so a search over c_vec
reuses them, and a search never retrains a packing it has seen.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
from torch import nn

from dla_explorer.core.fileio import atomic_open
from dla_explorer.packing import (
    DEFAULT_ALGORITHM,
    DEFAULT_ALPHA,
    DEFAULT_CACHE,
    DEFAULT_GAMMA,
    CacheSpec,
    Geometry,
    PackedWorkload,
    conflict_pruned_weights,
    pack,
)
from dla_explorer.packing import cache as _packcache
from dla_explorer.sparsity import tasks
from dla_explorer.sparsity.pruning import SparseModel
from dla_explorer.sparsity.training_defaults import DEFAULT_FINETUNE_EPOCHS, DEFAULT_ITERATIONS, FINETUNE_LR

_ACCURACY_SUBFOLDER = "accuracy"
_ACCURACY_CODE_VERSION = 1  # bump when training or evaluation changes what a cached entry means

__all__ = [
    "ACCURACY_METRICS",
    "STAGES",
    "WEIGHT_METRICS",
    "AccuracySettings",
    "Finetuned",
    "Packing",
    "accuracy_table",
    "design_metrics",
    "fidelity_table",
    "finetune",
    "packed_accuracy",
    "retrain_sparse",
    "with_weights",
]


@dataclass(frozen=True)
class Packing:
    """The packing parameters fine-tuning keeps fixed."""

    geometry: Geometry
    alpha: int = DEFAULT_ALPHA
    gamma: float = DEFAULT_GAMMA
    algorithm: str = DEFAULT_ALGORITHM


@dataclass
class Finetuned:
    """The outcome of packing-aware fine-tuning: the torch model (all parameters), the sparse
    model whose masks are the packed ones, its packing, and per-round figures."""

    model: nn.Module
    sparse: SparseModel
    packed: PackedWorkload
    history: list[dict] = field(default_factory=list)
    final_pruned_share: float = 0.0


def with_weights(base: nn.Module, weights: dict[str, np.ndarray]) -> nn.Module:
    """A copy of `base` whose compute layers carry `weights` (biases and norms are base's).

    Args:
        base: the trained dense torch model; not modified.
        weights: workload layer name -> weight array (e.g. a SparseModel's weights).

    Returns:
        The copy, in eval mode.
    """
    return tasks.set_weights(copy.deepcopy(base), weights).eval()


def _magnitude(weights: dict[str, np.ndarray]) -> float:
    return float(sum(np.abs(w).sum(dtype=np.float64) for w in weights.values()))


def _conflict_pruned(
    sparse: SparseModel, packing: Packing, cache: CacheSpec = DEFAULT_CACHE
) -> tuple[SparseModel, PackedWorkload]:
    """`sparse` packed and conflict-pruned: a SparseModel whose masks are the packed ones."""
    packed = pack(sparse, packing.geometry, "packed", packing.alpha, packing.gamma, packing.algorithm, cache)
    weights = conflict_pruned_weights(sparse, packed)
    masks = {name: sparse.masks[name] & (weight != 0) for name, weight in weights.items()}
    recipe = {
        **sparse.recipe,
        "packing": {
            "k_vec": packing.geometry.k_vec,
            "alpha": packing.alpha,
            "gamma": packing.gamma,
            "algorithm": packing.algorithm,
        },
    }
    result = SparseModel(sparse.model, sparse.workload, weights, masks, dict(sparse.act_density), recipe)
    return result, packed


def _trained_sparse(model: nn.Module, sparse: SparseModel) -> SparseModel:
    """The compute-layer weights of `model` under `sparse`'s masks, as a new SparseModel."""
    weights = {}
    for layer in sparse.workload:
        values = _layer_weight(model, layer.name, sparse)
        weights[layer.name] = np.where(sparse.masks[layer.name], values, 0).astype(np.float32)
    return SparseModel(
        sparse.model, sparse.workload, weights, sparse.masks, dict(sparse.act_density), dict(sparse.recipe)
    )


def retrain_sparse(
    base: nn.Module,
    sparse: SparseModel,
    data: tasks.Labelled,
    epochs: int,
    lr: float = FINETUNE_LR,
    seed: int = 0,
) -> tuple[nn.Module, SparseModel]:
    """Masked retraining of `sparse` (its masks fixed): the unpacked reference of the accuracy table.

    Args:
        base: the trained dense torch model; supplies the parameters outside the compute layers
            and is not modified.
        sparse: the pruned model whose weights start the retraining and whose masks stay fixed.
        data: labelled training images.
        epochs: retraining epochs (0: the pruned model as it is).
        lr: the peak learning rate.
        seed: seeds the shuffling.

    Returns:
        The retrained torch model and its compute-layer weights as a SparseModel (same masks).

    Raises:
        UsageError: `data` is unlabelled.
    """
    model = with_weights(base, sparse.weights)
    tasks.train(model, data, epochs=epochs, lr=lr, masks=sparse.masks, seed=seed)
    return model, _trained_sparse(model, sparse)


def _pruned_share(after: SparseModel, before: SparseModel) -> float:
    """The share of `before`'s |w| that conflict pruning took to give `after`."""
    return 1.0 - _magnitude(after.weights) / max(_magnitude(before.weights), 1e-30)


def finetune(
    base: nn.Module,
    sparse: SparseModel,
    data: tasks.Labelled,
    packing: Packing,
    epochs: int = DEFAULT_FINETUNE_EPOCHS,
    iterations: int = DEFAULT_ITERATIONS,
    lr: float = FINETUNE_LR,
    seed: int = 0,
    cache: CacheSpec = DEFAULT_CACHE,
    evaluate_on: tasks.Labelled | None = None,
) -> Finetuned:
    """Packing-aware fine-tuning: `iterations` rounds of (pack and conflict-prune the current
    weights, retrain with the packed masks for the round's share of `epochs`). The result keeps
    the last round's grouping.

    Args:
        base: the trained dense torch model; supplies the parameters outside the compute layers
            and is not modified.
        sparse: the pruned (usually retrained) model the rounds start from.
        data: labelled training images.
        packing: the geometry (k_vec), alpha, gamma and algorithm of the packing.
        epochs: retraining epochs over all rounds.
        iterations: combine + retrain rounds (at most `epochs`, at least 1).
        lr: the peak learning rate.
        seed: seeds the shuffling (round r uses seed + r).
        cache: where packings (and accuracy results) are cached: a folder, None for none, or the
            default ($DLA_EXPLORER_CACHE); see packing.pack.
        evaluate_on: labelled images to record top-1 on before and after each round (None: not
            recorded).

    Returns:
        The fine-tuned torch model, its SparseModel (masks: the packed ones), its packing, one
        history row per round (round, epochs, pruned_share, sparsity, and top1_before /
        top1_after with `evaluate_on`) and the share of |w| a fresh re-pack would prune.

    Raises:
        UsageError: `data` is unlabelled, or the packing is out of range (see packing.pack).
    """
    iterations = max(1, min(iterations, max(epochs, 1)))
    shares = np.diff(np.linspace(0, epochs, iterations + 1).round().astype(int))
    model = with_weights(base, sparse.weights)
    current = sparse
    history = []
    for round_, round_epochs in enumerate(shares, start=1):
        packed_sparse, packed = _conflict_pruned(current, packing, cache)
        tasks.set_weights(model, packed_sparse.weights)
        row = {
            "round": round_,
            "epochs": int(round_epochs),
            "pruned_share": _pruned_share(packed_sparse, current),
            "sparsity": packed_sparse.sparsity,
        }
        if evaluate_on is not None:
            row["top1_before"] = tasks.evaluate(model, evaluate_on)["top1"]
        tasks.train(
            model, data, epochs=int(round_epochs), lr=lr, masks=packed_sparse.masks, seed=seed + round_
        )
        current = _trained_sparse(model, packed_sparse)
        if evaluate_on is not None:
            row["top1_after"] = tasks.evaluate(model, evaluate_on)["top1"]
        history.append(row)
    # the last round's grouping is the structure the weights were trained for (its labels are in
    # `packed`); a fresh re-pack may regroup (gamma allows new conflicts): report what it would prune
    repacked, _ = _conflict_pruned(current, packing, cache)
    final_share = _pruned_share(repacked, current)
    return Finetuned(model, current, packed, history, final_share)


# ----------------------------------------------------------------------------- the accuracy table


STAGES = ("dense", "pruned", "sparse (retrained)", "packed", "packed (fine-tuned)")


def accuracy_table(
    base: nn.Module,
    sparse: SparseModel,
    data: tasks.Data,
    packing: Packing,
    epochs: int = DEFAULT_FINETUNE_EPOCHS,
    iterations: int = DEFAULT_ITERATIONS,
    lr: float = FINETUNE_LR,
    seed: int = 0,
    cache: CacheSpec = DEFAULT_CACHE,
) -> tuple[pd.DataFrame, Finetuned]:
    """The accuracy of each stage of Kung et al.'s method (STAGES): dense, pruned, sparse
    (retrained), packed, packed (fine-tuned). What `dla-explorer accuracy` prints.

    Args:
        base: the trained dense torch model; not modified.
        sparse: the recipe's pruned model (not retrained).
        data: the labelled task (train split for retraining, test split for accuracy).
        packing: the geometry (k_vec), alpha, gamma and algorithm of the packing.
        epochs: masked-retraining and fine-tuning epochs (each); with 0 the retrained stages
            equal their inputs.
        iterations: combine + retrain rounds of the fine-tuning.
        lr: the peak learning rate.
        seed: seeds the shuffling.
        cache: where packings (and accuracy results) are cached: a folder, None for none, or the
            default ($DLA_EXPLORER_CACHE); see packing.pack.

    Returns:
        The table, one row per stage: stage, top1, top5 (fractions; top5 NaN with 5 classes or
        fewer), sparsity (share of zero weights) and abs_w_kept (share of the dense model's |w|
        kept); and the fine-tuning's outcome (to save with checkpoint.save).

    Raises:
        UsageError: `data` is unlabelled, or the packing is out of range (see packing.pack).
    """
    dense_weights = {layer.name: _layer_weight(base, layer.name, sparse) for layer in sparse.workload}
    dense_magnitude = _magnitude(dense_weights)
    retrained_model, retrained = retrain_sparse(base, sparse, data.train, epochs, lr, seed)
    packed_sparse, _ = _conflict_pruned(retrained, packing, cache)
    tuned = finetune(base, retrained, data.train, packing, epochs, iterations, lr, seed, cache)
    rows = []
    for stage, model, weights in (
        ("dense", base, dense_weights),
        ("pruned", with_weights(base, sparse.weights), sparse.weights),
        ("sparse (retrained)", retrained_model, retrained.weights),
        ("packed", with_weights(retrained_model, packed_sparse.weights), packed_sparse.weights),
        ("packed (fine-tuned)", tuned.model, tuned.sparse.weights),
    ):
        nonzero = sum(int(np.count_nonzero(w)) for w in weights.values())
        total = sum(w.size for w in weights.values())
        rows.append(
            {
                "stage": stage,
                **tasks.evaluate(model, data.test),
                "sparsity": 1.0 - nonzero / total,
                "abs_w_kept": _magnitude(weights) / max(dense_magnitude, 1e-30),
            }
        )
    return pd.DataFrame(rows), tuned


def _layer_weight(model: nn.Module, name: str, sparse: SparseModel) -> np.ndarray:
    """Layer `name`'s weight in `model` as numpy (`sparse`'s when the module has none)."""
    from dla_explorer.workload import module_of

    weight = getattr(module_of(model, name), "weight", None)
    return weight.detach().cpu().numpy() if weight is not None else sparse.weights[name]


def fidelity_table(
    base: nn.Module,
    sparse: SparseModel,
    images: tasks.Labelled,
    packing: Packing,
    cache: CacheSpec = DEFAULT_CACHE,
) -> pd.DataFrame:
    """Output fidelity without labels: the pruned and the packed model against the dense one,
    and the packed model against the pruned (unpacked) one. What `dla-explorer accuracy` prints
    for a folder of bare images.

    Args:
        base: the trained dense torch model; not modified.
        sparse: the pruned model.
        images: the images compared on (labels unused).
        packing: the geometry (k_vec), alpha, gamma and algorithm of the packing.
        cache: where packings (and accuracy results) are cached: a folder, None for none, or the
            default ($DLA_EXPLORER_CACHE); see packing.pack.

    Returns:
        Three rows: model, reference, top1_agreement (share of images whose top-1 class agrees)
        and logit_rel_error (||out - ref|| / ||ref||).
    """
    packed_sparse, _ = _conflict_pruned(sparse, packing, cache)
    dense = tasks.logits(base, images.images)
    unpacked = tasks.logits(with_weights(base, sparse.weights), images.images)
    packed = tasks.logits(with_weights(base, packed_sparse.weights), images.images)
    rows = [
        {"model": "pruned", "reference": "dense", **tasks.fidelity(dense, unpacked)},
        {"model": "packed", "reference": "dense", **tasks.fidelity(dense, packed)},
        {"model": "packed", "reference": "pruned", **tasks.fidelity(unpacked, packed)},
    ]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- cached, for searches


def _accuracy_key(
    sparse: SparseModel, data_name: str, packing: Packing, epochs: int, iterations: int, lr: float, seed: int
) -> str:
    fields = {
        "model": sparse.content_hash(),
        "data": data_name,
        "k_vec": packing.geometry.k_vec,
        "alpha": packing.alpha,
        "gamma": float(packing.gamma),
        "algorithm": packing.algorithm,
        "epochs": epochs,
        "iterations": iterations,
        "lr": lr,
        "seed": seed,
        "version": _ACCURACY_CODE_VERSION,
    }
    return json.dumps(fields, sort_keys=True)


_MEMO: dict[str, dict[str, float]] = {}


def packed_accuracy(
    base: nn.Module,
    sparse: SparseModel,
    data: tasks.Data,
    packing: Packing,
    epochs: int = DEFAULT_FINETUNE_EPOCHS,
    iterations: int = DEFAULT_ITERATIONS,
    lr: float = FINETUNE_LR,
    seed: int = 0,
    cache: CacheSpec = DEFAULT_CACHE,
) -> dict[str, float]:
    """The accuracy of `sparse` packed with `packing` and fine-tuned for `epochs` (0: conflict
    pruning only, the cheap bound). Memoised in the process and on disk (under the cache folder's
    accuracy/), keyed by the model's content, the data, the packing and the training settings.

    Args:
        base: the trained dense torch model; not modified.
        sparse: the pruned model.
        data: the labelled task (train split for fine-tuning, test split for accuracy).
        packing: the geometry (k_vec), alpha, gamma and algorithm of the packing.
        epochs: fine-tuning epochs (0: none).
        iterations: combine + retrain rounds.
        lr: the peak learning rate.
        seed: seeds the shuffling.
        cache: where packings (and accuracy results) are cached: a folder, None for none, or the
            default ($DLA_EXPLORER_CACHE); see packing.pack.

    Returns:
        top1, top5 (fractions) and pruned_share (the share of |w| conflict pruning removed).

    Raises:
        UsageError: `data` is unlabelled, or the packing is out of range (see packing.pack).
    """
    key = _accuracy_key(sparse, data.name, packing, epochs, iterations, lr, seed)
    if key in _MEMO:
        return _MEMO[key]
    folder = _packcache.resolve(cache)
    path = _entry_path(folder, key) if folder else None
    if path is not None:
        stored = _read_entry(path, key)
        if stored is not None:
            _MEMO[key] = stored
            return stored
    packed_sparse, _ = _conflict_pruned(sparse, packing, cache)
    share = 1.0 - _magnitude(packed_sparse.weights) / max(_magnitude(sparse.weights), 1e-30)
    if epochs > 0:
        model = finetune(base, sparse, data.train, packing, epochs, iterations, lr, seed, cache).model
    else:
        model = with_weights(base, packed_sparse.weights)
    result = {**tasks.evaluate(model, data.test), "pruned_share": share}
    _MEMO[key] = result
    if path is not None:
        with atomic_open(path, "w") as handle:
            json.dump({"key": key, "result": result}, handle)
    return result


def _entry_path(folder: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return folder / _ACCURACY_SUBFOLDER / f"{digest}.json"


def _read_entry(path: Path, key: str) -> dict[str, float] | None:
    """A stored result, or None when absent, unreadable or written for another key."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("result"), dict):
        return None
    return {str(k): float(v) for k, v in entry["result"].items()}


# ----------------------------------------------------------------------------- searches


class AccuracySettings(pydantic.BaseModel):
    """The `accuracy:` block of a search spec: the data accuracy is measured on and how much
    packing-aware fine-tuning each packing gets (0: conflict pruning only, the cheap bound)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    data: str = pydantic.Field(description="a built-in task (digits) or an image folder")
    epochs: int = pydantic.Field(0, ge=0, description="fine-tuning epochs per packing (0: none)")
    iterations: int = pydantic.Field(DEFAULT_ITERATIONS, ge=1, description="combine + retrain rounds")
    lr: float = pydantic.Field(FINETUNE_LR, gt=0)
    seed: int = 0


ACCURACY_METRICS = ("accuracy", "top5")
# pruned share per (model content, k_vec, alpha, gamma), for the process
_PRUNED_SHARE: dict[tuple[str, int, int, float], float] = {}
WEIGHT_METRICS = ("pruned_share",)


def _base_model(sparse: SparseModel) -> nn.Module:
    """The trained dense torch model a SparseModel was pruned from: its model name (zoo name or
    file.py:factory) with the recipe's weights, when it recorded any."""
    from dla_explorer.sparsity.pruning import load_model

    model, _ = load_model(sparse.model, sparse.recipe.get("weights"), int(sparse.recipe.get("seed", 0)))
    return model


def design_metrics(
    sparse: SparseModel,
    designs: pd.DataFrame,
    metrics: set[str],
    settings: AccuracySettings | None = None,
    base: nn.Module | None = None,
    cache: CacheSpec = DEFAULT_CACHE,
) -> pd.DataFrame:
    """The weight and accuracy metrics of designs, for searches and sweeps. Designs sharing a
    packing share one evaluation (and the disk cache spans runs).

    Args:
        sparse: the pruned model the designs run.
        designs: one row per design, with columns mode, k_vec, alpha and gamma.
        metrics: the metrics wanted, among WEIGHT_METRICS and ACCURACY_METRICS.
        settings: the spec's `accuracy:` block; None: accuracy and top5 are NaN (not measured).
        base: the trained dense torch model; None: rebuilt from `sparse`'s recipe (its model
            and weights).
        cache: where packings (and accuracy results) are cached: a folder, None for none, or the
            default ($DLA_EXPLORER_CACHE); see packing.pack.

    Returns:
        One row per design (same index): pruned_share (share of |w| conflict pruning removes;
        0 outside packed mode) and accuracy / top5 (of the packed and fine-tuned model; outside
        packed mode, of the pruned model), the wanted ones.

    Raises:
        UsageError: the data does not resolve or is unlabelled, the recipe's model does not
            resolve or its weights do not fit it, or a packing is out of range.
        DlaError: an image or the recipe's weights file is unreadable or corrupt.
    """
    packed = designs["mode"].to_numpy() == "packed"
    if designs.empty:
        return pd.DataFrame(
            index=designs.index, columns=sorted(metrics & {*ACCURACY_METRICS, *WEIGHT_METRICS})
        )
    keys = pd.MultiIndex.from_arrays(
        [
            packed,
            np.where(packed, designs["k_vec"], 0),
            np.where(packed, designs["alpha"], 1),
            np.where(packed, designs["gamma"], 0.0),
        ]
    )
    index, unique = pd.factorize(keys)
    wanted = set(metrics)
    rows = []
    data = (
        tasks.load_data(settings.data, sparse.workload.input_shape)
        if settings and wanted & set(ACCURACY_METRICS)
        else None
    )
    for is_packed, k_vec, alpha, gamma in unique:
        row: dict[str, float] = {}
        packing = Packing(Geometry(int(k_vec) or 1, 1), int(alpha), float(gamma))
        if is_packed and "pruned_share" in wanted:
            key = (sparse.content_hash(), packing.geometry.k_vec, packing.alpha, packing.gamma)
            if key not in _PRUNED_SHARE:
                packed_workload = pack(
                    sparse, packing.geometry, "packed", packing.alpha, packing.gamma, cache=cache
                )
                _PRUNED_SHARE[key] = packed_workload.totals(1)["pruned_share"]
            row["pruned_share"] = _PRUNED_SHARE[key]
        elif "pruned_share" in wanted:
            row["pruned_share"] = 0.0
        if wanted & set(ACCURACY_METRICS) and data is None:
            row["accuracy"] = row["top5"] = float("nan")  # no data given: not measured
        if data is not None and settings is not None:
            model = base if base is not None else _base_model(sparse)
            if is_packed:
                scores = packed_accuracy(
                    model,
                    sparse,
                    data,
                    packing,
                    settings.epochs,
                    settings.iterations,
                    settings.lr,
                    settings.seed,
                    cache,
                )
            else:
                scores = tasks.evaluate(with_weights(model, sparse.weights), data.test)
            row["accuracy"], row["top5"] = scores["top1"], scores["top5"]
        rows.append(row)
    table = pd.DataFrame(rows).iloc[index].reset_index(drop=True)
    table.index = designs.index
    return table
