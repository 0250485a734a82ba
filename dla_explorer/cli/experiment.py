"""`dla-explorer run` (the reference comparison, end to end) and `dla-explorer report`."""

from __future__ import annotations

import argparse

from dla_explorer.cli._common import formatter
from dla_explorer.study import experiment, report


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run an experiment (e.g. the reference work's comparison)",
        formatter_class=formatter,
        description="Prune every model at every sparsity, simulate every design (DDR4 and HBM2) "
        "in every mode (dense, unpacked, packed), add the CPU and GPU baselines and "
        "run the design-space search; write CSV tables to the results folder. "
        "Running again resumes (pruned models are reused, the search continues).",
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
    p.set_defaults(handler=run)

    p = subparsers.add_parser(
        "report",
        help="write the HTML report and Markdown summary of a results folder",
        formatter_class=formatter,
        description="Turn the tables of 'dla-explorer run' into report.html (self-contained, "
        "images embedded) and report.md (images in figures/) in the same folder.",
    )
    p.add_argument("results", metavar="RESULTS_DIR", help="folder written by 'dla-explorer run'")
    p.set_defaults(handler=run_report)


def run(args: argparse.Namespace) -> int:
    spec = experiment.load_experiment(args.spec)
    folder = experiment.run_experiment(
        spec, args.spec, args.out, full=args.full, run_search=not args.no_search, uncertainty=args.uncertainty
    )
    print(f"results in {folder}/")
    if args.report:
        return run_report(argparse.Namespace(results=folder))
    return 0


def run_report(args: argparse.Namespace) -> int:
    html_path, md_path = report.write_report(args.results)
    print(f"report: {html_path} (open it in a browser)\nsummary: {md_path}")
    return 0
