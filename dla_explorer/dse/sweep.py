"""Grid sweeps: every design of a spec's space, simulated in batches.

Rows are appended to results/<name>/sweep.csv batch by batch, so an interrupted sweep keeps what
it finished; run again, it skips the grid points already in the file (the grid order is fixed by
the spec, whose hash the results folder records). The SQLite copy (results.db, table `sweep`) is
written when the sweep completes. One sweep at a time writes a folder (a second is refused).
"""

from __future__ import annotations

import numbers
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dla_explorer.core.errors import DlaError, UsageError, check_type
from dla_explorer.core.fileio import FileLock, cut_torn_tail
from dla_explorer.dse.evaluation import Evaluator
from dla_explorer.dse.results import (
    append_csv,
    prepare_dir,
    read_csv_complete,
    write_sqlite,
)
from dla_explorer.dse.space import Space
from dla_explorer.dse.spec import Spec

__all__ = [
    "SweepReport",
    "run_sweep",
]

# rows that share a packing are evaluated together, so each batch packs few geometries
_PACKING_ORDER = ["model", "mode", "k_vec", "alpha", "gamma"]


@dataclass
class SweepReport:
    """What run_sweep did: sweep.csv's path, grid size, designs evaluated now and skipped (done
    before), feasible designs, seconds and the whole table in point order.
    """

    path: Path
    total: int
    evaluated: int
    skipped: int
    feasible: int
    seconds: float
    table: pd.DataFrame


def run_sweep(spec: Spec, source: str, batch_size: int | None = None, progress: bool = True) -> SweepReport:
    """Evaluate the spec's grid (resuming a partial sweep) and return the whole table.

    Args:
        spec: the experiment spec (its space, models, device and constraints).
        source: where the spec came from (a file name), recorded in spec.json.
        batch_size: designs per simulator call; None takes the spec's sweep_batch.
        progress: show a progress bar on stderr.

    Returns:
        The SweepReport: sweep.csv's path, grid size, designs evaluated now and skipped (done
        before), feasible designs, the run's seconds and the whole table (point order).

    Raises:
        UsageError: spec is not a Spec or batch_size not a whole number >= 1; the grid exceeds
            max_grid or a float parameter has no step; a hardware config does not resolve; a
            model's recipe or weights do not work, or mode nm meets a model not pruned N:M; or the
            simulator refuses a design.
        DlaError: the folder holds results of another spec, another sweep of it is running,
            sweep.csv is unreadable or holds points outside the grid, a checkpoint is unreadable, or
            a file cannot be written.
        sqlite3.Error: results.db cannot be written (see results.write_sqlite).
    """
    check_type(spec, Spec, "spec", "spec.load_spec(path) or spec.parse_spec(data, source)")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1
    ):
        # 0 silently fell back to the spec's sweep_batch; a negative size evaluated nothing
        raise UsageError(
            f"batch_size = {batch_size!r}: must be a whole number >= 1 (None: the spec's sweep_batch)"
        )
    start = time.monotonic()
    folder = prepare_dir(spec, source)
    space = Space(spec)
    grid = space.grid(spec.max_grid)
    path = folder / "sweep.csv"
    busy = f"{folder}: another sweep of this spec is running (wait for it, then run again to resume)"
    # one writer per folder: two sweeps at once listed every point twice
    with FileLock(folder / "sweep.lock", blocking=False, busy=busy):
        cut_torn_tail(path)
        done = read_csv_complete(path, "point")
        finished = np.zeros(len(grid), dtype=bool)
        if done is not None:
            points = done["point"].to_numpy()
            if points.min() < 0 or points.max() >= len(grid):
                raise DlaError(
                    f"{path}: holds points outside the grid of {len(grid)} (delete it to start over)"
                )
            finished[points] = True
        todo = grid[~finished].sort_values(_PACKING_ORDER, kind="stable")
        evaluator = Evaluator(spec, space)
        evaluator.load_models()
        size = spec.sweep_batch if batch_size is None else batch_size
        bar = tqdm(
            total=len(grid),
            initial=int(finished.sum()),
            desc=spec.name,
            unit="design",
            file=sys.stderr,
            disable=None if progress else True,  # None: on a terminal only (tqdm)
            dynamic_ncols=True,
        )
        best: dict[str, float] = {}
        try:
            for first in range(0, len(todo), size):
                table = evaluator.evaluate(todo.iloc[first : first + size])
                append_csv(table.reset_index(), path)
                _update_best(best, table, spec)
                bar.set_postfix_str(", ".join(f"{k} {v:.4g}" for k, v in best.items()), refresh=False)
                bar.update(len(table))
        finally:
            bar.close()
        full = read_csv_complete(path, "point")
        full = full.sort_values("point").reset_index(drop=True) if full is not None else pd.DataFrame()
        write_sqlite(full, folder, "sweep")
    feasible = int(full["feasible"].sum()) if "feasible" in full else 0
    return SweepReport(
        path, len(grid), len(todo), int(finished.sum()), feasible, time.monotonic() - start, full
    )


def _update_best(best: dict[str, float], table: pd.DataFrame, spec: Spec) -> None:
    """The best feasible value of each objective so far (for the progress bar)."""
    ok = table[table["feasible"]]
    for o in spec.objectives if not ok.empty else ():
        key = f"{o.direction[:3]} {o.metric}"
        pick = max if o.direction == "maximize" else min
        value = ok[o.metric].max() if o.direction == "maximize" else ok[o.metric].min()
        best[key] = pick(best.get(key, value), value)
