"""Stage 2, sparsity: pruning methods and recipes, activation-density calibration, checkpoints."""
