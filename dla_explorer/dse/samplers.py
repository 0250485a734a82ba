"""The one list of search samplers, and their Optuna classes (optuna is imported only when a
sampler class is asked for, so loading a sweep spec stays free of it)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

# spec name -> class in optuna.samplers
SAMPLER_CLASSES = {
    "tpe": "TPESampler",
    "nsga2": "NSGAIISampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "qmc": "QMCSampler",
    "cmaes": "CmaEsSampler",
}
SAMPLERS = tuple(SAMPLER_CLASSES)
# options the search sets itself (refused in a spec's sampler.options)
MANAGED_OPTIONS = ("seed", "search_space", "constraints_func")


def sampler_class(name: str) -> Any:
    import optuna

    return getattr(optuna.samplers, SAMPLER_CLASSES[name])


def option_errors(name: str, options: dict[str, Any]) -> list[tuple[str, str]]:
    """(option, rule) for every option that is not a keyword of the sampler, or whose value has
    another type than the keyword's default (a string for n_startup_trials made every trial
    fail), or that the sampler's constructor refuses (NSGA-II population_size 1)."""
    params = inspect.signature(sampler_class(name)).parameters
    allowed = [p for p in params if p not in MANAGED_OPTIONS and p != "self"]
    for option, value in options.items():
        if option not in allowed:
            return [(option, f"not an option of the {name} sampler (options: {', '.join(allowed)})")]
        default = params[option].default
        if isinstance(default, bool | int | float) and default is not inspect.Parameter.empty:
            expected = (
                bool if isinstance(default, bool) else (int, float) if isinstance(default, float) else int
            )
            if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
                kind = type(default).__name__
                return [(option, f"must be of type {kind} (its default is {default!r}; got {value!r})")]
    if name == "grid":
        return []  # its search space is the spec's, built later
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental / deprecated options are the user's call
            sampler_class(name)(**options)
    except (ValueError, TypeError) as exc:
        text = str(exc).strip().splitlines()
        return [(next(iter(options)), text[0] if text else type(exc).__name__)]
    return []
