"""DLA simulator: throughput, latency, power and energy of a DLA-style accelerator.

The model is analytical and vectorised: every quantity is a (design points x layers) numpy array,
so one call evaluates thousands of designs. Per layer:

    compute cycles = steps(c_vec) x pixel tiles + passes x PE-chain fill
    DRAM bytes     = weights (stored cells + packing metadata), once per batch
                   + feature maps that do not fit the stream buffer (see memory.py)
    time           = max(compute, memory) with double buffering, else their sum; + access latency
    energy         = MACs, gated lanes, on-chip buffer bits, DRAM bits (power.py) + static x time

`steps` and the stored weight cells come from the packing stage (dense, unpacked, packed or N:M),
so packed cycles are those of the actual packed layers. Formulas and sources: docs/model.md.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from dla_explorer import packing
from dla_explorer.core.errors import UsageError
from dla_explorer.sim import memory as mem
from dla_explorer.sim import power
from dla_explorer.sim.config import (
    ARCH_FIELDS,
    DESIGN_COLUMNS,
    MEMORY_FIELDS,
    PRECISION_BITS,
    Architecture,
    Device,
    Memory,
    check_compatible,
)
from dla_explorer.sim.resources import device_excess, usage, violation_text
from dla_explorer.sparsity.pruning import SparseModel

POSITIVE_COLUMNS = (
    "k_vec",
    "c_vec",
    "q_vec",
    "lanes",
    "alpha",
    "clock_mhz",
    "stream_buffer_kb",
    "filter_cache_kb",
    "mem_channels",
    "mem_data_rate_mtps",
    "mem_bus_width_bits",
    "mem_controller_efficiency",
)
ENERGY_TERMS = ("mac_j", "sram_j", "dram_j", "logic_j")  # dynamic energy per layer, joules
TABLE_MEMO_SIZE = 64  # packed layer tables kept in memory (a few hundred KB each at most)


def design_row(arch: Architecture, memory: Memory, mode: str = "packed") -> dict:
    """One design point as a flat dict (the row format of `simulate_batch`)."""
    row = {"mode": mode, **{c: getattr(arch, c) for c in ARCH_FIELDS}}
    row.update({f"mem_{c}": getattr(memory, c) for c in MEMORY_FIELDS})
    return row


def design_arrays(designs: pd.DataFrame | Sequence[dict]) -> dict[str, np.ndarray]:
    """Design points as one numpy array per DESIGN_COLUMNS entry (what `evaluate` takes)."""
    if isinstance(designs, pd.DataFrame):
        missing = [c for c in DESIGN_COLUMNS if c not in designs.columns]
        if missing:
            raise UsageError(f"design table lacks columns: {', '.join(missing)}")
        return {c: designs[c].to_numpy() for c in DESIGN_COLUMNS}
    return {c: np.array([row[c] for row in designs]) for c in DESIGN_COLUMNS}


def _check_designs(d: dict[str, np.ndarray], device: Device) -> None:
    for name in POSITIVE_COLUMNS:
        bad = np.flatnonzero(~(d[name] > 0))
        if bad.size:
            raise UsageError(f"design {bad[0]}: key '{name}' must be > 0 (got {d[name][bad[0]]!r})")
    unknown = set(d["precision"]) - set(device.multipliers_per_dsp)
    if unknown:
        raise UsageError(f"key 'precision': {device.name} has no {sorted(unknown)[0]} multipliers")
    unknown = set(d["mode"]) - set(packing.MODES)
    if unknown:
        raise UsageError(f"key 'mode': '{sorted(unknown)[0]}' is not one of {', '.join(packing.MODES)}")


@dataclass(frozen=True, eq=False)
class LayerTable:
    """Per-layer arrays of one packed workload: everything the simulator needs from packing."""

    names: np.ndarray
    kinds: np.ndarray
    rows: np.ndarray  # output rows per image (P); rows fed to a linear layer (N)
    cols: np.ndarray  # output columns per image (Q; 1 for a linear layer)
    linear: np.ndarray
    macs: np.ndarray  # dense MACs per image
    useful_macs: np.ndarray  # MACs with a kept non-zero weight, per image
    passes: np.ndarray
    weight_cells: np.ndarray  # weight values stored and fetched
    metadata_bytes: np.ndarray  # selects, group descriptors or N:M indices
    select_bits: np.ndarray  # select bits carried by every stored weight
    feeder_reads: np.ndarray  # stream-buffer values read per output pixel
    ifmap: np.ndarray  # elements per image
    ofmap: np.ndarray
    density_in: np.ndarray  # measured share of non-zero input activations
    density_out: np.ndarray  # the next layer's input density (1 for the last layer)
    packed: packing.PackedWorkload = field(repr=False)
    _steps: dict = field(default_factory=dict, repr=False)

    def steps(self, c_vec: int) -> np.ndarray:
        """c_vec-wide steps per output pixel of every layer (memoised per c_vec)."""
        if c_vec not in self._steps:
            self._steps[c_vec] = np.array([la.steps(c_vec) for la in self.packed.layers], float)
        return self._steps[c_vec]


@functools.lru_cache(maxsize=TABLE_MEMO_SIZE)  # packed workloads hash by identity
def layer_table(packed: packing.PackedWorkload) -> LayerTable:
    layers, workload = packed.layers, packed.workload.layers

    def per_layer(get) -> np.ndarray:
        return np.array([get(x) for x in layers], dtype=np.float64)

    linear = np.array([la.kind == "linear" for la in workload])
    n = np.array([la.N for la in workload], dtype=np.float64)
    density = np.array([packed.act_density.get(la.name, 1.0) for la in workload])
    rows = np.array([la.P for la in workload], dtype=np.float64)
    cols = np.array([la.Q for la in workload], dtype=np.float64)
    return LayerTable(
        names=np.array([la.name for la in workload]),
        kinds=np.array([la.kind for la in workload]),
        rows=np.where(linear, n, rows),
        cols=np.where(linear, 1.0, cols),
        linear=linear,
        macs=np.array([la.macs for la in workload], dtype=np.float64),
        useful_macs=per_layer(lambda x: x.nnz_after) * n * np.where(linear, 1.0, rows * cols),
        passes=per_layer(lambda x: x.n_passes),
        weight_cells=per_layer(lambda x: x.weight_cells),
        metadata_bytes=per_layer(lambda x: x.metadata_bytes),
        select_bits=per_layer(lambda x: x.select_bits),
        feeder_reads=per_layer(lambda x: x.feeder_reads),
        ifmap=np.array([la.ifmap for la in workload], dtype=np.float64),
        ofmap=np.array([la.ofmap for la in workload], dtype=np.float64),
        density_in=density,
        density_out=np.append(density[1:], 1.0),
        packed=packed,
    )


_TABLES: OrderedDict[tuple, LayerTable] = OrderedDict()


def packed_table(
    sparse: SparseModel,
    mode: str,
    k_vec: int,
    alpha: int = 1,
    gamma: float = 0.0,
    cache: packing.CacheSpec = packing.DEFAULT_CACHE,
) -> LayerTable:
    """The layer table of `sparse` packed for (mode, k_vec, alpha, gamma), memoised in memory
    (the disk cache holds the groupings; rebuilding a table from it takes ~0.5 s on ResNet-50)."""
    if mode != "packed":
        alpha, gamma = 1, 0.0  # only packing reads them: one table serves every alpha and gamma
    # the content hash covers weights and masks; the densities (another calibration batch) count too
    densities = tuple(sorted(sparse.act_density.items()))
    key = (sparse.content_hash(), densities, mode, int(k_vec), int(alpha), float(gamma))
    if key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    packed = packing.pack(
        sparse, packing.Geometry(int(k_vec), 1), mode, alpha=int(alpha), gamma=float(gamma), cache=cache
    )
    _TABLES[key] = layer_table(packed)
    if len(_TABLES) > TABLE_MEMO_SIZE:
        _TABLES.popitem(last=False)
    return _TABLES[key]


def _stack(tables: Sequence[LayerTable], index: np.ndarray, name: str) -> np.ndarray:
    if len(tables) == 1:
        return getattr(tables[0], name)[None, :]
    return np.stack([getattr(t, name) for t in tables])[index]


def _steps(tables: Sequence[LayerTable], index: np.ndarray, c_vec: np.ndarray) -> np.ndarray:
    steps = np.empty((c_vec.size, tables[0].names.size))
    for t, table in enumerate(tables):
        rows = index == t
        for value in np.unique(c_vec[rows]):
            steps[rows & (c_vec == value)] = table.steps(int(value))
    return steps


def evaluate(
    tables: Sequence[LayerTable], index: np.ndarray, d: dict[str, np.ndarray], device: Device, batch: int = 1
) -> dict[str, np.ndarray]:
    """Per-layer quantities as (designs x layers) arrays; design i runs `tables[index[i]]`."""
    base = tables[0]  # layer shapes and densities are the same in every table of one model

    def col(name: str) -> np.ndarray:
        return d[name][:, None].astype(np.float64)

    k_vec, c_vec, pixel_lanes = col("k_vec"), col("c_vec"), col("q_vec") * col("lanes")
    bits = power.lookup(d["precision"], PRECISION_BITS)[:, None]
    fill = np.where(col("pe_chain_fill_cycles") < 0, k_vec, col("pe_chain_fill_cycles"))
    # a linear layer's rows (batch x N) fill the pixel lanes; conv images go one after another
    tiles = np.where(
        base.linear,
        np.ceil(batch * base.rows / pixel_lanes),
        batch * np.ceil(base.rows / col("lanes")) * np.ceil(base.cols / col("q_vec")),
    )
    mac_cycles = _steps(tables, index, d["c_vec"]) * tiles
    cycles = mac_cycles + _stack(tables, index, "passes") * fill
    compute_s = cycles / (col("clock_mhz") * 1e6)

    weight_bytes = _stack(tables, index, "weight_cells") * bits / 8 + _stack(tables, index, "metadata_bytes")
    act_bytes, spill = mem.activation_bytes(
        base.ifmap,
        base.ofmap,
        base.density_in,
        base.density_out,
        bits / 8,
        d["compress_activations"].astype(bool),
        d["stream_buffer_kb"].astype(float),
        batch,
    )
    dram_bytes = weight_bytes + act_bytes
    memory_s = mem.transfer_time(dram_bytes, d)
    overlap = d["double_buffering"].astype(bool)[:, None]
    time_s = np.where(overlap, np.maximum(compute_s, memory_s), compute_s + memory_s) + mem.access_latency(d)

    multipliers = k_vec * c_vec * pixel_lanes
    useful = _stack(tables, index, "useful_macs") * batch
    issued = mac_cycles * multipliers
    pixels = batch * base.rows * base.cols
    sram_bits = (
        _stack(tables, index, "feeder_reads") * pixels * bits  # stream reads
        + mac_cycles * k_vec * c_vec * (bits + _stack(tables, index, "select_bits"))
        + base.ofmap * batch * bits
    )  # output writes
    energy = power.dynamic_energy(
        device, d, useful_macs=useful, issued_macs=issued, sram_bits=sram_bits, dram_bytes=dram_bytes
    )
    used = usage(
        device,
        k_vec=d["k_vec"],
        c_vec=d["c_vec"],
        q_vec=d["q_vec"],
        lanes=d["lanes"],
        bits=bits[:, 0],
        alpha=d["alpha"],
        stream_buffer_kb=d["stream_buffer_kb"],
        filter_cache_kb=d["filter_cache_kb"],
        dsp_per_multiplier=1 / power.lookup(d["precision"], device.multipliers_per_dsp),
    )
    energy["logic_j"] = power.logic_energy(device, d, used["alm"], time_s)
    return {
        "compute_cycles": cycles,
        "compute_s": compute_s,
        "weight_bytes": weight_bytes,
        "act_bytes": act_bytes,
        "dram_bytes": dram_bytes,
        "memory_s": memory_s,
        "time_s": time_s,
        "useful_macs": useful,
        "issued_macs": issued,
        "spill": spill,
        "multipliers": multipliers[:, 0],
        "resources": used,
        **energy,
    }


def totals(
    per_layer: dict[str, np.ndarray], d: dict[str, np.ndarray], device: Device, dense_macs: float, batch: int
) -> dict[str, np.ndarray]:
    """Network figures per design point (1-D arrays)."""
    latency = per_layer["time_s"].sum(axis=1)
    compute = per_layer["compute_s"].sum(axis=1)
    memory = per_layer["memory_s"].sum(axis=1)
    dynamic = sum(per_layer[k].sum(axis=1) for k in ENERGY_TERMS)
    static_w = power.static_power(device, d)
    energy = dynamic + static_w * latency
    watts = energy / latency
    fps = batch / latency
    useful = per_layer["useful_macs"].sum(axis=1)
    memory_bound = per_layer["memory_s"] > per_layer["compute_s"]
    used = per_layer["resources"]
    over = device_excess(device, used, d)
    return {
        "latency_s": latency,
        "fps": fps,
        "power_w": watts,
        "energy_j_per_frame": energy / batch,
        "fps_per_w": fps / watts,
        "gops_effective": 2 * useful / latency / 1e9,
        "gops_dense_equiv": 2 * dense_macs * batch / latency / 1e9,
        "gops_peak": 2 * per_layer["multipliers"] * d["clock_mhz"] * 1e6 / 1e9,
        "utilization": useful / per_layer["issued_macs"].sum(axis=1),
        "compute_s": compute,
        "memory_s": memory,
        "stall_s": latency - compute,
        "memory_bound_share": (per_layer["time_s"] * memory_bound).sum(axis=1) / latency,
        "dram_mb_per_frame": per_layer["dram_bytes"].sum(axis=1) / batch / 1e6,
        "bound": np.where(memory > compute, "memory", "compute"),
        "dsp": used["dsp"],
        "m20k": used["m20k"],
        "alm": used["alm"],
        "dynamic_w": dynamic / latency,
        "static_w": static_w,
        "feasible": np.all([o <= 0 for o in over.values()], axis=0),
        "violation": violation_text(over),
    }


def simulate_batch(
    sparse: SparseModel,
    designs: pd.DataFrame,
    device: Device,
    batch: int = 1,
    cache: packing.CacheSpec = packing.DEFAULT_CACHE,
) -> pd.DataFrame:
    """Evaluate many design points (rows with DESIGN_COLUMNS, see `design_row`) in one call.

    Designs sharing a packing (mode, k_vec, alpha, gamma) share one packed workload, memoised in
    memory and cached on disk. Returns the design table with the network figures appended.
    """
    designs = designs.reset_index(drop=True)
    d = design_arrays(designs)
    _check_designs(d, device)
    packed_alpha = np.where(d["mode"] == "packed", d["alpha"], 1)
    packed_gamma = np.where(d["mode"] == "packed", d["gamma"], 0.0)
    keys = pd.MultiIndex.from_arrays([d["mode"], d["k_vec"], packed_alpha, packed_gamma])
    index, unique = pd.factorize(keys)
    tables = [packed_table(sparse, *key, cache=cache) for key in unique]
    per_layer = evaluate(tables, index, d, device, batch)
    figures = totals(per_layer, d, device, sparse.workload.macs, batch)
    return pd.concat([designs, pd.DataFrame(figures)], axis=1)


LAYER_OUTPUTS = (
    "compute_cycles",
    "compute_s",
    "memory_s",
    "time_s",
    "weight_bytes",
    "act_bytes",
    "dram_bytes",
    "useful_macs",
    "issued_macs",
    "spill",
    *ENERGY_TERMS,
)


@dataclass
class Result:
    """One design point: network totals, and the per-layer table (built when first read)."""

    totals: pd.Series
    per_layer: dict[str, np.ndarray] = field(repr=False)
    table: LayerTable = field(repr=False)
    batch: int
    arch: Architecture
    memory: Memory
    device: Device
    mode: str

    @cached_property
    def layers(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "layer": self.table.names,
                "kind": self.table.kinds,
                "macs": self.table.macs * self.batch,
                **{k: self.per_layer[k][0] for k in LAYER_OUTPUTS},
            }
        )
        frame["bound"] = np.where(frame["memory_s"] > frame["compute_s"], "memory", "compute")
        frame["utilization"] = frame["useful_macs"] / frame["issued_macs"]
        return frame


def simulate(
    target: SparseModel | packing.PackedWorkload,
    arch: Architecture,
    memory: Memory,
    device: Device,
    mode: str = "packed",
    batch: int = 1,
    cache: packing.CacheSpec = packing.DEFAULT_CACHE,
) -> Result:
    """Simulate one design point on a sparse model (packed here, with the arch's k_vec, alpha and
    gamma) or on an already packed workload (its mode and k_vec are used; k_vec must match)."""
    check_compatible(arch, memory, device)
    if batch < 1:
        raise UsageError(f"batch must be >= 1 (got {batch})")
    if isinstance(target, packing.PackedWorkload):
        if target.k_vec != arch.k_vec:
            raise UsageError(f"packed for k_vec {target.k_vec}, but the architecture has k_vec {arch.k_vec}")
        mode, table = target.mode, layer_table(target)
    else:
        table = packed_table(target, mode, arch.k_vec, arch.alpha, arch.gamma, cache)
    d = design_arrays([design_row(arch, memory, mode)])
    _check_designs(d, device)
    per_layer = evaluate([table], np.zeros(1, dtype=int), d, device, batch)
    figures = totals(per_layer, d, device, float(table.macs.sum()), batch)
    return Result(
        pd.Series({k: v[0] for k, v in figures.items()}), per_layer, table, batch, arch, memory, device, mode
    )
