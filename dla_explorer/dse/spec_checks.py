"""Checks of a spec against what it names: hardware configs, parameter values the hardware
models accept, and the options of the Optuna sampler. Run by spec.parse_spec after the spec's own
validation; each failure is a one-line UsageError naming the file and the key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.dse.samplers import option_errors
from dla_explorer.sim import config as hw

if TYPE_CHECKING:  # spec imports this module (lazily) to run the checks: no runtime import back
    from dla_explorer.dse.spec import Scalar, Spec


def check_hardware(spec: Spec, source: str) -> None:
    """Every config name resolves, and the range ends and choices of every parameter are values
    the Architecture / Memory models accept (e.g. k_vec >= 1, controller_efficiency <= 1)."""

    def fail(key: str, exc: Exception) -> UsageError:
        return UsageError(f"{source}: key '{key}': {exc}")

    for key, loader in (
        ("device", hw.load_device),
        ("base.arch", hw.load_architecture),
        ("base.memory", hw.load_memory),
    ):
        try:
            loader(_get(spec, key))
        except DlaError as exc:
            raise fail(key, exc) from None
    arch, memory = hw.load_architecture(spec.base.arch), hw.load_memory(spec.base.memory)
    for name, param in spec.space.items():
        for value in _extremes(param):
            try:
                _check_value(name, value, spec, arch, memory)
            except (DlaError, ValueError) as exc:
                raise fail(f"space.{name}", exc) from None
    check_sampler_options(spec, source)


def _get(spec: Spec, dotted: str) -> str:
    value: Any = spec
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _extremes(param: Any) -> list[Scalar]:
    if hasattr(param, "choices"):  # a CategoricalParam
        return list(param.choices)
    return [param.low, param.high]


def _check_value(name: str, value: Scalar, spec: Spec, arch: hw.Architecture, memory: hw.Memory) -> None:
    if name == "arch":
        hw.load_architecture(str(value))
    elif name == "memory":
        hw.load_memory(str(value))
    elif name == "mode":
        if value not in spec.modes:
            raise ValueError(f"mode '{value}' is not one of the spec's modes ({spec.modes})")
    elif name == "model":
        labels = [m.label for m in spec.models]
        if value not in labels:
            raise ValueError(f"model '{value}' is not one of the spec's models ({labels})")
    elif name.startswith("mem_"):
        _validate_field(hw.Memory, memory, name[4:], value)
    else:
        _validate_field(hw.Architecture, arch, name, value)


def _validate_field(
    model: type[pydantic.BaseModel], base: pydantic.BaseModel, field: str, value: Scalar
) -> None:
    try:
        model.model_validate({**base.model_dump(), field: value})
    except pydantic.ValidationError as exc:
        raise ValueError(f"{exc.errors()[0]['msg']} (got {value!r})") from None


def check_sampler_options(spec: Spec, source: str) -> None:
    """Sampler options must be keyword arguments of the Optuna sampler class, of the type of
    its default, and values its constructor accepts (optuna is imported only when a spec names
    options)."""
    if not spec.sampler.options:
        return
    for option, rule in option_errors(spec.sampler.name, spec.sampler.options):
        raise UsageError(f"{source}: key 'sampler.options.{option}': {rule}")
