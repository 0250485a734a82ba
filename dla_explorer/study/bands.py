"""Uncertainty bands of an experiment's headline figures (Monte-Carlo over the estimates).

Every estimate in the hardware YAML carries a range (docs/model.md, `sim.uncertainty`). For each
model at the headline sparsity, `monte_carlo` draws N samples of every design and mode in one
`simulate_batch` call and N samples of every published baseline point; sample i shares the draws
of the estimates the designs have in common, so the ratios (HBM2 over DDR4, FPGA over CPU or GPU)
are formed sample by sample and their bands reflect only what differs between the two sides.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dla_explorer.sim import baselines, simulator, traffic, uncertainty
from dla_explorer.sim import config as hw
from dla_explorer.sparsity.pruning import SparseModel

FIGURES = ("fps", "power_w", "fps_per_w", "latency_s", "energy_j_per_frame")
BASELINE_FIGURES = ("fps", "power_w", "fps_per_w")
# the paper's four kinds of figure (keys of the experiment spec's `paper` section)
RATIOS = ("hbm2_over_ddr4", "over_cpu", "v100_speed", "v100_power_efficiency")
BAND_LIMIT = 0.35  # the acceptance bound on a band's half-width, relative to its median


def design_samples(
    sparse: SparseModel,
    hardware: Mapping[str, tuple[hw.Architecture, hw.Memory]],
    modes: list[str],
    device: hw.Device,
    n: int,
    batch: int = 1,
    seed: int = 0,
    fidelity: int = traffic.DEFAULT_FIDELITY,
) -> pd.DataFrame:
    """n samples of every (design, mode) at a memory fidelity level (0 or 1; the estimates that
    act there are drawn): the design table with `design`, `sample` and FIGURES."""
    rows, sources, labels = [], [], []
    for name, (arch, memory) in hardware.items():
        for mode in modes:
            rows.append(simulator.design_row(arch, memory, mode))
            sources.append((arch, memory))
            labels.append(name)
    table = uncertainty.monte_carlo(pd.DataFrame(rows), sources, device, n, seed, fidelity)
    table["design"] = np.array(labels)[table["design_index"].to_numpy()]
    result = simulator.simulate_batch(sparse, table, device, batch, fidelity=fidelity)
    return result[["design", "mode", "sample", *FIGURES]]


def baseline_samples(baseline: hw.Baseline, name: str, model: str, n: int, seed: int = 0) -> pd.DataFrame:
    """n samples of a baseline's published point for `model` (empty when it has none)."""
    if model not in baseline.measured:
        return pd.DataFrame(columns=["baseline", "sample", *BASELINE_FIGURES])
    drawn = baselines.measured_samples(baseline, model, n, seed)
    return pd.DataFrame({"baseline": name, "sample": np.arange(n), **drawn})


def _band(values: np.ndarray) -> dict[str, float]:
    low, high = uncertainty.BAND
    p5, p50, p95 = np.percentile(values, [low, 50, high])
    return {"p5": p5, "p50": p50, "p95": p95}


def ratio_row(figure: str, label: str, model: str, values: np.ndarray, reference: float | None) -> dict:
    """One ratio's band beside the paper's figure: inside the 5-95% band or not, and how wide."""
    band = _band(values)
    return {
        "figure": figure,
        "comparison": label,
        "model": model,
        **band,
        "paper": reference,
        "paper_inside_band": bool(reference is not None and band["p5"] <= reference <= band["p95"]),
        "half_width": (band["p95"] - band["p5"]) / 2 / band["p50"],
        "within_limit": (band["p95"] - band["p5"]) / 2 / band["p50"] <= BAND_LIMIT,
    }


def ratio_bands(
    designs: pd.DataFrame,
    cpu: pd.DataFrame,
    gpu: pd.DataFrame,
    model: str,
    hbm2: str,
    ddr4: list[str],
    paper: Mapping[str, Mapping[str, float]],
    names: Mapping[str, str],
) -> pd.DataFrame:
    """The paper's ratios for one model as 5/50/95% bands, formed sample by sample (packed mode)."""
    packed = designs[designs["mode"] == "packed"].pivot(
        index="sample", columns="design", values=["fps", "fps_per_w"]
    )
    fpga = packed[("fps", hbm2)].to_numpy()
    rows = []

    def add(figure: str, label: str, values: np.ndarray) -> None:
        rows.append(ratio_row(figure, label, model, values, paper.get(figure, {}).get(model)))

    for name in ddr4:
        add(
            "hbm2_over_ddr4",
            f"HBM2 vs DDR4 ({names.get(name, name)}), packed",
            fpga / packed[("fps", name)].to_numpy(),
        )
    if len(cpu):
        add("over_cpu", f"vs server CPU ({names['cpu']}, published)", fpga / cpu["fps"].to_numpy())
    if len(gpu):
        add("v100_speed", f"speed vs {names['gpu']} (published)", fpga / gpu["fps"].to_numpy())
        efficiency = packed[("fps_per_w", hbm2)].to_numpy() / gpu["fps_per_w"].to_numpy()
        add("v100_power_efficiency", f"power efficiency vs {names['gpu']} (published)", efficiency)
    return pd.DataFrame(rows)
