"""The package's fixed vocabularies, each listed once: execution modes, pruning methods, packing
algorithms, Optuna samplers, systolic dataflows.

Each is a `Literal` type (for pydantic fields and mypy) and the tuple of its values (for argparse
choices, validation and messages), the tuple derived from the type so the two cannot drift. They
sit at the bottom of the stack so that every stage, and the CLI's argument parser, can use them
without importing the stage that implements them (and its torch, numba or optuna).
"""

from __future__ import annotations

from typing import Literal, get_args

#: how a model runs on the array: dense (masks ignored), unpacked (sparse weights on the dense
#: schedule, zeros gated), packed (column combining), nm (N:M structured sparsity)
Mode = Literal["dense", "unpacked", "packed", "nm"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: how weights are pruned (see sparsity.pruning)
PruningMethod = Literal["random", "magnitude", "magnitude_global", "nm"]
PRUNING_METHODS: tuple[PruningMethod, ...] = get_args(PruningMethod)

#: column-combining grouping algorithms (see packing.combine): a fast heuristic and Kung et al.'s greedy
Algorithm = Literal["fast", "reference"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)

#: Optuna samplers an experiment spec may name
Sampler = Literal["tpe", "nsga2", "random", "grid", "qmc", "cmaes"]
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)

#: systolic-array dataflows (SCALE-Sim): output, weight or input stationary
Dataflow = Literal["os", "ws", "is"]
DATAFLOWS: tuple[Dataflow, ...] = get_args(Dataflow)

# Column-combining defaults, shared by the packer, the architecture config and the CLI: Kung et al.
# (ASPLOS 2019) combine at most 8 columns per group (a 3-bit select); the conflict budget 1.75 per
# row on average is the reference design's (hw_configs/arch/dla_s10mx.yaml), not a published value.
DEFAULT_ALPHA = 8
DEFAULT_GAMMA = 1.75
DEFAULT_ALGORITHM: Algorithm = "fast"
