"""The data behind the report's interactive explorer: every design a search or sweep evaluated
(parameters, metrics, resources as a share of the device, the share of weights packing prunes)
and, per design, its drill-down (per-layer compute and memory time, DRAM traffic, utilisation
before and after packing), as one JSON-able dict the page's script reads.

The drill-down is recomputed here with the simulator's vectorised per-layer evaluation (all
designs of one model in one call): a search records network totals only, and a trial's per-layer
table is cheap to rebuild from the packing cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import write_text_atomic
from dla_explorer.dse.results import pareto_mask
from dla_explorer.dse.space import DESIGN_COLUMNS
from dla_explorer.dse.spec import METRICS, Spec
from dla_explorer.sim import config as hw
from dla_explorer.sim.resources import limits

# Designs with a drill-down in the page: each costs about 2.6 KB of JSON on ResNet-50 (54 layers x
# 7 quantities), so 1000 keep the paper study's report (5 MB of plotly, 1 MB of figures) under its
# 10 MB budget even with --full (1000 trials: 8.4 MB, measured). Beyond that,
# the designs on a front of the search's objectives and the fastest feasible ones keep theirs.
MAX_DRILLDOWNS = 1000

# The explorer's columns: table column -> (label, unit, which way is better).
# Direction "max"/"min" says which way is better (the Pareto front and the constraint sliders).
METRIC_COLUMNS: dict[str, tuple[str, str, str]] = {
    "fps": ("frames/s", "", "max"),
    "power_w": ("power", "W", "min"),
    "fps_per_w": ("frames/s/W", "", "max"),
    "latency_ms": ("latency", "ms", "min"),
    "energy_mj": ("energy per frame", "mJ", "min"),
    "utilization": ("MAC utilisation", "", "max"),
    "dram_mb_per_frame": ("DRAM traffic", "MB/frame", "min"),
    "memory_bound_share": ("memory-bound time", "share", "min"),
    "pruned_share": ("pruned by packing", "share of |w|", "min"),
    "accuracy": ("accuracy", "top-1", "max"),
    "dsp_share": ("DSP", "share of device", "min"),
    "m20k_share": ("M20K", "share of device", "min"),
    "alm_share": ("ALM", "share of device", "min"),
}
# The array configuration shown for every design (present columns only).
PARAM_COLUMNS = (
    "k_vec",
    "c_vec",
    "q_vec",
    "lanes",
    "clock_mhz",
    "stream_buffer_kb",
    "filter_cache_kb",
    "alpha",
    "gamma",
    "mem_channels",
)
# Constraint sliders offered (when the column is present): power cap, pruned share, accuracy floor.
CACHE_VERSION = "1"  # bump when the drill-down's content changes
SLIDERS = ("power_w", "pruned_share", "accuracy", "fps", "dsp_share", "m20k_share", "alm_share")


def _rounded(values: np.ndarray, decimals: int) -> list:
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


def design_table(table: pd.DataFrame, device: hw.Device) -> pd.DataFrame:
    """Completed designs with the derived columns the explorer and the report tables show."""
    done = table
    if "state" in done:
        done = done[done["state"] == "COMPLETE"]
    done = done.dropna(subset=["fps", "power_w"]).copy()
    if "trial" not in done:
        # a sweep: its grid point identifies the design (rows are appended in packing order, so
        # the row number named another design than sweep.csv's point of that number)
        done.insert(0, "trial", done["point"].to_numpy() if "point" in done else np.arange(len(done)))
    done["feasible"] = done["feasible"].fillna(False).astype(bool) if "feasible" in done else True
    done["latency_ms"] = done["latency_s"] * 1e3
    done["energy_mj"] = done["energy_j_per_frame"] * 1e3
    for name, bound in limits(device).items():
        if name in done:  # a search table carries only the resources its constraints check
            done[f"{name}_share"] = done[name] / bound
    # accuracy under the names an accuracy stage may give it (a slider when present)
    for alias in ("top1", "accuracy_top1", "top1_accuracy"):
        if "accuracy" not in done and alias in done:
            done["accuracy"] = done[alias]
    if "memory" not in done and "mem_kind" in done:
        done["memory"] = done["mem_kind"]
    return done.reset_index(drop=True)


def front_mask(frame: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> np.ndarray:
    """Feasible rows on the Pareto front of (column, 'max'|'min') objectives."""
    mask = np.zeros(len(frame), dtype=bool)
    ok = frame["feasible"].to_numpy(bool)
    if ok.any():
        values = frame.loc[ok, [c for c, _ in objectives]].to_numpy(np.float64)
        mask[np.flatnonzero(ok)] = pareto_mask(values, [d == "max" for _, d in objectives])
    return mask


def _per_layer(sparse, designs: pd.DataFrame, device: hw.Device, batch: int) -> dict[str, np.ndarray]:
    """The simulator's per-layer arrays (designs x layers) of one model's designs, and each
    design's packing tables (for the pruned share)."""
    from dla_explorer.sim import simulator  # imports packing (numba) only when a report needs it

    # a table from before a design column existed lacks it: design_arrays fills its neutral value
    columns = [c for c in DESIGN_COLUMNS if c in designs]
    d = simulator.design_arrays(designs[columns].reset_index(drop=True))
    packed = d["mode"] == "packed"
    alpha, gamma = np.where(packed, d["alpha"], 1), np.where(packed, d["gamma"], 0.0)
    keys = pd.MultiIndex.from_arrays([d["mode"], d["k_vec"], alpha, gamma])
    index, unique = pd.factorize(keys)
    tables = [simulator.packed_table(sparse, *key) for key in unique]
    out = simulator.evaluate(tables, index, d, device, batch)
    # pruned share of |weight| per packing, whatever the PE width (it counts weights, not slots)
    shares = np.array([t.packed.totals(int(d["c_vec"][0]))["pruned_share"] for t in tables])
    out["pruned_share"] = shares[index]
    out["table"] = np.asarray(tables, dtype=object)[index]
    return out


def drilldowns(
    frame: pd.DataFrame, spec: Spec, pick: np.ndarray
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], np.ndarray]:
    """Per-layer figures of the picked designs, keyed by trial; the layer names and kinds per
    model; and every design's pruned share (NaN where not computed)."""
    from dla_explorer.dse.evaluation import Evaluator

    evaluator = Evaluator(spec)
    device, batch = evaluator.device, spec.batch
    drill: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    pruned = np.full(len(frame), np.nan)
    for label, rows in frame[pick].groupby("model", sort=False):
        sparse = evaluator.model(str(label))
        packed = _per_layer(sparse, rows, device, batch)
        before = _per_layer(sparse, rows.assign(mode="unpacked"), device, batch)
        pruned[rows.index.to_numpy()] = np.where(rows["mode"] == "packed", packed["pruned_share"], 0.0)
        table = packed["table"][0]
        models[str(label)] = {"names": table.names.tolist(), "kinds": table.kinds.tolist()}
        util_after = packed["useful_macs"] / packed["issued_macs"]
        util_before = before["useful_macs"] / before["issued_macs"]
        for i, trial in enumerate(rows["trial"].to_numpy()):
            drill[str(int(trial))] = {
                "model": str(label),
                "compute_us": _rounded(packed["compute_s"][i] * 1e6, 3),
                "memory_us": _rounded(packed["memory_s"][i] * 1e6, 3),
                "time_us": _rounded(packed["time_s"][i] * 1e6, 3),
                "weight_kb": _rounded(packed["weight_bytes"][i] / 1e3, 2),
                "act_kb": _rounded(packed["act_bytes"][i] / 1e3, 2),
                "util_before": _rounded(util_before[i], 4),
                "util_after": _rounded(util_after[i], 4),
            }
    return drill, models, pruned


def _pick(frame: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> np.ndarray:
    """Which designs get a drill-down: all of them up to MAX_DRILLDOWNS, else the front and the
    fastest feasible designs."""
    if len(frame) <= MAX_DRILLDOWNS:
        return np.ones(len(frame), dtype=bool)
    pick = front_mask(frame, objectives)
    by_speed = frame["fps"].where(frame["feasible"], -np.inf).rank(ascending=False, method="first")
    return pick | (by_speed.to_numpy() <= MAX_DRILLDOWNS - pick.sum())


@dataclass
class Explorer:
    """The designs (one row each, derived columns added) and the page's data."""

    frame: pd.DataFrame
    payload: dict[str, Any]

    def front(self) -> pd.DataFrame:
        """Every feasible design on the front of the spec's objectives, once each."""
        front = self.frame[self.frame["front"]]
        keys = [c for c in ("model", *DESIGN_COLUMNS) if c in front]
        return front.drop_duplicates(subset=keys).reset_index(drop=True)  # a search may repeat one


def _cached_drilldowns(
    frame: pd.DataFrame, spec: Spec, pick: np.ndarray, cache: Path | None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], np.ndarray]:
    """`drilldowns`, kept in `cache` keyed by the designs and the spec (rebuilding the packed
    layer tables of a search takes tens of seconds; the report is made again and again)."""
    named = [c for c in ("trial", "model", *DESIGN_COLUMNS) if c in frame]
    content = pd.util.hash_pandas_object(frame[named], index=False)
    key = hashlib.sha256(
        content.to_numpy().tobytes() + pick.tobytes() + spec.content_hash().encode() + CACHE_VERSION.encode()
    ).hexdigest()
    if cache is not None and cache.is_file():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                return stored["drill"], stored["layers"], np.array(stored["pruned"], dtype=np.float64)
        except (json.JSONDecodeError, KeyError):
            pass  # a damaged cache is made again
    drill, models, pruned = drilldowns(frame, spec, pick)
    if cache is not None:
        stored = {
            "key": key,
            "drill": drill,
            "layers": models,
            "pruned": np.nan_to_num(pruned, nan=-1).tolist(),
        }
        write_text_atomic(cache, json.dumps(stored, separators=(",", ":")))
    return drill, models, np.where(pruned < 0, np.nan, pruned)


def build(table: pd.DataFrame, spec: Spec, title: str, cache: Path | None = None) -> Explorer:
    """Everything the explorer page needs (plain JSON-able data), and the designs' table."""
    device = hw.load_device(spec.device)
    frame = design_table(table, device)
    objectives = [(o.metric, "max" if o.direction == "maximize" else "min") for o in spec.objectives]
    pick = _pick(frame, objectives)
    drill, models, pruned = _cached_drilldowns(frame, spec, pick, cache)
    frame["pruned_share"] = pruned
    frame["front"] = front_mask(frame, objectives)
    first, direction = objectives[0]
    frame = frame.sort_values(first, ascending=direction == "min", kind="stable").reset_index(drop=True)
    metrics = {k: v for k, v in METRIC_COLUMNS.items() if k in frame and frame[k].notna().any()}
    for name in (o.metric for o in spec.objectives):  # any other objective the spec chose
        if name not in metrics and name in frame:
            metrics[name] = (name, "", "max" if METRICS[name] == "maximize" else "min")
    params = [c for c in PARAM_COLUMNS if c in frame and frame[c].nunique() > 1]
    fixed = {c: frame[c].iloc[0].item() for c in PARAM_COLUMNS if c in frame and frame[c].nunique() == 1}
    texts = [c for c in ("model", "memory", "mode") if c in frame]
    columns: dict[str, list] = {
        "trial": frame["trial"].astype(int).tolist(),
        "feasible": frame["feasible"].astype(bool).tolist(),
        "front": frame["front"].astype(bool).tolist(),
        # per value: a column of NaN only (every design feasible) is float, and pandas warns that
        # filling it with a string will raise
        "violation": ["" if pd.isna(v) else str(v) for v in frame["violation"]]
        if "violation" in frame
        else [""] * len(frame),
    }
    for name in texts:
        columns[name] = frame[name].astype(str).tolist()
    for name in [*params, *metrics]:
        columns[name] = [None if np.isnan(v) else v for v in _rounded(frame[name], 6)]
    payload = {
        "title": title,
        "device": {"name": device.name, **limits(device)},
        "objectives": [c for c, _ in objectives],
        "metrics": [{"key": k, "label": v[0], "unit": v[1], "better": v[2]} for k, v in metrics.items()],
        "params": params,
        "fixed": fixed,
        "texts": texts,
        "sliders": [s for s in SLIDERS if s in metrics],
        "designs": columns,
        "layers": models,
        "drill": drill,
        "id_label": "point" if "point" in frame else "trial",
        "drill_note": ""
        if pick.all()
        else f"per-layer drill-downs for {int(pick.sum())} of {len(frame)} designs (the front and the "
        "fastest feasible ones)",
    }
    return Explorer(frame, payload)


def load_dse_folder(folder: Path) -> tuple[pd.DataFrame, Spec]:
    """The search (or sweep) table of a `search`/`sweep` results folder and its spec."""
    from dla_explorer.dse.results import read_csv_complete, read_spec_record

    record = read_spec_record(folder)
    if record is None:
        raise DlaError(f"{folder}: no spec.json: not a results folder of 'dla-explorer search' or 'sweep'")
    spec = Spec.model_validate(record["spec"])
    for kind in ("search", "sweep"):
        table = read_csv_complete(folder / f"{kind}.csv")
        if table is not None:
            return table, spec
    raise DlaError(f"{folder}: no search.csv or sweep.csv yet (run the search or sweep first)")
