"""The DLA's DRAM traffic and the simulator's fidelity levels (docs/dram.md#fidelity-levels).

- Level 0: the analytical model with the memory config's flat `controller_efficiency`.
- Level 1: the same model, with the efficiency of each of a layer's streams (weight reads,
  feature-map reads, feature-map writes) and the access latency taken from the cycle model's
  efficiency table of the memory's DRAM device (`Memory.dram`), computed once per device and
  cached on disk (sim/dram/efficiency.py).
- Level 2: each layer's whole traffic, generated as requests by `layer_streams` (the DLA's DMA
  order and layout, spread over channels by the placement) and replayed through the cycle model;
  the layer's memory time is the replay's completion time.

The streams are built from the per-layer bytes and slicing the simulator computes (weight bytes
and fetches, feature-map reads with halo rows, writes, spills): addresses are generated with
numpy, never one request at a time.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import threading
from typing import Any

import numpy as np

from dla_explorer.core.errors import UsageError, check_type
from dla_explorer.core.units import BITS_PER_BYTE, GIGA, MEGA
from dla_explorer.sim.dram import controller as k
from dla_explorer.sim.dram.config import DramConfig, load_dram
from dla_explorer.sim.dram.efficiency import efficiency_table
from dla_explorer.sim.dram.model import decode, params

__all__ = [
    "CARRY_STATE",
    "DEFAULT_FIDELITY",
    "INTERLEAVE_BYTES",
    "REGIONS",
    "RUN_CLASSES",
    "LayerStream",
    "Replay",
    "check_fidelity",
    "device_table",
    "layer_streams",
    "level1_streams",
    "level2_memory_s",
    "replay",
    "replay_frame",
    "sustained_gbps",
]

_FIDELITY_LEVELS = (0, 1, 2)
DEFAULT_FIDELITY = 1
_REQUEST_BYTES = 64  # the DLA's DMA issues 64-B requests (FPGA AI Suite ddr_data_bytes 64)
# Interleaved placement: consecutive blocks of this many bytes go to consecutive channels. An
# estimate (the EMIF / HBM2 fabric interleave is a design choice); range 256 B - 4 KiB.
INTERLEAVE_BYTES = 1024
# Level 1, feature-map reads: a read run (the contiguous bytes of one channel group's slice) of
# these lengths behaves like these efficiency-table classes; between them the efficiency is
# interpolated in log2(run). 64 B: one request per run (random lines); 1 KiB: the table's tiled
# feature map (1-KiB tiles); 8 KiB and more: a sequential stream (runs cover whole DRAM rows).
RUN_CLASSES = ((64.0, "random_read"), (1024.0, "tiled_fmap"), (8192.0, "seq_read"))
# Each channel's address space is cut into REGIONS equal regions: weights (every layer's filters
# one after the other, as the compiler lays them out), and two feature-map buffers that the
# layers use in turn (layer i reads buffer i % 2 and writes the other, which layer i + 1 reads).
# The region size is a quarter of a channel's capacity when the device is known (level 2), else
# _DEFAULT_REGION_BYTES, which fits every shipped channel (HBM2 pseudo-channel: 512 MiB). Regions
# are offsets of the address *within* a channel: flat offsets (the old 16 / 32 GiB bases) wrapped
# to address 0 of a channel smaller than them, so weights, inputs and outputs aliased.
REGIONS = 4
WEIGHT_REGION, FMAP_REGIONS = 0, (1, 2)
_DEFAULT_REGION_BYTES = 1 << 26
# Level 2 replays a frame's layers as one request stream (the controller's queues, open rows and
# refresh phase carry over from layer to layer); False replays each layer from idle banks.
CARRY_STATE = True
# the memory's estimate (a factor with its range in the YAML) that scales each class level 1 uses:
# the real controller against the modelled one on sequential streams and on short runs
_EFFICIENCY_SCALE = {
    "seq_read": "seq_efficiency_scale",
    "seq_write": "seq_efficiency_scale",
    "seq_read_write": "seq_efficiency_scale",
    "random_read": "run_efficiency_scale",
    "tiled_fmap": "run_efficiency_scale",
}


# the highest clock sustained_gbps takes: FPGA fabric clocks are below 1-2 GHz, so a larger number
# is a clock given in Hz, not MHz
_MAX_CLOCK_MHZ = 10_000


def check_fidelity(level: int) -> int:
    """The memory fidelity level as an int.

    Args:
        level: 0 (analytical), 1 (the cycle model's efficiencies) or 2 (replayed traffic).

    Returns:
        `level`, as an int.

    Raises:
        UsageError: any other value.
    """
    if level not in _FIDELITY_LEVELS:
        raise UsageError(f"fidelity = {level}: must be one of 0, 1, 2")
    return int(level)


def _uncapped(cfg: DramConfig) -> DramConfig:
    """The device without its own port cap: the simulator applies the DLA's port at its clock."""
    ctl = cfg.controller.model_copy(update={"port_width_bits": None, "port_clock_mhz": None})
    return cfg.model_copy(update={"controller": ctl})


@functools.lru_cache(maxsize=32)
def device_table(name: str) -> dict[str, dict[str, float]]:
    """The efficiency table of a DRAM device (in memory per process, on disk across processes).

    The device is measured without its own port cap (the simulator applies the DLA's port at the
    DLA's clock).

    Args:
        name: a DRAM config: a name in hw_configs/dram/ (`Memory.dram`) or a YAML path.

    Returns:
        Traffic class (seq_read, seq_write, seq_read_write, random_read, tiled_fmap,
        random_read_qd1, ...; dram/efficiency.py TRAFFIC_CLASSES) -> `efficiency` (share of peak,
        0..1), `bandwidth_gbps`, `avg_read_latency_ns`, `row_hit_rate` and `pj_per_bit`.

    Raises:
        UsageError: no DRAM config of that name, or one that does not validate.
    """
    return efficiency_table(_uncapped(load_dram(name)))


def _per_design(names: np.ndarray, cls: str, key: str = "efficiency") -> np.ndarray:
    """One figure of a traffic class per design; NaN where the memory names no DRAM device."""
    out = np.full(names.shape[0], np.nan)
    for name in np.unique(names):
        if name:
            out[names == name] = device_table(str(name))[cls][key]
    return out


def level1_streams(
    d: dict[str, np.ndarray],
    act_bytes: np.ndarray,
    act_write_bytes: np.ndarray,
    in_channels: np.ndarray,
    slices: np.ndarray,
    linear: np.ndarray,
    batch: int,
) -> dict[str, np.ndarray]:
    """Level 1: the efficiency of each stream of each layer (designs x layers) and the latency
    (docs/dram.md#fidelity-levels).

    Weight reads are sequential (seq_read). Feature-map reads go by run length (RUN_CLASSES): the
    DLA stores a map as c_vec-deep channel groups, each group's rows contiguous, so one slice of
    one group is one run. Writes are sequential; when the layer also reads maps they share the
    bus with the reads (seq_read_write: the read/write turnaround). Each class's efficiency is
    scaled by the memory's estimate for it (_EFFICIENCY_SCALE; capped at 1). A design whose memory
    names no DRAM device keeps its flat controller_efficiency.

    Args:
        d: the design arrays (`simulator.design_arrays`), one entry per design: `c_vec`,
            `mem_controller_efficiency`, and where present `mem_dram` (the DRAM device; "" for
            none) and `mem_seq_efficiency_scale` / `mem_run_efficiency_scale`.
        act_bytes: feature-map bytes read and written per batch, (designs x layers).
        act_write_bytes: the written part of `act_bytes`, (designs x layers).
        in_channels: input channels C per layer, (layers,).
        slices: output-row slices per layer (`memory.stream_buffer`), (designs x layers).
        linear: True for fully connected layers (one channel group), (layers,).
        batch: images per batch (a feature-map run is one image's slice of one channel group).

    Returns:
        `eff_weight`, `eff_act_read`, `eff_act_write` (shares of peak, 0..1) and
        `act_read_bytes`, `act_write_bytes` (bytes per batch), each (designs x layers); and
        `latency_ns`, (designs,): the device's unloaded read latency in ns (NaN where the memory
        names no DRAM device).
    """
    names = np.asarray(d["mem_dram"]).astype(str) if "mem_dram" in d else np.full(len(d["k_vec"]), "")
    flat = d["mem_controller_efficiency"].astype(np.float64)[:, None]

    def cls(name: str) -> np.ndarray:
        e = _per_design(names, name)[:, None]
        column = f"mem_{_EFFICIENCY_SCALE[name]}"
        scale = np.asarray(d[column], dtype=np.float64)[:, None] if column in d else 1.0
        return np.where(np.isnan(e), flat, np.minimum(e * scale, 1.0))

    reads = act_bytes - act_write_bytes
    groups = np.where(linear, 1.0, np.ceil(in_channels / d["c_vec"][:, None]))
    run = reads / max(batch, 1) / (groups * slices)
    x = np.log2(np.clip(run, RUN_CLASSES[0][0], RUN_CLASSES[-1][0]))
    points = np.log2([r for r, _ in RUN_CLASSES])
    effs = [cls(c) for _, c in RUN_CLASSES]
    eff_read = effs[-1]
    for i in range(len(points) - 2, -1, -1):  # piecewise linear in log2(run)
        w = (x - points[i]) / (points[i + 1] - points[i])
        seg = effs[i] + (effs[i + 1] - effs[i]) * w
        eff_read = np.where(x <= points[i + 1], seg, eff_read)
    eff_write = np.where(reads > 0, cls("seq_read_write"), cls("seq_write"))
    shape = act_bytes.shape
    return {
        "eff_weight": np.broadcast_to(cls("seq_read"), shape),
        "eff_act_read": eff_read,
        "eff_act_write": eff_write,
        "act_read_bytes": reads,
        "act_write_bytes": act_write_bytes,
        "latency_ns": _per_design(names, "random_read_qd1", "avg_read_latency_ns"),
    }


def sustained_gbps(memory: Any, clock_mhz: float, fidelity: int = DEFAULT_FIDELITY) -> float:
    """GB/s the whole memory sustains on a long sequential read at this fidelity level (the weight
    stream's figure; docs/dram.md#fidelity-levels): per channel min(peak x efficiency, port width x
    the DLA clock), with the flat controller_efficiency at level 0 (or without a DRAM device), else
    the cycle model's seq_read efficiency (times the memory's seq_efficiency_scale at level 1, where
    it acts).

    Args:
        memory: the memory system (`hw.load_memory`).
        clock_mhz: the DLA clock in MHz (the user ports run at it).
        fidelity: 0, 1 or 2 (see check_fidelity).

    Returns:
        GB/s (1e9 bytes a second) of the whole memory.

    Raises:
        UsageError: `memory` is not a Memory, the clock is not a number in (0, _MAX_CLOCK_MHZ], or
            the fidelity is not 0, 1 or 2.
    """
    from dla_explorer.sim.config import Memory  # config is a sibling: imported where it is used

    check_type(memory, Memory, "memory", "hw.load_memory(name or path)")
    if (
        isinstance(clock_mhz, bool)
        or not isinstance(clock_mhz, numbers.Real)
        or not 0 < clock_mhz <= _MAX_CLOCK_MHZ
    ):
        # 0 or a negative clock gave 0 or negative GB/s; 400e6 (Hz, not MHz) lifted the port cap
        raise UsageError(
            f"clock_mhz = {clock_mhz!r}: must be a clock in MHz in (0, {_MAX_CLOCK_MHZ:,}] (400, not 400e6)"
        )
    level = check_fidelity(fidelity)
    peak = memory.data_rate_mtps * MEGA * memory.bus_width_bits / BITS_PER_BYTE
    if level >= 1 and memory.dram:
        scale = memory.seq_efficiency_scale if level == 1 else 1.0
        efficiency = min(device_table(memory.dram)["seq_read"]["efficiency"] * scale, 1.0)
    else:
        efficiency = memory.controller_efficiency
    per_channel = peak * efficiency
    if memory.port_width_bits:
        per_channel = min(per_channel, memory.port_width_bits / BITS_PER_BYTE * clock_mhz * MEGA)
    return memory.channels * per_channel / GIGA


# ---- level 2: the requests of each layer and their replay ----------------------------------


@dataclasses.dataclass(frozen=True)
class LayerStream:
    """One layer's requests in DMA issue order: channel, byte address within the channel, write."""

    channel: np.ndarray
    address: np.ndarray
    is_write: np.ndarray
    kind: np.ndarray  # 0 weight read, 1 feature-map read, 2 feature-map write

    def __len__(self) -> int:
        return int(self.channel.shape[0])


def _runs(starts: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Byte addresses of _REQUEST_BYTES requests covering runs (start, number of requests)."""
    lines = lines.astype(np.int64)
    total = int(lines.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    first = np.repeat(np.cumsum(lines) - lines, lines)
    offset = np.arange(total, dtype=np.int64) - first
    return np.repeat(starts.astype(np.int64), lines) + offset * _REQUEST_BYTES


def _place(addr: np.ndarray, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat addresses -> (channel, address within the channel) over `count` channels from
    `first`, interleaved every INTERLEAVE_BYTES."""
    block = addr // INTERLEAVE_BYTES
    channel = first + block % count
    local = (block // count) * INTERLEAVE_BYTES + addr % INTERLEAVE_BYTES
    return channel, local


def layer_streams(
    *,
    weight_bytes: np.ndarray,
    weight_fetches: np.ndarray,
    act_bytes: np.ndarray,
    act_write_bytes: np.ndarray,
    slices: np.ndarray,
    in_channels: np.ndarray,
    out_channels: np.ndarray,
    linear: np.ndarray,
    c_vec: int,
    channels: int,
    weight_channels: int,
    batch: int = 1,
    region_bytes: int = _DEFAULT_REGION_BYTES,
) -> list[LayerStream]:
    """The requests of every layer of one design (1-D per-layer arrays, bytes per batch;
    docs/dram.md#fidelity-levels, level 2).

    Per layer and slice, in DMA order: the slice's filter fetch (weights are fetched
    `weight_fetches` times, spread evenly over the slices), the slice's input rows of every
    channel group (halo rows included: consecutive slices' runs overlap) and the slice's output
    rows of every output channel group. The three streams of a slice are interleaved request by
    request in proportion to their lengths, as the DMA's read and write engines run side by side.
    Weights live on their own channels when `weight_channels` > 0, else everything is
    interleaved over all channels. Within a channel, weights sit in the weight region (each
    layer's after the previous layer's) and feature maps in the two buffers of the map regions
    (`region_bytes` each; see REGIONS).

    Args:
        weight_bytes: DRAM bytes of weights per layer and batch, all fetches together, (layers,).
        weight_fetches: times each layer's weights cross DRAM per batch, (layers,); rounded to a
            whole number >= 1.
        act_bytes: feature-map bytes read and written per layer and batch, (layers,).
        act_write_bytes: the written part of `act_bytes`, (layers,).
        slices: output-row slices per layer (`memory.stream_buffer`), (layers,).
        in_channels: input channels C per layer, (layers,).
        out_channels: output channels K per layer, (layers,).
        linear: True for fully connected layers (one channel group), (layers,).
        c_vec: channels per stored channel group (the design's c_vec).
        channels: memory channels (pseudo-channels on HBM2).
        weight_channels: channels reserved for weights (the first ones); 0 interleaves
            everything over all channels.
        batch: images per batch.
        region_bytes: bytes of each region within a channel (`_region_bytes_of`).

    Returns:
        One LayerStream per layer, in layer order: the 64-B requests (_REQUEST_BYTES) in DMA
        issue order, each with its channel, its byte address within the channel, whether it is a
        write, and its kind (0 weight read, 1 feature-map read, 2 feature-map write).
    """
    out: list[LayerStream] = []
    weight_offset = 0
    for i in range(weight_bytes.shape[0]):
        n_slices = max(1, int(slices[i]))
        fetches = max(1, int(round(weight_fetches[i])))
        per_fetch = weight_bytes[i] / fetches
        w_lines = np.full(fetches, math.ceil(per_fetch / _REQUEST_BYTES))
        w_addr = _runs(np.full(fetches, weight_offset), w_lines) if per_fetch > 0 else np.zeros(0, np.int64)
        w_slice = np.repeat(np.arange(fetches) * n_slices // fetches, w_lines) if per_fetch > 0 else w_addr
        if per_fetch > 0:  # the next layer's filters follow this layer's, line aligned
            weight_offset += int(w_lines[0]) * _REQUEST_BYTES

        reads = act_bytes[i] - act_write_bytes[i]
        in_groups = 1 if linear[i] else max(1, math.ceil(in_channels[i] / c_vec))
        out_groups = 1 if linear[i] else max(1, math.ceil(out_channels[i] / c_vec))
        r_addr, r_slice = _map_runs(reads, batch, n_slices, in_groups, 0, overlap=True)
        o_addr, o_slice = _map_runs(act_write_bytes[i], batch, n_slices, out_groups, 0, overlap=False)

        addr = np.concatenate([w_addr, r_addr, o_addr])
        kind = np.concatenate(
            [np.zeros(w_addr.size, np.int8), np.ones(r_addr.size, np.int8), np.full(o_addr.size, 2, np.int8)]
        )
        slice_of = np.concatenate([w_slice, r_slice, o_slice])
        # position of each request within its stream's share of the slice, 0..1
        frac = np.zeros(addr.size)
        for code in (0, 1, 2):
            sel = kind == code
            if sel.any():
                s = slice_of[sel]
                counts = np.bincount(s, minlength=n_slices)
                rank = np.arange(s.size) - np.repeat(np.cumsum(counts) - counts, counts)
                frac[sel] = (rank + 0.5) / counts[s]
        order = np.lexsort((kind, frac, slice_of))
        addr, kind = addr[order], kind[order]
        if weight_channels > 0:
            w_ch, w_loc = _place(addr, 0, weight_channels)
            a_ch, a_loc = _place(addr, weight_channels, channels - weight_channels)
            is_w = kind == 0
            channel, local = np.where(is_w, w_ch, a_ch), np.where(is_w, w_loc, a_loc)
        else:
            channel, local = _place(addr, 0, channels)
        # region within the channel: weights, then this layer's input and output buffers
        region = np.array([WEIGHT_REGION, FMAP_REGIONS[i % 2], FMAP_REGIONS[(i + 1) % 2]], np.int64)
        local = local % region_bytes + region[kind] * region_bytes
        out.append(LayerStream(channel.astype(np.int64), local.astype(np.uint64), kind == 2, kind))
    return out


def _region_bytes_of(cfg: DramConfig) -> int:
    """A quarter of one channel's capacity (the decoded fields' span), at least one row.

    Args:
        cfg: the DRAM device (`dram.config.load_dram`).

    Returns:
        The region size in bytes (capacity / REGIONS, at least one row's bytes).
    """
    bits = sum(cfg.field_bits().values()) - cfg.field_bits()["ch"]
    capacity = (1 << bits) * cfg.organization.burst_bytes
    return max(capacity // REGIONS, cfg.organization.row_bytes)


def _map_runs(
    total: float, batch: int, n_slices: int, groups: int, base: int, *, overlap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Requests of a feature map moved in `n_slices` row slices of `groups` channel groups per
    image: (addresses, slice of each). With overlap (reads with halo) a slice's run reaches into
    the next slice's rows."""
    if total <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    runs = batch * n_slices * groups
    run_lines = max(1, math.ceil(total / runs / _REQUEST_BYTES))
    image_bytes = total / batch
    group_pitch = image_bytes / groups
    step = group_pitch / n_slices
    grid = np.meshgrid(np.arange(batch), np.arange(n_slices), np.arange(groups), indexing="ij")
    # slice-major order: per image, slice after slice, each slice's channel groups in turn
    img, s, g = (a.ravel() for a in grid)
    starts = base + img * image_bytes + g * group_pitch + (s * step if overlap or n_slices > 1 else 0)
    starts = (np.floor(starts / _REQUEST_BYTES) * _REQUEST_BYTES).astype(np.int64)
    lines = np.full(starts.size, run_lines)
    return _runs(starts, lines), np.repeat(s, run_lines)


@dataclasses.dataclass(frozen=True)
class Replay:
    """A layer's replay: its memory time (ns), the bytes each channel moved and when each channel
    finished the layer's requests (ns from the layer's memory start `start_ns`, the frame's
    stream position when the layer's traffic began; 0 for a layer replayed on its own)."""

    time_ns: float
    channel_bytes: np.ndarray
    channel_done_ns: np.ndarray
    row_hit_rate: float  # of the replay: the layer's, or the whole frame's when replayed as one
    start_ns: float = 0.0


def _channel_config(name: str) -> DramConfig:
    cfg = _uncapped(load_dram(name))
    org = cfg.organization.model_copy(update={"channels": 1})
    return cfg.model_copy(update={"organization": org})


_REUSE_MAX = 1 << 20  # bursts: work arrays reused up to this size (24 MB per thread), else fresh
_local = threading.local()


def _work(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The controller's per-burst arrays of one replay (acceptance and completion clocks, port
    clocks), views of the thread's buffers grown to the largest replay so far: fresh ones were
    faulted in page by page during the run (~240 faults and ~10% of the controller's time on
    the DDR4 frame trace, measured). The controller writes every entry; the callers copy what
    they keep."""
    if n > _REUSE_MAX:
        return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    pool: np.ndarray | None = getattr(_local, "work", None)
    if pool is None or pool.shape[1] < n:
        pool = np.empty((3, max(n, 1024)), np.int64)
        _local.work = pool
    return pool[0, :n], pool[1, :n], pool[2, :n]


def _simulate(
    cfg: DramConfig,
    channel: np.ndarray,
    address: np.ndarray,
    is_write: np.ndarray,
    channels: int,
    port_bytes_per_s: float,
    arrival: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Run requests (in order; each available from its `arrival` clock, default all at once)
    through the controller: (per request the clock its last burst was accepted, the clock its
    channel is done with it: a read's data returned, a write's burst written, the controller's
    counters, tCK in ns)."""
    burst = cfg.organization.burst_bytes
    per = max(1, _REQUEST_BYTES // burst)
    addr = (address[:, None] + np.arange(per, dtype=np.uint64) * np.uint64(burst)).ravel()
    _, bank, row = decode(cfg, addr)
    ch = np.repeat(channel, per)
    writes = np.repeat(is_write, per)
    p = params(cfg)
    p[k.P_CHANNELS] = channels
    tck = cfg.timing.tck_ns
    interval = burst / port_bytes_per_s / (tck * 1e-9) if port_bytes_per_s > 0 else 0.0
    n = addr.shape[0]
    added, done, avail = _work(n)
    stats = np.zeros(k.S_NSTATS, np.int64)
    # the line identifies a burst for write forwarding and merging: unique over the channels
    line = (addr >> np.uint64(int(math.log2(burst)))).astype(np.int64) * channels + ch
    offered = np.zeros(n, np.int64) if arrival is None else np.repeat(arrival, per)
    k.simulate(p, ch, bank, row, writes, line, offered, float(interval), added, done, stats, avail)
    accepted = added.reshape(-1, per).max(axis=1)
    # a merged write has no burst of its own (done = accepted + 1)
    end = np.maximum(done, added).reshape(-1, per).max(axis=1)
    return accepted, end, stats, tck


def _hit_rate(stats: np.ndarray) -> float:
    columns = int(stats[k.S_RD] + stats[k.S_WR])
    return int(stats[k.S_RD_HIT] + stats[k.S_WR_HIT]) / columns if columns else 0.0


def replay(
    dram: str | DramConfig, stream: LayerStream, channels: int, port_bytes_per_s: float = 0.0
) -> Replay:
    """Replay one layer's requests through the cycle model from idle banks
    (docs/dram.md#fidelity-levels, level 2): every memory channel is one channel of the DRAM device
    (its bank and row decoded by the device's address map within the channel), all requests
    available at once (the DMA runs ahead of compute), the DLA's port at `port_bytes_per_s` per
    channel (0: none).

    Args:
        dram: a DRAM config name in hw_configs/dram/ (taken as one channel, without the device's
            own port cap), or a DramConfig used as given (level2_memory_s passes that one-channel
            form).
        stream: the layer's requests (`layer_streams`).
        channels: memory channels; the stream's channel numbers are below it.
        port_bytes_per_s: the DLA port's bytes a second per channel (width x the DLA clock); 0:
            no port cap.

    Returns:
        The Replay: memory time in ns, bytes per channel, when each channel finished (ns from
        the start) and the row-hit rate; all zero for an empty stream.

    Raises:
        UsageError: no DRAM config of that name, or one that does not validate.
    """
    cfg = _channel_config(dram) if isinstance(dram, str) else dram
    if len(stream) == 0:
        return Replay(0.0, np.zeros(channels), np.zeros(channels), 0.0)
    _, end, stats, tck = _simulate(
        cfg, stream.channel, stream.address, stream.is_write, channels, port_bytes_per_s
    )
    ch_done = np.zeros(channels)
    np.maximum.at(ch_done, stream.channel, end * tck)
    return Replay(
        time_ns=float(max(stats[k.S_END], end.max()) * tck),
        channel_bytes=np.bincount(stream.channel, minlength=channels) * float(_REQUEST_BYTES),
        channel_done_ns=ch_done,
        row_hit_rate=_hit_rate(stats),
    )


def replay_frame(
    dram: str | DramConfig,
    streams: list[LayerStream],
    channels: int,
    port_bytes_per_s: float = 0.0,
    start_ns: np.ndarray | None = None,
) -> list[Replay]:
    """Replay a frame's layers as one request stream, in layer order, so the controller's queues,
    open rows and refresh phase carry over from one layer to the next (one controller call;
    docs/dram.md#fidelity-levels, level 2).

    Layer i's requests are offered from `start_ns[i]` (when the layer begins in the frame; default
    0: back to back), all at once as within a layer (the DMA runs ahead of compute). Its memory
    time runs from when its traffic can start, max(start_i, E_(i-1)), to E_i, where E_i is the
    clock by which every request of layers 0..i is done (a running maximum). A layer offered
    while the previous one's traffic still runs thus starts after it (the lag is not counted
    twice), and a layer offered after an idle gap is timed from its own start (refreshes that
    fell into the gap cost it nothing).

    Args:
        dram: a DRAM config name in hw_configs/dram/ (taken as one channel, without the device's
            own port cap), or a DramConfig used as given.
        streams: the frame's layers' requests in layer order (`layer_streams`).
        channels: memory channels; the streams' channel numbers are below it.
        port_bytes_per_s: the DLA port's bytes a second per channel; 0: no port cap.
        start_ns: when each layer begins in the frame, ns from the frame's start, (layers,);
            made non-decreasing (a running maximum). None: every layer at 0.

    Returns:
        One Replay per layer, in order: its memory time (ns, from max(start_i, E_(i-1)) to E_i),
        its bytes and done times per channel (ns from the Replay's `start_ns`, that
        max(start_i, E_(i-1))), and the whole frame's row-hit rate.

    Raises:
        UsageError: no DRAM config of that name, or one that does not validate.
    """
    cfg = _channel_config(dram) if isinstance(dram, str) else dram
    sizes = np.array([len(s) for s in streams], np.int64)
    if sizes.sum() == 0:
        return [Replay(0.0, np.zeros(channels), np.zeros(channels), 0.0) for _ in streams]
    tck = cfg.timing.tck_ns
    starts = np.zeros(len(streams), np.int64)
    if start_ns is not None:
        starts = np.ceil(np.maximum.accumulate(np.asarray(start_ns, np.float64)) / tck - 1e-9).astype(
            np.int64
        )
    layer = np.repeat(np.arange(len(streams)), sizes)
    channel = np.concatenate([s.channel for s in streams])
    is_write = np.concatenate([s.is_write for s in streams])
    accepted, written, stats, _ = _simulate(
        cfg,
        channel,
        np.concatenate([s.address for s in streams]),
        is_write,
        channels,
        port_bytes_per_s,
        starts[layer],
    )
    # writes are posted: a layer is done with a write once the controller accepted it (its
    # drain, whenever the write buffer empties, takes bus time from the reads of the layer it
    # falls in); the frame is done when the last write has been written
    end = np.where(is_write, accepted + 1, written)
    last = np.zeros(len(streams), np.int64)
    np.maximum.at(last, layer, end)
    last[-1] = max(last[-1], int(stats[k.S_END]), int(written.max()))
    front = np.maximum.accumulate(np.maximum(last, starts))  # E_i (an empty layer: its start)
    begin = np.maximum(starts, np.concatenate([[0], front[:-1]]))
    # per layer and channel: the channel's last clock on the layer's requests
    ch_last = np.zeros((len(streams), channels), np.int64)
    np.maximum.at(ch_last, (layer, channel), end)
    rate = _hit_rate(stats)
    out = []
    for i in range(len(streams)):
        done = np.clip(ch_last[i] - begin[i], 0, None) * tck
        out.append(
            Replay(
                time_ns=float(front[i] - begin[i]) * tck,
                channel_bytes=np.bincount(streams[i].channel, minlength=channels) * float(_REQUEST_BYTES),
                channel_done_ns=np.where(ch_last[i] > 0, done, 0.0),
                row_hit_rate=rate,
                start_ns=float(begin[i]) * tck,
            )
        )
    return out


def level2_memory_s(
    per_layer: dict[str, Any],
    table: Any,
    memory: Any,
    clock_hz: float,
    batch: int,
    c_vec: int,
    carry_state: bool | None = None,
) -> tuple[np.ndarray, list[Replay]]:
    """Level 2 (docs/dram.md#fidelity-levels): per-layer memory seconds of one design from replaying
    its streams (the frame as one stream when `carry_state`, default CARRY_STATE; else each layer
    from idle banks).
    per_layer: the design's level-1 evaluation (its layer times place each layer's traffic in
    the frame).

    Args:
        per_layer: `simulator.evaluate`'s output for this one design, arrays of (1 x layers):
            `weight_bytes`, `weight_fetches`, `act_bytes`, `act_write_bytes`, `slices` and
            `time_s` (seconds; places each layer's traffic in the frame).
        table: the design's LayerTable (`in_channels`, `out_channels`, `linear`).
        memory: the memory system (`hw.load_memory`); it must name a DRAM device (`dram`).
        clock_hz: the DLA clock in Hz (the clock used): the ports run at it.
        batch: images per batch.
        c_vec: the design's c_vec (the feature maps' channel groups).
        carry_state: True replays the frame as one stream, False each layer from idle banks;
            None: CARRY_STATE.

    Returns:
        The memory seconds per layer, (layers,) float64, and one Replay per layer.

    Raises:
        UsageError: the memory names no DRAM device, or its DRAM config is unknown or invalid.
    """
    if not memory.dram:
        raise UsageError(
            f"memory '{memory.name}': fidelity 2 needs key 'dram' (a config in hw_configs/dram/)"
        )
    cfg = _channel_config(memory.dram)
    streams = layer_streams(
        weight_bytes=per_layer["weight_bytes"][0],
        weight_fetches=per_layer["weight_fetches"][0],
        act_bytes=per_layer["act_bytes"][0],
        act_write_bytes=per_layer["act_write_bytes"][0],
        slices=per_layer["slices"][0],
        in_channels=table.in_channels,
        out_channels=table.out_channels,
        linear=table.linear,
        c_vec=c_vec,
        channels=memory.channels,
        weight_channels=memory.weight_channels,
        batch=batch,
        region_bytes=_region_bytes_of(cfg),
    )
    port = memory.port_width_bits / 8 * clock_hz if memory.port_width_bits else 0.0
    if CARRY_STATE if carry_state is None else carry_state:
        # each layer's traffic is offered when the layer begins by the level-1 schedule (the
        # first evaluation's layer times): its input is the previous layer's output
        time_s = np.asarray(per_layer["time_s"][0], np.float64)
        start = np.concatenate([[0.0], np.cumsum(time_s)[:-1]]) * 1e9
        replays = replay_frame(cfg, streams, memory.channels, port, start)
    else:
        replays = [replay(cfg, s, memory.channels, port) for s in streams]
    return np.array([r.time_ns for r in replays]) * 1e-9, replays
