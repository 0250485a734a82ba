"""The pruner: exact per-layer sparsity, N:M structure, overrides, seeds, activation density."""

import numpy as np
import pytest
import torch

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.sparsity import pruning

from .conftest import TINY_SHAPE


def _prune_tiny(net, method="random", sparsity=0.5, **kwargs):
    return pruning.prune(net, method, sparsity, input_shape=TINY_SHAPE, **kwargs)


def test_random_hits_requested_sparsity_per_layer(resnet50_random90):
    sparse = resnet50_random90
    for layer in sparse.workload:
        want = 0.0 if layer.name in ("conv1", "fc") else 0.9
        got = sparse.layer_sparsity(layer.name)
        assert abs(got - want) <= max(0.001, 1 / layer.weights), layer.name
        assert not sparse.weights[layer.name][~sparse.masks[layer.name]].any()


def test_random_is_spread_uniformly(resnet50_random90):
    # every filter of a big layer keeps close to 10% (binomial: 4608 draws, sd ~ 0.0044)
    mask = resnet50_random90.masks["layer4.0.conv2"].reshape(512, -1)
    per_filter = mask.mean(axis=1)
    assert abs(per_filter.mean() - 0.1) < 0.001
    assert per_filter.min() > 0.07 and per_filter.max() < 0.13


def test_magnitude_keeps_the_largest_weights(tiny_net):
    sparse = _prune_tiny(tiny_net, "magnitude", 0.75)
    for name in ("stem", "pointwise"):
        weight = getattr(tiny_net, name).weight.detach().numpy()
        mask = sparse.masks[name]
        assert abs(sparse.layer_sparsity(name) - 0.75) <= 1 / mask.size
        assert np.abs(weight[mask]).min() >= np.abs(weight[~mask]).max()
        np.testing.assert_array_equal(sparse.weights[name][mask], weight[mask])


def test_global_magnitude_uses_one_threshold(tiny_net):
    sparse = _prune_tiny(tiny_net, "magnitude_global", 0.8)
    kept = np.concatenate([np.abs(sparse.weights[n][sparse.masks[n]]) for n in sparse.masks])
    dropped = np.concatenate(
        [np.abs(getattr(tiny_net, n).weight.detach().numpy()[~sparse.masks[n]]) for n in sparse.masks]
    )
    assert kept.min() >= dropped.max()
    assert abs(sparse.sparsity - 0.8) < 0.001
    assert len({round(sparse.layer_sparsity(n), 3) for n in sparse.masks}) > 1


def test_global_magnitude_respects_overrides(tiny_net):
    sparse = _prune_tiny(tiny_net, "magnitude_global", 0.8, overrides={"stem": 0.0, "head": 0.5})
    assert sparse.layer_sparsity("stem") == 0.0
    assert abs(sparse.layer_sparsity("head") - 0.5) < 0.01


@pytest.mark.parametrize("pattern", ["2:4", "1:4", "4:8", "1:2"])
def test_nm_masks_satisfy_nm_in_every_group(pattern):
    n, m = pruning.parse_nm(pattern)
    sparse = pruning.prune("mobilenet_v2", "nm", nm=pattern, overrides={"features.0.0": 0.0})
    for layer in sparse.workload:
        if layer.name == "features.0.0":
            assert sparse.masks[layer.name].all()
            continue
        flat = pruning._reduction_major(sparse.masks[layer.name])
        length = flat.shape[1]
        full = length // m * m
        groups = flat[:, :full].reshape(flat.shape[0], -1, m).sum(axis=2)
        assert (groups == n).all(), layer.name
        if full < length:  # a partial trailing group keeps at most N
            assert (flat[:, full:].sum(axis=1) == min(n, length - full)).all()


def test_nm_keeps_largest_of_each_group(tiny_net):
    sparse = _prune_tiny(tiny_net, "nm", nm="2:4")
    weight = pruning._reduction_major(tiny_net.pointwise.weight.detach().numpy())
    mask = pruning._reduction_major(sparse.masks["pointwise"])
    for row in range(weight.shape[0]):
        for g in range(0, weight.shape[1], 4):
            w, keep = np.abs(weight[row, g : g + 4]), mask[row, g : g + 4]
            assert w[keep].min() >= w[~keep].max()


def test_seed_reproducible_and_different(tiny_net):
    a = _prune_tiny(tiny_net, seed=3)
    b = _prune_tiny(tiny_net, seed=3)
    c = _prune_tiny(tiny_net, seed=4)
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != c.content_hash()


def test_overrides_keep_layers_dense_with_globs(tiny_net):
    sparse = _prune_tiny(tiny_net, "random", 0.9, overrides={"stem": 0.0, "*wise": 0.5})
    assert sparse.layer_sparsity("stem") == 0.0
    assert abs(sparse.layer_sparsity("depthwise") - 0.5) < 0.01
    assert abs(sparse.layer_sparsity("pointwise") - 0.5) < 0.01
    assert abs(sparse.layer_sparsity("grouped") - 0.9) < 0.01


def test_pruning_does_not_modify_the_model(tiny_net):
    before = tiny_net.stem.weight.detach().clone()
    _prune_tiny(tiny_net, "random", 0.9)
    assert torch.equal(before, tiny_net.stem.weight)


def test_activation_density_is_measured(tiny_net):
    sparse = _prune_tiny(tiny_net, "random", 0.5)
    assert sparse.act_density["stem"] == 1.0  # a normal random image has no exact zeros
    for name in ("grouped", "depthwise", "pointwise", "head"):  # inputs after a ReLU
        assert 0.05 < sparse.act_density[name] < 0.95


def test_activation_density_matches_a_direct_count(tiny_net):
    inputs = torch.randn(4, 3, 16, 16)
    sparse = _prune_tiny(tiny_net, "random", 0.5, calibration=inputs)
    for name, module in (("stem", tiny_net.stem), ("grouped", tiny_net.grouped)):
        module.weight.data = torch.from_numpy(sparse.weights[name])
    x = torch.relu(tiny_net.stem(inputs))
    assert sparse.act_density["grouped"] == pytest.approx((x != 0).float().mean().item())


def test_user_supplied_calibration_tensor_file_and_images(tiny_net, tmp_path):
    zeros = torch.zeros(2, 3, 16, 16)
    torch.save(zeros, tmp_path / "batch.pt")
    sparse = _prune_tiny(tiny_net, calibration=str(tmp_path / "batch.pt"))
    assert sparse.act_density["stem"] == 0.0
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 30), (i * 80, 100, 200)).save(folder / f"{i}.png")
    sparse = _prune_tiny(tiny_net, calibration=str(folder), calibration_size=8)
    assert sparse.recipe["calibration_size"] == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "random", "sparsity": 1.0}, r"sparsity 1.0 must be in \[0, 1\)"),
        ({"method": "random", "sparsity": -0.1}, r"sparsity -0.1 must be in \[0, 1\)"),
        ({"method": "lottery", "sparsity": 0.5}, "unknown pruning method 'lottery'"),
        ({"method": "nm", "nm": "4:2"}, "N must be between 1 and M"),
        ({"method": "nm", "nm": "two:four"}, "must look like 2:4"),
        ({"method": "random", "sparsity": 0.5, "overrides": {"stme": 0.0}}, "override 'stme' matches no"),
        ({"method": "random", "sparsity": 0.5, "overrides": {"stem": 1.5}}, "override 'stem'"),
        ({"method": "nm", "nm": "2:4", "overrides": {"stem": 0.3}}, "can only keep a layer dense"),
    ],
)
def test_bad_pruning_input(tiny_net, kwargs, message):
    with pytest.raises(UsageError, match=message):
        pruning.prune(tiny_net, input_shape=TINY_SHAPE, **kwargs)


def test_missing_files_are_data_errors(tiny_net, tmp_path):
    # exit 1 (DlaError, not its subclass UsageError): the README's rule for missing files
    with pytest.raises(DlaError, match="calibration data '/nonexistent/images' not found") as err:
        pruning.prune(tiny_net, "random", 0.5, input_shape=TINY_SHAPE, calibration="/nonexistent/images")
    assert not isinstance(err.value, UsageError)
    with pytest.raises(DlaError, match="weights file .* not found") as err:
        pruning.load_weights(tiny_net, tmp_path / "missing.pt")
    assert not isinstance(err.value, UsageError)
    with pytest.raises(DlaError, match="model file .* not found") as err:
        pruning.resolve_model(f"{tmp_path / 'missing.py'}:build")
    assert not isinstance(err.value, UsageError)


def test_unknown_model_and_bad_input_shape():
    with pytest.raises(UsageError, match="unknown model 'resnet5'"):
        pruning.prune("resnet5", "random", 0.5)
    with pytest.raises(UsageError, match="does not fit model"):
        pruning.prune("mobilenet_v2", "random", 0.5, input_shape=(1, 4, 224, 224))


def test_model_from_a_python_file(tmp_path):
    (tmp_path / "mynet.py").write_text(
        "from torch import nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 1))\n"
    )
    sparse = pruning.prune(f"{tmp_path}/mynet.py:build", "random", 0.5, input_shape=(1, 3, 8, 8))
    assert [layer.name for layer in sparse.workload] == ["0", "2"]
    with pytest.raises(UsageError, match="has no function 'make'"):
        pruning.prune(f"{tmp_path}/mynet.py:make", "random", 0.5)


def test_keep_first_last_dense(tiny_net):
    sparse = _prune_tiny(tiny_net, "random", 0.8, keep_first_last_dense=True, overrides={"depthwise": 0.5})
    assert sparse.layer_sparsity("stem") == 0.0 and sparse.layer_sparsity("head") == 0.0
    assert abs(sparse.layer_sparsity("grouped") - 0.8) < 0.01
    assert abs(sparse.layer_sparsity("depthwise") - 0.5) < 0.01


def test_same_recipe_same_weights_across_processes():
    import subprocess
    import sys

    code = (
        "from dla_explorer import pruning; print(pruning.prune('mobilenet_v2', 'random', 0.5, "
        "input_shape=(1, 3, 32, 32), calibration_size=1).content_hash())"
    )
    hashes = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(hashes) == 1
    before = torch.random.get_rng_state()
    pruning.prune("mobilenet_v2", "random", 0.5, input_shape=(1, 3, 32, 32), calibration_size=1)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's generator untouched


@pytest.mark.parametrize("layer", [torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(12, 4)])
def test_a_model_that_is_one_layer(layer):
    shape = (1, 3, 8, 8) if isinstance(layer, torch.nn.Conv2d) else (2, 12)
    sparse = pruning.prune(layer, "random", 0.5, input_shape=shape)
    assert list(sparse.masks) == ["model"]
    assert abs(sparse.layer_sparsity("model") - 0.5) < 0.05


@pytest.mark.parametrize("method", ["random", "magnitude_global"])
def test_progress_reports_each_layer_once_per_stage_and_changes_nothing(tiny_net, method):
    calls = []
    quiet = _prune_tiny(tiny_net, method, 0.5, overrides={"stem": 0.0})
    reported = _prune_tiny(
        tiny_net, method, 0.5, overrides={"stem": 0.0}, progress=lambda *call: calls.append(call)
    )
    names = [layer.name for layer in quiet.workload]
    for stage in ("masks", "activations"):
        seen = [(layer, total) for s, layer, total in calls if s == stage]
        assert sorted(seen) == sorted((n, len(names)) for n in names)  # each layer once, of 5
    # masks first (in layer order, pooled global ones after the kept-dense stem), then the forward
    assert [s for s, _, _ in calls] == ["masks"] * len(names) + ["activations"] * len(names)
    assert [layer for s, layer, _ in calls if s == "activations"] == names  # in forward order
    assert reported.content_hash() == quiet.content_hash()
    assert reported.act_density == quiet.act_density
    assert all(np.array_equal(reported.masks[n], quiet.masks[n]) for n in names)
    assert all(np.array_equal(reported.weights[n], quiet.weights[n]) for n in names)
