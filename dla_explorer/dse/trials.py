"""The trial protocol of a search worker, shared by every process and machine on a study.

A worker claims a trial under the study-wide lock (storage.OpenedStorage.lock): it first fails
and re-queues trials whose worker died (on this machine: the process is gone; elsewhere: the
storage heartbeat went silent), then counts the trials already claimed and asks Optuna for a new
one only while there is room in the budget. So the study ends with exactly n_trials finished
trials however many workers share it. The trial is then evaluated outside the lock and told.
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from dla_explorer.core.errors import DlaError
from dla_explorer.dse.evaluation import Evaluator
from dla_explorer.dse.spec import METRICS, Objective, Spec
from dla_explorer.dse.storage import (
    OpenedStorage,
    is_dead_local,
    quiet_optuna,
    worker_id,
)

FINISHED_STATES = ("COMPLETE", "FAIL")
POLL_S = 0.5
STOP, WAIT = "stop", "wait"


def counts_of(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    counts = {"COMPLETE": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0, "PRUNED": 0}
    for t in trials:
        if t.state != TrialState.FAIL or "error" in t.user_attrs:
            counts[t.state.name] += 1
    return counts


def _fail_dead_local(study: optuna.Study, trials: Sequence[FrozenTrial], retry: Any, grace_s: float) -> bool:
    """Fail and re-queue running trials whose worker process on this machine has died, and
    trials that never recorded a worker (killed between ask and the record) once older than the
    grace period: storages without a heartbeat (journal files) would wait for them forever."""
    found = False
    now = datetime.datetime.now()
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        worker = t.user_attrs.get("worker")
        orphan = (
            worker is None
            and t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() > grace_s
        )
        if orphan or is_dead_local(worker):
            with quiet_optuna():
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                retry(study, t)
            found = True
    return found


class StaleCheck:
    """Looks for stale trials once per heartbeat interval, not before every trial (a query)."""

    def __init__(self) -> None:
        self.next = 0.0

    def due(self, study: optuna.Study) -> bool:
        storage = study._storage
        if not optuna.storages._heartbeat.is_heartbeat_enabled(storage) or time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + storage.get_heartbeat_interval()
        return True


def claim(
    study: optuna.Study,
    opened: OpenedStorage,
    budget: int | None,
    retry: Any,
    stale: StaleCheck,
    grace_s: float,
) -> optuna.Trial | str:
    """Under the study lock: recover dead trials, count what is claimed, ask if there is room.
    Claimed = complete + failed with an error + running + waiting (re-queued) trials."""
    with opened.lock, quiet_optuna():
        if stale.due(study):
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        if _fail_dead_local(study, trials, retry, grace_s):
            trials = study.get_trials(deepcopy=False)
        counts = counts_of(trials)
        claimed = sum(counts.values())
        if counts["WAITING"] or budget is None or claimed < budget:
            trial = study.ask()
            # recorded under the lock, so no other worker takes a re-queued trial for dead
            trial.set_user_attr("worker", worker_id())
            return trial
    return WAIT if counts["RUNNING"] else STOP


def _metrics_attr(record: pd.Series) -> dict[str, Any]:
    out = {m: float(record[m]) for m in METRICS if m in record}
    out.update(
        {
            "feasible": bool(record["feasible"]),
            "violation": str(record["violation"]),
            "bound": str(record.get("bound", "")),
        }
    )
    return out


def run_trial(study: optuna.Study, trial: optuna.Trial, spec: Spec, evaluator: Evaluator, retry: Any) -> None:
    """Evaluate a claimed trial and tell Optuna; on Ctrl-C, fail and re-queue it first."""
    try:
        try:
            # the heartbeat thread Study.optimize would run; ask/tell has to start it itself
            with optuna.storages._heartbeat.get_heartbeat_thread(trial._trial_id, study._storage):
                values = _evaluate(trial, spec, evaluator)
        except Exception as exc:  # a bad design must not stop the study: record it
            message = str(exc).splitlines()[0] if str(exc) else ""
            trial.set_user_attr("error", f"{type(exc).__name__}: {message}")
            with quiet_optuna():
                study.tell(trial, state=TrialState.FAIL)
            return
        with quiet_optuna():
            study.tell(trial, values)
    except KeyboardInterrupt:
        requeue(study, trial, retry)
        raise


def _evaluate(trial: optuna.Trial, spec: Spec, evaluator: Evaluator) -> list[float]:
    row = evaluator.space.suggest(trial)
    record = evaluator.evaluate(pd.DataFrame([row])).iloc[0]
    values = [float(record[m]) for m in spec.metrics]
    bad = [f"{m} = {v}" for m, v in zip(spec.metrics, values, strict=True) if not math.isfinite(v)]
    if bad:
        raise DlaError(f"objective {bad[0]} is not finite")
    trial.set_user_attr("metrics", _metrics_attr(record))
    # Optuna's own constraints (<= 0 satisfied), read by its constrained samplers (TPE,
    # NSGA-II), study.best_trials and the dashboard whatever the sampler. Stored as the
    # one-attribute list that constraints_func writes (Optuna 5 reads it as it reads
    # Trial.set_constraint's keys): one write per trial instead of a read and a write per
    # constraint. Their names are the table's c_* columns.
    trial.storage.set_trial_system_attr(
        trial._trial_id, "constraints", [float(record[c]) for c in evaluator.constraint_names]
    )
    return values


def requeue(study: optuna.Study, trial: optuna.Trial, retry: Any) -> None:
    """Fail an interrupted trial and queue a copy with its parameters (unless it had finished:
    a Ctrl-C during `tell` must not run a complete trial twice)."""
    with quiet_optuna():
        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        if frozen.state == TrialState.FAIL and "error" not in frozen.user_attrs:
            retry(study, frozen)


class Progress:
    """A tqdm bar on stderr: finished trials and the best feasible value of each objective."""

    def __init__(self, spec: Spec, total: int | None, enabled: bool) -> None:
        self.objectives = spec.objectives
        self.bar = tqdm(
            total=total,
            desc=spec.name,
            unit="trial",
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self._last = 0.0

    def refresh(self, study: optuna.Study, force: bool = False) -> None:
        if self.bar.disable or (not force and time.monotonic() - self._last < POLL_S):
            return
        self._last = time.monotonic()
        trials = study.get_trials(deepcopy=False)
        best = _best_values(trials, self.objectives)
        self.bar.n = sum(c for s, c in counts_of(trials).items() if s in FINISHED_STATES)
        self.bar.set_postfix_str(
            ", ".join(
                f"{o.direction[:3]} {o.metric} {v:.4g}"
                for o, v in zip(self.objectives, best, strict=True)
                if v is not None
            ),
            refresh=False,
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _best_values(trials: Sequence[FrozenTrial], objectives: Sequence[Objective]) -> list[float | None]:
    feasible = [
        t.values
        for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get("metrics", {}).get("feasible")
    ]
    if not feasible:
        return [None] * len(objectives)
    return [
        (max if o.direction == "maximize" else min)(v[i] for v in feasible) for i, o in enumerate(objectives)
    ]
