"""The report's figures, one function each: an experiment's Results in, a matplotlib Figure out.
Notebooks call them too.

Made for papers: the Okabe-Ito palette (distinct under the common colour-vision deficiencies)
with a marker or line style as a second cue, layer names on per-layer axes (depthwise layers
marked), legends outside the data, values printed where a bar is read, and the reference work's
figures drawn and named in the legend."""

from __future__ import annotations

import dla_explorer.study._backend  # noqa: F401  (the backend, before pyplot)

# isort: split

from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler  # (matplotlib's own dependency)
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dla_explorer.sim import config as hw
from dla_explorer.sim.traffic import DEFAULT_FIDELITY, sustained_gbps
from dla_explorer.study.analysis import Results, search_pareto, sparsity_curves
from dla_explorer.study.records import ExperimentView

MODEL_LABELS = {"resnet50": "ResNet-50", "mobilenet_v1": "MobileNet v1", "mobilenet_v2": "MobileNet v2"}
# Okabe & Ito (2008), "Color Universal Design": safe for deuteranopia, protanopia, tritanopia
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
SERIES = [OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "black")]
GREY = "#999999"
MARKERS = ["o", "s", "^", "D", "v", "P"]
LINESTYLES = ["-", "--", "-.", ":"]
DEPTHWISE_MARK = " (dw)"
STYLE = {
    "axes.prop_cycle": cycler(color=SERIES),
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}


def _style() -> Any:
    """The paper style for one figure (rc_context; matplotlib's stubs want literal keys)."""
    return plt.rc_context(cast(Any, STYLE))


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def _color(results: Results, model: str) -> str:
    """One colour per model in every figure, in the spec's model order."""
    return SERIES[results.spec.models.index(model) % len(SERIES)]


def _marker(results: Results, model: str) -> str:
    return MARKERS[results.spec.models.index(model) % len(MARKERS)]


def _memory(spec: ExperimentView, design: str) -> str:
    return hw.load_memory(spec.designs[design].memory).name


def _layers(results: Results, model: str, design: str, mode: str) -> pd.DataFrame:
    frame = results.layers
    return frame[
        (frame.model == model)
        & np.isclose(frame.sparsity, results.headline)
        & (frame.design == design)
        & (frame["mode"] == mode)
    ].reset_index(drop=True)


def _layer_axis(ax: Axes, names: pd.Series, kinds: pd.Series) -> None:
    """Layer names as x ticks, depthwise layers marked in the name and in colour."""
    labels = [
        f"{n}{DEPTHWISE_MARK}" if k == "depthwise" else str(n) for n, k in zip(names, kinds, strict=True)
    ]
    size = 7 if len(labels) <= 30 else 5.5
    ax.set_xticks(np.arange(len(labels)), labels, rotation=90, fontsize=size)
    for tick, kind in zip(ax.get_xticklabels(), kinds, strict=True):
        if kind == "depthwise":
            tick.set_color(OKABE_ITO["vermillion"])
    ax.set_xlim(-0.7, len(labels) - 0.3)


def _legend_outside(ax: Axes, **kwargs) -> None:
    """A legend beside the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, **kwargs)


def layer_latency(results: Results, model: str = "resnet50") -> Figure:
    """Per-layer time of the packed model on each memory system, split into compute and the
    memory time that compute does not hide."""
    spec = results.spec
    if model not in spec.models:
        model = spec.models[0]
    designs = [*spec.ddr4_designs[:1], spec.hbm2_design]
    with _style():
        fig, axes = plt.subplots(
            len(designs), 1, figsize=(11, 2.6 * len(designs) + 1.2), sharex=True, sharey=True
        )
        for ax, design in zip(np.atleast_1d(axes), designs, strict=True):
            layers = _layers(results, model, design, "packed")
            x = np.arange(len(layers))
            compute = layers["compute_s"] * 1e6
            stall = (layers["time_s"] - layers["compute_s"]).clip(lower=0) * 1e6
            ax.bar(x, compute, color=OKABE_ITO["blue"], label="compute")
            ax.bar(
                x, stall, bottom=compute, color=OKABE_ITO["orange"], hatch="///", label="memory (not hidden)"
            )
            total = layers["time_s"].sum() * 1e3
            ax.set_title(
                f"{_label(model)}, {results.headline:.0%} sparse, packed, "
                f"{_memory(spec, design)}: {total:.2f} ms per frame",
                loc="left",
            )
            ax.set_ylabel("time per layer (µs)")
            ax.grid(axis="y", alpha=0.3)
            _legend_outside(ax)
        _layer_axis(ax, layers["layer"], layers["kind"])
        fig.tight_layout()
    return fig


def _clock_used(results: Results, model: str, design: str, default: float) -> float:
    """The clock (MHz) the packed design ran at in the comparison (the fMAX model's), else
    `default` (tables from before the clock model)."""
    frame = results.comparison
    if "clock_mhz_used" not in frame:
        return default
    rows = frame[
        (frame.model == model)
        & np.isclose(frame.sparsity, results.headline)
        & (frame.design == design)
        & (frame["mode"] == "packed")
    ]
    return float(rows["clock_mhz_used"].iloc[0]) if len(rows) else default


def roofline(results: Results, model: str = "resnet50") -> Figure:
    """Attained useful GOPS against operational intensity (useful ops per DRAM byte) of every
    layer of the packed model, under the compute roof and each memory system's roof. The compute
    roof is the array at the clock the designs run at (the fMAX model's, `clock_mhz_used`); each
    memory roof is what the memory sustains on a sequential stream at the run's memory fidelity
    (the cycle model's efficiency and the DLA's port caps at level 1, not a flat 0.8). The axes
    span the layers' points and the ridge points; each memory system has its own colour, marker
    and roof line style."""
    spec = results.spec
    if model not in spec.models:
        model = spec.models[0]
    designs = [*spec.ddr4_designs, spec.hbm2_design]
    arch = hw.load_architecture(spec.designs[spec.hbm2_design].arch)
    clock_mhz = _clock_used(results, model, spec.hbm2_design, arch.clock_mhz)
    peak = 2 * arch.multipliers * clock_mhz * 1e6 / 1e9
    points = []
    for design in designs:
        layers = _layers(results, model, design, "packed")
        ok = layers["dram_bytes"] > 0
        intensity = 2 * layers.loc[ok, "useful_macs"] / layers.loc[ok, "dram_bytes"]
        attained = 2 * layers.loc[ok, "useful_macs"] / layers.loc[ok, "time_s"] / 1e9
        memory = hw.load_memory(spec.designs[design].memory)
        gbps = sustained_gbps(memory, _clock_used(results, model, design, clock_mhz), DEFAULT_FIDELITY)
        points.append((design, memory, gbps, intensity, attained))
    ridges = [peak / gbps for _, _, gbps, _, _ in points]
    xs = np.concatenate([p[3].to_numpy() for p in points] + [np.array(ridges)])
    ys = np.concatenate([p[4].to_numpy() for p in points])
    x_lo, x_hi = xs.min() / 2, xs.max() * 2
    y_lo, y_hi = ys.min() / 2, peak * 1.6
    with _style():
        fig, ax = plt.subplots(figsize=(8.5, 5))
        x = np.logspace(np.log10(x_lo), np.log10(x_hi), 200)
        for i, (_, memory, gbps, intensity, attained) in enumerate(points):
            color = SERIES[i % len(SERIES)]
            ax.plot(
                x,
                np.minimum(peak, gbps * x),
                color=color,
                ls=LINESTYLES[i % len(LINESTYLES)],
                lw=1.6,
                label=f"roof: {memory.name} ({gbps:.0f} GB/s sustained)",
            )
            ax.scatter(
                intensity,
                attained,
                s=22,
                marker=MARKERS[i % len(MARKERS)],
                facecolor="none" if i % 2 else color,
                edgecolor=color,
                linewidths=1.0,
                alpha=0.85,
                label=f"layers on {memory.name}",
            )
        ax.axhline(peak, color=OKABE_ITO["black"], ls=":", lw=1, label=f"compute peak {peak:,.0f} GOPS")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_xlabel("operational intensity (useful ops per DRAM byte)")
        ax.set_ylabel("attained performance (useful GOPS)")
        ax.set_title(f"Roofline: {_label(model)}, {results.headline:.0%} sparse, packed", loc="left")
        ax.grid(True, which="major", alpha=0.3)
        _legend_outside(ax)
        fig.tight_layout()
    return fig


def utilisation(results: Results) -> Figure:
    """MAC utilisation per layer before (sparse weights on the dense schedule) and after
    packing, at the headline sparsity; layer names on the axis, depthwise layers marked."""
    models = results.spec.models
    with _style():
        fig, axes = plt.subplots(len(models), 1, figsize=(11, 3.3 * len(models)))
        for ax, model in zip(np.atleast_1d(axes), models, strict=True):
            frame = results.packing
            layers = frame[(frame.model == model) & np.isclose(frame.sparsity, results.headline)]
            x = np.arange(len(layers))
            ax.bar(x - 0.2, layers["util_before"], width=0.4, color=GREY, label="unpacked")
            ax.bar(x + 0.2, layers["util_after"], width=0.4, color=OKABE_ITO["green"], label="packed")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("MAC utilisation")
            ax.set_title(
                f"{_label(model)}, {results.headline:.0%} sparse: useful MACs / issued MAC slots "
                f"(red names: depthwise)",
                loc="left",
            )
            ax.grid(axis="y", alpha=0.3)
            _layer_axis(ax, layers["layer"], layers["kind"])
            _legend_outside(ax)
        fig.tight_layout()
    return fig


def speedup_vs_sparsity(results: Results) -> Figure:
    """Packing's speedup (HBM2), HBM2's speedup over DDR4 (with the paper's ratios), and the
    weights packing prunes by conflicts, against sparsity, per model."""
    curves = sparsity_curves(results)
    spec = results.spec
    ddr4 = _memory(spec, spec.ddr4_designs[0])
    with _style():
        fig, (left, right, cost) = plt.subplots(1, 3, figsize=(13, 3.9))
        for model, rows in results.packing_totals.groupby("model", sort=False):
            cost.plot(
                rows["sparsity"] * 100,
                rows["pruned_share"] * 100,
                marker=_marker(results, str(model)),
                color=_color(results, str(model)),
                label=_label(str(model)),
            )
        cost.set_title("cost: weights pruned by packing conflicts", loc="left")
        cost.set_ylabel("pruned share of |weight| (%)")
        for model, rows in curves.groupby("model", sort=False):
            name = str(model)
            pct, color, marker = rows["sparsity"] * 100, _color(results, name), _marker(results, name)
            left.plot(pct, rows["packed_over_unpacked"], marker=marker, color=color, label=_label(name))
            right.plot(
                pct, rows["hbm2_over_ddr4"], marker=marker, color=color, label=f"{_label(name)} packed"
            )
            right.plot(
                pct,
                rows["hbm2_over_ddr4_unpacked"],
                marker=marker,
                mfc="none",
                ls=":",
                color=color,
                label=f"{_label(name)} unpacked",
            )
            paper = spec.paper.hbm2_over_ddr4.get(name)
            if paper:
                right.axhline(paper, color=color, ls="--", lw=0.9, label=f"paper: {_label(name)} {paper:g}x")
        left.set_title("packed vs unpacked (HBM2)", loc="left")
        right.set_title(f"HBM2 vs {ddr4}", loc="left")
        for ax in (left, right, cost):
            ax.set_xlabel("weight sparsity (%)")
            ax.grid(alpha=0.3)
        left.set_ylabel("speedup (×, frames/s ratio)")
        right.set_ylabel("speedup (×, frames/s ratio)")
        # one legend per panel below it: the panels' data stay clear
        for ax in (left, right, cost):
            ax.legend(
                loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2 if ax is right else 1, frameon=False
            )
        fig.tight_layout()
    return fig


def pareto(results: Results) -> Figure | None:
    """The search's trials in the power / frames-per-second plane, and the Pareto front."""
    table = results.search
    if table is None or "fps" not in table:
        return None
    with _style():
        fig, ax = plt.subplots(figsize=(8.5, 5))
        done = table.dropna(subset=["fps", "power_w"])
        ok = done["feasible"].fillna(False).astype(bool)
        ax.scatter(
            done.loc[ok, "power_w"],
            done.loc[ok, "fps"],
            s=16,
            color=GREY,
            alpha=0.7,
            label="feasible designs",
        )
        ax.scatter(
            done.loc[~ok, "power_w"],
            done.loc[~ok, "fps"],
            s=18,
            marker="x",
            color=OKABE_ITO["vermillion"],
            alpha=0.7,
            label="infeasible (over the device)",
        )
        front = search_pareto(results)
        ax.plot(
            front["power_w"],
            front["fps"],
            "o-",
            color=OKABE_ITO["blue"],
            ms=5,
            label=f"Pareto front ({len(front)} designs)",
        )
        base = results.comparison
        default = base[
            (base.model == "resnet50")
            & np.isclose(base.sparsity, results.headline)
            & (base.design == results.spec.hbm2_design)
            & (base["mode"] == "packed")
        ]
        if len(default):
            ax.scatter(
                default["power_w"],
                default["fps"],
                marker="*",
                s=240,
                color=OKABE_ITO["orange"],
                edgecolor="black",
                zorder=5,
                label="the comparison's HBM2 design",
            )
        ax.set_xlabel("power (W)")
        ax.set_ylabel("throughput (frames/s)")
        ax.set_title(f"Design-space search: ResNet-50 packed on HBM2, {len(done)} trials", loc="left")
        ax.grid(alpha=0.3)
        _legend_outside(ax)
        fig.tight_layout()
    return fig


def throughput(results: Results) -> Figure:
    """Frames/s of every model, design and mode at the headline sparsity, values on the bars."""
    frame = results.comparison[np.isclose(results.comparison.sparsity, results.headline)]
    designs = list(results.spec.designs)
    modes = results.spec.modes
    models = results.spec.models
    hatches = ["", "//", "..", "xx"]
    with _style():
        fig, axes = plt.subplots(1, len(models), figsize=(4.3 * len(models), 4.2), sharey=True)
        width = 0.8 / len(modes)
        for ax, model in zip(np.atleast_1d(axes), models, strict=True):
            rows = frame[frame.model == model]
            for i, mode in enumerate(modes):
                values = [rows[(rows.design == d) & (rows["mode"] == mode)]["fps"].iloc[0] for d in designs]
                bars = ax.bar(
                    np.arange(len(designs)) + (i - (len(modes) - 1) / 2) * width,
                    values,
                    width,
                    color=SERIES[i % len(SERIES)],
                    hatch=hatches[i % len(hatches)],
                    edgecolor="white",
                    label=mode,
                )
                ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], rotation=90, padding=2, fontsize=6.5)
            ax.set_xticks(np.arange(len(designs)), [_memory(results.spec, d) for d in designs])
            ax.set_title(f"{_label(model)}, {results.headline:.0%} sparse", loc="left")
            ax.set_yscale("log")
            ax.grid(axis="y", alpha=0.3)
        first = np.atleast_1d(axes)[0]
        top = frame["fps"].max()
        first.set_ylim(top=top * 6)  # room for the values above the bars (log scale)
        first.set_ylabel("throughput (frames/s, log scale)")
        _legend_outside(np.atleast_1d(axes)[-1], title="mode")
        fig.tight_layout()
    return fig


def buffer_sensitivity(results: Results) -> Figure | None:
    """HBM2's speedup over DDR4 against the stream-buffer size: small buffers spill feature maps
    to DRAM, which is where DDR4 falls behind. The design's own buffer is marked on each curve;
    the paper's ratios are drawn and named in the legend."""
    sweep = results.buffer_sweep
    if sweep.empty:
        return None
    spec = results.spec
    ddr4, hbm2 = spec.ddr4_designs[0], spec.hbm2_design
    own = hw.load_architecture(spec.designs[hbm2].arch).stream_buffer_kb
    with _style():
        fig, ax = plt.subplots(figsize=(8.5, 4.6))
        for model, rows in sweep.groupby("model", sort=False):
            name = str(model)
            fps = rows.pivot_table(index="stream_buffer_kb", columns=["design", "mode"], values="fps")
            color, marker = _color(results, name), _marker(results, name)
            packed = fps[(hbm2, "packed")] / fps[(ddr4, "packed")]
            ax.plot(fps.index, packed, marker=marker, color=color, label=f"{_label(name)} packed")
            ax.plot(
                fps.index,
                fps[(hbm2, "unpacked")] / fps[(ddr4, "unpacked")],
                marker=marker,
                mfc="none",
                ls=":",
                color=color,
                label=f"{_label(name)} unpacked",
            )
            if own in packed.index:
                ax.scatter([own], [packed[own]], marker="*", s=260, color=color, edgecolor="black", zorder=5)
            paper = spec.paper.hbm2_over_ddr4.get(name)
            if paper:
                ax.axhline(paper, color=color, ls="--", lw=0.9, label=f"paper: {_label(name)} {paper:g}x")
        ax.scatter(
            [], [], marker="*", s=160, color="white", edgecolor="black", label=f"the design ({own:,.0f} KB)"
        )
        ax.set_xscale("log", base=2)
        sizes = sorted(sweep["stream_buffer_kb"].unique())
        ax.set_xticks(sizes, [f"{size:,.0f}" for size in sizes])
        ax.minorticks_off()
        ax.set_xlabel("stream buffer (KB, log scale)")
        ax.set_ylabel(f"speedup of HBM2 over {_memory(spec, ddr4)} (×)")
        ax.set_title(f"Where HBM2's gain comes from ({results.headline:.0%} sparse)", loc="left")
        ax.grid(alpha=0.3)
        _legend_outside(ax)
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


# -- uncertainty bands as error bars (plotly figure specs for report.html) -----------------------

# the paper's four kinds of ratio (uncertainty.csv's `figure`) and the searched design's
BAND_TITLES = {
    "hbm2_over_ddr4": "HBM2 over DDR4, same array (packed)",
    "dse_hbm2_over_ddr4": "HBM2 over DDR4, the searched design",
    "over_cpu": "Over the server CPU (published)",
    "v100_speed": "Speed over the V100 (published)",
    "v100_power_efficiency": "Power efficiency over the V100 (published)",
}


def _error_y(frame: pd.DataFrame, p5: str, p50: str, p95: str) -> dict[str, Any]:
    """A plotly asymmetric error bar from 5/50/95% columns: up to p95, down to p5."""
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[p95] - frame[p50]).tolist(),
        "arrayminus": (frame[p50] - frame[p5]).tolist(),
        "visible": True,
    }


def ratio_band_figures(ratios: pd.DataFrame) -> list[dict[str, Any]]:
    """One plotly figure per kind of ratio in uncertainty.csv: per comparison (e.g. each DDR4
    design) the median over the models with its 5-95% band as error bars, and the paper's figure
    beside it. Plain dicts (`{"title", "data", "layout"}`): the report embeds them as JSON."""
    figures = []
    for figure, title in BAND_TITLES.items():
        rows = ratios[ratios["figure"] == figure]
        if rows.empty:
            continue
        data: list[dict[str, Any]] = []
        for i, (label, group) in enumerate(rows.groupby("comparison", sort=False)):
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{label}: median, 5-95% band",
                    "x": [MODEL_LABELS.get(m, m) for m in group["model"]],
                    "y": group["p50"].tolist(),
                    "error_y": _error_y(group, "p5", "p50", "p95"),
                    "marker": {"color": SERIES[i % len(SERIES)], "size": 9},
                }
            )
        paper = rows.dropna(subset=["paper"]).drop_duplicates("model")
        if len(paper):
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": "the paper",
                    "x": [MODEL_LABELS.get(m, m) for m in paper["model"]],
                    "y": paper["paper"].tolist(),
                    "marker": {"color": OKABE_ITO["black"], "symbol": "x", "size": 11},
                }
            )
        layout = {
            "title": {"text": title},
            "yaxis": {"title": {"text": "ratio (x)"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.2},
            "margin": {"t": 50, "b": 90},
        }
        figures.append({"name": f"band_{figure}", "title": title, "data": data, "layout": layout})
    return figures


def design_band_figures(comparison: pd.DataFrame, headline: float) -> list[dict[str, Any]]:
    """Frames/s and frames/s/W of every design and mode at the headline sparsity, median with its
    5-95% band (comparison.csv's `<figure>_p5/_p50/_p95`), one bar group per model."""
    figures = []
    at = comparison[np.isclose(comparison["sparsity"], headline)]
    for figure, unit in (("fps", "frames/s"), ("fps_per_w", "frames/s/W")):
        columns = [f"{figure}_p5", f"{figure}_p50", f"{figure}_p95"]
        if not set(columns) <= set(at.columns):
            continue
        rows = at.dropna(subset=columns)
        if rows.empty:
            continue
        data = []
        for i, ((design, mode), group) in enumerate(rows.groupby(["design", "mode"], sort=False)):
            data.append(
                {
                    "type": "bar",
                    "name": f"{design} ({group['memory'].iloc[0]}), {mode}" if "memory" in group else design,
                    "x": [MODEL_LABELS.get(m, m) for m in group["model"]],
                    "y": group[f"{figure}_p50"].tolist(),
                    "error_y": _error_y(group, *columns),
                    "marker": {"color": SERIES[i % len(SERIES)]},
                }
            )
        title = f"{unit} at {headline:.0%} sparsity: median and 5-95% band"
        layout = {
            "title": {"text": title},
            "barmode": "group",
            "yaxis": {"title": {"text": unit}, "type": "log"},
            "legend": {"orientation": "h", "y": -0.2},
            "margin": {"t": 50, "b": 110},
        }
        figures.append({"name": f"band_designs_{figure}", "title": title, "data": data, "layout": layout})
    return figures
