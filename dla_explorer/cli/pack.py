"""`dla-explorer pack`: pack a pruned checkpoint for a PE array and print what it buys."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dla_explorer.cli._common import (
    add_grouping_options,
    add_parser,
    check_outputs,
    for_display,
    positive_int,
    print_table,
    si,
    write_csv,
)
from dla_explorer.core.errors import UsageError
from dla_explorer.core.vocab import MODES

if TYPE_CHECKING:
    from dla_explorer.packing import PackedWorkload

# the reference design's array (hw_configs/arch/dla_s10mx.yaml)
DEFAULT_K_VEC, DEFAULT_C_VEC = 64, 16
# shares shown in percent, like every utilisation the CLI prints
PERCENT_COLUMNS = ("util_before", "util_after", "pruned_share")
TABLE_COLUMNS = [
    "layer",
    "kind",
    "schedule",
    "passes",
    "cols_before",
    "cols_after",
    "steps",
    "util_before_pct",
    "util_after_pct",
    "pruned_share_pct",
    "metadata_bytes",
    "feeder_width",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "pack",
        help="pack a pruned checkpoint for a PE array (column combining, N:M)",
        description="Map every layer of a pruned checkpoint onto k_vec PEs of width c_vec and\n"
        "print per layer: columns before and after packing, c_vec-wide steps per\n"
        "output pixel, array utilisation in percent before (sparse weights on the\n"
        "dense schedule) and after, the share of |weight| lost to conflict pruning\n"
        "(percent) and the packing metadata; then the network totals. --out saves the packed\n"
        "workload for 'dla-explorer simulate' (which then does not pack again).\n\n"
        "modes:\n"
        "  dense     every weight counts (the masks are ignored)\n"
        "  unpacked  sparse weights on the dense schedule (zeros gated)\n"
        "  packed    column combining: at most ALPHA columns per group, at most\n"
        "            GAMMA conflicts per row on average; the largest weight of\n"
        "            each (row, group) is kept (Kung et al., ASPLOS 2019)\n"
        "  nm        N:M-pruned checkpoints (layers where C/g % M != 0 run dense)\n\n"
        "Packed groupings are cached in ~/.cache/dla-explorer\n"
        "($DLA_EXPLORER_CACHE overrides; --no-cache disables).",
        epilog="examples:\n"
        "  dla-explorer pack models/resnet50_random90.npz --k-vec 64 --c-vec 16 "
        "--alpha 8 --gamma 1.75 --out r50_packed.npz\n"
        "  dla-explorer pack models/r50.npz --mode unpacked --csv unpacked.csv\n"
        "  dla-explorer pack models/mv2_24.npz --mode nm --k-vec 32 --c-vec 8",
    )
    p.add_argument("file", metavar="MODEL.npz", help="checkpoint written by 'dla-explorer prune'")
    p.add_argument(
        "--k-vec",
        type=positive_int,
        default=DEFAULT_K_VEC,
        metavar="K",
        help=f"PEs = filters in parallel (default {DEFAULT_K_VEC})",
    )
    p.add_argument(
        "--c-vec",
        type=positive_int,
        default=DEFAULT_C_VEC,
        metavar="C",
        help=f"dot-product width of each PE (default {DEFAULT_C_VEC})",
    )
    p.add_argument("--mode", choices=MODES, default="packed", help="default packed")
    add_grouping_options(p, "packed: ")
    p.add_argument("--csv", metavar="PATH", help="also write the full per-layer table as CSV")
    p.add_argument(
        "--out", metavar="FILE.npz", help="save the packed workload (for 'dla-explorer simulate FILE.npz')"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(handler=run_pack)


def print_totals(packed: PackedWorkload, c_vec: int) -> None:
    t = packed.totals(c_vec)
    label = f"{packed.mode}" + (
        f", alpha {packed.alpha}, gamma {packed.gamma:g}, {packed.algorithm}"
        if packed.mode == "packed"
        else ""
    )
    print(f"{packed.model}: {t['layers']} layers, k_vec {packed.k_vec}, c_vec {c_vec}, {label}")
    print(f"  columns      {si(t['cols_before'])} -> {si(t['cols_after'])}")
    print(
        f"  steps        {t['dense_steps']:,} dense -> {t['steps']:,} per output pixel "
        f"(speedup {t['speedup']:.2f}x, weighted by output pixels)"
    )
    print(
        f"  utilisation  {t['util_before']:.1%} -> {t['util_after']:.1%} "
        "(useful MACs / issued MAC slots over one inference)"
    )
    print(
        f"  pruned       {t['pruned_weights']:,} weights by conflicts ({t['pruned_share']:.2%} of |weight|)"
    )
    print(f"  stored       {si(t['weight_cells'])} weight cells, {si(t['metadata_bytes'], 'B')} metadata")


def run_pack(args: argparse.Namespace) -> int:
    from dla_explorer.core.npzfile import npz_format
    from dla_explorer.packing import Geometry, pack, save_packed, store
    from dla_explorer.sparsity import checkpoint

    check_outputs(args.csv, args.out)
    if npz_format(args.file) == store.FORMAT:
        raise UsageError(
            f"{args.file}: a packed workload (written by 'pack --out'); pack takes a checkpoint "
            f"of 'dla-explorer prune' (simulate this one: 'dla-explorer simulate {args.file}')"
        )
    sparse = checkpoint.load(args.file)
    packed = pack(
        sparse,
        Geometry(args.k_vec, args.c_vec),
        args.mode,
        args.alpha,
        args.gamma,
        args.algorithm,
        cache=None if args.no_cache else True,
        progress=True,
    )
    frame = for_display(packed.to_frame(args.c_vec), PERCENT_COLUMNS)
    print_table(frame[TABLE_COLUMNS])
    for layer, reason in frame.loc[frame["reason"] != "", ["layer", "reason"]].itertuples(index=False):
        print(f"note: {layer}: {reason}")
    print_totals(packed, args.c_vec)
    if args.csv:
        write_csv(frame, args.csv)
    if args.out:
        save_packed(packed, args.out)
        print(f"wrote {args.out} (for 'dla-explorer simulate' with an architecture of k_vec {packed.k_vec})")
    return 0
