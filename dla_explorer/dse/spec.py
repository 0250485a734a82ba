"""Experiment specs: what to evaluate (models, device, modes, a base design and a search space)
and how (objectives, constraints, sampler, budget, storage). One YAML file in experiments/.

Validation happens at load time, before anything expensive runs: unknown keys, parameter names
that are not Architecture/Memory fields, empty ranges, values the hardware models refuse, unknown
metrics and sampler/objective mismatches are one-line UsageErrors naming the file and the key.
The reference of every key is docs/search.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field, PositiveFloat, PositiveInt

from dla_explorer.core.errors import UsageError
from dla_explorer.core.fileio import MAX_INT, as_path, format_validation_error, read_yaml
from dla_explorer.core.secrets import redact_tree
from dla_explorer.dse.samplers import SAMPLERS
from dla_explorer.packing.finetune import ACCURACY_METRICS, AccuracySettings
from dla_explorer.sim import config as hw
from dla_explorer.sparsity.pruning import Recipe, load_recipe

__all__ = [
    "ARCH_PARAMS",
    "CONFIG_PARAMS",
    "MEMORY_PARAMS",
    "METRICS",
    "NAME_PATTERN",
    "Base",
    "CategoricalParam",
    "Constraints",
    "Direction",
    "FloatParam",
    "Heartbeat",
    "IntParam",
    "Mode",
    "ModelEntry",
    "Objective",
    "Param",
    "Pow2Param",
    "SamplerSpec",
    "Scalar",
    "Spec",
    "load_spec",
    "parse_spec",
]

Mode = Literal["dense", "unpacked", "packed", "nm"]  # packing.MODES (a test keeps them equal)
Direction = Literal["maximize", "minimize"]
Scalar = str | bool | int | float

# Network figures of simulator.simulate_batch that can be objectives or constraints, with the
# direction that is better (used when an objective is given by name only). The one list: a new
# metric is one line here.
METRICS: dict[str, Direction] = {
    "fps": "maximize",
    "latency_s": "minimize",
    "power_w": "minimize",
    "fps_per_w": "maximize",
    "energy_j_per_frame": "minimize",
    "gops_effective": "maximize",
    "gops_dense_equiv": "maximize",
    "gops_peak": "maximize",
    "utilization": "maximize",
    "compute_s": "minimize",
    "memory_s": "minimize",
    "stall_s": "minimize",
    "memory_bound_share": "minimize",
    "dram_mb_per_frame": "minimize",
    "dsp": "minimize",
    "m20k": "minimize",
    "alm": "minimize",
    "dynamic_w": "minimize",
    "static_w": "minimize",
    # packing/finetune.design_metrics: share of |w| conflict pruning drops; top-1/top-5 (needs accuracy:)
    "pruned_share": "minimize",
    "accuracy": "maximize",
    "top5": "maximize",
}
ARCH_PARAMS = hw.ARCH_FIELDS
MEMORY_PARAMS = tuple(f"mem_{n}" for n in hw.MEMORY_FIELDS)
# parameters whose values name whole configurations (or a model / mode) rather than one field
CONFIG_PARAMS = ("model", "mode", "arch", "memory")
_PARAM_NAMES = (*CONFIG_PARAMS, *ARCH_PARAMS, *MEMORY_PARAMS)
_DEFAULT_MAX_GRID = 1_000_000
# a results folder and study name: a plain folder name (not '.', '..' or hidden)
NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
# pow2 parameters are searched as exponents; 2^40 is far beyond any array or memory field
_MAX_POW2 = 2**40


class _Strict(pydantic.BaseModel):
    # .inf / .nan bounds are refused (a .nan constraint bound made every design infeasible)
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Param(_Strict):
    when: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="only sampled when every named parameter or design "
        "column has the given value (or one of the listed values); otherwise the base value",
    )


class IntParam(_Param):
    """A whole-number parameter from low to high in steps of `step` (`{type: int, low, high, step}`)."""

    type: Literal["int"]
    low: int = Field(ge=-MAX_INT, le=MAX_INT)
    high: int = Field(ge=-MAX_INT, le=MAX_INT)
    step: PositiveInt = 1
    log: bool = False

    @pydantic.model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high)
        if self.log and (self.step != 1 or self.low < 1):
            raise ValueError("log scale needs step 1 and low >= 1")
        return self

    def count(self) -> int:
        """Values in the grid of this int parameter.

        Returns:
            The number of values, counted without listing them.
        """
        return (self.high - self.low) // self.step + 1

    def values(self) -> list[int]:
        """The grid values: low to high (inclusive) in steps of `step`.

        Returns:
            The values, ascending.
        """
        return list(range(self.low, self.high + 1, self.step))


class Pow2Param(_Param):
    """Powers of two from low to high; searched as the exponent (Optuna parameter log2_NAME)."""

    type: Literal["pow2"]
    low: PositiveInt = Field(le=_MAX_POW2)
    high: PositiveInt = Field(le=_MAX_POW2)

    @pydantic.model_validator(mode="after")
    def _check(self) -> Pow2Param:
        for value in (self.low, self.high):
            if value & (value - 1):
                raise ValueError(f"{value} is not a power of two")
        _check_range(self.low, self.high)
        return self

    def count(self) -> int:
        """Values in the grid of this pow2 parameter.

        Returns:
            The number of values, counted without listing them.
        """
        return self.high.bit_length() - self.low.bit_length() + 1

    def values(self) -> list[int]:
        """The grid values: every power of two from low to high (inclusive).

        Returns:
            The values, ascending.
        """
        return [2**e for e in range(self.low.bit_length() - 1, self.high.bit_length())]


class FloatParam(_Param):
    """A real parameter from low to high, optionally on a log scale or in steps (a sweep needs one)."""

    type: Literal["float"]
    low: float
    high: float
    step: PositiveFloat | None = Field(
        None, description="grid spacing (needed by sweeps and the grid sampler)"
    )
    log: bool = False

    @pydantic.model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high)
        if self.log and (self.step is not None or self.low <= 0):
            raise ValueError("log scale needs low > 0 and no step")
        return self

    def count(self) -> int:
        """Values in the grid of this float parameter (low to high in steps of `step`; a rounding
        error of 1e-9 steps still counts the end).

        Returns:
            The number of values.

        Raises:
            ValueError: the parameter has no step (a float range cannot be listed without one).
        """
        if self.step is None:
            raise ValueError("a grid needs a step for float parameters")
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def values(self) -> list[float]:
        """The grid values: low + i * step, rounded to 12 decimals.

        Returns:
            The values, ascending.

        Raises:
            ValueError: the parameter has no step.
        """
        return [round(self.low + i * self.step, 12) for i in range(self.count())]  # type: ignore[operator]


class CategoricalParam(_Param):
    """A parameter that takes one of a list of choices (a plain YAML list is one too)."""

    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(min_length=1)

    @pydantic.field_validator("choices")
    @classmethod
    def _unique(cls, choices: list[Scalar]) -> list[Scalar]:
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ValueError("choices must be distinct")
        return choices

    def count(self) -> int:
        """Values in the grid of this categorical parameter.

        Returns:
            The number of values, counted without listing them.
        """
        return len(self.choices)

    def values(self) -> list[Scalar]:
        """The grid values: the choices, in the spec's order.

        Returns:
            A copy of the choices.
        """
        return list(self.choices)


def _check_range(low: float, high: float) -> None:
    if low > high:
        raise ValueError(f"empty range: low {low} > high {high}")


def _categorical_shorthand(value: Any) -> Any:
    return {"choices": value} if isinstance(value, list) else value


Param = Annotated[
    Annotated[IntParam | Pow2Param | FloatParam | CategoricalParam, Field(discriminator="type")],
    pydantic.BeforeValidator(
        lambda v: (
            {"type": "categorical", **v} if isinstance(v, dict) and "choices" in v and "type" not in v else v
        )
    ),
    pydantic.BeforeValidator(_categorical_shorthand),
]


class ModelEntry(_Strict):
    """A sparse model: a recipe file, an inline recipe, or a checkpoint written by `prune`."""

    name: str | None = Field(None, description="label in the results (default: the file stem)")
    recipe: str | Recipe | None = None
    checkpoint: str | None = None

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        if (self.recipe is None) == (self.checkpoint is None):
            raise ValueError(
                "give exactly one of 'recipe' (a file or an inline recipe) or 'checkpoint' (.npz)"
            )
        return self

    @property
    def label(self) -> str:
        """The model's label in results: `name`, else recipe model + method + sparsity in percent
        for an inline recipe, else the file's stem.
        """
        if self.name:
            return self.name
        if isinstance(self.recipe, Recipe):
            return f"{self.recipe.model}_{self.recipe.method}{round(self.recipe.sparsity * 100)}"
        return Path(str(self.recipe or self.checkpoint)).stem


class Base(_Strict):
    """The base design every point starts from: an architecture and a memory (names or YAML paths)."""

    arch: str = Field(description="hw_configs/arch name or YAML path")
    memory: str = Field(description="hw_configs/memory name or YAML path")


class Constraints(_Strict):
    """What a feasible design meets: the device's resources, and bounds on any metric."""

    device: bool = Field(
        True,
        description="DSPs, M20Ks and ALMs fit the device, and the clock "
        "and memory interfaces are ones it supports",
    )
    max: dict[str, float] = Field(default_factory=dict, description="metric -> upper bound")
    min: dict[str, float] = Field(default_factory=dict, description="metric -> lower bound")

    @pydantic.field_validator("max", "min")
    @classmethod
    def _metrics(cls, bounds: dict[str, float]) -> dict[str, float]:
        for name in bounds:
            _check_metric(name)
        return bounds


class Heartbeat(_Strict):
    """Optuna's heartbeat: how a trial whose worker died is noticed and retried."""

    interval: PositiveInt = Field(10, description="seconds between a running trial's heartbeats")
    grace_period: PositiveInt = Field(
        60, description="a running trial without a heartbeat for this long is marked failed and retried"
    )
    max_retry: int = Field(3, ge=0, description="retries of a trial whose worker died")


class SamplerSpec(_Strict):
    """The Optuna sampler by name (tpe, random, nsga2, qmc, cmaes, grid) with its seed and options."""

    name: str = "tpe"
    # numpy's RandomState (used by Optuna's samplers) takes seeds below 2^32
    seed: int | None = Field(0, ge=0, le=2**32 - 1)
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments of the Optuna sampler (e.g. n_startup_trials, multivariate)",
    )

    @pydantic.field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler '{name}' (one of: {', '.join(SAMPLERS)})")
        return name


class Objective(_Strict):
    """One metric of METRICS and its direction (maximize or minimize)."""

    metric: str
    direction: Direction

    @pydantic.field_validator("metric")
    @classmethod
    def _known(cls, metric: str) -> str:
        return _check_metric(metric)


def _check_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric '{name}' (one of: {', '.join(METRICS)})")
    return name


def _objectives(value: Any) -> Any:
    """`[fps, power_w]` (default directions) or `{fps: maximize, power_w: minimize}`."""
    if isinstance(value, dict):
        value = [{"metric": k, "direction": v} for k, v in value.items()]
    if isinstance(value, list):
        return [
            {"metric": _check_metric(v), "direction": METRICS[v]} if isinstance(v, str) else v for v in value
        ]
    return value


class Spec(_Strict):
    """An experiment spec: models, device, modes, base design, space, objectives, constraints, sampler."""

    name: str = Field(
        pattern=NAME_PATTERN, description="results/<name>/ and study name (a plain folder name)"
    )
    description: str = ""
    models: list[ModelEntry] = Field(min_length=1)
    device: str
    batch: PositiveInt = 1
    modes: list[Mode] = Field(default_factory=lambda: list[Mode](["packed"]), min_length=1)
    base: Base
    space: dict[str, Param] = Field(default_factory=dict)
    objectives: Annotated[list[Objective], pydantic.BeforeValidator(_objectives), Field(min_length=1)]
    constraints: Constraints = Constraints()
    accuracy: AccuracySettings | None = Field(None, description="data for the accuracy metrics")
    sampler: Annotated[
        SamplerSpec, pydantic.BeforeValidator(lambda v: {"name": v} if isinstance(v, str) else v)
    ] = SamplerSpec()
    n_trials: PositiveInt | None = Field(None, description="total trials of the study")
    timeout: PositiveFloat | None = Field(None, description="seconds per run of `search`")
    storage: str | None = Field(None, description="Optuna storage URL or journal file path")
    heartbeat: Heartbeat = Heartbeat()
    results: str | None = Field(None, description="results folder (default results/<name>)")
    max_grid: PositiveInt = Field(_DEFAULT_MAX_GRID, description="largest grid a sweep runs")
    sweep_batch: PositiveInt = Field(1000, description="designs per simulator call in sweeps")

    @pydantic.model_validator(mode="after")
    def _check(self) -> Spec:
        for name in self.space:
            if name not in _PARAM_NAMES:
                raise _KeyError(
                    f"space.{name}",
                    "unknown parameter (an Architecture field, "
                    "mem_ + a Memory field, or one of model, mode, arch, memory)",
                )
        _check_conditions(self)
        if len(set(self.modes)) != len(self.modes):
            raise _KeyError("modes", "modes must be distinct")
        labels = [m.label for m in self.models]
        if len(set(labels)) != len(labels):
            raise _KeyError("models", f"model names must be distinct (got {labels}); set 'name'")
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise _KeyError("objectives", f"objectives must be distinct (got {metrics})")
        used = {*metrics, *self.constraints.max, *self.constraints.min}
        if self.accuracy is None and used & set(ACCURACY_METRICS):
            raise _KeyError("accuracy", "the accuracy metrics need an 'accuracy: {data: ...}' block")
        if self.sampler.name == "cmaes" and len(self.objectives) > 1:
            raise _KeyError(
                "sampler.name",
                f"cmaes optimises one objective; use tpe or nsga2 for {len(self.objectives)} objectives",
            )
        if self.sampler.name == "grid":
            for name, param in self.space.items():
                if isinstance(param, FloatParam) and param.step is None:
                    raise _KeyError(f"space.{name}.step", "the grid sampler needs a step")
        return self

    @property
    def directions(self) -> list[Direction]:
        """The objectives' directions ('maximize' / 'minimize'), in objective order."""
        return [o.direction for o in self.objectives]

    @property
    def metrics(self) -> list[str]:
        """The objectives' metric names, in objective order."""
        return [o.metric for o in self.objectives]

    def results_dir(self) -> Path:
        """The results folder: `results`, else results/<name> (relative to the working folder).

        Returns:
            The folder's path (not created here).
        """
        return Path(self.results or Path("results") / self.name)

    def content_hash(self) -> str:
        """A digest of everything that decides the results (not the budget, storage or notes),
        so a resumed run may change n_trials but not the experiment.

        Returns:
            16 hex digits of a SHA-256 over the spec's JSON (models by label and recipe content).

        Raises:
            UsageError: a recipe file the spec names is not valid YAML or not a valid recipe.
            DlaError: a recipe file the spec names cannot be read as UTF-8 text.
        """
        keep = self.model_dump(
            mode="json",
            exclude={
                "description",
                "n_trials",
                "timeout",
                "storage",
                "results",
                "heartbeat",
                "sweep_batch",
                "max_grid",
            },
        )
        # a recipe file counts by its content, so the hash does not depend on the working folder
        keep["models"] = [{"name": m.label, "source": _model_source(m)} for m in self.models]
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]

    def public_dump(self) -> dict[str, Any]:
        """The spec as JSON data with storage passwords redacted (what results folders and
        studies record).

        Returns:
            A JSON-ready dict of every field, passwords in storage URLs replaced.
        """
        return redact_tree(self.model_dump(mode="json"))

    def grid_size(self) -> int:
        """Designs in the full grid, counted without listing them (conditionals ignored: an
        upper bound). A float range without a step is a UsageError naming its key.

        Returns:
            The product of every parameter's value count.

        Raises:
            UsageError: a float parameter has no step (the message names space.NAME.step).
        """
        size = 1
        for name, param in self.space.items():
            if isinstance(param, FloatParam) and param.step is None:
                raise UsageError(f"key 'space.{name}.step': a sweep needs a step for float parameters")
            size *= param.count()
        return size


def _model_source(entry: ModelEntry) -> Any:
    if isinstance(entry.recipe, Recipe):
        return entry.recipe.model_dump(mode="json")
    if entry.recipe is not None and Path(entry.recipe).is_file():
        return load_recipe(entry.recipe).model_dump(mode="json")
    return Path(str(entry.recipe or entry.checkpoint)).name


class _KeyError(ValueError):
    """Raised inside validators; carries the dotted key so the message names it."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(rule)
        self.key = key


def _check_conditions(spec: Spec) -> None:
    order = list(spec.space)
    for index, (name, param) in enumerate(spec.space.items()):
        if name in CONFIG_PARAMS and any(p not in CONFIG_PARAMS for p in order[:index]):
            raise _KeyError(
                f"space.{name}",
                "model, mode, arch and memory must be listed before "
                "the field parameters (a config replaces every field it sets)",
            )
        for ref in param.when:
            if ref in spec.space and order.index(ref) >= index:
                raise _KeyError(
                    f"space.{name}.when.{ref}", "a condition can only refer to a parameter listed before it"
                )
            if ref not in _PARAM_NAMES:
                raise _KeyError(f"space.{name}.when.{ref}", "unknown parameter or design column")


def load_spec(path: str | Path) -> Spec:
    """Read and validate an experiment spec; `name` defaults to the file's stem. Relative model
    paths are resolved against the spec's folder (then the current directory).

    Args:
        path: the spec's YAML file (experiments/*.yaml).

    Returns:
        The validated Spec, model paths resolved.

    Raises:
        UsageError: the file is not valid YAML or not a valid spec: an unknown key or parameter, an
            empty range, a bad condition, a duplicate, an unknown metric or sampler, a config name
            that does not resolve or a value the hardware models refuse (the message names the file
            and the key).
        DlaError: the file is missing or not UTF-8 text.
    """
    path = as_path(path, "the spec")
    data = read_yaml(path)
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    spec = parse_spec(data, str(path))
    return spec.model_copy(update={"models": [_resolve_paths(m, path.parent) for m in spec.models]})


def parse_spec(data: Any, source: str) -> Spec:
    """Validate plain data as a Spec, then check it against the hardware configs it names.

    Args:
        data: the spec as plain data (what the YAML holds).
        source: where it came from (a file name), for the error messages.

    Returns:
        The validated Spec.

    Raises:
        UsageError: `data` is not a mapping, fails validation, or names hardware configs or values
            the hardware models refuse, or sampler options the sampler lacks (one line naming
            `source` and the key).
    """
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        spec = Spec.model_validate(data)
    except pydantic.ValidationError as exc:
        message = _key_error_message(source, exc) or format_validation_error(source, exc)
        # the key a user wrote: without the parameter-type tag pydantic adds to union members
        message = re.sub(r"(key 'space\.[^.']+)\.(?:int|pow2|float|categorical)\b", r"\1", message)
        raise UsageError(message.replace("Value error, ", "")) from None
    from dla_explorer.dse.spec_checks import check_hardware  # loads hardware configs and Optuna's samplers

    check_hardware(spec, source)
    return spec


def _resolve_paths(entry: ModelEntry, folder: Path) -> ModelEntry:
    update = {}
    for key in ("recipe", "checkpoint"):
        value = getattr(entry, key)
        if isinstance(value, str) and not Path(value).is_absolute():
            beside = folder / value
            update[key] = str(beside) if beside.exists() or not Path(value).exists() else value
    return entry.model_copy(update=update)


def _key_error_message(source: str, err: pydantic.ValidationError) -> str | None:
    """The message of a _KeyError raised in a validator, with its dotted key (None otherwise)."""
    for error in err.errors():
        exc = (error.get("ctx") or {}).get("error")
        if isinstance(exc, _KeyError):
            return f"{source}: key '{exc.key}': {exc}"
    return None
