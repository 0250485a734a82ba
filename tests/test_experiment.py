"""The main job on a small experiment: tables, resume, report (HTML with embedded images)."""

import json
import re

import pandas as pd
import pytest

from dla_explorer.cli import main
from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.study import analysis, experiment, report

SPEC = """
name: small
device: stratix10_mx2100
models: [mobilenet_v2]
sparsities: [0.5, 0.9]
headline_sparsity: 0.9
calibration_size: 2
modes: [unpacked, packed]
designs:
  ddr4_x1: {arch: dla_s10mx, memory: ddr4_2666_x1}
  hbm2:    {arch: dla_s10mx, memory: hbm2_x2}
ddr4_designs: [ddr4_x1]
hbm2_design: hbm2
cpu_baseline: skylake_xeon
gpu_baseline: v100
search: search.yaml
buffer_sweep_kb: [512, 4096]
default: {search_trials: 6, cpu_seconds: 0.2, uncertainty: 64}
full: {search_trials: 8, cpu_seconds: 0.2}
paper:
  hbm2_over_ddr4: {mobilenet_v2: 3.0}
  over_cpu: {mobilenet_v2: 2.1}
  v100_speed: {mobilenet_v2: 1.0}
  v100_power_efficiency: {mobilenet_v2: 2.0}
"""
SEARCH = """
name: small_search
models:
  - recipe: {model: mobilenet_v2, method: random, sparsity: 0.9, keep_first_last_dense: true,
             calibration_size: 2}
device: stratix10_mx2100
base: {arch: dla_s10mx, memory: hbm2_x2}
space:
  c_vec: {type: pow2, low: 8, high: 32}
  q_vec: {type: int, low: 2, high: 8}
objectives: {fps: maximize, power_w: minimize}
constraints: {device: true}
sampler: {name: random, seed: 0}
n_trials: 6
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("experiment")
    (folder / "small.yaml").write_text(SPEC)
    (folder / "search.yaml").write_text(SEARCH)
    return folder / "small.yaml"


@pytest.fixture(scope="module")
def results(spec_file):
    spec = experiment.load_experiment(spec_file)
    return experiment.run_experiment(spec, spec_file, spec_file.parent / "out", progress=False)


def test_tables_cover_every_case(results):
    comparison = pd.read_csv(results / "comparison.csv")
    assert len(comparison) == 2 * 2 * 2 + 2  # sparsities x designs x modes + the DSE pair
    assert set(comparison["mode"]) == {"unpacked", "packed"}
    layers = pd.read_csv(results / "layers.csv")
    assert len(layers) == 8 * 53 and {"compute_s", "memory_s", "time_s"} <= set(layers)
    baselines = pd.read_csv(results / "baselines.csv")
    assert set(baselines["baseline"]) == {
        "skylake_xeon",
        "v100",
        "skylake_xeon (roofline bound)",
        "v100 (roofline bound)",
        "this machine (dense)",
        "this machine (pruned)",
    }
    published = baselines[baselines["kind"] == "published"].set_index("baseline")
    assert published.loc["v100", "fps"] == 738  # hw_configs/baselines/v100.yaml, mobilenet_v2
    assert (published["fps_p5"] < published["fps"]).all() and (published["fps"] < published["fps_p95"]).all()
    sweep = pd.read_csv(results / "buffer_sweep.csv")
    assert sorted(sweep["stream_buffer_kb"].unique()) == [512, 4096]
    record = json.loads((results / "experiment.json").read_text())
    assert record["search"]["trials"]["COMPLETE"] == 6


def test_uncertainty_bands(results):
    comparison = pd.read_csv(results / "comparison.csv")
    headline = comparison[comparison.sparsity == 0.9]
    # bands on the headline rows only; the nominal figure lies inside its 5-95% band
    assert headline["fps_p5"].notna().all() and comparison[comparison.sparsity == 0.5]["fps_p5"].isna().all()
    for figure in ("fps", "power_w", "fps_per_w"):
        assert (headline[f"{figure}_p5"] <= headline[figure] * 1.0001).all()
        assert (headline[figure] <= headline[f"{figure}_p95"] * 1.0001).all()
    assert (headline["power_w_p95"] > headline["power_w_p5"]).all()  # static power is an estimate
    ratios = pd.read_csv(results / "uncertainty.csv")
    assert set(ratios["figure"]) == {
        "hbm2_over_ddr4",
        "over_cpu",
        "v100_speed",
        "v100_power_efficiency",
        "dse_hbm2_over_ddr4",
    }
    assert (ratios["p5"] <= ratios["p50"]).all() and (ratios["p50"] <= ratios["p95"]).all()
    assert (ratios["samples"] == 64).all()


def test_packed_figures_carry_effective_sparsity(results):
    comparison = pd.read_csv(results / "comparison.csv")
    packed = comparison[(comparison["mode"] == "packed") & comparison["design"].isin(["ddr4_x1", "hbm2"])]
    unpacked = comparison[comparison["mode"] == "unpacked"].set_index(["sparsity", "design"])
    from dla_explorer.workload import extract, zoo

    total = sum(la.weights for la in extract(zoo.get("mobilenet_v2")).layers)
    packing_totals = pd.read_csv(results / "packing_totals.csv").set_index("sparsity")
    for row in packed.itertuples():
        # effective sparsity = 1 - kept non-zeros / all weights; conflict pruning only removes
        network = packing_totals.loc[row.sparsity]
        assert row.effective_sparsity == pytest.approx(1 - network["nnz_after"] / total)
        assert row.effective_sparsity >= 1 - network["nnz_before"] / total
        assert row.pruned_share == pytest.approx(network["pruned_share"])
        assert row.packed_speedup_bound == pytest.approx(1 / (1 - row.effective_sparsity))
        assert row.packed_speedup == pytest.approx(row.fps / unpacked.loc[(row.sparsity, row.design), "fps"])
        above = row.packed_speedup > row.packed_speedup_bound * 1.001
        assert above == (
            isinstance(row.packed_speedup_note, str) and row.packed_speedup_note.startswith("above")
        )


def test_packed_speedup_splits_into_feeder_and_combining(results, spec_file):
    """packed / unpacked = (alpha 1 packed / unpacked: the packed feeder alone) x (packed / alpha 1:
    column combining), the alpha-1 design at the packed design's clock."""
    from dla_explorer.sim import config as hw
    from dla_explorer.sim import simulator

    comparison = pd.read_csv(results / "comparison.csv")
    packed = comparison[(comparison["mode"] == "packed") & comparison["design"].isin(["ddr4_x1", "hbm2"])]
    for row in packed.itertuples():
        assert row.feeder_speedup * row.combining_speedup == pytest.approx(row.packed_speedup)
    row = packed[(packed["design"] == "hbm2") & (packed["sparsity"] == 0.9)].iloc[0]
    spec = experiment.load_experiment(spec_file)
    sparse = experiment._sparse_model(spec, "mobilenet_v2", 0.9, results)
    arch = hw.load_architecture("dla_s10mx").model_copy(update={"alpha": 1, "clock_mhz": row.clock_mhz_used})
    alone = simulator.simulate(sparse, arch, hw.load_memory("hbm2_x2"), hw.load_device(spec.device), "packed")
    assert row.fps_alpha1 == pytest.approx(alone.totals["fps"])
    # MobileNet v2's depthwise layers run as block-diagonal GEMMs on the unpacked schedule; the
    # packed feeder skips their all-zero columns even without combining
    assert row.feeder_speedup > 1.5
    assert row.combining_speedup > 1.0
    text = "\n".join(report.summary(analysis.load(results)))
    assert "from the packed feeder alone" in text and "from column combining" in text


def test_dse_best_is_compared_on_both_memories(results):
    """The searched design and the same design on DDR4: only the memory differs."""
    comparison = pd.read_csv(results / "comparison.csv")
    pair = comparison[comparison["design"].isin(["dse_best_hbm2", "dse_best_ddr4"])].set_index("design")
    assert len(pair) == 2
    same = ["k_vec", "c_vec", "q_vec", "lanes", "clock_mhz", "alpha", "gamma", "stream_buffer_kb"]
    assert (pair.loc["dse_best_hbm2", same] == pair.loc["dse_best_ddr4", same]).all()
    assert pair.loc["dse_best_ddr4", "mem_kind"] == "ddr4" and pair.loc["dse_best_hbm2", "mem_kind"] == "hbm2"
    assert (pair["pruned_share"] <= 0.02).all()
    assert (pair["fps_p5"] < pair["fps_p95"]).all()  # the rebuilt designs keep their estimates
    search = pd.read_csv(json.loads((results / "experiment.json").read_text())["search"]["table"])
    fastest = search[search["feasible"].astype(bool)]["fps"].max()
    assert pair.loc["dse_best_hbm2", "fps"] <= fastest * (1 + 1e-9)
    ratios = pd.read_csv(results / "uncertainty.csv").set_index("figure")
    assert "dse_hbm2_over_ddr4" in ratios.index
    table = analysis.speedups(analysis.load(results))
    row = table[table.comparison.str.startswith("HBM2 DSE best")].iloc[0]
    assert row.simulated == pytest.approx(pair.loc["dse_best_hbm2", "fps"] / pair.loc["dse_best_ddr4", "fps"])


def test_designs_table_names_each_design_and_gives_shares_in_percent(results):
    """The search's best design shares model, memory and mode with the HBM2 reference design: the
    table read as one design with two sets of figures until it named the design; and its
    utilisation and memory-bound time were fractions beside a summary in percent."""
    table = report._design_table_with_bands(analysis.load(results))
    comparison = pd.read_csv(results / "comparison.csv").query("sparsity == 0.9").reset_index(drop=True)
    assert list(table["design"]) == list(comparison["design"])
    assert {"hbm2", "dse_best_hbm2"} <= set(table["design"])
    assert not table[["model", "design", "memory", "mode"]].duplicated().any()
    assert list(table["MAC util. (%)"]) == pytest.approx(list(comparison["utilization"] * 100))
    assert list(table["memory-bound time (%)"]) == pytest.approx(list(comparison["memory_bound_share"] * 100))
    assert list(table["frames/s"]) == pytest.approx(list(comparison["fps"]))
    assert list(table["frames/s 5%"]) == pytest.approx(list(comparison["fps_p5"]), nan_ok=True)
    markdown = report._markdown_table(table)
    assert "| model | design | memory | mode |" in markdown


def test_the_comparison_of_two_runs_keeps_the_search_best_apart(results):
    html_path, md_path = report.write_comparison(results, results)
    markdown = md_path.read_text()
    section = markdown.split("## Designs at the headline sparsity")[1].split("## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| mobilenet_v2")]
    # one row per design (the merge on model, memory and mode paired the search's best with the
    # reference design: four rows for two)
    assert len(rows) == pd.read_csv(results / "comparison.csv").query("sparsity == 0.9").shape[0]


def test_provenance_names_the_run_s_own_time_and_tool(results, tmp_path):
    """The report gave the record file's time (a copied folder: the copy's) and the version of the
    tool making the report as the one that ran the experiment."""
    import shutil

    record = json.loads((results / "experiment.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", record["finished"])
    assert record["tool"].startswith("0.1.0")
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    record.update(finished="2020-01-02 03:04 UTC", tool="0.0.9 (commit abc1234)")
    (copy / "experiment.json").write_text(json.dumps(record))
    _, md_path = report.write_report(copy, ("png",))
    markdown = md_path.read_text()
    assert "- **run**: 2020-01-02 03:04 UTC, " in markdown
    assert "- **tool**: dla-explorer 0.0.9 (commit abc1234); this report: 0.1.0" in markdown
    # the memory level the numbers were computed at (the report said level 0 of level-1 numbers),
    # whole in every figure caption (a caption cut the level's text at its first comma)
    level = report._FIDELITY_TEXT[1]
    assert f"- **fidelity**: {level}" in markdown
    captions = re.findall(r"Numbers: (.*?)\.\*", markdown)
    assert captions and all(c.startswith(level) for c in captions), captions


def test_write_report_checks_its_formats(results):
    with pytest.raises(UsageError, match=r"--format: 'gif': each of png, svg, pdf"):
        report.write_report(results, ("gif",))  # failed inside matplotlib, after the tables


def test_speedups_beside_the_paper(results):
    table = analysis.speedups(analysis.load(results))
    row = table[table.comparison.str.startswith("HBM2 vs DDR4")].iloc[0]
    comparison = pd.read_csv(results / "comparison.csv").query("sparsity == 0.9 and mode == 'packed'")
    fps = comparison.set_index("design")["fps"]
    assert row.simulated == pytest.approx(fps["hbm2"] / fps["ddr4_x1"])
    assert row.paper == 3.0
    assert row.explained_in_validation == (abs(row.simulated / 3.0 - 1) > 0.3)
    assert (table.comparison == "power efficiency vs v100").any()


def test_report_is_self_contained(results):
    html_path, md_path = report.write_report(results)
    page = html_path.read_text()
    images = re.findall(r'<img alt="[a-z_]+" src="data:image/png;base64,', page)
    assert len(images) == len(list((results / "figures").glob("*.png"))) == 7
    assert 'src="figures/' not in page and "Comparison with the reference work" in page
    markdown = md_path.read_text()
    # the markdown links every figure file, and only those (a loop over its links alone would
    # pass on a markdown that links none)
    linked = set(re.findall(r"\(figures/([a-z_]+\.png)\)", markdown))
    assert linked == {p.name for p in (results / "figures").glob("*.png")} and len(linked) == 7


def test_report_draws_the_bands_as_error_bars(results):
    """report.html carries plotly figures whose error bars are the bands of uncertainty.csv
    (ratios) and comparison.csv (designs): up = p95 - p50, down = p50 - p5; the tables carry the
    5% and 95% beside the median."""
    html_path, md_path = report.write_report(results)
    page = html_path.read_text()
    found = re.search(r'<script id="band-figures" type="application/json">(.*?)</script>', page, re.S)
    assert found is not None and "Plotly.newPlot" in page
    assert re.search(r"plotly\.js v\d", page)  # plotly.js itself is embedded: the page works offline
    figures = {f["name"]: f for f in json.loads(found.group(1).replace("<\\/", "</"))}
    ratios = pd.read_csv(results / "uncertainty.csv")
    for kind, rows in ratios.groupby("figure"):
        traces = {t["name"]: t for t in figures[f"band_{kind}"]["data"]}
        for label, group in rows.groupby("comparison"):
            bar = traces[f"{label}: median, 5-95% band"]["error_y"]
            assert bar["array"] == pytest.approx((group["p95"] - group["p50"]).tolist())
            assert bar["arrayminus"] == pytest.approx((group["p50"] - group["p5"]).tolist())
            assert traces[f"{label}: median, 5-95% band"]["y"] == pytest.approx(group["p50"].tolist())
    comparison = pd.read_csv(results / "comparison.csv").dropna(subset=["fps_p50"])
    traces = figures["band_designs_fps"]["data"]
    assert len(traces) == comparison.groupby(["design", "mode"]).ngroups
    for trace in traces:
        design, mode = trace["name"].split(" (")[0], trace["name"].rsplit(", ", 1)[1]
        rows = comparison[(comparison["design"] == design) & (comparison["mode"] == mode)]
        assert trace["error_y"]["array"] == pytest.approx((rows["fps_p95"] - rows["fps_p50"]).tolist())
        assert trace["error_y"]["arrayminus"] == pytest.approx((rows["fps_p50"] - rows["fps_p5"]).tolist())
    # the comparison table: the band's 5% and 95% beside its median
    markdown = md_path.read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| comparison"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[cells.index("simulated") + 1 : cells.index("simulated") + 4] == ["median", "5%", "95%"]
    row = ratios[ratios["figure"] == "hbm2_over_ddr4"].iloc[0]
    line = next(ln for ln in markdown.splitlines() if ln.startswith(f"| {row['comparison']} |"))
    values = [c.strip() for c in line.strip("|").split("|")]
    median = float(values[cells.index("median")])
    low, high = float(values[cells.index("5%")]), float(values[cells.index("95%")])
    assert (median, low, high) == pytest.approx((row["p50"], row["p5"], row["p95"]), abs=0.0051)


def test_rerun_reuses_models_and_refuses_another_spec(spec_file, results):
    checkpoints = {p: p.stat().st_mtime_ns for p in (results / "models").glob("*.npz")}
    spec = experiment.load_experiment(spec_file)
    experiment.run_experiment(spec, spec_file, results, run_search=False, progress=False)
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    assert json.loads((results / "experiment.json").read_text())["search"] is not None
    other = spec.model_copy(update={"sparsities": [0.9]})
    with pytest.raises(DlaError, match="holds results of experiment spec"):
        experiment.run_experiment(other, spec_file, results, run_search=False, progress=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (("headline_sparsity: 0.9", "headline_sparsity: 0.8"), "headline_sparsity 0.8 is not in"),
        (("models: [mobilenet_v2]", "models: [vgg16]"), "unknown model 'vgg16'"),
        (("ddr4_designs: [ddr4_x1]", "ddr4_designs: [hbm2]"), "'hbm2' does not use DDR4"),
        (("hbm2_design: hbm2", "hbm2_design: hbm3"), "design 'hbm3' is not in designs"),
        (("memory: ddr4_2666_x1}", "memory: ddr4_2666_x9}"), "memory config 'ddr4_2666_x9' not found"),
        (("device: stratix10_mx2100", "device: arria10_gx1150"), "design 'ddr4_x1'"),
        (("search: search.yaml", "serch: search.yaml"), "key 'serch': unknown key"),
    ],
)
def test_bad_experiment_specs(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace(*change))
    with pytest.raises(UsageError, match=message):
        experiment.load_experiment(path)


def test_report_of_a_folder_that_is_not_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "not a results folder" in capsys.readouterr().err


def test_run_headline_matches_the_comparison_table(results, capsys):
    from dla_explorer.cli.experiment import headline, print_headline

    loaded = analysis.load(results)
    table = headline(loaded).set_index("model")
    comparison = pd.read_csv(results / "comparison.csv").query("sparsity == 0.9")
    fps = comparison.set_index(["design", "mode"])["fps"]
    row = table.loc["mobilenet_v2"]
    assert row["frames/s"] == pytest.approx(fps["hbm2", "packed"])
    assert row["hbm2_over_ddr4"] == pytest.approx(fps["hbm2", "packed"] / fps["ddr4_x1", "packed"])
    assert row["packed_over_unpacked"] == pytest.approx(fps["hbm2", "packed"] / fps["hbm2", "unpacked"])
    packed = comparison.set_index(["design", "mode"]).loc[("hbm2", "packed")]
    assert row["W"] == pytest.approx(packed["power_w"])
    print_headline(loaded)
    assert "headline: packed on hbm2 at 90% sparsity" in capsys.readouterr().out


def test_report_has_a_dram_figure_per_headline_design(results):
    """The run replays the packed HBM2 and DDR4 designs at fidelity 2 (dram_layers.csv) and the
    report draws one interactive figure a design (tests/test_dram_figure.py checks the numbers)."""
    frame = pd.read_csv(results / "dram_layers.csv")
    assert set(zip(frame["model"], frame["design"], strict=True)) == {
        ("mobilenet_v2", "hbm2"),
        ("mobilenet_v2", "ddr4_x1"),
    }
    page_path = results / "report.html"  # written by test_report_is_self_contained when run
    if not page_path.is_file():
        report.write_report(results)
    page = page_path.read_text()
    shown = set(re.findall(r'class="dram-figure" data-model="([^"]+)" data-design="([^"]+)"', page))
    assert {("mobilenet_v2", "hbm2"), ("mobilenet_v2", "ddr4_x1")} <= shown
    assert len(shown) == 3  # and the search's best design, from its level-2 re-score


def test_damaged_results_give_one_line_errors(results, tmp_path, capsys):
    """A results folder whose record is not text, whose table is not a CSV, or a sparsity the run
    did not simulate: a DlaError naming the file or the missing row, not a traceback."""
    import shutil

    from dla_explorer.core.errors import DlaError

    loaded = analysis.load(results)
    with pytest.raises(DlaError, match="no row for model 'mobilenet_v2', sparsity 0.37"):
        analysis.speedups(loaded, sparsity=0.37)
    damaged = tmp_path / "damaged"
    shutil.copytree(results, damaged)
    (damaged / "layers.csv").write_bytes(b"")
    with pytest.raises(DlaError, match="layers.csv: not a readable CSV"):
        analysis.load(damaged)
    (damaged / "experiment.json").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["report", str(damaged)]) == 1
    err = capsys.readouterr().err.strip()
    assert "experiment.json: not a run record" in err and len(err.splitlines()) == 1


def test_roofline_roofs_are_the_levels_sustained_bandwidth(results):
    """The memory roofs are what the memory sustains at the run's fidelity (the cycle model's
    sequential efficiency, the port cap at the clock used), not peak x the flat efficiency."""
    from dla_explorer.sim import config as hw
    from dla_explorer.sim.traffic import sustained_gbps
    from dla_explorer.study import plots

    loaded = analysis.load(results)
    fig = plots.roofline(loaded, "mobilenet_v2")
    roofs = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("roof:")}
    comparison = loaded.comparison.query("sparsity == 0.9 and mode == 'packed'").set_index("design")
    for design in ("hbm2", "ddr4_x1"):
        memory = hw.load_memory(loaded.spec.designs[design].memory)
        clock = float(comparison.loc[design, "clock_mhz_used"])
        expected = sustained_gbps(memory, clock, 1)
        line = next(ln for label, ln in roofs.items() if memory.name in label)
        x, y = line.get_xdata(), line.get_ydata()
        assert y[0] / x[0] == pytest.approx(expected, rel=1e-9)  # the memory-bound slope
        if memory.dram:
            assert expected != pytest.approx(memory.peak_gbps * memory.controller_efficiency, rel=1e-3)


def test_summary_says_hbm2_lifts_memory_bound_time_only_when_there_is_some(results):
    loaded = analysis.load(results)
    frame = loaded.comparison
    ddr4 = frame["design"] == loaded.spec.ddr4_designs[0]
    for share, phrase in ((0.0, "with no memory-bound time to remove, HBM2 gives"), (0.4, "HBM2 lifts that")):
        frame.loc[ddr4, "memory_bound_share"] = share
        text = "\n".join(report.summary(loaded))
        assert phrase in text and f"spends {share:.0%} of its time" in text


@pytest.mark.parametrize(("search", "code"), [("missing.yaml", 1), ("bad_search.yaml", 2)])
def test_a_bad_search_spec_is_refused_before_the_work(tmp_path, monkeypatch, capsys, search, code):
    """It failed after every model was pruned and simulated (minutes for the paper's spec)."""
    from dla_explorer.cli import main

    (tmp_path / "bad_search.yaml").write_text(SEARCH.replace("n_trials: 6", "n_trails: 6"))
    path = tmp_path / "small.yaml"
    path.write_text(SPEC.replace("search: search.yaml", f"search: {search}"))
    monkeypatch.setattr(experiment, "_sparse_model", lambda *a: pytest.fail("worked first"))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"dla-explorer run: error: {path}: key 'search': {tmp_path / search}: ")
    assert not (tmp_path / "out").exists()
