"""Power and energy: dynamic energy per layer from MACs, on-chip buffer bits and DRAM bits, plus
static power (device, card and memory interfaces) (docs/model.md#power-and-energy).
Coefficients come from the Device (per precision) and the Memory; their sources are in
hw_configs/ and docs/model.md. Device coefficients are read per design point (`uncertainty.
coefficient`): Monte-Carlo samples carry them as `dev:` design columns.
"""

from __future__ import annotations

import numpy as np

from dla_explorer.core.units import BITS_PER_BYTE, PICO
from dla_explorer.sim.config import Device
from dla_explorer.sim.uncertainty import coefficient, per_precision


def lookup(values: np.ndarray, table: dict) -> np.ndarray:
    """table[value] for every entry of a (small-alphabet) array, vectorised."""
    if values.size == 1:  # one design point: skip np.unique's sort
        return np.array([table[values.reshape(-1)[0]]], dtype=np.float64)
    keys, inverse = np.unique(values, return_inverse=True)
    return np.array([table[k] for k in keys], dtype=np.float64)[inverse.reshape(-1)]


def winograd_multiplies(useful_macs: np.ndarray, multiply_ratio: np.ndarray) -> np.ndarray:
    """Multiplies a layer performs (docs/model.md#winograd): its direct-convolution MACs x
    `multiply_ratio` = ceil(S / r) x (m + r - 1) / (m x S) where it runs Winograd F(m, r) on a
    filter width S (1/2 for F(4, 3) on a 3-wide row: 6 multiplies give 4 outputs of a 3-tap row;
    12/20 on a 5-wide row), x 1 elsewhere. The transforms are additions in the feeder (once per
    input tile, shared by every PE) and after accumulation (once per output tile): their energy
    is in the logic term (used ALMs x clock), not charged per MAC."""
    return useful_macs * multiply_ratio


def mac_energy(
    device: Device, d: dict[str, np.ndarray], useful_macs: np.ndarray, issued_macs: np.ndarray
) -> np.ndarray:
    """Joules per layer of the multipliers (docs/model.md#power-and-energy): useful multiplies
    (`winograd_multiplies`: the MACs a Winograd layer actually performs) at the precision's E_mac,
    idle and zero-weight lane-slots (clock-gated) at the gated fraction of it."""
    mac_pj = per_precision(d, device, "energy.mac_pj")[:, None]
    gated = coefficient(d, device, "energy.gated_mac_fraction")[:, None]
    idle = issued_macs - useful_macs
    return (useful_macs + idle * gated) * mac_pj * PICO


def sram_energy(device: Device, d: dict[str, np.ndarray], sram_bits: np.ndarray) -> np.ndarray:
    """Joules per layer of the M20K (and eSRAM) bits read and written: bits x E_M20K
    (docs/model.md#power-and-energy)."""
    return sram_bits * coefficient(d, device, "energy.m20k_pj_per_bit")[:, None] * PICO


def dram_energy(d: dict[str, np.ndarray], dram_bytes: np.ndarray) -> np.ndarray:
    """Joules per layer of the DRAM bits moved: bytes x 8 x E_DRAM per bit
    (docs/model.md#power-and-energy)."""
    return dram_bytes * BITS_PER_BYTE * d["mem_energy_pj_per_bit"][:, None] * PICO


def logic_energy(
    device: Device, d: dict[str, np.ndarray], clock_hz: np.ndarray, alms: np.ndarray, time_s: np.ndarray
) -> np.ndarray:
    """Joules per layer of the clocked logic (control, accumulators, packing muxes): every used
    ALM, every cycle (at the design's clock), while the layer runs: ALMs x clock x E_ALM x time
    (docs/model.md#power-and-energy)."""
    watts = alms * clock_hz * coefficient(d, device, "energy.logic_pj_per_alm_cycle") * PICO
    return watts[:, None] * time_s


def static_power(device: Device, d: dict[str, np.ndarray]) -> np.ndarray:
    """Watts drawn whatever the load: FPGA static, the card around it, the memory interfaces
    (channels x W per channel) (docs/model.md#power-and-energy)."""
    interfaces = d["mem_channels"] * d["mem_interface_static_w_per_channel"]
    fixed = coefficient(d, device, "static_power_w") + coefficient(d, device, "board_power_w")
    return fixed + interfaces
