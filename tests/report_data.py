"""A small search on the tiny CNN (seconds), shared by the report tests: a results folder with a
front, infeasible designs and a depthwise layer, made without the paper study."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from dla_explorer.dse.search import SearchOptions, run_search
from dla_explorer.dse.spec import load_spec
from dla_explorer.sparsity import checkpoint, pruning

from .conftest import TINY_SHAPE, TinyNet

TRIALS = 24


def tiny_search(folder: Path, name: str = "tiny_report", seed: int = 0) -> Path:
    """Run a random search of TRIALS designs over the tiny CNN into `folder`/results."""
    torch.manual_seed(0)
    sparse = pruning.prune(TinyNet().eval(), "random", 0.8, input_shape=TINY_SHAPE, calibration_size=2)
    model = checkpoint.save(sparse, folder / "tiny.npz")
    spec = {
        "name": name,
        "models": [{"checkpoint": str(model), "name": "tiny"}],
        "device": "stratix10_mx2100",
        "modes": ["packed"],
        "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
        "space": {
            "k_vec": {"type": "pow2", "low": 16, "high": 128},
            "c_vec": {"type": "pow2", "low": 4, "high": 64},
            "q_vec": {"type": "int", "low": 1, "high": 8},
            "clock_mhz": {"type": "float", "low": 300, "high": 450, "step": 50},
            "alpha": {"type": "pow2", "low": 1, "high": 8},
            "mem_channels": {"type": "int", "low": 4, "high": 16, "step": 4},
        },
        "objectives": {"fps": "maximize", "power_w": "minimize"},
        "constraints": {"device": True},
        "sampler": {"name": "random", "seed": seed},
        "n_trials": TRIALS,
        "results": str(folder / "results"),
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    loaded = load_spec(path)
    run_search(loaded, str(path), SearchOptions(progress=False))
    return loaded.results_dir()
