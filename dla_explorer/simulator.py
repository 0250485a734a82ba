"""DLA simulator: throughput, latency, power and energy of a DLA-style accelerator.

The model is analytical and vectorised: every quantity is a (design points x layers) numpy array,
so one call evaluates thousands of designs. Per layer:

    compute cycles = steps(c_vec) x pixel tiles + passes x PE-chain fill
    DRAM bytes     = weights (stored cells + packing metadata), once per batch
                   + activations of layers whose maps do not fit the stream buffer (compressed
                     when enabled), the network input and output
    time           = max(compute, memory) with double buffering, else their sum; + access latency
    energy         = MACs + gated lanes + on-chip buffer bits + DRAM bits, + static power x time

`steps` and the stored weight cells come from the packing stage (dense, unpacked, packed or N:M),
so packed cycles are those of the actual packed layers. Formulas and sources: docs/model.md.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import packing
from .errors import UsageError
from .hw import PRECISION_BITS, Architecture, Device, Memory, check_compatible
from .pruning import SparseModel
from .resources import limits, usage

ARCH_COLUMNS = ("k_vec", "c_vec", "q_vec", "lanes", "precision", "clock_mhz", "stream_buffer_kb",
                "filter_cache_kb", "alpha", "gamma", "double_buffering", "compress_activations",
                "pe_chain_fill_cycles")
MEMORY_COLUMNS = ("kind", "channels", "data_rate_mtps", "bus_width_bits", "controller_efficiency",
                  "access_latency_ns", "energy_pj_per_bit", "interface_static_w_per_channel")
DESIGN_COLUMNS = ("mode", *ARCH_COLUMNS, *(f"mem_{c}" for c in MEMORY_COLUMNS))


def design_row(arch: Architecture, memory: Memory, mode: str = "packed") -> dict:
    """One design point as a flat dict (the row format of `simulate_batch`)."""
    row = {"mode": mode, **{c: getattr(arch, c) for c in ARCH_COLUMNS}}
    row.update({f"mem_{c}": getattr(memory, c) for c in MEMORY_COLUMNS})
    return row


@dataclass(frozen=True, eq=False)  # hashed by identity: `steps` is memoised per table
class LayerTable:
    """Per-layer arrays of one packed workload; everything the simulator needs from packing."""

    names: np.ndarray
    kinds: np.ndarray
    tiles_rows: np.ndarray      # output rows per image (P; N rows for a linear layer)
    tiles_cols: np.ndarray      # output columns per image (Q; 1 for a linear layer)
    linear: np.ndarray
    macs: np.ndarray            # dense MACs per image
    useful_macs: np.ndarray     # MACs with a kept non-zero weight, per image
    passes: np.ndarray
    weight_cells: np.ndarray    # weight values stored and fetched
    metadata_bytes: np.ndarray  # selects, group descriptors or N:M indices
    select_bits: np.ndarray     # bits of select carried by every stored weight
    feeder_reads: np.ndarray    # stream-buffer values read per output pixel
    ifmap: np.ndarray           # elements per image
    ofmap: np.ndarray
    density_in: np.ndarray      # measured share of non-zero input activations
    density_out: np.ndarray     # the next layer's input density (1 for the last layer)
    packed: packing.PackedWorkload = field(repr=False)

    @functools.cache  # noqa: B019 - tables live as long as their packed workload
    def steps(self, c_vec: int) -> np.ndarray:
        return np.array([layer.steps(c_vec) for layer in self.packed.layers], dtype=np.float64)


def layer_table(packed: packing.PackedWorkload) -> LayerTable:
    layers = packed.layers
    frame = packed.workload.to_frame()
    linear = (frame["kind"] == "linear").to_numpy()
    density = np.array([packed.act_density.get(n, 1.0) for n in frame["name"]])
    pixels = (frame["P"] * frame["Q"]).to_numpy()
    return LayerTable(
        names=frame["name"].to_numpy(), kinds=frame["kind"].to_numpy(),
        tiles_rows=np.where(linear, frame["N"], frame["P"]).astype(np.float64),
        tiles_cols=np.where(linear, 1, frame["Q"]).astype(np.float64),
        linear=linear,
        macs=frame["macs"].to_numpy(np.float64),
        useful_macs=np.array([la.nnz_after for la in layers], dtype=np.float64)
        * np.where(linear, frame["N"], pixels * frame["N"]),
        passes=np.array([la.n_passes for la in layers], dtype=np.float64),
        weight_cells=np.array([la.weight_cells for la in layers], dtype=np.float64),
        metadata_bytes=np.array([la.metadata_bytes for la in layers], dtype=np.float64),
        select_bits=np.array([la.select_bits for la in layers], dtype=np.float64),
        feeder_reads=np.array([la.feeder_reads for la in layers], dtype=np.float64),
        ifmap=frame["ifmap"].to_numpy(np.float64), ofmap=frame["ofmap"].to_numpy(np.float64),
        density_in=density, density_out=np.append(density[1:], 1.0), packed=packed,
    )


def _column(designs: pd.DataFrame, name: str) -> np.ndarray:
    return designs[name].to_numpy()[:, None]


def _check_designs(designs: pd.DataFrame, device: Device) -> None:
    missing = [c for c in DESIGN_COLUMNS if c not in designs.columns]
    if missing:
        raise UsageError(f"design table lacks columns: {', '.join(missing)}")
    for name in ("k_vec", "c_vec", "q_vec", "lanes", "alpha", "clock_mhz", "stream_buffer_kb",
                 "filter_cache_kb", "mem_channels", "mem_data_rate_mtps", "mem_bus_width_bits",
                 "mem_controller_efficiency"):
        bad = designs.index[~(designs[name].to_numpy() > 0)]
        if len(bad):
            raise UsageError(f"design {bad[0]}: key '{name}' must be > 0 "
                             f"(got {designs.at[bad[0], name]!r})")
    unknown = set(designs["precision"]) - set(device.multipliers_per_dsp)
    if unknown:
        raise UsageError(f"key 'precision': {device.name} has no {sorted(unknown)[0]} multipliers")
    unknown_modes = set(designs["mode"]) - set(packing.MODES)
    if unknown_modes:
        raise UsageError(f"key 'mode': '{sorted(unknown_modes)[0]}' is not one of "
                         f"{', '.join(packing.MODES)}")


def _stack(tables: Sequence[LayerTable], index: np.ndarray, name: str) -> np.ndarray:
    return np.stack([getattr(t, name) for t in tables])[index]


def evaluate(tables: Sequence[LayerTable], table_index: np.ndarray, designs: pd.DataFrame,
             device: Device, batch: int = 1) -> dict[str, np.ndarray]:
    """All per-layer quantities as (designs x layers) arrays; `table_index[d]` names the packed
    workload of design d. `designs` holds DESIGN_COLUMNS (see `design_row`)."""
    first = tables[0]
    k_vec, c_vec = _column(designs, "k_vec"), _column(designs, "c_vec")
    q_vec, lanes = _column(designs, "q_vec"), _column(designs, "lanes")
    bits = designs["precision"].map(PRECISION_BITS).to_numpy()[:, None].astype(np.float64)
    clock = _column(designs, "clock_mhz") * 1e6
    fill = np.where(_column(designs, "pe_chain_fill_cycles") < 0, k_vec,
                    _column(designs, "pe_chain_fill_cycles"))
    multipliers = k_vec * c_vec * q_vec * lanes

    steps = np.empty((len(designs), len(first.names)))
    for t, table in enumerate(tables):
        rows = table_index == t
        for value in np.unique(designs["c_vec"].to_numpy()[rows]):
            steps[rows & (designs["c_vec"].to_numpy() == value)] = table.steps(int(value))
    # a linear layer's rows (batch x N) fill the pixel lanes; conv images go one after another
    tiles = np.where(first.linear, np.ceil(batch * first.tiles_rows / (q_vec * lanes)),
                     batch * np.ceil(first.tiles_rows / lanes) * np.ceil(first.tiles_cols / q_vec))
    passes = _stack(tables, table_index, "passes")
    mac_cycles = steps * tiles
    cycles = mac_cycles + passes * fill
    compute_s = cycles / clock

    value_bytes = bits / 8
    weight_bytes = _stack(tables, table_index, "weight_cells") * value_bytes \
        + _stack(tables, table_index, "metadata_bytes")
    compress = _column(designs, "compress_activations").astype(bool)
    in_bytes = np.where(compress, packing.compressed_activation_bytes(
        first.ifmap, first.density_in, value_bytes), first.ifmap * value_bytes)
    out_bytes = np.where(compress, packing.compressed_activation_bytes(
        first.ofmap, first.density_out, value_bytes), first.ofmap * value_bytes)
    spill = (first.ifmap + first.ofmap) * value_bytes > _column(designs, "stream_buffer_kb") * 1024
    edge_in = np.arange(len(first.names)) == 0
    edge_out = np.arange(len(first.names)) == len(first.names) - 1
    act_bytes = batch * (np.where(spill | edge_in, in_bytes, 0) + np.where(spill | edge_out,
                                                                            out_bytes, 0))
    dram_bytes = weight_bytes + act_bytes

    peak_bw = _column(designs, "mem_channels") * _column(designs, "mem_data_rate_mtps") * 1e6 \
        * _column(designs, "mem_bus_width_bits") / 8
    bandwidth = peak_bw * _column(designs, "mem_controller_efficiency")
    memory_s = dram_bytes / bandwidth
    latency = _column(designs, "mem_access_latency_ns") * 1e-9
    overlap = _column(designs, "double_buffering").astype(bool)
    time_s = np.where(overlap, np.maximum(compute_s, memory_s), compute_s + memory_s) + latency

    useful = _stack(tables, table_index, "useful_macs") * batch
    issued = mac_cycles * multipliers
    mac_pj = designs["precision"].map(device.energy.mac_pj).to_numpy()[:, None]
    pixels = batch * first.tiles_rows * first.tiles_cols
    select_bits = _stack(tables, table_index, "select_bits")
    sram_bits = (_stack(tables, table_index, "feeder_reads") * pixels * bits
                 + mac_cycles * k_vec * c_vec * (bits + select_bits)
                 + first.ofmap * batch * bits)
    energy = {
        "mac_j": (useful * mac_pj + (issued - useful) * mac_pj * device.energy.gated_mac_fraction)
        * 1e-12,
        "sram_j": sram_bits * device.energy.m20k_pj_per_bit * 1e-12,
        "dram_j": dram_bytes * 8 * _column(designs, "mem_energy_pj_per_bit") * 1e-12,
    }
    return {"compute_cycles": cycles, "compute_s": compute_s, "weight_bytes": weight_bytes,
            "act_bytes": act_bytes, "dram_bytes": dram_bytes, "memory_s": memory_s,
            "time_s": time_s, "useful_macs": useful, "issued_macs": issued, "spill": spill,
            "multipliers": multipliers, "bandwidth": bandwidth, "clock": clock, **energy}


def totals(per_layer: dict[str, np.ndarray], designs: pd.DataFrame, device: Device,
           dense_macs: float, batch: int) -> pd.DataFrame:
    """Network figures per design point (one row each)."""
    latency = per_layer["time_s"].sum(axis=1)
    compute = per_layer["compute_s"].sum(axis=1)
    memory = per_layer["memory_s"].sum(axis=1)
    dynamic = sum(per_layer[k].sum(axis=1) for k in ("mac_j", "sram_j", "dram_j"))
    static_w = device.static_power_w + device.board_power_w + designs["mem_channels"].to_numpy() \
        * designs["mem_interface_static_w_per_channel"].to_numpy()
    energy = dynamic + static_w * latency
    power = energy / latency
    fps = batch / latency
    useful = per_layer["useful_macs"].sum(axis=1)
    memory_bound = per_layer["memory_s"] > per_layer["compute_s"]
    multipliers = per_layer["multipliers"][:, 0]
    clock = per_layer["clock"][:, 0]
    used = usage(device, k_vec=designs["k_vec"].to_numpy(), c_vec=designs["c_vec"].to_numpy(),
                 q_vec=designs["q_vec"].to_numpy(), lanes=designs["lanes"].to_numpy(),
                 bits=designs["precision"].map(PRECISION_BITS).to_numpy(),
                 alpha=designs["alpha"].to_numpy(),
                 stream_buffer_kb=designs["stream_buffer_kb"].to_numpy(),
                 filter_cache_kb=designs["filter_cache_kb"].to_numpy(),
                 dsp_per_multiplier=1 / designs["precision"].map(device.multipliers_per_dsp)
                 .to_numpy())
    out = pd.DataFrame({
        "latency_s": latency, "fps": fps, "power_w": power, "energy_j_per_frame": energy / batch,
        "fps_per_w": fps / power,
        "gops_effective": 2 * useful / latency / 1e9,
        "gops_dense_equiv": 2 * dense_macs * batch / latency / 1e9,
        "gops_peak": 2 * multipliers * clock / 1e9,
        "utilization": useful / per_layer["issued_macs"].sum(axis=1),
        "compute_s": compute, "memory_s": memory, "stall_s": latency - compute,
        "memory_bound_share": (per_layer["time_s"] * memory_bound).sum(axis=1) / latency,
        "dram_mb_per_frame": per_layer["dram_bytes"].sum(axis=1) / batch / 1e6,
        "bound": np.where(memory > compute, "memory", "compute"),
        "dsp": used["dsp"], "m20k": used["m20k"], "alm": used["alm"],
        "dynamic_w": dynamic / latency, "static_w": static_w,
    }, index=designs.index)
    over = {k: used[k] / v - 1 for k, v in limits(device).items()}
    out["feasible"] = np.all([o <= 0 for o in over.values()], axis=0)
    out["violation"] = np.select(
        [over[k] > 0 for k in over],
        [pd.Series(over[k]).map(lambda x, k=k: f"{k} +{x:.1%}").to_numpy() for k in over], "")
    return out


def _packing_key(row: dict) -> tuple:
    if row["mode"] == "packed":
        return row["mode"], int(row["k_vec"]), int(row["alpha"]), float(row["gamma"])
    return row["mode"], int(row["k_vec"])


def simulate_batch(sparse: SparseModel, designs: pd.DataFrame, device: Device, batch: int = 1,
                   cache: packing.CacheSpec = packing.DEFAULT_CACHE) -> pd.DataFrame:
    """Evaluate many design points (rows with DESIGN_COLUMNS) on one sparse model in one call.

    Designs that share a packing (mode, k_vec, alpha, gamma) share one packed workload, which is
    also cached on disk. Returns the design table with the network figures appended.
    """
    designs = designs.reset_index(drop=True)
    _check_designs(designs, device)
    keys = [_packing_key(row) for row in designs[["mode", "k_vec", "alpha", "gamma"]]
            .to_dict("records")]
    unique = list(dict.fromkeys(keys))
    tables = [layer_table(_pack(sparse, *key, cache=cache)) for key in unique]
    index = np.array([unique.index(key) for key in keys])
    per_layer = evaluate(tables, index, designs, device, batch)
    return pd.concat([designs, totals(per_layer, designs, device, sparse.workload.macs, batch)],
                     axis=1)


def _pack(sparse: SparseModel, mode: str, k_vec: int, alpha: int = 1, gamma: float = 0.0,
          cache: packing.CacheSpec = packing.DEFAULT_CACHE) -> packing.PackedWorkload:
    return packing.pack(sparse, packing.Geometry(k_vec, 1), mode, alpha=alpha, gamma=gamma,
                        cache=cache)


@dataclass
class Result:
    """One design point: the per-layer table and the network totals."""

    layers: pd.DataFrame
    totals: pd.Series
    arch: Architecture
    memory: Memory
    device: Device
    mode: str


LAYER_OUTPUTS = ("compute_cycles", "compute_s", "memory_s", "time_s", "weight_bytes", "act_bytes",
                 "dram_bytes", "useful_macs", "issued_macs", "spill", "mac_j", "sram_j", "dram_j")


def simulate(target: SparseModel | packing.PackedWorkload, arch: Architecture, memory: Memory,
             device: Device, mode: str = "packed", batch: int = 1,
             cache: packing.CacheSpec = packing.DEFAULT_CACHE) -> Result:
    """Simulate one design point on a sparse model (packed here, with the arch's k_vec, alpha and
    gamma) or on an already packed workload (its mode, k_vec, alpha and gamma must match)."""
    check_compatible(arch, memory, device)
    if batch < 1:
        raise UsageError(f"batch must be >= 1 (got {batch})")
    if isinstance(target, packing.PackedWorkload):
        packed = target
        mode = packed.mode
        if packed.k_vec != arch.k_vec:
            raise UsageError(f"packed for k_vec {packed.k_vec}, but the architecture has "
                             f"k_vec {arch.k_vec}")
    else:
        key = _packing_key({"mode": mode, "k_vec": arch.k_vec, "alpha": arch.alpha,
                            "gamma": arch.gamma})
        packed = _pack(target, *key, cache=cache)
    designs = pd.DataFrame([design_row(arch, memory, mode)])
    _check_designs(designs, device)
    table = layer_table(packed)
    per_layer = evaluate([table], np.zeros(1, dtype=int), designs, device, batch)
    total = totals(per_layer, designs, device, float(table.macs.sum()), batch).iloc[0]
    layers = pd.DataFrame({"layer": table.names, "kind": table.kinds, "macs": table.macs * batch,
                           **{k: per_layer[k][0] for k in LAYER_OUTPUTS}})
    layers["bound"] = np.where(layers["memory_s"] > layers["compute_s"], "memory", "compute")
    layers["utilization"] = layers["useful_macs"] / layers["issued_macs"]
    return Result(layers, total, arch, memory, device, mode)
