"""The report's figures, one function each: an experiment's Results in, a matplotlib Figure out.
Notebooks call them too."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: the report must render on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dla_explorer.sim import config as hw  # noqa: E402
from dla_explorer.study.analysis import Results, search_pareto, sparsity_curves  # noqa: E402

MODEL_LABELS = {"resnet50": "ResNet-50", "mobilenet_v1": "MobileNet v1", "mobilenet_v2": "MobileNet v2"}


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def _color(results: Results, model: str) -> str:
    """One colour per model in every figure, in the spec's model order."""
    return f"C{results.spec['models'].index(model) % 10}"


def _memory(spec: dict, design: str) -> str:
    return hw.load_memory(spec["designs"][design]["memory"]).name


def _layers(results: Results, model: str, design: str, mode: str) -> pd.DataFrame:
    frame = results.layers
    return frame[
        (frame.model == model)
        & np.isclose(frame.sparsity, results.headline)
        & (frame.design == design)
        & (frame["mode"] == mode)
    ].reset_index(drop=True)


def layer_latency(results: Results, model: str = "resnet50") -> Figure:
    """Per-layer time of the packed model on each memory system, split into compute and the
    memory time that compute does not hide."""
    spec = results.spec
    designs = [*spec["ddr4_designs"][:1], spec["hbm2_design"]]
    fig, axes = plt.subplots(len(designs), 1, figsize=(11, 3.2 * len(designs)), sharex=True, sharey=True)
    for ax, design in zip(np.atleast_1d(axes), designs, strict=True):
        layers = _layers(results, model, design, "packed")
        x = np.arange(len(layers))
        compute = layers["compute_s"] * 1e6
        stall = (layers["time_s"] - layers["compute_s"]).clip(lower=0) * 1e6
        ax.bar(x, compute, color="tab:blue", label="compute")
        ax.bar(x, stall, bottom=compute, color="tab:orange", label="memory (not hidden)")
        total = layers["time_s"].sum() * 1e3
        ax.set_title(
            f"{_label(model)}, {results.headline:.0%} sparse, packed, "
            f"{_memory(spec, design)}: {total:.2f} ms per frame",
            fontsize=10,
        )
        ax.set_ylabel("time per layer (µs)")
        ax.legend(loc="upper right")
    ax.set_xlabel("layer (execution order)")
    ticks = np.arange(0, len(layers), 5)
    ax.set_xticks(ticks, [f"{i}" for i in ticks])
    fig.tight_layout()
    return fig


def roofline(results: Results, model: str = "resnet50") -> Figure:
    """Attained useful GOPS against operational intensity (useful ops per DRAM byte) of every
    layer of the packed model, under the compute roof and each memory system's roof."""
    spec = results.spec
    designs = [*spec["ddr4_designs"], spec["hbm2_design"]]
    arch = hw.load_architecture(spec["designs"][spec["hbm2_design"]]["arch"])
    peak = 2 * arch.multipliers * arch.clock_mhz * 1e6 / 1e9
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x = np.logspace(-1, 4, 200)
    markers = ["o", "s", "^", "D"]
    for design, marker in zip(designs, markers, strict=False):
        memory = hw.load_memory(spec["designs"][design]["memory"])
        line = ax.plot(
            x,
            np.minimum(peak, memory.effective_gbps * x),
            lw=1.5,
            label=f"roof: {memory.name} ({memory.effective_gbps:.0f} GB/s)",
        )[0]
        layers = _layers(results, model, design, "packed")
        intensity = 2 * layers["useful_macs"] / layers["dram_bytes"]
        attained = 2 * layers["useful_macs"] / layers["time_s"] / 1e9
        ax.scatter(
            intensity,
            attained,
            s=18,
            marker=marker,
            color=line.get_color(),
            alpha=0.75,
            label=f"layers on {memory.name}",
        )
    ax.axhline(peak, color="black", ls="--", lw=1, label=f"peak {peak:,.0f} GOPS")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (useful ops per DRAM byte)")
    ax.set_ylabel("attained performance (useful GOPS)")
    ax.set_title(f"Roofline: {_label(model)}, {results.headline:.0%} sparse, packed", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def utilisation(results: Results) -> Figure:
    """MAC utilisation per layer before (sparse weights on the dense schedule) and after
    packing, at the headline sparsity."""
    models = results.spec["models"]
    fig, axes = plt.subplots(len(models), 1, figsize=(11, 2.8 * len(models)))
    for ax, model in zip(np.atleast_1d(axes), models, strict=True):
        frame = results.packing
        layers = frame[(frame.model == model) & np.isclose(frame.sparsity, results.headline)]
        x = np.arange(len(layers))
        ax.bar(x - 0.2, layers["util_before"], width=0.4, color="tab:gray", label="unpacked")
        ax.bar(x + 0.2, layers["util_after"], width=0.4, color="tab:green", label="packed")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("MAC utilisation")
        ax.set_title(
            f"{_label(model)}, {results.headline:.0%} sparse: useful MACs / issued MAC slots", fontsize=10
        )
        ax.legend(loc="upper right", ncols=2)
    ax.set_xlabel("layer (execution order)")
    fig.tight_layout()
    return fig


def speedup_vs_sparsity(results: Results) -> Figure:
    """Packing's speedup (HBM2), HBM2's speedup over DDR4, and the weights packing prunes by
    conflicts, against sparsity, per model."""
    curves = sparsity_curves(results)
    ddr4 = _memory(results.spec, results.spec["ddr4_designs"][0])
    fig, (left, right, cost) = plt.subplots(1, 3, figsize=(14, 4.2))
    for model, rows in results.packing_totals.groupby("model", sort=False):
        cost.plot(
            rows["sparsity"] * 100,
            rows["pruned_share"] * 100,
            marker="o",
            color=_color(results, model),
            label=_label(model),
        )
    cost.set_title("cost: weights pruned by packing conflicts", fontsize=10)
    cost.set_ylabel("pruned share of |weight| (%)")
    for model, rows in curves.groupby("model", sort=False):
        pct, color = rows["sparsity"] * 100, _color(results, model)
        left.plot(pct, rows["packed_over_unpacked"], marker="o", color=color, label=_label(model))
        right.plot(pct, rows["hbm2_over_ddr4"], marker="o", color=color, label=f"{_label(model)} packed")
        right.plot(
            pct,
            rows["hbm2_over_ddr4_unpacked"],
            marker="x",
            ls=":",
            color=color,
            label=f"{_label(model)} unpacked",
        )
    left.set_title("packed vs unpacked (HBM2)", fontsize=10)
    right.set_title(f"HBM2 vs {ddr4}", fontsize=10)
    for ax in (left, right, cost):
        ax.set_xlabel("weight sparsity (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel("speedup (×, frames/s ratio)")
    right.set_ylabel("speedup (×, frames/s ratio)")
    fig.tight_layout()
    return fig


def pareto(results: Results) -> Figure | None:
    """The search's trials in the power / frames-per-second plane, and the Pareto front."""
    table = results.search
    if table is None or "fps" not in table:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5))
    done = table.dropna(subset=["fps", "power_w"])
    ok = done["feasible"].fillna(False).astype(bool)
    ax.scatter(
        done.loc[ok, "power_w"],
        done.loc[ok, "fps"],
        s=14,
        color="tab:gray",
        alpha=0.6,
        label="feasible designs",
    )
    ax.scatter(
        done.loc[~ok, "power_w"],
        done.loc[~ok, "fps"],
        s=14,
        marker="x",
        color="tab:red",
        alpha=0.5,
        label="infeasible (over the device's resources)",
    )
    front = search_pareto(results)
    ax.plot(front["power_w"], front["fps"], "o-", color="tab:blue", label="Pareto front")
    base = results.comparison
    default = base[
        (base.model == "resnet50")
        & np.isclose(base.sparsity, results.headline)
        & (base.design == results.spec["hbm2_design"])
        & (base["mode"] == "packed")
    ]
    if len(default):
        ax.scatter(
            default["power_w"],
            default["fps"],
            marker="*",
            s=220,
            color="gold",
            edgecolor="black",
            zorder=5,
            label="the comparison's HBM2 design",
        )
    ax.set_xlabel("power (W)")
    ax.set_ylabel("throughput (frames/s)")
    ax.set_title(f"Design-space search: ResNet-50 packed on HBM2, {len(done)} trials", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def throughput(results: Results) -> Figure:
    """Frames/s of every model, design and mode at the headline sparsity."""
    frame = results.comparison[np.isclose(results.comparison.sparsity, results.headline)]
    designs = list(results.spec["designs"])
    modes = results.spec["modes"]
    models = results.spec["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4), sharey=True)
    width = 0.8 / len(modes)
    for ax, model in zip(np.atleast_1d(axes), models, strict=True):
        rows = frame[frame.model == model]
        for i, mode in enumerate(modes):
            values = [rows[(rows.design == d) & (rows["mode"] == mode)]["fps"].iloc[0] for d in designs]
            ax.bar(np.arange(len(designs)) + (i - (len(modes) - 1) / 2) * width, values, width, label=mode)
        ax.set_xticks(np.arange(len(designs)), [_memory(results.spec, d) for d in designs], fontsize=8)
        ax.set_title(f"{_label(model)}, {results.headline:.0%} sparse", fontsize=10)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("throughput (frames/s, log scale)")
    np.atleast_1d(axes)[0].legend(title="mode", fontsize=8)
    fig.tight_layout()
    return fig


def buffer_sensitivity(results: Results) -> Figure | None:
    """HBM2's speedup over DDR4 against the stream-buffer size: small buffers spill feature maps
    to DRAM, which is where DDR4 falls behind; the paper's ratios are drawn for reference."""
    sweep = results.buffer_sweep
    if sweep.empty:
        return None
    spec = results.spec
    ddr4, hbm2 = spec["ddr4_designs"][0], spec["hbm2_design"]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for model, rows in sweep.groupby("model", sort=False):
        fps = rows.pivot_table(index="stream_buffer_kb", columns=["design", "mode"], values="fps")
        color = _color(results, model)
        ax.plot(
            fps.index,
            fps[(hbm2, "packed")] / fps[(ddr4, "packed")],
            marker="o",
            color=color,
            label=f"{_label(model)} packed",
        )
        ax.plot(
            fps.index,
            fps[(hbm2, "unpacked")] / fps[(ddr4, "unpacked")],
            marker="x",
            ls=":",
            color=color,
            label=f"{_label(model)} unpacked",
        )
        paper = spec["paper"]["hbm2_over_ddr4"].get(model)
        if paper:
            ax.axhline(paper, color=color, ls="--", lw=0.8, alpha=0.7)
    ax.set_xscale("log", base=2)
    sizes = sorted(sweep["stream_buffer_kb"].unique())
    ax.set_xticks(sizes, [f"{size:,.0f}" for size in sizes])
    ax.set_xlabel("stream buffer (KB, log scale)")
    ax.set_ylabel(f"speedup of HBM2 over {_memory(spec, ddr4)} (×)")
    ax.set_title(
        f"Where HBM2's gain comes from ({results.headline:.0%} sparse; dashed: the paper's ratios)",
        fontsize=10,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {
    "throughput": throughput,
    "speedup_vs_sparsity": speedup_vs_sparsity,
    "layer_latency": layer_latency,
    "roofline": roofline,
    "buffer_sensitivity": buffer_sensitivity,
    "utilisation": utilisation,
    "pareto": pareto,
}
