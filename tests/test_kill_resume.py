"""Issue 14 acceptance: `run` killed with SIGKILL during pruning, simulation and search, then
resumed, gives the tables of an uninterrupted run (benchmarks/bench_kill_resume.py on the small
experiment of test_experiment). Slow (two runs of the small experiment plus three restarts):
set DLA_EXPLORER_KILL_TEST=1 to run it; the paper-size figures are in benchmarks/README.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_experiment import SEARCH, SPEC

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DLA_EXPLORER_KILL_TEST") != "1", reason="set DLA_EXPLORER_KILL_TEST=1")
def test_run_killed_three_times_equals_an_uninterrupted_run(tmp_path):
    (tmp_path / "small.yaml").write_text(SPEC.replace("search_trials: 6", "search_trials: 30"))
    (tmp_path / "search.yaml").write_text(SEARCH.replace("name: random", "name: tpe"))
    env = {**os.environ, "DLA_EXPLORER_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_kill_resume.py"),
            str(tmp_path / "small.yaml"),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("killed during") == 3
    assert "FAIL" not in result.stdout
