"""Optuna searches over a spec's design space.

`run_search(spec, source, SearchOptions(...))` opens (or resumes) the study named after the spec
in the chosen storage and runs trials until the study holds n_trials finished trials, in this
process or in N worker processes; other machines pointed at the same storage share the budget.

Each trial (trials.run_trial) suggests a design (space.Space), simulates it
(evaluation.Evaluator) and reports the objectives; its constraint values (<= 0 satisfied) are
stored where Optuna's constrained samplers read them, so infeasible designs are recorded, not
errors. A trial whose evaluation raises is failed with the message in the user attr `error`.

Interrupted trials (Ctrl-C, a killed worker) are failed and re-queued with the same parameters:
at once for Ctrl-C and for dead processes on this machine, via the storage heartbeat
(RetryHeartbeatStaleTrialCallback) for other machines. Finished trials are in the storage the
moment they finish, so nothing finished is lost.
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import numbers
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pydantic
import sqlalchemy
from optuna.trial import FrozenTrial

from dla_explorer.core.errors import DlaError, UsageError, check_type, check_whole
from dla_explorer.dse.evaluation import Evaluator, constraint_columns
from dla_explorer.dse.rescore import rescore_front
from dla_explorer.dse.results import STUDY_DB, prepare_dir, write_table
from dla_explorer.dse.samplers import sampler_class
from dla_explorer.dse.space import Space
from dla_explorer.dse.spec import Spec
from dla_explorer.dse.storage import (
    OpenedStorage,
    is_url,
    open_storage,
    quiet_optuna,
    redact,
    retry_callback,
)
from dla_explorer.dse.trials import (
    POLL_S,
    Progress,
    Reseed,
    StaleCheck,
    Verdict,
    claim,
    counts_of,
    run_trial,
    trial_seed,
)

__all__ = [
    "TPE_DEFAULTS",
    "SearchOptions",
    "SearchReport",
    "load_study_table",
    "run_search",
]


class _SeededGrid:
    """A spec's grid in the order Optuna's GridSampler shuffles it for a seed (the same
    RandomState shuffle, of point indices rather than of listed points), made once per run:
    point(i) decodes the i-th point of that order from its index, so nothing per trial remakes
    or lists the grid."""

    def __init__(self, grid: dict[str, list], seed: int | None) -> None:
        self.names = sorted(grid)  # GridSampler's order: itertools.product over sorted names
        self.values = [list(grid[name]) for name in self.names]
        sizes = [len(v) for v in self.values]
        self.size = math.prod(sizes)
        # mixed-radix place of each parameter in a product index (the last name varies fastest)
        self.strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
        self.order = np.arange(self.size)
        np.random.RandomState(seed or 0).shuffle(self.order)  # GridSampler: LazyRandomState(seed or 0)

    def point(self, number: int) -> dict[str, Any]:
        """The values of the number-th point of the shuffled grid (wrapping past its end).

        Args:
            number: the point's place in the shuffled order (a trial's claim index).

        Returns:
            Optuna parameter name -> value.
        """
        flat = int(self.order[number % self.size])
        return {
            name: values[(flat // stride) % len(values)]
            for name, values, stride in zip(self.names, self.values, self.strides, strict=True)
        }


class _GridSampler(optuna.samplers.BaseSampler):
    """Grid point number `index` of a _SeededGrid for every parameter the trial suggests.
    `_reseeder` makes one per claimed trial with index = the trials claimed before it, so a
    resumed study takes the points an uninterrupted one takes (trial numbers, which Optuna's
    GridSampler uses, shift with every killed trial and its re-queued copy). The study ends at
    the budget, capped at the grid's size (_budget_of): no study.stop(), which Optuna allows only
    inside study.optimize (this module uses ask and tell)."""

    def __init__(self, grid: _SeededGrid, index: int = 0) -> None:
        self.grid, self.index = grid, index

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        point = self.grid.point(self.index)
        if param_name not in point:
            raise ValueError(f"parameter '{param_name}' is not in the grid ({', '.join(self.grid.names)})")
        return point[param_name]


# TPE defaults (spec options override them), tuned with benchmarks/bench_search.py: over 32
# seeds the hypervolume after 300 trials is 99.5% of the exact front on average and at worst
# 97.4%, against 93% / 85% for Optuna's defaults. Multivariate TPE models how parameters interact
# (a wide c_vec fits the DSPs only with a small k_vec); considering the endpoints of each range
# keeps the extreme designs, where the front ends, within reach (alone it lifts the worst seed
# from 91% to 97%). Optuna 4.9 deprecated that option, so it is passed only while TPE has it.
TPE_DEFAULTS = {"multivariate": True, "n_startup_trials": 20, "consider_endpoints": True}


def _tpe_options(options: dict[str, Any]) -> dict[str, Any]:
    accepted = inspect.signature(optuna.samplers.TPESampler).parameters
    defaults = {k: v for k, v in TPE_DEFAULTS.items() if k in accepted}
    return {**defaults, **options}


def _make_sampler(
    spec: Spec,
    space: Space,
    worker: int = 0,
    workers: int = 1,
    seed: int | None = None,
    independent_seed: int | None = None,
) -> optuna.samplers.BaseSampler:
    """The spec's sampler; worker k gets seed + k so parallel workers do not repeat each other
    (`seed` given: that seed, for one trial, see _reseeder; the grid sampler is positioned per
    trial by _reseeder, not seeded).

    Args:
        spec: the experiment spec (sampler name, seed and options).
        space: its search space (the grid sampler lists it).
        worker: this worker's number, 0-based (added to the spec's seed).
        workers: workers sharing the study (TPE gets constant_liar with several).
        seed: a seed to use as is, or None for the spec's seed + worker.
        independent_seed: QMC only: the seed of its independent (random) sampler, or None for
            Optuna's (the QMC seed).

    Returns:
        The Optuna sampler (TPE with TPE_DEFAULTS under the spec's options).

    Raises:
        UsageError: the grid sampler's grid exceeds the spec's max_grid, or a float parameter has no
            step.
    """
    name, options = spec.sampler.name, dict(spec.sampler.options)
    if name == "tpe":
        options = _tpe_options(options)
    if seed is None and spec.sampler.seed is not None:
        seed = (spec.sampler.seed + worker) % 2**32
    if name == "grid":
        return _GridSampler(_SeededGrid(space.optuna_grid(), seed))
    if name == "tpe" and workers > 1:
        options.setdefault("constant_liar", True)  # keeps parallel workers from piling up
    if name == "qmc" and independent_seed is not None:
        options["independent_sampler"] = optuna.samplers.RandomSampler(seed=independent_seed)
    with quiet_optuna():
        return sampler_class(name)(seed=seed, **options)


def _reseeder(spec: Spec, space: Space, workers: int = 1) -> Reseed:
    """A fresh sampler per claimed trial, from the trial's index (the trials claimed before it):
    a study resumed after a kill then draws exactly what an uninterrupted one draws (one worker;
    several workers interleave in their own order anyway).

    - TPE, random, NSGA-II, CMA-ES: seeded by trials.trial_seed(seed, index).
    - grid: point number `index` of the grid shuffled by the spec's seed (_SeededGrid), listed
      once here; without a seed Optuna's order for seed 0, as GridSampler has.
    - QMC: the spec's seed as is (with scrambling it picks the sequence, which every trial and
      worker must share); Optuna numbers the points by a counter stored in the study, which a
      killed trial's re-queued copy does not advance (its parameters are fixed), so only the
      independent sampler (the first trial, parameters outside the first trial's space, e.g. a
      `when:` parameter) is reseeded by trial_seed(seed, index).

    Args:
        spec: the experiment spec.
        space: its search space.
        workers: workers sharing the study.

    Returns:
        claim index -> a new sampler, or None (no seed, and not the grid sampler).

    Raises:
        UsageError: the grid sampler's grid exceeds the spec's max_grid, or a float parameter has no
            step.
    """
    name, base = spec.sampler.name, spec.sampler.seed
    if name == "grid":
        grid = _SeededGrid(space.optuna_grid(), base)
        return lambda index: _GridSampler(grid, index)
    if base is None:
        return None
    if name == "qmc":
        return lambda index: _make_sampler(
            spec, space, workers=workers, seed=base, independent_seed=trial_seed(base, index)
        )
    return lambda index: _make_sampler(spec, space, workers=workers, seed=trial_seed(base, index))


def _budget_of(spec: Spec, space: Space, n_trials: int | None) -> int | None:
    """The number of trials the study should hold: n_trials, capped at the grid's size for the
    grid sampler (which, without n_trials, runs the whole grid).

    Args:
        spec: the experiment spec.
        space: its search space.
        n_trials: the requested trials, or None (a timeout ends the run).

    Returns:
        The budget, or None for no limit.

    Raises:
        UsageError: the grid sampler's grid exceeds the spec's max_grid, or a float parameter has no
            step.
    """
    if spec.sampler.name == "grid":
        size = math.prod(len(v) for v in space.optuna_grid().values())
        return min(n_trials, size) if n_trials else size
    return n_trials


# -- the study -----------------------------------------------------------------------------------


def _open_study(
    spec: Spec, source: str, opened: OpenedStorage, sampler: optuna.samplers.BaseSampler
) -> optuna.Study:
    """Create or load the spec's study; a study made by a different spec is refused.

    Args:
        spec: the experiment spec; its name is the study's.
        source: where the spec came from (a file name), recorded on a new study.
        opened: the storage.
        sampler: the sampler this process uses.

    Returns:
        The study; a new one records the spec, its hash and source, and the metric names.

    Raises:
        DlaError: the storage holds a study of that name made by another spec (another hash).
    """
    with quiet_optuna():
        study = optuna.create_study(
            storage=opened.storage,
            study_name=spec.name,
            directions=spec.directions,
            sampler=sampler,
            load_if_exists=True,
        )
    digest = spec.content_hash()
    old = study.user_attrs.get("spec_hash")
    if old is None:
        study.set_user_attr("spec_hash", digest)
        study.set_user_attr("spec_source", source)
        study.set_user_attr("spec", spec.public_dump())
        with quiet_optuna():  # names the dashboard shows instead of "Objective 0"
            study.set_metric_names(spec.metrics)
    elif old != digest:
        raise DlaError(
            f"storage '{redact(opened.url)}': study '{spec.name}' was made by spec "
            f"{study.user_attrs.get('spec_source')} (hash {old}), not by {source} "
            f"(hash {digest}); set another 'name' or storage"
        )
    return study


# -- running -------------------------------------------------------------------------------------


@dataclass
class SearchOptions:
    """How one run of a search goes, over the spec's own settings (the command line's options).

    storage: an Optuna storage URL or journal file (None: the spec's, else results/<name>/study.db);
    workers: processes on this machine; n_trials: the study's total trials and timeout: seconds
    (None: the spec's); progress: a progress bar on stderr (on a terminal only).
    """

    storage: str | None = None
    workers: int = 1
    n_trials: int | None = None
    timeout: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        # the same rules as the command line's --workers, --n-trials and --timeout: an n_trials of
        # 0 fell back to the spec's silently, a negative timeout stopped at once
        check_whole(self.workers, "SearchOptions: workers", 1)
        if self.n_trials is not None:
            check_whole(self.n_trials, "SearchOptions: n_trials", 1)
        timeout = self.timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf
        ):
            raise UsageError(
                f"SearchOptions: timeout = {timeout!r}: must be a number of seconds > 0, or None"
            )


@dataclass
class SearchReport:
    """What run_search did: storage, study, trials run now, counts per state, feasible trials,
    seconds, the exported table, the trials finished before and the fidelity-2 re-score summary.
    """

    storage: str
    study: str
    ran: int
    counts: dict[str, int]
    feasible: int
    seconds: float
    table: Path
    resumed_from: int = 0  # finished trials the study held before this run
    rescore: str = ""  # the fidelity-2 re-score of the Pareto front (dse/rescore.py), if any


def _run_worker(
    spec: Spec,
    opened: OpenedStorage,
    evaluator: Evaluator,
    budget: int | None,
    deadline: float | None,
    worker: int = 0,
    workers: int = 1,
    source: str = "",
    progress: Progress | None = None,
) -> int:
    """One worker's loop: claim a trial, evaluate it, tell; returns the trials it ran.

    Args:
        spec: the experiment spec.
        opened: the storage (opened by this process).
        evaluator: simulates the designs (models loaded once, shared by forked workers).
        budget: the study's total trials, or None for no limit.
        deadline: time.time() at which to stop claiming trials, or None.
        worker: this worker's number, 0-based (its sampler seed).
        workers: workers sharing the study.
        source: where the spec came from (a file name).
        progress: the progress bar to refresh after each trial, or None.

    Returns:
        The number of trials this worker ran.

    Raises:
        UsageError: the grid sampler's grid exceeds the spec's max_grid, or a float parameter has no
            step.
        DlaError: the study was made by another spec (see _open_study).
        KeyboardInterrupt: Ctrl-C; the running trial is re-queued first (see trials.run_trial).
    """
    sampler = _make_sampler(spec, evaluator.space, worker, workers)
    study = _open_study(spec, source, opened, sampler)
    retry, stale = retry_callback(spec.heartbeat), StaleCheck()
    reseed = _reseeder(spec, evaluator.space, workers)
    ran = 0
    while deadline is None or time.time() < deadline:
        claimed = claim(study, opened, budget, retry, stale, spec.heartbeat.grace_period, reseed)
        if claimed is Verdict.STOP:
            break
        if claimed is Verdict.WAIT:  # others' last trials run; they may die and be re-queued
            time.sleep(POLL_S)
            continue
        assert not isinstance(claimed, Verdict)
        run_trial(study, claimed, spec, evaluator, opened, retry)
        ran += 1
        if progress is not None:
            progress.refresh(study)
    return ran


_FORKED: dict[str, Any] = {}  # what forked workers inherit (loaded models, packings)


def _worker_process(
    spec: Spec,
    target: str,
    budget: int | None,
    deadline: float | None,
    worker: int,
    workers: int,
    source: str,
) -> None:
    _die_with_parent()
    try:
        opened = open_storage(target, spec.heartbeat, spec.name)
        _run_worker(spec, opened, _FORKED["evaluator"], budget, deadline, worker, workers, source)
    except KeyboardInterrupt:
        os._exit(130)
    except DlaError as exc:
        print(f"dla-explorer search: worker {worker}: error: {exc}", file=sys.stderr)
        os._exit(exc.exit_code)
    os._exit(0)  # skip interpreter teardown: nothing of the parent's state is closed twice


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the parent process dies (kill -9 of `search`
    left its workers running). Their running trials are failed and re-queued on the next run."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the worker notices below, between trials
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def run_search(spec: Spec, source: str, options: SearchOptions | None = None) -> SearchReport:
    """Run (or resume) the spec's study until it holds n_trials finished trials or the timeout
    passes, then export the trial table to the results folder.

    Args:
        spec: the experiment spec.
        source: where the spec came from (a file name), recorded and named in errors.
        options: storage, workers, n_trials and timeout (s) overriding the spec's, and the progress
            bar switch; None: SearchOptions() (the spec's own, a progress bar on a terminal).

    Returns:
        The SearchReport: storage (password redacted), study name, trials run by this run, counts
        per state, feasible trials, seconds, the exported table's path, the trials finished
        before and the fidelity-2 re-score summary.

    Raises:
        UsageError: spec is not a Spec or options not a SearchOptions; neither n_trials nor
            timeout is set; the grid is too large; a hardware config
            does not resolve; a model's recipe or weights do not work, or mode nm meets a model not
            pruned N:M; or the simulator refuses a design of the re-scored front.
        DlaError: the results folder or the study belongs to another spec, the storage cannot be
            opened, a checkpoint is unreadable, a worker process stopped with an error, or a file
            cannot be written.
        sqlite3.Error: results.db cannot be written (see results.write_table).
        KeyboardInterrupt: Ctrl-C, after the running trials were re-queued and the table of the
            finished ones exported.
    """
    check_type(spec, Spec, "spec", "spec.load_spec(path) or spec.parse_spec(data, source)")
    options = SearchOptions() if options is None else options
    check_type(options, SearchOptions, "options", "search.SearchOptions(n_trials=..., progress=...)")
    n_trials = options.n_trials or spec.n_trials
    timeout = options.timeout or spec.timeout
    if n_trials is None and timeout is None:
        raise UsageError(
            f"{source}: key 'n_trials': a search needs n_trials or timeout (in the "
            "spec, or --n-trials / --timeout)"
        )
    folder = prepare_dir(spec, source)
    target = options.storage or spec.storage or f"sqlite:///{folder / STUDY_DB}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = Evaluator(spec)
    evaluator.load_models()
    opened = open_storage(target, spec.heartbeat, spec.name)
    study = _open_study(spec, source, opened, _make_sampler(spec, evaluator.space))
    resumed_from = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    budget = _budget_of(spec, evaluator.space, n_trials)
    deadline = time.time() + timeout if timeout else None
    progress = Progress(spec, budget, options.progress)
    start = time.monotonic()
    pids = {os.getpid()}
    try:
        if options.workers == 1:
            _run_worker(spec, opened, evaluator, budget, deadline, 0, 1, source, progress)
        else:
            _run_processes(
                spec,
                target,
                opened,
                evaluator,
                budget,
                deadline,
                options.workers,
                source,
                study,
                progress,
                pids,
            )
    finally:
        progress.refresh(study, force=True)
        progress.close()
        trials = study.get_trials(deepcopy=False)
        table = _study_table(trials, evaluator.space)
        path = write_table(table, folder, "search")
    counts = counts_of(trials)
    feasible = int(table.get("feasible", pd.Series(dtype=bool)).fillna(False).astype(bool).sum())
    ran = sum(t.state.is_finished() and _pid(t.user_attrs.get("worker")) in pids for t in trials)
    seconds = time.monotonic() - start
    # every trial ran at memory fidelity 1: replay the front's designs at fidelity 2
    rescored = rescore_front(table, spec, evaluator, folder) if feasible else None
    summary = rescored.summary() if rescored else ""
    return SearchReport(
        redact(target), spec.name, ran, counts, feasible, seconds, path, resumed_from, summary
    )


def _pid(worker: str | None) -> int | None:
    parts = (worker or "").rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _run_processes(
    spec: Spec,
    target: str,
    opened: OpenedStorage,
    evaluator: Evaluator,
    budget: int | None,
    deadline: float | None,
    workers: int,
    source: str,
    study: optuna.Study,
    progress: Progress,
    pids: set[int],
) -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)
    _FORKED["evaluator"] = evaluator
    engine = getattr(opened.storage, "engine", None)
    if engine is not None:
        engine.dispose()  # children must not share the parent's database connections
    processes = [
        context.Process(
            target=_worker_process, daemon=False, args=(spec, target, budget, deadline, k, workers, source)
        )
        for k in range(workers)
    ]
    for process in processes:
        process.start()
        pids.add(process.pid)
    try:
        while any(p.is_alive() for p in processes):
            progress.refresh(study)
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for process in processes:
            process.join()
        raise
    progress.refresh(study, force=True)
    failed = [(k, p.exitcode) for k, p in enumerate(processes) if p.exitcode]
    if failed:
        raise DlaError(
            f"worker {failed[0][0]} stopped with exit code {failed[0][1]} (its error "
            "is printed above); finished trials are kept, run the command again to "
            "resume"
        )


# -- tables --------------------------------------------------------------------------------------


def _study_table(trials: Sequence[FrozenTrial], space: Space) -> pd.DataFrame:
    """One row per trial: number, state, the design, every metric and the constraint values.

    Args:
        trials: the study's trials.
        space: the search space (decodes the stored parameters into design columns).

    Returns:
        The table (empty without trials): trial, state, error, worker, retry_of, datetime_start,
        duration_s (s), the design columns, the metrics and the c_* constraint values (<= 0
        satisfied).
    """
    if not trials:
        return pd.DataFrame()
    meta = pd.DataFrame(
        {
            "trial": [t.number for t in trials],
            "state": [t.state.name for t in trials],
            "error": [t.user_attrs.get("error", "") for t in trials],
            "worker": [t.user_attrs.get("worker", "") for t in trials],
            "retry_of": [t.system_attrs.get("failed_trial") for t in trials],
            "datetime_start": [t.datetime_start for t in trials],
            "duration_s": [t.duration.total_seconds() if t.duration else None for t in trials],
        }
    )
    designs = space.from_trial_params([t.params for t in trials]).reset_index(drop=True)
    metrics = pd.DataFrame([t.user_attrs.get("metrics", {}) for t in trials])
    names = constraint_columns(space.spec)  # the stored list's order
    constraints = pd.DataFrame(
        [
            {
                names[int(k)] if k.isdigit() and int(k) < len(names) else f"c_{k}": v
                for k, v in t.constraints.items()
            }
            for t in trials
        ]
    )
    return pd.concat([meta, designs, metrics, constraints], axis=1)


def load_study_table(target: str, study_name: str | None = None) -> tuple[pd.DataFrame, Spec]:
    """The trial table and spec of a study in any storage (the spec is stored in the study).
    Read only: a missing file is an error, never created; a .db path is a SQLite storage.

    Args:
        target: an Optuna storage URL, a journal file, or a .db path (read as SQLite).
        study_name: the study to read; None when the storage holds exactly one.

    Returns:
        (table, spec): the trial table (see _study_table) and the spec stored in the study.

    Raises:
        DlaError: the storage file is missing or cannot be opened, it is not a readable Optuna
            storage, `study_name` is absent (or None with several studies, or none), or the study
            was not made by dla-explorer, or the spec stored in the study is not valid for this
            version.
    """
    from dla_explorer.dse.spec import Heartbeat

    if not is_url(target) and Path(target).suffix == ".db":
        target = f"sqlite:///{target}"
    opened = open_storage(target, Heartbeat(), study_name or "", create=False)
    try:
        names = optuna.get_all_study_names(opened.storage)
        if study_name is None:
            if len(names) != 1:
                raise DlaError(
                    f"storage '{redact(target)}' holds {len(names)} studies "
                    f"({', '.join(names) or 'none'}); name one with --study"
                )
            study_name = names[0]
        elif study_name not in names:
            raise DlaError(
                f"storage '{redact(target)}': no study '{study_name}' (studies: {', '.join(names) or 'none'})"
            )
        study = optuna.load_study(study_name=study_name, storage=opened.storage)
        trials = study.get_trials(deepcopy=False)
    except (ValueError, UnicodeDecodeError, sqlalchemy.exc.SQLAlchemyError) as exc:
        # a journal with a corrupt line (not a torn tail: that is skipped) or a non-Optuna file
        raise DlaError(
            f"storage '{redact(target)}': not a readable Optuna study ({type(exc).__name__})"
        ) from None
    spec_data = study.user_attrs.get("spec")
    if spec_data is None:
        raise DlaError(f"study '{study_name}' was not made by dla-explorer (no spec attribute)")
    try:
        spec = Spec.model_validate(spec_data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise DlaError(
            f"study '{study_name}': its stored spec is not valid for this version "
            f"(key '{key}': {first['msg']})"
        ) from None
    return _study_table(trials, Space(spec)), spec
