"""Stage 5, design-space exploration: experiment specs, parameter spaces, evaluation of design
points, Optuna searches, grid sweeps, study storage and results tables."""
