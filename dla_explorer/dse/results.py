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

import csv
import dataclasses
import io
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic

from dla_explorer.core.errors import DlaError, UnknownName, UsageError, check_type
from dla_explorer.core.fileio import FileLock, as_path, write_csv_atomic, write_text_atomic
from dla_explorer.dse.space import KEY_COLUMNS
from dla_explorer.dse.spec import METRICS, Objective, Spec

__all__ = [
    "RESULTS_DB",
    "SPEC_FILE",
    "STUDY_DB",
    "Loaded",
    "append_csv",
    "best_per_objective",
    "claim_folder",
    "hypervolume",
    "load_results",
    "pareto_front",
    "pareto_mask",
    "parse_objectives",
    "prepare_dir",
    "read_csv_complete",
    "read_json",
    "read_spec_record",
    "write_sqlite",
    "write_table",
]

SPEC_FILE = "spec.json"
RESULTS_DB = "results.db"
STUDY_DB = "study.db"
_TABLES = ("sweep", "search")


# -- folders -------------------------------------------------------------------------------------


def claim_folder(folder: Path, record: str, digest: str, source: str, data: dict, what: str = "spec") -> Path:
    """The one spec-hash guard of a results folder: create `folder` with a record
    {hash, source, **data}, or check that its record has the same hash (a folder of another
    spec is refused, so results of two specs never mix). Written before any result, so a killed
    run resumed with a changed spec is refused too; a folder with the record of another spec but
    no result yet (only the record and lock files) is claimed anew.

    Args:
        folder: the results folder (created with its parents when missing).
        record: the record's file name in `folder`, e.g. spec.json.
        digest: the hash of what makes the results (Spec.content_hash).
        source: where the spec came from (a file name), recorded and named in errors.
        data: more fields of the record (JSON-ready).
        what: what made the results, for the error message ('spec', 'experiment').

    Returns:
        `folder`.

    Raises:
        DlaError: the folder holds a record with another hash, the record is not readable JSON,
            `folder` exists and is not a folder, or the record cannot be written (a read-only
            folder, a full disk).
    """
    path = folder / record
    if path.is_file():
        old = read_json(path)
        if old.get("hash") != digest and _holds_results(folder, record):
            raise DlaError(
                f"{folder}: holds results of {what} {old.get('source')} (hash "
                f"{old.get('hash')}), not of {source} (hash {digest}); set another "
                "'name' or results folder, or delete the old one"
            )
        if old.get("hash") == digest:
            return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DlaError(f"{folder}: exists and is not a folder") from None
    write_text_atomic(path, json.dumps({"hash": digest, "source": source, **data}, indent=1))
    return folder


def _holds_results(folder: Path, record: str) -> bool:
    """Whether `folder` holds anything beyond its record and lock files. A spec that failed
    before its first result (a misspelt model name) leaves only those: its corrected version may
    claim the folder instead of being refused."""
    return any(p.name != record and p.suffix != ".lock" for p in folder.iterdir())


def read_json(path: Path) -> dict:
    """Read a JSON record (a dict) written by this package.

    Args:
        path: the file; the caller checks that it exists.

    Returns:
        The record.

    Raises:
        DlaError: the file is not UTF-8 JSON, or holds JSON that is not an object.
        OSError: the file cannot be read (missing, permissions).
    """
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DlaError(f"{path}: not a readable JSON record (delete it to start over)") from None
    if not isinstance(data, dict):
        raise DlaError(f"{path}: not a JSON record (delete it to start over)")
    return data


def prepare_dir(spec: Spec, source: str) -> Path:
    """Create the spec's results folder, or check that it holds results of the same spec.

    Args:
        spec: the experiment spec; its results_dir() is the folder.
        source: where the spec came from (a file name), recorded in spec.json.

    Returns:
        The results folder.

    Raises:
        DlaError: the folder holds results of another spec, its spec.json is not readable, or the
            folder cannot be made or written (see claim_folder).
        UsageError: a recipe file the spec names is not a valid recipe (see Spec.content_hash).
    """
    data = {"name": spec.name, "spec": spec.public_dump()}
    return claim_folder(spec.results_dir(), SPEC_FILE, spec.content_hash(), source, data)


def read_spec_record(folder: Path) -> dict | None:
    """The spec.json record of a results folder, if it has one.

    Args:
        folder: the results folder.

    Returns:
        The record ({hash, source, name, spec}), or None when the folder has no spec.json.

    Raises:
        DlaError: spec.json is not a readable JSON record.
    """
    record = folder / SPEC_FILE
    return read_json(record) if record.is_file() else None


# -- tables --------------------------------------------------------------------------------------


def _export_lock(folder: Path) -> FileLock:
    """Held while results.db and the CSV exports are rewritten: two searches finishing together
    would otherwise drop each other's table mid-write ("no such table").

    Args:
        folder: the results folder.

    Returns:
        The lock on results.db.lock (not yet held: use it in a `with`).
    """
    return FileLock(folder / f"{RESULTS_DB}.lock")


def write_table(table: pd.DataFrame, folder: Path, kind: str) -> Path:
    """Write a whole table: CSV atomically, and the SQLite table replaced in one transaction.

    Args:
        table: the whole table.
        folder: the results folder.
        kind: the table name: `sweep` or `search` (the CSV's stem and the SQLite table).

    Returns:
        The CSV's path, folder/<kind>.csv.

    Raises:
        DlaError: the CSV cannot be written (a folder in its place, a read-only folder, a full
            disk); the old file is then unchanged.
        DlaError: results.db cannot be written: not an SQLite file, or locked by another writer
            for more than 120 s.
    """
    path = folder / f"{kind}.csv"
    with _export_lock(folder):
        write_csv_atomic(table, path)
        _write_sqlite(table, folder, kind)
    return path


def write_sqlite(table: pd.DataFrame, folder: Path, kind: str) -> None:
    """Replace one table of the folder's results.db (under the export lock), in one transaction.

    Args:
        table: the whole table.
        folder: the results folder.
        kind: the SQLite table name: `sweep` or `search`.

    Raises:
        DlaError: results.db cannot be written: not an SQLite file, or locked by another writer
            for more than 120 s.
    """
    with _export_lock(folder):
        _write_sqlite(table, folder, kind)


def _write_sqlite(table: pd.DataFrame, folder: Path, kind: str) -> None:
    try:
        with sqlite3.connect(folder / RESULTS_DB, timeout=120) as connection:
            table.to_sql(kind, connection, if_exists="replace", index=False, chunksize=10_000)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        # the CSV beside it is already written: say which file and why, keep both
        # pandas wraps sqlite's error in a message that quotes its SQL: name the cause only
        cause = exc.__cause__ or exc.__context__ or exc
        raise DlaError(f"{folder / RESULTS_DB}: cannot write table '{kind}' ({cause})") from None


def append_csv(table: pd.DataFrame, path: Path) -> None:
    """Append rows (with the header when the file is new); flushed so a kill loses at most the
    batch being written, which the writer cuts (fileio.cut_torn_tail) before appending again.

    Args:
        table: the rows to append (the index is not written).
        path: the CSV file; created with a header when missing or empty.

    The rows are written under the file's header: rows with another column set were appended
    under the old header, so a sweep resumed by a version that writes a new column (`fidelity`)
    left a file no reader could parse, and rows in another column order shifted every value.
    Columns the file lacks now rewrite it once (atomically) with the union of the columns; a
    column the rows lack is left empty.

    Raises:
        DlaError: the rows cannot be written (a full disk, a read-only folder).
    """
    new = not path.is_file() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != list(table.columns):
            if not set(table.columns) <= set(header):
                old = read_csv_complete(path)
                write_csv_atomic(pd.concat([old, table], ignore_index=True), path)
                return
            table = table.reindex(columns=header)
    try:
        with open(path, "a", newline="") as handle:
            table.to_csv(handle, index=False, header=new)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:  # a full disk: the torn batch is cut when the sweep is run again
        raise DlaError(f"{path}: cannot write ({exc.strerror or exc}); run again to resume") from None


def read_csv_complete(path: Path, key: str | None = None) -> pd.DataFrame | None:
    """Read an appended CSV without its incomplete last line (cut in memory: readers never
    write). With `key`, rows repeating a key keep their first copy. None when there are no rows.

    Args:
        path: the CSV file; never written here.
        key: a column of whole numbers identifying rows (e.g. `point`), or None.

    Returns:
        The table, or None (no file, or no complete row).

    Raises:
        DlaError: the file is not a readable CSV, or the `key` column holds values that are not
            whole numbers.
    """
    if not path.is_file():
        return None
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        return None
    try:
        table = pd.read_csv(io.BytesIO(data))
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise DlaError(f"{path}: not a readable results CSV ({type(exc).__name__})") from None
    if not len(table):
        return None
    if key is not None and key in table:
        if not pd.api.types.is_integer_dtype(table[key]):
            raise DlaError(f"{path}: column '{key}' holds values that are not whole numbers")
        table = table.drop_duplicates(subset=key, keep="first")
    return table


# -- Pareto fronts -------------------------------------------------------------------------------


def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Rows of `values` (n x k) that no other row dominates; rows with equal values share the
    verdict. Loops once per front member, each step vectorised over the remaining rows.

    Args:
        values: an (n x k) array of objective values, one row per design.
        maximize: per column: True when larger is better.

    Returns:
        A boolean array of n: True for the rows on the front.
    """
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
    missing = [m for m in metrics if m not in table]
    if missing:  # pandas' KeyError listed the whole index, over several lines
        raise UnknownName(
            f"the results table has no column '{missing[0]}' (an objective's metric; it has "
            f"{len(table.columns)} columns: {', '.join(map(str, table.columns[:8]))}"
            f"{', ...' if len(table.columns) > 8 else ''})"
        )
    ok = table[metrics].notna().all(axis=1)
    if "state" in table:
        ok &= table["state"] == "COMPLETE"
    if feasible_only and "feasible" in table:
        ok &= table["feasible"].astype(bool)
    return table[ok]


def pareto_front(
    table: pd.DataFrame, objectives: Sequence[Objective], feasible_only: bool = True
) -> pd.DataFrame:
    """The non-dominated rows (feasible ones only, by default), sorted by the first objective.

    Args:
        table: a results table with the objectives' metric columns (and `state`, `feasible` if it
            has them).
        objectives: the metrics and their directions.
        feasible_only: keep only feasible rows (when the table has `feasible`).

    Returns:
        The front's rows (complete trials with every objective, each design once), best first in the
        first objective.

    Raises:
        UnknownName: the table lacks an objective's column (a UsageError and a KeyError).
    """
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
    """One row per objective: the (feasible) design that is best at it.

    Args:
        table: a results table with the objectives' metric columns.
        objectives: the metrics and their directions.
        feasible_only: keep only feasible rows (when the table has `feasible`).

    Returns:
        One row per objective with a column `objective` ('max fps'); empty when no row qualifies.

    Raises:
        UnknownName: the table lacks an objective's column (a UsageError and a KeyError).
    """
    rows = _usable(table, objectives, feasible_only)
    if rows.empty:
        return rows.assign(objective=[])
    picks = [
        (rows[o.metric].idxmax() if o.direction == "maximize" else rows[o.metric].idxmin())
        for o in objectives
    ]
    return rows.loc[picks].assign(objective=[f"{o.direction[:3]} {o.metric}" for o in objectives])


def hypervolume(points: np.ndarray, reference: np.ndarray, maximize: Sequence[bool]) -> float:
    """Hypervolume dominated by `points` up to `reference` (directions as in `pareto_mask`).

    Args:
        points: an (n x k) array of objective values.
        reference: the reference point (k values), worse than the front in every objective.
        maximize: per column: True when larger is better.

    Returns:
        The hypervolume, in the product of the objectives' units (0.0 when no point is better than
        the reference in every objective).

    Raises:
        UsageError: points, reference and maximize do not agree on the number of objectives.
    """
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if points.size == 0:
        return 0.0
    k = len(maximize)
    if points.ndim != 2 or points.shape[1] != k or reference.shape != (k,):
        # a mismatch failed with a numpy broadcasting error naming no argument
        raise UsageError(
            f"hypervolume: points {points.shape} must be (n, {k}) and reference "
            f"{reference.shape} must be ({k},): one column per objective in maximize ({k})"
        )
    sign = np.where(np.asarray(maximize), -1.0, 1.0)
    costs, ref = points * sign, reference * sign
    costs = costs[np.all(costs < ref, axis=1)]
    if len(costs) == 0:
        return 0.0
    return _hypervolume_min(costs[pareto_mask(costs, [False] * costs.shape[1])], ref)


def _hypervolume_min(costs: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of non-dominated costs below `ref` (all minimised): a sweep in 2-D,
    slicing along the last axis above that (each slab is the lower-dimensional volume of the
    points at or below it times its height; fine for the few hundred points of a front)."""
    if costs.shape[1] == 1:
        return float(ref[0] - costs[:, 0].min())
    if costs.shape[1] == 2:
        costs = costs[np.argsort(costs[:, 0])]
        widths = np.diff(np.append(costs[:, 0], ref[0]))
        return float(np.sum(widths * (ref[1] - np.minimum.accumulate(costs[:, 1]))))
    costs = costs[np.argsort(costs[:, -1], kind="stable")]
    heights = np.diff(np.append(costs[:, -1], ref[-1]))
    volume = 0.0
    for i in np.flatnonzero(heights > 0):
        below = costs[: i + 1, :-1]
        below = below[pareto_mask(below, [False] * below.shape[1])]
        volume += heights[i] * _hypervolume_min(below, ref[:-1])
    return volume


# -- loading for `show` --------------------------------------------------------------------------


@dataclass
class Loaded:
    """Tables found at a results location, with the objectives they were made for."""

    source: str
    tables: dict[str, pd.DataFrame]
    objectives: list[Objective]
    params: list[str] = dataclasses.field(default_factory=list)  # the spec's searched names


def parse_objectives(text: str) -> list[Objective]:
    """'fps:max,power_w:min' (or names alone, with their usual direction).

    Args:
        text: comma-separated metric[:max|min] items (the --objectives option).

    Returns:
        The objectives, in the given order.

    Raises:
        UsageError: `text` is not a string, a metric is not in METRICS, or a direction is not
            max / min.
    """
    check_type(text, str, "objectives", "'fps:max,power_w:min'")
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        metric, _, direction = item.partition(":")
        if metric not in METRICS:
            raise UsageError(f"--objectives: unknown metric '{metric}' (one of: {', '.join(METRICS)})")
        direction = {"max": "maximize", "min": "minimize", "": METRICS[metric]}.get(direction, direction)
        if direction not in ("maximize", "minimize"):
            raise UsageError(f"--objectives: direction of '{metric}' must be max or min")
        out.append(Objective(metric=metric, direction=direction))
    return out


def load_results(target: str, study: str | None = None) -> Loaded:
    """A results folder, a results CSV or results.db, or an Optuna storage (URL / journal /
    study.db; `study` names one when the storage holds several). Reading never creates or
    changes anything.

    Args:
        target: a results folder, a results CSV, results.db, or an Optuna storage (URL, journal
            file, study.db).
        study: the study name in a storage holding several, else None.

    Returns:
        The tables found, with the spec's objectives and searched parameters (none when the folder
        has no spec.json).

    Raises:
        DlaError: `target` is none of these, holds no results yet, or a table, the SQLite file, the
            spec record or the study storage is not readable (a missing storage file, several
            studies and no `study`, an unknown study, a study not made by dla-explorer).
            A spec stored in the study or in spec.json that is not valid for this version (a
            hand-edited record, or a study of an older version) is a DlaError too.
    """
    path = as_path(target, "target")
    if study is not None or "://" in target or path.suffix in (".log", ".journal") or path.name == STUDY_DB:
        return _load_study(target, study)
    if path.is_dir():
        tables = {
            kind: t
            for kind in _TABLES
            if (t := read_csv_complete(path / f"{kind}.csv", _KEYS[kind])) is not None
        }
        if (path / STUDY_DB).is_file():
            # the study is the source of truth: search.csv is only exported at the end of a
            # run, so after a killed run it misses trials the study holds
            named = read_spec_record(path) or {}
            name = named.get("name") if isinstance(named.get("name"), str) else None
            tables["search"] = _load_study(str(path / STUDY_DB), name).tables["search"]
        folder = path
    elif path.is_file() and path.suffix == ".csv":
        table = read_csv_complete(path)
        tables, folder = ({path.stem: table} if table is not None else {}), path.parent
    elif path.is_file() and path.suffix == ".db":
        tables = _read_results_db(path)
        folder = path.parent
    else:
        raise DlaError(f"{target}: not a results folder, CSV, results.db or study storage")
    if not tables:
        raise DlaError(f"{target}: no results yet (run 'dla-explorer sweep' or 'search')")
    record = read_spec_record(folder)
    if record is None or "spec" not in record:
        return Loaded(target, tables, [])
    spec = record["spec"]
    try:
        return Loaded(target, tables, [Objective(**o) for o in spec["objectives"]], _searched(spec["space"]))
    except (pydantic.ValidationError, KeyError, TypeError, AttributeError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, pydantic.ValidationError) else repr(exc)
        raise DlaError(
            f"{folder / SPEC_FILE}: its spec is not valid for this version ({first}); run the study again"
        ) from None


_KEYS = {"sweep": "point", "search": "trial"}


def _load_study(target: str, study: str | None = None) -> Loaded:
    from dla_explorer.dse.search import load_study_table  # optuna is needed only for studies

    table, spec = load_study_table(target, study)
    return Loaded(target, {"search": table}, list(spec.objectives), _searched(spec.space))


def _read_results_db(path: Path) -> dict[str, pd.DataFrame]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: pd.read_sql(f'SELECT * FROM "{n}"', connection) for n in names if n in _TABLES}
    except sqlite3.DatabaseError as exc:
        raise DlaError(f"{path}: not a readable SQLite results file ({exc})") from None


def _searched(space: dict) -> list[str]:
    """Table columns of a spec's parameters (model and mode, which may vary, first).

    Args:
        space: a spec's `space` mapping (parameter name -> range).

    Returns:
        model, mode, then the other parameter names in the spec's order.
    """
    return ["model", "mode", *(name for name in space if name not in ("model", "mode"))]
