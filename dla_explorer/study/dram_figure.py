"""The report's per-layer DRAM figure (docs/report.md#dram-traffic-per-layer).

For the headline designs of an experiment (the packed rows of the HBM2 design and of every DDR4
design at the headline sparsity, each model), the design's frame is simulated at memory fidelity
2 (each layer's requests replayed through the cycle-level DRAM model, the frame as one stream:
sim/traffic.py) and its per-layer, per-channel traffic written to `dram_layers.csv` in the results
folder. The report turns that table into one interactive plotly figure a design: the bandwidth
each channel (HBM2: pseudo-channel) achieves over each layer's time, and the stall per layer (the
time the array waits on memory), the layer's name on hover.

Cost: one level-2 replay a design (packing is cached by the experiment's own simulation):
~0.05-0.1 s for packed ResNet-50 on this machine, so well under a second for the paper study.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.core.fileio import write_csv_atomic
from dla_explorer.dse.rescore import dram_layers
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator

FILE = "dram_layers.csv"  # beside report.html (an experiment) or in a search folder (its best design)
MODE = "packed"  # the comparison's headline rows
FIDELITY_TEXT = (
    "memory fidelity 2 (every request of the frame replayed through the cycle-level DRAM model as "
    "one stream; docs/dram.md)"
)
FIGURE_HEIGHT = 520  # px
KEYS = ("model", "design", "memory")


def headline_designs(spec: Any) -> list[str]:
    """The designs of the paper comparison's HBM2-vs-DDR4 rows: the HBM2 design, every DDR4 one."""
    return list(dict.fromkeys([spec.hbm2_design, *spec.ddr4_designs]))


def headline_layers(
    spec: Any,
    headline: dict[str, Any],
    device: hw.Device,
    hardware: dict[str, tuple[hw.Architecture, hw.Memory]],
) -> pd.DataFrame:
    """The per-layer, per-channel DRAM table of every headline design and model (empty when the
    experiment has no packed mode or no memory names its DRAM device)."""
    if MODE not in spec.modes:
        return pd.DataFrame()
    frames = []
    for model, sparse in headline.items():
        for name in headline_designs(spec):
            arch, memory = hardware[name]
            if not memory.dram:  # no cycle model for this memory: nothing to replay
                continue
            result = simulator.simulate(sparse, arch, memory, device, MODE, spec.batch, fidelity=2)
            frame = dram_layers(result)
            for column, value in zip(KEYS, (model, name, memory.name), strict=True):
                frame.insert(KEYS.index(column), column, value)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_headline_layers(
    spec: Any,
    headline: dict[str, Any],
    device: hw.Device,
    hardware: dict[str, tuple[hw.Architecture, hw.Memory]],
    folder: Path,
) -> Path | None:
    """Write `dram_layers.csv` into the results folder (None when there is nothing to replay)."""
    frame = headline_layers(spec, headline, device, hardware)
    if frame.empty:
        return None
    path = folder / FILE
    write_csv_atomic(frame, path)
    return path


def load(path: Path, label: dict[str, str] | None = None) -> pd.DataFrame | None:
    """A `dram_layers.csv` (an experiment's, or a search's with `label` naming its design)."""
    if not path.is_file():
        return None
    # names stay text (a Sequential's layers are called "0", "2", ...)
    text = [c for c in (*KEYS, "layer", "kind") if c in pd.read_csv(path, nrows=0).columns]
    frame = pd.read_csv(path, dtype={c: str for c in text})
    frame[text] = frame[text].fillna("")
    if frame.empty:
        return None
    for column in KEYS:
        if column not in frame:
            frame[column] = (label or {}).get(column, "")
    if "layer_index" not in frame:  # written before the column existed: layers in row order
        frame["layer_index"] = pd.factorize(frame["start_s"])[0]
    return frame


# -- the figure ----------------------------------------------------------------------------------


def figure(frame: pd.DataFrame, title: str) -> dict:
    """A plotly figure (as a JSON-ready dict) of one design's table: a heatmap of the bandwidth of
    each channel over the frame (one brick per layer, as wide as the layer's time) above the
    stall per layer. Data go in as plain lists (plotly would encode numpy arrays as base64
    typed arrays: smaller, but no longer readable in the page)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    layers = frame.drop_duplicates("layer_index").sort_values("layer_index")
    start_us = layers["start_s"].to_numpy(np.float64) * 1e6
    time_us = layers["time_s"].to_numpy(np.float64) * 1e6
    edges = np.append(start_us, start_us[-1] + time_us[-1]) if len(start_us) else start_us
    grid = frame.pivot_table(index="channel", columns="layer_index", values="bandwidth_gbps", aggfunc="sum")
    grid = grid.reindex(columns=layers["layer_index"], fill_value=0.0)
    names = layers["layer"].astype(str).to_numpy()
    hover = np.broadcast_to(names, grid.shape)

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.06)
    fig.add_trace(
        go.Heatmap(
            x=edges.tolist(),
            y=grid.index.to_list(),
            z=grid.to_numpy().tolist(),
            text=hover.tolist(),
            colorscale="Viridis",
            zmin=0,
            colorbar={"title": {"text": "GB/s"}, "len": 0.62, "y": 0.69},
            hovertemplate="%{text}<br>channel %{y}<br>%{z:.2f} GB/s<extra></extra>",
            name="bandwidth",
        ),
        row=1,
        col=1,
    )
    detail = np.column_stack(
        [
            names,
            layers["compute_s"].to_numpy() * 1e6,
            layers["memory_s"].to_numpy() * 1e6,
            frame.groupby("layer_index")["bytes"].sum().reindex(layers["layer_index"]).to_numpy() / 1e6,
        ]
    )
    fig.add_trace(
        go.Bar(
            x=start_us.tolist(),
            y=(layers["stall_s"].to_numpy() * 1e6).tolist(),
            width=time_us.tolist(),
            offset=0,
            customdata=detail.tolist(),
            marker={"color": "#D55E00"},
            hovertemplate="%{customdata[0]}<br>stall %{y:.2f} µs<br>compute %{customdata[1]:.2f} µs"
            "<br>memory %{customdata[2]:.2f} µs<br>%{customdata[3]:.3f} MB<extra></extra>",
            name="stall",
        ),
        row=2,
        col=1,
    )
    fig.update_layout(
        title={"text": title},
        height=FIGURE_HEIGHT,
        showlegend=False,
        margin={"l": 60, "r": 20, "t": 50, "b": 45},
    )
    # integer channel ticks (at most about 8 labels)
    fig.update_yaxes(
        title_text="channel", tickmode="linear", tick0=0, dtick=max(1, len(grid) // 8), row=1, col=1
    )
    fig.update_yaxes(title_text="stall (µs)", row=2, col=1)
    fig.update_xaxes(title_text="time in the frame (µs)", row=2, col=1)
    return json.loads(fig.to_json())


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row a design: traffic, stall and how evenly the channels carry it."""
    rows = []
    for (model, design, memory), rows_of in frame.groupby(list(KEYS), sort=False):
        per_layer = rows_of.drop_duplicates("layer_index")
        frame_s = per_layer["time_s"].sum()
        per_channel = rows_of.groupby("channel")["bytes"].sum()
        rows.append(
            {
                "model": model,
                "design": design,
                "memory": memory,
                "channels": int(per_channel.size),
                "MB / frame": rows_of["bytes"].sum() / 1e6,
                "frame (µs)": frame_s * 1e6,
                "stall (µs)": per_layer["stall_s"].sum() * 1e6,
                "memory-bound layers": int((per_layer["memory_s"] > per_layer["compute_s"]).sum()),
                "mean GB/s a channel": per_channel.mean() / frame_s / 1e9 if frame_s > 0 else 0.0,
                "busiest channel GB/s": per_channel.max() / frame_s / 1e9 if frame_s > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows)


def caption(model: str, design: str, memory: str, channels: int) -> str:
    unit = "pseudo-channel" if "hbm" in memory.lower() else "channel"
    return (
        f"Packed {model} on {design} ({memory}, {channels} {unit}s), at {FIDELITY_TEXT}. Top: the "
        f"bandwidth each {unit} achieves over each layer's time (the layer's DRAM bytes on that "
        f"{unit} / the layer's time). Bottom: the stall per layer, the time the array waits on "
        "memory (with double buffering max(0, memory - compute) plus the access latency). Hover "
        f"for the layer. Data: {FILE}."
    )


LOADER = """<script>document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.dram-figure").forEach(function (div) {
    var fig = JSON.parse(document.getElementById(div.id + "-data").textContent);
    Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
  });
});</script>"""


def figures_html(frame: pd.DataFrame, prefix: str = "dram") -> list[str]:
    """One <figure> a design: the plotly div, its data as JSON and its caption; plus the loader
    (the page embeds plotly.js once, and the loader runs after it, on DOMContentLoaded)."""
    parts = []
    for i, (keys, rows) in enumerate(frame.groupby(list(KEYS), sort=False)):
        model, design, memory = (str(k) for k in keys)
        channels = int(rows["channel"].nunique())
        fig = figure(rows, f"DRAM traffic per layer: {model} on {design} ({memory})")
        data = json.dumps(fig, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        div = f"{prefix}-{i}"
        parts.append(
            f'<figure><div id="{div}" class="dram-figure" data-model="{html.escape(model)}" '
            f'data-design="{html.escape(design)}" style="height:{FIGURE_HEIGHT}px"></div>'
            f'<script type="application/json" id="{div}-data">{data}</script>'
            f"<figcaption>{html.escape(caption(model, design, memory, channels))}</figcaption></figure>"
        )
    if parts:
        parts.append(LOADER)
    return parts
