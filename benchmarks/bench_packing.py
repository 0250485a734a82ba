"""Column-combining benchmarks: quality against the reference greedy, and packing speed.

    python benchmarks/bench_packing.py quality        # utilisation / pruning table (~2 min)
    python benchmarks/bench_packing.py speed          # time and peak memory per algorithm (~30 s)
    python benchmarks/bench_packing.py all --markdown results.md
    python benchmarks/bench_packing.py quality --model mobilenet_v2

Models: pruned at random with the first conv and the classifier kept dense (ResNet-50:
prune("resnet50", "random", s, overrides={"conv1": 0, "fc": 0}), seed 0), every layer, network
totals. Utilisation = useful MACs / issued MAC-lane slots over one inference (layers weighted by
output pixels); pruned share = |weight| removed by conflict pruning / total |weight|. Speed runs
each algorithm in a fresh single-threaded subprocess with the cache off and the compiled kernels
warmed on one layer; its peak RSS is the high-water mark reset just before packing (Linux), and
the tracemalloc peak counts numpy's allocations during a second, traced run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

K_VEC, C_VEC = 64, 16
SPARSITIES = (0.9, 0.8, 0.5)
ALPHAS = (4, 8)
GAMMAS = (0.5, 1.75)
# first conv and classifier of each model, kept dense as in the reference work
DENSE_LAYERS = {
    "resnet50": {"conv1": 0.0, "fc": 0.0},
    "mobilenet_v2": {"features.0.0": 0.0, "classifier.1": 0.0},
}
KIB = 1024
MIB = KIB * KIB
CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
RESET_PEAK_RSS = "5"  # clear_refs code that resets VmHWM (Linux >= 4.0)
SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def _sparse_model(model: str, sparsity: float, folder: Path):
    from dla_explorer.sparsity import checkpoint, pruning

    path = folder / f"{model}_random{round(sparsity * 100)}.npz"
    if path.is_file():
        return checkpoint.load(path), path
    sparse = pruning.prune(model, "random", sparsity, overrides=DENSE_LAYERS[model], seed=0)
    checkpoint.save(sparse, path)
    return sparse, path


def quality(model: str, folder: Path, k_vec: int, c_vec: int) -> list[str]:
    from dla_explorer.packing import Geometry, pack

    dense = " and ".join(DENSE_LAYERS[model])
    lines = [
        f"{model}, random sparsity ({dense} dense), all layers, k_vec={k_vec}, "
        f"c_vec={c_vec}. Utilisation before packing: the sparse model on the dense schedule; "
        "speedup: dense steps / packed steps (both weighted by output pixels); 'matches or "
        "beats': fast's utilisation >= the reference's and its pruned share <= the reference's.",
        "",
        "| sparsity | alpha | gamma | util before | util ref | util fast | speedup ref "
        "| speedup fast | pruned ref | pruned fast | pruned weights ref / fast "
        "| fast matches or beats |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sparsity in SPARSITIES:
        sparse, _ = _sparse_model(model, sparsity, folder)
        for alpha, gamma in itertools.product(ALPHAS, GAMMAS):
            totals = {
                alg: pack(sparse, Geometry(k_vec, c_vec), "packed", alpha, gamma, alg, cache=None).totals(
                    c_vec
                )
                for alg in ("reference", "fast")
            }
            ref, fast = totals["reference"], totals["fast"]
            ok = fast["util_after"] >= ref["util_after"] and fast["pruned_share"] <= ref["pruned_share"]
            lines.append(
                f"| {sparsity:.0%} | {alpha} | {gamma} | {ref['util_before']:.3f} "
                f"| {ref['util_after']:.3f} | {fast['util_after']:.3f} "
                f"| {ref['speedup']:.2f} | {fast['speedup']:.2f} "
                f"| {ref['pruned_share']:.2%} | {fast['pruned_share']:.2%} "
                f"| {ref['pruned_weights']:,} / {fast['pruned_weights']:,} "
                f"| {'yes' if ok else 'NO'} |"
            )
            print(lines[-1], flush=True)
    return lines


def _rss_mib(field: str) -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / KIB  # reported in kB
    raise KeyError(field)


def _measure(checkpoint_path: str, algorithm: str, alpha: int, gamma: float) -> dict:
    """Run inside the subprocess: warm the kernels, then time and measure one full pack."""
    from dla_explorer.packing import Geometry, pack
    from dla_explorer.sparsity import checkpoint

    sparse = checkpoint.load(checkpoint_path)
    sparse.content_hash()
    warm_start = time.perf_counter()
    warm = type(sparse)(
        sparse.model,
        type(sparse.workload)("warm", sparse.workload.input_shape, sparse.workload.layers[1:2]),
        sparse.weights,
        sparse.masks,
        sparse.act_density,
        sparse.recipe,
    )
    pack(warm, Geometry(K_VEC, C_VEC), "packed", alpha, gamma, algorithm, cache=None)
    warm_s = time.perf_counter() - warm_start
    linux = CLEAR_REFS.exists() and STATUS.exists()
    if linux:
        CLEAR_REFS.write_text(RESET_PEAK_RSS)
        baseline = _rss_mib("VmRSS")
    else:  # the lifetime high-water mark: packing's own peak may hide under loading's
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB
    start = time.perf_counter()
    packed = pack(sparse, Geometry(K_VEC, C_VEC), "packed", alpha, gamma, algorithm, cache=None)
    seconds = time.perf_counter() - start
    peak = _rss_mib("VmHWM") if linux else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB
    tracemalloc.start()
    pack(sparse, Geometry(K_VEC, C_VEC), "packed", alpha, gamma, algorithm, cache=None)
    traced = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    return {
        "algorithm": algorithm,
        "seconds": seconds,
        "warmup_seconds": warm_s,
        "baseline_mib": baseline,
        "peak_mib": peak,
        "traced_mib": traced,
        "columns": packed.totals(C_VEC)["cols_before"],
    }


def speed(folder: Path, sparsity: float, alpha: int, gamma: float) -> list[str]:
    _, path = _sparse_model("resnet50", sparsity, folder)
    env = {**os.environ, **SINGLE_THREAD}
    lines = [
        f"Pack every layer of a {sparsity:.0%}-random-sparse ResNet-50, k_vec={K_VEC}, "
        f"alpha={alpha}, gamma={gamma}, cache off, one thread, fresh process per algorithm. "
        "RSS includes the interpreter, torch and the loaded model ('before' column); the "
        "tracemalloc peak counts numpy allocations made while packing.",
        "",
        "| algorithm | time (s) | peak RSS while packing (MiB) | RSS before (MiB) "
        "| tracemalloc peak (MiB) | first-call warm-up (s) |",
        "|---|---|---|---|---|---|",
    ]
    for algorithm in ("fast", "reference"):
        out = subprocess.run(
            [sys.executable, __file__, "_measure", str(path), algorithm, str(alpha), str(gamma)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        lines.append(
            f"| {algorithm} | {result['seconds']:.2f} | {result['peak_mib']:.0f} "
            f"| {result['baseline_mib']:.0f} | {result['traced_mib']:.0f} "
            f"| {result['warmup_seconds']:.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("quality", "speed", "all", "_measure"))
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument(
        "--model",
        choices=sorted(DENSE_LAYERS),
        default="resnet50",
        help="network for the quality table (default resnet50)",
    )
    parser.add_argument(
        "--models", metavar="DIR", help="folder for the pruned checkpoints (default: a temporary folder)"
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument("--speed-sparsity", type=float, default=0.9)
    parser.add_argument("--speed-alpha", type=int, default=8)
    parser.add_argument("--speed-gamma", type=float, default=1.75)
    args = parser.parse_args(argv)
    if args.what == "_measure":
        path, algorithm, alpha, gamma = args.args
        print(json.dumps(_measure(path, algorithm, int(alpha), float(gamma))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.models or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        if args.what in ("quality", "all"):
            lines += ["## Quality", "", *quality(args.model, folder, K_VEC, C_VEC), ""]
        if args.what in ("speed", "all"):
            lines += [
                "## Speed",
                "",
                *speed(folder, args.speed_sparsity, args.speed_alpha, args.speed_gamma),
                "",
            ]
    if args.markdown:
        from dla_explorer.core.fileio import write_text_atomic

        write_text_atomic(args.markdown, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
