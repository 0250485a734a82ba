"""Issue 14: nothing silently wrong, nothing lost, never a traceback. One test (at least) per
numbered item of the issue; the spec-level refusals of items 6, 7 and 15 are cases of
test_spec.test_validation_errors_name_key_and_rule, the CSV readers of items 5 and 10 are in
test_results, the fuzz test over every input kind is test_fuzz.py."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from dla_explorer.cli import main
from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.core.fileio import FileLock, load_yaml_model, read_yaml
from dla_explorer.core.secrets import redact
from dla_explorer.dse import evaluation, results
from dla_explorer.dse.results import load_results, write_table
from dla_explorer.dse.spec import ModelEntry, load_spec
from dla_explorer.dse.storage import JournalLock
from dla_explorer.dse.sweep import run_sweep
from dla_explorer.sim import config as hw
from dla_explorer.sparsity import checkpoint, pruning
from dla_explorer.study import experiment
from dla_explorer.workload.scalesim import read_scalesim_csv

from .conftest import TINY_SHAPE, TinyNet
from .test_search import ROOT, finished, search, start_search, wait_for_trials, write_spec

FACTORY = """
from torch import nn
def build():
    return nn.Sequential(nn.Conv2d(3, {width}, 3, padding=1), nn.ReLU(), nn.Conv2d({width}, 8, 3))
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    sparse = pruning.prune(TinyNet().eval(), "random", 0.8, input_shape=TINY_SHAPE, calibration_size=2)
    return checkpoint.save(sparse, tmp_path_factory.mktemp("model") / "tiny.npz")


# -- wrong results, exit 0 -----------------------------------------------------------------------


def test_1_model_cache_keys_on_the_factory_file_content(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fac.py").write_text(FACTORY.replace("{width}", "4"))
    recipe = {"model": "fac.py:build", "sparsity": 0.5, "input_shape": [1, 3, 8, 8], "calibration_size": 1}
    entry = ModelEntry(recipe=pruning.Recipe(**recipe))
    assert evaluation.load_model(entry).workload.layers[0].K == 4
    (tmp_path / "fac.py").write_text(FACTORY.replace("{width}", "12"))  # bigger layers, same path
    assert evaluation.load_model(entry).workload.layers[0].K == 12


def test_1_search_reuses_the_checkpoint_prune_wrote_for_the_same_recipe(tmp_path, monkeypatch):
    """Issue 9: `search` used to prune again the recipe the user had just pruned."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fac.py").write_text(FACTORY.replace("{width}", "4"))
    recipe = {"model": "fac.py:build", "sparsity": 0.5, "input_shape": [1, 3, 8, 8], "calibration_size": 1}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({**recipe, "output": "r.npz"}))
    assert main(["prune", "r.yaml"]) == 0
    calls = []
    monkeypatch.setattr(evaluation, "prune_recipe", lambda r: calls.append(r))
    sparse = evaluation.load_model(ModelEntry(recipe="r.yaml"))
    assert not calls and sparse.content_hash() == checkpoint.load("r.npz").content_hash()
    (tmp_path / "fac.py").write_text(FACTORY.replace("{width}", "6"))  # the checkpoint is stale now
    monkeypatch.setattr(evaluation, "prune_recipe", pruning.prune_recipe)
    assert evaluation.load_model(ModelEntry(recipe="r.yaml")).workload.layers[0].K == 6


def _fake_prune(calls):
    def prune_recipe(recipe):
        calls.append(recipe.seed)
        torch.manual_seed(recipe.seed)
        return pruning.prune(TinyNet().eval(), "random", 0.5, input_shape=TINY_SHAPE, calibration_size=1)

    return prune_recipe


def test_2_experiment_checkpoints_are_keyed_on_the_full_recipe(tmp_path, monkeypatch):
    spec = experiment.load_experiment(ROOT / "experiments" / "paper.yaml")
    calls: list[int] = []
    monkeypatch.setattr(experiment.pruning, "prune_recipe", _fake_prune(calls))
    experiment._sparse_model(spec, "resnet50", 0.9, tmp_path)
    experiment._sparse_model(spec, "resnet50", 0.9, tmp_path)
    assert calls == [0]  # reused
    reseeded = spec.model_copy(update={"seed": 1})
    experiment._sparse_model(reseeded, "resnet50", 0.9, tmp_path)
    assert calls == [0, 1]  # the seed-0 checkpoint is not served for seed 1


def test_2_a_killed_run_resumed_with_another_spec_is_refused(tmp_path, monkeypatch):
    spec = experiment.load_experiment(ROOT / "experiments" / "paper.yaml")
    monkeypatch.setattr(experiment.pruning, "prune_recipe", _fake_prune([]))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "_simulate_model", killed)
    with pytest.raises(KeyboardInterrupt):
        experiment.run_experiment(spec, "paper.yaml", tmp_path / "out", run_search=False, progress=False)
    other = spec.model_copy(update={"seed": 1})
    with pytest.raises(DlaError, match="holds results of experiment spec"):
        experiment.run_experiment(other, "paper.yaml", tmp_path / "out", run_search=False, progress=False)


def _spec_in(folder: Path, model: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_spec(folder, model, **changes)


def _designs(study: optuna.Study) -> list[dict]:
    return [t.params for t in sorted(study.trials, key=lambda t: t.number) if t.state.name == "COMPLETE"]


def test_3_a_search_resumed_after_kill_equals_an_uninterrupted_one(tmp_path, tiny_checkpoint):
    """The sampler is reseeded per trial index: kill -9 mid-trial, resume, same designs."""
    whole = search(_spec_in(tmp_path / "a", tiny_checkpoint, n_trials=10))
    path = _spec_in(tmp_path / "b", tiny_checkpoint, n_trials=10)
    process = start_search(path, sleep=0.4)
    # past TPE's 5 startup trials, so the kill lands among model-based draws
    wait_for_trials(f"sqlite:///{tmp_path / 'b' / 'results' / 'study.db'}", "tiny", 6, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = search(path)
    assert len(finished(resumed)) == 10
    assert _designs(resumed) == _designs(whole)
    assert [t.values for t in resumed.trials if t.state.name == "COMPLETE"] == [
        t.values for t in whole.trials if t.state.name == "COMPLETE"
    ]


QMC = {"name": "qmc", "options": {"scramble": True}}
FLAT_SPACE = {  # no `when:` parameter: every parameter is in QMC's sequence
    "k_vec": {"type": "int", "low": 16, "high": 128, "step": 16},
    "c_vec": {"type": "pow2", "low": 4, "high": 32},
    "clock_mhz": {"type": "float", "low": 300, "high": 400, "step": 50},
}


@pytest.mark.parametrize(
    ("sampler", "changes"),
    [
        ({"name": "grid", "seed": 5}, {}),
        ({"name": "grid"}, {}),  # no seed: Optuna's order for seed 0, deterministic as well
        # the first trial takes DDR4, so `mem_channels` (when hbm2) is outside QMC's space
        # (that of the first trial) and drawn by its independent sampler, reseeded per trial
        ({**QMC, "seed": 4}, {}),
        # all in the sequence: Optuna's point counter, stored in the study and not advanced by
        # a re-queued copy, already gives a resumed run the same points (this passed before
        # the independent sampler was reseeded)
        ({**QMC, "seed": 3}, {"space": FLAT_SPACE}),
    ],
    ids=["grid", "grid-unseeded", "qmc-conditional", "qmc-flat"],
)
def test_3_grid_and_qmc_resumed_after_an_interruption_equal_an_uninterrupted_run(
    tmp_path, tiny_checkpoint, monkeypatch, sampler, changes
):
    """Interrupted during its 4th evaluation (the trial is failed and re-queued, as after a kill),
    then resumed: the same designs in the same order as a run never interrupted, though every
    later trial number is shifted by the re-queued copy."""
    spec = {"sampler": sampler, "n_trials": 9, **changes}
    whole = search(_spec_in(tmp_path / "a", tiny_checkpoint, **spec))
    path = _spec_in(tmp_path / "b", tiny_checkpoint, **spec)
    real, calls = evaluation.Evaluator.evaluate, []

    def interrupted(self, designs):
        calls.append(len(designs))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, designs)

    monkeypatch.setattr(evaluation.Evaluator, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(path)
    monkeypatch.setattr(evaluation.Evaluator, "evaluate", real)
    resumed = search(path)
    assert [t.state.name for t in resumed.trials].count("FAIL") == 1  # the interrupted one
    assert len(finished(resumed)) == 9
    assert _designs(resumed) == _designs(whole)
    assert len({tuple(sorted(d.items())) for d in _designs(whole)}) == 9  # distinct designs
    if sampler.get("seed") == 4:  # the case it covers: drawn outside the sequence after the stop
        assert "mem_channels" not in _designs(whole)[0]
        assert any("mem_channels" in d for d in _designs(whole)[4:])
    if sampler["name"] == "grid":  # and in Optuna's GridSampler order for the seed
        assert _designs(whole) == _grid_sampler_designs(path, sampler.get("seed"), _designs(whole))


def _grid_sampler_designs(path: Path, seed: int | None, designs: list[dict]) -> list[dict]:
    """The first len(designs) points Optuna's GridSampler gives a fresh study, each restricted
    to the parameters the matching design suggested (a `when:` parameter may be absent)."""
    from dla_explorer.dse.space import Space

    grid = Space(load_spec(path)).optuna_grid()
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid, seed=seed))
    out = []
    for design in designs:
        trial = study.ask()
        point = {name: trial.suggest_categorical(name, values) for name, values in grid.items()}
        study.tell(trial, 0.0)
        out.append({k: v for k, v in point.items() if k in design})
    return out


SWEEP = {
    "name": "sw",
    "device": "stratix10_mx2100",
    "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
    "space": {"k_vec": {"type": "int", "low": 16, "high": 64, "step": 16}},
    "objectives": ["fps"],
}


def _sweep_spec(tmp_path: Path, model: Path, **changes) -> Path:
    data = {**SWEEP, "models": [{"checkpoint": str(model)}], "results": str(tmp_path / "res"), **changes}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_4_a_second_sweep_on_a_busy_folder_is_refused(tmp_path, tiny_checkpoint):
    path = _sweep_spec(tmp_path, tiny_checkpoint)
    spec = load_spec(path)
    (tmp_path / "res").mkdir()
    with FileLock(tmp_path / "res" / "sweep.lock"), pytest.raises(DlaError, match="another sweep"):
        run_sweep(spec, str(path), progress=False)
    report = run_sweep(spec, str(path), progress=False)
    assert report.table["point"].tolist() == [0, 1, 2, 3]  # once each


def test_6_non_finite_and_huge_numbers_are_refused_at_load(tmp_path):
    arch = yaml.safe_load((ROOT / "hw_configs" / "devices" / "stratix10_mx2100.yaml").read_text())
    for key, value in (("static_power_w", ".nan"), ("static_power_w", ".inf")):
        text = (ROOT / "hw_configs" / "devices" / "stratix10_mx2100.yaml").read_text()
        assert f"\n{key}:" in text
        lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in text.splitlines()]
        (tmp_path / "d.yaml").write_text("\n".join(lines))
        with pytest.raises(UsageError, match=f"key '{key}'.*finite"):
            load_yaml_model(hw.Device, tmp_path / "d.yaml")
    assert arch  # the shipped file itself loads
    (tmp_path / "t.csv").write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "huge, 1000000000000, 1000000000000, 3, 3, 64, 64, 1,\n"
    )
    with pytest.raises(UsageError, match="at most"):
        read_scalesim_csv(tmp_path / "t.csv")
    for bad in ({"seed": -1}, {"seed": 10**21}, {"calibration_size": 10**12}, {"sparsity": float("nan")}):
        with pytest.raises(ValueError):
            pruning.Recipe(model="resnet50", **bad)
    with pytest.raises(UsageError, match="at most 256"):
        pruning.parse_nm("2:1000000000000")


def test_6_extreme_sparsity_keeps_a_weight_per_layer():
    sparse = pruning.prune(TinyNet().eval(), "random", 0.9999999, input_shape=TINY_SHAPE, calibration_size=1)
    assert all(mask.sum() >= 1 for mask in sparse.masks.values())


def test_6_mode_nm_on_a_model_not_pruned_nm_is_refused(tmp_path, tiny_checkpoint):
    spec = load_spec(_sweep_spec(tmp_path, tiny_checkpoint, modes=["nm"]))
    with pytest.raises(UsageError, match="mode 'nm' needs a model pruned with method nm"):
        evaluation.Evaluator(spec).load_models()


def test_an_unknown_model_label_is_named(tmp_path, tiny_checkpoint):
    """Evaluator.model raised a bare StopIteration for a label the spec does not have."""
    from dla_explorer.core.errors import UnknownName

    spec = load_spec(_sweep_spec(tmp_path, tiny_checkpoint))
    labels = ", ".join(m.label for m in spec.models)
    with pytest.raises(
        UnknownName, match=f"model 'resnet' is not in spec '{spec.name}' \\(its models: {labels}\\)"
    ):
        evaluation.Evaluator(spec).model("resnet")


def test_7_names_that_are_not_plain_folder_names_are_refused(tmp_path):
    data = {**SWEEP, "name": "..", "models": [{"checkpoint": "x.npz"}]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError, match="key 'name'"):
        load_spec(tmp_path / "s.yaml")
    text = (ROOT / "experiments" / "paper.yaml").read_text()
    (tmp_path / "p.yaml").write_text(text.replace("name: paper", 'name: ".."', 1))
    with pytest.raises(UsageError, match="key 'name'"):
        experiment.load_experiment(tmp_path / "p.yaml")


# -- lost or stuck -------------------------------------------------------------------------------


def test_8_a_torn_journal_tail_is_skipped_and_the_study_resumes(tmp_path, tiny_checkpoint):
    journal = tmp_path / "journal.log"
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=4, sampler="random")
    search(path, storage=str(journal))
    with open(journal, "ab") as handle:
        handle.write(b'{"op_code": 4, "worker_id": "x", "trial_id": 9, "para')  # a full disk
    table = load_results(str(journal)).tables["search"]  # a reader: the file stays as it is
    assert len(table) == 4 and not journal.read_bytes().endswith(b"\n")
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=6, sampler="random")
    assert len(finished(search(path, storage=str(journal)))) == 6


LOCKER = """
import sys, time
from pathlib import Path
from dla_explorer.dse.storage import JournalLock
JournalLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_9_a_killed_journal_writer_leaves_no_stale_lock(tmp_path):
    journal = tmp_path / "journal.log"
    process = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(journal)], cwd=ROOT, stdout=subprocess.PIPE, env=os.environ
    )
    assert process.stdout.readline().strip() == b"locked"
    process.send_signal(signal.SIGKILL)
    process.wait()
    start = time.monotonic()
    lock = JournalLock(journal)
    assert lock.acquire()
    lock.release()
    assert time.monotonic() - start < 1.0  # Optuna's symlink lock waited out 30 s


def test_10_a_sweep_csv_cut_in_its_first_row_resumes(tmp_path, tiny_checkpoint):
    path = _sweep_spec(tmp_path, tiny_checkpoint)
    spec = load_spec(path)
    run_sweep(spec, str(path), progress=False)
    csv = tmp_path / "res" / "sweep.csv"
    text = csv.read_text()
    csv.write_text(text[: text.index("\n") + 5])  # the header and 4 bytes of the first row
    report = run_sweep(spec, str(path), progress=False)
    assert report.evaluated == 4 and report.table["point"].tolist() == [0, 1, 2, 3]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_11_workers_die_with_their_killed_parent(tmp_path, tiny_checkpoint):
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=200, sampler="random")
    script = textwrap.dedent("""
        import sys, time
        from dla_explorer.dse import evaluation
        from dla_explorer.dse.search import SearchOptions, run_search
        from dla_explorer.dse.spec import load_spec
        real = evaluation.Evaluator.evaluate
        def slow(self, designs):
            time.sleep(0.5)
            return real(self, designs)
        evaluation.Evaluator.evaluate = slow
        run_search(load_spec(sys.argv[1]), sys.argv[1], SearchOptions(workers=2, progress=False))
    """)
    process = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT, env=os.environ)
    deadline = time.monotonic() + 60
    while len(children := _children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) >= 2
    time.sleep(1.0)  # the workers are past their start-up
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{c}").exists() and _state(c) != "Z" for c in children):
        assert time.monotonic() < deadline, "workers outlived their parent"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _export_many(folder: str, rounds: int) -> None:
    table = pd.DataFrame({"trial": range(50), "fps": np.arange(50.0)})
    for _ in range(rounds):
        write_table(table, Path(folder), "search")


def test_12_exports_finishing_together_do_not_collide(tmp_path):
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    processes = [context.Process(target=_export_many, args=(str(tmp_path), 15)) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert len(pd.read_csv(tmp_path / "search.csv")) == 50


def test_13_show_reads_the_study_and_creates_nothing(tmp_path, tiny_checkpoint, capsys):
    path = write_spec(tmp_path, tiny_checkpoint, n_trials=6, sampler="random")
    search(path)
    folder = tmp_path / "results"
    stale = pd.read_csv(folder / "search.csv").head(2)  # as after a killed second search
    stale.to_csv(folder / "search.csv", index=False)
    assert len(load_results(str(folder)).tables["search"]) == 6
    assert len(load_results(str(folder / "study.db")).tables["search"]) == 6  # not a journal
    for missing in (tmp_path / "nope" / "study.db", tmp_path / "nope" / "j.log"):
        assert main(["show", str(missing)]) == 1
        assert "not found" in capsys.readouterr().err
        assert not (tmp_path / "nope").exists()


# -- one line, never a traceback -----------------------------------------------------------------


def _one_line_error(argv: list[str], capsys, code: int | None = None) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc in (1, 2) and (code is None or rc == code), (rc, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_14_binary_and_empty_inputs(tmp_path, capsys):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00binary\x00")
    assert "not UTF-8" in _one_line_error(["sweep", str(tmp_path / "bin.yaml")], capsys)
    (tmp_path / "empty.csv").write_text("")
    assert "empty" in _one_line_error(
        ["systolic", str(tmp_path / "empty.csv"), "--rows", "4", "--cols", "4", "--dataflow", "ws"], capsys
    )
    (tmp_path / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "not UTF-8" in _one_line_error(
        ["systolic", str(tmp_path / "bin.csv"), "--rows", "4", "--cols", "4", "--dataflow", "ws"], capsys
    )
    (tmp_path / "results.csv").write_bytes(b"\xff\xfe\x00\x01")
    _one_line_error(["show", str(tmp_path / "results.csv")], capsys)


def test_14_alias_bomb_is_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(UsageError, match="alias"):
        read_yaml(tmp_path / "bomb.yaml")
    assert time.monotonic() - start < 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_14_read_only_results_folder(tmp_path, tiny_checkpoint, capsys):
    path = _sweep_spec(tmp_path, tiny_checkpoint)
    (tmp_path / "res").mkdir()
    (tmp_path / "res").chmod(0o555)
    try:
        assert "cannot write" in _one_line_error(["sweep", str(path), "--no-progress"], capsys, 1)
    finally:
        (tmp_path / "res").chmod(0o755)


def test_14_write_failures_are_one_line(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    path = _sweep_spec(tmp_path, tiny_checkpoint)
    (tmp_path / "res").write_text("a file where the results folder should be")
    assert "not a folder" in _one_line_error(["sweep", str(path), "--no-progress"], capsys, 1)
    (tmp_path / "res").unlink()
    assert main(["sweep", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    (tmp_path / "front").mkdir()  # a folder as the output file
    err = _one_line_error(["show", str(tmp_path / "res"), "--csv", str(tmp_path / "front")], capsys, 1)
    assert "is a folder" in err

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", full)
    (tmp_path / "res" / "sweep.csv").unlink()
    assert "No space left" in _one_line_error(["sweep", str(path), "--no-progress"], capsys, 1)


@pytest.mark.parametrize(
    "body, rule",
    [
        ("def build(:\n", "failed to import"),
        ("raise RuntimeError('boom')\n", "failed to import"),
        ("def build():\n    raise ValueError('bad width')\n", "raised ValueError"),
        ("def build():\n    return 42\n", "not a torch.nn.Module"),
    ],
)
def test_14_broken_factory_files(tmp_path, capsys, monkeypatch, body, rule):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fac.py").write_text(body)
    err = _one_line_error(["prune", "--model", "fac.py:build", "--sparsity", "0.5", "-o", "x.npz"], capsys)
    assert rule in err


def _manifest_variants(path: Path, tmp_path: Path):
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    manifest = json.loads(arrays["manifest"].tobytes())
    layers = manifest["layers"]
    yield "missing layer", {**manifest, "layers": layers[:-1]}
    yield "extra layer", {**manifest, "layers": [*layers, layers[-1]]}
    yield "wrong type", {**manifest, "layers": [{**layers[0], "K": "many"}, *layers[1:]]}
    yield "huge K", {**manifest, "layers": [{**layers[0], "K": 10**15}, *layers[1:]]}
    yield "not a list", {**manifest, "layers": 7}
    yield "not a record", [1, 2]


def test_14_checkpoint_with_a_bad_manifest(tmp_path, tiny_checkpoint):
    with np.load(tiny_checkpoint) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for what, manifest in _manifest_variants(tiny_checkpoint, tmp_path):
        bad = tmp_path / "bad.npz"
        np.savez(bad, **{**arrays, "manifest": np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)})
        with pytest.raises(DlaError):
            checkpoint.load(bad)
        assert what


def test_14_junk_calibration_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    torch.save({"x": torch.zeros(2)}, tmp_path / "dict.pt")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    for source in ("obj.npy", "dict.pt", "images"):
        with pytest.raises(UsageError, match="calibration"):
            pruning.calibration_batch(str(tmp_path / source), TINY_SHAPE, 1)


def test_14_out_of_range_cli_counts(tmp_path, capsys):
    (tmp_path / "t.csv").write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "c1, 8, 8, 3, 3, 4, 4, 1,\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["systolic", str(tmp_path / "t.csv"), "--rows", str(10**20), "--cols", "4"])
    assert info.value.code == 2 and "at most" in capsys.readouterr().err


def test_14_sweep_grids_are_counted_before_they_are_listed(tmp_path, tiny_checkpoint, capsys):
    space = {"clock_mhz": {"type": "float", "low": 200, "high": 400}}
    path = _sweep_spec(tmp_path, tiny_checkpoint, space=space)
    assert "needs a step" in _one_line_error(["sweep", str(path)], capsys, 2)
    for param in (
        {"k_vec": {"type": "int", "low": 1, "high": 10**12}},
        {"clock_mhz": {"type": "float", "low": 200, "high": 400, "step": 1e-9}},
    ):
        start = time.monotonic()
        path = _sweep_spec(tmp_path, tiny_checkpoint, space=param, results=str(tmp_path / str(start)))
        assert "more than" in _one_line_error(["sweep", str(path)], capsys, 2)
        assert time.monotonic() - start < 10


# -- secrets -------------------------------------------------------------------------------------


def test_16_passwords_are_redacted_everywhere(tmp_path, tiny_checkpoint):
    assert redact("postgresql://u:p@ss@w0rd@db-host:5432/optuna") == "postgresql://u:***@db-host:5432/optuna"
    assert redact("postgresql://u:a/b@host/db?x=1") == "postgresql://u:***@host/db?x=1"
    assert redact("sqlite:///results/x/study.db") == "sqlite:///results/x/study.db"
    url = "postgresql://user:s3cr@t@127.0.0.1:1/optuna"
    path = _sweep_spec(tmp_path, tiny_checkpoint, storage=url)
    run_sweep(load_spec(path), str(path), progress=False)
    assert "s3cr" not in (tmp_path / "res" / "spec.json").read_text()
    # a study made by another spec: the refusal names the storage without the password
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec_a = _spec_in(tmp_path / "a", tiny_checkpoint, n_trials=2, sampler="random")
    search(spec_a, storage=storage)
    spec_b = _spec_in(tmp_path / "b", tiny_checkpoint, n_trials=2, sampler="random", batch=2)
    from dla_explorer.dse.search import SearchOptions, _open_study
    from dla_explorer.dse.storage import OpenedStorage, open_storage

    opened = open_storage(storage, load_spec(spec_b).heartbeat, "tiny")
    shown = OpenedStorage(opened.storage, opened.lock, url)
    with pytest.raises(DlaError) as info:
        _open_study(load_spec(spec_b), str(spec_b), shown, optuna.samplers.RandomSampler())
    assert "s3cr" not in str(info.value) and "user:***@" in str(info.value)
    assert SearchOptions  # imported for the type only
