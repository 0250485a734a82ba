"""The report of a search folder (tables, provenance, explorer data), figure files for papers and
`report A B` (two runs side by side). The browser test is in test_report_browser.py; the report
of a whole experiment is exercised in test_experiment.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dla_explorer.cli import main
from dla_explorer.core.errors import UsageError
from dla_explorer.dse.spec import load_spec
from dla_explorer.packing import Geometry, pack
from dla_explorer.sim import config as hw
from dla_explorer.sparsity import checkpoint
from dla_explorer.study import explorer, report

from .report_data import tiny_search


@pytest.fixture(scope="module")
def search_folder(tmp_path_factory) -> Path:
    return tiny_search(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def written(search_folder) -> tuple[str, str]:
    html_path, md_path = report.write_report(search_folder)
    return html_path.read_text(), md_path.read_text()


def _payload(page: str) -> dict:
    data = re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', page, re.S)
    assert data is not None
    return json.loads(data.group(1).replace("<\\/", "</"))


def _brute_front(rows: pd.DataFrame) -> set[int]:
    """Designs no other design beats on both frames/s (max) and power (min), by brute force."""
    fps, watts = rows["fps"].to_numpy(), rows["power_w"].to_numpy()
    keep = [
        not np.any((fps >= f) & (watts <= w) & ((fps > f) | (watts < w)))
        for f, w in zip(fps, watts, strict=True)
    ]
    return set(rows.loc[np.array(keep), "trial"].astype(int))


def test_front_table_lists_every_front_design_with_its_configuration(search_folder, written):
    page, markdown = written
    table = pd.read_csv(search_folder / "search.csv")
    front = _brute_front(table[table["feasible"].astype(bool)])
    heading = re.search(r"## Search: all (\d+) designs on the Pareto front", markdown)
    assert heading is not None and int(heading.group(1)) == len(front)
    rows = re.findall(r"^\| (\d+) \|", markdown, re.M)
    assert {int(r) for r in rows} == front
    for column in ("k_vec", "c_vec", "q_vec", "lanes", "clock (MHz)", "stream buffer (KB)", "alpha", "gamma"):
        assert f" {column} |" in markdown
    for column in ("memory", "frames/s", "W", "frames/s/W", "pruned (%)", "DSP (%)", "M20K (%)", "ALM (%)"):
        assert f" {column} |" in markdown
    assert page.count('<table class="sortable">') >= 1


def test_explorer_data_carries_resources_and_pruned_share(search_folder, written):
    payload = _payload(written[0])
    designs = payload["designs"]
    table = pd.read_csv(search_folder / "search.csv").set_index("trial")
    device = hw.load_device("stratix10_mx2100")
    trials = np.array(designs["trial"])
    assert set(trials) == set(table.index)
    # the page rounds to 6 decimals
    assert np.allclose(designs["dsp_share"], table.loc[trials, "dsp"] / device.dsp_blocks, rtol=0, atol=1e-6)
    assert np.allclose(designs["alm_share"], table.loc[trials, "alm"] / device.alms, rtol=0, atol=1e-6)
    # the pruned share of one design against packing it here
    i = int(np.argmax(np.array(designs["alpha"])))
    row = table.loc[trials[i]]
    sparse = checkpoint.load(search_folder.parent / "tiny.npz")
    packed = pack(
        sparse, Geometry(int(row["k_vec"]), 1), "packed", alpha=int(row["alpha"]), gamma=row["gamma"]
    )
    expected = packed.totals(int(row["c_vec"]))["pruned_share"]
    assert expected > 0 and designs["pruned_share"][i] == pytest.approx(expected, abs=1e-6)
    # every design has a drill-down, one value per layer of the model
    layers = payload["layers"]["tiny"]["names"]
    assert set(payload["drill"]) == {str(t) for t in trials}
    assert all(len(d["compute_us"]) == len(layers) for d in payload["drill"].values())
    assert "depthwise" in payload["layers"]["tiny"]["kinds"]


def test_page_is_one_offline_file_with_provenance(search_folder, written):
    page, markdown = written
    assert not re.search(r"<script[^>]+src=", page), "no external script"
    assert "<link" not in page
    spec = load_spec(search_folder.parent / "spec.yaml")
    for text in (
        "Optimized FPGA-based Deep Learning Accelerator for Sparse CNN using High Bandwidth Memory",
        "FCCM 2021",
        spec.content_hash(),
        "dla-explorer 0.1.0",
        # the search ran at the default memory fidelity, 1 (the report said level 0: no
        # table carried the level and the report assumed it)
        "level 1 (analytical model with DRAM efficiency per traffic class from the cycle model), "
        "no uncertainty bands",
    ):
        assert text in page and text in markdown, text
    assert "Plotly" in page  # the library itself, embedded


def test_drilldowns_are_cached_and_reused(search_folder, written, monkeypatch):
    cache = search_folder / "explorer-cache.json"
    assert cache.is_file()

    def fail(*args, **kwargs):
        raise AssertionError("the drill-downs should come from the cache")

    monkeypatch.setattr(explorer, "drilldowns", fail)
    html_path, _ = report.write_report(search_folder)
    assert _payload(html_path.read_text())["drill"] == _payload(written[0])["drill"]


def test_figure_files_for_papers(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2], [3, 4], label="a")
    png = report._save(fig, tmp_path, "figure", report.parse_formats("png, svg,pdf"))
    assert png.startswith(b"\x89PNG")
    with Image.open(tmp_path / "figure.png") as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert (tmp_path / "figure.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "figure.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(UsageError, match="--format: 'png,bmp'"):
        report.parse_formats("png,bmp")


def test_side_by_side_highlights_changes():
    a = pd.DataFrame({"model": ["x", "y", "z"], "fps": [100.0, 200.0, 50.0]})
    b = pd.DataFrame({"model": ["x", "y", "w"], "fps": [100.5, 220.0, 70.0]})
    table, marks = report._side_by_side(a, b, ["model"], {"fps": "frames/s"})
    rows = dict(zip(table["model"], marks[:, 2], strict=True))  # column 2: frames/s B
    assert rows == {"x": False, "y": True, "z": True, "w": True}  # +0.5%: noise; +10%; only in one run
    assert table.set_index("model").loc["y", "frames/s B/A"] == pytest.approx(1.1)


def test_report_two_folders_side_by_side(search_folder, tmp_path, capsys):
    other = tiny_search(tmp_path, name="tiny_report", seed=1)
    code = main(["report", str(search_folder), str(other)])
    assert code == 0
    html_path = search_folder / f"report_vs_{other.name}.html"
    page = html_path.read_text()
    row = re.search(r"<td class=\"text\">sampler\.seed</td>(.*?)</tr>", page)
    assert row is not None and row.group(1).endswith('<td class="text changed">1</td>')
    assert "Design-space search" in page


def test_report_cli_errors(tmp_path, capsys):
    code = main(["report", str(tmp_path), "--format", "gif"])
    assert code == 2 and "--format" in capsys.readouterr().err
    code = main(["report", str(tmp_path)])
    assert code == 1 and "not a results folder" in capsys.readouterr().err


def test_report_of_a_missing_folder_says_not_found(tmp_path, capsys):
    """A mistyped folder: 'not found' (it said it held no experiment.json or spec.json)."""
    assert main(["report", str(tmp_path / "resuts")]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"dla-explorer report: error: {tmp_path / 'resuts'}: folder not found"
    )


def test_a_sweep_report_names_each_design_by_its_grid_point(tmp_path):
    """sweep.csv is appended in packing order, not point order: the report named the front's
    designs by row number, which is another design's point; and dense and packed designs of one
    configuration read alike without their mode."""
    import torch
    import yaml

    from dla_explorer.dse.sweep import run_sweep
    from dla_explorer.sparsity import pruning

    from .conftest import TINY_SHAPE, TinyNet

    torch.manual_seed(0)
    sparse = pruning.prune(TinyNet().eval(), "random", 0.8, input_shape=TINY_SHAPE, calibration_size=1)
    spec = {
        "name": "tiny_sweep",
        "models": [{"checkpoint": str(checkpoint.save(sparse, tmp_path / "tiny.npz")), "name": "tiny"}],
        "device": "stratix10_mx2100",
        "modes": ["dense", "packed"],
        "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
        "space": {"k_vec": [16, 32], "clock_mhz": [250.0, 400.0], "alpha": [2, 8]},
        "objectives": {"fps": "maximize", "power_w": "minimize"},
        "results": str(tmp_path / "results"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    folder = load_spec(path).results_dir()
    run_sweep(load_spec(path), str(path), progress=False)
    table = pd.read_csv(folder / "sweep.csv")
    assert not (table["point"].to_numpy() == np.arange(len(table))).all()  # the case that went wrong
    html_path, md_path = report.write_report(folder)
    markdown = md_path.read_text()
    assert "## Sweep: all" in markdown and "| point | k_vec | c_vec |" in markdown
    assert "| accuracy |" not in markdown  # no column of dashes for a metric the sweep lacks
    by_point = table.set_index("point")
    rows = re.findall(r"^\| (\d+) \| (\d+) \| \d+ \| \d+ \| \d+ \| (\d+) \|", markdown, re.M)
    assert rows
    for point, k_vec, clock in rows:
        assert by_point.loc[int(point), ["k_vec", "clock_mhz"]].tolist() == [int(k_vec), int(clock)]
    # the mode, when the front holds designs of both (they read alike without it)
    front = table[table["point"].isin([int(r[0]) for r in rows])].head(1)
    both = pd.concat([front, front.assign(mode="dense", point=-1)])
    assert report._front_table(both)[["point", "mode"]].values.tolist() == [
        [front["point"].iloc[0], "packed"],
        [-1, "dense"],
    ]
    payload = _payload(html_path.read_text())
    assert payload["id_label"] == "point"
    designs = pd.DataFrame(payload["designs"]).set_index("trial")
    assert designs["fps"].to_numpy() == pytest.approx(by_point.loc[designs.index, "fps"].to_numpy(), rel=1e-6)


def test_a_dse_report_dates_the_run_by_its_end_not_by_spec_json(search_folder, tmp_path):
    """spec.json is written when a search or sweep claims its folder: the report dated the run
    by it, the experiment's report by the run's end. A search is dated by its last trial's end, a
    sweep by its last appended row."""
    import datetime
    import os
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(search_folder, folder)
    day = pd.Timestamp("2020-01-02 03:04", tz="UTC").timestamp()
    os.utime(folder / "spec.json", (day, day))
    table = pd.read_csv(folder / "search.csv")
    started = pd.to_datetime(table["datetime_start"])
    end = (started + pd.to_timedelta(table["duration_s"], unit="s")).max()
    # Optuna records naive local times
    expected = end.to_pydatetime().astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    markdown = report.write_report(folder)[1].read_text()
    assert f"- **run**: {expected}, " in markdown
    # a sweep's table has no trial times: its last row was written when it ended
    table.drop(columns=["datetime_start"]).to_csv(folder / "search.csv", index=False)
    os.utime(folder / "search.csv", (day + 3600, day + 3600))
    markdown = report.write_report(folder)[1].read_text()
    assert "- **run**: 2020-01-02 04:04 UTC, duration not recorded" in markdown
