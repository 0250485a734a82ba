"""Off-chip memory and the stream buffer: which feature maps cross DRAM, and how long a layer's
DRAM traffic takes (docs/model.md#stream-buffer, docs/model.md#memory).

All functions work on (design points x layers) numpy arrays; `d` is a dict of per-design 1-D
arrays keyed by the simulator's DESIGN_COLUMNS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dla_explorer.core.units import BITS_PER_BYTE, KIB, MEGA, NANO
from dla_explorer.packing import compressed_activation_bytes

if TYPE_CHECKING:
    from dla_explorer.sim.graph import GraphArrays


def channel_bandwidth(
    d: dict[str, np.ndarray], clock_hz: np.ndarray, efficiency: np.ndarray | None = None
) -> np.ndarray:
    """Sustained bytes/s of one channel per design (docs/model.md#memory):
    min(rate x width / 8 x controller efficiency, user port width / 8 x DLA clock).
    `efficiency` (designs x layers, fidelity 1) replaces the flat controller efficiency."""
    dram = d["mem_data_rate_mtps"] * MEGA * d["mem_bus_width_bits"] / BITS_PER_BYTE
    port = d["mem_port_width_bits"] / BITS_PER_BYTE * clock_hz
    if efficiency is None:
        dram = dram * d["mem_controller_efficiency"]
        return np.where(d["mem_port_width_bits"] > 0, np.minimum(dram, port), dram)
    dram = dram[:, None] * efficiency
    return np.where(d["mem_port_width_bits"][:, None] > 0, np.minimum(dram, port[:, None]), dram)


def transfer_time(
    weight_bytes: np.ndarray,
    act_bytes: np.ndarray,
    d: dict[str, np.ndarray],
    clock_hz: np.ndarray,
    streams: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Seconds of DRAM traffic per layer (docs/model.md#memory, placement).

    Interleaved (weight_channels 0): all bytes over all channels. Split placement: weights over
    their `weight_channels`, feature maps over the others, both at once.
    `streams` (fidelity 1, see `level1_streams`): the efficiency of each stream of the layer
    (weight reads, feature-map reads, feature-map writes) and their bytes, in place of one flat
    efficiency for all bytes (docs/dram.md#fidelity-levels)."""
    channels = d["mem_channels"][:, None].astype(np.float64)
    w_ch = d["mem_weight_channels"][:, None].astype(np.float64)
    split = w_ch > 0
    if streams is None:
        per_channel = channel_bandwidth(d, clock_hz)[:, None]
        w_time, a_time = weight_bytes / per_channel, act_bytes / per_channel
    else:
        w_time = weight_bytes / channel_bandwidth(d, clock_hz, streams["eff_weight"])
        a_time = streams["act_read_bytes"] / channel_bandwidth(d, clock_hz, streams["eff_act_read"])
        a_time = a_time + streams["act_write_bytes"] / channel_bandwidth(
            d, clock_hz, streams["eff_act_write"]
        )
    together = (w_time + a_time) / channels
    apart = np.maximum(w_time / np.maximum(w_ch, 1), a_time / np.maximum(channels - w_ch, 1))
    return np.where(split, apart, together)


def access_latency(d: dict[str, np.ndarray], latency_ns: np.ndarray | None = None) -> np.ndarray:
    """The memory's access latency per design (fidelity 1: the cycle model's `latency_ns`), added
    to each layer's time (docs/model.md#memory)."""
    if latency_ns is None:
        return d["mem_access_latency_ns"][:, None] * NANO
    return np.where(np.isnan(latency_ns), d["mem_access_latency_ns"], latency_ns)[:, None] * NANO


def stream_buffer(
    *,
    ifmap: np.ndarray,
    ofmap: np.ndarray,
    written: np.ndarray,
    in_rows: np.ndarray,
    kernel_rows: np.ndarray,
    out_rows: np.ndarray,
    halo_rows: np.ndarray,
    graph: GraphArrays,
    density_in: np.ndarray,
    density_out: np.ndarray,
    feature_bytes: np.ndarray,
    compress: np.ndarray,
    buffer_bytes: np.ndarray,
    batch: int,
) -> dict[str, np.ndarray]:
    """Which maps cross DRAM, per design and layer (docs/model.md#stream-buffer).

    Per-layer arrays (L,) are per image; `ofmap` is the PE array's output, `written` the tensor
    the output path writes after the fused auxiliary blocks (`GraphArrays.out_written`: a pooled
    map, not the map before the pool), `density_out` that tensor's density (the next compute
    layer's measured input density); `feature_bytes` (designs x 1) is a stored value's size;
    `buffer_bytes` (designs,) the stream buffer (M20K and eSRAM). Returns `act_bytes` (DRAM bytes
    of maps per batch), `slices`, `sliced` (the layer's maps did not fit whole), `out_dram` (its
    output went to DRAM), `shortcut_spill` (bytes of shortcuts that could not stay resident).
    """
    buffer = buffer_bytes[:, None]
    # the stream buffer and DRAM hold what the output path writes (after pool / activation / add)
    in_b, out_b = ifmap * feature_bytes, written * feature_bytes
    # the smallest slice: one output row and the input rows it needs
    min_slice = (ifmap / in_rows * np.minimum(kernel_rows, in_rows) + ofmap / out_rows) * feature_bytes
    resident_all = graph.resident * feature_bytes
    # a shortcut spills (written once, read back once) if any layer of its life has no room for
    # the smallest slice beside the shortcuts resident then
    tight = (resident_all + min_slice > buffer).astype(np.int64)
    ahead = np.concatenate([np.zeros((tight.shape[0], 1), np.int64), np.cumsum(tight, axis=1)], axis=1)
    spilled = (ahead[:, graph.tensor_last + 1] - ahead[:, graph.tensor_first]) > 0  # designs x T
    kept = (~spilled) * graph.tensor_size
    resident = (kept @ graph.live) * feature_bytes
    consumer = np.zeros((graph.tensor_size.size, ifmap.size))
    consumer[np.arange(graph.tensor_size.size), graph.tensor_last] = 1.0
    shortcut_spill = 2 * ((spilled * graph.tensor_size) @ consumer) * feature_bytes * batch

    room = buffer - resident
    need = in_b + out_b
    sliced = need > room
    slices = np.where(sliced, np.clip(np.ceil(need / np.maximum(room, 1.0)), 1, out_rows), 1.0)
    first = np.arange(ifmap.size) == 0
    last = np.arange(ifmap.size) == ifmap.size - 1
    out_dram = sliced | last
    # the next layer reads a spilled output back (counted with the reader)
    in_dram = first | np.concatenate([np.zeros((sliced.shape[0], 1), bool), out_dram[:, :-1]], axis=1)
    halo = 1 + (slices - 1) * halo_rows / in_rows  # input rows read twice at slice boundaries
    compress = compress[:, None]
    in_stored = np.where(compress, compressed_activation_bytes(ifmap, density_in, feature_bytes), in_b)
    out_stored = np.where(compress, compressed_activation_bytes(written, density_out, feature_bytes), out_b)
    moved = np.where(in_dram, in_stored * np.where(sliced, halo, 1.0), 0) + np.where(out_dram, out_stored, 0)
    return {
        "act_bytes": batch * moved + shortcut_spill,
        # the write share (outputs, and half of each spilled shortcut: written once, read once)
        "act_write_bytes": batch * np.where(out_dram, out_stored, 0) + shortcut_spill / 2,
        "slices": slices,
        "sliced": sliced,
        "out_dram": out_dram,
        "shortcut_spill": shortcut_spill,
    }


def buffer_bytes(d: dict[str, np.ndarray]) -> np.ndarray:
    """The stream buffer per design: its M20K part and its eSRAM part (docs/model.md#stream-buffer)."""
    return (d["stream_buffer_kb"] + d["stream_buffer_esram_kb"]).astype(np.float64) * KIB
