"""FPGA resources a DLA configuration needs (DSPs, M20Ks, ALMs), checked against a device.

Functions take numpy arrays (one entry per design point) so that a sweep of thousands of designs
is one call; `resources(arch, device)` is the single-design convenience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_explorer.sim.config import PRECISION_BITS, Architecture, Device

KB_BITS = 8 * 1024


def _blocks(bits: np.ndarray, width: np.ndarray, device: Device) -> np.ndarray:
    """M20Ks for a buffer: enough for its capacity and for its read width, whichever is more."""
    by_capacity = np.ceil(bits / device.m20k_bits)
    by_width = np.ceil(width / device.m20k_max_width_bits)
    return np.maximum(by_capacity, by_width)


def usage(
    device: Device,
    *,
    k_vec,
    c_vec,
    q_vec,
    lanes,
    bits,
    alpha,
    stream_buffer_kb,
    filter_cache_kb,
    dsp_per_multiplier,
) -> dict[str, np.ndarray]:
    """DSPs, M20Ks and ALMs per design (all arguments broadcast as numpy arrays).

    The stream buffer must deliver c_vec values to each of the q_vec x lanes pixel columns per
    cycle, alpha times wider when packed columns gather up to alpha inputs (the input-packing
    cost); each PE's filter cache delivers c_vec weights plus their selects per cycle.
    """
    k_vec, c_vec, q_vec, lanes, bits, alpha = (
        np.asarray(v) for v in (k_vec, c_vec, q_vec, lanes, bits, alpha)
    )
    multipliers = k_vec * c_vec * q_vec * lanes
    select = np.where(alpha > 1, np.ceil(np.log2(np.maximum(alpha, 1))), 0)
    stream = _blocks(np.asarray(stream_buffer_kb) * KB_BITS, c_vec * alpha * q_vec * lanes * bits, device)
    filters = k_vec * _blocks(np.asarray(filter_cache_kb) * KB_BITS, c_vec * (bits + select), device)
    mux_alms = multipliers * bits * (alpha - 1) * device.alms_per_mux_bit
    return {
        "multipliers": multipliers,
        "dsp": np.ceil(multipliers * np.asarray(dsp_per_multiplier)),
        "m20k": stream + filters,
        "m20k_stream": stream,
        "m20k_filters": filters,
        "alm": device.shell_alms + device.alms_per_multiplier * multipliers + mux_alms,
    }


def limits(device: Device) -> dict[str, int]:
    return {"dsp": device.dsp_blocks, "m20k": device.m20k_blocks, "alm": device.alms}


def relative_excess(value: np.ndarray, bound: float | np.ndarray) -> np.ndarray:
    """(value - bound) / |bound|: > 0 is over the bound, by that share of it."""
    bound = np.asarray(bound, dtype=np.float64)
    return (np.asarray(value, dtype=np.float64) - bound) / np.where(bound == 0, 1.0, np.abs(bound))


def device_excess(
    device: Device, used: dict[str, np.ndarray], d: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Relative excess of every design over every device limit (> 0 is infeasible): DSPs, M20Ks
    and ALMs (`used`, from `usage`), the clock, and the memory interfaces (`d`: clock_mhz,
    mem_kind, mem_channels, mem_data_rate_mtps)."""
    hbm = np.asarray(d["mem_kind"]) == "hbm2"
    excess = {k: relative_excess(used[k], v) for k, v in limits(device).items()}
    excess["clock_mhz"] = relative_excess(d["clock_mhz"], device.max_clock_mhz)
    excess["mem_channels"] = relative_excess(
        d["mem_channels"], np.where(hbm, device.hbm2_pseudo_channels, device.ddr4_max_channels)
    )
    excess["mem_data_rate_mtps"] = np.where(  # only DDR4 rates are capped by the device
        hbm, -1.0, relative_excess(d["mem_data_rate_mtps"], device.ddr4_max_rate_mtps)
    )
    return excess


def violation_text(excess: dict[str, np.ndarray]) -> np.ndarray:
    """Per design, '; '-joined 'name +x%' for every check it exceeds ('' when none)."""
    size = len(next(iter(excess.values())))
    text = np.full(size, "", dtype=object)
    for name, over in excess.items():
        for i in np.flatnonzero(over > 0):
            text[i] += f"{'; ' if text[i] else ''}{name} +{over[i]:.1%}"
    return text


@dataclass(frozen=True)
class ResourceReport:
    used: dict[str, float]
    available: dict[str, int]

    @property
    def feasible(self) -> bool:
        return all(self.used[k] <= self.available[k] for k in self.available)

    @property
    def violations(self) -> list[str]:
        """'dsp: needs 4,200 of 3,960 (+6.1%)' for every resource over the device's budget."""
        return [
            f"{k}: needs {self.used[k]:,.0f} of {self.available[k]:,} "
            f"(+{self.used[k] / self.available[k] - 1:.1%})"
            for k in self.available
            if self.used[k] > self.available[k]
        ]


def resources(arch: Architecture, device: Device) -> ResourceReport:
    used = usage(
        device,
        k_vec=arch.k_vec,
        c_vec=arch.c_vec,
        q_vec=arch.q_vec,
        lanes=arch.lanes,
        bits=PRECISION_BITS[arch.precision],
        alpha=arch.alpha,
        stream_buffer_kb=arch.stream_buffer_kb,
        filter_cache_kb=arch.filter_cache_kb,
        dsp_per_multiplier=1 / device.multipliers_per_dsp[arch.precision],
    )
    return ResourceReport({k: float(v) for k, v in used.items()}, limits(device))
