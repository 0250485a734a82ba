"""Search quality and speed on packed ResNet-50 (90% random), Stratix 10 MX.

    .venv/bin/python benchmarks/bench_search.py quality [--seeds 3] [--trials 100 300 1000]
    .venv/bin/python benchmarks/bench_search.py speed   [--trials 1000] [--grid 10000]

quality: a space small enough to enumerate (2,304 designs: memory x k_vec x c_vec x q_vec x clock
x alpha; maximise fps, minimise power_w, device constraints). The exact feasible Pareto front
comes from the full sweep; each sampler (TPE with search.TPE_DEFAULTS, NSGA-II, random; Optuna's
defaults otherwise) runs 1,000 trials per seed and the
hypervolume of the feasible front found after 100, 300 and 1,000 trials is compared with the
exact one (objectives normalised to [0, 1] over the feasible designs, reference point 1.1).
A sampler's trials are sequential and seeded, so the first 100 of a 1,000-trial run are exactly
a 100-trial run.

speed: a 1,000-trial TPE study with the default SQLite storage (results folder in a temp dir),
with the share of time spent in the simulator (Evaluator.evaluate) and in Optuna (sampling and
storage: the rest), then a grid sweep of 10,080 designs. Packings are cached on disk
($DLA_EXPLORER_CACHE) and warmed first, so the figures are those of a warm cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dla_explorer.dse import evaluation
from dla_explorer.dse.results import hypervolume, pareto_mask
from dla_explorer.dse.search import SearchOptions, run_search
from dla_explorer.dse.space import Space
from dla_explorer.dse.spec import parse_spec
from dla_explorer.dse.sweep import run_sweep
from dla_explorer.sim import simulator

ROOT = Path(__file__).resolve().parent.parent
SPACE = {
    "memory": ["ddr4_2666_x2", "ddr4_2666_x4", "hbm2_x1", "hbm2_x2"],
    "k_vec": {"type": "int", "low": 32, "high": 128, "step": 32},
    "c_vec": {"type": "pow2", "low": 8, "high": 32},
    "q_vec": {"type": "int", "low": 1, "high": 7, "step": 2},
    "clock_mhz": {"type": "float", "low": 300, "high": 450, "step": 50},
    "alpha": {"type": "pow2", "low": 2, "high": 8},
}
GRID_SPACE = {
    **SPACE,
    "q_vec": {"type": "int", "low": 1, "high": 7},  # 10,080 designs
    "clock_mhz": {"type": "float", "low": 250, "high": 475, "step": 25},
}


def make_spec(
    name: str,
    folder: Path,
    space: dict,
    sampler: str = "tpe",
    seed: int = 0,
    options: dict | None = None,
    n_trials: int = 1000,
):
    data = {
        "name": name,
        "models": [{"recipe": str(ROOT / "models" / "resnet50_random90.yaml")}],
        "device": "stratix10_mx2100",
        "modes": ["packed"],
        "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
        "space": space,
        "objectives": {"fps": "maximize", "power_w": "minimize"},
        "sampler": {"name": sampler, "seed": seed, "options": options or {}},
        "n_trials": n_trials,
        "results": str(folder / name),
    }
    return parse_spec(data, "bench_search.py")


def normalised_hv(fps: np.ndarray, power: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Hypervolume of (fps, power) with both mapped to costs in [0, 1], reference 1.1."""
    costs = np.column_stack([(high[0] - fps) / (high[0] - low[0]), (power - low[1]) / (high[1] - low[1])])
    return hypervolume(costs, np.array([1.1, 1.1]), [False, False])


def quality(args: argparse.Namespace, folder: Path) -> None:
    spec = make_spec("exact", folder, SPACE)
    evaluator = evaluation.Evaluator(spec)
    grid = evaluator.evaluate(Space(spec).grid(spec.max_grid))
    ok = grid[grid["feasible"]]
    values = ok[["fps", "power_w"]].to_numpy()
    low = np.array([values[:, 0].min(), values[:, 1].min()])
    high = np.array([values[:, 0].max(), values[:, 1].max()])
    front = pareto_mask(values, [True, False])
    exact = normalised_hv(values[front, 0], values[front, 1], low, high)
    print(
        f"space: {len(grid)} designs, {len(ok)} feasible, exact front {front.sum()} designs, "
        f"normalised hypervolume {exact:.4f}"
    )
    print(
        f"{'sampler':8s} {'seed':>4s} "
        + " ".join(f"{n:>7d}" for n in args.trials)
        + "   (share of the exact hypervolume)"
    )
    for sampler in ("tpe", "nsga2", "random"):
        shares = []
        for seed in range(args.seeds):
            spec = make_spec(f"{sampler}{seed}", folder, SPACE, sampler, seed, {}, max(args.trials))
            run_search(
                spec, "bench", SearchOptions(storage=str(folder / f"{sampler}{seed}.log"), progress=False)
            )
            table = evaluation.pd.read_csv(folder / f"{sampler}{seed}" / "search.csv")
            table = table.sort_values("trial")
            row = []
            for n in args.trials:
                first = table[
                    (table["trial"] < n) & (table["state"] == "COMPLETE") & table["feasible"].astype(bool)
                ]
                row.append(
                    normalised_hv(first["fps"].to_numpy(), first["power_w"].to_numpy(), low, high) / exact
                )
            shares.append(row)
            print(f"{sampler:8s} {seed:4d} " + " ".join(f"{v:7.1%}" for v in row))
        mean = np.mean(shares, axis=0)
        print(f"{sampler:8s} {'mean':>4s} " + " ".join(f"{v:7.1%}" for v in mean))


def speed(args: argparse.Namespace, folder: Path) -> None:
    spec = make_spec("speed", folder, SPACE, "tpe", 0, {}, args.trials[-1])
    warm = evaluation.Evaluator(spec)
    start = time.perf_counter()
    warm.evaluate(Space(spec).grid(spec.max_grid))  # packs (or loads) every geometry once
    print(
        f"warm-up (load the model, pack or load {len(simulator._TABLES)} packings): "
        f"{time.perf_counter() - start:.1f} s"
    )
    spent = {"evaluate": 0.0, "calls": 0}
    real = evaluation.Evaluator.evaluate

    def timed(self, designs):
        t0 = time.perf_counter()
        try:
            return real(self, designs)
        finally:
            spent["evaluate"] += time.perf_counter() - t0
            spent["calls"] += 1

    evaluation.Evaluator.evaluate = timed
    start = time.perf_counter()
    report = run_search(spec, "bench", SearchOptions(progress=False))
    total = time.perf_counter() - start
    evaluation.Evaluator.evaluate = real
    trials = report.counts["COMPLETE"]
    print(
        f"TPE search, {trials} trials, SQLite storage: {total:.1f} s "
        f"({total / max(trials, 1) * 1000:.1f} ms a trial)"
    )
    print(
        f"  simulator (Evaluator.evaluate): {spent['evaluate']:.1f} s "
        f"({spent['evaluate'] / total:.0%}), Optuna and storage: "
        f"{total - spent['evaluate']:.1f} s ({1 - spent['evaluate'] / total:.0%}) "
        "(packings in memory since the warm-up)"
    )
    grid_spec = make_spec("grid", folder, GRID_SPACE)
    size = len(Space(grid_spec).grid(grid_spec.max_grid))
    start = time.perf_counter()
    sweep = run_sweep(grid_spec, "bench", progress=False)
    seconds = time.perf_counter() - start
    print(f"sweep of {size} designs: {seconds:.1f} s ({sweep.evaluated / seconds:,.0f} designs/s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["quality", "speed"])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per sampler (quality)")
    parser.add_argument(
        "--trials",
        type=int,
        nargs="+",
        default=None,
        help="trial counts (quality: 100 300 1000; speed: 1000)",
    )
    args = parser.parse_args()
    args.trials = sorted(args.trials or ([100, 300, 1000] if args.what == "quality" else [1000]))
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        os.environ.setdefault("DLA_EXPLORER_CACHE", str(Path.home() / ".cache" / "dla-explorer"))
        (quality if args.what == "quality" else speed)(args, Path(tmp))


if __name__ == "__main__":
    main()
