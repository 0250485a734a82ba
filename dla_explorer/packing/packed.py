"""The packer's data: the array geometry, one layer's packing and a network's packing.

A PackedLayer stores per-pass counts that do not depend on c_vec; steps, utilisation and the
frame are formulas over them, so one packing serves every c_vec a design sweep tries.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dla_explorer.core.errors import UsageError
from dla_explorer.core.units import bytes_for_bits
from dla_explorer.workload import Layer, LayerSequence, Workload


def positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise UsageError(f"{what} = {value!r}: must be a positive whole number")
    return int(value)


@dataclass(frozen=True)
class Geometry:
    """The PE array: k_vec PEs (filters in parallel), each a c_vec-wide dot product."""

    k_vec: int
    c_vec: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "k_vec", positive_int(self.k_vec, "k_vec"))
        object.__setattr__(self, "c_vec", positive_int(self.c_vec, "c_vec"))


@dataclass(frozen=True, eq=False)
class PackedLayer:
    """One layer's packing. Per-pass arrays have one entry per pass; counts are per output pixel.

    layer            the workload layer (name, kind, shapes)
    mode             the requested mode (MODES)
    schedule         what the array runs for this layer: "dense", "nm" or "packed"
    packable, reason whether the mode's compression applies, and why not (e.g. "nm not
                     applicable: C/g not a multiple of M"); reason is "" when it applies
    k_vec            PEs the passes were cut for
    rows             filters per pass
    channels         input channels a pass reads (the union of its groups' channels)
    columns          original columns per pass (channels * R * S)
    nonzero_columns  columns holding a non-zero weight, per pass
    packed_columns   columns the schedule issues per pass (packed: groups; nm:
                     R*S*ceil(channels/M)*N; dense: columns)
    nnz_before/after useful MACs before / after conflict pruning (dense mode: every weight)
    pruned           weights removed by conflict pruning
    pruned_magnitude their total |w|; magnitude: the layer's total |w| (pruned_share divides)
    weight_cells     cells stored (dense: every weight incl. zeros; packed: rows x packed columns
                     of every pass; nm: kept weights)
    select_bits      index bits stored with each weight cell (packed ceil(log2 alpha), nm
                     ceil(log2 M), dense and layers packed without combining 0)
    metadata_bits    selects plus group descriptors (packed) or N:M indices (nm)
    feeder_width     inputs one lane chooses from (largest group; M for nm; 1 dense)
    feeder_reads     stream-buffer values read per output pixel (sum of group sizes), against
                     dense_feeder_reads (every column)
    nm               the (N, M) pattern in nm mode
    labels           group of each column of every pass (concatenated; -1 for all-zero
                     columns); None unless the schedule is packed
    """

    layer: Layer
    mode: str
    schedule: str
    packable: bool
    reason: str
    k_vec: int
    rows: np.ndarray
    channels: np.ndarray
    columns: np.ndarray
    nonzero_columns: np.ndarray
    packed_columns: np.ndarray
    nnz_before: int
    nnz_after: int
    pruned: int
    pruned_magnitude: float
    magnitude: float
    weight_cells: int
    select_bits: int
    metadata_bits: int
    feeder_width: int
    feeder_reads: int
    dense_feeder_reads: int
    nm: tuple[int, int] | None = None
    labels: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def kind(self) -> str:
        return self.layer.kind

    @property
    def taps(self) -> int:
        return self.layer.R * self.layer.S

    @property
    def n_passes(self) -> int:
        return len(self.rows)

    @property
    def pruned_share(self) -> float:
        """Share of the layer's total |weight| removed by conflict pruning."""
        return self.pruned_magnitude / self.magnitude if self.magnitude else 0.0

    @property
    def metadata_bytes(self) -> int:
        return bytes_for_bits(self.metadata_bits)

    def dense_steps_per_pass(self, c_vec: int) -> np.ndarray:
        c_vec = positive_int(c_vec, "c_vec")
        return self.taps * -(-self.channels // c_vec)

    def steps_per_pass(self, c_vec: int) -> np.ndarray:
        """c_vec-wide array cycles per output pixel of each pass on this layer's schedule
        (docs/packing.md#modes-and-their-steps-per-output-pixel-summed-over-passes,
        docs/model.md#compute)."""
        c_vec = positive_int(c_vec, "c_vec")
        if self.schedule == "packed":
            return -(-self.packed_columns // c_vec)
        if self.schedule == "nm":
            return self.taps * -(-(self.packed_columns // self.taps) // c_vec)
        return self.dense_steps_per_pass(c_vec)

    def steps(self, c_vec: int) -> int:
        return int(self.steps_per_pass(c_vec).sum())

    def dense_steps(self, c_vec: int) -> int:
        return int(self.dense_steps_per_pass(c_vec).sum())

    def util_before(self, c_vec: int) -> float:
        """Useful MACs / issued MAC-lane slots of the sparse weights on the dense schedule."""
        return ratio(self.nnz_before, self.k_vec * c_vec * self.dense_steps(c_vec))

    def util_after(self, c_vec: int) -> float:
        """Useful MACs / issued MAC-lane slots on this layer's schedule (0 if nothing issued)."""
        return ratio(self.nnz_after, self.k_vec * c_vec * self.steps(c_vec))


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


FRAME_COLUMNS = (
    "layer",
    "kind",
    "mode",
    "schedule",
    "passes",
    "cols_before",
    "cols_after",
    "steps",
    "dense_steps",
    "util_before",
    "util_after",
    "nnz_before",
    "nnz_after",
    "pruned_weights",
    "pruned_share",
    "weight_cells",
    "metadata_bytes",
    "feeder_width",
    "feeder_reads",
    "reason",
)


@dataclass(frozen=True, eq=False)
class PackedWorkload(LayerSequence):
    """The packing of every layer of a SparseModel for one k_vec (and alpha, gamma, algorithm)."""

    model: str
    content_hash: str
    mode: str
    k_vec: int
    alpha: int
    gamma: float
    algorithm: str
    layers: tuple[PackedLayer, ...]
    act_density: dict[str, float]
    workload: Workload

    def to_frame(self, c_vec: int) -> pd.DataFrame:
        """One row per layer (FRAME_COLUMNS) for PE width `c_vec`."""
        rows = [
            {
                "layer": p.name,
                "kind": p.kind,
                "mode": p.mode,
                "schedule": p.schedule,
                "passes": p.n_passes,
                "cols_before": int(p.columns.sum()),
                "cols_after": int(p.packed_columns.sum()),
                "steps": p.steps(c_vec),
                "dense_steps": p.dense_steps(c_vec),
                "util_before": p.util_before(c_vec),
                "util_after": p.util_after(c_vec),
                "nnz_before": p.nnz_before,
                "nnz_after": p.nnz_after,
                "pruned_weights": p.pruned,
                "pruned_share": p.pruned_share,
                "weight_cells": p.weight_cells,
                "metadata_bytes": p.metadata_bytes,
                "feeder_width": p.feeder_width,
                "feeder_reads": p.feeder_reads,
                "reason": p.reason,
            }
            for p in self.layers
        ]
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))

    def totals(self, c_vec: int) -> dict[str, float]:
        """Network totals. Utilisations and speedup weight each layer by its output pixels
        (N*P*Q), i.e. they are ratios of MACs and MAC slots over one inference."""
        frame = self.to_frame(c_vec)
        pixels = np.array(
            [
                self.workload[p.name].N * self.workload[p.name].P * self.workload[p.name].Q
                for p in self.layers
            ],
            dtype=np.float64,
        )
        slots = self.k_vec * c_vec * pixels
        magnitude = sum(p.magnitude for p in self.layers)
        return {
            "layers": len(frame),
            "cols_before": int(frame["cols_before"].sum()),
            "cols_after": int(frame["cols_after"].sum()),
            "steps": int(frame["steps"].sum()),
            "dense_steps": int(frame["dense_steps"].sum()),
            "util_before": ratio(
                float((frame["nnz_before"] * pixels).sum()), float((frame["dense_steps"] * slots).sum())
            ),
            "util_after": ratio(
                float((frame["nnz_after"] * pixels).sum()), float((frame["steps"] * slots).sum())
            ),
            "speedup": ratio(
                float((frame["dense_steps"] * pixels).sum()), float((frame["steps"] * pixels).sum())
            ),
            "nnz_before": int(frame["nnz_before"].sum()),
            "nnz_after": int(frame["nnz_after"].sum()),
            "pruned_weights": int(frame["pruned_weights"].sum()),
            "pruned_share": ratio(sum(p.pruned_magnitude for p in self.layers), magnitude),
            "weight_cells": int(frame["weight_cells"].sum()),
            "metadata_bytes": int(frame["metadata_bytes"].sum()),
        }
