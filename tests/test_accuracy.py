"""The accuracy path: the digits task, (masked) training, evaluation, fidelity, packing-aware
fine-tuning, trained weights in recipes and the train / accuracy / finetune commands.

Small settings throughout (a few epochs); the full figures are in benchmarks/bench_accuracy.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.packing import Geometry, pruned_layer_weight
from dla_explorer.packing import finetune as ft
from dla_explorer.sparsity import checkpoint, tasks
from dla_explorer.sparsity.pruning import load_weights, prune
from dla_explorer.workload import zoo

from .helpers import run

SHAPE = (1, 1, 16, 16)


@pytest.fixture(scope="module")
def digits() -> tasks.Data:
    return tasks.digits()


@pytest.fixture(scope="module")
def trained(digits) -> torch.nn.Module:
    model = zoo.get("digits_cnn")
    return tasks.train(model, digits.train, epochs=3)


@pytest.fixture(scope="module")
def sparse(trained, digits):
    return prune(trained, "magnitude", 0.9, calibration=digits.train.images[:16], input_shape=SHAPE)


def test_digits_task_is_sklearns_digits_split_and_upsampled(digits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    assert len(digits.train) + len(digits.test) == len(bunch.target) == 1797
    assert len(digits.test) == math.ceil(0.25 * 1797)  # sklearn rounds the test share up
    assert digits.train.images.shape[1:] == (1, 16, 16)
    # stratified: every class in both splits, shares within one image of the whole set's
    for split in (digits.train, digits.test):
        counts = np.bincount(split.labels.numpy(), minlength=10)
        expected = np.bincount(bunch.target, minlength=10) * len(split) / 1797
        assert np.all(np.abs(counts - expected) <= 1.0)
    # normalised from 0..16 to [-1, 1]: bilinear upsampling keeps the range
    images = torch.cat([digits.train.images, digits.test.images])
    assert images.min() >= -1.0 - 1e-6 and images.max() <= 1.0 + 1e-6
    # the mean brightness survives upsampling (bilinear, no corner alignment, integer scale)
    original = bunch.images.astype(np.float32) / 16 * 2 - 1
    assert abs(float(images.mean()) - float(original.mean())) < 0.02


def test_training_learns_and_beats_chance_by_far(trained, digits):
    scores = tasks.evaluate(trained, digits.test)
    assert scores["top1"] > 0.85  # 3 epochs; 12 reach ~98% (bench_accuracy.py)
    assert scores["top5"] >= scores["top1"]


def test_topk_and_fidelity_against_hand_computed_cases():
    outputs = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 1])
    assert tasks._topk_accuracy(outputs, labels, 1) == pytest.approx(1 / 3)
    assert tasks._topk_accuracy(outputs, labels, 2) == pytest.approx(2 / 3)
    reference = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    result = tasks.fidelity(reference, torch.tensor([[3.0, 4.0], [0.0, 5.0]]))
    assert result["top1_agreement"] == pytest.approx(0.5)
    assert result["logit_rel_error"] == pytest.approx(1.0)  # ||(0,0),(0,5)|| / ||(3,4)||


def test_masked_training_keeps_pruned_weights_at_zero(sparse, trained, digits):
    model = ft.with_weights(trained, sparse.weights)
    before = {n: w.copy() for n, w in sparse.weights.items()}
    tasks.train(
        model, tasks.Labelled(digits.train.images[:128], digits.train.labels[:128]), 1, masks=sparse.masks
    )
    moved = 0
    for name, mask in sparse.masks.items():
        weight = dict(model.named_modules())[name].weight.detach().numpy()
        assert np.all(weight[~mask] == 0)
        moved += int(np.count_nonzero(weight[mask] != before[name][mask]))
    assert moved > 0.5 * sum(int(m.sum()) for m in sparse.masks.values())


def test_finetune_keeps_the_packed_structure_and_recovers(sparse, trained, digits, tmp_path):
    packing = ft.Packing(Geometry(64, 16))
    packed_sparse, _ = ft._conflict_pruned(sparse, packing, cache=None)
    before = tasks.evaluate(ft.with_weights(trained, packed_sparse.weights), digits.test)["top1"]
    tuned = ft.finetune(trained, sparse, digits.train, packing, epochs=2, iterations=2, cache=None)
    assert [row["epochs"] for row in tuned.history] == [1, 1]
    # the weights fit the last round's grouping: conflict pruning under it removes nothing
    for layer in tuned.packed:
        weight = tuned.sparse.weights[layer.name]
        np.testing.assert_array_equal(pruned_layer_weight(weight, layer), weight)
        assert np.all(weight[~tuned.sparse.masks[layer.name]] == 0)
    assert tuned.sparse.sparsity > sparse.sparsity  # conflict pruning removed weights
    after = tasks.evaluate(tuned.model, digits.test)["top1"]
    assert after > before + 0.02
    # the checkpoint plus its state dict reproduce the fine-tuned model exactly
    output = tmp_path / "tuned.npz"
    tuned.sparse.recipe["state_dict"] = "tuned.pt"
    torch.save(tuned.model.state_dict(), tmp_path / "tuned.pt")
    checkpoint.save(tuned.sparse, output)
    reloaded = load_weights(zoo.get("digits_cnn", seed=5), output)
    images = digits.test.images[:32]
    torch.testing.assert_close(tasks.logits(reloaded, images), tasks.logits(tuned.model, images))


def test_packed_accuracy_is_cached_on_disk(sparse, trained, digits, tmp_path):
    packing = ft.Packing(Geometry(32, 8), alpha=4, gamma=1.0)
    first = ft.packed_accuracy(trained, sparse, digits, packing, epochs=0, cache=tmp_path)
    ft._MEMO.clear()
    entries = list((tmp_path / ft._ACCURACY_SUBFOLDER).glob("*.json"))
    assert len(entries) == 1
    assert ft.packed_accuracy(trained, sparse, digits, packing, epochs=0, cache=tmp_path) == first
    # a different c_vec is the same packing: no new entry; a different gamma is a new one
    ft.packed_accuracy(
        trained, sparse, digits, ft.Packing(Geometry(32, 16), 4, 1.0), epochs=0, cache=tmp_path
    )
    ft.packed_accuracy(trained, sparse, digits, ft.Packing(Geometry(32, 8), 4, 0.5), epochs=0, cache=tmp_path)
    assert len(list((tmp_path / ft._ACCURACY_SUBFOLDER).glob("*.json"))) == 2
    assert 0 < first["pruned_share"] < 1


def test_load_weights_errors_are_one_line(tmp_path):
    model = zoo.get("digits_cnn")
    with pytest.raises(UsageError, match="use a state dict"):
        load_weights(model, tmp_path / "w.bin")
    with pytest.raises(DlaError, match="not found") as missing:  # a missing file: exit 1
        load_weights(model, tmp_path / "w.pt")
    assert not isinstance(missing.value, UsageError)
    torch.save(zoo.get("mobilenet_v1").state_dict(), tmp_path / "other.pt")
    with pytest.raises(UsageError, match="do not fit the model") as info:
        load_weights(model, tmp_path / "other.pt")
    assert "\n" not in str(info.value)
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(DlaError, match="not a readable torch file"):
        load_weights(model, tmp_path / "bad.pt")


def _write_digits_folder(folder, data: tasks.Labelled, per_class: int) -> None:
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
        index = np.flatnonzero(data.labels.numpy() == label)[:per_class]
        for i in index:
            grey = ((data.images[i, 0].numpy() * 0.5 + 0.5) * 255).round().astype(np.uint8)
            Image.fromarray(grey).save(folder / str(label) / f"{i}.png")


def test_image_folder_matches_the_task(tmp_path, digits, trained):
    _write_digits_folder(tmp_path / "train", digits.train, 3)
    _write_digits_folder(tmp_path / "val", digits.test, 20)
    data = tasks.load_data(tmp_path, SHAPE)
    assert data.classes == tuple(str(c) for c in range(10)) and len(data.test) == 200
    # the PNGs hold the same images up to 8-bit rounding: predictions agree almost everywhere
    # (files are read in name order within each class folder)
    picked = [
        sorted(np.flatnonzero(digits.test.labels.numpy() == c)[:20], key=lambda i: f"{i}.png")
        for c in range(10)
    ]
    reference = tasks.logits(trained, digits.test.images[np.concatenate(picked)])
    assert tasks.fidelity(reference, tasks.logits(trained, data.test.images))["top1_agreement"] > 0.97


def test_cli_train_accuracy_and_fidelity(capsys, tmp_path, monkeypatch, digits):
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "digits.pt"
    code, out, _ = run(capsys, "train", "digits", "--epochs", "1", "-o", weights)
    assert code == 0 and weights.is_file() and "top-1" in out
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: digits_cnn\nweights: {weights}\nmethod: magnitude\nsparsity: 0.9\n")
    code, out, _ = run(capsys, "accuracy", recipe, "--data", "digits", "--epochs", "0")
    assert code == 0
    for stage in ft.STAGES:
        assert stage in out
    # unlabelled images: fidelity of the pruned and packed models against the dense one
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        grey = ((digits.test.images[i, 0].numpy() * 0.5 + 0.5) * 255).astype(np.uint8)
        Image.fromarray(grey).save(images / f"{i}.png")
    code, out, _ = run(capsys, "accuracy", recipe, "--data", images)
    assert code == 0 and "top1_agreement" in out and "6 unlabelled images" in out
    code, _, err = run(capsys, "accuracy", recipe, "--data", tmp_path / "missing")
    assert code == 2 and err.count("\n") == 1 and "neither a built-in task" in err
    code, _, err = run(capsys, "finetune", recipe, "--data", images, "-o", tmp_path / "o.npz")
    assert code == 2 and "labelled" in err


def _spec(extra: dict) -> dict:
    return {
        "name": "t",
        "models": [{"recipe": {"model": "digits_cnn", "method": "magnitude", "sparsity": 0.9}}],
        "device": "stratix10_mx2100",
        "base": {"arch": "dla_s10mx", "memory": "ddr4_2666_x1"},
        **extra,
    }


def test_spec_accuracy_metrics_need_data():
    from dla_explorer.dse.spec import parse_spec

    with pytest.raises(UsageError, match="accuracy"):
        parse_spec(_spec({"objectives": ["fps", "accuracy"]}), "s.yaml")
    spec = parse_spec(_spec({"objectives": ["fps", "accuracy"], "accuracy": {"data": "digits"}}), "s.yaml")
    assert spec.directions == ["maximize", "maximize"] and spec.accuracy.epochs == 0
    # pruned share needs no data
    parse_spec(_spec({"objectives": {"fps": "maximize", "pruned_share": "minimize"}}), "s.yaml")


def test_design_metrics_match_direct_evaluation(sparse, trained, digits, tmp_path):
    import pandas as pd

    from dla_explorer.packing import pack

    designs = pd.DataFrame(
        {
            "mode": ["packed", "unpacked", "packed"],
            "k_vec": [32, 32, 32],
            "alpha": [4, 4, 4],
            "gamma": [1.0, 1.0, 1.0],
        }
    )
    settings = ft.AccuracySettings(data="digits")
    table = ft.design_metrics(sparse, designs, {"accuracy", "pruned_share"}, settings, trained, tmp_path)
    packed = pack(sparse, Geometry(32, 4), "packed", 4, 1.0, cache=None)
    assert table["pruned_share"].tolist() == pytest.approx(
        [packed.totals(4)["pruned_share"], 0.0, packed.totals(4)["pruned_share"]]
    )
    weights = {p.name: pruned_layer_weight(sparse.weights[p.name], p) for p in packed}
    expected = tasks.evaluate(ft.with_weights(trained, weights), digits.test)["top1"]
    unpacked = tasks.evaluate(ft.with_weights(trained, sparse.weights), digits.test)["top1"]
    assert table["accuracy"].tolist() == pytest.approx([expected, unpacked, expected])
