"""DLA simulator speed: one design point, the batch API, and SCALE-Sim beside it.

    .venv/bin/python benchmarks/bench_simulator.py [--designs 10000]
        [--scalesim-python /tmp/ssvenv/bin/python]

Packed 90%-random-sparse ResNet-50 (conv1 and fc dense) on the Stratix 10 MX, the whole graph (the
weightless nodes of `graph.zoo_ops` when extraction did not record them: max pool, 16 residual adds
with their shortcuts resident, global pool). Packings are made
(and cached) before timing, as a search reuses them. SCALE-Sim (a separate install, never a
dependency) runs a few ResNet-50 layers one at a time on a 32x32 array; its network time is
extrapolated by MACs (see bench_systolic.py). Targets: one design < 2 ms; >= 10,000 designs/s
(both at memory fidelity 1, the default); fidelity 2 (every layer's DRAM traffic replayed through
the cycle model) for one frame < 1 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import numpy as np
import pandas as pd
from bench_systolic import DATA, DEFAULT_LAYERS, median_seconds, time_scalesim

from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator
from dla_explorer.sim.graph import zoo_ops
from dla_explorer.sparsity import pruning
from dla_explorer.workload import read_scalesim_csv

MEMORIES = ("ddr4_2666_x1", "ddr4_2666_x2", "ddr4_2666_x4", "hbm2_x1", "hbm2_x2")


def design_grid(count: int, rng: np.random.Generator) -> pd.DataFrame:
    """`count` random designs of a Cartesian grid over the array and the memory."""
    base = hw.load_architecture("dla_s10mx")
    memories = [hw.load_memory(m) for m in MEMORIES]
    grid = list(
        itertools.product(
            (32, 64),
            (4, 8, 16, 32, 64),
            range(1, 9),
            (1, 2),
            range(200, 501, 50),
            (512, 1024, 2048, 4096, 8192),
            memories,
        )
    )
    picks = rng.choice(len(grid), size=count, replace=count > len(grid))
    rows = []
    for i in picks:
        k, c, q, lanes, clock, buffer, memory = grid[i]
        arch = base.model_copy(
            update={
                "k_vec": k,
                "c_vec": c,
                "q_vec": q,
                "lanes": lanes,
                "clock_mhz": clock,
                "stream_buffer_kb": buffer,
            }
        )
        rows.append(simulator.design_row(arch, memory, "packed"))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--designs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--scalesim-python", help="python of a venv with scalesim==3.0.0")
    args = parser.parse_args()

    sparse = pruning.prune("resnet50", "random", 0.9, overrides={"conv1": 0, "fc": 0})
    sparse = dataclasses.replace(sparse, workload=zoo_ops(sparse.workload))
    print(f"graph: {len(sparse.workload.layers)} compute layers, {len(sparse.workload.ops)} weightless nodes")
    device = hw.load_device("stratix10_mx2100")
    arch, memory = hw.load_architecture("dla_s10mx"), hw.load_memory("hbm2_x2")
    simulator.simulate(sparse, arch, memory, device)  # pack (or load the cache) once
    single = median_seconds(lambda: simulator.simulate(sparse, arch, memory, device), args.repeats)
    print(
        f"one design point, packed ResNet-50 (packing cached), fidelity 1: {single * 1e3:.3f} ms "
        f"(median of {args.repeats})"
    )
    flat = median_seconds(lambda: simulator.simulate(sparse, arch, memory, device, fidelity=0), args.repeats)
    print(f"  the same at fidelity 0: {flat * 1e3:.3f} ms")
    for name in ("hbm2_x2", "ddr4_2666_x1"):
        mem2 = hw.load_memory(name)
        simulator.simulate(sparse, arch, mem2, device, fidelity=2)  # compile the controller once
        replay = median_seconds(lambda m=mem2: simulator.simulate(sparse, arch, m, device, fidelity=2), 5)
        requests = simulator.simulate(sparse, arch, mem2, device).totals.dram_mb_per_frame * 1e6 / 64
        print(
            f"  fidelity 2 on {name}: {replay:.3f} s a frame ({requests:,.0f} requests of 64 B; median of 5)"
        )

    designs = design_grid(args.designs, np.random.default_rng(0))
    for k_vec in designs["k_vec"].unique():  # pack every k_vec before timing
        simulator.simulate(sparse, arch.model_copy(update={"k_vec": int(k_vec)}), memory, device)
    start = time.perf_counter()
    results = simulator.simulate_batch(sparse, designs, device)
    batch = time.perf_counter() - start
    print(
        f"batch API: {len(designs):,} designs in {batch:.3f} s = "
        f"{len(designs) / batch:,.0f} designs/s ({results['feasible'].mean():.0%} feasible)"
    )

    if args.scalesim_python:
        topology = read_scalesim_csv(DATA / "resnet50_topology.csv")
        names = DEFAULT_LAYERS.split(",")
        sim = time_scalesim(args.scalesim_python, topology, names, 32, 32, "os")
        macs = np.array([topology[n].macs for n in names])
        network = sim["seconds"].sum() / macs.sum() * topology.macs + sim["startup"].iloc[0]
        print(
            f"SCALE-Sim 3.0.0, ResNet-50 on 32x32 os: {network:.0f} s per network "
            f"(layers {', '.join(names)} timed, extrapolated by MACs)"
        )
        print(f"ratio SCALE-Sim / one design point here: {network / single:,.0f}x")


if __name__ == "__main__":
    main()
