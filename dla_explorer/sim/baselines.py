"""CPU and GPU reference points: published measurements per model (what comparisons use), a
per-layer roofline from published peak figures (an upper bound only), and a CPU measurement of
the dense and the pruned model with torch on this machine.

CPUs and GPUs run unstructured-sparse models on dense kernels, so the roofline uses the dense
MACs and the pruned model is timed with the same dense kernels as the dense one.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.utils import benchmark

from dla_explorer.core.errors import UsageError
from dla_explorer.sim import uncertainty
from dla_explorer.sim.config import Baseline, value_bytes
from dla_explorer.sparsity.pruning import SparseModel, resolve_model
from dla_explorer.workload import Workload, module_of

__all__ = [
    "load_sparse_weights",
    "measure_cpu",
    "measure_cpu_baseline",
    "measured",
    "measured_samples",
    "roofline",
]


def roofline(
    baseline: Baseline, workload: Workload, precision: str | None = None, batch: int = 1
) -> dict[str, float | str]:
    """Frames/s, power and frames/s/W of `baseline` on `workload` (dense), layer by layer
    (docs/model.md#baselines): each layer takes max(ops / achieved compute, bytes / achieved
    bandwidth), bytes = value size x (weights + batch x (input + output elements)); power = TDP
    x power fraction.

    Args:
        baseline: the CPU or GPU (peak tera-ops/s, bandwidth in GB/s, TDP in W, efficiencies).
        workload: the dense network (MACs and tensor sizes in elements).
        precision: a key of `baseline.peak_tops` (int8, fp16, fp32); None takes the first.
        batch: frames per inference.

    Returns:
        name, precision, batch, latency_s (s per batch), fps (frames/s), power_w (W), fps_per_w and
        memory_bound_layers (layers whose bytes take longer than their ops).

    Raises:
        UsageError: the baseline has no peak for `precision`.
        KeyError: the baseline has a peak for a precision without a byte size in
            `config.value_bytes` (the DLA formats int8, bfp11, bfp12, fp16, and fp32).
    """
    precision = precision or next(iter(baseline.peak_tops))
    if precision not in baseline.peak_tops:
        raise UsageError(
            f"baseline '{baseline.name}' has no {precision} peak (has: {', '.join(baseline.peak_tops)})"
        )
    size = value_bytes(precision)
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
    """Copy the pruned weights of `sparse` into `module` (in place) and return it.

    Args:
        module: a torch model built from the same model as `sparse`; changed in place.
        sparse: the pruned model whose weights (pruned entries 0) replace the module's.

    Returns:
        `module`.

    Raises:
        UsageError: a layer of `sparse` is not in `module` or has another weight shape.
    """
    for name, weight in sparse.weights.items():
        target = module_of(module, name)
        current = None if target is None else target.weight
        if not isinstance(current, torch.Tensor) or tuple(current.shape) != weight.shape:
            raise UsageError(
                f"model has no layer '{name}' of shape {weight.shape}; "
                f"was the checkpoint made from this model?"
            )
        current.data = torch.from_numpy(weight).to(current.dtype)
    return module


def measured(baseline: Baseline, model: str) -> dict | None:
    """The published measurement of `model` on `baseline` (frames/s, power, batch, source), or
    None when the baseline has none for that model.

    Args:
        baseline: the CPU or GPU config.
        model: a zoo model name, e.g. resnet50.

    Returns:
        name, precision, batch, fps (frames/s), power_w (W), fps_per_w, framework and source of the
        published point, or None.
    """
    point = baseline.measured.get(model)
    if point is None:
        return None
    return {
        "name": baseline.name,
        "precision": point.precision,
        "batch": point.batch,
        "fps": point.fps,
        "power_w": point.power_w,
        "fps_per_w": point.fps / point.power_w,
        "framework": point.framework,
        "source": point.source,
    }


def measured_samples(baseline: Baseline, model: str, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n Monte-Carlo samples of a published point's frames/s and power (their ranges drawn the
    way `uncertainty.monte_carlo` draws a design's estimates; a figure without a range is fixed).

    Args:
        baseline: the CPU or GPU config.
        model: a zoo model name with a published measurement on `baseline`.
        n: samples to draw.
        seed: seed of the draws (the same for the same estimate in every design).

    Returns:
        fps (frames/s), power_w (W) and fps_per_w, each an array of n samples.

    Raises:
        KeyError: `baseline` has no published measurement of `model`.
    """
    point = baseline.measured[model]
    estimates = uncertainty.estimates(baseline, f"baseline:{baseline.name}")
    out = {}
    for figure in ("fps", "power_w"):
        found = estimates.get(f"measured.{model}.{figure}")
        if found is None:
            out[figure] = np.full(n, float(getattr(point, figure)))
        else:
            key, estimate = found
            out[figure] = estimate.ppf(uncertainty.draws(key, n, seed))
    out["fps_per_w"] = out["fps"] / out["power_w"]
    return out


def measure_cpu(
    module: nn.Module,
    input_shape: tuple[int, ...],
    threads: int = 1,
    min_run_time: float = 0.5,
    max_run_time: float = 10.0,
    threshold: float = 0.05,
) -> dict[str, float]:
    """Time of a forward pass with torch on this machine's CPU: torch.utils.benchmark's
    adaptive_autorange (blocks of runs until the IQR is within `threshold` of the median, or
    `max_run_time`), with a fixed thread count. Returns the fastest block's time per run (the
    figure), the median and the spread (IQR).

    The clock is the process's CPU time, not wall time: on a shared machine wall time mostly
    measures the other jobs (three runs of the main job gave 17.5, 1.7 and 0.35 frames/s), while
    the CPU time of a fixed number of threads is what the forward pass itself costs. With one
    thread (the default) it is the single-core latency. CPU time still feels the other jobs
    through shared caches, memory bandwidth and a sibling hyperthread, and only ever upwards, so
    the fastest block is the steadiest estimate of the pass's own cost (Python's timeit makes the
    same argument for its minimum): three runs of MobileNet v1 beside a busy process gave medians
    spread by 20% and fastest blocks by 9% (docs/validation.md, section 6).

    Args:
        module: the torch model; put in eval mode and run without gradients.
        input_shape: the input (N, C, H, W) in elements; N is the batch.
        threads: torch threads during the measurement (restored afterwards).
        min_run_time: seconds of CPU time measured at least.
        max_run_time: seconds of CPU time measured at most.
        threshold: the IQR / median at which the measurement stops (a fraction).

    Returns:
        latency_s (s of CPU time per batch, the fastest block), latency_median_s and
        latency_iqr_s (s: the median block and the spread), fps (frames/s, from latency_s), batch,
        threads and repeats (timed blocks).

    Raises:
        RuntimeError: the module cannot run on an input of `input_shape` (torch's own error, not
            converted).
    """
    inputs = torch.randn(input_shape)
    module.eval()
    previous = torch.get_num_threads()
    try:
        with torch.inference_mode():
            module(inputs)  # warm-up: first-call allocation and kernel selection
            timer = benchmark.Timer(
                stmt="module(inputs)",
                globals={"module": module, "inputs": inputs},
                num_threads=threads,
                timer=time.process_time,
            )
            result = timer.adaptive_autorange(
                threshold=threshold, min_run_time=min_run_time, max_run_time=max_run_time
            )
    finally:
        torch.set_num_threads(previous)
    latency = float(min(result.times))
    return {
        "latency_s": latency,
        "latency_median_s": float(result.median),
        "latency_iqr_s": float(result.iqr),
        "fps": input_shape[0] / latency,
        "batch": input_shape[0],
        "threads": threads,
        "repeats": len(result.times),
    }


def measure_cpu_baseline(
    sparse: SparseModel, batch: int = 1, threads: int = 1, max_run_time: float = 10.0
) -> dict[str, dict[str, float]]:
    """Measured dense and pruned latency of the model `sparse` was made from, both on torch's
    dense kernels (the pruned model's zeros are multiplied like any other weight).

    Args:
        sparse: the pruned model; its dense original is rebuilt from its model name and seed.
        batch: frames per forward pass.
        threads: torch threads (see measure_cpu).
        max_run_time: seconds of CPU time measured at most per model.

    Returns:
        {'dense': ..., 'pruned': ...}, each what measure_cpu returns.

    Raises:
        UsageError: `sparse.model` is not a zoo or library name, so the model cannot be rebuilt
            (a model pruned from a torch module, a factory file or an ONNX file records another
            name), or the pruned weights do not fit the rebuilt model.
    """
    shape = (batch, *sparse.workload.input_shape[1:])
    seed = sparse.recipe.get("seed", 0)
    dense, _ = resolve_model(sparse.model, seed)
    pruned = load_sparse_weights(resolve_model(sparse.model, seed)[0], sparse)
    return {
        "dense": measure_cpu(dense, shape, threads, max_run_time=max_run_time),
        "pruned": measure_cpu(pruned, shape, threads, max_run_time=max_run_time),
    }
