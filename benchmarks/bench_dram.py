"""Speed of the cycle-level DRAM model (requests per second, one core, after the numba compile)
and its agreement with the DRAMsim3 reference rows.

    python benchmarks/bench_dram.py [--requests 1000000] [--repeats 3] [--reference]
                                    [--baseline DIR]

Each case: a saturating source of 64-B requests (all offered at time zero, in order); the figure
is requests / CPU seconds of the controller call (median of --repeats), so other load on a shared
machine counts less than with wall time; the wall time is printed beside it.

--baseline DIR: an older tree (`git archive COMMIT dla_explorer hw_configs | tar -x -C DIR`) is
timed side by side, each repeat running the baseline and then the current model on the same
stream, and the two must give identical completion times; this is how a speed-up is measured on
a loaded machine.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.sim.dram import patterns as pt
from dla_explorer.sim.dram import simulate_trace

CASES = {
    "seq_read": lambda n: (pt.sequential(n), None),
    "random_read": lambda n: (pt.random_lines(n, 1 << 32, seed=1), None),
    "rw_mix_2to1": lambda n: pt.mix(n, 3, pt.random_lines(n, 1 << 32, seed=2)),
    "seq_read_write": lambda n: (pt.interleaved(n, (0, 1 << 31)), np.arange(n) % 2 == 1),
}
CONFIGS = (
    "dramsim3_ddr4_8gb_x8_2666",
    "dramsim3_ddr4_8gb_x8_2666_bgint",
    "dramsim3_hbm2_8gb_x128",
    "hbm2_s10mx_pc",
)
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "dramsim3_basic_patterns.csv"
NAMES = {
    "DDR4_8Gb_x8_2666": "dramsim3_ddr4_8gb_x8_2666",
    "DDR4_8Gb_x8_2666_bgint": "dramsim3_ddr4_8gb_x8_2666_bgint",
    "DDR4_8Gb_x16_2666_1rank": "dramsim3_ddr4_8gb_x16_2666_1rank",
    "HBM2_8Gb_x128": "dramsim3_hbm2_8gb_x128",
}


def load_baseline(folder: Path) -> Callable[..., Any]:
    """simulate_trace of the package in folder/dla_explorer, imported under another name (its
    imports are relative, so it runs its own code, configs from folder/hw_configs)."""
    root = folder / "dla_explorer"
    name = "dla_explorer_baseline"
    spec = importlib.util.spec_from_file_location(
        name, root / "__init__.py", submodule_search_locations=[str(root)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"--baseline {folder}: no dla_explorer package there")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    simulate: Callable[..., Any] = importlib.import_module(f"{name}.sim.dram").simulate_trace
    return simulate


def speed(requests: int, repeats: int, baseline: Callable[..., Any] | None = None) -> None:
    if baseline is None:
        print("| config | traffic | efficiency | M requests/s (CPU) | M requests/s (wall) |")
        print("|---|---|---|---|---|")
    else:
        print("| config | traffic | efficiency | before M req/s (CPU) | after M req/s (CPU) | speed-up |")
        print("|---|---|---|---|---|---|")
    rates, before = [], []
    for cfg in CONFIGS:
        for name, make in CASES.items():
            addresses, is_write = make(requests)
            simulate_trace(cfg, addresses[:1000], None if is_write is None else is_write[:1000])
            if baseline is not None:
                baseline(cfg, addresses[:1000], None if is_write is None else is_write[:1000])
            cpu, wall, old = [], [], []
            for _ in range(repeats):
                if baseline is not None:
                    c0 = time.process_time()
                    ref = baseline(cfg, addresses, is_write)
                    old.append(time.process_time() - c0)
                c0, w0 = time.process_time(), time.perf_counter()
                res = simulate_trace(cfg, addresses, is_write)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                if baseline is not None and not np.array_equal(ref.done_ns, res.done_ns):
                    raise SystemExit(f"{cfg} {name}: completion times differ from the baseline")
            rate = requests / statistics.median(cpu) / 1e6
            rates.append(rate)
            if baseline is None:
                print(
                    f"| {cfg} | {name} | {res.efficiency:.3f} | {rate:.2f} | "
                    f"{requests / statistics.median(wall) / 1e6:.2f} |",
                    flush=True,
                )
            else:
                old_rate = requests / statistics.median(old) / 1e6
                before.append(old_rate)
                print(
                    f"| {cfg} | {name} | {res.efficiency:.3f} | {old_rate:.2f} | {rate:.2f} | "
                    f"{rate / old_rate:.2f}x |",
                    flush=True,
                )
    if before:
        print(f"\nmedian over cases: before {statistics.median(before):.2f}, ", end="")
        print(f"after {statistics.median(rates):.2f} M requests/s (CPU)")
    else:
        print(f"\nmedian over cases: {statistics.median(rates):.2f} M requests/s (CPU)")


def reference(requests: int) -> None:
    ref = pd.read_csv(REFERENCE)
    print(
        "| config | pattern | bandwidth GB/s (ours / DRAMsim3) | error | "
        "avg read latency ns (ours / DRAMsim3) | error |"
    )
    print("|---|---|---|---|---|---|")
    for row in ref.itertuples():
        qd1 = row.pattern.endswith("_qd1")
        n = 20_000 if qd1 else requests
        if row.pattern.startswith("seq_read"):
            addresses, is_write = pt.sequential(n), None
        elif row.pattern == "seq_write":
            addresses, is_write = pt.sequential(n), np.ones(n, np.bool_)
        else:
            addresses, is_write = pt.random_lines(n, 1 << 32, seed=7), None
        res = simulate_trace(NAMES[row.config], addresses, is_write, max_outstanding=int(qd1))
        bw_err = res.bandwidth_gbps / row.bandwidth_gbps - 1
        if np.isnan(row.avg_read_latency_ns):
            lat = "- | -"
        else:
            lat = (
                f"{res.avg_read_latency_ns:.2f} / {row.avg_read_latency_ns:.2f} | "
                f"{res.avg_read_latency_ns / row.avg_read_latency_ns - 1:+.1%}"
            )
        print(
            f"| {row.config} | {row.pattern} | {res.bandwidth_gbps:.3f} / "
            f"{row.bandwidth_gbps:.3f} | {bw_err:+.1%} | {lat} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also print the DRAMsim3 comparison (500,000 requests per row)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="folder with an older dla_explorer/ and hw_configs/ to time side by side",
    )
    args = parser.parse_args()
    speed(args.requests, args.repeats, load_baseline(args.baseline) if args.baseline else None)
    if args.reference:
        print()
        reference(500_000)


if __name__ == "__main__":
    main()
