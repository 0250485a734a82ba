"""`dla-explorer simulate`: one design point on a (sparse) model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dla_explorer.cli._common import add_parser, for_display, positive_int, print_table, write_csv
from dla_explorer.core.errors import UsageError
from dla_explorer.core.units import KIB, MICRO, MILLI
from dla_explorer.core.vocab import MODES

if TYPE_CHECKING:
    from dla_explorer.packing import CacheSpec, PackedWorkload
    from dla_explorer.sim.config import Architecture, Device, Memory
    from dla_explorer.sim.simulator import Result
    from dla_explorer.sparsity.pruning import SparseModel
    from dla_explorer.workload import Workload

LAYER_COLUMNS = [
    "layer",
    "kind",
    "bound",
    "compute_us",
    "memory_us",
    "time_us",
    "utilization_pct",
    "dram_kib",
]
# a SCALE-Sim topology has no weights and no measured activations: it is simulated dense, with
# every activation counted as non-zero (no compression, no gating: the conservative reading)
TOPOLOGY_ACT_DENSITY = 1.0
# headline figures whose 5-95% band --uncertainty prints: column, label, scale, unit
BAND_FIGURES = (
    ("fps", "throughput", 1, "frames/s"),
    ("power_w", "power", 1, "W"),
    ("fps_per_w", "efficiency", 1, "frames/s/W"),
    ("latency_s", "latency", 1 / MILLI, "ms"),
    ("energy_j_per_frame", "energy", 1 / MILLI, "mJ/frame"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "simulate",
        help="simulate one accelerator design on a model",
        description="Throughput, latency, power and energy of a DLA-style accelerator (an "
        "architecture, a memory system and an FPGA device, from hw_configs/) running a "
        "model in one of the modes: dense (no sparsity), unpacked (sparse weights on "
        "the dense schedule, zeros gated), packed (column combining), nm (N:M "
        "structured).\n\nMODEL is a checkpoint from 'dla-explorer prune' (default mode packed), "
        "a packed workload from 'dla-explorer pack --out' (its mode, k_vec, alpha and gamma; "
        "nothing is packed again), a SCALE-Sim topology .csv or a zoo name (both simulated "
        "dense). Config names resolve in hw_configs/<kind>/. Utilisation is in percent.",
        epilog="examples:\n"
        "  dla-explorer simulate models/resnet50_random90.npz --arch dla_s10mx "
        "--memory hbm2_x2\n"
        "  dla-explorer simulate models/resnet50_random90.npz --memory ddr4_2666_x1 "
        "--mode unpacked --csv layers.csv\n"
        "  dla-explorer simulate r50_packed.npz --memory hbm2_x2      # from 'pack --out'\n"
        "  dla-explorer simulate topology.csv --memory ddr4_2666_x1   # a SCALE-Sim topology\n"
        "  dla-explorer simulate resnet50 --device arria10_gx1150 "
        "--arch dla_a10 --memory ddr4_2400_x2",
    )
    p.add_argument(
        "model", metavar="MODEL", help="checkpoint or packed workload (.npz), topology (.csv), zoo name"
    )
    p.add_argument("--arch", default="dla_s10mx", help="architecture YAML or name (default dla_s10mx)")
    p.add_argument("--memory", default="hbm2_x2", help="memory YAML or name (default hbm2_x2)")
    p.add_argument(
        "--device", default="stratix10_mx2100", help="device YAML or name (default stratix10_mx2100)"
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        help="execution mode (default: packed for a checkpoint, dense for a zoo model or a "
        "topology, the file's own for a packed workload)",
    )
    p.add_argument("--batch", type=positive_int, default=1, help="frames per batch (default 1)")
    p.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the packing cache")
    p.add_argument(
        "--fidelity",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="memory model: 0 analytical with the flat controller efficiency, 1 (default) with the "
        "cycle model's efficiency per traffic class of the memory's DRAM device, 2 replaying every "
        "layer's DRAM traffic through the cycle model (docs/dram.md)",
    )
    p.add_argument(
        "--uncertainty",
        type=positive_int,
        metavar="N",
        help="also draw N Monte-Carlo samples of every estimate that acts at the memory fidelity "
        "level (ranges in hw_configs/; level 2 prints level 1's) and print the 5-95%% band of each "
        "headline figure",
    )
    p.set_defaults(handler=run)


def dense_model(workload: Workload) -> SparseModel:
    """A workload without weights (a SCALE-Sim topology) as an unpruned model: every weight
    present (value 1), every activation non-zero."""
    import numpy as np

    from dla_explorer.sparsity.pruning import SparseModel

    weights = {la.name: np.ones(la.weight_shape, dtype=np.float32) for la in workload}
    masks = {la.name: np.ones(la.weight_shape, dtype=bool) for la in workload}
    density = dict.fromkeys(weights, TOPOLOGY_ACT_DENSITY)
    recipe = {"method": "none", "sparsity": 0.0, "calibration": "none (topology)"}
    return SparseModel(workload.name, workload, weights, masks, density, recipe)


def load_model(model: str) -> tuple[SparseModel | PackedWorkload, str]:
    """The simulation target of MODEL and the mode it runs in by default."""
    from dla_explorer import packing
    from dla_explorer.sparsity import checkpoint, pruning

    if model.endswith(".csv"):
        from dla_explorer.workload import read_scalesim_csv

        return dense_model(read_scalesim_csv(model)), "dense"
    if model.endswith(".npz") or Path(model).is_file():
        if packing.store.npz_format(model) == packing.store.FORMAT:
            packed = packing.load_packed(model)
            return packed, packed.mode
        return checkpoint.load(model), "packed"
    return pruning.prune(model, "random", 0.0, calibration_size=1), "dense"


def print_totals(result: Result) -> None:
    from dla_explorer.sim.resources import resources
    from dla_explorer.sim.traffic import sustained_gbps

    t = result.totals
    report = resources(result.arch, result.device)
    # the memory's sequential-read bandwidth as the active fidelity level models it, at the clock
    # the design runs at (the port cap scales with it)
    gbps = sustained_gbps(result.memory, float(t.clock_mhz_used), result.fidelity)
    print(
        f"{result.arch.name} ({result.arch.k_vec}x{result.arch.c_vec}x{result.arch.q_vec}x"
        f"{result.arch.lanes} {result.arch.precision} @ {t.clock_mhz_used:.0f} MHz) + "
        f"{result.memory.name} ({gbps:.1f} GB/s sustained on a sequential read, "
        f"{result.memory.peak_gbps:.1f} peak) on "
        f"{result.device.name}, mode {result.mode}, memory fidelity {result.fidelity}"
    )
    print(
        f"  throughput  {t.fps:,.1f} frames/s, latency {t.latency_s / MILLI:.3f} ms "
        f"(compute {t.compute_s / MILLI:.3f} ms, memory {t.memory_s / MILLI:.3f} ms; "
        f"{t.memory_bound_share:.0%} of the time in memory-bound layers: {t.bound}-bound)"
    )
    print(
        f"  work        {t.gops_effective:,.0f} GOPS useful, {t.gops_dense_equiv:,.0f} GOPS "
        f"dense-equivalent, {t.gops_peak:,.0f} GOPS peak; MAC utilisation {t.utilization:.1%}"
    )
    print(
        f"  power       {t.power_w:.1f} W ({t.static_w:.1f} static + {t.dynamic_w:.1f} dynamic)"
        f", {t.energy_j_per_frame / MILLI:.2f} mJ/frame, {t.fps_per_w:.1f} frames/s/W"
    )
    print(f"  DRAM        {t.dram_mb_per_frame:.2f} MB/frame")
    used = ", ".join(
        f"{k.upper()} {round(report.used[k]):,}/{report.available[k]:,}" for k in report.available
    )
    # the simulator's other limits (the clock, the memory interfaces, a DDR-free design's filter
    # scratchpads), as the totals' `violation` names them
    beyond = [v for v in str(t.violation).split("; ") if v and v.split(" ")[0] not in report.available]
    problems = ([] if report.feasible else report.violations) + beyond
    verdict = "fits" if not problems else "DOES NOT FIT: " + "; ".join(problems)
    print(f"  resources   {used}: {verdict}")


def run(args: argparse.Namespace) -> int:
    from dla_explorer import packing
    from dla_explorer.sim import config as hw
    from dla_explorer.sim import simulator

    arch = hw.load_architecture(args.arch)
    memory = hw.load_memory(args.memory)
    device = hw.load_device(args.device)
    target, mode = load_model(args.model)
    if isinstance(target, packing.PackedWorkload):
        if args.mode not in (None, target.mode):
            raise UsageError(
                f"{args.model}: packed in mode {target.mode}; for --mode {args.mode} run 'pack' again"
            )
        if target.k_vec != arch.k_vec:  # before any output: the file cannot run on this array
            raise UsageError(
                f"{args.model}: packed for k_vec {target.k_vec}, but --arch {args.arch} has k_vec "
                f"{arch.k_vec}; pack again with --k-vec {arch.k_vec}, or give an architecture with "
                f"k_vec {target.k_vec}"
            )
        muxes = (
            f" (alpha {target.alpha}, gamma {target.gamma:g}): its alpha and gamma size the array's muxes, "
            "the architecture's are replaced"
            if target.mode == "packed"
            else ""
        )
        print(f"{args.model}: packed in mode {target.mode} for k_vec {target.k_vec}{muxes}")
    elif args.model.endswith(".csv"):
        print(f"{args.model}: a SCALE-Sim topology, simulated with every weight and activation non-zero")
    mode = args.mode or mode
    cache = None if args.no_cache else packing.DEFAULT_CACHE
    result = simulator.simulate(
        target, arch, memory, device, mode, args.batch, cache=cache, fidelity=args.fidelity
    )
    layers = result.layers.assign(
        compute_us=result.layers["compute_s"] / MICRO,
        memory_us=result.layers["memory_s"] / MICRO,
        time_us=result.layers["time_s"] / MICRO,
        dram_kib=result.layers["dram_bytes"] / KIB,
    )
    layers = for_display(layers, ("utilization",))
    print_table(layers[LAYER_COLUMNS], "{:.2f}")
    print_totals(result)
    if args.uncertainty:
        if isinstance(target, packing.PackedWorkload):
            raise UsageError(f"{args.model}: --uncertainty needs a checkpoint, a zoo model or a topology")
        print_bands(target, arch, memory, device, mode, args.batch, args.uncertainty, cache, args.fidelity)
    if args.csv:
        write_csv(layers, args.csv)
    return 0


def print_bands(
    sparse: SparseModel,
    arch: Architecture,
    memory: Memory,
    device: Device,
    mode: str,
    batch: int,
    n: int,
    cache: CacheSpec,
    fidelity: int,
) -> None:
    """The 5-95% band of each headline figure over n samples of the estimates that act at the
    memory fidelity level (one batch call; the batch API runs levels 0 and 1, so a level-2
    run's bands are level 1's)."""
    import numpy as np
    import pandas as pd

    from dla_explorer.sim import simulator, uncertainty

    level = min(fidelity, 1)
    base = pd.DataFrame([simulator.design_row(arch, memory, mode)])
    samples = uncertainty.monte_carlo(base, [(arch, memory)], device, n, fidelity=level)
    drawn = simulator.simulate_batch(sparse, samples, device, batch, cache=cache, fidelity=level)
    count = len(uncertainty.design_estimates(arch, memory, device, level))
    print(f"  bands       5-95% over {n} samples of {count} estimates (memory fidelity {level}):")
    for figure, label, scale, unit in BAND_FIGURES:
        p5, p50, p95 = np.percentile(drawn[figure] * scale, [5, 50, 95])
        print(f"    {label:<12}{p5:,.2f} .. {p95:,.2f} {unit} (median {p50:,.2f})")
