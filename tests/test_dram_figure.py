"""The report's per-layer DRAM figure (study/dram_figure.py, docs/report.md "DRAM traffic per
layer"): the table's numbers add up to the simulator's, and the page carries one interactive
figure a headline design, with plotly embedded."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator, traffic
from dla_explorer.sparsity import pruning
from dla_explorer.study import dram_figure, report

DEVICE = hw.load_device("stratix10_mx2100")
DESIGNS = {"hbm2": ("dla_s10mx", "hbm2_x2"), "ddr4_x1": ("dla_s10mx", "ddr4_2666_x1")}


@pytest.fixture(scope="module")
def net():
    """Maps that spill the stream buffer, a strided conv, a pool and a streaming classifier."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(16, 64, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(128 * 16, 512, bias=False),
    )
    return pruning.prune(model, "random", 0.7, input_shape=(1, 16, 32, 32))


@pytest.fixture(scope="module")
def hardware():
    return {n: (hw.load_architecture(a), hw.load_memory(m)) for n, (a, m) in DESIGNS.items()}


@pytest.fixture(scope="module")
def frame(net, hardware, tmp_path_factory):
    spec = SimpleNamespace(hbm2_design="hbm2", ddr4_designs=["ddr4_x1"], modes=["packed"], batch=1)
    folder = tmp_path_factory.mktemp("dram_figure")
    path = dram_figure.write_headline_layers(spec, {"net": net}, DEVICE, hardware, folder)
    assert path == folder / dram_figure.FILE
    return dram_figure.load(path)


def test_the_table_adds_up_to_the_simulator(net, hardware, frame):
    assert set(frame["design"]) == set(DESIGNS) and set(frame["model"]) == {"net"}
    for name, (arch, memory) in hardware.items():
        res = simulator.simulate(net, arch, memory, DEVICE, "packed", fidelity=2)
        layers = res.layers
        rows = frame[frame["design"] == name]
        assert rows["channel"].nunique() == memory.channels
        per_layer = rows.groupby("layer_index", sort=True)
        # every layer's bytes over its channels are the simulator's DRAM bytes of that layer
        np.testing.assert_allclose(per_layer["bytes"].sum(), layers["dram_bytes"], rtol=1e-9)
        # the replayed 64-B requests cover them, rounded up at most a line per run (a weight
        # fetch, or one channel group's slice of a map read or written)
        requested = per_layer["requested_bytes"].sum().to_numpy()
        runs = layers["weight_fetches"].round().clip(lower=1) + layers["slices"].clip(lower=1) * (
            np.ceil(res.table.in_channels / arch.c_vec) + np.ceil(res.table.out_channels / arch.c_vec)
        )
        assert (requested >= layers["dram_bytes"] - 1e-6).all()
        assert (requested - layers["dram_bytes"] <= 64 * runs).all()
        # stall: the model's layer time beyond compute; double buffered, the part of the memory
        # time compute does not hide plus the access latency (the cycle model's unloaded random read)
        assert arch.double_buffering
        latency = traffic.device_table(memory.dram)["random_read_qd1"]["avg_read_latency_ns"] * 1e-9
        first = per_layer.first()
        np.testing.assert_allclose(
            first["stall_s"], np.maximum(0, layers["memory_s"] - layers["compute_s"]) + latency, rtol=1e-9
        )
        assert first["stall_s"].sum() == pytest.approx(res.totals.stall_s)
        # the time axis: layer after layer, to the frame's latency
        ends = (first["start_s"] + first["time_s"]).to_numpy()
        np.testing.assert_allclose(first["start_s"].to_numpy()[1:], ends[:-1])
        assert ends[-1] == pytest.approx(res.totals.latency_s)
        # bandwidth = the channel's bytes over the layer's time
        np.testing.assert_allclose(rows["bandwidth_gbps"] * rows["time_s"] * 1e9, rows["bytes"], rtol=1e-9)
    # DDR4 (one channel) is memory-bound somewhere in this net; HBM2 hides more of its traffic
    stall = frame.drop_duplicates(["design", "layer_index"]).groupby("design")["stall_s"].sum()
    assert stall["ddr4_x1"] > stall["hbm2"]


def test_page_carries_a_figure_per_headline_design(frame, tmp_path):
    doc = report._Document("t")
    report._dram_section(doc, [frame], "intro")
    html_path, md_path = doc.write(tmp_path)
    page = html_path.read_text()
    assert not re.search(r"<script[^>]+src=", page) and "<link" not in page  # self-contained
    assert page.count(report._plotly_js()) == 1  # plotly.js embedded, once
    figures = re.findall(
        r'<div id="(dram-\d+)" class="dram-figure" data-model="([^"]+)" data-design="([^"]+)"', page
    )
    assert {(m, d) for _, m, d in figures} == {("net", d) for d in DESIGNS}
    for div, _, design in figures:
        data = re.search(rf'<script type="application/json" id="{div}-data">(.*?)</script>', page, re.S)
        fig = json.loads(data.group(1))
        heat, bars = fig["data"]
        rows = frame[frame["design"] == design]
        layers = rows.drop_duplicates("layer_index")
        # one brick per layer and channel; the bricks' edges are the layers' start and end times
        z = np.array(heat["z"], dtype=float)
        assert z.shape == (rows["channel"].nunique(), len(layers))
        assert z.sum() == pytest.approx(rows["bandwidth_gbps"].sum())
        assert np.array(heat["x"], float)[-1] == pytest.approx(
            (layers["start_s"] + layers["time_s"]).max() * 1e6
        )
        # the layer names on hover, the stall per layer in µs
        assert list(np.array(heat["text"])[0]) == list(layers["layer"])
        assert sum(bars["y"]) == pytest.approx(layers["stall_s"].sum() * 1e6)
        assert [c[0] for c in bars["customdata"]] == list(layers["layer"])
    captions = re.findall(r"<figcaption>([^<]*memory fidelity 2[^<]*)</figcaption>", page)
    assert len(captions) == len(DESIGNS)
    assert all("stall" in c and "bandwidth" in c for c in captions)
    markdown = md_path.read_text()
    assert "DRAM traffic per layer" in markdown and dram_figure.FILE in markdown
    summary = dram_figure.summary(frame).set_index("design")
    assert summary.loc["hbm2", "channels"] == 32 and summary.loc["ddr4_x1", "channels"] == 1
    assert summary["MB / frame"].nunique() == 1  # the same traffic on both memories
    assert not math.isnan(summary["stall (µs)"].sum())


def test_no_cycle_model_no_figure(net, hardware, tmp_path):
    arch, memory = hardware["ddr4_x1"]
    flat = {"ddr4_x1": (arch, memory.model_copy(update={"dram": ""})), "hbm2": hardware["hbm2"]}
    spec = SimpleNamespace(hbm2_design="hbm2", ddr4_designs=["ddr4_x1"], modes=["packed"], batch=1)
    frame = dram_figure.headline_layers(spec, {"net": net}, DEVICE, flat)
    assert set(frame["design"]) == {"hbm2"}
    spec.modes = ["dense"]  # the figure is of the packed headline rows only
    assert dram_figure.write_headline_layers(spec, {"net": net}, DEVICE, flat, tmp_path) is None
    assert dram_figure.load(tmp_path / dram_figure.FILE) is None
    doc = report._Document("t")
    report._dram_section(doc, [pd.DataFrame(), None], "intro")
    assert not doc.html and not doc.interactive


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
def test_figures_render_in_a_browser(frame, tmp_path):
    """Headless chromium opens the page from disk (no network) and plotly draws every figure: a
    heatmap and the stall bars in each design's div."""
    doc = report._Document("t")
    report._dram_section(doc, [frame], "intro")
    html_path, _ = doc.write(tmp_path)
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html_path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = out.stdout
    assert dom.count('class="dram-figure js-plotly-plot"') == len(DESIGNS), out.stderr[-500:]
    assert dom.count('class="heatmaplayer mlayer"') == len(DESIGNS)
    assert dom.count('<g class="trace bars"') == len(DESIGNS)
