"""The trade-off packing makes: accuracy against array utilisation and frames/s across alpha and
gamma. `tradeoff_table` measures it (packing-aware fine-tuning per packing, cached, and one
simulated design each); `tradeoff_figure` draws it. Notebook 05 calls both (the report does not
train: `make demo` measures no accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence

import dla_explorer.study._backend  # noqa: F401  (the backend, before pyplot)

# isort: split

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from dla_explorer.packing import DEFAULT_CACHE, CacheSpec, Geometry
from dla_explorer.packing import finetune as ft
from dla_explorer.sim import config as hw
from dla_explorer.sim.simulator import simulate
from dla_explorer.sparsity import tasks
from dla_explorer.sparsity.pruning import SparseModel
from dla_explorer.sparsity.training_defaults import DEFAULT_ITERATIONS

__all__ = ["tradeoff_figure", "tradeoff_table"]


def tradeoff_table(
    base: nn.Module,
    sparse: SparseModel,
    data: tasks.Data,
    alphas: Sequence[int],
    gammas: Sequence[float],
    arch: str | hw.Architecture = "dla_s10mx",
    memory: str | hw.Memory = "ddr4_2666_x1",
    device: str | hw.Device = "stratix10_mx2100",
    epochs: int = 0,
    iterations: int = DEFAULT_ITERATIONS,
    cache: CacheSpec = DEFAULT_CACHE,
) -> pd.DataFrame:
    """One row per (alpha, gamma): top1/top5 of the packed model (fine-tuned for `epochs`; 0 is
    conflict pruning alone), the share of |w| pruned, and the simulated utilisation and frames/s
    of `arch` with that alpha and gamma; plus one row for the unpacked schedule (alpha 1).

    Args:
        base: the trained dense torch model; supplies the parameters outside the compute layers and
            is not modified.
        sparse: the pruned model (weights and masks).
        data: the labelled task (train split for fine-tuning, test split for accuracy).
        alphas: columns combined per group at most (each >= 1).
        gammas: average conflicts allowed per row (each >= 0).
        arch: the architecture (config name, YAML path or object); alpha and gamma are replaced.
        memory: the memory system (config name, YAML path or object).
        device: the FPGA (config name, YAML path or object).
        epochs: packing-aware fine-tuning epochs per packing; 0 measures conflict pruning alone.
        iterations: rounds of pack, conflict-prune and retrain within the epochs.
        cache: where packings and accuracy results are cached (see packing.pack).

    Returns:
        One row per packing plus the unpacked row: alpha, gamma, mode, top1 and top5 (fractions),
        pruned_share (share of |w| conflict pruning removed), utilization (useful MACs over
        issued MAC slots) and fps (frames/s).

    Raises:
        UsageError: a config does not resolve or is invalid, the three do not fit together (see
            config.check_compatible), `data` has no labelled test images, or a packing is out of
            range (alpha < 1, gamma < 0 or not finite).
    """
    arch_ = arch if isinstance(arch, hw.Architecture) else hw.load_architecture(arch)
    memory_ = memory if isinstance(memory, hw.Memory) else hw.load_memory(memory)
    device_ = device if isinstance(device, hw.Device) else hw.load_device(device)
    unpacked = simulate(sparse, arch_, memory_, device_, "unpacked", cache=cache).totals
    scores = tasks.evaluate(ft.with_weights(base, sparse.weights), data.test)
    rows = [
        {
            "alpha": 1,
            "gamma": 0.0,
            "mode": "unpacked",
            "top1": scores["top1"],
            "top5": scores["top5"],
            "pruned_share": 0.0,
            "utilization": unpacked["utilization"],
            "fps": unpacked["fps"],
        }
    ]
    for alpha in alphas:
        for gamma in gammas:
            design = arch_.model_copy(update={"alpha": int(alpha), "gamma": float(gamma)})
            packing = ft.Packing(Geometry(design.k_vec, design.c_vec), int(alpha), float(gamma))
            result = ft.packed_accuracy(base, sparse, data, packing, epochs, iterations, cache=cache)
            totals = simulate(sparse, design, memory_, device_, "packed", cache=cache).totals
            rows.append(
                {
                    "alpha": int(alpha),
                    "gamma": float(gamma),
                    "mode": "packed",
                    "top1": result["top1"],
                    "top5": result["top5"],
                    "pruned_share": result["pruned_share"],
                    "utilization": totals["utilization"],
                    "fps": totals["fps"],
                }
            )
    return pd.DataFrame(rows)


def tradeoff_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Top-1 against utilisation (left) and frames/s (right), one line per gamma across alpha;
    the unpacked schedule is the black star.

    Args:
        table: what tradeoff_table returned.
        title: the figure's title; empty for the default one.

    Returns:
        The matplotlib figure (the caller saves and closes it).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    packed = table[table["mode"] == "packed"]
    unpacked = table[table["mode"] == "unpacked"]
    for ax, x, label in ((axes[0], "utilization", "array utilisation"), (axes[1], "fps", "frames/s")):
        for index, (gamma, rows) in enumerate(packed.groupby("gamma")):
            rows = rows.sort_values("alpha")
            ax.plot(rows[x], rows["top1"] * 100, "o-", color=f"C{index % 10}", label=f"gamma {gamma:g}")
            for _, row in rows.iterrows():
                ax.annotate(
                    f"a{row['alpha']}",
                    (row[x], row["top1"] * 100),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.plot(unpacked[x], unpacked["top1"] * 100, "k*", markersize=12, label="unpacked")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_xscale("log")
    axes[0].set_ylabel("top-1 (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "accuracy vs utilisation vs frames/s across alpha (a) and gamma")
    fig.tight_layout()
    return fig
