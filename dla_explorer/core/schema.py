"""The pydantic base classes every configuration and spec model derives from.

One place decides how the package's YAML-backed models behave: unknown keys are refused (a
misspelt key must not be silently ignored), and configurations are immutable once validated, so a
design can be hashed, cached and shared between processes without a copy changing under it.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import pydantic

from dla_explorer.core.fileio import load_yaml_model, validate

M = TypeVar("M", bound="StrictModel")


class StrictModel(pydantic.BaseModel):
    """A pydantic model that refuses unknown keys.

    Use it for inputs that are edited after validation (recipes filled in from the command line);
    use FrozenModel for everything else.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    @classmethod
    def from_data(cls: type[M], data: Any, source: str) -> M:
        """Validate plain data (a dict, e.g. from YAML or JSON) as this model.

        Args:
            data: the mapping of keys to values.
            source: what to name in an error (a file name, "command line").

        Returns:
            The validated model.

        Raises:
            UsageError: `data` is not a mapping, has an unknown key or a bad value; the one-line
                message names `source`, the key and the rule.
        """
        return validate(cls, data, source)

    @classmethod
    def from_yaml(cls: type[M], path: str | os.PathLike) -> M:
        """Read a YAML file and validate it as this model.

        Args:
            path: the YAML file.

        Returns:
            The validated model.

        Raises:
            DlaError: the file does not exist.
            UsageError: the file is not valid YAML or does not validate (the message names the
                file and the key).
        """
        return load_yaml_model(cls, path)


class FrozenModel(StrictModel):
    """A StrictModel that is immutable (and hashable) once validated."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
