"""Cycle-level DRAM timing model (DDR4, HBM2): configs, the numba controller, energy, traces,
and the level-1 efficiency table per traffic class.

    from dla_explorer.sim.dram import load_dram, simulate_trace
    result = simulate_trace("dramsim3_ddr4_8gb_x8_2666", addresses, is_write)
    result.bandwidth_gbps, result.efficiency, result.avg_read_latency_ns, result.pj_per_bit
"""

from .config import DramConfig, load_dram
from .efficiency import TRAFFIC_CLASSES, efficiency_table
from .model import MODEL_VERSION, DramResult, decode
from .model import run as simulate_trace
from .trace import read_trace

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
