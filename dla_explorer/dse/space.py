"""A spec's search space as design tables: per-trial suggestion (Optuna) and full grids (sweeps).

A design is the base architecture and memory, replaced by a chosen `arch` / `memory` config, then
by every explicitly chosen field. Parameters are taken in the spec's order; a conditional one
(`when:`) is chosen only where its condition holds on what is decided so far, and keeps the base
value elsewhere. The same rules apply to one trial (dicts, no pandas: it runs once per trial) and
to a whole grid (vectorised over rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.core.errors import UsageError
from dla_explorer.dse.spec import (
    ARCH_PARAMS,
    CONFIG_PARAMS,
    MEMORY_PARAMS,
    CategoricalParam,
    FloatParam,
    IntParam,
    Pow2Param,
    Spec,
)
from dla_explorer.sim import config as hw

DESIGN_COLUMNS = hw.DESIGN_COLUMNS
# what identifies a design in a results table: the model, the configs and every field
KEY_COLUMNS = ("model", "arch", "memory", *DESIGN_COLUMNS)
POW2_PREFIX = "log2_"


def arch_row(arch: hw.Architecture) -> dict[str, Any]:
    """An architecture as design columns (every Architecture field but its name).

    Args:
        arch: the architecture config.

    Returns:
        Field name -> value, in ARCH_PARAMS order.
    """
    return {c: getattr(arch, c) for c in ARCH_PARAMS}


def memory_row(memory: hw.Memory) -> dict[str, Any]:
    """A memory system as design columns (every Memory field but its name, prefixed mem_).

    Args:
        memory: the memory config.

    Returns:
        mem_<field> -> value, in MEMORY_PARAMS order.
    """
    return {c: getattr(memory, c[4:]) for c in MEMORY_PARAMS}


@dataclass
class Space:
    """The ordered parameters of a spec (plus `model` / `mode` when the spec lists several) and
    the rows of every config they can name."""

    spec: Spec
    params: dict[str, Any] = field(init=False)
    base: dict[str, Any] = field(init=False)
    configs: dict[str, dict[str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        implicit = {}
        if len(spec.models) > 1 and "model" not in spec.space:
            implicit["model"] = CategoricalParam(choices=[m.label for m in spec.models])
        if len(spec.modes) > 1 and "mode" not in spec.space:
            implicit["mode"] = CategoricalParam(choices=list(spec.modes))
        self.params = {**implicit, **spec.space}
        self.base = {
            "model": spec.models[0].label,
            "arch": spec.base.arch,
            "memory": spec.base.memory,
            "mode": spec.modes[0],
            **arch_row(hw.load_architecture(spec.base.arch)),
            **memory_row(hw.load_memory(spec.base.memory)),
        }
        self.configs = {"arch": {}, "memory": {}}
        arch_param, memory_param = self.params.get("arch"), self.params.get("memory")
        for name in arch_param.choices if arch_param is not None else []:
            self.configs["arch"][name] = arch_row(hw.load_architecture(name))
        for name in memory_param.choices if memory_param is not None else []:
            self.configs["memory"][name] = memory_row(hw.load_memory(name))

    # -- one trial -------------------------------------------------------------------------------

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for every active parameter; returns the full design row.

        Args:
            trial: the Optuna trial to ask (pow2 parameters are asked as log2_NAME exponents).

        Returns:
            The design row: the base design with every chosen config and value applied.
        """
        row = dict(self.base)
        for name, param in self.params.items():
            if _holds(param.when, row):
                _set(row, name, _suggest(trial, name, param), self.configs)
        return row

    def optuna_grid(self) -> dict[str, list]:
        """GridSampler's search space (Optuna names: pow2 parameters are exponents); refused,
        before listing it, when larger than the spec's max_grid.

        Returns:
            Optuna parameter name -> the list of its values.

        Raises:
            UsageError: the grid holds more than the spec's max_grid designs, or a float parameter
                has no step.
        """
        if self.spec.grid_size() > self.spec.max_grid:
            raise UsageError(
                f"the grid of spec '{self.spec.name}' has more than {self.spec.max_grid:,} designs; "
                "use another sampler or raise max_grid"
            )
        out = {}
        for name, param in self.params.items():
            if isinstance(param, Pow2Param):
                out[POW2_PREFIX + name] = [int(v).bit_length() - 1 for v in param.values()]
            else:
                out[name] = param.values()
        return out

    # -- tables ----------------------------------------------------------------------------------

    def designs(self, chosen: pd.DataFrame) -> pd.DataFrame:
        """Design rows (KEY_COLUMNS) from a table of chosen values (NaN/None = not chosen).

        Args:
            chosen: one row per design, one column per parameter; NaN / None keeps the base value.

        Returns:
            The KEY_COLUMNS of every design, on `chosen`'s index, typed like the base design.
        """
        n = len(chosen)
        out = pd.DataFrame(
            {c: np.repeat(np.asarray([self.base[c]], dtype=object), n) for c in KEY_COLUMNS},
            index=chosen.index,
        )
        for kind in ("arch", "memory"):
            if kind in chosen:
                names = chosen[kind]
                picked = names.notna().to_numpy()
                out.loc[picked, kind] = names[picked]
                for column in next(iter(self.configs[kind].values()), {}):
                    values = names.map({k: v[column] for k, v in self.configs[kind].items()})
                    out.loc[picked, column] = values[picked]
        for name in chosen.columns:
            if name not in ("arch", "memory") and name in out:
                picked = chosen[name].notna().to_numpy()
                out.loc[picked, name] = chosen.loc[picked, name]
        for column in KEY_COLUMNS:
            out[column] = out[column].astype(type(self.base[column]))
        return out

    def from_trial_params(self, params: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Design rows from stored Optuna trial params (undoing the pow2 exponent encoding).

        Args:
            params: each trial's `FrozenTrial.params` (a failed trial's may be partial).

        Returns:
            One design row per trial (see designs).
        """
        frame = pd.DataFrame(list(params))
        for name in list(frame.columns):
            if name.startswith(POW2_PREFIX):
                exponent = frame.pop(name)
                frame[name[len(POW2_PREFIX) :]] = np.where(exponent.notna(), 2 ** exponent.fillna(0), np.nan)
        return self.designs(frame.astype(object).where(frame.notna(), None))

    def grid(self, max_points: int) -> pd.DataFrame:
        """Every design of the space (conditionals respected), in a fixed order; refused with a
        UsageError when larger than `max_points`.

        Args:
            max_points: the largest number of designs allowed (the spec's max_grid).

        Returns:
            The designs (see designs), indexed by `point` 0..n-1.

        Raises:
            UsageError: a float parameter has no step, or the grid would exceed `max_points`
                (checked before its values are listed).
        """
        chosen = pd.DataFrame(index=pd.RangeIndex(1))
        for name, param in self.params.items():
            if isinstance(param, FloatParam) and param.step is None:
                raise UsageError(f"key 'space.{name}.step': a sweep needs a step for float parameters")
            if param.when:
                resolved = self.designs(chosen)
                active = np.all(
                    [resolved[ref].isin(v if isinstance(v, list) else [v]) for ref, v in param.when.items()],
                    axis=0,
                )
            else:
                active = np.ones(len(chosen), dtype=bool)
            # counted before the values are listed: an int range to 10^12 or a step of 1e-9 is
            # refused here instead of filling the memory (or hanging)
            size = len(chosen) + int(active.sum()) * (param.count() - 1)
            if size > max_points:
                raise UsageError(
                    f"the grid of spec '{self.spec.name}' has more than "
                    f"{max_points:,} designs (at '{name}'); use 'dla-explorer search' "
                    "or raise max_grid"
                )
            chosen = _expand(chosen, active, name, param.values())
        chosen = chosen.reset_index(drop=True)
        chosen.index.name = "point"
        return self.designs(chosen.astype(object).where(chosen.notna(), None))


def _expand(frame: pd.DataFrame, active: np.ndarray, name: str, values: list) -> pd.DataFrame:
    """Repeat the active rows once per value (in place, keeping the row order)."""
    repeats = np.where(active, len(values), 1)
    out = frame.loc[frame.index.repeat(repeats)].reset_index(drop=True)
    column = np.full(len(out), None, dtype=object)
    starts = np.cumsum(repeats) - repeats
    offsets = np.arange(len(out)) - np.repeat(starts, repeats)
    picked = np.repeat(active, repeats)
    column[picked] = np.asarray(values, dtype=object)[offsets[picked]]
    out[name] = column
    return out


def _holds(when: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    return all(row[ref] in (v if isinstance(v, list) else [v]) for ref, v in when.items())


def _set(row: dict[str, Any], name: str, value: Any, configs: Mapping[str, Mapping]) -> None:
    if name in configs:
        row.update(configs[name][value])
    row[name] = value


def _suggest(trial: Any, name: str, param: Any) -> Any:
    if isinstance(param, IntParam):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Pow2Param):
        low, high = param.low.bit_length() - 1, param.high.bit_length() - 1
        return 2 ** trial.suggest_int(POW2_PREFIX + name, low, high)
    if isinstance(param, FloatParam):
        return trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
    return trial.suggest_categorical(name, param.choices)


__all__ = ["CONFIG_PARAMS", "DESIGN_COLUMNS", "KEY_COLUMNS", "Space", "arch_row", "memory_row"]
