"""DLA simulator: throughput, latency, power and energy of a DLA-style accelerator.

The model is analytical and vectorised: every quantity is a (design points x layers) numpy array,
so one call evaluates thousands of designs. The physics of a design point is one named function
per term, each pointing to its formula in docs/model.md:

    pixel_tiles, pe_cycles, drain_cycles, aux_cycles -> layer cycles (the slowest of the three)
    _design_clock (fMAX model)                         -> compute time
    stream_buffer (memory.py), weight_fetches          -> DRAM bytes -> transfer_time (memory.py)
    _layer_time                                         -> max(compute, memory) or their sum
    _sram_bits, mac/sram/dram/logic energy (power.py)   -> energy; static power x time

`steps` and the stored weight cells come from the packing stage (dense, unpacked, packed or N:M),
so packed cycles are those of the actual packed layers; the weightless nodes of the graph come
from `Workload.ops` (graph.py).

Memo layers: packing.pack caches column groupings on disk (across processes); `packed_table`
keeps the layer tables built from them in memory (one process), keyed by content. Nothing else
memoises.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from dla_explorer import packing
from dla_explorer.core.errors import UsageError, check_type
from dla_explorer.core.units import BITS_PER_BYTE, GIGA, KIB, MEGA, OPS_PER_MAC
from dla_explorer.core.vocab import MODES
from dla_explorer.sim import memory as mem
from dla_explorer.sim import power, traffic, uncertainty
from dla_explorer.sim.config import (
    ARCH_FIELDS,
    DEPTHWISE_WINDOW,
    DESIGN_COLUMNS,
    FORMATS,
    MEMORY_FIELDS,
    WINOGRAD,
    WINOGRAD_EXTRA,
    WINOGRAD_MODES,
    WINOGRAD_TAPS,
    Architecture,
    Device,
    Memory,
    check_compatible,
    precision_error,
    winograd_error,
)
from dla_explorer.sim.graph import GraphArrays, graph_arrays
from dla_explorer.sim.resources import device_excess, fmax_mhz, usage, violation_text
from dla_explorer.sparsity.pruning import SparseModel

__all__ = [
    "LayerTable",
    "Result",
    "aux_cycles",
    "design_arrays",
    "design_row",
    "drain_cycles",
    "evaluate",
    "fc_images",
    "input_folding",
    "packed_table",
    "pe_cycles",
    "pixel_tiles",
    "simulate",
    "simulate_batch",
    "totals",
    "weight_fetches",
    "winograd",
]

_POSITIVE_COLUMNS = (
    "k_vec",
    "c_vec",
    "q_vec",
    "lanes",
    "alpha",
    "clock_mhz",
    "stream_buffer_kb",
    "filter_cache_kb",
    "drain_vec",
    "pool_vec",
    "eltwise_vec",
    "activation_vec",
    "fc_batch",
    "mem_channels",
    "mem_data_rate_mtps",
    "mem_bus_width_bits",
    "mem_controller_efficiency",
    "mem_seq_efficiency_scale",
    "mem_run_efficiency_scale",
)
_NONNEGATIVE_COLUMNS = (
    "depthwise_vec",
    "stream_buffer_esram_kb",
    "mem_port_width_bits",
    "mem_weight_channels",
    "winograd_ddr_transformed",
)
_SHARE_COLUMNS = ("winograd_ddr_transformed",)  # shares: also <= 1
# columns an older design table or row may lack, and the value that reproduces its figures
# (no DRAM device named; the cycle model's efficiencies unscaled; no Winograd, no FC batching)
_DESIGN_DEFAULTS = {
    "mem_dram": "",
    "mem_seq_efficiency_scale": 1.0,
    "mem_run_efficiency_scale": 1.0,
    "winograd": "none",
    "winograd_ddr_transformed": 1.0,
    "fc_batch": 1,
    "input_folding": False,
    "weights_resident": False,
}
_ENERGY_TERMS = ("mac_j", "sram_j", "dram_j", "logic_j")  # dynamic energy per layer, joules
_TABLE_MEMO_SIZE = 64  # packed layer tables kept in memory (a few hundred KB each at most)


def design_row(arch: Architecture, memory: Memory, mode: str = "packed") -> dict:
    """One design point as a flat dict (the row format of `simulate_batch`).

    Args:
        arch: the DLA array (`hw.load_architecture`).
        memory: the memory system (`hw.load_memory`).
        mode: dense, unpacked, packed or nm.

    Returns:
        The row: `mode`, every ARCH_FIELDS key, and every MEMORY_FIELDS key prefixed `mem_`.

    Raises:
        UsageError: an argument of the wrong type, or an unknown mode.
    """
    check_type(arch, Architecture, "arch", "hw.load_architecture(name or path)")
    check_type(memory, Memory, "memory", "hw.load_memory(name or path)")
    if mode not in MODES:
        raise UsageError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    row = {"mode": mode, **{c: getattr(arch, c) for c in ARCH_FIELDS}}
    row.update({f"mem_{c}": getattr(memory, c) for c in MEMORY_FIELDS})
    return row


def design_arrays(designs: pd.DataFrame | Sequence[dict]) -> dict[str, np.ndarray]:
    """Design points as one numpy array per DESIGN_COLUMNS entry (what `evaluate` takes).

    Columns an older table or row lacks get _DESIGN_DEFAULTS (the values that reproduce its
    figures). Values are not checked here (`simulate_batch` checks them).

    Args:
        designs: one row per design (`design_row`): a table, or a sequence of row dicts.

    Returns:
        Column name -> (designs,) array, in DESIGN_COLUMNS order.

    Raises:
        UsageError: a table lacks a column, or a row dict a key, that has no default (a row
            dict raised a bare KeyError).
    """
    if isinstance(designs, pd.DataFrame):
        # tables from before these columns existed (memories naming a DRAM device, the level-1
        # efficiency factors, Winograd and FC batching)
        for name, value in _DESIGN_DEFAULTS.items():
            if name not in designs.columns:
                designs = designs.assign(**{name: value})
        missing = [c for c in DESIGN_COLUMNS if c not in designs.columns]
        if missing:
            raise UsageError(f"design table lacks columns: {', '.join(missing)}")
        return {c: designs[c].to_numpy() for c in DESIGN_COLUMNS}
    rows = list(designs)
    required = [c for c in DESIGN_COLUMNS if c not in _DESIGN_DEFAULTS]
    missing = [c for c in required if any(c not in row for row in rows)]
    if missing:
        raise UsageError(
            f"design rows lack keys: {', '.join(missing)} (a row is design_row(arch, memory, mode))"
        )
    return {c: np.array([row.get(c, _DESIGN_DEFAULTS.get(c)) for row in rows]) for c in DESIGN_COLUMNS}


_HARDWARE_TYPES = {
    "arch": (Architecture, "hw.load_architecture(name or path)"),
    "memory": (Memory, "hw.load_memory(name or path)"),
    "device": (Device, "hw.load_device(name or path)"),
}


def _check_hardware(**configs: object) -> None:
    """Each hardware argument is the config object it names (a name or a swapped argument would
    fail later with an AttributeError that names neither)."""
    for what, value in configs.items():
        expected, hint = _HARDWARE_TYPES[what]
        check_type(value, expected, what, hint)


def _check_batch(batch: object) -> None:
    """A batch is a whole number of images >= 1 (0 gave NaN power in simulate_batch)."""
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise UsageError(f"batch must be >= 1, a whole number of images (got {batch!r})")


def _check_designs(d: dict[str, np.ndarray], device: Device) -> None:
    """Every rule a design table must meet (one-line UsageError naming the design and key)."""
    _check_columns(d, device)
    _check_winograd(d)


def _check_columns(d: dict[str, np.ndarray], device: Device) -> None:
    """The design rules but Winograd's: value bounds, a precision the device has, weight channels
    that leave some for the feature maps, a known mode."""
    for names, rule, holds, bound in (
        (_POSITIVE_COLUMNS, "> 0", np.greater, 0),
        (_NONNEGATIVE_COLUMNS, ">= 0", np.greater_equal, 0),
        (_SHARE_COLUMNS, "<= 1", np.less_equal, 1),
    ):
        for name in names:
            ok = holds(d[name], bound)
            if ok.all():  # the common case: no index search
                continue
            bad = np.flatnonzero(~ok)
            value = d[name][bad[0]]
            shown = value.item() if isinstance(value, np.generic) else value  # 5, not np.int64(5)
            raise UsageError(f"design {bad[0]}: key '{name}' must be {rule} (got {shown!r})")
    unknown = set(d["precision"]) - set(device.multipliers_per_dsp)
    if unknown:
        raise UsageError(precision_error(sorted(unknown)[0], device))
    bad = np.flatnonzero(
        d["mem_weight_channels"] >= np.where(d["mem_weight_channels"] > 0, d["mem_channels"], 1)
    )
    if bad.size:
        raise UsageError(
            f"design {bad[0]}: key 'mem_weight_channels' must leave channels for the feature maps "
            f"(got {d['mem_weight_channels'][bad[0]]} of {d['mem_channels'][bad[0]]})"
        )
    unknown = set(d["mode"]) - set(packing.MODES)
    if unknown:
        raise UsageError(f"key 'mode': '{sorted(unknown)[0]}' is not one of {', '.join(packing.MODES)}")


def _check_winograd(d: dict[str, np.ndarray]) -> None:
    """Winograd designs: a known form, q_vec = its outputs, no packing mux, a mode whose weights
    run as stored (config.winograd_error, WINOGRAD_MODES); one vectorised test for the common case."""
    winograd = np.asarray(d["winograd"]).astype(str)
    on = winograd != "none"
    if not on.any():
        return
    outputs = {n: 0 if f is None else f.outputs for n, f in WINOGRAD.items()}
    known = np.isin(winograd, list(WINOGRAD))
    bad = ~known | (on & ((d["alpha"] > 1) | ~np.isin(d["mode"], WINOGRAD_MODES)))
    bad |= known & on & (d["q_vec"] != power.lookup(np.where(known, winograd, "none"), outputs))
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    message = winograd_error(winograd[i], int(d["q_vec"][i]), int(d["alpha"][i]))
    if not message:
        message = (
            f"key 'winograd': {winograd[i]} turns every filter row into dense transformed values, "
            f"so mode '{d['mode'][i]}' has no zeros to skip on it (use mode {' or '.join(WINOGRAD_MODES)})"
        )
    raise UsageError(f"design {i}: {message}")


@dataclass(frozen=True, eq=False)
class LayerTable:
    """Per-layer arrays of one packed workload: everything the simulator needs from packing and
    from the graph (sizes per image unless noted)."""

    names: np.ndarray
    kinds: np.ndarray
    rows: np.ndarray  # output rows per image (P); rows fed to a linear layer (N)
    cols: np.ndarray  # output columns per image (Q; 1 for a linear layer)
    out_channels: np.ndarray  # K: values per output pixel
    in_rows: np.ndarray  # input rows (H; 1 for a linear layer)
    kernel_rows: np.ndarray  # R: input rows one output row needs
    kernel_cols: np.ndarray  # S: filter width (a Winograd form applies to one width)
    strides: np.ndarray
    halo_rows: np.ndarray  # input rows two neighbouring output-row slices share: max(R - stride, 0)
    linear: np.ndarray
    depthwise: np.ndarray  # depthwise layers (the depthwise block can take them)
    in_channels: np.ndarray  # C
    taps: np.ndarray  # R x S
    macs: np.ndarray  # dense MACs per image
    useful_macs: np.ndarray  # MACs with a kept non-zero weight, per image
    passes: np.ndarray
    weight_cells: np.ndarray  # weight values stored and fetched
    metadata_bytes: np.ndarray  # selects, group descriptors or N:M indices
    select_bits: np.ndarray  # select bits carried by every stored weight
    feeder_reads: np.ndarray  # stream-buffer values read per output pixel
    ifmap: np.ndarray  # elements per image
    ofmap: np.ndarray
    written: np.ndarray  # elements the output path writes: ofmap after its fused pool / add
    density_in: np.ndarray  # measured share of non-zero input activations
    # the density of the tensor the layer's output path writes (after its fused pool / activation
    # / add): the next layer's measured input density, which is that tensor in a chain (only
    # compute-layer inputs are measured); 1 for the last layer
    density_out: np.ndarray
    graph: GraphArrays = field(repr=False)
    packed: packing.PackedWorkload = field(repr=False)
    _steps: dict = field(default_factory=dict, repr=False)

    def steps(self, c_vec: int) -> np.ndarray:
        """c_vec-wide steps per output pixel of every layer (memoised per c_vec).

        Args:
            c_vec: the PE's dot-product width.

        Returns:
            (layers,) float64: each layer's steps summed over its passes (`PackedLayer.steps`).
        """
        if c_vec not in self._steps:
            self._steps[c_vec] = np.array([la.steps(c_vec) for la in self.packed.layers], float)
        return self._steps[c_vec]


def _layer_table(packed: packing.PackedWorkload) -> LayerTable:
    """The simulator's per-layer arrays of a packed workload (not memoised: see packed_table).

    Args:
        packed: the packed workload (`packing.pack`); its act_density gives the measured
            activation densities (1 for a layer it lacks).

    Returns:
        The LayerTable: one entry per compute layer, in workload order.
    """
    layers, workload = packed.layers, packed.workload.layers

    def per_layer(get) -> np.ndarray:
        return np.array([get(x) for x in layers], dtype=np.float64)

    def shape(get) -> np.ndarray:
        return np.array([get(la) for la in workload], dtype=np.float64)

    linear = np.array([la.kind == "linear" for la in workload])
    n = shape(lambda la: la.N)
    density = np.array([packed.act_density.get(la.name, 1.0) for la in workload])
    rows, cols = shape(lambda la: la.P), shape(lambda la: la.Q)
    graph = graph_arrays(packed.workload)
    return LayerTable(
        names=np.array([la.name for la in workload]),
        kinds=np.array([la.kind for la in workload]),
        rows=np.where(linear, n, rows),
        cols=np.where(linear, 1.0, cols),
        out_channels=shape(lambda la: la.K),
        in_rows=shape(lambda la: la.H),
        kernel_rows=shape(lambda la: la.R),
        kernel_cols=shape(lambda la: la.S),
        strides=shape(lambda la: la.stride),
        halo_rows=np.maximum(shape(lambda la: la.R - la.stride), 0.0),
        linear=linear,
        depthwise=np.array([la.kind == "depthwise" for la in workload]),
        in_channels=shape(lambda la: la.C),
        taps=shape(lambda la: la.R * la.S),
        macs=shape(lambda la: la.macs),
        useful_macs=per_layer(lambda x: x.nnz_after) * n * np.where(linear, 1.0, rows * cols),
        passes=per_layer(lambda x: x.n_passes),
        weight_cells=per_layer(lambda x: x.weight_cells),
        metadata_bytes=per_layer(lambda x: x.metadata_bytes),
        select_bits=per_layer(lambda x: x.select_bits),
        feeder_reads=per_layer(lambda x: x.feeder_reads),
        ifmap=shape(lambda la: la.ifmap),
        ofmap=shape(lambda la: la.ofmap),
        written=graph.out_written * n,  # per image in the graph, N x that in the layer's units
        density_in=density,
        density_out=np.append(density[1:], 1.0),
        graph=graph,
        packed=packed,
    )


# the one in-memory memo: content key -> table (for a PackedWorkload object: its id, the object
# kept alive beside its table so the id cannot be reused while the entry lives)
_TABLES: OrderedDict[tuple, LayerTable] = OrderedDict()


def _memo(key: tuple, build) -> LayerTable:
    if key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    _TABLES[key] = build()
    if len(_TABLES) > _TABLE_MEMO_SIZE:
        _TABLES.popitem(last=False)
    return _TABLES[key]


_OPS_KEYS: dict[int, tuple[tuple, int]] = {}


def _ops_key(ops: tuple) -> int:
    """The content hash of a workload's weightless nodes, computed once per tuple object (hashing
    a few dozen frozen dataclasses costs more than a whole design point); the tuple is kept
    beside its hash so its id cannot be reused."""
    entry = _OPS_KEYS.get(id(ops))
    if entry is None or entry[0] is not ops:
        if len(_OPS_KEYS) > _TABLE_MEMO_SIZE:
            _OPS_KEYS.clear()
        entry = _OPS_KEYS[id(ops)] = (ops, hash(ops))
    return entry[1]


def packed_table(
    sparse: SparseModel,
    mode: str,
    k_vec: int,
    alpha: int = 1,
    gamma: float = 0.0,
    cache: packing.CacheSpec = packing.DEFAULT_CACHE,
) -> LayerTable:
    """The layer table of `sparse` packed for (mode, k_vec, alpha, gamma), memoised in memory
    (the disk cache holds the groupings; rebuilding a table from it takes ~0.5 s on ResNet-50).

    The key is the model's content (weights, masks, activation densities, weightless nodes), not
    the object: an equal model loaded again reuses the table. Outside mode packed, alpha and
    gamma are ignored (one table serves them all).

    Args:
        sparse: the pruned model (`pruning.prune`, `checkpoint.load`).
        mode: dense, unpacked, packed or nm.
        k_vec: PEs in the chain (the packing's pass height).
        alpha: packed mode: at most this many columns combined into one group.
        gamma: packed mode: conflicts allowed per row of a pass, on average.
        cache: where packings are cached on disk (True: the default folder, a folder, None: no
            cache).

    Returns:
        The LayerTable (shared: do not modify its arrays).

    Raises:
        UsageError: what `packing.pack` refuses: an unknown mode, alpha < 1, gamma < 0 or not
            finite, or mode nm on a model that was not N:M-pruned.
    """
    if mode != "packed":
        alpha, gamma = 1, 0.0  # only packing reads them: one table serves every alpha and gamma
    # the content hash covers weights and masks; the densities (another calibration batch) and
    # the weightless nodes of the graph count too
    densities = tuple(sorted(sparse.act_density.items()))
    key = (
        sparse.content_hash(),
        densities,
        _ops_key(sparse.workload.ops),
        mode,
        int(k_vec),
        int(alpha),
        float(gamma),
    )

    def build() -> LayerTable:
        geometry = packing.Geometry(int(k_vec), 1)
        return _layer_table(
            packing.pack(sparse, geometry, mode, alpha=int(alpha), gamma=float(gamma), cache=cache)
        )

    return _memo(key, build)


def _workload_table(packed: packing.PackedWorkload) -> LayerTable:
    """The layer table of an already packed workload, memoised with the others.

    The key is the object (it is kept alive beside its table): the same PackedWorkload object
    reuses its table, an equal one builds its own.

    Args:
        packed: the packed workload (`packing.pack`, `packing.load_packed`).

    Returns:
        The LayerTable (shared: do not modify its arrays).
    """
    return _memo(("object", id(packed)), lambda: _layer_table(packed))


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


def _col(d: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A design column as a (designs x 1) float array, to broadcast over layers."""
    return d[name][:, None].astype(np.float64)


# -- the physics of one design point, one function per term (docs/model.md) ----------------------


def _number_format(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bits per value of the design's precision (docs/model.md#precision), (designs x 1):
    mantissa (datapath), block exponent, feature value (DDR and stream buffer), weight in DDR,
    weight in the filter scratchpad (mantissa + exponent / c_vec).

    Args:
        d: the design arrays (`design_arrays`), one entry per design: `precision`, `c_vec`.

    Returns:
        `mantissa_bits`, `exponent_bits`, `feature_bits`, `weight_bits` and `scratchpad_bits`,
        each (designs x 1) float64.
    """
    out = {
        name: power.lookup(d["precision"], {k: getattr(f, name) for k, f in FORMATS.items()})[:, None]
        for name in ("mantissa_bits", "exponent_bits", "feature_bits", "weight_bits")
    }
    out["scratchpad_bits"] = out["mantissa_bits"] + out["exponent_bits"] / _col(d, "c_vec")
    return out


def fc_images(t: LayerTable, d: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """Images each layer runs at once (docs/model.md#fc-batching), (designs x layers): `batch`
    for conv layers (image by image), batch x fc_batch for fully connected layers, whose weights
    stream once for all of them (AYD17); `share` = batch / images, what of one such run the
    simulated batch is charged (1 / fc_batch on FC layers).

    Args:
        t: the model's layer table (`linear`).
        d: the design arrays (`design_arrays`), one entry per design: `fc_batch`.
        batch: images per batch.

    Returns:
        `images` and `share`, (designs x layers) float64, and `streamed`, (designs x layers)
        bool: the FC layers of a design with fc_batch > 1 (their weights stream once a run).
    """
    fc_batch = _col(d, "fc_batch")
    images = np.where(t.linear, batch * fc_batch, float(batch))
    return {"images": images, "share": batch / images, "streamed": t.linear & (fc_batch > 1)}


def input_folding(t: LayerTable, d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The first conv's input folded into channels by its stride (docs/model.md#input-folding;
    FPGA AI Suite IP Reference Manual 2.6.4.2), (designs x layers), where `input_folding` is set,
    the first conv has stride s > 1 and the mode runs weights as stored (dense, unpacked; the
    packed modes' feeder already gathers across taps): C' = C s^2, R' = ceil(R / s),
    S' = ceil(S / s), stride 1, output unchanged. `steps_ratio` = R' S' ceil(C' / c_vec) /
    (R S ceil(C / c_vec)) scales its steps; `filter_expansion` = C' R' S' / (C R S) its stored
    (zero-padded) filter values.

    Args:
        t: the model's layer table (kinds, strides, channels and kernel sizes).
        d: the design arrays (`design_arrays`), one entry per design: `input_folding`, `mode`,
            `c_vec`.

    Returns:
        (designs x layers) arrays: `on` (bool, the folded entries), `steps_ratio`,
        `filter_expansion`, and the folded layer's `kernel_cols` (S') and `strides` (1); 1, or
        the layer's own S and stride, elsewhere.
    """
    first = np.zeros(t.names.size, dtype=bool)
    first[0] = t.kinds[0] == "conv"  # the network's first layer, an ordinary conv
    s = t.strides
    dense = np.isin(d["mode"], WINOGRAD_MODES)[:, None]
    on = d["input_folding"].astype(bool)[:, None] & dense & first & (s > 1)
    c_vec = _col(d, "c_vec")
    channels, rows, cols = t.in_channels * s * s, np.ceil(t.kernel_rows / s), np.ceil(t.kernel_cols / s)
    ratio = (
        rows
        * cols
        * np.ceil(channels / c_vec)
        / (t.kernel_rows * t.kernel_cols * np.ceil(t.in_channels / c_vec))
    )
    return {
        "on": on,
        "steps_ratio": np.where(on, ratio, 1.0),
        "filter_expansion": np.where(on, channels * rows * cols / (t.in_channels * t.taps), 1.0),
        "kernel_cols": np.where(on, cols, t.kernel_cols),
        "strides": np.where(on, 1.0, s),
    }


def winograd(
    t: LayerTable, d: dict[str, np.ndarray], kernel_cols: np.ndarray, strides: np.ndarray
) -> dict[str, np.ndarray]:
    """Which layers run Winograd and what it changes (docs/model.md#winograd), (designs x layers).

    A design with F(m, r) (AYD17's F(4, 3): m = q_vec = 4, r = 3, W_vec = 6) runs every stride-1
    conv layer (not depthwise, not linear) of filter width S > 1 (after input folding:
    `kernel_cols`, `strides`) as ceil(S / r) transformed r-tap chunks a filter row: AYD17's PE
    vectorises the filter width by S_vec = r (notes: "Filters: S x R, vectorization factor
    S_vec"), so a 3-wide row is one step where direct convolution takes 3, a 5-wide row two
    (taps 3 + 2, the third zero). `fold` = S / ceil(S / r) divides the steps. Stride > 1 and 1x1
    layers run direct on q_vec of the PE's m + r - 1 multipliers a channel (an assumption: the
    paper body is not readable). `pixel_multipliers` (designs x 1): multipliers per (PE,
    channel, lane), q_vec + r - 1 on Winograd hardware. `multiply_ratio`: multiplies performed per
    direct MAC, ceil(S / r) (m + r - 1) / (m S) (1/2 for 3x3). `filter_expansion`: transformed
    values per weight, ceil(S / r) (m + r - 1) / S (2 for 3x3): the PE's scratchpad.
    `ddr_expansion`: filter values in DDR per weight, 1 + share x (filter_expansion - 1), the share
    `winograd_ddr_transformed` of the transform done on the host (an estimate).

    Args:
        t: the model's layer table (`linear`, `depthwise`).
        d: the design arrays (`design_arrays`), one entry per design: `winograd`, `q_vec`,
            `winograd_ddr_transformed`.
        kernel_cols: filter width S per layer after input folding, (designs x layers).
        strides: stride per layer after input folding, (designs x layers).

    Returns:
        `on` (bool), `fold`, `multiply_ratio`, `filter_expansion` and `ddr_expansion`, each
        (designs x layers) float64 (1 where a layer runs direct), and `pixel_multipliers`,
        (designs x 1).
    """
    taps = power.lookup(d["winograd"], WINOGRAD_TAPS)[:, None]
    q_vec = _col(d, "q_vec")
    extra = power.lookup(d["winograd"], WINOGRAD_EXTRA)[:, None]
    on = (taps > 0) & ~t.linear & ~t.depthwise & (kernel_cols > 1) & (strides == 1)
    width = q_vec + extra  # m + r - 1 on a Winograd design (q_vec = m)
    chunks = np.ceil(kernel_cols / np.maximum(taps, 1))
    expansion = np.where(on, chunks * width / kernel_cols, 1.0)
    share = _col(d, "winograd_ddr_transformed")
    return {
        "on": on,
        "fold": np.where(on, kernel_cols / chunks, 1.0),
        "pixel_multipliers": width,
        "multiply_ratio": np.where(on, chunks * width / (q_vec * kernel_cols), 1.0),
        "filter_expansion": expansion,
        # share x expansion + (1 - share) x 1: exactly the expansion at the nominal share 1
        "ddr_expansion": share * expansion + (1.0 - share),
    }


def pixel_tiles(t: LayerTable, d: dict[str, np.ndarray], batch: int | np.ndarray) -> np.ndarray:
    """Pixel tiles per layer (docs/model.md#compute): batch x ceil(P / lanes) x ceil(Q / q_vec)
    for a conv; ceil(batch x rows / (q_vec x lanes)) for a linear layer (rows fill the lanes).
    `batch` may be per (design, layer) (fc_images).

    Args:
        t: the model's layer table (`rows`, `cols`, `linear`).
        d: the design arrays (`design_arrays`), one entry per design: `q_vec`, `lanes`.
        batch: images per run: a whole number, or (designs x layers) (`fc_images`' `images`).

    Returns:
        Pixel tiles, (designs x layers) float64.
    """
    q_vec, lanes = _col(d, "q_vec"), _col(d, "lanes")
    return np.where(
        t.linear,
        np.ceil(batch * t.rows / (q_vec * lanes)),
        batch * np.ceil(t.rows / lanes) * np.ceil(t.cols / q_vec),
    )


def pe_cycles(
    steps: np.ndarray, tiles: np.ndarray, passes: np.ndarray, d: dict[str, np.ndarray]
) -> np.ndarray:
    """PE-array cycles (docs/model.md#compute): steps x tiles + passes x chain fill, where the
    fill is k_vec unless `pe_chain_fill_cycles` overrides it.

    Args:
        steps: c_vec-wide steps per output pixel (summed over passes, after input folding and
            Winograd), (designs x layers).
        tiles: pixel tiles (`pixel_tiles`), (designs x layers).
        passes: passes per layer, (designs x layers) or (1 x layers).
        d: the design arrays (`design_arrays`), one entry per design: `k_vec`,
            `pe_chain_fill_cycles` (< 0: k_vec).

    Returns:
        PE-array cycles per run, (designs x layers) float64.
    """
    fill_override = _col(d, "pe_chain_fill_cycles")
    fill = np.where(fill_override < 0, _col(d, "k_vec"), fill_override)
    return steps * tiles + passes * fill


def _depthwise_block(t: LayerTable, d: dict[str, np.ndarray], tiles: np.ndarray) -> dict[str, np.ndarray]:
    """Depthwise layers on the depthwise block (docs/model.md#auxiliary-blocks), where the design
    has one: each of its depthwise_vec channels computes a 3x3 window for the tile's q_vec x lanes
    pixels a cycle: cycles = tiles x ceil(C / depthwise_vec) x ceil(R x S / 9). `on_block` marks
    the (design, layer) entries it takes; `lanes` is its multipliers.

    Args:
        t: the model's layer table (`depthwise`, `in_channels`, `taps`).
        d: the design arrays (`design_arrays`), one entry per design: `depthwise_vec` (0: no block),
            `q_vec`, `lanes`.
        tiles: pixel tiles (`pixel_tiles`), (designs x layers).

    Returns:
        `on_block` (bool) and `cycles`, (designs x layers), and `lanes`, (designs x 1).
    """
    dw_vec = _col(d, "depthwise_vec")
    on_block = t.depthwise & (dw_vec > 0)
    cycles = tiles * np.ceil(t.in_channels / np.maximum(dw_vec, 1)) * np.ceil(t.taps / DEPTHWISE_WINDOW)
    lanes = dw_vec * DEPTHWISE_WINDOW * _col(d, "q_vec") * _col(d, "lanes")
    return {"on_block": on_block, "cycles": cycles, "lanes": lanes}


def drain_cycles(t: LayerTable, d: dict[str, np.ndarray], tiles: np.ndarray) -> np.ndarray:
    """Cycles the crossbar needs to drain the outputs (docs/model.md#drain): each pixel tile's
    K channels leave drain_vec channels (of q_vec x lanes pixels) a cycle: tiles x ceil(K / drain_vec).

    Args:
        t: the model's layer table (`out_channels`).
        d: the design arrays (`design_arrays`), one entry per design: `drain_vec`.
        tiles: pixel tiles (`pixel_tiles`), (designs x layers).

    Returns:
        Drain cycles per run, (designs x layers) float64.
    """
    return tiles * np.ceil(t.out_channels / _col(d, "drain_vec"))


def aux_cycles(t: LayerTable, d: dict[str, np.ndarray], batch: int) -> np.ndarray:
    """Cycles of the auxiliary blocks fused after each layer (docs/model.md#auxiliary-blocks):
    each block takes its vec channels of q_vec x lanes pixels a cycle; the blocks are pipelined,
    so the slowest one counts.

    Args:
        t: the model's layer table; its `graph` gives each layer's pool inputs, element-wise
            outputs and activation values per image.
        d: the design arrays (`design_arrays`), one entry per design: `q_vec`, `lanes`, `pool_vec`,
            `eltwise_vec`, `activation_vec`.
        batch: images per batch.

    Returns:
        Auxiliary-block cycles, (designs x layers) float64 (0 for a layer with no fused op).
    """
    pixels = _col(d, "q_vec") * _col(d, "lanes")
    g = t.graph
    pool = g.pool_in / (_col(d, "pool_vec") * pixels)
    eltwise = g.eltwise_out / (_col(d, "eltwise_vec") * pixels)
    activation = g.activation / (_col(d, "activation_vec") * pixels)
    return batch * np.ceil(np.maximum(np.maximum(pool, eltwise), activation))


def _design_clock(
    device: Device, d: dict[str, np.ndarray], used: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The clock each design runs at (docs/model.md#clock): min(requested, fMAX model).

    Args:
        device: the FPGA (`hw.load_device`): its fMAX model and highest clock.
        d: the design arrays (`design_arrays`), one entry per design: `clock_mhz`, `alpha`, and the
            sampled `dev:fmax.*` and `dev:max_clock_mhz` columns if any.
        used: the designs' resources (`_resource_use`).

    Returns:
        `fmax_mhz` and `clock_mhz_used`, (designs,) float64 MHz.
    """
    sampled = {}  # Monte-Carlo samples of the fMAX model's estimates, per design
    if device.fmax is not None:
        sampled = {k: uncertainty.coefficient(d, device, f"fmax.{k}") for k in ("full_mhz", "mux_derate")}
    ceiling = uncertainty.coefficient(d, device, "max_clock_mhz")
    fmax = fmax_mhz(device, used, d["alpha"], max_clock_mhz=ceiling, **sampled)
    return {"fmax_mhz": fmax, "clock_mhz_used": np.minimum(d["clock_mhz"].astype(np.float64), fmax)}


def weight_fetches(
    t: LayerTable,
    tables: Sequence[LayerTable],
    index: np.ndarray,
    d: dict[str, np.ndarray],
    fmt: dict[str, np.ndarray],
    slices: np.ndarray,
    tiles: np.ndarray,
    expansion: np.ndarray,
    fc: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """How many times each layer's weights cross DRAM per batch (docs/model.md#filter-scratchpad,
    docs/model.md#fc-batching): once; once per slice when the layer has several passes (each
    slice walks every pass); once per pixel tile when one PE's share of a pass does not fit its
    scratchpad (counting the values a Winograd or folded layer stores per weight, `expansion`).
    A batched FC layer streams its weights once per run of fc_batch images (its images are
    cached); every count is per run, times the batch's `share` of it. With `weights_resident`
    (DDR-free operation) no weight crosses DRAM, and `resident_excess` (per design; > 0 is
    infeasible) is how far the model's filters, all passes of all layers per PE, exceed the
    scratchpad (-1 without it).

    Args:
        t: the model's layer table (not read: the counts come from `tables`).
        tables: the layer tables of the designs' packings.
        index: (designs,) int: design i runs `tables[index[i]]`.
        d: the design arrays (`design_arrays`), one entry per design: `k_vec`, `filter_cache_kb`,
            `weights_resident`.
        fmt: the designs' number formats (`_number_format`).
        slices: output-row slices per layer (`memory.stream_buffer`), (designs x layers).
        tiles: pixel tiles (`pixel_tiles`), (designs x layers).
        expansion: filter values stored in the scratchpad per weight (input folding x
            Winograd), (designs x layers).
        fc: the FC batching (`fc_images`).

    Returns:
        `fetches`, (designs x layers) float64 per batch (fractional on a batched FC layer), and
        `resident_excess`, (designs,) float64.
    """
    passes = _stack(tables, index, "passes")
    per_pe_bits = (
        _stack(tables, index, "weight_cells")
        * expansion
        / (passes * _col(d, "k_vec"))
        * (fmt["scratchpad_bits"] + _stack(tables, index, "select_bits"))
    )
    capacity_bits = _col(d, "filter_cache_kb") * KIB * BITS_PER_BYTE
    fits = per_pe_bits <= capacity_bits
    per_run = np.where(fc["streamed"], 1.0, np.where(fits, np.where(passes > 1, slices, 1.0), tiles))
    # DDR-free: the whole model's filters sit in the scratchpads (every pass of every layer)
    resident = d["weights_resident"].astype(bool)
    model_bits = (per_pe_bits * passes).sum(axis=1)
    resident_excess = np.where(resident, model_bits / capacity_bits[:, 0] - 1.0, -1.0)
    per_run = np.where(resident[:, None], 0.0, per_run)
    return {"fetches": per_run * fc["share"], "resident_excess": resident_excess}


def _weight_bytes(
    tables: Sequence[LayerTable],
    index: np.ndarray,
    fmt: dict[str, np.ndarray],
    fetches: np.ndarray,
    expansion: np.ndarray,
) -> np.ndarray:
    """DRAM bytes of weights per batch (docs/model.md#memory): (stored cells x values stored
    per weight in DDR (`expansion`: Winograd, input folding) x weight bits / 8 + packing
    metadata) x fetches.

    Args:
        tables: the layer tables of the designs' packings.
        index: (designs,) int: design i runs `tables[index[i]]`.
        fmt: the designs' number formats (`_number_format`: `weight_bits`).
        fetches: weight fetches per batch (`weight_fetches`), (designs x layers).
        expansion: filter values in DDR per weight (input folding x Winograd), (designs x
            layers).

    Returns:
        DRAM bytes of weights per batch, (designs x layers) float64.
    """
    stored = _stack(tables, index, "weight_cells") * expansion * fmt["weight_bits"] / BITS_PER_BYTE
    return (stored + _stack(tables, index, "metadata_bytes")) * fetches


def _layer_time(
    compute_s: np.ndarray,
    memory_s: np.ndarray,
    d: dict[str, np.ndarray],
    latency_ns: np.ndarray | None = None,
) -> np.ndarray:
    """Seconds per layer (docs/model.md#memory): max(compute, memory) with double buffering,
    else their sum; plus the memory's access latency (fidelity 1 and 2: the cycle model's).

    Args:
        compute_s: compute seconds per layer, (designs x layers).
        memory_s: memory seconds per layer, (designs x layers).
        d: the design arrays (`design_arrays`), one entry per design: `double_buffering`,
            `mem_access_latency_ns`.
        latency_ns: the cycle model's read latency per design in ns, (designs,) (NaN: the
            memory's `access_latency_ns`); None: the memory's for every design (fidelity 0).

    Returns:
        Seconds per layer, (designs x layers) float64.
    """
    overlap = d["double_buffering"].astype(bool)[:, None]
    both = np.where(overlap, np.maximum(compute_s, memory_s), compute_s + memory_s)
    return both + mem.access_latency(d, latency_ns)


def _sram_bits(
    t: LayerTable,
    tables: Sequence[LayerTable],
    index: np.ndarray,
    d: dict[str, np.ndarray],
    fmt: dict[str, np.ndarray],
    mac_cycles: np.ndarray,
    dw: dict[str, np.ndarray],
    batch: int,
    wino: dict[str, np.ndarray],
) -> np.ndarray:
    """On-chip bits read and written per layer (docs/model.md#power-and-energy): stream-buffer
    reads by the feeder, filter-scratchpad reads, the written tensor (the output path's, after
    its fused auxiliary chain) and the outputs of auxiliary nodes off every output path, and the
    element-wise block's operands from the stream buffer (a fused add's shortcut).

    Args:
        t: the model's layer table (sizes and `graph`).
        tables: the layer tables of the designs' packings (`feeder_reads`, `select_bits`).
        index: (designs,) int: design i runs `tables[index[i]]`.
        d: the design arrays (`design_arrays`), one entry per design: `k_vec`, `c_vec`, `q_vec`,
            `lanes`.
        fmt: the designs' number formats (`_number_format`).
        mac_cycles: cycles the multipliers work per layer (PE array or depthwise block),
            (designs x layers).
        dw: the depthwise block (`_depthwise_block`).
        batch: images per batch.
        wino: the Winograd terms (`winograd`).

    Returns:
        On-chip bits read and written per batch, (designs x layers) float64.
    """
    pixels = batch * t.rows * t.cols
    stream_reads = _stack(tables, index, "feeder_reads") * pixels * fmt["feature_bits"]
    # the PE array reads k_vec x c_vec weights a cycle (k_vec x c_vec x (m + r - 1) transformed
    # ones on a Winograd layer); the depthwise block a 3x3 window a channel
    width = np.where(
        dw["on_block"],
        dw["lanes"] / (_col(d, "q_vec") * _col(d, "lanes")),
        _col(d, "k_vec") * _col(d, "c_vec") * np.where(wino["on"], wino["pixel_multipliers"], 1.0),
    )
    filter_reads = mac_cycles * width * (fmt["scratchpad_bits"] + _stack(tables, index, "select_bits"))
    # the output path writes one tensor, after its fused pool / add / activation chain (a fused
    # add's output is that tensor, not a second write); aux nodes off every output path write
    # their own outputs (graph.py, `aux_written`)
    writes = (t.written + t.graph.aux_written) * batch * fmt["feature_bits"]
    shortcut_reads = t.graph.eltwise_reads * batch * fmt["feature_bits"]
    return stream_reads + filter_reads + writes + shortcut_reads


def _resource_use(
    device: Device, d: dict[str, np.ndarray], fmt: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """DSPs, M20Ks, eSRAM and ALMs per design (resources.py; docs/model.md#resources).

    Args:
        device: the FPGA (`hw.load_device`).
        d: the design arrays (`design_arrays`), one entry per design: the array sizes, `alpha`,
            buffers, `precision`, `depthwise_vec`, `winograd`, and the sampled `dev:shell_alms` /
            `dev:alms_per_multiplier` if any.
        fmt: the designs' number formats (`_number_format`).

    Returns:
        `resources.usage`'s dict: `multipliers`, `dsp`, `m20k`, `m20k_stream`, `m20k_filters`,
        `esram` and `alm`, each (designs,).
    """
    return usage(
        device,
        k_vec=d["k_vec"],
        c_vec=d["c_vec"],
        q_vec=d["q_vec"],
        lanes=d["lanes"],
        mantissa_bits=fmt["mantissa_bits"][:, 0],
        feature_bits=fmt["feature_bits"][:, 0],
        exponent_bits=fmt["exponent_bits"][:, 0],
        alpha=d["alpha"],
        stream_buffer_kb=d["stream_buffer_kb"],
        filter_cache_kb=d["filter_cache_kb"],
        dsp_per_multiplier=1 / power.lookup(d["precision"], device.multipliers_per_dsp),
        stream_buffer_esram_kb=d["stream_buffer_esram_kb"],
        depthwise_vec=d["depthwise_vec"],
        shell_alms=uncertainty.coefficient(d, device, "shell_alms"),
        alms_per_multiplier=uncertainty.coefficient(d, device, "alms_per_multiplier"),
        winograd_extra=power.lookup(d["winograd"], WINOGRAD_EXTRA),
    )


def evaluate(
    tables: Sequence[LayerTable],
    index: np.ndarray,
    d: dict[str, np.ndarray],
    device: Device,
    batch: int = 1,
    fidelity: int = traffic.DEFAULT_FIDELITY,
    memory_s: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-layer quantities as (designs x layers) arrays (per design: `multipliers`, the clock, and
    the `resources` dict); design i runs `tables[index[i]]`. A layer's compute cycles are the
    largest of its PE-array, drain and auxiliary-block cycles (docs/model.md#auxiliary-blocks).
    fidelity: 0 flat controller efficiency, 1 (and 2) the cycle model's efficiency per stream
    (sim/traffic.py); memory_s (designs x layers): memory seconds from a replay (fidelity 2) in
    place of the model's.

    The designs must have passed the design checks (`simulate_batch`, `simulate` run them).

    Args:
        tables: the layer tables of the designs' packings (one model: the same shapes).
        index: (designs,) int: design i runs `tables[index[i]]`.
        d: the design arrays (`design_arrays`), one entry per design (every DESIGN_COLUMNS entry).
        device: the FPGA (`hw.load_device`).
        batch: images per batch.
        fidelity: the memory model's level, 0, 1 or 2 (2 is 1 here unless `memory_s` is given).
        memory_s: memory seconds per layer from a replay, (designs x layers); None: the model's.

    Returns:
        (designs x layers) float64: `compute_cycles` (the largest of `pe_cycles`,
        `drain_cycles` and `aux_cycles`), `compute_s`, `memory_s` and `time_s` (seconds),
        `weight_bytes`, `act_bytes`, `act_write_bytes`, `dram_bytes` and `shortcut_spill_bytes`
        (bytes per batch), `useful_macs`, `performed_macs` and `issued_macs` (per batch),
        `spill` (bool: the layer is sliced, its output goes to DRAM),
        `slices`, `weight_fetches`, and the energies `mac_j`, `sram_j`, `dram_j`, `logic_j`
        (joules per batch); (designs,): `resident_excess`, `multipliers`, `fmax_mhz` and
        `clock_mhz_used`; and `resources` (`_resource_use`).

    Raises:
        UsageError: a fidelity other than 0, 1 or 2, or (fidelity 1 and 2) a memory naming a
            DRAM config that does not exist or does not validate.
    """
    t = tables[0]  # layer shapes, densities and the graph are the same in every table of one model
    fmt = _number_format(d)
    used = _resource_use(device, d, fmt)
    clock = _design_clock(device, d, used)
    clock_hz = clock["clock_mhz_used"] * MEGA

    fc = fc_images(t, d, batch)
    folding = input_folding(t, d)
    wino = winograd(t, d, folding["kernel_cols"], folding["strides"])
    tiles = pixel_tiles(t, d, fc["images"])  # per run: FC layers run fc_batch x batch images
    steps = _steps(tables, index, d["c_vec"]) * folding["steps_ratio"] / wino["fold"]
    # filter values stored per weight: in the PE scratchpads, and in DDR
    scratch_expansion = folding["filter_expansion"] * wino["filter_expansion"]
    ddr_expansion = folding["filter_expansion"] * wino["ddr_expansion"]
    dw = _depthwise_block(t, d, tiles)
    share = fc["share"]  # the simulated batch's share of each run (1 / fc_batch on FC layers)
    mac_cycles = np.where(dw["on_block"], dw["cycles"], steps * tiles) * share
    pe = np.where(dw["on_block"], dw["cycles"], pe_cycles(steps, tiles, _stack(tables, index, "passes"), d))
    pe = pe * share
    drain = drain_cycles(t, d, tiles) * share
    aux = aux_cycles(t, d, batch)
    cycles = np.maximum(np.maximum(pe, drain), aux)
    compute_s = cycles / clock_hz[:, None]

    buffer = mem.stream_buffer(
        ifmap=t.ifmap,
        ofmap=t.ofmap,
        written=t.written,
        in_rows=t.in_rows,
        kernel_rows=t.kernel_rows,
        out_rows=np.where(t.linear, 1.0, t.rows),
        halo_rows=t.halo_rows,
        graph=t.graph,
        density_in=t.density_in,
        density_out=t.density_out,
        feature_bytes=fmt["feature_bits"] / BITS_PER_BYTE,
        compress=d["compress_activations"].astype(bool),
        buffer_bytes=mem.buffer_bytes(d),
        batch=batch,
    )
    fetch = weight_fetches(t, tables, index, d, fmt, buffer["slices"], tiles, scratch_expansion, fc)
    w_bytes = _weight_bytes(tables, index, fmt, fetch["fetches"], ddr_expansion)
    act_bytes = buffer["act_bytes"]
    streams = None
    if traffic.check_fidelity(fidelity) >= 1:
        streams = traffic.level1_streams(
            d, act_bytes, buffer["act_write_bytes"], t.in_channels, buffer["slices"], t.linear, batch
        )
    if memory_s is None:
        memory_s = mem.transfer_time(w_bytes, act_bytes, d, clock_hz, streams)
    time_s = _layer_time(compute_s, memory_s, d, None if streams is None else streams["latency_ns"])

    multipliers = _col(d, "k_vec") * _col(d, "c_vec") * wino["pixel_multipliers"] * _col(d, "lanes")
    useful = _stack(tables, index, "useful_macs") * batch  # direct-convolution MACs
    # multiplies performed: a folded layer's zero-padded taps too, a Winograd layer's fewer
    performed = power.winograd_multiplies(useful * folding["filter_expansion"], wino["multiply_ratio"])
    issued = mac_cycles * np.where(dw["on_block"], dw["lanes"], multipliers)
    dram_bytes = w_bytes + act_bytes
    return {
        "compute_cycles": cycles,
        "pe_cycles": pe,
        "drain_cycles": drain,
        "aux_cycles": aux,
        "compute_s": compute_s,
        "weight_bytes": w_bytes,
        "act_bytes": act_bytes,
        "act_write_bytes": buffer["act_write_bytes"],
        "dram_bytes": dram_bytes,
        "memory_s": memory_s,
        "time_s": time_s,
        "useful_macs": useful,
        "performed_macs": performed,
        "issued_macs": issued,
        "spill": buffer["sliced"],
        "slices": buffer["slices"],
        "shortcut_spill_bytes": buffer["shortcut_spill"],
        "weight_fetches": fetch["fetches"],
        "resident_excess": fetch["resident_excess"],
        "multipliers": multipliers[:, 0],
        "resources": used,
        **clock,
        "mac_j": power.mac_energy(device, d, performed, issued),
        "sram_j": power.sram_energy(
            device, d, _sram_bits(t, tables, index, d, fmt, mac_cycles, dw, batch, wino)
        ),
        "dram_j": power.dram_energy(d, dram_bytes),
        "logic_j": power.logic_energy(device, d, clock_hz, used["alm"], time_s),
    }


def totals(
    per_layer: dict[str, Any], d: dict[str, np.ndarray], device: Device, dense_macs: float, batch: int
) -> dict[str, np.ndarray]:
    """Network figures per design point (1-D arrays).

    Args:
        per_layer: the per-layer quantities (`evaluate`).
        d: the design arrays (`design_arrays`), one entry per design: `mem_kind`, `clock_mhz`,
            `mem_channels`, `mem_data_rate_mtps` (the device checks) and the power model's columns.
        device: the FPGA (`hw.load_device`): static power and limits.
        dense_macs: the model's dense MACs for one image (`Workload.macs`).
        batch: images per batch.

    Returns:
        Column -> (designs,) array (docs/model.md#network-figures): `latency_s` (a batch),
        `fps`, `power_w`, `energy_j_per_frame`, `fps_per_w`, `gops_effective`,
        `gops_dense_equiv`, `gops_peak`, `utilization`, `compute_s`, `memory_s`, `stall_s`,
        `memory_bound_share`, `drain_bound_share`, `dram_mb_per_frame`, `bound` ("memory" or
        "compute"), `dsp`, `m20k`, `alm`, `esram`, `fmax_mhz`, `clock_mhz_used`, `dynamic_w`,
        `static_w`, `feasible` (bool) and `violation` (text; "" when feasible).
    """
    latency = per_layer["time_s"].sum(axis=1)
    compute = per_layer["compute_s"].sum(axis=1)
    memory = per_layer["memory_s"].sum(axis=1)
    dynamic = sum(per_layer[k].sum(axis=1) for k in _ENERGY_TERMS)
    static_w = power.static_power(device, d)
    energy = dynamic + static_w * latency
    watts = energy / latency
    fps = batch / latency
    useful = per_layer["useful_macs"].sum(axis=1)
    memory_bound = per_layer["memory_s"] > per_layer["compute_s"]
    drain_bound = ~memory_bound & (
        per_layer["drain_cycles"] > np.maximum(per_layer["pe_cycles"], per_layer["aux_cycles"])
    )
    used = per_layer["resources"]
    over = device_excess(device, used, d)
    over["filter_scratchpad"] = per_layer["resident_excess"]  # weights_resident: all must fit
    return {
        "latency_s": latency,
        "fps": fps,
        "power_w": watts,
        "energy_j_per_frame": energy / batch,
        "fps_per_w": fps / watts,
        "gops_effective": OPS_PER_MAC * useful / latency / GIGA,
        "gops_dense_equiv": OPS_PER_MAC * dense_macs * batch / latency / GIGA,
        "gops_peak": OPS_PER_MAC * per_layer["multipliers"] * per_layer["clock_mhz_used"] * MEGA / GIGA,
        "utilization": per_layer["performed_macs"].sum(axis=1) / per_layer["issued_macs"].sum(axis=1),
        "compute_s": compute,
        "memory_s": memory,
        "stall_s": latency - compute,
        "memory_bound_share": (per_layer["time_s"] * memory_bound).sum(axis=1) / latency,
        "dram_mb_per_frame": per_layer["dram_bytes"].sum(axis=1) / batch / MEGA,
        "bound": np.where(memory > compute, "memory", "compute"),
        "dsp": used["dsp"],
        "m20k": used["m20k"],
        "alm": used["alm"],
        "esram": used["esram"],
        "fmax_mhz": per_layer["fmax_mhz"],
        "clock_mhz_used": per_layer["clock_mhz_used"],
        "drain_bound_share": (per_layer["time_s"] * drain_bound).sum(axis=1) / latency,
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
    fidelity: int = traffic.DEFAULT_FIDELITY,
) -> pd.DataFrame:
    """Evaluate many design points (rows with DESIGN_COLUMNS, see `design_row`) in one call.

    Designs sharing a packing (mode, k_vec, alpha, gamma) share one packed workload, memoised in
    memory and cached on disk.

    Args:
        sparse: the SparseModel (`pruning.prune`, `checkpoint.load`).
        designs: one row per design, as `design_row` makes them.
        device: the FPGA (`hw.load_device`).
        batch: images per run (>= 1).
        cache: where packings are cached on disk (True: the default folder, None: no cache).
        fidelity: 0 or 1 (level 2 replays one design's traffic: `simulate`).

    Returns:
        The design table with the network figures appended (`fps`, `power_w`, `feasible`, ...,
        and `fidelity`: the memory level each design's figures were computed at,
        `_memory_fidelity`).

    Raises:
        UsageError: an argument of the wrong type, an empty table, a missing column, a value out
            of its range, or fidelity 2.
    """
    if traffic.check_fidelity(fidelity) == 2:
        raise UsageError("fidelity 2 replays one design's traffic: use simulate(), not simulate_batch()")
    check_type(sparse, SparseModel, "sparse", "pruning.prune(...) or checkpoint.load(path)")
    check_type(designs, pd.DataFrame, "designs", "a table of design_row() rows: pd.DataFrame([...])")
    _check_hardware(device=device)
    _check_batch(batch)
    if designs.empty:
        raise UsageError("designs: the table has no rows (one row per design: design_row(arch, memory))")
    designs = designs.reset_index(drop=True)
    d = design_arrays(designs)
    d.update(uncertainty.coefficient_arrays(designs))  # sampled device coefficients, if any
    _check_designs(d, device)
    packed_alpha = np.where(d["mode"] == "packed", d["alpha"], 1)
    packed_gamma = np.where(d["mode"] == "packed", d["gamma"], 0.0)
    keys = pd.MultiIndex.from_arrays([d["mode"], d["k_vec"], packed_alpha, packed_gamma])
    index, unique = pd.factorize(keys)
    tables = [packed_table(sparse, m, k, a, g, cache=cache) for m, k, a, g in unique]
    per_layer = evaluate(tables, index, d, device, batch, fidelity)
    figures = totals(per_layer, d, device, sparse.workload.macs, batch)
    figures["fidelity"] = _memory_fidelity(fidelity, d["mem_dram"])
    return pd.concat([designs, pd.DataFrame(figures)], axis=1)


def _memory_fidelity(level: int, dram: np.ndarray | str) -> np.ndarray:
    """The memory model's level that a design's figures were computed at: the level asked for,
    or 0 for a memory that names no DRAM device (level 1 then falls back to the flat
    controller_efficiency, docs/dram.md#fidelity-levels, "Which device").

    Args:
        level: the level asked for (0, 1 or 2).
        dram: the memories' DRAM device names (`mem_dram`), one per design, or one name.

    Returns:
        The level per design, int64 of the shape of `dram`.
    """
    names = np.asarray(dram, dtype=object)
    named = (names != "") & ~pd.isna(names)  # a table read from CSV holds NaN for an empty name
    return np.where(named, level, 0).astype(np.int64)


_LAYER_OUTPUTS = (
    "compute_cycles",
    "pe_cycles",
    "drain_cycles",
    "aux_cycles",
    "compute_s",
    "memory_s",
    "time_s",
    "weight_bytes",
    "act_bytes",
    "dram_bytes",
    "useful_macs",
    "performed_macs",
    "issued_macs",
    "spill",
    "slices",
    "shortcut_spill_bytes",
    "weight_fetches",
    *_ENERGY_TERMS,
)


@dataclass
class Result:
    """One design point: network totals, and the per-layer table (built when first read)."""

    totals: pd.Series
    per_layer: dict[str, Any] = field(repr=False)
    table: LayerTable = field(repr=False)
    batch: int
    arch: Architecture
    memory: Memory
    device: Device
    mode: str
    fidelity: int = traffic.DEFAULT_FIDELITY
    replays: list = field(default_factory=list, repr=False)  # fidelity 2: one traffic.Replay a layer

    @cached_property
    def layers(self) -> pd.DataFrame:
        """Per layer: MACs, compute vs memory time, bytes, energy, the bound and what limits compute.

        Returns:
            One row per compute layer, in workload order: `layer`, `kind`, `macs` (dense, for
            the batch), the per-layer outputs of `evaluate` (_LAYER_OUTPUTS: cycles, seconds,
            bytes per batch, MACs, energies in joules), `bound` ("memory" or "compute"),
            `compute_limit` ("pe", "drain" or "aux") and `utilization`. Built on first read.
        """
        frame = pd.DataFrame(
            {
                "layer": self.table.names,
                "kind": self.table.kinds,
                "macs": self.table.macs * self.batch,
                **{k: self.per_layer[k][0] for k in _LAYER_OUTPUTS},
            }
        )
        frame["bound"] = np.where(frame["memory_s"] > frame["compute_s"], "memory", "compute")
        # what limits the compute side: the PE array, the output drain or an auxiliary block
        cycles = frame[["pe_cycles", "drain_cycles", "aux_cycles"]].to_numpy()
        frame["compute_limit"] = np.array(["pe", "drain", "aux"])[cycles.argmax(axis=1)]
        frame["utilization"] = frame["performed_macs"] / frame["issued_macs"]
        return frame


def simulate(
    target: SparseModel | packing.PackedWorkload,
    arch: Architecture,
    memory: Memory,
    device: Device,
    mode: str = "packed",
    batch: int = 1,
    cache: packing.CacheSpec = packing.DEFAULT_CACHE,
    fidelity: int = traffic.DEFAULT_FIDELITY,
) -> Result:
    """Simulate one design point on a sparse model (packed here, with the arch's k_vec, alpha and
    gamma) or on an already packed workload (its mode, k_vec, alpha and gamma are used; k_vec must
    match; a packed workload's alpha and gamma replace the architecture's).

    Args:
        target: a SparseModel (`pruning.prune`, `checkpoint.load`) or a PackedWorkload
            (`packing.pack`, `packing.load_packed`).
        arch: the DLA array (`hw.load_architecture`).
        memory: the memory system (`hw.load_memory`).
        device: the FPGA (`hw.load_device`).
        mode: dense, unpacked, packed or nm (ignored for a PackedWorkload: it has its own).
        batch: images per run (>= 1).
        cache: where packings are cached on disk (True: the default folder, None: no cache).
        fidelity: 0 analytical, 1 with the cycle model's efficiencies, 2 replaying every layer's
            traffic through the cycle model (sim/traffic.py; Result.replays holds the replays).

    Returns:
        The Result: `totals` (frames/s, W, frames/s/W, bound, resources, feasibility) and
        `layers` (per layer: compute vs memory time, bytes, energy).

    Raises:
        UsageError: an argument of the wrong type or value, hardware that does not go together
            (a precision the device lacks, a clock above its maximum), a packing made for
            another k_vec, or fidelity 2 with a memory that names no DRAM device.
    """
    check_type(
        target,
        (SparseModel, packing.PackedWorkload),
        "target",
        "pruning.prune(...), checkpoint.load(path) or packing.pack(...)",
    )
    _check_hardware(arch=arch, memory=memory, device=device)
    traffic.check_fidelity(fidelity)
    check_compatible(arch, memory, device)
    _check_batch(batch)
    if isinstance(target, packing.PackedWorkload):
        if target.k_vec != arch.k_vec:
            raise UsageError(f"packed for k_vec {target.k_vec}, but the architecture has k_vec {arch.k_vec}")
        mode = target.mode
        if mode == "packed" and (target.alpha, target.gamma) != (arch.alpha, arch.gamma):
            # the packing sets the muxes the array needs: its alpha sizes ALMs, fMAX and power
            arch = arch.model_copy(update={"alpha": target.alpha, "gamma": target.gamma})
    d = design_arrays([design_row(arch, memory, mode)])
    # the Winograd rules before packing (a mode Winograd cannot run packs nothing), the others
    # after it (packing names an unknown mode in its own words): each rule checked once
    _check_winograd(d)
    if isinstance(target, packing.PackedWorkload):
        table = _workload_table(target)
    else:
        table = packed_table(target, mode, arch.k_vec, arch.alpha, arch.gamma, cache)
    _check_columns(d, device)
    per_layer = evaluate([table], np.zeros(1, dtype=int), d, device, batch, fidelity)
    replays: list = []
    if fidelity == 2:
        clock_hz = float(per_layer["clock_mhz_used"][0]) * MEGA
        memory_s, replays = traffic.level2_memory_s(per_layer, table, memory, clock_hz, batch, arch.c_vec)
        per_layer = evaluate([table], np.zeros(1, dtype=int), d, device, batch, fidelity, memory_s[None, :])
    figures = totals(per_layer, d, device, float(table.macs.sum()), batch)
    figures["fidelity"] = _memory_fidelity(fidelity, np.array([memory.dram]))
    return Result(
        pd.Series({k: v[0] for k, v in figures.items()}),
        per_layer,
        table,
        batch,
        arch,
        memory,
        device,
        mode,
        fidelity,
        replays,
    )
