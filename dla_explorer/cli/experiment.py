"""`dla-explorer run` (the reference comparison, end to end) and `dla-explorer report`."""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING

from dla_explorer.cli._common import add_parser, non_negative_int, print_table

if TYPE_CHECKING:
    import pandas as pd

    from dla_explorer.study.analysis import Results


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "run",
        help="run an experiment (e.g. the reference work's comparison)",
        description="Prune every model at every sparsity, simulate every design (DDR4 and HBM2) "
        "in every mode (dense, unpacked, packed), add the CPU and GPU baselines and "
        "run the design-space search; write CSV tables to the results folder. "
        "Running again resumes (pruned models are reused, the search continues). "
        "Ends with the headline figures per model (frames/s, frames/s/W, what packing and "
        "HBM2 buy).",
        epilog="examples:\n  dla-explorer run experiments/paper.yaml        # default size\n"
        "  dla-explorer run experiments/paper.yaml --full # the whole study\n"
        "  dla-explorer report results/paper",
    )
    p.add_argument("spec", metavar="SPEC.yaml", help="experiment spec (experiments/paper.yaml)")
    p.add_argument(
        "--full", action="store_true", help="the full size (more search trials, more CPU timing repeats)"
    )
    p.add_argument("--out", metavar="DIR", help="results folder (default results/<name>)")
    p.add_argument("--no-search", action="store_true", help="skip the design-space search")
    p.add_argument("--report", action="store_true", help="write the report when done")
    p.add_argument(
        "--uncertainty",
        type=non_negative_int,
        metavar="N",
        help="Monte-Carlo samples of every estimate for the 5-95%% bands (default: the spec's size; "
        "0 = none); bands land in comparison.csv (<figure>_p5/_p95) and uncertainty.csv",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars on stderr (there are none when stderr is not a terminal)",
    )
    p.set_defaults(handler=run)

    p = add_parser(
        subparsers,
        "report",
        help="write the HTML report and Markdown summary of a results folder",
        description="Turn a results folder into report.html (one self-contained file that works "
        "offline: an interactive design explorer, sortable tables, figures embedded) and report.md "
        "(figures in figures/ as PNG at 300 dpi, and SVG/PDF). With a second folder: both side by "
        "side, the differences highlighted.",
        epilog="examples:\n  dla-explorer report results/paper\n"
        "  dla-explorer report results/paper --format png,svg,pdf\n"
        "  dla-explorer report results/paper results/paper_b   # compare two runs",
    )
    p.add_argument(
        "results", metavar="RESULTS_DIR", help="folder written by 'dla-explorer run', 'search' or 'sweep'"
    )
    p.add_argument(
        "other",
        metavar="OTHER_DIR",
        nargs="?",
        help="a second results folder: both side by side, differences highlighted (written to RESULTS_DIR)",
    )
    p.add_argument(
        "--format",
        default="png,svg",
        metavar="LIST",
        help="figure files to write in figures/: any of png,svg,pdf (PNG at 300 dpi)",
    )
    p.set_defaults(handler=run_report)


def run(args: argparse.Namespace) -> int:
    from dla_explorer.study import analysis, experiment

    spec = experiment.load_experiment(args.spec)
    folder = experiment.run_experiment(
        spec,
        args.spec,
        args.out,
        full=args.full,
        run_search=not args.no_search,
        uncertainty=args.uncertainty,
        progress=not args.no_progress,
    )
    print(f"results in {folder}/")
    print_headline(analysis.load(folder))
    if args.report:
        return run_report(argparse.Namespace(results=folder))
    return 0


def headline(results: Results) -> pd.DataFrame:
    """Per model at the headline sparsity: the packed design on HBM2 (frames/s, W, frames/s/W)
    and what HBM2 (over the first DDR4 design) and packing (over unpacked) buy."""
    import numpy as np

    from dla_explorer.study import analysis

    spec, frame = results.spec, results.comparison
    curves = analysis.sparsity_curves(results)
    at = np.isclose(frame["sparsity"], results.headline) & (frame["mode"] == "packed")
    hbm2 = frame[at & (frame["design"] == spec.hbm2_design)].set_index("model")
    ratios = curves[np.isclose(curves["sparsity"], results.headline)].set_index("model")
    table = hbm2[["fps", "power_w", "fps_per_w"]].join(ratios[["hbm2_over_ddr4", "packed_over_unpacked"]])
    return table.rename(columns={"fps": "frames/s", "power_w": "W", "fps_per_w": "frames/s/W"}).reset_index()


def print_headline(results: Results) -> None:
    from dla_explorer.study import report

    print(
        f"headline: packed on {results.spec.hbm2_design} at {results.headline:.0%} sparsity "
        f"(x: HBM2 over {results.spec.ddr4_designs[0]}, packed over unpacked)"
    )
    print_table(headline(results), "{:,.2f}")
    for line in report.summary(results):
        print(textwrap.fill(line, width=100, initial_indent="  ", subsequent_indent="    "))


def run_report(args: argparse.Namespace) -> int:
    from dla_explorer.study import report

    formats = report.parse_formats(getattr(args, "format", "png,svg"))
    if getattr(args, "other", None):
        html_path, md_path = report.write_comparison(args.results, args.other)
    else:
        html_path, md_path = report.write_report(args.results, formats)
    print(f"report: {html_path} (open it in a browser)\nsummary: {md_path}")
    return 0
