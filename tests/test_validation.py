"""`dla-explorer validate`: the points file, the per-point simulation, the table in the docs."""

import pandas as pd
import pytest

from dla_explorer.cli import main
from dla_explorer.core.errors import UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator
from dla_explorer.sparsity import pruning
from dla_explorer.study import validation
from dla_explorer.workload import extract, zoo

SMALL = """
points:
  - id: r8_a
    source: X
    set: validation
    device: stratix10_mx2100
    arch: {base: dla_s10mx, k_vec: 16, c_vec: 8, q_vec: 1, clock_mhz: 300}
    memory: ddr4_2666_x1
    model: resnet8
    input_shape: [1, 3, 32, 32]
    published: {fps: 1000, ddr_mb_per_frame: 0.1}
  - id: r8_b
    source: Y
    set: calibration
    device: stratix10_mx2100
    arch: {base: dla_s10mx, k_vec: 32, c_vec: 8, q_vec: 1, clock_mhz: 300}
    memory: ddr4_2666_x1
    model: resnet8
    input_shape: [1, 3, 32, 32]
    published: {fps: 2000, power_w: 40}
sources: {X: a paper, Y: a manual}
"""


def test_shipped_points_cover_three_sources_and_both_sets():
    points = validation.load_points()
    assert len(points.points) >= 10
    assert len({p.source for p in points.points}) >= 3
    assert {p.set for p in points.points} == {"calibration", "validation"}
    for point in points.points:  # every point is runnable: its configs and model resolve
        folder = validation.DEFAULT_POINTS.parent
        hw.load_device(validation._config_path(point.device, folder))
        hw.load_memory(validation._config_path(point.memory, folder))
        validation._architecture(point.arch, point.id)


def test_new_zoo_models_match_their_published_sizes():
    # published: AlexNet 61.1 M parameters / 0.71 GMACs (torchvision), ResNet-18 11.7 M / 1.8 GMACs,
    # MLPerf Tiny ResNet-8 ~78 K parameters / 12.5 MMACs; weights here exclude biases and BN
    for name, shape, params, macs in [
        ("alexnet", (1, 3, 224, 224), 61.1e6, 0.714e9),
        ("resnet18", (1, 3, 224, 224), 11.7e6, 1.81e9),
        ("resnet8", (1, 3, 32, 32), 78e3, 12.5e6),
    ]:
        workload = extract(zoo.get(name), shape, name=name)
        assert sum(la.weights for la in workload.layers) == pytest.approx(params, rel=0.01)
        assert workload.macs == pytest.approx(macs, rel=0.01)


@pytest.fixture
def small_points(tmp_path):
    path = tmp_path / "points.yaml"
    path.write_text(SMALL)
    return path


def test_point_simulates_its_own_design(small_points):
    """The arch fields of a point replace the base config's; the figures are the simulator's."""
    table = validation.run(small_points).set_index("id")
    arch = hw.load_architecture("dla_s10mx").model_copy(
        update={"k_vec": 16, "c_vec": 8, "q_vec": 1, "clock_mhz": 300}
    )
    sparse = pruning.prune("resnet8", "random", 0.0, input_shape=(1, 3, 32, 32), calibration_size=2)
    direct = simulator.simulate(
        sparse, arch, hw.load_memory("ddr4_2666_x1"), hw.load_device("stratix10_mx2100"), "dense"
    ).totals
    assert table.loc["r8_a", "simulated"] == pytest.approx(direct["fps"])
    assert table.loc["r8_a", "error"] == pytest.approx(direct["fps"] / 1000 - 1)
    assert table.loc["r8_a", "ddr_error"] == pytest.approx(direct["dram_mb_per_frame"] / 0.1 - 1)
    assert pd.isna(table.loc["r8_a", "power_error"]) and not pd.isna(table.loc["r8_b", "power_error"])
    # the larger array is faster on the same layers
    assert table.loc["r8_b", "simulated"] > table.loc["r8_a", "simulated"]


def test_summary_and_acceptance_by_hand():
    table = pd.DataFrame(
        {
            "set": ["validation"] * 3 + ["calibration"],
            "error": [0.10, -0.12, 0.30, 0.9],
            "ddr_error": [0.2, float("nan"), float("nan"), 0.5],
        }
    )
    check = validation.summary(table)
    assert check["validation"]["median_abs_error"] == pytest.approx(0.12)
    assert check["validation"]["max_abs_error"] == pytest.approx(0.30)
    assert (check["validation"]["ddr_points"], check["validation"]["ddr_within"]) == (1, 1)
    assert validation.accepted(table)  # the calibration point's 90% does not count
    table.loc[2, "error"] = -0.36
    assert not validation.accepted(table)


def test_docs_table_between_markers(tmp_path):
    doc = tmp_path / "v.md"
    doc.write_text(f"# Title\n\nbefore\n{validation.BEGIN}\nold table\n{validation.END}\nafter\n")
    validation.write_docs("| new |", doc)
    text = doc.read_text()
    assert "old table" not in text and "| new |" in text and text.startswith("# Title\n\nbefore\n")
    assert text.endswith(f"{validation.END}\nafter\n")
    (tmp_path / "none.md").write_text("no markers")
    with pytest.raises(UsageError, match="markers"):
        validation.write_docs("x", tmp_path / "none.md")


def test_bad_points_are_one_line_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace("source: Y", "source: Z"))
    with pytest.raises(UsageError, match="cites source 'Z'"):
        validation.load_points(path)
    path.write_text(
        SMALL.replace(
            "model: resnet8\n    input_shape: [1, 3, 32, 32]\n    published: {fps: 1000",
            "model: vgg\n    published: {fps: 1000",
        )
    )
    with pytest.raises(UsageError, match="unknown model 'vgg'"):
        validation.load_points(path)


def test_validate_command(small_points, tmp_path, capsys):
    doc = tmp_path / "v.md"
    doc.write_text(f"{validation.BEGIN}\n{validation.END}\n")
    code = main(["validate", str(small_points), "--docs", str(doc), "--csv", str(tmp_path / "t.csv")])
    out = capsys.readouterr().out
    assert code == 0 and "validation: 1 points" in out and "r8_a" in doc.read_text()
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2
    # --check fails when the validation set misses the bounds (1000 frames/s is not what it gives)
    table = pd.read_csv(tmp_path / "t.csv")
    row = table.loc[table.id == "r8_a"].iloc[0]
    # the CLI's errors are in percent, as its summary prints them: simulated / published - 1
    assert row["error_pct"] == pytest.approx((row["simulated"] / row["published"] - 1) * 100)
    assert "error" not in table.columns
    expected = 0 if abs(row["error_pct"]) <= 15 else 1
    assert main(["validate", str(small_points), "--no-docs", "--check"]) == expected


def test_cli_defaults_match_the_study_module():
    from dla_explorer.cli import validate

    assert validate.DEFAULT_POINTS == validation.DEFAULT_POINTS and validate.DEFAULT_DOCS == validation.DOCS


def test_points_without_dram_or_power_figures_write_the_docs(tmp_path, capsys):
    """No point publishes DRAM MB/frame or power: those columns are all empty (was a TypeError
    traceback from np.isnan on None when the table was written into the docs)."""
    path = tmp_path / "points.yaml"
    path.write_text(SMALL.replace(", ddr_mb_per_frame: 0.1", "").replace(", power_w: 40", ""))
    doc = tmp_path / "v.md"
    doc.write_text(f"{validation.BEGIN}\n{validation.END}\n")
    assert main(["validate", str(path), "--docs", str(doc)]) == 0
    row = next(line for line in doc.read_text().splitlines() if line.startswith("| r8_a |"))
    assert row.endswith("|  |  |")  # the DRAM and power cells are empty


def test_own_points_never_overwrite_the_repository_docs(small_points, tmp_path, monkeypatch, capsys):
    """The repository's docs hold the shipped points' table: `validate my_points.yaml` leaves it
    (it used to replace it); a docs file without markers or missing is refused before the run."""
    from dla_explorer.cli import validate

    doc = tmp_path / "validation.md"
    doc.write_text(f"{validation.BEGIN}\nshipped table\n{validation.END}\n")
    monkeypatch.setattr(validate, "DEFAULT_DOCS", doc)
    assert main(["validate", str(small_points)]) == 0
    assert "shipped table" in doc.read_text() and "table written" not in capsys.readouterr().out
    monkeypatch.setattr(validation, "run", lambda *a: pytest.fail("ran before checking the docs file"))
    assert main(["validate", str(small_points), "--docs", str(tmp_path / "none.md")]) == 1
    assert "none.md: Markdown file not found" in capsys.readouterr().err


def test_a_bad_config_of_a_point_names_the_file_and_the_point(tmp_path, capsys):
    path = tmp_path / "points.yaml"
    path.write_text(SMALL.replace("memory: ddr4_2666_x1", "memory: ddr9", 1))
    assert main(["validate", str(path), "--no-docs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dla-explorer validate: error: {path}: point 'r8_a': ") and "\n" not in err
    assert "memory config 'ddr9' not found" in err
    path.write_text(SMALL.replace("k_vec: 16", "k_vex: 16"))
    assert main(["validate", str(path), "--no-docs"]) == 2
    assert f"{path}: point 'r8_a': key 'arch.k_vex': unknown key" in capsys.readouterr().err
