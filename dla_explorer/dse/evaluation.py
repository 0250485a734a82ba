"""Evaluate design tables of a spec: the simulator's figures plus the spec's constraints.

Shared by sweeps (thousands of rows per call) and searches (one row per trial). Every constraint
is a column `c_<name>` in Optuna's convention (<= 0 is satisfied), relative to its bound so the
values of different constraints are comparable; `feasible` is all of them satisfied and
`violation` names the ones that are not.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.core.errors import DlaError, UnknownName, UsageError, check_type
from dla_explorer.dse.space import DESIGN_COLUMNS, Space
from dla_explorer.dse.spec import ModelEntry, Spec
from dla_explorer.packing import default_cache_dir
from dla_explorer.packing.finetune import ACCURACY_METRICS, WEIGHT_METRICS, design_metrics
from dla_explorer.sim import config as hw
from dla_explorer.sim.resources import device_excess, relative_excess, violation_text
from dla_explorer.sparsity import checkpoint
from dla_explorer.sparsity.pruning import (
    Recipe,
    SparseModel,
    load_recipe,
    prune_recipe,
)

__all__ = [
    "Evaluator",
    "constraint_columns",
    "load_model",
]


def load_model(entry: ModelEntry) -> SparseModel:
    """A spec's model: its checkpoint, or its recipe pruned once and cached in the packing
    cache's folder ($DLA_EXPLORER_CACHE/models) under checkpoint.recipe_key, the digest of the
    recipe and of the files it names (factory, calibration data). The recipe's own `output`
    checkpoint is used when `prune` wrote it from the same recipe content (no silent re-prune).

    Args:
        entry: one of the spec's models (`spec.models[i]`).

    Returns:
        The SparseModel.

    Raises:
        UsageError: `entry` is not a ModelEntry, or its recipe does not work.
        DlaError: its checkpoint is unreadable.
    """
    check_type(entry, ModelEntry, "entry", "one of spec.models")
    if entry.checkpoint is not None:
        return checkpoint.load(entry.checkpoint)
    recipe = entry.recipe if isinstance(entry.recipe, Recipe) else load_recipe(str(entry.recipe))
    key = checkpoint.recipe_key(recipe)
    path = default_cache_dir() / "models" / f"{key}.npz"
    # where `prune` writes the recipe's checkpoint: its output, else models/<recipe stem>.npz
    written = recipe.output or (
        f"models/{Path(entry.recipe).stem}.npz" if isinstance(entry.recipe, str) else None
    )
    for candidate in (Path(written) if written else None, path):
        if candidate is not None and candidate.is_file() and checkpoint.source_key(candidate) == key:
            with contextlib.suppress(DlaError):  # a damaged file is made again
                return checkpoint.load(candidate)
    sparse = prune_recipe(recipe)
    checkpoint.save(sparse, path, source_key=key)
    return sparse


def _check_modes(spec: Spec, label: str, sparse: SparseModel) -> None:
    """Mode 'nm' needs a model pruned to an N:M pattern (otherwise every trial failed).

    Args:
        spec: the spec: its `modes`, and a `mode` parameter of its search space if any.
        label: the model entry's label (the message names it).
        sparse: that entry's model; its `recipe` records the pruning method.

    Raises:
        UsageError: the spec can pick mode 'nm' and the model was not pruned with method nm.
    """
    modes: set[Any] = set(spec.modes)
    if "mode" in spec.space and hasattr(spec.space["mode"], "choices"):
        modes |= set(spec.space["mode"].choices)
    if "nm" in modes and not sparse.recipe.get("nm"):
        raise UsageError(
            f"key 'modes': mode 'nm' needs a model pruned with method nm; model '{label}' was "
            f"pruned with method {sparse.recipe.get('method', 'unknown')}"
        )


class Evaluator:
    """Simulates design tables (rows of `Space.designs`) for every model of a spec."""

    def __init__(self, spec: Spec, space: Space | None = None) -> None:
        self.spec = spec
        self.space = space or Space(spec)
        self.device = hw.load_device(spec.device)
        self._models: dict[str, SparseModel] = {}

    def model(self, label: str) -> SparseModel:
        """The sparse model of a spec entry, loaded (pruned or read from its checkpoint) once.

        Args:
            label: the entry's label in the spec.

        Returns:
            The SparseModel.

        Raises:
            UnknownName: no entry of the spec has this label (a UsageError and a KeyError).
            UsageError: the entry's recipe does not work, or the spec can pick mode 'nm' and the
                model was not pruned with method nm (`_check_modes`).
            DlaError: the entry's checkpoint is unreadable.
        """
        if label not in self._models:
            entry = next((m for m in self.spec.models if m.label == label), None)
            if entry is None:  # next() without a default raised a bare StopIteration
                labels = ", ".join(m.label for m in self.spec.models)
                raise UnknownName(f"model '{label}' is not in spec '{self.spec.name}' (its models: {labels})")
            sparse = load_model(entry)
            _check_modes(self.spec, label, sparse)
            self._models[label] = sparse
        return self._models[label]

    def load_models(self) -> None:
        """Load (or prune) every model now, e.g. before forking workers that share them."""
        for entry in self.spec.models:
            self.model(entry.label)

    def evaluate(self, designs: pd.DataFrame) -> pd.DataFrame:
        """The designs with the simulator's network figures and the constraint columns.

        Designs are simulated per model (`simulator.simulate_batch`); each model is loaded, or
        pruned, on first use (`model`).

        Args:
            designs: one row per design (`Space.designs`): a `model` column naming a spec entry
                by its label, and every design column (dse.space.DESIGN_COLUMNS); not empty.

        Returns:
            `designs` (same index and order) with the network figures appended (`fps`,
            `latency_s`, `power_w`, `fps_per_w`, resources, ...), `pruned_share` and, where the
            spec gives accuracy data, `accuracy` and `top5` (NaN otherwise), then the constraint
            columns `c_*`, `feasible` and `violation` (`_add_constraints`).

        Raises:
            UsageError: a design value out of range or a mode the model cannot run
                (`_check_modes`), or a model entry whose recipe does not work.
            DlaError: a model's checkpoint is unreadable.
        """
        labels = designs["model"].unique()
        groups = [(labels[0], designs)] if len(labels) == 1 else designs.groupby("model", sort=False)
        parts = [self._simulate(label, rows) for label, rows in groups]
        figures = parts[0] if len(parts) == 1 else pd.concat(parts).loc[designs.index]
        return _add_constraints(pd.concat([designs, figures], axis=1), self.spec, self.device)

    def _simulate(self, label: str, designs: pd.DataFrame) -> pd.DataFrame:
        """simulator.simulate_batch's network figures for one model's designs (its packed layer
        tables stay in memory between calls, so a search pays for each packing once)."""
        from dla_explorer.sim.simulator import simulate_batch  # imports packing only when evaluating

        out = simulate_batch(self.model(label), designs[list(DESIGN_COLUMNS)], self.device, self.spec.batch)
        out.index = designs.index
        out = out.drop(columns=list(DESIGN_COLUMNS))
        # the packing's share of |w| always; accuracy where the spec gives data (NaN otherwise)
        metrics = {*WEIGHT_METRICS, *ACCURACY_METRICS}
        extra = design_metrics(self.model(label), designs, metrics, self.spec.accuracy)
        return pd.concat([out, extra], axis=1)

    @cached_property
    def constraint_names(self) -> list[str]:
        """The constraint columns of the spec's table (see constraint_columns).

        Returns:
            The column names, computed once per Evaluator.
        """
        return constraint_columns(self.spec)


def constraint_columns(spec: Spec) -> list[str]:
    """The constraint columns of a spec's results, in the order Optuna stores their values.

    Args:
        spec: the spec; its `constraints` decide the columns.

    Returns:
        `c_device` when the device constraint is on, then `c_max_<metric>` and `c_min_<metric>`
        for every bound, in the spec's order.
    """
    names = ["c_device"] if spec.constraints.device else []
    names += [f"c_max_{m}" for m in spec.constraints.max]
    names += [f"c_min_{m}" for m in spec.constraints.min]
    return names


def _add_constraints(table: pd.DataFrame, spec: Spec, device: hw.Device) -> pd.DataFrame:
    """Append the c_* columns, `feasible` and `violation` (these two replace the simulator's
    resource-only ones). The device limits form one constraint, `c_device`, the largest relative
    excess (one value per trial keeps Optuna's storage writes few); `violation` names each.

    Args:
        table: one row per design with the simulator's figures: `dsp`, `m20k`, `alm` (and
            `esram`, if the table has it), `clock_mhz`, `mem_kind`, `mem_channels`,
            `mem_data_rate_mtps`, and every metric the spec bounds.
        spec: the spec whose `constraints` apply.
        device: the FPGA (`hw.load_device`) whose limits `c_device` checks.

    Returns:
        `table` (same index) without its own `feasible` and `violation`, then the c_* columns
        (relative excess, <= 0 satisfied; `constraint_columns` gives the names), `feasible` (bool,
        every constraint met) and `violation` ("name +x%" per check exceeded, "; "-joined; "" when
        none).
    """
    checks: dict[str, np.ndarray] = {}
    columns: dict[str, np.ndarray] = {}
    if spec.constraints.device:
        # every on-chip resource the table carries: eSRAM too (the stream buffer's part beyond
        # M20K on a Stratix 10 MX); a table from before the eSRAM column is checked on the rest
        used = {k: table[k].to_numpy() for k in ("dsp", "m20k", "esram", "alm") if k in table}
        device_checks = device_excess(
            device,
            used,
            {k: table[k].to_numpy() for k in ("clock_mhz", "mem_kind", "mem_channels", "mem_data_rate_mtps")},
        )
        checks.update(device_checks)
        columns["c_device"] = np.max(np.stack(list(device_checks.values())), axis=0)
    for metric, bound in spec.constraints.max.items():
        columns[f"c_max_{metric}"] = checks[f"{metric} > {bound:g}"] = relative_excess(table[metric], bound)
    for metric, bound in spec.constraints.min.items():
        columns[f"c_min_{metric}"] = checks[f"{metric} < {bound:g}"] = -relative_excess(table[metric], bound)
    out = table.drop(columns=["feasible", "violation"], errors="ignore")
    text = violation_text(checks) if checks else np.full(len(table), "", dtype=object)
    feasible = (
        np.all([v <= 0 for v in columns.values()], axis=0) if columns else np.ones(len(table), dtype=bool)
    )
    extra = pd.DataFrame({**columns, "feasible": feasible, "violation": text}, index=table.index)
    return pd.concat([out, extra], axis=1)
