"""`dla-explorer simulate`: one design point on a (sparse) model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dla_explorer import packing
from dla_explorer.cli._common import (
    formatter,
    positive_int,
    print_table,
    write_csv,
)
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator, uncertainty
from dla_explorer.sim.resources import resources
from dla_explorer.sparsity import checkpoint, pruning

BAND_FIGURES = (
    ("fps", "throughput", 1, "frames/s"),
    ("power_w", "power", 1, "W"),
    ("fps_per_w", "efficiency", 1, "frames/s/W"),
    ("latency_s", "latency", 1e3, "ms"),
    ("energy_j_per_frame", "energy", 1e3, "mJ/frame"),
)
LAYER_COLUMNS = ["layer", "kind", "bound", "compute_us", "memory_us", "time_us", "utilization", "dram_kb"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate one accelerator design on a model",
        formatter_class=formatter,
        description="Throughput, latency, power and energy of a DLA-style accelerator (an "
        "architecture, a memory system and an FPGA device, from hw_configs/) running a "
        "model in one of the modes: dense (no sparsity), unpacked (sparse weights on "
        "the dense schedule, zeros gated), packed (column combining), nm (N:M "
        "structured).\n\nMODEL is a checkpoint from 'dla-explorer prune' or a zoo "
        "name (simulated dense). Config names resolve in hw_configs/<kind>/.",
        epilog="examples:\n"
        "  dla-explorer simulate models/resnet50_random90.npz --arch dla_s10mx "
        "--memory hbm2_x2\n"
        "  dla-explorer simulate models/resnet50_random90.npz --memory ddr4_2666_x1 "
        "--mode unpacked --csv layers.csv\n"
        "  dla-explorer simulate resnet50 --mode dense --device arria10_gx1150 "
        "--arch dla_a10 --memory ddr4_2400_x2",
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint (.npz) or zoo model name")
    p.add_argument("--arch", default="dla_s10mx", help="architecture YAML or name (default dla_s10mx)")
    p.add_argument("--memory", default="hbm2_x2", help="memory YAML or name (default hbm2_x2)")
    p.add_argument(
        "--device", default="stratix10_mx2100", help="device YAML or name (default stratix10_mx2100)"
    )
    p.add_argument("--mode", choices=packing.MODES, default="packed", help="execution mode (default packed)")
    p.add_argument("--batch", type=positive_int, default=1, help="frames per batch (default 1)")
    p.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the packing cache")
    p.add_argument(
        "--uncertainty",
        type=positive_int,
        metavar="N",
        help="also draw N Monte-Carlo samples of every estimate (ranges in hw_configs/) and print "
        "the 5-95%% band of each headline figure",
    )
    p.set_defaults(handler=run)


def load_model(model: str) -> pruning.SparseModel:
    if model.endswith(".npz") or Path(model).is_file():
        return checkpoint.load(model)
    return pruning.prune(model, "random", 0.0, calibration_size=1)


def print_totals(result: simulator.Result) -> None:
    t = result.totals
    report = resources(result.arch, result.device)
    print(
        f"{result.arch.name} ({result.arch.k_vec}x{result.arch.c_vec}x{result.arch.q_vec}x"
        f"{result.arch.lanes} {result.arch.precision} @ {result.arch.clock_mhz:g} MHz) + "
        f"{result.memory.name} ({result.memory.effective_gbps:.0f} GB/s effective) on "
        f"{result.device.name}, mode {result.mode}"
    )
    print(
        f"  throughput  {t.fps:,.1f} frames/s, latency {t.latency_s * 1e3:.3f} ms "
        f"(compute {t.compute_s * 1e3:.3f} ms, memory {t.memory_s * 1e3:.3f} ms; "
        f"{t.memory_bound_share:.0%} of the time in memory-bound layers: {t.bound}-bound)"
    )
    print(
        f"  work        {t.gops_effective:,.0f} GOPS useful, {t.gops_dense_equiv:,.0f} GOPS "
        f"dense-equivalent, {t.gops_peak:,.0f} GOPS peak; MAC utilisation {t.utilization:.1%}"
    )
    print(
        f"  power       {t.power_w:.1f} W ({t.static_w:.1f} static + {t.dynamic_w:.1f} dynamic)"
        f", {t.energy_j_per_frame * 1e3:.2f} mJ/frame, {t.fps_per_w:.1f} frames/s/W"
    )
    print(f"  DRAM        {t.dram_mb_per_frame:.2f} MB/frame")
    used = ", ".join(f"{k.upper()} {report.used[k]:,.0f}/{report.available[k]:,}" for k in report.available)
    verdict = "fits" if report.feasible else "DOES NOT FIT: " + "; ".join(report.violations)
    print(f"  resources   {used}: {verdict}")


def run(args: argparse.Namespace) -> int:
    arch = hw.load_architecture(args.arch)
    memory = hw.load_memory(args.memory)
    device = hw.load_device(args.device)
    sparse = load_model(args.model)
    cache = None if args.no_cache else packing.DEFAULT_CACHE
    result = simulator.simulate(sparse, arch, memory, device, args.mode, args.batch, cache=cache)
    layers = result.layers.assign(
        compute_us=result.layers["compute_s"] * 1e6,
        memory_us=result.layers["memory_s"] * 1e6,
        time_us=result.layers["time_s"] * 1e6,
        dram_kb=result.layers["dram_bytes"] / 1024,
    )
    print_table(layers[LAYER_COLUMNS], "{:.2f}")
    print_totals(result)
    if args.uncertainty:
        print_bands(sparse, arch, memory, device, args.mode, args.batch, args.uncertainty, cache)
    if args.csv:
        write_csv(layers, args.csv)
    return 0


def print_bands(
    sparse: pruning.SparseModel,
    arch: hw.Architecture,
    memory: hw.Memory,
    device: hw.Device,
    mode: str,
    batch: int,
    n: int,
    cache: packing.CacheSpec,
) -> None:
    """The 5-95% band of each headline figure over n samples of the estimates (one batch call)."""
    base = pd.DataFrame([simulator.design_row(arch, memory, mode)])
    samples = uncertainty.monte_carlo(base, [(arch, memory)], device, n)
    drawn = simulator.simulate_batch(sparse, samples, device, batch, cache=cache)
    count = len(uncertainty.design_estimates(arch, memory, device))
    print(f"  bands       5-95% over {n} samples of {count} estimates:")
    for figure, label, scale, unit in BAND_FIGURES:
        p5, p50, p95 = np.percentile(drawn[figure] * scale, [5, 50, 95])
        print(f"    {label:<12}{p5:,.2f} .. {p95:,.2f} {unit} (median {p50:,.2f})")
