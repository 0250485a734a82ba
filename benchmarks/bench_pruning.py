"""Pruning and activation-density speed on ResNet-50, one core, each case in a fresh process.

    .venv/bin/python benchmarks/bench_pruning.py [--threads 1] [--repeats 3]

Cases: random and magnitude pruning to 90% (masks only, then with the density measurement), and
the activation-density measurement alone on a batch of 8 images at 224x224. Peak memory is the
child process's max RSS (it includes torch itself, ~0.3 GB). Targets: < 5 s each, < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
from dla_explorer.workload import zoo as models
from dla_explorer.sparsity import pruning
from dla_explorer.workload import extract

case = "{case}"
model = models.get("resnet50")
workload = extract(model, name="resnet50")
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    if case == "density":
        inputs = pruning.calibration_batch(None, workload.input_shape, 8)
        pruning.measure_activation_density(model, workload, inputs)
    else:
        pruning.prune(model, case, 0.9, overrides={{"conv1": 0, "fc": 0}}, calibration_size=8)
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps({{"case": case, "best_s": min(times), "peak_gb": peak}}))
"""

LABELS = {
    "random": "prune random 90% (incl. density on 8 images)",
    "magnitude": "prune magnitude 90% (incl. density on 8 images)",
    "density": "activation density alone, 8 x 3x224x224",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':52s} {'best s':>8s} {'peak GB':>8s}")
    for case in LABELS:
        code = CASE.format(case=case, threads=args.threads, repeats=args.repeats)
        result = json.loads(
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        )
        print(f"{LABELS[case]:52s} {result['best_s']:8.2f} {result['peak_gb']:8.2f}")


if __name__ == "__main__":
    main()
