"""`dla-explorer train`, `dla-explorer accuracy` and `dla-explorer finetune`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dla_explorer.cli._common import (
    add_grouping_options,
    add_parser,
    non_negative_float,
    positive_int,
    print_table,
    write_csv,
)
from dla_explorer.cli.pack import DEFAULT_K_VEC
from dla_explorer.core.errors import UsageError
from dla_explorer.sparsity import training_defaults as defaults

if TYPE_CHECKING:
    from torch import nn

    from dla_explorer.packing import finetune as ft
    from dla_explorer.sparsity import tasks
    from dla_explorer.sparsity.pruning import Recipe

DATA_HELP = (
    f"a built-in task ({', '.join(defaults.TASKS)}) or an image folder: class sub-folders "
    "(torchvision ImageFolder style, optionally under train/ and val/), or bare images for "
    "output fidelity without labels"
)


def _packing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--k-vec",
        type=positive_int,
        default=DEFAULT_K_VEC,
        metavar="K",
        help=f"PEs (default {DEFAULT_K_VEC})",
    )
    add_grouping_options(p)
    p.add_argument(
        "--iterations",
        type=positive_int,
        default=defaults.DEFAULT_ITERATIONS,
        metavar="N",
        help=f"combine + retrain rounds (default {defaults.DEFAULT_ITERATIONS})",
    )
    p.add_argument(
        "--lr",
        type=non_negative_float,
        default=defaults.FINETUNE_LR,
        help=f"retraining learning rate (default {defaults.FINETUNE_LR:g})",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the packing cache")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "train",
        help="train a model on a built-in task or an image folder",
        description="Train a zoo model (dense) and save its state dict, for recipes' 'weights:'.",
        epilog="example:\n  dla-explorer train digits --model digits_cnn -o models/digits_cnn.pt",
    )
    p.add_argument("data", metavar="DATA", help=DATA_HELP)
    p.add_argument(
        "--model", default="digits_cnn", help="zoo name or path/to/file.py:factory (default digits_cnn)"
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults.DEFAULT_EPOCHS,
        metavar="N",
        help=f"training epochs (default {defaults.DEFAULT_EPOCHS})",
    )
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch order (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="state dict to write (.pt)")
    p.set_defaults(handler=run_train)

    p = add_parser(
        subparsers,
        "accuracy",
        help="accuracy of the dense, pruned, packed and fine-tuned model",
        description="Prune the recipe's model, pack it, fine-tune the packing and print top-1 and "
        "top-5 per stage: dense, pruned, sparse (retrained with its masks), packed (after "
        "conflict pruning, no retraining) and packed (fine-tuned, packing-aware). With a folder "
        "of unlabelled images: top-1 agreement and relative logit error of the pruned and packed "
        "models against the dense one.",
        epilog="example:\n  dla-explorer accuracy models/digits_cnn_magnitude90.yaml --data digits",
    )
    p.add_argument("recipe", metavar="RECIPE.yaml")
    p.add_argument("--data", required=True, metavar="DATA", help=DATA_HELP)
    p.add_argument(
        "--epochs",
        type=int,
        default=defaults.DEFAULT_FINETUNE_EPOCHS,
        metavar="N",
        help=f"retraining epochs per retrained stage (default {defaults.DEFAULT_FINETUNE_EPOCHS}; 0: none)",
    )
    _packing_options(p)
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.set_defaults(handler=run_accuracy)

    p = add_parser(
        subparsers,
        "finetune",
        help="packing-aware fine-tuning; writes a checkpoint whose masks are the packed ones",
        description="Prune the recipe's model, then iterate (pack and conflict-prune, masked "
        "retraining) as Kung et al. do, and save the result: a checkpoint (.npz) whose masks "
        "are the packed ones and, beside it, the full state dict (.pt) it names.",
        epilog="example:\n  dla-explorer finetune models/digits_cnn_magnitude90.yaml --data digits "
        "--epochs 10 -o models/digits_packed.npz",
    )
    p.add_argument("recipe", metavar="RECIPE.yaml")
    p.add_argument("--data", required=True, metavar="DATA", help=DATA_HELP)
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults.DEFAULT_FINETUNE_EPOCHS,
        metavar="N",
        help=f"retraining epochs (default {defaults.DEFAULT_FINETUNE_EPOCHS})",
    )
    _packing_options(p)
    p.add_argument(
        "-o", "--output", metavar="PATH", help="checkpoint to write (default models/STEM_packed.npz)"
    )
    p.set_defaults(handler=run_finetune)


def _save_state(model: nn.Module, path: Path) -> None:
    import torch

    from dla_explorer.core.fileio import atomic_open

    with atomic_open(path, "wb") as handle:
        torch.save(model.state_dict(), handle)


def run_train(args: argparse.Namespace) -> int:
    from dla_explorer.sparsity import tasks
    from dla_explorer.sparsity.pruning import default_input_shape, load_model

    if not args.output.endswith((".pt", ".pth")):
        raise UsageError(f"--output '{args.output}': write a state dict, .pt or .pth")
    model, name = load_model(args.model, None, args.seed)
    data = tasks.load_data(args.data, default_input_shape(args.model))
    tasks.train(model, data.train, epochs=args.epochs, seed=args.seed)
    scores = tasks.evaluate(model, data.test)
    _save_state(model, Path(args.output))
    print(
        f"{name} on {data.name}: top-1 {scores['top1']:.2%}, top-5 {scores['top5']:.2%} "
        f"({len(data.test)} held-out images, {args.epochs} epochs)"
    )
    print(f"wrote {args.output}")
    return 0


def _setup(args: argparse.Namespace) -> tuple[Recipe, nn.Module, tasks.Data, ft.Packing]:
    from dla_explorer.packing import Geometry
    from dla_explorer.packing import finetune as ft
    from dla_explorer.sparsity import tasks
    from dla_explorer.sparsity.pruning import default_input_shape, load_model, load_recipe

    recipe = load_recipe(args.recipe)
    base, _ = load_model(recipe.model, recipe.weights, recipe.seed)
    data = tasks.load_data(args.data, recipe.input_shape or default_input_shape(recipe.model))
    packing = ft.Packing(Geometry(args.k_vec, 1), args.alpha, args.gamma, args.algorithm)
    return recipe, base, data, packing


def run_accuracy(args: argparse.Namespace) -> int:
    if args.epochs < 0:
        raise UsageError(f"--epochs {args.epochs}: must be >= 0")
    from dla_explorer.packing import finetune as ft
    from dla_explorer.sparsity.pruning import prune_recipe

    recipe, base, data, packing = _setup(args)
    sparse = prune_recipe(recipe)
    cache = None if args.no_cache else True
    label = f"k_vec {args.k_vec}, alpha {args.alpha}, gamma {args.gamma:g}"
    if not data.test.labelled:
        frame = ft.fidelity_table(base, sparse, data.test, packing, cache)
        print_table(frame, "{:.4f}")
        print(f"{sparse.model} on {len(data.test)} unlabelled images of {data.name}: {label}")
    else:
        frame, tuned = ft.accuracy_table(
            base, sparse, data, packing, args.epochs, args.iterations, args.lr, recipe.seed, cache
        )
        print_table(frame, "{:.4f}")
        top1 = dict(zip(frame["stage"], frame["top1"], strict=True))
        reference = top1["sparse (retrained)"]
        print(
            f"{sparse.model} on {data.name} ({len(data.test)} held-out images), {label}, "
            f"{args.epochs} epochs in {args.iterations} rounds"
        )
        print(
            f"  packing costs {100 * (reference - top1['packed']):.2f} points of top-1 before "
            f"fine-tuning, {100 * (reference - top1['packed (fine-tuned)']):.2f} after "
            "(against the retrained sparse model)"
        )
        print(
            f"  a fresh re-pack of the fine-tuned weights would prune {tuned.final_pruned_share:.2%} of |w|"
        )
    if args.csv:
        write_csv(frame, args.csv)
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from dla_explorer.packing import finetune as ft
    from dla_explorer.sparsity import checkpoint, tasks
    from dla_explorer.sparsity.pruning import prune_recipe

    recipe, base, data, packing = _setup(args)
    if not data.train.labelled:
        raise UsageError(f"data '{args.data}': fine-tuning needs labelled images")
    output = Path(args.output or Path("models") / f"{Path(args.recipe).stem}_packed.npz")
    if output.suffix != ".npz":
        raise UsageError(f"--output '{output}': the checkpoint is an .npz file")
    sparse = prune_recipe(recipe)
    before = tasks.evaluate(ft.with_weights(base, sparse.weights), data.test)["top1"]
    cache = None if args.no_cache else True
    tuned = ft.finetune(
        base, sparse, data.train, packing, args.epochs, args.iterations, args.lr, recipe.seed, cache
    )
    after = tasks.evaluate(tuned.model, data.test)["top1"]
    state = output.with_suffix(".pt")
    tuned.sparse.recipe["state_dict"] = state.name
    _save_state(tuned.model, state)
    checkpoint.save(tuned.sparse, output)
    for row in tuned.history:
        print(
            f"  round {row['round']}: {row['epochs']} epochs, conflict pruning took "
            f"{row['pruned_share']:.2%} of |w|, sparsity {row['sparsity']:.2%}"
        )
    print(
        f"{tuned.sparse.model} on {data.name}: top-1 {before:.2%} pruned -> {after:.2%} packed and "
        f"fine-tuned (k_vec {args.k_vec}, alpha {args.alpha}, gamma {args.gamma:g})"
    )
    print(f"wrote {output} (masks = the packed ones) and {state}")
    return 0
