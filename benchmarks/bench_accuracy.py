"""The accuracy path's acceptance figures on the built-in digits task, full settings.

    .venv/bin/python benchmarks/bench_accuracy.py [--epochs 12] [--finetune-epochs 10] [--iterations 3]

Trains digits_cnn (dense) and times it, prunes 90% by magnitude, packs it with alpha 8 and gamma
1.75 for k_vec 64 (the reference design's array) and prints top-1/top-5 per stage: dense, pruned,
sparse retrained (the 90%-sparse unpacked reference), packed (conflict pruning only) and packed
after packing-aware fine-tuning. Targets: dense >= 97% in < 60 s on two cores; packed fine-tuned
within 1 point of the retrained sparse model. The packing cache is a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from dla_explorer.packing import Geometry
from dla_explorer.packing import finetune as ft
from dla_explorer.sparsity import tasks
from dla_explorer.sparsity import training_defaults as defaults
from dla_explorer.sparsity.pruning import prune
from dla_explorer.workload import zoo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=defaults.DEFAULT_EPOCHS)
    parser.add_argument("--finetune-epochs", type=int, default=defaults.DEFAULT_FINETUNE_EPOCHS)
    parser.add_argument("--iterations", type=int, default=defaults.DEFAULT_ITERATIONS)
    parser.add_argument("--k-vec", type=int, default=64)
    parser.add_argument("--alpha", type=int, default=8)
    parser.add_argument("--gamma", type=float, default=1.75)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = tasks.digits()
    model = zoo.get("digits_cnn", seed=args.seed)
    start = time.perf_counter()
    tasks.train(model, data.train, epochs=args.epochs, seed=args.seed)
    train_s = time.perf_counter() - start
    print(json.dumps({"dense_train_s": round(train_s, 1), **tasks.evaluate(model, data.test)}))

    sparse = prune(
        model,
        "magnitude",
        0.9,
        calibration=data.train.images[:64],
        seed=args.seed,
        input_shape=zoo.input_shape("digits_cnn"),
    )
    packing = ft.Packing(Geometry(args.k_vec, 16), args.alpha, args.gamma)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        table, tuned = ft.accuracy_table(
            model, sparse, data, packing, args.finetune_epochs, args.iterations, seed=args.seed, cache=cache
        )
        accuracy_s = time.perf_counter() - start
    print(table.to_string(index=False, float_format="{:.4f}".format))
    top1 = dict(zip(table["stage"], table["top1"], strict=True))
    reference = top1["sparse (retrained)"]
    print(
        json.dumps(
            {
                "drop_before_finetune_points": round(100 * (reference - top1["packed"]), 2),
                "drop_after_finetune_points": round(100 * (reference - top1["packed (fine-tuned)"]), 2),
                "rounds": tuned.history,
                "repack_would_prune_share": round(tuned.final_pruned_share, 4),
                "accuracy_table_s": round(accuracy_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
