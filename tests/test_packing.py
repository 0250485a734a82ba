"""The packer: pass structure, each mode's steps, metadata, bad input, the cache and the CLI."""

import argparse
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dla_explorer import packing
from dla_explorer.cli import pack as pack_cli
from dla_explorer.core.errors import UsageError
from dla_explorer.packing import (
    Geometry,
    compressed_activation_bytes,
    conflict_pruned_weights,
    pack,
    packed_passes,
    pruned_layer_weight,
)
from dla_explorer.packing import cache as _packcache
from dla_explorer.packing import modes as _modes
from dla_explorer.packing.combine import ALGORITHMS, violations
from dla_explorer.packing.passes import pass_matrix, plan, reduction_major
from dla_explorer.sparsity import pruning
from dla_explorer.workload import Layer, Workload

from .conftest import TINY_SHAPE

# ----------------------------------------------------------------------------- helpers


def conv(name="conv", C=8, K=8, R=3, H=6, stride=1, padding=1, groups=1) -> Layer:
    P = (H + 2 * padding - R) // stride + 1
    kind = "conv" if groups == 1 else "depthwise" if groups == C == K else "grouped"
    return Layer(name, kind, 1, C, K, R, R, H, H, P, P, stride, padding, groups)


def linear(name="fc", C=4, K=4, N=1) -> Layer:
    return Layer(name, "linear", N, C, K, 1, 1, 1, 1, 1, 1)


def random_weight(layer: Layer, sparsity: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=layer.weight_shape).astype(np.float32)
    return np.where(rng.random(layer.weight_shape) < sparsity, np.float32(0), weight)


def sparse_model(
    *pairs: tuple[Layer, np.ndarray], recipe: dict | None = None, name: str = "hand"
) -> pruning.SparseModel:
    layers = tuple(layer for layer, _ in pairs)
    first = layers[0]
    shape = (1, first.C) if first.kind == "linear" else (1, first.C, first.H, first.W)
    weights = {layer.name: np.asarray(w, dtype=np.float32) for layer, w in pairs}
    return pruning.SparseModel(
        name,
        Workload(name, shape, layers),
        weights,
        {n: w != 0 for n, w in weights.items()},
        {n: 0.5 for n in weights},
        recipe or {"method": "random"},
    )


def one_layer(layer, weight, mode="packed", k_vec=4, c_vec=2, **options):
    options.setdefault("cache", None)
    packed = pack(sparse_model((layer, weight)), Geometry(k_vec, c_vec), mode, **options)
    return packed[layer.name]


def nm_weight(layer: Layer, n: int, m: int, seed: int = 0) -> np.ndarray:
    """Random weight with exactly n non-zeros in every m consecutive reduction-axis values."""
    rng = np.random.default_rng(seed)
    k = layer.K
    flat = rng.normal(size=(k, layer.R * layer.S * layer.c_per_group // m, m))
    ranks = np.argsort(rng.random(flat.shape), axis=2)
    flat[ranks >= n] = 0
    rsc = flat.reshape(k, layer.R, layer.S, layer.c_per_group)
    return np.ascontiguousarray(rsc.transpose(0, 3, 1, 2)).astype(np.float32)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_geometry_needs_positive_whole_numbers(bad):
    with pytest.raises(UsageError, match="k_vec"):
        Geometry(bad, 4)
    with pytest.raises(UsageError, match="c_vec"):
        Geometry(4, bad)


@pytest.mark.parametrize(
    "options, word",
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": -2}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"gamma": -0.1}, "gamma"),
        ({"gamma": math.nan}, "gamma"),
        ({"gamma": math.inf}, "gamma"),
        ({"gamma": True}, "gamma"),
        ({"mode": "sparse"}, "mode"),
        ({"algorithm": "magic"}, "algorithm"),
        ({"cache": 3}, "cache"),
    ],
)
def test_bad_options_are_one_line_usage_errors(options, word):
    layer = linear()
    with pytest.raises(UsageError, match=word) as info:
        pack(sparse_model((layer, random_weight(layer, 0.5))), Geometry(4, 2), **{"cache": None, **options})
    assert "\n" not in str(info.value)


def test_geometry_must_be_a_geometry():
    layer = linear()
    with pytest.raises(UsageError, match="Geometry"):
        pack(sparse_model((layer, random_weight(layer, 0.5))), (4, 2))


def test_nm_mode_needs_an_nm_model():
    layer = conv()
    with pytest.raises(UsageError, match="N:M-pruned"):
        one_layer(layer, random_weight(layer, 0.5), "nm")


# ----------------------------------------------------------------------------- pass structure


def test_passes_of_an_ordinary_conv():
    p = plan(conv(C=5, K=130), 64)
    np.testing.assert_array_equal(p.rows, [64, 64, 2])
    np.testing.assert_array_equal(p.channels, [5, 5, 5])
    np.testing.assert_array_equal(p.columns, [45, 45, 45])


def test_passes_of_grouped_and_depthwise_convs():
    grouped = conv(C=16, K=32, groups=4)  # 8 filters and 4 channels per group
    p = plan(grouped, 16)  # two whole groups per pass
    np.testing.assert_array_equal(p.rows, [16, 16])
    np.testing.assert_array_equal(p.c0, [0, 8])
    np.testing.assert_array_equal(p.channels, [8, 8])
    p = plan(grouped, 4)  # each group splits into two passes over its own 4 channels
    np.testing.assert_array_equal(p.rows, [4] * 8)
    np.testing.assert_array_equal(p.c0, [0, 0, 4, 4, 8, 8, 12, 12])
    p = plan(conv(C=10, K=10, groups=10), 4)
    np.testing.assert_array_equal(p.rows, [4, 4, 2])
    np.testing.assert_array_equal(p.channels, [4, 4, 2])


def test_block_diagonal_pass_has_structural_zeros():
    layer = conv(C=6, K=6, groups=3)  # 2 filters and 2 channels per group
    weight = random_weight(layer, 0.0)
    p = plan(layer, 4)  # groups 0 and 1 together, then group 2
    matrix = pass_matrix(reduction_major(weight), layer, p, 0).reshape(4, 3, 3, 4)
    for row in range(4):
        group = row // 2
        np.testing.assert_array_equal(
            matrix[row, :, :, 2 * group : 2 * group + 2], weight[row].transpose(1, 2, 0)
        )
        others = [c for c in range(4) if c // 2 != group]
        assert not matrix[row, :, :, others].any()


# ----------------------------------------------------------------------------- steps per mode


@pytest.mark.parametrize(
    "C, K, R, k_vec, c_vec", [(3, 16, 3, 8, 2), (64, 64, 1, 64, 16), (256, 512, 3, 64, 16), (7, 5, 5, 4, 3)]
)
def test_dense_steps_are_the_intel_formula(C, K, R, k_vec, c_vec):
    layer = conv(C=C, K=K, R=R)
    packed = one_layer(layer, random_weight(layer, 0.7), "dense", k_vec, c_vec)
    assert packed.steps(c_vec) == math.ceil(K / k_vec) * math.ceil(C / c_vec) * R * R
    assert packed.nnz_before == layer.weights  # dense mode counts every weight
    assert packed.util_after(c_vec) == pytest.approx(layer.weights / (k_vec * c_vec * packed.steps(c_vec)))


def test_unpacked_keeps_the_dense_schedule_and_counts_non_zeros():
    layer = conv(C=3, K=16)
    weight = random_weight(layer, 0.6)
    packed = one_layer(layer, weight, "unpacked", k_vec=8, c_vec=2)
    assert packed.steps(2) == 36  # 2 passes x 9 taps x ceil(3/2)
    assert packed.nnz_before == packed.nnz_after == np.count_nonzero(weight)
    assert packed.util_after(2) == pytest.approx(np.count_nonzero(weight) / (8 * 2 * 36))
    assert packed.metadata_bits == 0 and packed.weight_cells == layer.weights


def test_nm_steps_metadata_and_fallbacks():
    main = conv("main", C=8, K=4)
    shallow = conv("shallow", C=3, K=8)
    depthwise = conv("dw", C=8, K=8, groups=8)
    kept_dense = conv("dense", C=8, K=8)
    sparse = sparse_model(
        (shallow, nm_weight(shallow, 1, 1)),
        (main, nm_weight(main, 2, 4)),
        (depthwise, random_weight(depthwise, 0.0)),
        (kept_dense, random_weight(kept_dense, 0.0)),
        recipe={"method": "nm", "nm": "2:4"},
    )
    packed = pack(sparse, Geometry(4, 2), "nm")
    layer = packed["main"]
    assert layer.schedule == "nm" and layer.packable
    assert layer.dense_steps(2) == 9 * 4  # taps x ceil(8/2)
    assert layer.steps(2) == 9 * 2  # taps x ceil(ceil(8/4) * 2 / 2)
    assert layer.weight_cells == 4 * 9 * 2 * 2  # K x taps x C/M x N
    assert layer.metadata_bits == layer.weight_cells * 2  # ceil(log2 4) bits per kept weight
    assert layer.select_bits == 2 and packed["shallow"].select_bits == 0
    assert layer.feeder_width == 4
    assert packed["shallow"].reason == "nm not applicable: C/g not a multiple of M"
    assert packed["dw"].reason == "nm not applicable: C/g not a multiple of M"
    assert "not 2:4 sparse" in packed["dense"].reason
    for name in ("shallow", "dw", "dense"):
        assert packed[name].schedule == "dense"
        assert packed[name].steps(2) == packed[name].dense_steps(2)


def _diagonal():
    return linear(C=4, K=4), np.diag([1.0, -2.0, 3.0, 0.5]).astype(np.float32)


def test_packed_steps_and_metadata_by_hand():
    layer, weight = _diagonal()  # no two columns share a row: one group of four
    packed = one_layer(layer, weight, k_vec=4, c_vec=2, alpha=4, gamma=0.0)
    np.testing.assert_array_equal(packed.packed_columns, [1])
    assert (packed.steps(2), packed.dense_steps(2)) == (1, 2)
    assert packed.util_before(2) == pytest.approx(4 / (4 * 2 * 2))
    assert packed.util_after(2) == pytest.approx(4 / (4 * 2 * 1))
    # selects: 2 bits x 4 cells; descriptor: 2-bit size + 4 members x 2-bit index
    assert packed.metadata_bits == 8 + 2 + 8 and packed.metadata_bytes == 3
    assert packed.select_bits == 2
    assert (packed.feeder_width, packed.feeder_reads, packed.dense_feeder_reads) == (4, 4, 4)
    assert packed.weight_cells == 4 and packed.pruned == 0


def test_all_zero_columns_are_not_read_by_the_feeder():
    layer = linear(C=3, K=2)
    weight = np.array([[0.5, 0.0, 0.0], [0.0, 0.3, 0.0]], dtype=np.float32)  # input 2 unused
    packed = one_layer(layer, weight, k_vec=2, c_vec=1, alpha=2, gamma=0.0)
    # columns 0 and 1 share no row: one group of two; column 2 is in no group, so the feeder
    # gathers 2 values a pixel where the dense schedule reads all 3
    np.testing.assert_array_equal(packed.packed_columns, [1])
    assert (packed.feeder_reads, packed.dense_feeder_reads) == (2, 3)
    # descriptor: 1-bit size + 2 members x 2-bit index (of 3 columns); selects 1 bit x 2 cells
    assert packed.metadata_bits == 2 * 1 + 1 + 2 * 2


def test_packed_conflict_keeps_the_largest_weight():
    layer = linear(C=2, K=2)
    weight = np.array([[0.5, -0.2], [0.0, 0.3]], dtype=np.float32)
    packed = one_layer(layer, weight, k_vec=2, c_vec=1, alpha=2, gamma=0.5)  # budget 1
    np.testing.assert_array_equal(packed.packed_columns, [1])
    assert packed.pruned == 1
    assert packed.pruned_share == pytest.approx(0.2 / 1.0)
    np.testing.assert_array_equal(
        pruned_layer_weight(weight, packed), np.array([[0.5, 0.0], [0.0, 0.3]], dtype=np.float32)
    )
    unpruned = one_layer(layer, weight, k_vec=2, c_vec=1, alpha=2, gamma=0.49)  # budget 0
    np.testing.assert_array_equal(unpruned.packed_columns, [2])
    assert unpruned.pruned == 0


def test_equal_magnitudes_keep_only_the_first_column():
    layer = linear(C=2, K=2)
    weight = np.array([[0.5, -0.5], [0.0, 0.3]], dtype=np.float32)
    packed = one_layer(layer, weight, k_vec=2, c_vec=1, alpha=2, gamma=0.5)
    assert packed.pruned == 1
    np.testing.assert_array_equal(
        pruned_layer_weight(weight, packed), np.array([[0.5, 0.0], [0.0, 0.3]], dtype=np.float32)
    )
    (stored,) = packed_passes(weight, packed)
    np.testing.assert_array_equal(stored.values, np.array([[0.5], [0.3]], dtype=np.float32))
    np.testing.assert_array_equal(stored.selects, [[0], [1]])


def test_packed_folds_the_taps_of_a_dense_shallow_layer():
    layer = conv(C=3, K=8)
    packed = one_layer(layer, random_weight(layer, 0.0), k_vec=8, c_vec=16)
    assert "no zero weights" in packed.reason and not packed.packable
    assert packed.pruned == 0 and packed.metadata_bits == 0 and packed.select_bits == 0
    assert (packed.steps(16), packed.dense_steps(16)) == (2, 9)  # ceil(27/16) vs 9 x ceil(3/16)


def test_all_zero_layer_is_a_trivial_result():
    layer = conv(C=4, K=4)
    zero = np.zeros(layer.weight_shape, dtype=np.float32)
    packed = one_layer(layer, zero)
    assert packed.reason.startswith("all weights are zero")
    assert packed.steps(2) == 0 and packed.util_after(2) == 0.0 and packed.weight_cells == 0
    unpacked = one_layer(layer, zero, "unpacked")
    assert unpacked.steps(2) == 9 * 2 and unpacked.util_after(2) == 0.0
    assert one_layer(layer, zero, "dense").nnz_before == layer.weights


def test_geometry_larger_than_the_layer():
    layer = conv(C=2, K=3, R=1)
    weight = random_weight(layer, 0.5, seed=1)
    weight[0, 0] = 1.0  # at least one non-zero
    for mode in ("dense", "unpacked", "packed"):
        packed = one_layer(layer, weight, mode, k_vec=64, c_vec=64)
        np.testing.assert_array_equal(packed.rows, [3])
        assert packed.steps(64) == 1
        assert 0 < packed.util_after(64) <= 1


def test_huge_alpha_and_gamma_are_plain_limits():
    layer = conv(C=4, K=4)
    weight = random_weight(layer, 0.5, seed=3)
    huge = one_layer(layer, weight, alpha=10**30, gamma=1e300)
    np.testing.assert_array_equal(huge.packed_columns, [1])  # everything fits one group
    assert huge.select_bits == 100  # ceil(log2 1e30): the format the user asked for


@pytest.mark.parametrize("c_vec", [0, -1, 1.5])
def test_steps_need_a_valid_c_vec(c_vec):
    layer, weight = _diagonal()
    with pytest.raises(UsageError, match="c_vec"):
        one_layer(layer, weight).steps(c_vec)


# ----------------------------------------------------------------------------- properties

LAYERS = st.builds(
    lambda c, k, g, r, kind: linear(C=c * g, K=k * g) if kind else conv(C=c * g, K=k * g, R=r, groups=g),
    st.integers(1, 6),
    st.integers(1, 6),
    st.sampled_from([1, 1, 2, 3]),
    st.sampled_from([1, 3]),
    st.booleans(),
)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(LAYERS, st.floats(0.3, 0.95), st.integers(1, 8), st.integers(1, 8), st.integers(0, 99))
@settings(max_examples=25, deadline=None)
def test_zero_gamma_prunes_nothing(algorithm, layer, sparsity, k_vec, alpha, seed):
    weight = random_weight(layer, sparsity, seed)
    packed = one_layer(layer, weight, k_vec=k_vec, alpha=alpha, gamma=0.0, algorithm=algorithm)
    assert packed.pruned == 0 and packed.pruned_magnitude == 0
    np.testing.assert_array_equal(pruned_layer_weight(weight, packed), weight)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(
    LAYERS,
    st.floats(0.0, 0.95),
    st.integers(1, 8),
    st.integers(1, 8),
    st.floats(0.0, 3.0),
    st.integers(0, 99),
)
@settings(max_examples=25, deadline=None)
def test_packed_layers_keep_the_rules(algorithm, layer, sparsity, k_vec, alpha, gamma, seed):
    weight = random_weight(layer, sparsity, seed)
    packed = one_layer(layer, weight, k_vec=k_vec, alpha=alpha, gamma=gamma, algorithm=algorithm)
    p = plan(layer, k_vec)
    offsets = p.column_offsets
    for i in range(p.n_passes):
        matrix = pass_matrix(reduction_major(weight), layer, p, i)
        labels = packed.labels[offsets[i] : offsets[i + 1]].astype(np.int64)
        budget = math.floor(gamma * matrix.shape[0] + 1e-9)
        if packed.packable:
            assert violations(matrix != 0, labels, alpha, budget) is None
    for stored in packed_passes(weight, packed):
        assert stored.members.shape[1] <= max(alpha, 1) or not packed.packable
    pruned = pruned_layer_weight(weight, packed)
    assert np.count_nonzero(weight) - np.count_nonzero(pruned) == packed.pruned
    assert np.all((pruned == 0) | (pruned == weight))
    assert packed.util_after(2) <= 1.0 + 1e-12


# ----------------------------------------------------------------------------- network level


def test_tiny_net_modes_and_totals(tiny_net):
    sparse = pruning.prune(tiny_net, "random", 0.7, input_shape=TINY_SHAPE)
    results = {
        mode: pack(sparse, Geometry(8, 4), mode, cache=None) for mode in ("dense", "unpacked", "packed")
    }
    frame = results["packed"].to_frame(4)
    assert list(frame.columns) == list(packing.FRAME_COLUMNS)
    assert list(frame["layer"]) == [layer.name for layer in sparse.workload]
    dense, unpacked, packed = (results[m].totals(4) for m in ("dense", "unpacked", "packed"))
    assert dense["steps"] == unpacked["steps"] == packed["dense_steps"]
    assert packed["steps"] < unpacked["steps"]
    assert packed["util_after"] > unpacked["util_after"]
    assert unpacked["util_after"] == pytest.approx(packed["util_before"])
    # totals weight layers by output pixels: recompute from the frame
    pixels = np.array([layer.N * layer.P * layer.Q for layer in sparse.workload])
    expected = (frame["nnz_after"] * pixels).sum() / (8 * 4 * (frame["steps"] * pixels).sum())
    assert packed["util_after"] == pytest.approx(expected)
    weights = conflict_pruned_weights(sparse, results["packed"])
    removed = sum(np.count_nonzero(sparse.weights[n]) - np.count_nonzero(w) for n, w in weights.items())
    assert removed == packed["pruned_weights"]


def test_conflict_pruned_weights_refuse_another_model(tiny_net):
    first = pruning.prune(tiny_net, "random", 0.7, input_shape=TINY_SHAPE, seed=1)
    second = pruning.prune(tiny_net, "random", 0.7, input_shape=TINY_SHAPE, seed=2)
    with pytest.raises(UsageError, match="another model"):
        conflict_pruned_weights(second, pack(first, Geometry(8, 4), cache=None))


# ----------------------------------------------------------------------------- cache


def _cached_pack(folder, **options):
    layer = conv(C=8, K=8)
    sparse = sparse_model((layer, random_weight(layer, 0.8, seed=5)))
    return pack(sparse, Geometry(4, 2), cache=folder, **options)["conv"]


def _entries(folder):
    return sorted((folder / _packcache.SUBFOLDER).rglob("*.npz"))


def _forbid_combining(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("combine called: the cache was not used")

    monkeypatch.setattr(_modes, "combine", refuse)


def test_cache_hit_miss_and_key(tmp_path, monkeypatch):
    first = _cached_pack(tmp_path)
    assert len(_entries(tmp_path)) == 1
    _forbid_combining(monkeypatch)
    again = _cached_pack(tmp_path)  # hit: no combining
    np.testing.assert_array_equal(again.labels, first.labels)
    with pytest.raises(AssertionError, match="not used"):
        _cached_pack(tmp_path, gamma=0.5)  # another gamma is another key: a miss


def test_corrupt_cache_entry_is_recomputed(tmp_path, monkeypatch):
    first = _cached_pack(tmp_path)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:40])  # truncated
    again = _cached_pack(tmp_path)
    np.testing.assert_array_equal(again.labels, first.labels)
    _forbid_combining(monkeypatch)
    _cached_pack(tmp_path)  # the entry was rewritten whole


def test_cache_entry_breaking_the_rules_is_recomputed(tmp_path):
    first = _cached_pack(tmp_path)
    (entry,) = _entries(tmp_path)
    with np.load(entry) as archive:
        key = archive["key"]
    bad = np.where(first.labels >= 0, 0, -1)  # every column in one group: over alpha
    np.savez(entry, key=key, labels=bad.astype(np.int32))
    again = _cached_pack(tmp_path)
    np.testing.assert_array_equal(again.labels, first.labels)


def test_default_cache_folder_and_disabling(tmp_path, monkeypatch):
    monkeypatch.setenv(_packcache.ENV_VAR, str(tmp_path / "env"))
    assert packing.default_cache_dir() == tmp_path / "env"
    _cached_pack(True)
    assert len(_entries(tmp_path / "env")) == 1
    monkeypatch.delenv(_packcache.ENV_VAR)
    assert packing.default_cache_dir().parts[-2:] == (".cache", "dla-explorer")
    _cached_pack(None)
    assert len(_entries(tmp_path / "env")) == 1


# ----------------------------------------------------------------------------- activations


def test_compressed_activation_bytes():
    # bitmap: ceil(80/8) = 10 bytes of presence bits + 20 non-zero bytes
    assert compressed_activation_bytes(80, 0.25, 1) == 30
    assert compressed_activation_bytes(80, 0.25, 2) == 10 + 40
    assert compressed_activation_bytes(8, 1.0, 1) == 8  # dense is cheaper than 1 + 8
    assert compressed_activation_bytes(80, 0.5, 0.5) == (80 + 40 * 4) // 8  # 4-bit values
    got = compressed_activation_bytes(np.array([80, 80, 0]), np.array([0.0, 0.5, 0.5]), 1)
    np.testing.assert_array_equal(got, [10, 50, 0])


@pytest.mark.parametrize("args", [(-1, 0.5, 1), (8, 1.5, 1), (8, -0.1, 1), (8, 0.5, 0)])
def test_compressed_activation_bytes_refuses_bad_input(args):
    with pytest.raises(UsageError):
        compressed_activation_bytes(*args)


# ----------------------------------------------------------------------------- command line


def _run_cli(argv):
    parser = argparse.ArgumentParser(prog="dla-explorer")
    pack_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def tiny_checkpoint(tiny_net, tmp_path):
    from dla_explorer.sparsity import checkpoint

    sparse = pruning.prune(tiny_net, "random", 0.7, input_shape=TINY_SHAPE)
    return checkpoint.save(sparse, tmp_path / "tiny.npz")


def test_cli_prints_the_table_and_totals(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(_packcache.ENV_VAR, str(tmp_path / "cache"))
    assert (
        _run_cli(
            ["pack", str(tiny_checkpoint), "--k-vec", "8", "--c-vec", "4", "--csv", str(tmp_path / "out.csv")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "util_after" in out and "pointwise" in out and "utilisation" in out
    assert (tmp_path / "out.csv").read_text().startswith("layer,kind,mode,schedule")
    assert _entries(tmp_path / "cache")
    assert _run_cli(["pack", str(tiny_checkpoint), "--mode", "unpacked", "--no-cache"]) == 0


def test_cli_no_cache_writes_nothing(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(_packcache.ENV_VAR, str(tmp_path / "cache"))
    _run_cli(["pack", str(tiny_checkpoint), "--no-cache"])
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "argv", [["--alpha", "0"], ["--gamma", "-1"], ["--k-vec", "x"], ["--c-vec", "0"], ["--mode", "sparse"]]
)
def test_cli_refuses_bad_options(tiny_checkpoint, argv, capsys):
    with pytest.raises(SystemExit) as info:
        _run_cli(["pack", str(tiny_checkpoint), *argv])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_nm_on_a_random_model_is_a_usage_error(tiny_checkpoint):
    with pytest.raises(UsageError, match="N:M"):
        _run_cli(["pack", str(tiny_checkpoint), "--mode", "nm", "--no-cache"])
