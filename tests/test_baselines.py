"""CPU/GPU roofline baselines (hand-computed) and the measured CPU baseline."""

import pytest
import torch

from dla_explorer.core.errors import UsageError
from dla_explorer.sim import baselines
from dla_explorer.sim import config as hw
from dla_explorer.sparsity import pruning
from dla_explorer.workload import Layer, Workload

from .conftest import TINY_SHAPE


def test_roofline_by_hand():
    gpu = hw.Baseline(
        name="g",
        kind="gpu",
        peak_tops={"fp16": 10.0},
        bandwidth_gbps=100,
        tdp_w=200,
        compute_efficiency=0.5,
        bandwidth_efficiency=1.0,
        power_fraction=0.5,
    )
    # layer 1: 1e9 MACs, 1e6 values -> compute 2e9 / 5e12 = 0.4 ms, memory 2e6 B / 1e11 = 0.02 ms
    big = Layer("big", "conv", 1, 1000, 1000, 1, 1, 1000, 1, 1000, 1)
    # layer 2: 1e6 MACs on 1e6 weights + 2e3 map values -> memory-bound: 2.004e6 B / 1e11
    fc = Layer("fc", "linear", 1, 1000, 1000, 1, 1, 1, 1, 1, 1)
    result = baselines.roofline(gpu, Workload("w", (1, 1000, 1000, 1), (big, fc)))
    big_time = 2 * big.macs / 5e12
    fc_time = 2 * (fc.weights + fc.ifmap + fc.ofmap) / 1e11
    assert result["latency_s"] == pytest.approx(big_time + fc_time)
    assert result["memory_bound_layers"] == 1
    assert result["power_w"] == 100 and result["fps_per_w"] == pytest.approx(result["fps"] / 100)
    with pytest.raises(UsageError, match="has no int8 peak"):
        baselines.roofline(gpu, Workload("w", (1, 1, 1, 1), (fc,)), "int8")


def test_shipped_baselines_are_plausible():
    from dla_explorer.workload import extract
    from dla_explorer.workload import zoo as models

    resnet = extract(models.get("resnet50"))
    v100 = baselines.roofline(hw.load_baseline("v100"), resnet)
    cpu = baselines.roofline(hw.load_baseline("skylake_xeon"), resnet)
    assert 500 < v100["fps"] < 2000  # published batch-1 TensorRT: of the order of 1,000 img/s
    assert 50 < cpu["fps"] < 500
    assert v100["fps"] > 3 * cpu["fps"]


def test_measured_cpu_baseline_dense_and_pruned(tiny_net):
    sparse = pruning.prune(tiny_net, "random", 0.9, input_shape=TINY_SHAPE, name="tiny")
    pruned = baselines.load_sparse_weights(type(tiny_net)(), sparse)
    assert torch.equal(pruned.stem.weight, torch.from_numpy(sparse.weights["stem"]))
    before = torch.get_num_threads()
    timing = baselines.measure_cpu(
        pruned, (2, *TINY_SHAPE[1:]), threads=1, min_run_time=0.05, max_run_time=0.3
    )
    assert timing["latency_s"] > 0 and timing["fps"] == pytest.approx(2 / timing["latency_s"])
    assert timing["threads"] == 1 and timing["repeats"] >= 1 and timing["latency_iqr_s"] >= 0
    # the figure is the fastest block: never above the median block
    assert 0 < timing["latency_s"] <= timing["latency_median_s"]
    assert torch.get_num_threads() == before  # the pinned thread count does not leak
    with pytest.raises(UsageError, match="no layer 'stem'"):
        baselines.load_sparse_weights(torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3)), sparse)


def test_published_points_carry_their_source_and_band():
    v100 = hw.load_baseline("v100")
    point = baselines.measured(v100, "resnet50")
    # the TensorRT 4 FP16 batch-1 figure of the cited measurement, and the power estimate
    assert point["fps"] == 481.3 and point["batch"] == 1 and "gist.github.com" in point["source"]
    assert point["fps_per_w"] == pytest.approx(481.3 / 150)
    assert baselines.measured(v100, "alexnet") is None
    drawn = baselines.measured_samples(v100, "resnet50", 2000)
    assert drawn["fps"].min() >= 373.5 and drawn["fps"].max() <= 817.8  # the published FP32..INT8 span
    assert drawn["fps_per_w"] == pytest.approx(drawn["fps"] / drawn["power_w"])
    for name in ("v100", "skylake_xeon"):
        baseline = hw.load_baseline(name)
        assert set(baseline.measured) >= {"resnet50", "mobilenet_v1", "mobilenet_v2"}
        # the roofline stays an upper bound of every published point
        from dla_explorer.workload import extract
        from dla_explorer.workload import zoo as models

        for model, point in baseline.measured.items():
            bound = baselines.roofline(baseline, extract(models.get(model)))
            assert point.fps < bound["fps"] / baseline.compute_efficiency
