"""Size and time of the report's explorer as the number of designs grows.

    .venv/bin/python benchmarks/bench_report.py results/paper [--designs 120 500 1000]

Takes the search of a results folder of `dla-explorer run` (results/paper after `make demo`),
repeats its trials (new trial ids) up to each size and builds the explorer's data (drill-downs for
every design up to MAX_DRILLDOWNS), then prints the JSON size, the time, and the report.html size
that results (the page's plotly, figures and tables measured from the folder's own report.html).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from dla_explorer.study import explorer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="results folder of 'dla-explorer run' with a report.html")
    parser.add_argument("--designs", type=int, nargs="+", default=[120, 500, 1000])
    args = parser.parse_args()
    table, spec = explorer.load_dse_folder(args.results / "search")
    own = explorer.build(table, spec, "bench", cache=args.results / "search" / "explorer-cache.json")
    page = (args.results / "report.html").stat().st_size
    rest = page - len(json.dumps(own.payload, separators=(",", ":")))
    print("| designs | drill-downs | explorer JSON (MB) | build (s) | report.html (MB) |")
    print("|---|---|---|---|---|")
    for n in args.designs:
        copies = -(-n // len(table))
        big = pd.concat(
            [table.assign(trial=table["trial"] + 100_000 * k) for k in range(copies)], ignore_index=True
        )
        big = big.iloc[:n]
        start = time.perf_counter()
        built = explorer.build(big, spec, "bench")
        seconds = time.perf_counter() - start
        size = len(json.dumps(built.payload, separators=(",", ":")))
        drills, total = len(built.payload["drill"]), (rest + size) / 1e6
        print(f"| {n} | {drills} | {size / 1e6:.2f} | {seconds:.1f} | {total:.2f} |")


if __name__ == "__main__":
    main()
