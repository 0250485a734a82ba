"""dla-explorer: design-space exploration of sparse CNN inference on FPGA DLA-style accelerators.

The public API, one module per stage (each a plain function over small typed objects):

- `models.get`, `workload.extract`: a torch CNN and its table of compute layers;
- `pruning.prune`, `checkpoint.save` / `load`: sparse weights and measured activation density;
- `packing.pack`, `executor.run_layer`: column combining and its functional check;
- `hw.load_*`, `resources.resources`, `simulator.simulate` / `simulate_batch`: hardware configs,
  FPGA resources, throughput, latency, power and energy;
- `systolic.run`: SCALE-Sim-compatible systolic-array cycles;
- `spec.load_spec`, `search.run_search`, `sweep.run_sweep`, `results`: design-space exploration;
- `experiment.run_experiment`, `report.write_report`: the reference comparison, end to end.
"""

__version__ = "0.1.0"
