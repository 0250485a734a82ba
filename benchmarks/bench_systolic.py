"""Time the systolic model on SCALE-Sim's ResNet-50 topology, and optionally SCALE-Sim itself.

    python benchmarks/bench_systolic.py [--dataflow os] [--scalesim-python /tmp/ssvenv/bin/python]

SCALE-Sim (a separate install, never a dependency) runs a few layers one at a time; its time per
network is extrapolated from them by MACs, after taking out the interpreter start-up, which a
whole-network run pays once.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dla_explorer.sim.systolic import read_scalesim_cfg, run, systolic_cycles
from dla_explorer.workload import SCALESIM_COLUMNS, Workload, read_scalesim_csv

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "scalesim"
# Small and medium ResNet-50 layers: each simulates in seconds in SCALE-Sim.
DEFAULT_LAYERS = "CB2a_1,CB5a_1,IB4b_1,CB4a_3"


def median_seconds(func: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scalesim_cfg(rows: int, cols: int, dataflow: str, folder: Path) -> Path:
    """The reference os config with this array shape and dataflow (same SRAMs, CALC bandwidth)."""
    text = (DATA / "scale_32x32_os.cfg").read_text()
    for key, value in (("ArrayHeight", rows), ("ArrayWidth", cols), ("Dataflow", dataflow)):
        text = re.sub(rf"^{key}\s*[:=].*$", f"{key}: {value}", text, flags=re.MULTILINE)
    path = folder / "bench.cfg"
    path.write_text(text)
    assert read_scalesim_cfg(path).dataflow == dataflow
    return path


def time_scalesim(
    python: str, workload: Workload, names: list[str], rows: int, cols: int, dataflow: str
) -> pd.DataFrame:
    """Run SCALE-Sim once per layer; wall time minus start-up, and its reported cycles."""
    with tempfile.TemporaryDirectory(prefix="bench_scalesim_") as tmp:
        folder = Path(tmp)
        cfg = scalesim_cfg(rows, cols, dataflow, folder)
        start = time.perf_counter()
        subprocess.run([python, "-c", "import scalesim.scale_sim"], check=True)
        startup = time.perf_counter() - start
        rows_out = []
        for name in names:
            layer = workload[name]
            topo = folder / f"{name}.csv"
            # The layer's own SCALE-Sim row (to_scalesim_csv would trim H to the floored P).
            row = (name, layer.H, layer.W, layer.R, layer.S, layer.C, layer.K, layer.stride)
            topo.write_text(", ".join(SCALESIM_COLUMNS) + ",\n" + ", ".join(map(str, row)) + ",\n")
            out = folder / f"out_{name}"
            start = time.perf_counter()
            # -l: SCALE-Sim insists on a layout file even when it does not use one.
            subprocess.run(
                [
                    python,
                    "-m",
                    "scalesim.scale",
                    "-c",
                    str(cfg),
                    "-t",
                    str(topo),
                    "-l",
                    str(topo),
                    "-p",
                    str(out),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            seconds = time.perf_counter() - start
            report = pd.read_csv(next(out.glob("*/COMPUTE_REPORT.csv")), skipinitialspace=True)
            rows_out.append(
                {
                    "layer": name,
                    "seconds": seconds - startup,
                    "scalesim_cycles": int(report["Total Cycles"].iloc[0]),
                }
            )
    return pd.DataFrame(rows_out).assign(startup=startup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=str(DATA / "resnet50_topology.csv"))
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--cols", type=int, default=32)
    parser.add_argument("--dataflow", default="os", choices=("os", "ws", "is"))
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--scalesim-python", help="python of a venv with scalesim==3.0.0")
    parser.add_argument("--layers", default=DEFAULT_LAYERS, help="comma-separated layer names")
    args = parser.parse_args()

    workload = read_scalesim_csv(args.topology)
    model = median_seconds(
        lambda: systolic_cycles(workload, args.rows, args.cols, args.dataflow), args.repeats
    )
    end_to_end = median_seconds(lambda: run(args.topology, args.rows, args.cols, args.dataflow), args.repeats)
    print(
        f"{workload.name}: {len(workload)} layers, {workload.macs / 1e9:.2f} GMACs, "
        f"{args.rows}x{args.cols} {args.dataflow}, median of {args.repeats} runs"
    )
    print(f"  systolic_cycles          {model * 1e3:9.3f} ms per network")
    print(f"  run (parse + model)      {end_to_end * 1e3:9.3f} ms per network")
    if not args.scalesim_python:
        return

    ours = systolic_cycles(workload, args.rows, args.cols, args.dataflow).set_index("layer")
    names = [n.strip() for n in args.layers.split(",") if n.strip()]
    sim = time_scalesim(args.scalesim_python, workload, names, args.rows, args.cols, args.dataflow)
    sim["our_cycles"] = ours.loc[names, "compute_cycles"].to_numpy()
    sim["macs"] = ours.loc[names, "macs"].to_numpy()  # as SCALE-Sim counts them
    print("\nSCALE-Sim 3.0.0, one layer at a time (seconds without start-up):")
    print(sim[["layer", "macs", "seconds", "scalesim_cycles", "our_cycles"]].to_string(index=False))
    startup = float(sim["startup"].iloc[0])
    network = sim["seconds"].sum() / sim["macs"].sum() * ours["macs"].sum() + startup
    print(f"  start-up {startup:.2f} s; extrapolated by MACs: {network:.0f} s per network")
    print(
        f"  ratio SCALE-Sim / systolic_cycles: {network / model:,.0f}x (vs run: {network / end_to_end:,.0f}x)"
    )


if __name__ == "__main__":
    main()
