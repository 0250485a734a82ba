"""Defaults of the accuracy path, in a module without heavy imports (the CLI's --help reads them).

Sources: benchmarks/bench_accuracy.py (digits_cnn on the built-in digits task).
"""

TASKS = ("digits",)
DEFAULT_EPOCHS = 12  # dense training: ~98% top-1 on digits
DEFAULT_LR = 1e-2  # one-cycle peak of dense training
FINETUNE_LR = 5e-3  # retraining starts from trained weights: half the training peak
DEFAULT_FINETUNE_EPOCHS = 10
DEFAULT_ITERATIONS = 3  # combine + retrain rounds (Kung et al. iterate; 3 recover digits fully)
