"""Derived tables from an experiment's results folder: speedups beside the reference work's
figures, the search's best designs. Used by the report and the notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dla_explorer.core.errors import DlaError
from dla_explorer.dse.results import pareto_mask
from dla_explorer.dse.space import KEY_COLUMNS
from dla_explorer.study.records import ExperimentView, RunRecord, read_record

# A simulated ratio this far from the paper's is explained in docs/validation.md.
EXPLAIN_BEYOND = 0.30


@dataclass
class Results:
    """The tables `run_experiment` wrote, read back."""

    folder: Path
    record: RunRecord
    comparison: pd.DataFrame
    layers: pd.DataFrame
    packing: pd.DataFrame
    packing_totals: pd.DataFrame
    baselines: pd.DataFrame
    buffer_sweep: pd.DataFrame
    search: pd.DataFrame | None

    @property
    def spec(self) -> ExperimentView:
        """The experiment spec recorded with the results (experiment.json)."""
        return self.record.spec

    @property
    def headline(self) -> float:
        """The headline sparsity of the comparisons (fraction of weights pruned)."""
        return self.spec.headline_sparsity

    @property
    def search_folder(self) -> Path | None:
        """The search's own results folder (spec.json, search.csv), if the run searched."""
        return search_table_path(self.folder, self.record).parent if self.search is not None else None


def search_table_path(folder: Path, record: RunRecord) -> Path:
    """The search table a run recorded: its path as recorded (relative to where the run was
    started), else the same file name in the results folder's search/ (a moved folder).

    Args:
        folder: the experiment's results folder.
        record: its run record (experiment.json).

    Returns:
        The search table's path (it may not exist: a run without a search, or one killed before the
        export).
    """
    if record.search is None:
        return folder / "search" / "search.csv"
    recorded = Path(record.search.table)
    return recorded if recorded.is_file() else folder / "search" / recorded.name


def load(folder: str | Path) -> Results:
    """Read back the tables `run_experiment` wrote to a results folder (the search table too,
    when the run searched and the table exists).

    Args:
        folder: the experiment's results folder.

    Returns:
        The Results: the run record and every table.

    Raises:
        DlaError: the folder has no experiment.json or one this version cannot read, or a table
            (comparison.csv, layers.csv, ...) is missing or not a readable CSV.
    """
    folder = Path(folder)
    record = read_record(folder)
    tables = {}
    for name in ("comparison", "layers", "packing", "packing_totals", "baselines", "buffer_sweep"):
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise DlaError(f"{folder}: {path.name} is missing (an interrupted run? run it again)")
        tables[name] = _read_csv(path)
    search = None
    table = search_table_path(folder, record)
    if record.search is not None and table.is_file():
        search = _read_csv(table)
    return Results(folder, record, search=search, **tables)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DlaError(f"{path}: not a readable CSV table ({first}); run the experiment again") from None


def _fps(
    frame: pd.DataFrame, model: str, sparsity: float, design: str, mode: str, column: str = "fps"
) -> float:
    rows = frame[
        (frame.model == model)
        & np.isclose(frame.sparsity, sparsity)
        & (frame.design == design)
        & (frame["mode"] == mode)
    ]
    if rows.empty:
        simulated = ", ".join(f"{x:g}" for x in sorted(set(frame.sparsity)))
        raise DlaError(
            f"comparison table: no row for model '{model}', sparsity {sparsity:g}, design '{design}', "
            f"mode '{mode}' (simulated sparsities: {simulated})"
        )
    return float(rows[column].iloc[0])


def _baseline(results: Results, model: str, name: str, column: str = "fps") -> float:
    rows = results.baselines[(results.baselines.model == model) & (results.baselines.baseline == name)]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")


def best_search_design(results: Results) -> pd.Series | None:
    """The fastest feasible design the search found.

    Args:
        results: the experiment's results.

    Returns:
        Its search-table row, or None (no search, no fps column or no feasible trial).
    """
    if results.search is None or "fps" not in results.search:
        return None
    feasible = results.search[results.search["feasible"].fillna(False).astype(bool)]
    return None if feasible.empty else feasible.loc[feasible["fps"].idxmax()]


def search_pareto(results: Results) -> pd.DataFrame:
    """The feasible search trials on the fps / power Pareto front, by power.

    Args:
        results: the experiment's results.

    Returns:
        The front's rows (each design once), by ascending power; empty without a search.
    """
    table = results.search
    if table is None or "fps" not in table:
        return pd.DataFrame()
    feasible = table[table["feasible"].fillna(False).astype(bool)].dropna(subset=["fps", "power_w"])
    mask = pareto_mask(feasible[["fps", "power_w"]].to_numpy(), [True, False])
    keys = [c for c in KEY_COLUMNS if c in feasible]  # a search may evaluate one design twice
    return feasible[mask].drop_duplicates(subset=keys).sort_values("power_w")


def speedups(results: Results, sparsity: float | None = None) -> pd.DataFrame:
    """The comparison table: our ratio beside the paper's, one row per comparison and model.

    Args:
        results: the experiment's results.
        sparsity: the sparsity (fraction pruned) to compare at; None is the headline sparsity.

    Returns:
        One row per comparison and model: comparison, model, simulated (our ratio), paper (its
        ratio, or None), ours_over_paper, explained_in_validation (off by more than
        EXPLAIN_BEYOND) and detail.

    Raises:
        DlaError: the comparison table has no row for a model, design and mode the spec names at
            `sparsity` (a sparsity the run did not simulate).
    """
    spec, comparison = results.spec, results.comparison
    sparsity = results.headline if sparsity is None else sparsity
    hbm2, paper = spec.hbm2_design, spec.paper
    rows = []

    def add(what: str, model: str, ours: float, reference: float | None, detail: str) -> None:
        off = abs(ours / reference - 1) if reference else float("nan")
        rows.append(
            {
                "comparison": what,
                "model": model,
                "simulated": ours,
                "paper": reference,
                "ours_over_paper": ours / reference if reference else float("nan"),
                "explained_in_validation": bool(reference) and off > EXPLAIN_BEYOND,
                "detail": detail,
            }
        )

    for model in spec.models:
        packed = _fps(comparison, model, sparsity, hbm2, "packed")
        packed_eff = _fps(comparison, model, sparsity, hbm2, "packed", "fps_per_w")
        add(
            "packed vs unpacked (HBM2)",
            model,
            packed / _fps(comparison, model, sparsity, hbm2, "unpacked"),
            None,
            f"{packed:,.0f} frames/s packed on HBM2" + _split_of_packing(comparison, model, sparsity, hbm2),
        )
        for ddr4 in spec.ddr4_designs:
            memory = spec.designs[ddr4].memory
            add(
                f"HBM2 vs DDR4 ({memory}), packed",
                model,
                packed / _fps(comparison, model, sparsity, ddr4, "packed"),
                paper.hbm2_over_ddr4.get(model),
                f"same array; {hbm2} vs {ddr4}",
            )
            if "fps_level2" in comparison:  # the memory model's fidelity levels (docs/dram.md)
                ratios = [
                    _fps(comparison, model, sparsity, hbm2, "packed", f"fps_level{lv}")
                    / _fps(comparison, model, sparsity, ddr4, "packed", f"fps_level{lv}")
                    for lv in (0, 1, 2)
                ]
                add(
                    f"HBM2 vs DDR4 ({memory}), packed, memory fidelity 2",
                    model,
                    ratios[2],
                    paper.hbm2_over_ddr4.get(model),
                    f"fidelity 0 / 1 / 2: {ratios[0]:.2f}x / {ratios[1]:.2f}x / {ratios[2]:.2f}x",
                )
        cpu = spec.cpu_baseline
        add(
            f"vs server CPU ({cpu}, published)",
            model,
            packed / _baseline(results, model, cpu),
            paper.over_cpu.get(model),
            "CPU runs the dense model",
        )
        measured = _baseline(results, model, "this machine (pruned)")
        if not np.isnan(measured):
            add(
                "vs this machine's CPU (torch, pruned model)", model, packed / measured, None, "measured here"
            )
        gpu = spec.gpu_baseline
        add(
            f"speed vs {gpu}",
            model,
            packed / _baseline(results, model, gpu),
            paper.v100_speed.get(model),
            "GPU runs the dense model",
        )
        add(
            f"power efficiency vs {gpu}",
            model,
            packed_eff / _baseline(results, model, gpu, "fps_per_w"),
            paper.v100_power_efficiency.get(model),
            "frames/s/W; the GPU's published point (power an estimate)",
        )
    pair = comparison[comparison["design"].isin(["dse_best_hbm2", "dse_best_ddr4"])]
    if len(pair) == 2:  # the searched design on both memories (experiment._dse_memory_pair)
        by_design = pair.set_index("design")
        fps, model = by_design["fps"], str(pair["model"].iloc[0])
        add(
            f"HBM2 DSE best vs the same design on DDR4 ({by_design.loc['dse_best_ddr4', 'memory']}), packed",
            model,
            float(fps["dse_best_hbm2"] / fps["dse_best_ddr4"]),
            paper.hbm2_over_ddr4.get(model),
            "the search's fastest feasible design within the pruned-|w| limit; only the memory differs",
        )
    return pd.DataFrame(rows)


def _split_of_packing(comparison: pd.DataFrame, model: str, sparsity: float, design: str) -> str:
    """'; = Fx packed feeder (alpha 1) x Cx column combining', or '' for results written before
    the split was recorded (comparison.csv without feeder_speedup)."""
    if "feeder_speedup" not in comparison:
        return ""
    feeder = _fps(comparison, model, sparsity, design, "packed", "feeder_speedup")
    combining = _fps(comparison, model, sparsity, design, "packed", "combining_speedup")
    if not np.isfinite(feeder) or not np.isfinite(combining):
        return ""
    return f"; = {feeder:.2f}x packed feeder alone (alpha 1) x {combining:.2f}x column combining"


def sparsity_curves(results: Results) -> pd.DataFrame:
    """Per model and sparsity: packed/unpacked on HBM2 and HBM2/DDR4 (packed) speedups.

    Args:
        results: the experiment's results.

    Returns:
        One row per model and sparsity: packed_over_unpacked (HBM2), hbm2_over_ddr4 (packed) and
        hbm2_over_ddr4_unpacked, each a ratio of frames/s.

    Raises:
        DlaError: the comparison table lacks the HBM2 or first DDR4 design in mode packed or
            unpacked.
    """
    spec, frame = results.spec, results.comparison
    hbm2, ddr4 = spec.hbm2_design, spec.ddr4_designs[0]
    pivot = frame.pivot_table(index=["model", "sparsity"], columns=["design", "mode"], values="fps")
    missing = [
        f"{d}/{m}" for d in (hbm2, ddr4) for m in ("packed", "unpacked") if (d, m) not in pivot.columns
    ]
    if missing:
        raise DlaError(f"comparison table: no rows for design/mode {', '.join(missing)}")
    return pd.DataFrame(
        {
            "packed_over_unpacked": pivot[(hbm2, "packed")] / pivot[(hbm2, "unpacked")],
            "hbm2_over_ddr4": pivot[(hbm2, "packed")] / pivot[(ddr4, "packed")],
            "hbm2_over_ddr4_unpacked": pivot[(hbm2, "unpacked")] / pivot[(ddr4, "unpacked")],
        }
    ).reset_index()
