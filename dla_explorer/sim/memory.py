"""Off-chip memory model: DRAM traffic of every layer and the time it takes.

All functions work on (design points x layers) numpy arrays; `d` is a dict of per-design 1-D
arrays keyed by the simulator's DESIGN_COLUMNS.
"""

from __future__ import annotations

import numpy as np

from dla_explorer.packing import compressed_activation_bytes

KB = 1024


def effective_bandwidth(d: dict[str, np.ndarray]) -> np.ndarray:
    """Sustained bytes/s per design: channels x rate x width / 8 x controller efficiency."""
    peak = d["mem_channels"] * d["mem_data_rate_mtps"] * 1e6 * d["mem_bus_width_bits"] / 8
    return (peak * d["mem_controller_efficiency"])[:, None]


def activation_bytes(
    ifmap: np.ndarray,
    ofmap: np.ndarray,
    density_in: np.ndarray,
    density_out: np.ndarray,
    value_bytes: np.ndarray,
    compress: np.ndarray,
    stream_buffer_kb: np.ndarray,
    batch: int,
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes of feature maps per batch, and which layers spill.

    A layer whose input and output maps together exceed the stream buffer streams both through
    DRAM; the network's input and output always cross it. Compressed maps use the bitmap format
    at the measured density (an output map at the next layer's input density).
    """
    in_raw, out_raw = ifmap * value_bytes, ofmap * value_bytes
    compress = compress[:, None]
    in_bytes = np.where(compress, compressed_activation_bytes(ifmap, density_in, value_bytes), in_raw)
    out_bytes = np.where(compress, compressed_activation_bytes(ofmap, density_out, value_bytes), out_raw)
    spill = in_raw + out_raw > stream_buffer_kb[:, None] * KB
    first = np.arange(ifmap.size) == 0
    last = np.arange(ifmap.size) == ifmap.size - 1
    moved = np.where(spill | first, in_bytes, 0) + np.where(spill | last, out_bytes, 0)
    return batch * moved, spill


def transfer_time(dram_bytes: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
    return dram_bytes / effective_bandwidth(d)


def access_latency(d: dict[str, np.ndarray]) -> np.ndarray:
    return d["mem_access_latency_ns"][:, None] * 1e-9
