"""Stage 4, simulation: hardware configs, the DLA performance, memory, power and resource models,
SCALE-Sim-compatible systolic mode, and the CPU/GPU baselines."""
