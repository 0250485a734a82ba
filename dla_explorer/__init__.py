"""dla-explorer: design-space exploration of sparse CNN inference on FPGA DLA-style accelerators.

The package is in stage folders whose imports point only down (checked in CI by import-linter):

    core <- workload <- sparsity <- packing <- sim <- dse <- study <- cli

The public API is one module per concept, reachable from the top level (imported on first use, so
`import dla_explorer` stays light):

- `models.get`, `workload.extract`: a torch CNN and its table of compute layers;
- `pruning.prune`, `checkpoint.save` / `load`: sparse weights and measured activation density;
- `tasks.digits` / `load_data`, `tasks.train` / `evaluate`: labelled data (the built-in digits
  task or an image folder), (masked) training and top-1 / top-5 accuracy;
- `packing.pack`, `packing.save_packed` / `load_packed`, `executor.run_layer`: column combining,
  packed files and the functional check;
- `finetune.accuracy_table`, `finetune.finetune`: the accuracy packing costs and packing-aware
  fine-tuning that wins it back;
- `hw.load_*`, `resources.resources`, `simulator.simulate` / `simulate_batch`: hardware configs,
  FPGA resources, throughput, latency, power and energy;
- `systolic.run`: SCALE-Sim-compatible systolic-array cycles;
- `spec.load_spec`, `search.run_search`, `sweep.run_sweep`, `results`: design-space exploration;
- `experiment.run_experiment`, `report.write_report`: the reference comparison, end to end;
- `accuracy.tradeoff_table` / `tradeoff_figure`: accuracy against utilisation and frames/s across
  alpha and gamma.

Example::

    from dla_explorer import hw, packing, pruning, simulator
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: Public name -> the module that implements it (the one place the API is listed).
PUBLIC_MODULES = {
    "models": "dla_explorer.workload.zoo",
    "workload": "dla_explorer.workload",
    "pruning": "dla_explorer.sparsity.pruning",
    "checkpoint": "dla_explorer.sparsity.checkpoint",
    "tasks": "dla_explorer.sparsity.tasks",
    "packing": "dla_explorer.packing",
    "executor": "dla_explorer.packing.executor",
    "finetune": "dla_explorer.packing.finetune",
    "hw": "dla_explorer.sim.config",
    "resources": "dla_explorer.sim.resources",
    "simulator": "dla_explorer.sim.simulator",
    "systolic": "dla_explorer.sim.systolic",
    "traffic": "dla_explorer.sim.traffic",
    "baselines": "dla_explorer.sim.baselines",
    "spec": "dla_explorer.dse.spec",
    "evaluation": "dla_explorer.dse.evaluation",
    "search": "dla_explorer.dse.search",
    "sweep": "dla_explorer.dse.sweep",
    "results": "dla_explorer.dse.results",
    "experiment": "dla_explorer.study.experiment",
    "report": "dla_explorer.study.report",
    "accuracy": "dla_explorer.study.accuracy",
}

__all__ = ["PUBLIC_MODULES", "__version__", *PUBLIC_MODULES]


def __getattr__(name: str) -> ModuleType:
    if name in PUBLIC_MODULES:
        module = importlib.import_module(PUBLIC_MODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'dla_explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
