"""Speed of the cycle-level DRAM model (requests per second, one core, after the numba compile)
and its agreement with the DRAMsim3 reference rows.

    python benchmarks/bench_dram.py [--requests 1000000] [--repeats 3] [--reference]
                                    [--baseline DIR | --identity DIR] [--frame [--refresh-frames]]

Each case: a saturating source of 64-B requests (all offered at time zero, in order); the figure
is requests / CPU seconds of `simulate_trace` (median of --repeats), so other load on a shared
machine counts less than with wall time; the wall time is printed beside it.

--baseline DIR: an older tree (`git archive COMMIT dla_explorer hw_configs | tar -x -C DIR`) is
timed side by side: the older tree and this one each run in a child process with the tree first
on PYTHONPATH, each repeat running the baseline and then the current model on the same stream,
and the two must give identical completion times; this is how a speed-up is measured on a
loaded machine.

--identity DIR: no timing; ~660 short runs (every traffic class of 7 configs, unloaded and
capped requesters, duplicate lines, arrival times, multi-burst requests, and closed-page,
no-refresh, per-bank-refresh, small-queue, drain, hit-cap, port and dual-issue variants) on the
tree in DIR and on this one, which must agree on every request's acceptance and completion time
and every summary figure (exit 1 otherwise). Run it before committing a controller change;
--requests N lengthens every case (default 6,000: ~15 s a tree; 40,000 crosses more refreshes).
--frame: the controller alone (`controller.simulate`, CPU time) on the level-2 traffic of one packed
90%-random-sparse ResNet-50 frame (the traces `simulate(..., fidelity=2)` replays: interleaved
filter, input-tile and output streams over every channel, layers offered at their start times,
the DLA's port) on hbm2_x2 and ddr4_2666_x1; the traces are recorded once (about a minute: the
pruning and packing) into $DLA_EXPLORER_CACHE (default ~/.cache/dla-explorer)/bench_dram/ and
reused (--refresh-frames records them again). Reports 64-B requests and DRAM bursts per CPU
second, best and median of --repeats; with --baseline both trees run each trace alternately and
must give equal acceptance and completion times.
With --expect-merges (for --identity and --baseline), cases whose reads repeat a line or that
read and write one line (where a change of read merging or of the read-before-write rule may
move times) are listed but do not fail the check; every other case must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.sim.dram import DramConfig, load_dram, simulate_trace
from dla_explorer.sim.dram import patterns as pt

CASES = {
    "seq_read": lambda n: (pt.sequential(n), None),
    "random_read": lambda n: (pt.random_lines(n, 1 << 32, seed=1), None),
    "rw_mix_2to1": lambda n: pt.mix(n, 3, pt.random_lines(n, 1 << 32, seed=2)),
    "seq_read_write": lambda n: (pt.interleaved(n, (0, 1 << 31)), np.arange(n) % 2 == 1),
}
# read-only streams that read lines more than once (tiles with halos, feature maps read again),
# timed apart from CASES with --reread: their reads merge through the controller's pending-line
# table, which the steady fast path keeps since 2026-12-02 (before, any repeat turned it off)
REREAD_CASES: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray | None]]] = {
    "tiles_twice": lambda n: (
        np.repeat(
            pt.tiled(n // 2 // 16 * 16, row_pitch=14336, tile_bytes=1024).reshape(-1, 16), 2, axis=0
        ).ravel(),
        None,
    ),
    "halo_windows": lambda n: (
        ((np.arange(n // 64)[:, None] * 48 + np.arange(64)).ravel() * pt.LINE).astype(np.uint64),
        None,
    ),
    "map_twice": lambda n: (np.concatenate([pt.sequential(n // 2)] * 2), None),
}
CONFIGS = (
    "dramsim3_ddr4_8gb_x8_2666",
    "dramsim3_ddr4_8gb_x8_2666_bgint",
    "dramsim3_hbm2_8gb_x128",
    "hbm2_s10mx_pc",
)
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "dramsim3_basic_patterns.csv"
NAMES = {
    "DDR4_8Gb_x8_2666": "dramsim3_ddr4_8gb_x8_2666",
    "DDR4_8Gb_x8_2666_bgint": "dramsim3_ddr4_8gb_x8_2666_bgint",
    "DDR4_8Gb_x16_2666_1rank": "dramsim3_ddr4_8gb_x16_2666_1rank",
    "HBM2_8Gb_x128": "dramsim3_hbm2_8gb_x128",
}


class Tree:
    """simulate_trace of the tree in `folder`, run in a child process whose PYTHONPATH is that
    tree (the package imports itself absolutely, so a second copy imported under another name
    in this process would run this tree's code). With --baseline, both trees run this way, so
    neither is favoured by the process it runs in. Streams go through .npy files."""

    def __init__(self, folder: Path) -> None:
        if not (folder / "dla_explorer" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {folder}: no dla_explorer package there")
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_dram_"))
        env = {**os.environ, "PYTHONPATH": str(folder.resolve())}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.tmp,
        )

    def stream(self, addresses: np.ndarray, is_write: np.ndarray | None) -> dict[str, str | None]:
        """Save a stream for the child; returns its file names."""
        index = len(list(self.tmp.glob("addr_*.npy")))
        addr = self.tmp / f"addr_{index}.npy"
        np.save(addr, addresses)
        write = None
        if is_write is not None:
            write = str(self.tmp / f"write_{index}.npy")
            np.save(write, is_write)
        return {"addr": str(addr), "write": write}

    def run(self, cfg: str, stream: dict[str, str | None], limit: int = 0) -> tuple[float, np.ndarray, float]:
        """(CPU seconds, completion times, efficiency) of the tree on a saved stream."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cfg": cfg, "limit": limit, **stream}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        return reply["cpu"], np.load(reply["done"]), reply["efficiency"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def frame(self, path: Path, memory: str, runs: int = 1) -> dict[str, Any]:
        """The tree's controller on a recorded frame trace, `runs` times back to back: CPU seconds
        (the median of the runs), bursts, and the per-request acceptance and completion clocks."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"frame": str(path), "memory": memory, "runs": runs}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        with np.load(reply["times"]) as z:
            reply["accepted"], reply["end"] = z["accepted"], z["end"]
        return reply


FRAME_MEMORIES = ("hbm2_x2", "ddr4_2666_x1")


def frame_cache() -> Path:
    """Where the recorded frame traces live (the package's cache folder, as the packing cache)."""
    override = os.environ.get("DLA_EXPLORER_CACHE")
    root = Path(override).expanduser() if override else Path.home() / ".cache" / "dla-explorer"
    return root / "bench_dram" / "frames.npz"


def record_frames(path: Path) -> None:
    """Record the controller inputs of one packed ResNet-50 frame at fidelity 2 on each of
    FRAME_MEMORIES (what `traffic._simulate` receives: the channel config, per request its
    channel, address, write flag and arrival clock, the channel count and the port rate)."""
    import dataclasses

    from dla_explorer.sim import config as hw
    from dla_explorer.sim import simulator, traffic
    from dla_explorer.sim.graph import zoo_ops
    from dla_explorer.sparsity import pruning

    sparse = pruning.prune("resnet50", "random", 0.9, overrides={"conv1": 0, "fc": 0})
    sparse = dataclasses.replace(sparse, workload=zoo_ops(sparse.workload))
    device = hw.load_device("stratix10_mx2100")
    arch = hw.load_architecture("dla_s10mx")
    calls: list[tuple[Any, ...]] = []
    original = traffic._simulate

    def capture(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    data: dict[str, Any] = {}
    traffic._simulate = capture  # type: ignore[assignment]
    try:
        for name in FRAME_MEMORIES:
            calls.clear()
            simulator.simulate(sparse, arch, hw.load_memory(name), device, fidelity=2)
            if len(calls) != 1:
                raise SystemExit(f"--frame: {name}: {len(calls)} controller runs a frame, expected one")
            cfg, channel, address, is_write, channels, port, arrival = calls[0]
            data[f"{name}/config"] = np.array(cfg.model_dump_json())
            data[f"{name}/channel"] = channel
            data[f"{name}/address"] = address
            data[f"{name}/is_write"] = is_write
            data[f"{name}/arrival"] = np.zeros(0, np.int64) if arrival is None else arrival
            data[f"{name}/scalars"] = np.array([channels, port], np.float64)
    finally:
        traffic._simulate = original
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)


def run_frame(path: Path, memory: str, runs: int = 1) -> dict[str, Any]:
    """This process's controller on a recorded frame trace (the child side of Tree.frame):
    `traffic._simulate` prepares the bursts as a level-2 replay does, and only the controller
    call (`controller.simulate`) is timed; with `runs` > 1 the trace runs that many times back to
    back and the median CPU time is returned (caches warm from the run before)."""
    from dla_explorer.sim import traffic

    with np.load(path) as z:
        cfg = DramConfig.model_validate_json(str(z[f"{memory}/config"]))
        channel, address, is_write = z[f"{memory}/channel"], z[f"{memory}/address"], z[f"{memory}/is_write"]
        arrival = z[f"{memory}/arrival"]
        channels, port = z[f"{memory}/scalars"]
    seen: dict[str, float] = {}
    cpu: list[float] = []
    original = traffic.k.simulate

    def timed(p: np.ndarray, ch: np.ndarray, *rest: Any) -> None:
        c0 = time.process_time()
        original(p, ch, *rest)
        cpu.append(time.process_time() - c0)
        seen["bursts"] = len(ch)

    traffic.k.simulate = timed  # type: ignore[assignment]
    try:
        for _ in range(max(1, runs)):
            accepted, end, _, _ = traffic._simulate(
                cfg, channel, address, is_write, int(channels), float(port), arrival if arrival.size else None
            )
    finally:
        traffic.k.simulate = original
    seen["cpu"] = statistics.median(cpu)
    np.savez("frame_times.npz", accepted=accepted, end=end)
    return {
        "cpu": seen["cpu"],
        "bursts": seen["bursts"],
        "requests": len(address),
        "writes": int(np.count_nonzero(is_write)),
        "channels": int(channels),
        "times": str(Path("frame_times.npz").resolve()),
    }


def frames(repeats: int, baseline: Tree | None, current: Tree, refresh: bool, warm: int = 1) -> None:
    """The controller's rate on the recorded level-2 frame traces (see --frame); with `warm` > 1
    each turn of a tree is the median of that many runs back to back in its process."""
    path = frame_cache()
    if refresh or not path.is_file():
        print(f"recording the level-2 frame traces into {path} ...", flush=True)
        record_frames(path)
    trees = [("before", baseline), ("after", current)] if baseline is not None else [("", current)]
    print(
        "| memory | channels | requests (64 B) | bursts | tree | CPU ms best / median | "
        "M requests/s (median) | M bursts/s best / median |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for memory in FRAME_MEMORIES:
        for _, tree in trees:
            assert tree is not None
            tree.frame(path, memory)  # compile or load the cache, warm the buffers
        cpu: dict[str, list[float]] = {label: [] for label, _ in trees}
        reply: dict[str, dict[str, Any]] = {}
        for _ in range(repeats):
            for label, tree in trees:
                assert tree is not None
                reply[label] = tree.frame(path, memory, warm)
                cpu[label].append(reply[label]["cpu"])
            if baseline is not None:
                a, b = reply["before"], reply["after"]
                if not (np.array_equal(a["accepted"], b["accepted"]) and np.array_equal(a["end"], b["end"])):
                    raise SystemExit(f"--frame {memory}: acceptance or completion times differ")
        for label, _ in trees:
            r, t = reply[label], cpu[label]
            best, med = min(t), statistics.median(t)
            print(
                f"| {memory} | {r['channels']} | {r['requests']:,} | {r['bursts']:,} | {label or '-'} | "
                f"{best * 1e3:.1f} / {med * 1e3:.1f} | {r['requests'] / med / 1e6:.2f} | "
                f"{r['bursts'] / best / 1e6:.2f} / {r['bursts'] / med / 1e6:.2f} |",
                flush=True,
            )
        if baseline is not None:
            ratio = statistics.median(cpu["before"]) / statistics.median(cpu["after"])
            print(f"|  |  |  |  | speed-up (median) | {ratio:.2f}x |  |  |", flush=True)


def serve() -> None:
    """The child side of Tree: one JSON request per stdin line, one reply per stdout line."""
    for text in sys.stdin:
        job = json.loads(text)
        if "frame" in job:
            print(json.dumps(run_frame(Path(job["frame"]), job["memory"], job.get("runs", 1))), flush=True)
            continue
        addresses = np.load(job["addr"])
        is_write = None if job["write"] is None else np.load(job["write"])
        if job["limit"]:
            addresses = addresses[: job["limit"]]
            is_write = None if is_write is None else is_write[: job["limit"]]
        c0 = time.process_time()
        res = simulate_trace(job["cfg"], addresses, is_write)
        cpu = time.process_time() - c0
        np.save("done.npy", res.done_ns)
        reply = {"cpu": cpu, "done": str(Path("done.npy").resolve()), "efficiency": res.efficiency}
        print(json.dumps(reply), flush=True)


def speed(
    requests: int,
    repeats: int,
    baseline: Tree | None = None,
    current: Tree | None = None,
    expect_merges: bool = False,
    cases: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray | None]]] | None = None,
) -> None:
    if baseline is None:
        print("| config | traffic | efficiency | M requests/s (CPU) | M requests/s (wall) |")
        print("|---|---|---|---|---|")
    else:
        print("| config | traffic | efficiency | before M req/s (CPU) | after M req/s (CPU) | speed-up |")
        print("|---|---|---|---|---|---|")
    rates, before = [], []
    for cfg in CONFIGS:
        for name, make in (cases or CASES).items():
            addresses, is_write = make(requests)
            count = len(addresses)  # a re-read class may round the count down
            cpu, wall, old = [], [], []
            if baseline is not None and current is not None:
                saved = baseline.stream(addresses, is_write)
                baseline.run(cfg, saved, limit=1000)
                current.run(cfg, saved, limit=1000)
                for _ in range(repeats):
                    seconds, ref_done, _ = baseline.run(cfg, saved)
                    old.append(seconds)
                    seconds, done, efficiency = current.run(cfg, saved)
                    cpu.append(seconds)
                    if not np.array_equal(ref_done, done):
                        if not (expect_merges and repeats_read_line(load_dram(cfg), addresses, is_write, 64)):
                            raise SystemExit(f"{cfg} {name}: completion times differ from the baseline")
                        print(f"({cfg} {name}: a line read twice or read and written; times differ)")
            else:
                simulate_trace(cfg, addresses[:1000], None if is_write is None else is_write[:1000])
                for _ in range(repeats):
                    c0, w0 = time.process_time(), time.perf_counter()
                    res = simulate_trace(cfg, addresses, is_write)
                    cpu.append(time.process_time() - c0)
                    wall.append(time.perf_counter() - w0)
                efficiency = res.efficiency
            rate = count / statistics.median(cpu) / 1e6
            rates.append(rate)
            if baseline is None:
                print(
                    f"| {cfg} | {name} | {efficiency:.3f} | {rate:.2f} | "
                    f"{count / statistics.median(wall) / 1e6:.2f} |",
                    flush=True,
                )
            else:
                old_rate = count / statistics.median(old) / 1e6
                before.append(old_rate)
                print(
                    f"| {cfg} | {name} | {efficiency:.3f} | {old_rate:.2f} | {rate:.2f} | "
                    f"{rate / old_rate:.2f}x |",
                    flush=True,
                )
    if before:
        print(f"\nmedian over cases: before {statistics.median(before):.2f}, ", end="")
        print(f"after {statistics.median(rates):.2f} M requests/s (CPU)")
    else:
        print(f"\nmedian over cases: {statistics.median(rates):.2f} M requests/s (CPU)")


def reference(requests: int) -> None:
    ref = pd.read_csv(REFERENCE)
    print(
        "| config | pattern | bandwidth GB/s (ours / DRAMsim3) | error | "
        "avg read latency ns (ours / DRAMsim3) | error |"
    )
    print("|---|---|---|---|---|---|")
    for row in ref.itertuples():
        qd1 = row.pattern.endswith("_qd1")
        n = 20_000 if qd1 else requests
        if row.pattern.startswith("seq_read"):
            addresses, is_write = pt.sequential(n), None
        elif row.pattern == "seq_write":
            addresses, is_write = pt.sequential(n), np.ones(n, np.bool_)
        else:
            addresses, is_write = pt.random_lines(n, 1 << 32, seed=7), None
        res = simulate_trace(NAMES[row.config], addresses, is_write, max_outstanding=int(qd1))
        bw_err = res.bandwidth_gbps / row.bandwidth_gbps - 1
        if np.isnan(row.avg_read_latency_ns):
            lat = "- | -"
        else:
            lat = (
                f"{res.avg_read_latency_ns:.2f} / {row.avg_read_latency_ns:.2f} | "
                f"{res.avg_read_latency_ns / row.avg_read_latency_ns - 1:+.1%}"
            )
        print(
            f"| {row.config} | {row.pattern} | {res.bandwidth_gbps:.3f} / "
            f"{row.bandwidth_gbps:.3f} | {bw_err:+.1%} | {lat} |",
            flush=True,
        )


IDENTITY_CONFIGS = (
    "dramsim3_ddr4_8gb_x8_2666",
    "dramsim3_ddr4_8gb_x8_2666_bgint",
    "dramsim3_ddr4_8gb_x16_2666_1rank",
    "dramsim3_hbm2_8gb_x128",
    "ddr4_2400_8gb_x8_1rank",
    "ddr4_3200_8gb_x16_1rank",
    "hbm2_s10mx_pc",
)
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "closed": {"controller": {"page_policy": "closed"}},
    "noref": {"controller": {"refresh": "none"}},
    "smallq": {
        "controller": {
            "read_queue": 4,
            "write_queue": 4,
            "command_queue": 2,
            "write_drain_idle": 1,
            "write_drain_low": 1,
        }
    },
    "drain": {"controller": {"write_drain_high": 20, "write_drain_low": 6, "write_drain_idle": 3}},
    "hitcap1": {"controller": {"row_hit_cap": 1}},
    "port": {"controller": {"port_width_bits": 128, "port_clock_mhz": 300.0}},
}


def identity_classes(cfg: Any) -> dict[str, Callable[[int], tuple[np.ndarray, np.ndarray | None]]]:
    """The traffic classes of the identity check, defined here (not taken from the package's
    efficiency table, whose classes change) so that both trees see the same streams."""
    span = 1 << 32
    org = cfg.organization
    collide = org.row_bytes * org.banks * org.ranks * org.channels  # same bank, another row
    return {
        "seq_read": lambda n: (pt.sequential(n), None),
        "seq_write": lambda n: (pt.sequential(n), np.ones(n, np.bool_)),
        "random_read": lambda n: (pt.random_lines(n, span), None),
        "rw_mix_2to1": lambda n: pt.mix(n, 3, pt.random_lines(n, span, seed=1)),
        "seq_read_write": lambda n: (pt.interleaved(n, (0, span // 2)), np.arange(n) % 2 == 1),
        "stride_256": lambda n: (pt.sequential(n, stride=256), None),
        "stride_2k": lambda n: (pt.sequential(n, stride=2048), None),
        "stride_8k": lambda n: (pt.sequential(n, stride=8192), None),
        "tiled_fmap": lambda n: (pt.tiled(n, row_pitch=14336, tile_bytes=1024), None),
        "two_streams": lambda n: (pt.interleaved(n, (0, span // 4)), None),
        "two_streams_same_bank": lambda n: (pt.interleaved(n, (0, 3 * collide)), None),
    }


def identity_cases(n: int) -> Any:
    """(name, config name, changes, addresses, is_write, keyword arguments) of the identity
    check; changes are applied to the config's fields."""

    def extra(seed: int) -> Any:
        rng = np.random.default_rng(seed)
        a, w = pt.mix(n, 2, pt.random_lines(n, 1 << 14, seed=seed))
        yield "dup_mix", a, w, {}  # read-after-write forwarding and write merging
        yield "rand_qd1", pt.random_lines(n // 4, seed=seed + 1), None, {"max_outstanding": 1}
        yield "rand_qd7", pt.random_lines(n, seed=seed + 2), None, {"max_outstanding": 7}
        a, w = pt.mix(n, 3, pt.random_lines(n, seed=seed + 3))
        yield "arrival_mix", a, w, {"arrival_ns": np.cumsum(rng.exponential(2.0, n))}
        yield "arrival_seq", pt.sequential(n), None, {"arrival_ns": np.arange(n) * 1.7}
        a, w = pt.mix(n // 4, 3, pt.random_lines(n // 4, seed=seed + 4))
        yield "big128_mix", a, w, {"request_bytes": 128, "max_outstanding": 3}

    def all_classes(cfg: Any, changes: dict[str, dict[str, Any]], label: str, seed: int) -> Any:
        for cls, make in identity_classes(cfg).items():
            a, w = make(n)
            yield f"{label}/{cls}", changes, a, w, {}
        for name, a, w, kw in extra(seed):
            yield f"{label}/{name}", changes, a, w, kw

    for i, name in enumerate(IDENTITY_CONFIGS):
        for case in all_classes(load_dram(name), {}, name, 10 * i):
            yield (case[0], name, *case[1:])
    for name in ("dramsim3_ddr4_8gb_x8_2666", "dramsim3_hbm2_8gb_x128", "hbm2_s10mx_pc"):
        for vname, changes in VARIANTS.items():
            for case in all_classes(variant(name, changes), changes, f"{name}+{vname}", 7):
                yield (case[0], name, *case[1:])
    for name in ("dramsim3_hbm2_8gb_x128", "hbm2_s10mx_pc"):
        t = load_dram(name).timing
        per_bank: dict[str, dict[str, Any]] = {"controller": {"refresh": "per_bank"}}
        if t.trfcb is None:
            per_bank["timing"] = {"trfcb": max(1, t.trfc // 2), "trefib": max(1, t.trefi // 16)}
        bank_variants: dict[str, dict[str, dict[str, Any]]] = {
            "perbank": per_bank,
            "perbank_closed": {**per_bank, "controller": {"refresh": "per_bank", "page_policy": "closed"}},
            "dual": {"controller": {"dual_command_issue": True}},
            "nodual": {"controller": {"dual_command_issue": False}},
            # one channel, as the level-1 table runs it (the one-channel fast path of the
            # controller, with and without dual issue, and with per-bank refresh)
            "1ch": {"organization": {"channels": 1}},
            "1ch_nodual": {"organization": {"channels": 1}, "controller": {"dual_command_issue": False}},
            "1ch_perbank": {**per_bank, "organization": {"channels": 1}},
        }
        for vname, changes in bank_variants.items():
            for case in all_classes(variant(name, changes), changes, f"{name}+{vname}", 3):
                yield (case[0], name, *case[1:])


def variant(name: str, changes: dict[str, dict[str, Any]]) -> Any:
    """A shipped config with some fields changed (validated again)."""
    data = load_dram(name).model_dump()
    for section, fields in changes.items():
        data[section].update(fields)
    return DramConfig.model_validate(data)


def repeats_read_line(
    cfg: Any, addresses: np.ndarray, is_write: np.ndarray | None, request_bytes: int
) -> bool:
    """Whether some burst-sized line is read twice, or read and written, in the stream (numpy,
    independent of the package): where a read can merge into a pending one or a write wait for
    a pending read of its line."""
    burst = cfg.organization.burst_bytes
    per = max(1, -(-request_bytes // burst))
    lines = (np.asarray(addresses, np.uint64) // np.uint64(burst))[:, None] + np.arange(per, dtype=np.uint64)
    writes = np.zeros(len(lines), np.bool_) if is_write is None else np.asarray(is_write, np.bool_)
    reads = lines[~writes].ravel()
    if np.unique(reads).size < reads.size:
        return True
    return bool(np.isin(lines[writes].ravel(), reads).any())


def identity_outputs(requests: int, out: Path) -> None:
    """Every output of every identity case with this process's package, pickled to `out`."""
    results = {}
    for name, cfg, changes, addresses, is_write, kwargs in identity_cases(requests):
        config = variant(cfg, changes)
        r = simulate_trace(config, addresses, is_write, **kwargs)
        results[name] = {
            "repeats": repeats_read_line(config, addresses, is_write, kwargs.get("request_bytes", 64)),
            "added": r.added_ns,
            "done": r.done_ns,
            "summary": (
                r.bandwidth_gbps,
                r.time_ns,
                r.completion_ns,
                r.row_hit_rate,
                r.commands,
                r.energy_pj,
                r.read_latency_percentiles_ns,
                r.avg_read_latency_ns,
            ),
        }
    with out.open("wb") as f:
        pickle.dump(results, f)


def identity(folder: Path, requests: int, expect_merges: bool = False) -> None:
    """Every output of every identity case equal between the tree in `folder` and this one
    (each run in a child process with its tree first on PYTHONPATH). expect_merges: cases whose
    reads repeat a line, or that read and write one, may differ (listed, not counted)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_dram_"))
    try:
        outputs = []
        for label, root in (("baseline", folder.resolve()), ("current", Path(__file__).resolve().parents[1])):
            out = tmp / f"{label}.pkl"
            env = {**os.environ, "PYTHONPATH": str(root)}
            cmd = [sys.executable, __file__, "--identity-worker", str(out), "--requests", str(requests)]
            subprocess.run(cmd, check=True, env=env, cwd=tmp)
            with out.open("rb") as f:
                outputs.append(pickle.load(f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    old, new = outputs
    bad = 0
    merged = 0
    repeating = 0
    for name, ref in old.items():
        got = new[name]
        repeats = got["repeats"]
        repeating += repeats
        same = np.array_equal(ref["added"], got["added"]) and np.array_equal(ref["done"], got["done"])
        # summary tuples hold NaN for a run without reads: compare their text
        if not same or repr(ref["summary"]) != repr(got["summary"]):
            if expect_merges and repeats:
                merged += 1
                print(f"differs (a line read twice or read and written): {name}", flush=True)
                continue
            bad += 1
            print(f"differs: {name}", flush=True)
    print(
        f"{len(old)} cases of {requests} requests ({repeating} with a line read twice or read and "
        f"written), {bad} differ" + (f", {merged} of those differ (allowed)" if expect_merges else "")
    )
    if bad:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, help="per case (default 1,000,000; --identity: 6,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also print the DRAMsim3 comparison (500,000 requests per row)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="folder with an older dla_explorer/ and hw_configs/ to time side by side",
    )
    parser.add_argument(
        "--identity",
        type=Path,
        help="folder with an older tree: compare every output on ~660 short runs, no timing",
    )
    parser.add_argument(
        "--expect-merges",
        action="store_true",
        help="--identity/--baseline: cases whose reads repeat a line, or read and write one, may differ",
    )
    parser.add_argument(
        "--reread",
        action="store_true",
        help="time read streams that read lines more than once (tiles, halos, maps read twice)",
    )
    parser.add_argument(
        "--frame",
        action="store_true",
        help="time the controller on one packed ResNet-50 frame's level-2 traces (hbm2_x2, ddr4_2666_x1)",
    )
    parser.add_argument(
        "--refresh-frames", action="store_true", help="--frame: record the frame traces again"
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=1,
        metavar="N",
        help="--frame: each turn of a tree runs the trace N times back to back and counts their median "
        "(the trees alternate, so a single run finds the caches cold from the other tree; default 1)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--identity-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.identity_worker:
        identity_outputs(args.requests or 6000, args.identity_worker)
        return
    if args.identity:
        identity(args.identity, args.requests or 6000, args.expect_merges)
        return
    if args.frame:
        here = Tree(Path(__file__).resolve().parents[1])
        older = Tree(args.baseline) if args.baseline else None
        try:
            if args.warm < 1:
                parser.error(f"--warm must be >= 1 (got {args.warm})")
            frames(args.repeats, older, here, args.refresh_frames, args.warm)
        finally:
            for tree in (older, here):
                if tree is not None:
                    tree.close()
        return
    trees = [Tree(args.baseline), Tree(Path(__file__).resolve().parents[1])] if args.baseline else []
    try:
        base, cur = (trees[0], trees[1]) if trees else (None, None)
        speed(
            args.requests or 1_000_000,
            args.repeats,
            base,
            cur,
            expect_merges=args.expect_merges,
            cases=REREAD_CASES if args.reread else None,
        )
    finally:
        for tree in trees:
            tree.close()
    if args.reference:
        print()
        reference(500_000)


if __name__ == "__main__":
    main()
