"""Power and energy: dynamic energy per layer from MACs, on-chip buffer bits and DRAM bits, plus
static power (device, card and memory interfaces). Coefficients come from the Device (per
precision) and the Memory; their sources are in hw_configs/ and docs/model.md.
"""

from __future__ import annotations

import numpy as np

from dla_explorer.sim.config import Device

PICO = 1e-12


def lookup(values: np.ndarray, table: dict) -> np.ndarray:
    """table[value] for every entry of a (small-alphabet) array, vectorised."""
    keys, inverse = np.unique(values, return_inverse=True)
    return np.array([table[k] for k in keys], dtype=np.float64)[inverse]


def dynamic_energy(
    device: Device,
    d: dict[str, np.ndarray],
    *,
    useful_macs: np.ndarray,
    issued_macs: np.ndarray,
    sram_bits: np.ndarray,
    dram_bytes: np.ndarray,
) -> dict[str, np.ndarray]:
    """Joules per layer: MACs (idle and zero-weight lanes are clock-gated, at a fraction of a
    MAC's energy), M20K bits read and written, and DRAM bits moved."""
    mac_pj = lookup(d["precision"], device.energy.mac_pj)[:, None]
    idle = issued_macs - useful_macs
    return {
        "mac_j": (useful_macs + idle * device.energy.gated_mac_fraction) * mac_pj * PICO,
        "sram_j": sram_bits * device.energy.m20k_pj_per_bit * PICO,
        "dram_j": dram_bytes * 8 * d["mem_energy_pj_per_bit"][:, None] * PICO,
    }


def logic_energy(
    device: Device, d: dict[str, np.ndarray], alms: np.ndarray, time_s: np.ndarray
) -> np.ndarray:
    """Joules per layer of the clocked logic (control, accumulators, packing muxes): every used
    ALM, every cycle, while the layer runs."""
    watts = alms * d["clock_mhz"] * 1e6 * device.energy.logic_pj_per_alm_cycle * PICO
    return watts[:, None] * time_s


def static_power(device: Device, d: dict[str, np.ndarray]) -> np.ndarray:
    """Watts drawn whatever the load: FPGA static, the card around it, the memory interfaces."""
    interfaces = d["mem_channels"] * d["mem_interface_static_w_per_channel"]
    return device.static_power_w + device.board_power_w + interfaces
