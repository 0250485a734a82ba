"""Grid sweeps: every design once, the simulator's figures, resume after an interruption."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from dla_explorer.core.errors import UsageError
from dla_explorer.dse import evaluation
from dla_explorer.dse.spec import METRICS, load_spec
from dla_explorer.dse.sweep import run_sweep
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator

from . import test_search
from .test_search import write_spec

tiny_checkpoint = test_search.tiny_checkpoint  # the session fixture

SPACE = {
    "memory": ["ddr4_2666_x2", "hbm2_x1"],
    "k_vec": {"type": "pow2", "low": 16, "high": 64},
    "clock_mhz": {"type": "float", "low": 300, "high": 400, "step": 50},
    "mem_channels": {"type": "int", "low": 16, "high": 32, "step": 16, "when": {"mem_kind": "hbm2"}},
}
GRID = 3 * 3 + 3 * 3 * 2  # DDR4: k_vec x clock; HBM2: also two channel counts


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def sweep_spec(tmp_path, model, **changes):
    return load_spec(write_spec(tmp_path, model, space=SPACE, modes=["dense", "packed"], **changes))


def test_sweep_evaluates_the_grid_once(tmp_path, tiny_checkpoint):
    spec = sweep_spec(tmp_path, tiny_checkpoint, sweep_batch=7)
    report = run_sweep(spec, "spec.yaml", progress=False)
    table = report.table
    assert report.total == len(table) == 2 * GRID and report.evaluated == 2 * GRID
    assert table["point"].tolist() == list(range(2 * GRID))
    assert not table.duplicated(subset=["mode", "memory", "k_vec", "clock_mhz", "mem_channels"]).any()
    assert set(METRICS) | {"feasible", "violation", "c_device", "c_max_power_w", "model", "mode"} <= set(
        table.columns
    )
    with sqlite3.connect(tmp_path / "results" / "results.db") as connection:
        stored = pd.read_sql("SELECT * FROM sweep", connection)
    assert len(stored) == len(table)


def test_sweep_rows_match_the_simulator(tmp_path, tiny_checkpoint):
    spec = sweep_spec(tmp_path, tiny_checkpoint)
    table = run_sweep(spec, "spec.yaml", progress=False).table
    row = table[(table["mode"] == "packed") & (table["memory"] == "hbm2_x1")].iloc[-1]
    arch = hw.load_architecture("dla_s10mx").model_copy(
        update={"k_vec": int(row["k_vec"]), "clock_mhz": float(row["clock_mhz"])}
    )
    memory = hw.load_memory("hbm2_x1").model_copy(update={"channels": int(row["mem_channels"])})
    sparse = evaluation.load_model(spec.models[0])
    result = simulator.simulate(sparse, arch, memory, hw.load_device(spec.device), "packed")
    for metric in ("fps", "power_w", "latency_s", "dsp", "m20k"):
        assert row[metric] == pytest.approx(result.totals[metric], rel=1e-9), metric


def test_interrupted_sweep_resumes_without_duplicates(tmp_path, tiny_checkpoint, monkeypatch):
    spec = sweep_spec(tmp_path, tiny_checkpoint, sweep_batch=5)
    real = evaluation.Evaluator.evaluate
    calls = {"n": 0}

    def interrupted(self, designs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, designs)

    monkeypatch.setattr(evaluation.Evaluator, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, "spec.yaml", progress=False)
    partial = pd.read_csv(tmp_path / "results" / "sweep.csv")
    assert len(partial) == 10  # two batches of five were kept
    monkeypatch.setattr(evaluation.Evaluator, "evaluate", real)
    report = run_sweep(spec, "spec.yaml", progress=False)
    assert report.skipped == 10 and report.evaluated == 2 * GRID - 10
    assert report.table["point"].tolist() == list(range(2 * GRID))


def test_grid_too_large_is_refused(tmp_path, tiny_checkpoint):
    spec = sweep_spec(tmp_path, tiny_checkpoint, max_grid=10)
    with pytest.raises(UsageError, match="more than 10 designs.*dla-explorer search"):
        run_sweep(spec, "spec.yaml", progress=False)


@pytest.mark.parametrize("command", ["sweep", "search"])
def test_progress_bars_on_a_terminal_only(tmp_path, tiny_checkpoint, capsys, monkeypatch, command):
    """README: a bar on stderr on a terminal only (logs of a redirected run stay clean; they
    used to fill with bar redraws), never with --no-progress."""
    import sys

    from dla_explorer.cli import main

    from .test_cli import Terminal

    space = {"k_vec": {"type": "pow2", "low": 16, "high": 32}}
    for run, flags in enumerate(([], ["--no-progress"], [])):
        spec = write_spec(tmp_path, tiny_checkpoint, space=space, n_trials=2 * (run + 1))
        terminal = Terminal()
        if run == 2:
            monkeypatch.setattr(sys, "stderr", terminal)
        assert main([command, str(spec), *flags]) == 0
        err = capsys.readouterr().err + terminal.getvalue()
        unit = "design" if command == "sweep" else "trial"
        assert (f"{unit}/s" in err) == (run == 2), (flags, err)


def test_a_spec_that_failed_before_any_result_does_not_keep_the_folder(tmp_path, tiny_checkpoint, capsys):
    """A misspelt model fails after the folder is claimed; the corrected spec runs in the same
    folder (it used to be refused: 'holds results of spec ...', with no result in it)."""
    from dla_explorer.cli import main

    space = {"k_vec": {"type": "pow2", "low": 16, "high": 32}}
    bad = write_spec(tmp_path, tiny_checkpoint, space=space, models=[{"recipe": {"model": "resnet5O"}}])
    assert main(["sweep", str(bad), "--no-progress"]) == 2
    assert "unknown model 'resnet5O'" in capsys.readouterr().err
    good = write_spec(tmp_path, tiny_checkpoint, space=space)
    assert main(["sweep", str(good), "--no-progress"]) == 0
    assert len(pd.read_csv(tmp_path / "results" / "sweep.csv")) == 2
    # with results in it, the folder still refuses another spec
    other = write_spec(tmp_path, tiny_checkpoint, space={"k_vec": {"type": "pow2", "low": 16, "high": 64}})
    assert main(["sweep", str(other), "--no-progress"]) == 1
    assert "holds results of spec" in capsys.readouterr().err


def test_out_sets_the_results_folder_and_show_flags_usage_errors(tmp_path, tiny_checkpoint, capsys):
    """--out puts a sweep or search where the user says (as `run --out` does; it needed a
    'results' key in the spec); a bad --objectives is a usage error (exit 2, it was 1)."""
    from dla_explorer.cli import main

    spec = write_spec(tmp_path, tiny_checkpoint, space={"k_vec": {"type": "pow2", "low": 16, "high": 32}})
    assert main(["sweep", str(spec), "--no-progress", "--out", str(tmp_path / "elsewhere")]) == 0
    assert len(pd.read_csv(tmp_path / "elsewhere" / "sweep.csv")) == 2
    assert not (tmp_path / "results").exists()
    assert main(["search", str(spec), "--no-progress", "--n-trials", "2", "--out", str(tmp_path / "s")]) == 0
    assert len(pd.read_csv(tmp_path / "s" / "search.csv")) == 2
    capsys.readouterr()
    assert main(["show", str(tmp_path / "elsewhere"), "--objectives", "fps:up"]) == 2
    assert "direction of 'fps' must be max or min" in capsys.readouterr().err
