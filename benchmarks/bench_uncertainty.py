"""What `--uncertainty N` adds to the paper comparison, and how steady the CPU baseline is.

    .venv/bin/python benchmarks/bench_uncertainty.py bands --results results/paper   # after `make demo`
    .venv/bin/python benchmarks/bench_uncertainty.py cpu --results results/paper --runs 3

`bands` times the Monte-Carlo step of `run` (every design and mode of every model at the headline
sparsity, N samples through `simulate_batch`, the published baselines, the ratio bands) on the
pruned models of a results folder, wall and CPU time. Target: N = 1000 adds < 30 s.
`cpu` measures the dense and pruned models of the folder `--runs` times as the main job does
(one pinned thread, adaptive repeats, process CPU time) and prints the spread between the runs.
Target: within 10%.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dla_explorer.sim import baselines
from dla_explorer.sim import config as hw
from dla_explorer.sparsity import checkpoint
from dla_explorer.study import experiment


def _headline(results: Path, spec: experiment.ExperimentSpec) -> dict:
    tag = f"{spec.method}{round(spec.headline_sparsity * 100)}"
    return {m: checkpoint.load(results / "models" / f"{m}_{tag}.npz") for m in spec.models}


def bands(args: argparse.Namespace) -> None:
    spec = experiment.load_experiment(args.spec)
    headline = _headline(Path(args.results), spec)
    device = hw.load_device(spec.device)
    hardware = {n: (hw.load_architecture(d.arch), hw.load_memory(d.memory)) for n, d in spec.designs.items()}
    comparison = experiment.pd.read_csv(Path(args.results) / "comparison.csv")
    baseline_table = experiment.pd.read_csv(Path(args.results) / "baselines.csv")
    drop = [c for c in comparison if c.endswith(("_p5", "_p50", "_p95"))]
    comparison, baseline_table = (
        comparison.drop(columns=drop),
        baseline_table.drop(columns=[c for c in baseline_table if c.endswith(("_p5", "_p50", "_p95"))]),
    )
    for n in args.samples:
        wall, cpu = time.perf_counter(), time.process_time()
        _, _, ratios = experiment._bands(spec, headline, device, hardware, n, comparison, baseline_table)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"N = {n:>5}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {len(ratios)} ratio bands")


def cpu(args: argparse.Namespace) -> None:
    spec = experiment.load_experiment(args.spec)
    headline = _headline(Path(args.results), spec)
    runs: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for model, sparse in headline.items():
            measured = baselines.measure_cpu_baseline(sparse, spec.batch, spec.cpu_threads, args.seconds)
            for variant, point in measured.items():
                runs.setdefault((model, variant), []).append(point["fps"])
    print("| model | variant | frames/s per run | spread (max/min - 1) |\n|---|---|---|---|")
    for (model, variant), fps in runs.items():
        spread = max(fps) / min(fps) - 1
        print(f"| {model} | {variant} | {' / '.join(f'{f:.2f}' for f in fps)} | {spread:.1%} |")
    worst = max(max(f) / min(f) - 1 for f in runs.values())
    print(f"worst spread {worst:.1%} (median {np.median([max(f) / min(f) - 1 for f in runs.values()]):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["bands", "cpu"])
    parser.add_argument("--spec", default="experiments/paper.yaml")
    parser.add_argument("--results", default="results/paper", help="a folder written by `run` (its models/)")
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="budget of each CPU measurement")
    args = parser.parse_args()
    {"bands": bands, "cpu": cpu}[args.what](args)


if __name__ == "__main__":
    main()
