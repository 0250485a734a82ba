"""kill -9 `dla-explorer run` at three random moments (pruning, simulation, search), resume, and
compare with an uninterrupted run (issue 14's acceptance).

    python benchmarks/bench_kill_resume.py experiments/paper.yaml [--seed 1] [--work DIR]

Runs SPEC once without interruption into WORK/whole, then into WORK/killed, killing the process
with SIGKILL: (1) at a random moment after the first pruned checkpoint appears (pruning and
simulation of the first cases), (2) at a random moment after the last checkpoint appears and
before the tables are written (simulation), (3) when the search's study holds a random share of
its trials. After each kill the same command is started again (a resume). Then every CSV table
is compared: equal apart from timing columns (the measured CPU baseline, trial start times and
durations, worker ids). The search must hold exactly the budget of finished trials. Prints one
line per check and exits 1 when one fails.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

# columns that measure time or the process, not the results
TIMING = {"datetime_start", "duration_s", "worker", "seconds", "retry_of", "trial"}


def command(spec: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "dla_explorer", "run", spec, "--out", str(out)]


def finished_trials(out: Path) -> int:
    path = out / "search" / "study.db"
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def run_until(spec: str, out: Path, ready, rng: random.Random, what: str) -> float:
    """Start the run, wait until ready(), sleep a random moment, kill -9. Returns when killed."""
    log = out.parent / f"{out.name}.{what}.log"  # a file, not a pipe: nobody reads it meanwhile
    with open(log, "wb") as handle:
        process = subprocess.Popen(command(spec, out), stdout=subprocess.DEVNULL, stderr=handle)
    while not ready():
        if process.poll() is not None:
            raise SystemExit(f"the run ended before the {what} kill: {log.read_bytes().decode()[-500:]}")
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.0))
    process.send_signal(signal.SIGKILL)
    process.wait()
    stamp = time.monotonic()
    print(f"killed during {what}")
    return stamp


def tables(out: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for path in sorted(out.rglob("*.csv")):
        frame = pd.read_csv(path)
        if path.name == "baselines.csv":
            frame = frame[frame["kind"] != "measured"]  # timed on this machine
        if path.name == "search.csv":  # the retried copies of killed trials aside
            # (whose empty cells made the column types object: infer them again)
            frame = frame[frame["state"] == "COMPLETE"].reset_index(drop=True).infer_objects()
        found[str(path.relative_to(out))] = frame.drop(columns=[c for c in TIMING if c in frame])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("spec")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    parser.add_argument("--work", help="working folder (default: a temporary one, removed)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="kill_resume_"))
    work.mkdir(parents=True, exist_ok=True)
    whole, killed = work / "whole", work / "killed"
    for folder in (whole, killed):
        shutil.rmtree(folder, ignore_errors=True)

    start = time.monotonic()
    subprocess.run(command(args.spec, whole), check=True, stdout=subprocess.DEVNULL)
    print(f"uninterrupted run: {time.monotonic() - start:.0f} s")
    checkpoints = len(list((whole / "models").glob("*.npz")))
    budget = finished_trials(whole)

    start = time.monotonic()
    models = killed / "models"
    run_until(args.spec, killed, lambda: models.is_dir() and any(models.glob("*.npz")), rng, "pruning")
    run_until(
        args.spec,
        killed,
        lambda: len(list(models.glob("*.npz"))) >= checkpoints,
        rng,
        "simulation",
    )
    share = rng.uniform(0.2, 0.8)
    run_until(args.spec, killed, lambda: finished_trials(killed) >= share * budget, rng, "search")
    subprocess.run(command(args.spec, killed), check=True, stdout=subprocess.DEVNULL)
    print(f"killed three times and resumed: {time.monotonic() - start:.0f} s")

    ok = True
    a, b = tables(whole), tables(killed)
    if set(a) != set(b):
        print(f"FAIL tables differ: {sorted(set(a) ^ set(b))}")
        ok = False
    for name in sorted(set(a) & set(b)):
        try:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
            print(f"equal  {name} ({len(a[name])} rows)")
        except AssertionError as exc:
            print(f"FAIL   {name}: {str(exc).splitlines()[0]}")
            ok = False
    count = finished_trials(killed)
    print(f"search trials: {count} complete (uninterrupted: {budget})")
    ok &= count == budget
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
