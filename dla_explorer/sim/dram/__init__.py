"""Cycle-level DRAM timing model (DDR4, HBM2): configs, the numba controller, energy, traces,
and the level-1 efficiency table per traffic class.

    from dla_explorer.sim.dram import load_dram, simulate_trace
    result = simulate_trace("dramsim3_ddr4_8gb_x8_2666", addresses, is_write)
    result.bandwidth_gbps, result.efficiency, result.avg_read_latency_ns, result.pj_per_bit
"""

from dla_explorer.sim.dram.config import DramConfig, load_dram
from dla_explorer.sim.dram.efficiency import TRAFFIC_CLASSES, efficiency_table
from dla_explorer.sim.dram.model import MODEL_VERSION, DramResult, decode
from dla_explorer.sim.dram.model import run as simulate_trace
from dla_explorer.sim.dram.trace import read_trace

__all__ = [
    "MODEL_VERSION",
    "TRAFFIC_CLASSES",
    "DramConfig",
    "DramResult",
    "decode",
    "efficiency_table",
    "load_dram",
    "read_trace",
    "simulate_trace",
]
