"""Re-scoring a search's Pareto front at memory fidelity 2 (docs/dram.md#fidelity-levels).

A search evaluates every trial at fidelity 1 (the cycle model's efficiency per traffic class);
afterwards the designs of its feasible Pareto front are simulated again at fidelity 2 (each
layer's traffic replayed through the cycle model) and the move of the front is measured: the
hypervolume of the front's objective values at both levels (one common reference point: the
worst value of each objective over both, so the two numbers compare) and, per objective, the
Spearman rank correlation of the designs' values (1: level 2 orders the front as level 1 did).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer.core.fileio import write_csv_atomic, write_text_atomic
from dla_explorer.dse.results import hypervolume, pareto_front
from dla_explorer.sim import config as hw

MAX_RESCORED = 40  # front designs replayed at level 2 (~0.1-0.2 s each on ResNet-50)
FILE = "fidelity"  # <folder>/fidelity.json and fidelity_front.csv


@dataclass
class Rescore:
    designs: int
    hypervolume_level1: float
    hypervolume_level2: float
    spearman: dict[str, float]
    path: Path | None

    @property
    def hypervolume_change(self) -> float:
        """Relative change of the hypervolume from level 1 to level 2."""
        if self.hypervolume_level1 == 0:
            return float("nan")
        return self.hypervolume_level2 / self.hypervolume_level1 - 1

    def summary(self) -> str:
        rho = ", ".join(f"{m} {v:.3f}" for m, v in self.spearman.items())
        return (
            f"fidelity 2 re-score of {self.designs} Pareto designs: hypervolume "
            f"{self.hypervolume_change:+.1%} (level 1 {self.hypervolume_level1:.4g}, level 2 "
            f"{self.hypervolume_level2:.4g}); Spearman rank correlation {rho}"
        )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (ties share their mean rank)."""
    if len(a) < 2:
        return float("nan")
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _design(row: pd.Series) -> tuple[hw.Architecture, hw.Memory]:
    arch = hw.Architecture(name=str(row.get("arch", "design")), **{c: row[c] for c in hw.ARCH_FIELDS})
    fields = {c: row[f"mem_{c}"] for c in hw.MEMORY_FIELDS if f"mem_{c}" in row}
    if pd.isna(fields.get("dram", "")):
        fields["dram"] = ""
    return arch, hw.Memory(name=str(row.get("memory", "memory")), **fields)


def rescore_front(table: pd.DataFrame, spec: Any, evaluator: Any, folder: Path | None) -> Rescore | None:
    """Level-2 figures of the front's designs beside their level-1 ones; None without a front."""
    from dla_explorer.sim.simulator import simulate

    objectives = spec.objectives
    front = pareto_front(table, objectives)
    if "mem_dram" in front:  # only designs whose memory names its DRAM device can be replayed
        front = front[front["mem_dram"].fillna("").astype(str) != ""]
    if front.empty:
        return None
    front = front.head(MAX_RESCORED)
    metrics = [o.metric for o in objectives]
    rows, headline = [], None
    for _, row in front.iterrows():
        arch, memory = _design(row)
        label = row.get("model", spec.models[0].label)
        result = simulate(
            evaluator.model(label), arch, memory, evaluator.device, row["mode"], spec.batch, fidelity=2
        )
        rows.append({m: float(result.totals[m]) for m in metrics})
        headline = headline or result  # the front is sorted by the first objective: its best
    level2 = pd.DataFrame(rows, index=front.index)
    maximize = [o.direction == "maximize" for o in objectives]
    v1, v2 = front[metrics].to_numpy(np.float64), level2.to_numpy(np.float64)
    both = np.vstack([v1, v2])
    reference = np.where(maximize, both.min(axis=0), both.max(axis=0))
    # the worst point itself adds nothing: move the reference 10% of the range beyond it
    span = both.max(axis=0) - both.min(axis=0)
    reference = reference + np.where(maximize, -1, 1) * 0.1 * np.where(span > 0, span, np.abs(reference) + 1)
    out = Rescore(
        designs=len(front),
        hypervolume_level1=hypervolume(v1, reference, maximize),
        hypervolume_level2=hypervolume(v2, reference, maximize),
        spearman={m: spearman(v1[:, i], v2[:, i]) for i, m in enumerate(metrics)},
        path=None,
    )
    if folder is not None:
        frame = front.copy()
        for m in metrics:
            frame[f"{m}_level2"] = level2[m]
        write_csv_atomic(frame, folder / f"{FILE}_front.csv")
        path = folder / f"{FILE}.json"
        record = {
            "designs": out.designs,
            "hypervolume_level1": out.hypervolume_level1,
            "hypervolume_level2": out.hypervolume_level2,
            "hypervolume_change": out.hypervolume_change,
            "spearman": out.spearman,
            "reference": reference.tolist(),
            "objectives": metrics,
        }
        write_text_atomic(path, json.dumps(record, indent=1))
        out.path = path
        if headline is not None:
            layers = dram_layers(headline)
            write_csv_atomic(layers, folder / "dram_layers.csv")
            plot_dram_layers(
                layers, folder / "dram_layers.png", f"{headline.arch.name} + {headline.memory.name}"
            )
    return out


def dram_layers(result: Any) -> pd.DataFrame:
    """Per layer and channel of a fidelity-2 result (docs/report.md#dram-traffic-per-layer):
    when the layer runs in the frame (`start_s`, `time_s`), its `compute_s` and `memory_s`, the
    bytes the channel moved (`bytes`: the simulator's DRAM bytes of the layer, split over the
    channels as the replay's requests were; `requested_bytes`: those 64-B requests), the channel's
    bandwidth over the layer's time, when the channel finished the layer's requests (`busy_s`,
    from the layer's memory start) and the layer's stall: the time the array waits on memory,
    time_s - compute_s (with double buffering max(0, memory_s - compute_s) plus the access
    latency; without it memory_s plus the latency). The rows of one layer sum to its bytes."""
    layers = result.layers
    time = layers["time_s"].to_numpy(np.float64)
    start = np.concatenate([[0.0], np.cumsum(time)[:-1]])
    frames = []
    for i, rep in enumerate(result.replays):
        requested = np.asarray(rep.channel_bytes, np.float64)
        dram = float(layers["dram_bytes"].iloc[i])
        share = requested / requested.sum() if requested.sum() > 0 else np.zeros_like(requested)
        moved = share * dram
        time_s = float(time[i])
        compute = float(layers["compute_s"].iloc[i])
        frames.append(
            pd.DataFrame(
                {
                    "layer_index": i,
                    "layer": layers["layer"].iloc[i],
                    "kind": layers["kind"].iloc[i],
                    "start_s": start[i],
                    "time_s": time_s,
                    "compute_s": compute,
                    "memory_s": float(layers["memory_s"].iloc[i]),
                    "channel": np.arange(requested.size),
                    "bytes": moved,
                    "requested_bytes": requested,
                    "bandwidth_gbps": moved / time_s / 1e9 if time_s > 0 else 0.0,
                    "busy_s": np.asarray(rep.channel_done_ns, np.float64) * 1e-9,
                    "stall_s": max(0.0, time_s - compute),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_dram_layers(frame: pd.DataFrame, path: Path, title: str) -> None:
    """Bandwidth per channel over the frame (one step per layer) above each layer's stall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dla_explorer.core.fileio import atomic_open

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5), height_ratios=(3, 1))
    for channel, rows in frame.groupby("channel"):
        x = np.append(rows["start_s"].to_numpy(), rows["start_s"].iloc[-1] + rows["time_s"].iloc[-1]) * 1e3
        y = np.append(rows["bandwidth_gbps"].to_numpy(), rows["bandwidth_gbps"].iloc[-1])
        top.step(x, y, where="post", linewidth=0.8, label=f"ch {channel}")
    per_layer = frame.drop_duplicates("layer")
    bottom.bar(
        per_layer["start_s"] * 1e3, per_layer["stall_s"] * 1e6, width=per_layer["time_s"] * 1e3, align="edge"
    )
    top.set_ylabel("GB/s per channel")
    bottom.set_ylabel("stall (us)")
    bottom.set_xlabel("time in the frame (ms)")
    top.set_title(f"DRAM traffic per layer at fidelity 2: {title}")
    if frame["channel"].nunique() <= 8:
        top.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)
