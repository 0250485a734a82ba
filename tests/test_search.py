"""Optuna searches: constraints, failures, resume after kill -9, workers on journal storage and
PostgreSQL (exact trial counts), samplers, storage errors and `show`."""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import sqlalchemy
import torch
import yaml

from dla_explorer.cli import search as search_cli
from dla_explorer.core.errors import DlaError
from dla_explorer.dse.search import SearchOptions, run_search
from dla_explorer.dse.spec import load_spec
from dla_explorer.sparsity import checkpoint, pruning

from . import postgres
from .conftest import TINY_SHAPE, TinyNet

postgres_url = postgres.postgres_url  # the session fixture, visible to this module's tests

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    sparse = pruning.prune(TinyNet().eval(), "random", 0.8, input_shape=TINY_SHAPE, calibration_size=2)
    return checkpoint.save(sparse, tmp_path_factory.mktemp("model") / "tiny.npz")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def write_spec(folder: Path, model: Path, **changes) -> Path:
    """A small search spec over the tiny model (8 x 4 x 3 x 2 = 192 designs)."""
    data = {
        "name": "tiny",
        "models": [{"checkpoint": str(model)}],
        "device": "stratix10_mx2100",
        "modes": ["packed"],
        "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
        "space": {
            "memory": ["ddr4_2666_x2", "hbm2_x1"],
            "k_vec": {"type": "int", "low": 16, "high": 128, "step": 16},
            "c_vec": {"type": "pow2", "low": 4, "high": 32},
            "clock_mhz": {"type": "float", "low": 300, "high": 400, "step": 50},
            "mem_channels": {"type": "int", "low": 16, "high": 32, "step": 16, "when": {"mem_kind": "hbm2"}},
        },
        "objectives": {"fps": "maximize", "power_w": "minimize"},
        "constraints": {"device": True, "max": {"power_w": 70}},
        "sampler": {"name": "tpe", "seed": 0, "options": {"n_startup_trials": 5}},
        "n_trials": 12,
        "results": str(folder / "results"),
        "heartbeat": {"interval": 1, "grace_period": 3},
    }
    data.update(changes)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def search(path: Path, **options) -> optuna.Study:
    spec = load_spec(path)
    report = run_search(spec, str(path), SearchOptions(progress=False, **options))
    storage = options.get("storage") or f"sqlite:///{spec.results_dir() / 'study.db'}"
    if "://" not in storage:
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    study = optuna.load_study(study_name=spec.name, storage=storage)
    assert report.counts["COMPLETE"] == sum(t.state.name == "COMPLETE" for t in study.trials)
    return study


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials that count: complete, or failed with an evaluation error."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE or "error" in t.user_attrs
    ]


def test_search_records_designs_constraints_and_resumes(tmp_path, tiny_checkpoint):
    path = write_spec(tmp_path, tiny_checkpoint)
    study = search(path)
    assert len(finished(study)) == 12 and len(study.trials) == 12
    trial = study.trials[0]
    assert set(trial.user_attrs["metrics"]) >= {"fps", "power_w", "dsp", "feasible", "violation"}
    assert len(trial.constraints) == 2  # device limits, power cap
    feasible = [t for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    assert all(t.user_attrs["metrics"]["feasible"] for t in feasible)
    table = pd.read_csv(tmp_path / "results" / "search.csv")
    assert len(table) == 12 and {
        "trial",
        "state",
        "k_vec",
        "memory",
        "fps",
        "c_device",
        "c_max_power_w",
        "feasible",
        "violation",
    } <= set(table.columns)
    assert set(table["memory"]) <= {"ddr4_2666_x2", "hbm2_x1"}
    assert (table.loc[table["mem_kind"] == "ddr4", "mem_channels"] == 2).all()
    # the same command continues the study: n_trials counts the total
    study = search(path, n_trials=20)
    assert len(finished(study)) == 20 and len(study.trials) == 20
    assert [t.number for t in study.trials] == list(range(20))
    study = search(path, n_trials=20)
    assert len(study.trials) == 20  # nothing left to do


def test_infeasible_designs_are_recorded_not_errors(tmp_path, tiny_checkpoint):
    path = write_spec(tmp_path, tiny_checkpoint, constraints={"max": {"power_w": 1}}, n_trials=6)
    study = search(path)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert all(t.constraints["1"] > 0 for t in study.trials)  # [device, max power_w]
    assert all(not t.user_attrs["metrics"]["feasible"] for t in study.trials)
    assert all("power_w > 1 +" in t.user_attrs["metrics"]["violation"] for t in study.trials)
    assert study.best_trials == []  # Optuna sees them infeasible too


def test_failing_evaluation_is_recorded_and_the_study_goes_on(tmp_path, tiny_checkpoint, monkeypatch):
    from dla_explorer.dse import evaluation

    real = evaluation.Evaluator.evaluate

    def flaky(self, designs):
        if (designs["k_vec"] == 32).any():
            raise ValueError("simulated failure\nsecond line")
        return real(self, designs)

    monkeypatch.setattr(evaluation.Evaluator, "evaluate", flaky)
    study = search(write_spec(tmp_path, tiny_checkpoint, sampler="random", n_trials=15))
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["k_vec"] == 32 for t in failed)
    assert failed[0].user_attrs["error"] == "ValueError: simulated failure"
    assert len(finished(study)) == 15 == len(study.trials)


FRESH_S = 0.3  # with evaluations of 0.6 s, a trial this young has 0.3 s left

SLOW_SEARCH = textwrap.dedent("""
    import sys, time
    from dla_explorer.dse import evaluation
    from dla_explorer.dse.search import SearchOptions, run_search
    from dla_explorer.dse.spec import load_spec
    real = evaluation.Evaluator.evaluate
    def slow(self, designs):
        time.sleep({sleep})
        return real(self, designs)
    evaluation.Evaluator.evaluate = slow
    spec = load_spec(sys.argv[1])
    storage = sys.argv[2] if len(sys.argv) > 2 else None
    run_search(spec, sys.argv[1], SearchOptions(storage=storage, progress=False))
""")


def start_search(path: Path, storage: str | None = None, sleep: float = 0.6) -> subprocess.Popen:
    argv = [sys.executable, "-c", SLOW_SEARCH.replace("{sleep}", str(sleep)), str(path)]
    return subprocess.Popen(
        argv + ([storage] if storage else []),
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_trials(
    storage: str, name: str, count: int, process: subprocess.Popen, limit: float = 60
) -> None:
    """Until `count` trials are finished and one has just started evaluating its design (its
    evaluation sleeps, so a kill sent now lands mid-trial)."""
    deadline = time.monotonic() + limit
    opened = None
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            if opened is None and (not storage.startswith("sqlite:///") or Path(storage[10:]).is_file()):
                opened = optuna.storages.RDBStorage(storage)  # once: opening takes a while
            study = optuna.load_study(study_name=name, storage=opened)
            now = datetime.datetime.now()
            running = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.RUNNING
                and t.params
                and (now - t.datetime_start).total_seconds() < FRESH_S
            ]
            if len(finished(study)) >= count and running:
                return
        except (KeyError, ValueError, sqlalchemy.exc.SQLAlchemyError):  # not created yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} trials after {limit} s")


def signalled_mid_trial(
    tmp_path: Path, checkpoint: Path, n_trials: int, signum: int
) -> tuple[Path, str, subprocess.Popen]:
    """A search of the tiny spec in a subprocess, sent `signum` while a trial runs after three
    have finished: the spec's path, the study's storage and the process (not yet waited for)."""
    path = write_spec(tmp_path, checkpoint, n_trials=n_trials)
    storage = f"sqlite:///{tmp_path / 'results' / 'study.db'}"
    process = start_search(path)
    wait_for_trials(storage, "tiny", 3, process)
    process.send_signal(signum)
    return path, storage, process


def test_resume_after_kill_keeps_finished_trials(tmp_path, tiny_checkpoint):
    path, storage, process = signalled_mid_trial(tmp_path, tiny_checkpoint, 16, signal.SIGKILL)
    process.wait()
    before = optuna.load_study(study_name="tiny", storage=storage)
    done = {t.number: t.values for t in finished(before)}
    running = [t.number for t in before.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len(done) >= 3 and len(running) == 1  # killed mid-trial
    study = search(path)  # resumes: the dead worker's trial is failed and re-queued at once
    after = {t.number: t.values for t in finished(study)}
    assert all(after[n] == v for n, v in done.items())  # nothing finished was lost
    assert len(after) == 16
    killed = study.trials[running[0]]
    assert killed.state == optuna.trial.TrialState.FAIL and "error" not in killed.user_attrs
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == running[0]]
    assert len(retry) == 1 and retry[0].params == killed.params
    assert retry[0].state == optuna.trial.TrialState.COMPLETE


def test_ctrl_c_requeues_the_running_trial(tmp_path, tiny_checkpoint):
    path, storage, process = signalled_mid_trial(tmp_path, tiny_checkpoint, 10, signal.SIGINT)
    process.wait(timeout=30)
    study = optuna.load_study(study_name="tiny", storage=storage)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    interrupted = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    waiting = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert len(interrupted) == 1 and len(waiting) == 1
    assert waiting[0].params == interrupted[0].params
    assert (tmp_path / "results" / "search.csv").is_file()  # exported on the way out
    study = search(path)
    assert len(finished(study)) == 10 and waiting[0].number in {t.number for t in finished(study)}


def test_two_workers_on_a_journal_file_count_exactly(tmp_path, tiny_checkpoint):
    journal = str(tmp_path / "journal.log")
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=24, sampler="random")
    study = search(path, storage=journal, workers=2)
    trials = study.trials
    assert len(finished(study)) == 24 == len(trials)
    assert sorted(t.number for t in trials) == list(range(24))
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes ran trials


def test_two_processes_on_postgresql_count_exactly(tmp_path, tiny_checkpoint, postgres_url):
    # two separate commands stand for two machines sharing one PostgreSQL study
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=30, name="pg_shared")
    first = start_search(path, postgres_url, sleep=0.05)
    second = start_search(path, postgres_url, sleep=0.05)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    study = optuna.load_study(study_name="pg_shared", storage=postgres_url)
    assert len(finished(study)) == 30 == len(study.trials)
    assert sorted(t.number for t in study.trials) == list(range(30))
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2
    # and resuming with a larger budget from this process adds exactly the remainder
    study = search(path, storage=postgres_url, n_trials=34)
    assert len(finished(study)) == 34 == len(study.trials)


def test_postgres_binaries_missing_skip_or_fail(monkeypatch):
    monkeypatch.setattr(postgres, "find_bin", lambda: None)
    monkeypatch.delenv("DLA_EXPLORER_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the 'postgresql' package"):
        postgres.require_bin()
    monkeypatch.setenv("DLA_EXPLORER_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="DLA_EXPLORER_REQUIRE_POSTGRES=1"):
        postgres.require_bin()


def test_workers_on_postgresql_with_dead_worker_retried(tmp_path, tiny_checkpoint, postgres_url):
    """A worker killed on another machine is noticed by the heartbeat and its trial re-run."""
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=12, name="pg_heartbeat")
    process = start_search(path, postgres_url)
    wait_for_trials(postgres_url, "pg_heartbeat", 3, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    study = optuna.load_study(study_name="pg_heartbeat", storage=postgres_url)
    running = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len(running) == 1
    # pretend the trial ran elsewhere so only the heartbeat (grace period 3 s) can clear it
    study._storage.set_trial_user_attr(running[0]._trial_id, "worker", "other-host:1:1")
    study = search(path, storage=postgres_url)
    assert len(finished(study)) == 12
    assert study.trials[running[0].number].state == optuna.trial.TrialState.FAIL


@pytest.mark.parametrize(
    ("sampler", "objectives"),
    [
        ("nsga2", {"fps": "maximize", "power_w": "minimize"}),
        ("random", {"fps": "maximize", "power_w": "minimize"}),
        ("qmc", {"fps": "maximize", "power_w": "minimize"}),
        ("cmaes", {"fps_per_w": "maximize"}),
    ],
)
def test_samplers(tmp_path, tiny_checkpoint, sampler, objectives):
    study = search(write_spec(tmp_path, tiny_checkpoint, sampler=sampler, objectives=objectives, n_trials=8))
    assert len(finished(study)) == 8


def test_grid_sampler_stops_at_the_grid(tmp_path, tiny_checkpoint):
    space = {
        "k_vec": {"type": "int", "low": 16, "high": 48, "step": 16},
        "c_vec": {"type": "pow2", "low": 8, "high": 16},
    }
    study = search(write_spec(tmp_path, tiny_checkpoint, sampler="grid", space=space, n_trials=100))
    assert len(study.trials) == 6
    assert {(t.params["k_vec"], t.params["log2_c_vec"]) for t in study.trials} == {
        (k, e) for k in (16, 32, 48) for e in (3, 4)
    }


def test_unreachable_storage_is_one_line(tmp_path, tiny_checkpoint):
    path = write_spec(tmp_path, tiny_checkpoint)
    url = "postgresql://user:secret@127.0.0.1:1/none"
    with pytest.raises(DlaError) as info:
        search(path, storage=url)
    message = str(info.value)
    assert "\n" not in message and "127.0.0.1:1/none" in message and "secret" not in message


def test_a_different_spec_cannot_reuse_the_study(tmp_path, tiny_checkpoint):
    journal = str(tmp_path / "j.log")
    search(write_spec(tmp_path, tiny_checkpoint, n_trials=2), storage=journal)
    other = write_spec(
        tmp_path, tiny_checkpoint, n_trials=2, results=str(tmp_path / "other"), objectives=["fps"]
    )
    with pytest.raises(DlaError, match="study 'tiny' was made by spec"):
        search(other, storage=journal)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    search_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except DlaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_search_and_show(tmp_path, tiny_checkpoint, capsys):
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=10)
    code, out, _ = cli(capsys, "search", str(path), "--no-progress")
    assert code == 0 and "10 trials" in out and "search.csv" in out
    for target in (
        tmp_path / "results",
        tmp_path / "results" / "search.csv",
        f"sqlite:///{tmp_path / 'results' / 'study.db'}",
    ):
        code, out, err = cli(capsys, "show", str(target))
        assert code == 0, err
        assert "best per objective" in out and "Pareto set" in out and "max fps" in out
    code, out, _ = cli(
        capsys,
        "show",
        str(tmp_path / "results"),
        "--objectives",
        "fps_per_w:max",
        "--csv",
        str(tmp_path / "front.csv"),
    )
    assert code == 0 and "max fps_per_w" in out and (tmp_path / "front.csv").is_file()
