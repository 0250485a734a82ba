"""`dla-explorer prune` and `dla-explorer inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dla_explorer.cli._common import (
    LayerBars,
    add_parser,
    check_outputs,
    input_shape,
    positive_int,
    print_table,
    si,
    working,
    write_csv,
)
from dla_explorer.core.errors import UsageError
from dla_explorer.core.vocab import PRUNING_METHODS

if TYPE_CHECKING:
    from dla_explorer.sparsity.pruning import Recipe, SparseModel

INSPECT_COLUMNS = [
    "name",
    "kind",
    "C",
    "K",
    "R",
    "S",
    "P",
    "Q",
    "groups",
    "weights",
    "sparsity",
    "act_density",
    "macs",
    "sparse_macs",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "prune",
        help="prune a model and save the sparse checkpoint",
        description="Prune every conv and linear layer of a model, measure the input-activation "
        "density of each layer on a calibration batch, and save the result (.npz).\n\n"
        "Give either a recipe file (models/*.yaml) or --model with options.\n"
        f"Methods: {', '.join(PRUNING_METHODS)}.",
        epilog="examples:\n  dla-explorer prune models/resnet50_random90.yaml\n"
        "  dla-explorer prune --model resnet50 --method random --sparsity 0.9 "
        "--keep-dense conv1 fc -o models/r50.npz\n"
        "  dla-explorer prune --model mobilenet_v2 --method nm --nm 2:4 -o models/mv2_24.npz",
    )
    p.add_argument("recipe", nargs="?", metavar="RECIPE.yaml", help="pruning recipe")
    p.add_argument("--model", help="zoo name or path/to/file.py:factory")
    p.add_argument("--method", help=f"one of {', '.join(PRUNING_METHODS)} (default random)")
    p.add_argument("--sparsity", type=float, help="share of weights to prune, in [0, 1)")
    p.add_argument("--nm", metavar="N:M", help="pattern for --method nm (default 2:4)")
    p.add_argument(
        "--keep-dense",
        nargs="+",
        default=None,
        metavar="LAYER",
        help="layer names or glob patterns to leave unpruned (e.g. conv1 fc)",
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--input-shape",
        type=input_shape,
        metavar="N,C,H,W",
        help="input shape (default: the zoo model's own; 1,3,224,224 for the others)",
    )
    p.add_argument(
        "--calibration",
        metavar="SOURCE",
        help="'synthetic' (default), a .pt/.npy tensor or a folder of images",
    )
    p.add_argument(
        "--calibration-size",
        type=positive_int,
        metavar="N",
        help="images in the calibration batch (default 8)",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="checkpoint to write (.npz)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no per-layer progress bars on stderr (there are none when stderr is not a terminal)",
    )
    p.set_defaults(handler=run_prune)

    p = add_parser(
        subparsers,
        "inspect",
        help="summarise a pruned checkpoint",
        description="Print the layers, sparsity and activation density of a checkpoint "
        "written by 'dla-explorer prune'.",
        epilog="examples:\n  dla-explorer inspect models/resnet50_random90.npz\n"
        "  dla-explorer inspect models/resnet50_random90.npz --csv layers.csv",
    )
    p.add_argument("file", metavar="FILE", help="checkpoint (.npz)")
    p.add_argument("--csv", metavar="PATH", help="also write the per-layer table as CSV")
    p.set_defaults(handler=run_inspect)


def _recipe_from_args(args: argparse.Namespace) -> tuple[Recipe, str]:
    from dla_explorer.sparsity.pruning import Recipe, load_recipe

    options = {
        key: getattr(args, key)
        for key in (
            "model",
            "method",
            "sparsity",
            "nm",
            "seed",
            "input_shape",
            "calibration",
            "calibration_size",
            "output",
        )
    }
    options = {k: v for k, v in options.items() if v is not None}
    if args.keep_dense:
        options["overrides"] = {pattern: 0.0 for pattern in args.keep_dense}
    if args.recipe:
        base = load_recipe(args.recipe).model_dump(exclude_unset=True)
        source = args.recipe
        default_output = str(Path("models") / (Path(args.recipe).stem + ".npz"))
    elif args.model:
        base, source = {}, "command line"
        default_output = None
    else:
        raise UsageError("give a recipe file or --model (see 'dla-explorer prune --help')")
    from dla_explorer.core.fileio import validate

    recipe = validate(Recipe, {**base, **options}, source)
    output = recipe.output or default_output
    if output is None:
        raise UsageError("give -o/--output PATH for the checkpoint")
    check_outputs(output)
    return recipe, output


def run_prune(args: argparse.Namespace) -> int:
    recipe, output = _recipe_from_args(args)
    try:
        return _prune(args, recipe, output)
    except UsageError as exc:  # a recipe value that does not fit the model: name the recipe
        if not args.recipe or str(exc).startswith(args.recipe):
            raise
        raise UsageError(f"{args.recipe}: {exc}") from None


def _prune(args: argparse.Namespace, recipe: Recipe, output: str) -> int:
    enabled = not args.no_progress
    # the elapsed time while the model loads and is traced, then a bar per stage: masks, activations
    with working(f"loading and tracing {recipe.model}", enabled) as traced:
        from dla_explorer.sparsity import checkpoint
        from dla_explorer.sparsity.pruning import prune_recipe

        bars = LayerBars(f"pruning {recipe.model} ({recipe.method})", enabled, before=traced)
        try:
            sparse = prune_recipe(recipe, progress=bars)
        finally:
            bars.close()
        checkpoint.save(sparse, output, source_key=checkpoint.recipe_key(recipe))  # search reuses it
    print_summary(sparse, output)
    return 0


def print_summary(sparse: SparseModel, source: str) -> None:
    frame = sparse.to_frame()
    recipe = sparse.recipe
    overrides = ", ".join(f"{k}={v:g}" for k, v in recipe.get("overrides", {}).items()) or "none"
    pattern = f" {recipe['nm']}" if recipe.get("nm") else ""
    print(f"{source}: {sparse.model}, {len(frame)} compute layers, input {list(sparse.workload.input_shape)}")
    print(
        f"  pruning   {recipe.get('method')}{pattern}, target sparsity "
        f"{recipe.get('sparsity', 0):.1%}, seed {recipe.get('seed')}, overrides: {overrides}"
    )
    print(
        f"  weights   {si(frame['weights'].sum())}, non-zero {si(frame['nnz'].sum())} "
        f"(overall sparsity {sparse.sparsity:.2%})"
    )
    dense_macs, sparse_macs = frame["macs"].sum(), frame["sparse_macs"].sum()
    print(
        f"  MACs      {si(dense_macs)} dense, {si(sparse_macs)} with non-zero weights "
        f"({dense_macs / max(sparse_macs, 1):.2f}x fewer)"
    )
    weighted = (frame["act_density"] * frame["ifmap"]).sum() / frame["ifmap"].sum()
    print(
        f"  activations: input density {weighted:.2f} (ifmap-weighted mean; "
        f"calibration {recipe.get('calibration')}, {recipe.get('calibration_size')} images)"
    )
    print(f"  sha256    {sparse.content_hash()[:16]}")


def run_inspect(args: argparse.Namespace) -> int:
    from dla_explorer.sparsity import checkpoint

    sparse = checkpoint.load(args.file)
    frame = sparse.to_frame()
    print_table(frame[INSPECT_COLUMNS])
    print_summary(sparse, args.file)
    if args.csv:
        write_csv(frame, args.csv)
    return 0
