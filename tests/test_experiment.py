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
default: {search_trials: 6, cpu_repeats: 1}
full: {search_trials: 8, cpu_repeats: 1}
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
    assert len(comparison) == 2 * 2 * 2  # sparsities x designs x modes
    assert set(comparison["mode"]) == {"unpacked", "packed"}
    layers = pd.read_csv(results / "layers.csv")
    assert len(layers) == 8 * 53 and {"compute_s", "memory_s", "time_s"} <= set(layers)
    baselines = pd.read_csv(results / "baselines.csv")
    assert set(baselines["baseline"]) == {
        "skylake_xeon",
        "v100",
        "this machine (dense)",
        "this machine (pruned)",
    }
    sweep = pd.read_csv(results / "buffer_sweep.csv")
    assert sorted(sweep["stream_buffer_kb"].unique()) == [512, 4096]
    record = json.loads((results / "experiment.json").read_text())
    assert record["search"]["trials"]["COMPLETE"] == 6


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
    images = re.findall(r'src="data:image/png;base64,', page)
    assert len(images) == len(list((results / "figures").glob("*.png"))) == 7
    assert 'src="figures/' not in page and "Comparison with the reference work" in page
    markdown = md_path.read_text()
    for name in re.findall(r"\(figures/([a-z_]+\.png)\)", markdown):
        assert (results / "figures" / name).is_file()


def test_rerun_reuses_models_and_refuses_another_spec(spec_file, results):
    checkpoints = {p: p.stat().st_mtime_ns for p in (results / "models").glob("*.npz")}
    spec = experiment.load_experiment(spec_file)
    experiment.run_experiment(spec, spec_file, results, run_search=False, progress=False)
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    assert json.loads((results / "experiment.json").read_text())["search"] is not None
    other = spec.model_copy(update={"sparsities": [0.9]})
    with pytest.raises(DlaError, match="holds results of another experiment spec"):
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
