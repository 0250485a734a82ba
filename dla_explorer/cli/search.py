"""`dla-explorer search`, `dla-explorer sweep` and `dla-explorer show`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dla_explorer.cli._common import (
    add_parser,
    for_display,
    positive_float,
    positive_int,
    print_table,
    require_extra,
)
from dla_explorer.core.errors import DlaError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from dla_explorer.dse.results import Loaded
    from dla_explorer.dse.spec import Spec

SPEC_HELP = "experiment spec (YAML, see docs/search.md)"
# shown beside the objectives (latency in ms, resource counts as whole numbers: see for_display)
EXTRA_METRICS = ("fps", "power_w", "fps_per_w", "latency_s", "dsp")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """The options search and sweep share: where the results go and whether a bar is drawn."""
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none when stderr is not a terminal)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="results folder (overrides the spec's 'results'; default results/<name>)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "search",
        help="search a design space with Optuna (resumable, parallel)",
        description="Run an Optuna study over the spec's design space: each trial simulates one\n"
        "design and reports the spec's objectives; constraints (device resources,\n"
        "power cap, minimum fps) mark designs infeasible without stopping the study.\n\n"
        "Running the same command again resumes the study: n_trials counts the total,\n"
        "so only the remainder runs; trials of a killed run are retried.\n"
        "Results: results/<name>/search.csv and results.db (table 'search'); --out or\n"
        "the spec's 'results' key sets another folder.",
        epilog="examples:\n"
        "  dla-explorer search experiments/resnet50_hbm2_search.yaml\n"
        "  dla-explorer search SPEC.yaml --workers 2 --storage results/x/journal.log\n"
        "  dla-explorer search SPEC.yaml --storage postgresql://user:pw@db-host/optuna\n"
        "  dla-explorer search SPEC.yaml --n-trials 1000 --timeout 600\n\n"
        "storage: an Optuna URL (sqlite:///f.db, postgresql://..., mysql+pymysql://...) "
        "or a journal\nfile path; default sqlite:///results/<name>/study.db. Several "
        "machines share a study\nwhen pointed at one PostgreSQL or MySQL URL.",
    )
    p.add_argument("spec", metavar="SPEC.yaml", help=SPEC_HELP)
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL or journal file path (overrides the spec's 'storage')",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes on this machine (default 1)",
    )
    p.add_argument(
        "--n-trials",
        type=positive_int,
        metavar="N",
        help="total trials of the study (overrides the spec's n_trials)",
    )
    p.add_argument(
        "--timeout", type=positive_float, metavar="S", help="stop starting trials after S seconds (this run)"
    )
    _add_output_options(p)
    p.set_defaults(handler=run_search_command)

    p = add_parser(
        subparsers,
        "sweep",
        help="evaluate every design of a (small) space",
        description="Evaluate the full grid of the spec's space (conditionals respected) in\n"
        "batches, appending to results/<name>/sweep.csv as it goes; running it again\n"
        "skips the designs already there. Grids larger than the spec's max_grid\n"
        "(default 1,000,000) are refused: use 'search'.",
        epilog="examples:\n  dla-explorer sweep experiments/mobilenet_sweep.yaml\n"
        "  dla-explorer show results/mobilenet_sweep",
    )
    p.add_argument("spec", metavar="SPEC.yaml", help=SPEC_HELP)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="designs per simulator call (default: the spec's sweep_batch, 1000)",
    )
    _add_output_options(p)
    p.set_defaults(handler=run_sweep_command)

    p = add_parser(
        subparsers,
        "show",
        help="best designs and the Pareto set of a sweep or search",
        description="Print the best feasible design for each objective and the Pareto set\n"
        "(feasible designs no other design beats on every objective). Latency is shown\n"
        "in ms (latency_ms), utilisation in percent, resource counts as whole numbers.",
        epilog="examples:\n  dla-explorer show results/mobilenet_sweep\n"
        "  dla-explorer show results/resnet50_hbm2_search/search.csv\n"
        "  dla-explorer show postgresql://user:pw@db-host/optuna --study resnet50_search\n"
        "  dla-explorer show sweep.csv --objectives fps:max,power_w:min --csv front.csv",
    )
    p.add_argument(
        "target", metavar="RESULTS", help="results folder, results CSV or results.db, or an Optuna storage"
    )
    p.add_argument("--study", metavar="NAME", help="study name, when a storage holds several")
    p.add_argument(
        "--objectives",
        metavar="M:DIR,...",
        help="objectives to rank by (default: the spec's), e.g. fps:max,power_w:min",
    )
    p.add_argument("--all", action="store_true", help="include infeasible designs")
    p.add_argument(
        "--top", type=positive_int, default=20, metavar="N", help="Pareto rows to print (default 20)"
    )
    p.add_argument("--csv", metavar="PATH", help="also write the Pareto set as CSV")
    p.set_defaults(handler=run_show_command)


def run_search_command(args: argparse.Namespace) -> int:
    from dla_explorer.dse.search import SearchOptions, run_search
    from dla_explorer.dse.spec import load_spec

    spec = _with_out(load_spec(args.spec), args.out)
    if spec.sampler.name == "cmaes":  # Optuna would fail every trial instead, one by one
        require_extra("cmaes", "cmaes", f"{args.spec}: sampler 'cmaes'")
    report = run_search(
        spec,
        args.spec,
        SearchOptions(
            storage=args.storage,
            workers=args.workers,
            n_trials=args.n_trials,
            timeout=args.timeout,
            progress=not args.no_progress,
        ),
    )
    c = report.counts
    print(
        f"{report.study}: {report.ran} trials in {report.seconds:.1f} s; study has "
        f"{c['COMPLETE']} complete ({report.feasible} feasible), {c['FAIL']} failed, "
        f"{c['RUNNING'] + c['WAITING']} unfinished; storage {report.storage}"
    )
    print(f"wrote {report.table}")
    if report.rescore:
        print(report.rescore)
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    from dla_explorer.dse.spec import load_spec
    from dla_explorer.dse.sweep import run_sweep

    spec = _with_out(load_spec(args.spec), args.out)
    report = run_sweep(spec, args.spec, batch_size=args.batch_size, progress=not args.no_progress)
    print(
        f"{spec.name}: {report.evaluated} designs evaluated in {report.seconds:.1f} s "
        f"({report.skipped} already done); {report.total} in the grid, "
        f"{report.feasible} feasible"
    )
    print(f"wrote {report.path}")
    return 0


def _with_out(spec: Spec, out: str | None) -> Spec:
    """The spec with --out as its results folder (the folder is not part of its hash)."""
    return spec if out is None else spec.model_copy(update={"results": out})


def run_show_command(args: argparse.Namespace) -> int:
    if args.study and "://" not in args.target and not args.target.endswith((".log", ".db")):
        raise UsageError("--study applies to a study storage (a URL or journal file)")
    from dla_explorer.dse.results import parse_objectives

    given = parse_objectives(args.objectives) if args.objectives else None  # before any loading
    loaded = _load(args)
    objectives = given or loaded.objectives
    if not objectives:
        raise DlaError(
            f"{args.target}: no spec found to take objectives from; give --objectives fps:max,power_w:min"
        )
    for kind, table in loaded.tables.items():
        missing = [o.metric for o in objectives if o.metric not in table]
        if missing:  # a CSV of something else (pandas raised a KeyError traceback)
            raise DlaError(
                f"{args.target}: no column {', '.join(repr(m) for m in missing)}"
                f"{f' in its {kind} table' if kind in ('sweep', 'search') else ''} "
                "(not a results table of 'dla-explorer sweep' or 'search'?)"
            )
        show_table(f"{loaded.source} ({kind})", table, objectives, loaded.params, args)
    return 0


def _load(args: argparse.Namespace) -> Loaded:
    from dla_explorer.dse.results import load_results

    return load_results(args.target, args.study)


def show_table(
    title: str, table: pd.DataFrame, objectives: list, params: list[str], args: argparse.Namespace
) -> None:
    from dla_explorer.dse.results import best_per_objective, pareto_front
    from dla_explorer.dse.space import KEY_COLUMNS

    done = table[table["state"] == "COMPLETE"] if "state" in table else table
    feasible = int(done["feasible"].astype(bool).sum()) if "feasible" in done else len(done)
    print(f"{title}: {len(table)} designs, {len(done)} evaluated, {feasible} feasible")
    metrics = [o.metric for o in objectives]
    extra = [m for m in EXTRA_METRICS if m not in metrics]
    # the searched parameters that vary (every design column when there is no spec)
    varying = [c for c in (params or KEY_COLUMNS) if c in done and done[c].nunique() > 1]
    ident = [c for c in ("trial", "point") if c in table]
    columns = [*ident, *metrics, *[m for m in extra if m in table], *varying]
    best = best_per_objective(table, objectives, feasible_only=not args.all)
    if best.empty:
        print("  no feasible design" + ("" if args.all else " (--all shows infeasible ones)"))
        return
    print("best per objective:")
    print_table(_display(best[["objective", *columns]]), "{:.4g}")
    front = pareto_front(table, objectives, feasible_only=not args.all)
    shown = f", first {args.top}" if len(front) > args.top else ""
    print(f"Pareto set: {len(front)} designs{shown}")
    print_table(_display(front[columns].head(args.top)), "{:.4g}")
    if args.csv:
        from dla_explorer.cli._common import write_csv

        write_csv(_display(front), args.csv)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    return for_display(frame, ("utilization", "memory_bound_share"))
