"""CPU and GPU reference points: a per-layer roofline from published peak figures, and a measured
CPU baseline (torch on this machine) for the dense and the pruned model.

CPUs and GPUs run unstructured-sparse models on dense kernels, so both use the dense MACs; the
measured baseline shows it (pruned and dense take the same time).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from dla_explorer.core.errors import UsageError
from dla_explorer.sim.config import Baseline
from dla_explorer.sparsity.pruning import SparseModel, resolve_model
from dla_explorer.workload import Workload, module_of

BYTES_PER_VALUE = {"int8": 1, "fp16": 2, "fp32": 4}


def roofline(
    baseline: Baseline, workload: Workload, precision: str | None = None, batch: int = 1
) -> dict[str, float]:
    """Frames/s, power and frames/s/W of `baseline` on `workload` (dense), layer by layer:
    each layer takes max(ops / achieved compute, bytes / achieved bandwidth)."""
    precision = precision or next(iter(baseline.peak_tops))
    if precision not in baseline.peak_tops:
        raise UsageError(
            f"baseline '{baseline.name}' has no {precision} peak (has: {', '.join(baseline.peak_tops)})"
        )
    size = BYTES_PER_VALUE[precision]
    frame = workload.to_frame()
    ops = 2.0 * frame["macs"].to_numpy() * batch
    data = size * (frame["weights"].to_numpy() + batch * (frame["ifmap"] + frame["ofmap"]).to_numpy())
    compute = ops / (baseline.peak_tops[precision] * 1e12 * baseline.compute_efficiency)
    memory = data / (baseline.bandwidth_gbps * 1e9 * baseline.bandwidth_efficiency)
    latency = float(np.maximum(compute, memory).sum())
    power = baseline.tdp_w * baseline.power_fraction
    fps = batch / latency
    return {
        "name": baseline.name,
        "precision": precision,
        "batch": batch,
        "latency_s": latency,
        "fps": fps,
        "power_w": power,
        "fps_per_w": fps / power,
        "memory_bound_layers": int((memory > compute).sum()),
    }


def load_sparse_weights(module: nn.Module, sparse: SparseModel) -> nn.Module:
    """Copy the pruned weights of `sparse` into `module` (in place) and return it."""
    for name, weight in sparse.weights.items():
        target = module_of(module, name)
        if target is None or tuple(target.weight.shape) != weight.shape:
            raise UsageError(
                f"model has no layer '{name}' of shape {weight.shape}; "
                f"was the checkpoint made from this model?"
            )
        target.weight.data = torch.from_numpy(weight).to(target.weight.dtype)
    return module


def measure_cpu(
    module: nn.Module,
    input_shape: tuple[int, ...],
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = None,
) -> dict[str, float]:
    """Median wall time of a forward pass with torch on this machine's CPU."""
    if threads:
        torch.set_num_threads(threads)
    inputs = torch.randn(input_shape)
    module.eval()
    times = []
    with torch.inference_mode():
        for index in range(warmup + repeats):
            start = time.perf_counter()
            module(inputs)
            if index >= warmup:
                times.append(time.perf_counter() - start)
    latency = float(np.median(times))
    return {
        "latency_s": latency,
        "fps": input_shape[0] / latency,
        "batch": input_shape[0],
        "threads": torch.get_num_threads(),
        "repeats": repeats,
    }


def measure_cpu_baseline(
    sparse: SparseModel, batch: int = 1, repeats: int = 5, threads: int | None = None
) -> dict[str, dict[str, float]]:
    """Measured dense and pruned (dense kernels) latency of the model `sparse` was made from."""
    shape = (batch, *sparse.workload.input_shape[1:])
    seed = sparse.recipe.get("seed", 0)
    dense, _ = resolve_model(sparse.model, seed)
    pruned = load_sparse_weights(resolve_model(sparse.model, seed)[0], sparse)
    return {
        "dense": measure_cpu(dense, shape, repeats, threads=threads),
        "pruned": measure_cpu(pruned, shape, repeats, threads=threads),
    }
