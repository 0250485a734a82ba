"""FPGA resources a DLA configuration needs (DSPs, M20Ks, eSRAM, ALMs), checked against a
device, and the fMAX a design of that size reaches (docs/model.md#resources, docs/model.md#clock).

Functions take numpy arrays (one entry per design point) so that a sweep of thousands of designs
is one call; `resources(arch, device)` is the single-design convenience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_explorer.core.errors import UsageError, check_type
from dla_explorer.core.units import BITS_PER_BYTE, KIB, index_bits
from dla_explorer.sim.config import (
    DEPTHWISE_WINDOW,
    FORMATS,
    WINOGRAD_EXTRA,
    Architecture,
    Device,
    precision_error,
)
from dla_explorer.sim.uncertainty import coefficient

__all__ = [
    "ResourceReport",
    "device_excess",
    "fmax_mhz",
    "limits",
    "relative_excess",
    "resources",
    "usage",
    "violation_text",
]


def _blocks(bits: np.ndarray, width: np.ndarray, device: Device) -> np.ndarray:
    """M20Ks for a buffer: enough for its capacity and for its read width, whichever is more
    (docs/model.md#resources)."""
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
    mantissa_bits,
    feature_bits,
    exponent_bits,
    alpha,
    stream_buffer_kb,
    filter_cache_kb,
    dsp_per_multiplier,
    stream_buffer_esram_kb=0.0,
    depthwise_vec=0,
    shell_alms=None,
    alms_per_multiplier=None,
    winograd_extra=0,
) -> dict[str, np.ndarray]:
    """DSPs, M20Ks, eSRAM blocks and ALMs per design (docs/model.md#resources; all arguments
    broadcast as numpy arrays).

    The stream buffer must deliver c_vec feature values to each of the q_vec x lanes pixel columns
    per cycle, alpha times wider when packed columns gather up to alpha inputs (the input-packing
    cost); each PE's filter scratchpad delivers c_vec mantissas, their block exponent and their
    selects per cycle. The packing mux switches mantissas. A depthwise block adds depthwise_vec
    x 9 x q_vec x lanes multipliers (a 3x3 window per channel and pixel). `shell_alms` and
    `alms_per_multiplier` (per design: Monte-Carlo samples of the device's estimates) default to
    the device's values.

    Winograd F(m, r) (`winograd_extra` = r - 1 multipliers per PE, channel and lane beyond q_vec;
    AYD17's F(4, 3): 2) widens each PE to k_vec x c_vec x (q_vec + r - 1) x lanes multipliers; the
    feeder then delivers q_vec + r - 1 transformed inputs per channel and lane, and each scratchpad
    c_vec x (q_vec + r - 1) transformed weights a cycle (docs/model.md#winograd).

    Args:
        device: the FPGA (`hw.load_device`): M20K size and width, eSRAM block size, ALM
            coefficients.
        k_vec: PEs in the chain (filters in parallel), per design.
        c_vec: dot-product width of each PE (input channels a cycle), per design.
        q_vec: output pixels of a row in parallel, per design.
        lanes: output rows in parallel, per design.
        mantissa_bits: bits of a weight mantissa in the datapath (the precision's), per design.
        feature_bits: bits of a feature value in the stream buffer, per design.
        exponent_bits: bits of the shared block exponent (0 for int8), per design.
        alpha: the packing's largest column group (1: no packing mux), per design.
        stream_buffer_kb: the stream buffer's M20K part, KiB per design.
        filter_cache_kb: each PE's filter scratchpad, KiB per design.
        dsp_per_multiplier: DSP blocks per multiplier at the design's precision (1 / the
            device's multipliers per DSP), per design.
        stream_buffer_esram_kb: the stream buffer's eSRAM part, KiB per design (0: none).
        depthwise_vec: channels of the depthwise block (0: no block), per design.
        shell_alms: ALMs of the shell (PCIe, memory controllers, DLA control, feeders) per
            design (Monte-Carlo samples); None: the device's.
        alms_per_multiplier: ALMs each multiplier adds (accumulators, adder trees) per design
            (samples); None: the device's.
        winograd_extra: r - 1 of the design's Winograd F(m, r) (0: direct convolution).

    Returns:
        Per design (float arrays broadcast from the arguments): `multipliers` (PE array and
        depthwise block), `dsp`, `m20k` (= `m20k_stream` + `m20k_filters`), `esram` (blocks) and
        `alm` (shell, multipliers and the packing mux).
    """
    k_vec, c_vec, q_vec, lanes, alpha = (np.asarray(v) for v in (k_vec, c_vec, q_vec, lanes, alpha))
    winograd_extra = np.asarray(winograd_extra)
    width = q_vec + winograd_extra  # multipliers (and feeder values) per PE, channel and lane
    mantissa_bits, feature_bits, exponent_bits = (
        np.asarray(v, dtype=np.float64) for v in (mantissa_bits, feature_bits, exponent_bits)
    )
    pe_multipliers = k_vec * c_vec * width * lanes
    multipliers = pe_multipliers + np.asarray(depthwise_vec) * DEPTHWISE_WINDOW * q_vec * lanes
    select = _select_bits(alpha)
    stream_width = c_vec * alpha * width * lanes * feature_bits
    stream = _blocks(np.asarray(stream_buffer_kb) * KIB * BITS_PER_BYTE, stream_width, device)
    filter_width = c_vec * np.where(winograd_extra > 0, width, 1) * (mantissa_bits + select) + exponent_bits
    filters = k_vec * _blocks(np.asarray(filter_cache_kb) * KIB * BITS_PER_BYTE, filter_width, device)
    mux_alms = pe_multipliers * mantissa_bits * (alpha - 1) * device.alms_per_mux_bit  # PE array only
    esram_bits = np.asarray(stream_buffer_esram_kb, dtype=np.float64) * KIB * BITS_PER_BYTE
    return {
        "multipliers": multipliers,
        "dsp": np.ceil(multipliers * np.asarray(dsp_per_multiplier)),
        "m20k": stream + filters,
        "m20k_stream": stream,
        "m20k_filters": filters,
        "esram": np.ceil(esram_bits / max(device.esram_bits, 1)),
        "alm": np.asarray(device.shell_alms if shell_alms is None else shell_alms)
        + np.asarray(device.alms_per_multiplier if alms_per_multiplier is None else alms_per_multiplier)
        * multipliers
        + mux_alms,
    }


def _select_bits(alpha) -> np.ndarray:
    """ceil(log2 alpha) select bits per packed weight (0 without packing hardware): the mux levels
    of docs/model.md#clock and the scratchpad width of docs/model.md#resources.

    Args:
        alpha: the largest column group (>= 1), an int or an integer array of one per design.

    Returns:
        The select bits, an int64 array of the shape of `alpha` (0-d for an int).
    """
    return index_bits(np.asarray(alpha))


def fmax_mhz(
    device: Device,
    used: dict[str, np.ndarray],
    alpha,
    full_mhz: np.ndarray | None = None,
    mux_derate: np.ndarray | None = None,
    max_clock_mhz: np.ndarray | None = None,
) -> np.ndarray:
    """fMAX per design from the device's fitted model (docs/model.md#clock); the device's
    `max_clock_mhz` where it has no model.

        fill   = max(DSP, M20K, ALM share used)
        fmax   = min(full_mhz x (1 - fill_slope x ln(max(fill, min_fill))) x (1 - mux_derate x levels),
                     max_clock_mhz)
        levels = ceil(select bits / 2)   (a 6-input LUT is a 4:1 mux: two select bits a level)

    Args:
        device: the FPGA (`hw.load_device`): its fitted model (`device.fmax`), budgets and
            `max_clock_mhz`.
        used: the designs' resources (`usage`): `dsp`, `m20k` and `alm` per design.
        alpha: the largest column group (1: no packing mux), per design.
        full_mhz: fMAX of a design that fills the device (fill 1), in MHz per design
            (Monte-Carlo samples); None: the device model's.
        mux_derate: fMAX lost per mux level, a share per design (samples); None: the model's.
        max_clock_mhz: the device's highest clock in MHz per design (samples); None: the
            device's.

    Returns:
        fMAX in MHz, (designs,) float64, never above the device's highest clock.
    """
    model = device.fmax
    ceiling = device.max_clock_mhz if max_clock_mhz is None else max_clock_mhz  # per design when sampled
    if model is None:
        return np.broadcast_to(np.asarray(ceiling, dtype=np.float64), np.shape(used["dsp"])).copy()
    full = model.full_mhz if full_mhz is None else full_mhz  # per design when sampled
    derate = model.mux_derate if mux_derate is None else mux_derate
    fill = np.maximum.reduce([used[k] / v for k, v in limits(device).items() if k != "esram"])
    by_fill = full * (1 - model.fill_slope * np.log(np.maximum(fill, model.min_fill)))
    levels = np.ceil(_select_bits(alpha) / 2)
    return np.minimum(by_fill * (1 - derate * levels), ceiling)


def limits(device: Device) -> dict[str, int]:
    """The device's budget of each resource a design is checked against.

    Args:
        device: the FPGA.

    Returns:
        Blocks available: `dsp`, `m20k`, `esram` and `alm`.
    """
    return {
        "dsp": device.dsp_blocks,
        "m20k": device.m20k_blocks,
        "esram": device.esram_blocks,
        "alm": device.alms,
    }


def relative_excess(value: float | np.ndarray, bound: float | np.ndarray) -> np.ndarray:
    """(value - bound) / |bound|: > 0 is over the bound, by that share of it.

    Args:
        value: the figure(s) to check.
        bound: the limit(s), broadcast against `value`; a bound of 0 divides by 1 (the excess is
            then value - 0 itself).

    Returns:
        The relative excess, float64 of the broadcast shape (a numpy float for two scalars):
        0.25 is 25% over, -0.5 is half the bound.
    """
    bound = np.asarray(bound, dtype=np.float64)
    return (np.asarray(value, dtype=np.float64) - bound) / np.where(bound == 0, 1.0, np.abs(bound))


def device_excess(
    device: Device, used: dict[str, np.ndarray], d: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Relative excess of every design over every device limit (> 0 is infeasible;
    docs/model.md#resources): DSPs, M20Ks and ALMs (`used`, from `usage`), the clock, and the memory
    interfaces (`d`: clock_mhz, mem_kind, mem_channels, mem_data_rate_mtps; sampled `dev:` columns
    of the device's estimates, if any, replace its eSRAM block count and clock limit).

    Args:
        device: the FPGA (`hw.load_device`).
        used: resources per design (`usage`): `dsp`, `m20k`, `alm` and, when present, `esram`
            (a table without it is checked on the rest).
        d: design columns, one entry per design: `clock_mhz`, `mem_kind` (ddr4 or hbm2),
            `mem_channels`, `mem_data_rate_mtps`, and the sampled `dev:esram_blocks` /
            `dev:max_clock_mhz` columns if any.

    Returns:
        Check name -> (designs,) float64 relative excess (`relative_excess`): `dsp`, `m20k`,
        `esram`, `alm`, `clock_mhz`, `mem_channels` (the device's HBM2 pseudo-channels or DDR4
        channels) and `mem_data_rate_mtps` (DDR4 only; -1 on HBM2).
    """
    hbm = np.asarray(d["mem_kind"]) == "hbm2"
    bounds: dict[str, float | np.ndarray] = {**limits(device)}
    bounds["esram"] = coefficient(d, device, "esram_blocks")
    # a caller that passes no eSRAM use (an older results table) is checked on the rest
    excess = {k: relative_excess(used[k], v) for k, v in bounds.items() if k in used}
    excess["clock_mhz"] = relative_excess(d["clock_mhz"], coefficient(d, device, "max_clock_mhz"))
    excess["mem_channels"] = relative_excess(
        d["mem_channels"], np.where(hbm, device.hbm2_pseudo_channels, device.ddr4_max_channels)
    )
    excess["mem_data_rate_mtps"] = np.where(  # only DDR4 rates are capped by the device
        hbm, -1.0, relative_excess(d["mem_data_rate_mtps"], device.ddr4_max_rate_mtps)
    )
    return excess


def violation_text(excess: dict[str, np.ndarray]) -> np.ndarray:
    """Per design, '; '-joined 'name +x%' for every check it exceeds ('' when none).

    Args:
        excess: check name -> relative excess per design (`device_excess`, `relative_excess`);
            every array of the same length, > 0 is a violation.

    Returns:
        One string per design, an object array, e.g. 'dsp +6.1%; clock_mhz +2.0%'.
    """
    size = len(next(iter(excess.values())))
    text = np.full(size, "", dtype=object)
    for name, over in excess.items():
        for i in np.flatnonzero(over > 0):
            text[i] += f"{'; ' if text[i] else ''}{name} +{over[i]:.1%}"
    return text


@dataclass(frozen=True)
class ResourceReport:
    """What one design uses of a device (see `resources`)."""

    used: dict[str, float]
    available: dict[str, int]
    fmax_mhz: float = 0.0  # the clock a design of this size reaches (see fmax_mhz)

    @property
    def feasible(self) -> bool:
        """True when every resource fits within the device's budget."""
        return all(self.used[k] <= self.available[k] for k in self.available)

    @property
    def violations(self) -> list[str]:
        """'dsp: needs 4,200 of 3,960 (+6.1%)' for every resource over the device's budget."""
        return [
            f"{k}: needs {self.used[k]:,.0f} of {self.available[k]:,} "
            f"(+{float(relative_excess(self.used[k], self.available[k])):.1%})"
            for k in self.available
            if self.used[k] > self.available[k]
        ]


def resources(arch: Architecture, device: Device) -> ResourceReport:
    """The FPGA resources one DLA array takes on a device, and the clock it reaches there
    (docs/model.md#resources, docs/model.md#clock).

    Args:
        arch: the DLA array (`hw.load_architecture`).
        device: the FPGA (`hw.load_device`).

    Returns:
        The ResourceReport: `used` (multipliers, DSPs, M20Ks by use, eSRAM, ALMs), `available`,
        `fmax_mhz`, `feasible` and `violations`.

    Raises:
        UsageError: an argument of the wrong type (a name, or the two swapped), or a precision
            the device has no multipliers for.
    """
    check_type(arch, Architecture, "arch", "hw.load_architecture(name or path)")
    check_type(device, Device, "device", "hw.load_device(name or path)")
    error = precision_error(arch.precision, device)
    if error:
        raise UsageError(error)
    fmt = FORMATS[arch.precision]
    used = usage(
        device,
        k_vec=arch.k_vec,
        c_vec=arch.c_vec,
        q_vec=arch.q_vec,
        lanes=arch.lanes,
        mantissa_bits=fmt.mantissa_bits,
        feature_bits=fmt.feature_bits,
        exponent_bits=fmt.exponent_bits,
        alpha=arch.alpha,
        stream_buffer_kb=arch.stream_buffer_kb,
        filter_cache_kb=arch.filter_cache_kb,
        dsp_per_multiplier=1 / device.multipliers_per_dsp[arch.precision],
        stream_buffer_esram_kb=arch.stream_buffer_esram_kb,
        depthwise_vec=arch.depthwise_vec,
        winograd_extra=WINOGRAD_EXTRA[arch.winograd],
    )
    fmax = float(fmax_mhz(device, used, arch.alpha))
    return ResourceReport({k: float(v) for k, v in used.items()}, limits(device), fmax)
