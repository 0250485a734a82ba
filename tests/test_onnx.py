"""ONNX import: the zoo exported with torch.onnx and read back gives the torch path's table; ops,
uncovered nodes with their shares, weights for pruning, the CLI, and the missing-extra error."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dla_explorer.core.errors import UsageError  # noqa: E402
from dla_explorer.sparsity.pruning import prune  # noqa: E402
from dla_explorer.workload import extract, zoo  # noqa: E402
from dla_explorer.workload.layers import uncovered  # noqa: E402
from dla_explorer.workload.onnx_import import load_onnx, read_onnx  # noqa: E402

from .helpers import run  # noqa: E402


def export(model: torch.nn.Module, shape: tuple[int, ...], path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(shape),), str(path), dynamo=False)


@pytest.fixture(scope="module")
def resnet_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "resnet50.onnx"
    export(zoo.get("resnet50"), (1, 3, 64, 64), path)
    return path


@pytest.mark.parametrize(
    "name, shape",
    [
        ("digits_cnn", (1, 1, 16, 16)),
        ("mobilenet_v1", (1, 3, 64, 64)),
        ("mobilenet_v2", (1, 3, 64, 64)),
        ("resnet50", (1, 3, 64, 64)),
    ],
)
def test_zoo_round_trip_gives_the_torch_table(name, shape, tmp_path, resnet_onnx):
    model = zoo.get(name)
    path = resnet_onnx if name == "resnet50" else tmp_path / "m.onnx"
    if name != "resnet50":
        export(model, shape, path)
    torch_table = extract(model, shape, name=name).to_frame()
    onnx_table = read_onnx(path, name=name).to_frame()
    # names, kinds, shapes, strides, padding, groups, MACs and parameters
    assert onnx_table.equals(torch_table)


def test_resnet_ops_name_their_producers(resnet_onnx):
    workload = read_onnx(resnet_onnx)
    kinds = [op.kind for op in workload.ops]
    assert kinds.count("eltwise") == 16  # one shortcut add per bottleneck (3 + 4 + 6 + 3)
    assert kinds.count("pool") == 2  # the stem max pool and the global average pool
    first_add = next(op for op in workload.ops if op.kind == "eltwise")
    assert set(first_add.inputs) == {"layer1.0.conv3", "layer1.0.downsample.0"}
    maxpool = next(op for op in workload.ops if op.op == "maxpool")
    assert (maxpool.H, maxpool.P, maxpool.R, maxpool.stride) == (32, 16, 3, 2)
    assert not uncovered(workload)


def _graph_with_attention_like_matmul(path) -> None:
    """x (1, 8) -> Gemm 8->16 (weights) -> y; y^T y (a 16x16 activation-activation MatMul)."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "fc.weight")
    nodes = [
        helper.make_node("Gemm", ["x", "fc.weight"], ["y"], name="/fc/Gemm", transB=1),
        helper.make_node("Transpose", ["y"], ["yt"], name="/t", perm=[1, 0]),
        helper.make_node("MatMul", ["yt", "y"], ["z"], name="/attn/MatMul"),
        helper.make_node("Softmax", ["z"], ["out"], name="/attn/Softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [16, 16])],
        [weight],
    )
    onnx.save(helper.make_model(graph), str(path))


def test_unsupported_nodes_are_reported_with_their_share(tmp_path):
    _graph_with_attention_like_matmul(tmp_path / "a.onnx")
    with pytest.warns(UserWarning, match=r"2 nodes the DLA cannot run .*\(66\.7% of MACs") as record:
        workload = read_onnx(tmp_path / "a.onnx")
    # the warning names the user's line, from read_onnx and from load_onnx alike (one level
    # deeper): a fixed stacklevel named a line inside the package for read_onnx
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="nodes the DLA cannot run") as record:
        load_onnx(tmp_path / "a.onnx")
    assert record[0].filename == __file__
    assert [layer.name for layer in workload] == ["fc"] and workload.macs == 128
    rows = {op.op: (op, macs, params) for op, macs, params in uncovered(workload)}
    # (16, 1) @ (1, 16): 256 MACs next to the Gemm's 128
    assert rows["MatMul"][0].macs == 256 and rows["MatMul"][1] == pytest.approx(256 / 384)
    assert rows["Softmax"][0].macs == 0 and rows["MatMul"][0].inputs == ("fc", "fc")


def test_onnx_weights_feed_the_pruner(tmp_path):
    model = zoo.get("digits_cnn")
    export(model, (1, 1, 16, 16), tmp_path / "d.onnx")
    workload, weights = load_onnx(tmp_path / "d.onnx")
    for layer in workload:
        expected = dict(model.named_modules())[layer.name].weight.detach().numpy()
        np.testing.assert_array_equal(weights[layer.name], expected)
    from_onnx = prune(str(tmp_path / "d.onnx"), "magnitude", 0.8)
    from_torch = prune(model, "magnitude", 0.8, input_shape=(1, 1, 16, 16))
    for name, mask in from_torch.masks.items():
        np.testing.assert_array_equal(from_onnx.masks[name], mask)
    assert set(from_onnx.act_density.values()) == {1.0}  # the graph is not run


def test_matmul_weights_are_transposed_to_k_by_c(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(3, 2)  # (C=3, K=2) as MatMul stores it
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 2])],
        [numpy_helper.from_array(weight, "w")],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    workload, weights = load_onnx(tmp_path / "m.onnx")
    layer = workload.layers[0]
    assert (layer.kind, layer.N, layer.C, layer.K) == ("linear", 4, 3, 2)
    np.testing.assert_array_equal(weights[layer.name], weight.T)


def test_cli_workload_reads_onnx(capsys, tmp_path):
    export(zoo.get("digits_cnn"), (1, 1, 16, 16), tmp_path / "d.onnx")
    code, out, _ = run(capsys, "workload", tmp_path / "d.onnx")
    assert code == 0 and "5 compute layers" in out and "input [1, 1, 16, 16]" in out
    code, _, err = run(capsys, "workload", tmp_path / "missing.onnx")
    assert code == 1 and "not found" in err and err.count("\n") == 1
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    code, _, err = run(capsys, "workload", tmp_path / "bad.onnx")
    assert code == 1 and "not a readable ONNX model" in err


def test_missing_onnx_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(UsageError, match=r"dla-explorer\[onnx\]"):
        read_onnx(tmp_path / "m.onnx")


def test_checkpoints_keep_the_ops_and_read_files_without_them(resnet_onnx, tmp_path):
    import json

    from dla_explorer.sparsity import checkpoint

    sparse = prune(str(resnet_onnx), "random", 0.5)
    assert len(sparse.workload.ops) > 0
    checkpoint.save(sparse, tmp_path / "r.npz")
    assert checkpoint.load(tmp_path / "r.npz").workload.ops == sparse.workload.ops
    # an older file: the same archive with no "ops" in its manifest
    with np.load(tmp_path / "r.npz") as archive:
        arrays = dict(archive)
    manifest = json.loads(arrays["manifest"].tobytes())
    del manifest["ops"]
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    old = checkpoint.load(tmp_path / "old.npz")
    assert old.workload.ops == () and old.workload.layers == sparse.workload.layers
