"""The functional executor equals torch on the conflict-pruned weights, for every layer kind."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dla_explorer.core.errors import UsageError
from dla_explorer.packing import (
    Geometry,
    pack,
    packed_passes,
    pruned_layer_weight,
)
from dla_explorer.packing.combine import ALGORITHMS
from dla_explorer.packing.executor import im2col, run_layer
from dla_explorer.sparsity import pruning

from .conftest import TINY_SHAPE
from .test_packing import conv, linear, one_layer, random_weight

TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def _torch_output(layer, weight, x):
    w, inputs = torch.from_numpy(weight), torch.from_numpy(x)
    if layer.kind == "linear":
        return torch.nn.functional.linear(inputs, w).numpy()
    return torch.nn.functional.conv2d(
        inputs, w, stride=layer.stride, padding=layer.padding, groups=layer.groups
    ).numpy()


def _input(layer, batch, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, layer.C) if layer.kind == "linear" else (batch, layer.C, layer.H, layer.W)
    return rng.normal(size=shape).astype(np.float32)


CONVS = st.builds(
    lambda c, k, g, r, h, stride, pad: conv(
        C=c * g, K=k * g, R=r, H=max(h, r), stride=stride, padding=pad, groups=g
    ),
    st.integers(1, 5),
    st.integers(1, 5),
    st.sampled_from([1, 2, 4]),
    st.sampled_from([1, 3]),
    st.integers(3, 7),
    st.sampled_from([1, 2]),
    st.sampled_from([0, 1]),
)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(
    CONVS,
    st.floats(0.0, 0.95),
    st.integers(1, 9),
    st.integers(1, 8),
    st.floats(0.0, 2.5),
    st.integers(0, 999),
)
@settings(max_examples=30, deadline=None)
def test_packed_conv_equals_torch(algorithm, layer, sparsity, k_vec, alpha, gamma, seed):
    weight = random_weight(layer, sparsity, seed)
    packed = one_layer(layer, weight, k_vec=k_vec, alpha=alpha, gamma=gamma, algorithm=algorithm)
    x = _input(layer, 2, seed)
    expected = _torch_output(layer, pruned_layer_weight(weight, packed), x)
    np.testing.assert_allclose(run_layer(x, weight, packed), expected, **TOLERANCE)


@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 0.95), st.integers(1, 70), st.integers(0, 999))
@settings(max_examples=30, deadline=None)
def test_packed_linear_equals_torch(c, k, sparsity, k_vec, seed):
    layer = linear(C=c, K=k)
    weight = random_weight(layer, sparsity, seed)
    packed = one_layer(layer, weight, k_vec=k_vec, alpha=8, gamma=1.75)
    x = _input(layer, 3, seed)
    expected = _torch_output(layer, pruned_layer_weight(weight, packed), x)
    np.testing.assert_allclose(run_layer(x, weight, packed), expected, **TOLERANCE)


@pytest.mark.parametrize("mode", ["dense", "unpacked", "packed"])
def test_every_layer_of_a_network_runs(tiny_net, mode):
    sparse = pruning.prune(tiny_net, "random", 0.6, input_shape=TINY_SHAPE)
    packed = pack(sparse, Geometry(8, 4), mode, alpha=4, gamma=1.0, cache=None)
    for index, layer in enumerate(sparse.workload):
        weight = sparse.weights[layer.name]
        x = _input(layer, 2, index)
        expected = _torch_output(layer, pruned_layer_weight(weight, packed[layer.name]), x)
        np.testing.assert_allclose(run_layer(x, weight, packed[layer.name]), expected, **TOLERANCE)
        if mode != "packed":  # nothing is pruned off the packed schedule
            np.testing.assert_allclose(expected, _torch_output(layer, weight, x), **TOLERANCE)


def test_stored_format_selects_within_each_group():
    layer = conv(C=6, K=8, R=3)
    weight = random_weight(layer, 0.8, seed=4)
    packed = one_layer(layer, weight, k_vec=4, alpha=4, gamma=1.0)
    for stored in packed_passes(weight, packed):
        sizes = (stored.members >= 0).sum(axis=1)
        assert sizes.max() <= 4 and (sizes >= 1).all()
        assert (stored.selects < sizes[None, :]).all()
        assert stored.values.shape == (stored.k1 - stored.k0, stored.members.shape[0])


def test_im2col_matches_unfold():
    layer = conv(C=3, K=2, R=3, H=7, stride=2, padding=1)
    x = _input(layer, 2, 0)
    columns = im2col(x, layer, 0, 3)
    # torch's unfold orders (c, r, s); ours is (r, s, c) with the channel fastest
    unfolded = torch.nn.functional.unfold(torch.from_numpy(x), 3, padding=1, stride=2).numpy()
    reordered = unfolded.reshape(2, 3, 3, 3, -1).transpose(0, 4, 2, 3, 1).reshape(columns.shape)
    np.testing.assert_array_equal(columns, reordered)


def test_input_of_the_wrong_shape_is_refused():
    layer = conv(C=4, K=4)
    weight = random_weight(layer, 0.5)
    packed = one_layer(layer, weight)
    with pytest.raises(UsageError, match="input shape"):
        run_layer(np.zeros((1, 3, 6, 6), dtype=np.float32), weight, packed)
