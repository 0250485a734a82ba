"""Estimates with ranges, and Monte-Carlo samples of design tables.

A coefficient that is an estimate is written in the hardware YAML as

    static_power_w: {nominal: 15.0, low: 10.0, high: 25.0, basis: "EPE class figure, ..."}

The config keeps the nominal value in the field (every existing reader sees a plain number) and the
range on the side (`ranges(config)`, keyed by the dotted path, e.g. "energy.mac_pj.int8").

`monte_carlo` turns a design table into N samples per design: each estimate is drawn from the
triangular distribution (low, nominal, high), the usual reading of a three-point estimate. The
draws are *shared*: sample i uses the same draw of an estimate in every design that carries it
(keyed by config kind and path), so a ratio of two designs that share an estimate (the same device,
or two DDR4 memories with the same controller estimate) is not blurred by it, only by the
estimates in which they differ. Architecture and memory estimates land in their design columns;
device estimates in extra columns named `dev:<path>`, which the simulator reads through
`coefficient` / `per_precision` (a model formula that reads a device coefficient that way gets its
uncertainty for free).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pydantic

RANGE_KEYS = frozenset({"nominal", "low", "high", "basis"})
DEVICE_PREFIX = "dev:"
BAND = (5, 95)  # the percentiles every band reports


class Range(pydantic.BaseModel):
    """A three-point estimate of one coefficient and the reason for its range."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    nominal: float
    low: float
    high: float
    basis: str = pydantic.Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low <= self.nominal <= self.high:
            raise ValueError(f"needs low <= nominal <= high (got {self.low}, {self.nominal}, {self.high})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The triangular(low, nominal, high) quantile of uniform draws `u` (inverse CDF)."""
        low, mode, high = self.low, self.nominal, self.high
        if high == low:
            return np.full(np.shape(u), mode, dtype=np.float64)
        split = (mode - low) / (high - low)
        below = low + np.sqrt(u * (high - low) * (mode - low))
        above = high - np.sqrt((1 - u) * (high - low) * (high - mode))
        return np.where(u < split, below, above)


def _is_range(value: Any) -> bool:
    return isinstance(value, dict) and "nominal" in value


def split_ranges(data: Any) -> tuple[Any, dict[str, Range]]:
    """Replace every `{nominal, low, high, basis}` mapping in `data` (nested dicts included) by its
    nominal value; return the plain data and the ranges by dotted path. Raises ValueError naming
    the key when a range is malformed (the config loader turns it into a one-line error)."""
    if not isinstance(data, dict):
        return data, {}
    ranges: dict[str, Range] = {}

    def walk(value: Any, path: str) -> Any:
        if _is_range(value):
            unknown = set(value) - RANGE_KEYS
            if unknown:
                raise ValueError(
                    f"key '{path}': unknown range key '{sorted(unknown)[0]}' ({sorted(RANGE_KEYS)})"
                )
            try:
                ranges[path] = Range.model_validate(value)
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(
                    f"key '{path}{'.' + where if where else ''}': estimate range: {first['msg']}"
                ) from None
            return ranges[path].nominal
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        return value

    return walk(data, ""), ranges


def ranges(config: pydantic.BaseModel) -> dict[str, Range]:
    """The estimates of a config loaded from YAML, by dotted path (empty when it has none)."""
    return dict(getattr(config, "_ranges", None) or {})


def value_at(config: Any, path: str) -> Any:
    """The value at a dotted path of a config (attributes, then dict keys)."""
    for part in path.split("."):
        config = config[part] if isinstance(config, Mapping) else getattr(config, part)
    return config


def draws(key: tuple, n: int, seed: int) -> np.ndarray:
    """n uniform draws for one estimate: the same for the same (key, seed) in every design."""
    digest = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).random(n)


def estimates(
    config: pydantic.BaseModel, scope: str, column_prefix: str = ""
) -> dict[str, tuple[tuple, Range]]:
    """{design column: (draw key, range)} for the estimates of one config whose field still holds
    the nominal value (a value changed after loading, e.g. a swept buffer size, is not an estimate
    any more)."""
    out = {}
    for path, estimate in ranges(config).items():
        if math.isclose(float(value_at(config, path)), estimate.nominal):
            out[f"{column_prefix}{path}"] = ((scope, path), estimate)
    return out


# Memory estimates that act only at some fidelity levels (docs/dram.md#fidelity-levels): the
# flat efficiency and latency at level 0 (and at any level for a memory that names no DRAM
# device: level 1 falls back to them); the factors on the cycle model's efficiencies at level 1.
# Level 2 replays the traffic through the cycle model: neither acts there.
FLAT_MEMORY_ESTIMATES = frozenset({"controller_efficiency", "access_latency_ns"})
CYCLE_MODEL_ESTIMATES = frozenset({"seq_efficiency_scale", "run_efficiency_scale"})


def _resolve(fidelity: int | None) -> int:
    if fidelity is None:
        from dla_explorer.sim.traffic import DEFAULT_FIDELITY  # sim.config imports this module

        return DEFAULT_FIDELITY
    return int(fidelity)


def acts(memory: Any, path: str, fidelity: int | None = None) -> bool:
    """Whether the memory estimate at `path` changes a figure at this fidelity level."""
    level = _resolve(fidelity)
    cycle_model = level >= 1 and bool(getattr(memory, "dram", ""))
    if path in FLAT_MEMORY_ESTIMATES:
        return not cycle_model
    if path in CYCLE_MODEL_ESTIMATES:
        return cycle_model and level == 1
    return True


def design_estimates(
    arch: Any, memory: Any, device: Any, fidelity: int | None = None
) -> dict[str, tuple[tuple, Range]]:
    """Every estimate behind one design point that acts at this memory fidelity level (default:
    the simulator's), by the design column that carries it."""
    memory_estimates = {
        column: value
        for column, value in estimates(memory, f"memory:{memory.kind}", "mem_").items()
        if acts(memory, column.removeprefix("mem_"), fidelity)
    }
    # a per-precision device estimate (e.g. energy.mac_pj.fp16) acts only at the design's precision
    precisions = set(getattr(device, "multipliers_per_dsp", {}))
    device_estimates = {
        column: value
        for column, value in estimates(device, f"device:{device.name}", DEVICE_PREFIX).items()
        if column.rsplit(".", 1)[-1] not in precisions - {arch.precision}
    }
    return {**estimates(arch, "arch"), **memory_estimates, **device_estimates}


def monte_carlo(
    designs: pd.DataFrame,
    sources: Sequence[tuple[Any, Any]],
    device: Any,
    n: int,
    seed: int = 0,
    fidelity: int | None = None,
) -> pd.DataFrame:
    """`n` samples of every design row (row i built from `sources[i]` = (arch, memory)): the rows
    repeated n times (column `sample` = 0..n-1, `design_index` = the row), every estimate that
    acts at the memory fidelity level the samples will be simulated at drawn (the others keep
    their nominal value)."""
    if n < 1:
        raise ValueError(f"uncertainty samples must be >= 1 (got {n})")
    designs = designs.reset_index(drop=True)
    index = np.repeat(np.arange(len(designs)), n)
    out = designs.iloc[index].reset_index(drop=True)
    out["design_index"] = index
    out["sample"] = np.tile(np.arange(n), len(designs))
    for i, (arch, memory) in enumerate(sources):
        rows = slice(i * n, (i + 1) * n)
        for column, (key, estimate) in design_estimates(arch, memory, device, fidelity).items():
            if column.startswith(DEVICE_PREFIX) and column not in out:
                out[column] = float(value_at(device, column[len(DEVICE_PREFIX) :]))
            if column not in out:
                continue  # an estimate the design table does not carry (the simulator cannot read it)
            if out[column].dtype != np.float64:
                out[column] = out[column].astype(np.float64)
            out.iloc[rows, out.columns.get_loc(column)] = estimate.ppf(draws(key, n, seed))
    return out


def coefficient_arrays(designs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The `dev:` columns of a design table (per-design device coefficients), as float arrays."""
    return {c: designs[c].to_numpy(np.float64) for c in designs.columns if c.startswith(DEVICE_PREFIX)}


def coefficient(d: Mapping[str, np.ndarray], device: Any, path: str) -> np.ndarray:
    """A device coefficient per design point: the sampled `dev:<path>` column when present, else
    the device's value for every design."""
    column = DEVICE_PREFIX + path
    if column in d:
        return np.asarray(d[column], dtype=np.float64)
    size = len(d["mode"]) if "mode" in d else len(next(iter(d.values())))
    return np.full(size, float(value_at(device, path)))


def per_precision(d: Mapping[str, np.ndarray], device: Any, path: str) -> np.ndarray:
    """A per-precision device coefficient (e.g. "energy.mac_pj") at each design's precision,
    sampled where a `dev:<path>.<precision>` column exists."""
    table = value_at(device, path)
    precision = np.asarray(d["precision"])
    keys, inverse = np.unique(precision, return_inverse=True)
    values = np.array([table[k] for k in keys], dtype=np.float64)[inverse]
    for key in keys:
        column = f"{DEVICE_PREFIX}{path}.{key}"
        if column in d:
            values = np.where(precision == key, np.asarray(d[column], dtype=np.float64), values)
    return values


def bands(
    samples: pd.DataFrame, by: Sequence[str], figures: Sequence[str], percentiles: tuple[int, int] = BAND
) -> pd.DataFrame:
    """Per group: `<figure>_p5`, `<figure>_p50` and `<figure>_p95` of the sampled figures."""
    low, high = percentiles
    grouped = samples.groupby(list(by), sort=False)[list(figures)]
    parts = {
        f"_p{low}": grouped.quantile(low / 100),
        "_p50": grouped.median(),
        f"_p{high}": grouped.quantile(high / 100),
    }
    frames = [frame.add_suffix(suffix) for suffix, frame in parts.items()]
    table = pd.concat(frames, axis=1)
    order = [f"{f}{s}" for f in figures for s in parts]
    return table[order].reset_index()


def describe(config: pydantic.BaseModel) -> pd.DataFrame:
    """The estimates of a config as a table (path, low, nominal, high, basis)."""
    return pd.DataFrame(
        [{"path": p, **r.model_dump()} for p, r in ranges(config).items()],
        columns=["path", "nominal", "low", "high", "basis"],
    )
