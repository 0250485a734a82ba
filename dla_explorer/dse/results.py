"""Results of an experiment: one pandas table per experiment (parameters, every metric,
feasibility, mode, model) in a results folder, Pareto fronts and best designs.

A results folder (results/<name>/ by default) holds:

    spec.json     the spec that made the results and its hash (a different spec is refused)
    sweep.csv     sweep rows, appended batch by batch (a resumed sweep skips the points present)
    search.csv    the study's trials, exported (atomically) at the end of every search run
    results.db    the same tables in SQLite (pandas.to_sql), tables `sweep` and `search`
    study.db      the default Optuna storage of `search`
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import atomic_open, write_text_atomic
from dla_explorer.dse.space import KEY_COLUMNS
from dla_explorer.dse.spec import METRICS, Objective, Spec

SPEC_FILE = "spec.json"
RESULTS_DB = "results.db"
STUDY_DB = "study.db"
TABLES = ("sweep", "search")


# -- folders -------------------------------------------------------------------------------------


def prepare_dir(spec: Spec, source: str) -> Path:
    """Create the spec's results folder, or check that it holds results of the same spec."""
    folder = spec.results_dir()
    record = folder / SPEC_FILE
    digest = spec.content_hash()
    if record.is_file():
        old = json.loads(record.read_text())
        if old.get("hash") != digest:
            raise DlaError(
                f"{folder}: holds results of spec {old.get('source')} (hash "
                f"{old.get('hash')}), not of {source} (hash {digest}); set another "
                "'name' or 'results' folder, or delete the old one"
            )
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        record,
        json.dumps(
            {"name": spec.name, "hash": digest, "source": source, "spec": spec.model_dump(mode="json")},
            indent=1,
        ),
    )
    return folder


def read_spec_record(folder: Path) -> dict | None:
    record = folder / SPEC_FILE
    return json.loads(record.read_text()) if record.is_file() else None


# -- tables --------------------------------------------------------------------------------------


def write_table(table: pd.DataFrame, folder: Path, kind: str) -> Path:
    """Write a whole table: CSV atomically, and the SQLite table replaced in one transaction."""
    path = folder / f"{kind}.csv"
    with atomic_open(path, "w") as handle:
        table.to_csv(handle, index=False)
    write_sqlite(table, folder, kind)
    return path


def write_sqlite(table: pd.DataFrame, folder: Path, kind: str) -> None:
    with sqlite3.connect(folder / RESULTS_DB) as connection:
        table.to_sql(kind, connection, if_exists="replace", index=False, chunksize=10_000)


def append_csv(table: pd.DataFrame, path: Path) -> None:
    """Append rows (with the header when the file is new); flushed so a kill loses at most the
    batch being written, which `read_csv_complete` drops."""
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as handle:
        table.to_csv(handle, index=False, header=new)
        handle.flush()
        os.fsync(handle.fileno())


def read_csv_complete(path: Path) -> pd.DataFrame | None:
    """Read an appended CSV, first cutting a last line left incomplete by a killed writer."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, "rb+") as handle:
        data = handle.read()
        if not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)
    return pd.read_csv(path) if path.stat().st_size else None


# -- Pareto fronts -------------------------------------------------------------------------------


def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Rows of `values` (n x k) that no other row dominates; rows with equal values share the
    verdict. Loops once per front member, each step vectorised over the remaining rows."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    costs = np.where(np.asarray(maximize), -values, values)
    unique, inverse = np.unique(costs, axis=0, return_inverse=True)
    # visiting small sums first removes most dominated rows in the first steps
    order = np.argsort(unique.sum(axis=1), kind="stable")
    points, kept = unique[order], order
    i = 0
    while i < len(points):
        survivors = np.any(points < points[i], axis=1)
        survivors[i] = True
        points, kept = points[survivors], kept[survivors]
        i = int(survivors[:i].sum()) + 1
    front = np.zeros(len(unique), dtype=bool)
    front[kept] = True
    return front[inverse.ravel()]


def _usable(table: pd.DataFrame, objectives: Sequence[Objective], feasible_only: bool) -> pd.DataFrame:
    metrics = [o.metric for o in objectives]
    ok = table[metrics].notna().all(axis=1)
    if "state" in table:
        ok &= table["state"] == "COMPLETE"
    if feasible_only and "feasible" in table:
        ok &= table["feasible"].astype(bool)
    return table[ok]


def pareto_front(
    table: pd.DataFrame, objectives: Sequence[Objective], feasible_only: bool = True
) -> pd.DataFrame:
    """The non-dominated rows (feasible ones only, by default), sorted by the first objective."""
    rows = _usable(table, objectives, feasible_only)
    metrics = [o.metric for o in objectives]
    mask = pareto_mask(rows[metrics].to_numpy(), [o.direction == "maximize" for o in objectives])
    first = objectives[0]
    # a search may evaluate one design several times: list it once
    keys = [c for c in KEY_COLUMNS if c in rows]
    front = rows[mask].drop_duplicates(subset=keys) if keys else rows[mask]
    return front.sort_values(first.metric, ascending=first.direction == "minimize")


def best_per_objective(
    table: pd.DataFrame, objectives: Sequence[Objective], feasible_only: bool = True
) -> pd.DataFrame:
    """One row per objective: the (feasible) design that is best at it."""
    rows = _usable(table, objectives, feasible_only)
    if rows.empty:
        return rows.assign(objective=[])
    picks = [
        (rows[o.metric].idxmax() if o.direction == "maximize" else rows[o.metric].idxmin())
        for o in objectives
    ]
    return rows.loc[picks].assign(objective=[f"{o.direction[:3]} {o.metric}" for o in objectives])


def hypervolume(points: np.ndarray, reference: np.ndarray, maximize: Sequence[bool]) -> float:
    """Hypervolume dominated by `points` up to `reference` (directions as in `pareto_mask`)."""
    sign = np.where(np.asarray(maximize), -1.0, 1.0)
    costs, ref = np.asarray(points, dtype=np.float64) * sign, np.asarray(reference) * sign
    costs = costs[np.all(costs < ref, axis=1)]
    if len(costs) == 0:
        return 0.0
    costs = costs[pareto_mask(costs, [False] * costs.shape[1])]
    if costs.shape[1] == 2:
        costs = costs[np.argsort(costs[:, 0])]
        widths = np.diff(np.append(costs[:, 0], ref[0]))
        return float(np.sum(widths * (ref[1] - np.minimum.accumulate(costs[:, 1]))))
    from optuna._hypervolume import compute_hypervolume  # exact WFG for three or more

    return float(compute_hypervolume(costs, ref))


# -- loading for `show` --------------------------------------------------------------------------


@dataclass
class Loaded:
    """Tables found at a results location, with the objectives they were made for."""

    source: str
    tables: dict[str, pd.DataFrame]
    objectives: list[Objective]
    params: list[str] = dataclasses.field(default_factory=list)  # the spec's searched names


def parse_objectives(text: str) -> list[Objective]:
    """'fps:max,power_w:min' (or names alone, with their usual direction)."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        metric, _, direction = item.partition(":")
        if metric not in METRICS:
            raise DlaError(f"--objectives: unknown metric '{metric}' (one of: {', '.join(METRICS)})")
        direction = {"max": "maximize", "min": "minimize", "": METRICS[metric]}.get(direction, direction)
        if direction not in ("maximize", "minimize"):
            raise DlaError(f"--objectives: direction of '{metric}' must be max or min")
        out.append(Objective(metric=metric, direction=direction))
    return out


def load_results(target: str) -> Loaded:
    """A results folder, a results CSV or results.db, or an Optuna storage (URL / journal)."""
    path = Path(target)
    if "://" in target or (path.is_file() and path.suffix in (".log", ".journal")) or path.name == STUDY_DB:
        from dla_explorer.dse.search import load_study_table  # optuna is needed only for studies

        table, spec = load_study_table(target)
        return Loaded(target, {"search": table}, list(spec.objectives), searched(spec.space))
    if path.is_dir():
        tables = {kind: t for kind in TABLES if (t := read_csv_complete(path / f"{kind}.csv")) is not None}
        if not tables and (path / STUDY_DB).is_file():
            return load_results(str(path / STUDY_DB))
        folder = path
    elif path.is_file() and path.suffix == ".csv":
        tables, folder = {path.stem: pd.read_csv(path)}, path.parent
    elif path.is_file() and path.suffix == ".db":
        with sqlite3.connect(path) as connection:
            names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            tables = {n: pd.read_sql(f'SELECT * FROM "{n}"', connection) for n in names if n in TABLES}
        folder = path.parent
    else:
        raise DlaError(f"{target}: not a results folder, CSV, results.db or study storage")
    if not tables:
        raise DlaError(f"{target}: no results yet (run 'dla-explorer sweep' or 'search')")
    record = read_spec_record(folder)
    if record is None:
        return Loaded(target, tables, [])
    spec = record["spec"]
    return Loaded(target, tables, [Objective(**o) for o in spec["objectives"]], searched(spec["space"]))


def searched(space: dict) -> list[str]:
    """Table columns of a spec's parameters (model and mode, which may vary, first)."""
    return ["model", "mode", *(name for name in space if name not in ("model", "mode"))]
