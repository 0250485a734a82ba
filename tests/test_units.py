"""core.units and core.vocab: the one definition of each constant, checked against hand values."""

import typing

import numpy as np
import pydantic
import pytest

from dla_explorer.core import units, vocab
from dla_explorer.core.errors import UsageError
from dla_explorer.core.schema import FrozenModel, StrictModel


@pytest.mark.parametrize("choices, bits", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (64, 6)])
def test_index_bits_scalar_and_array_agree_with_hand_values(choices, bits):
    assert units.index_bits(choices) == bits
    assert units.index_bits(np.array([choices]))[0] == bits


def test_sizes():
    assert units.bytes_for_bits(0) == 0 and units.bytes_for_bits(1) == 1 and units.bytes_for_bits(17) == 3
    assert units.MIB == 1_048_576 and units.PICO == 1e-12 and units.TERA == 1e12


def test_vocabularies_are_their_literal_types():
    assert vocab.MODES == ("dense", "unpacked", "packed", "nm")
    assert vocab.PRUNING_METHODS == ("random", "magnitude", "magnitude_global", "nm")
    assert typing.get_args(vocab.Sampler) == vocab.SAMPLERS and "cmaes" in vocab.SAMPLERS
    assert vocab.DEFAULT_ALGORITHM in vocab.ALGORITHMS


class _Point(FrozenModel):
    x: int


class _Recipe(StrictModel):
    name: str


def test_base_models_refuse_unknown_keys_and_freeze(tmp_path):
    with pytest.raises(UsageError, match="here: key 'y': unknown key"):
        _Point.from_data({"x": 1, "y": 2}, "here")
    point = _Point.from_data({"x": 1}, "here")
    with pytest.raises(pydantic.ValidationError, match="frozen"):  # not any error: the freeze
        point.x = 2  # type: ignore[misc]
    path = tmp_path / "r.yaml"
    path.write_text("name: a\n")
    recipe = _Recipe.from_yaml(path)
    recipe.name = "b"  # a StrictModel stays editable
    assert recipe.name == "b"
