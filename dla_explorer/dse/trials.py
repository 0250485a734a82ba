"""The trial protocol of a search worker, shared by every process and machine on a study.

A worker claims a trial under the study-wide lock (storage.OpenedStorage.lock): it first fails
and re-queues trials whose worker died (on this machine: the process is gone; elsewhere: the
storage heartbeat went silent), then counts the trials already claimed and asks Optuna for a new
one only while there is room in the budget. So the study ends with exactly n_trials finished
trials however many workers share it. The trial is then evaluated outside the lock and told.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import hashlib
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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


class Verdict(enum.Enum):
    """What `claim` says when it hands out no trial."""

    STOP = "stop"  # the budget is used up
    WAIT = "wait"  # others' last trials run; they may die and be re-queued


@dataclass(frozen=True)
class Claimed:
    """A trial handed to this worker, with its storage id (for the heartbeat and the
    constraint attribute; Optuna keeps the id private on Trial)."""

    trial: optuna.Trial
    trial_id: int


# a sampler for the claim with this index (see claim); None keeps the study's sampler
Reseed = Callable[[int], optuna.samplers.BaseSampler] | None


def counts_of(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """Trials per state, counting a failed trial only when it failed with an `error` (an
    interrupted one is re-queued as a waiting copy, so it does not count twice).

    Args:
        trials: the study's trials.

    Returns:
        COMPLETE, FAIL, RUNNING, WAITING and PRUNED -> count.
    """
    counts = {"COMPLETE": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0, "PRUNED": 0}
    for t in trials:
        if t.state != TrialState.FAIL or "error" in t.user_attrs:
            counts[t.state.name] += 1
    return counts


def _fail_dead_local(
    study: optuna.Study, trials: Sequence[FrozenTrial], retry: Any, grace_s: float, exclusive: bool
) -> bool:
    """Fail and re-queue running trials whose worker process on this machine has died. A trial
    that never recorded a worker was killed inside `claim` (between ask and the record, while
    its sampler ran): under an exclusive budget lock that is certain at once, otherwise only
    once older than the grace period. It is failed without a copy: nothing was evaluated, and
    the next claim asks the sampler again (with the same seed, so a resumed run draws the
    same design)."""
    found = False
    now = datetime.datetime.now()
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        worker = t.user_attrs.get("worker")
        orphan = worker is None and (
            exclusive or (t.datetime_start is not None and (now - t.datetime_start).total_seconds() > grace_s)
        )
        if orphan or is_dead_local(worker):
            with quiet_optuna():
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                if not orphan:
                    retry(study, t)
            found = True
    return found


def heartbeat_interval(storage: optuna.storages.BaseStorage) -> int | None:
    """The storage's heartbeat interval (RDB storages made by open_storage), else None.

    Args:
        storage: the study's storage.

    Returns:
        The interval in seconds, or None (no heartbeat: journal and in-memory storages).
    """
    if isinstance(storage, optuna.storages.RDBStorage):
        return storage.get_heartbeat_interval()
    return None


class StaleCheck:
    """Looks for stale trials once per heartbeat interval, not before every trial (a query)."""

    def __init__(self) -> None:
        self.next = 0.0

    def due(self, storage: optuna.storages.BaseStorage) -> bool:
        """True when a check for stale trials is due; then the next one is due an interval later.

        Args:
            storage: the study's storage.

        Returns:
            Whether to check now (never for a storage without a heartbeat).
        """
        interval = heartbeat_interval(storage)
        if interval is None or time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + interval
        return True


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every interval while it runs (what Study.optimize does;
    ask/tell has to do it itself). A failed beat is skipped: the grace period then decides.

    Args:
        storage: the study's storage (no thread for one without a heartbeat).
        trial_id: the trial's storage id (Claimed.trial_id).

    Yields:
        None, while a daemon thread beats; it is stopped and joined when the block ends.
    """
    interval = heartbeat_interval(storage)
    if interval is None:
        yield
        return
    assert isinstance(storage, optuna.storages.RDBStorage)
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def trial_seed(seed: int, index: int) -> int:
    """The sampler seed of the index-th claimed trial: a function of the spec's seed and the
    trial's place only, so a study resumed after a kill draws what an uninterrupted one draws.

    Args:
        seed: the spec's sampler seed.
        index: the trial's place among the claimed trials (0-based).

    Returns:
        A seed in [0, 2**32), from SHA-256 (the same on every machine and Python run).
    """
    digest = hashlib.sha256(f"dla-explorer:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def claim(
    study: optuna.Study,
    opened: OpenedStorage,
    budget: int | None,
    retry: Any,
    stale: StaleCheck,
    grace_s: float,
    reseed: Reseed = None,
) -> Claimed | Verdict:
    """Under the study lock: recover dead trials, count what is claimed, ask if there is room.
    Claimed = complete + failed with an error + running + waiting (re-queued) trials. With
    `reseed`, the study's sampler is replaced by reseed(index) first, index = the trials
    claimed before this one (waiting copies aside), so the draw depends on the study's
    history and the trial's place, not on how often the run was interrupted.

    Args:
        study: the study (its sampler is replaced when `reseed` is given).
        opened: the storage and its study-wide budget lock.
        budget: the study's total of claimed trials, or None for no limit (a timeout ends the run).
        retry: the storage's RetryHeartbeatStaleTrialCallback (storage.retry_callback), which queues
            a copy of a failed trial.
        stale: when to ask the storage for trials with a stale heartbeat.
        grace_s: seconds after which a running trial that never recorded its worker counts as dead
            (when the lock is not exclusive).
        reseed: claim index -> a fresh sampler, or None to keep the study's.

    Returns:
        The Claimed trial; else Verdict.WAIT (the budget is claimed but trials still run and may
        die) or Verdict.STOP (the budget is used up).
    """
    with opened.lock, quiet_optuna():
        if stale.due(opened.storage):
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        if _fail_dead_local(study, trials, retry, grace_s, opened.exclusive):
            trials = study.get_trials(deepcopy=False)
        counts = counts_of(trials)
        claimed = sum(counts.values())
        if counts["WAITING"] or budget is None or claimed < budget:
            if reseed is not None:
                study.sampler = reseed(claimed - counts["WAITING"])
            trial = study.ask()
            # recorded under the lock, so no other worker takes a re-queued trial for dead
            trial.set_user_attr("worker", worker_id())
            trial_id = opened.storage.get_trial_id_from_study_id_trial_number(
                opened.study_id(study.study_name), trial.number
            )
            return Claimed(trial, trial_id)
    return Verdict.WAIT if counts["RUNNING"] else Verdict.STOP


def _metrics_attr(record: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {m: float(record[m]) for m in METRICS if m in record}
    out.update(
        {
            "feasible": bool(record["feasible"]),
            "violation": str(record["violation"]),
            "bound": str(record.get("bound", "")),
        }
    )
    if "fidelity" in record:  # the memory model's level (the report says which)
        out["fidelity"] = int(record["fidelity"])
    return out


def run_trial(
    study: optuna.Study, claimed: Claimed, spec: Spec, evaluator: Evaluator, opened: OpenedStorage, retry: Any
) -> None:
    """Evaluate a claimed trial and tell Optuna; on Ctrl-C, fail and re-queue it first.

    Args:
        study: the study the trial belongs to.
        claimed: the trial handed out by `claim`.
        spec: the experiment spec (its objectives' order).
        evaluator: simulates the suggested design.
        opened: the storage (heartbeat and constraint attribute).
        retry: the storage's RetryHeartbeatStaleTrialCallback (storage.retry_callback), which queues
            a copy of a failed trial.

    Raises:
        KeyboardInterrupt: re-raised after the interrupted trial was failed and re-queued. Any other
            error of the evaluation fails the trial (its message in the user attr `error`) and is
            not raised.
    """
    trial = claimed.trial
    try:
        try:
            with heartbeat(opened.storage, claimed.trial_id):
                values = _evaluate(claimed, spec, evaluator, opened)
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


def _evaluate(claimed: Claimed, spec: Spec, evaluator: Evaluator, opened: OpenedStorage) -> list[float]:
    trial = claimed.trial
    row = evaluator.space.suggest(trial)
    record = evaluator.evaluate(pd.DataFrame([row])).iloc[0]
    values = [float(record[m]) for m in spec.metrics]
    bad = [f"{m} = {v}" for m, v in zip(spec.metrics, values, strict=True) if not math.isfinite(v)]
    if bad:
        raise DlaError(f"objective {bad[0]} is not finite")
    trial.set_user_attr("metrics", _metrics_attr(record))
    # Optuna's own constraints (<= 0 satisfied), read by its constrained samplers (TPE,
    # NSGA-II), study.best_trials and the dashboard whatever the sampler: the system attribute
    # "constraints" that a sampler's constraints_func writes, set here through the storage's
    # public API (one write per trial). Their names are the table's c_* columns.
    opened.storage.set_trial_system_attr(
        claimed.trial_id, "constraints", [float(record[c]) for c in evaluator.constraint_names]
    )
    return values


def requeue(study: optuna.Study, trial: optuna.Trial, retry: Any) -> None:
    """Fail an interrupted trial and queue a copy with its parameters (unless it had finished:
    a Ctrl-C during `tell` must not run a complete trial twice).

    Args:
        study: the study the trial belongs to.
        trial: the interrupted trial.
        retry: the storage's RetryHeartbeatStaleTrialCallback (storage.retry_callback), which queues
            a copy of a failed trial.
    """
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
            disable=None if enabled else True,  # None: on a terminal only (tqdm)
            dynamic_ncols=True,
        )
        self._last = 0.0

    def refresh(self, study: optuna.Study, force: bool = False) -> None:
        """Redraw the bar from the study's trials: at most every POLL_S seconds, unless `force`.

        Args:
            study: the study (its trials are read).
            force: redraw even if the last redraw was less than POLL_S seconds ago.
        """
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
        """Close the bar (leaving its last state on stderr)."""
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
