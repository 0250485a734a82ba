"""Hardware configuration: FPGA devices, DLA architectures, memory systems, CPU/GPU baselines.

Each is a pydantic model loaded from YAML in `hw_configs/` (unknown keys, wrong types and values
out of range are refused with the file, the key and the rule). The coefficients' sources are noted
in the shipped YAML files and in docs/model.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, PositiveFloat, PositiveInt

from dla_explorer.core.errors import BadValue, UsageError, check_type
from dla_explorer.core.fileio import check_int_bounds, format_validation_error, load_yaml_model
from dla_explorer.core.units import BITS_PER_BYTE
from dla_explorer.sim.uncertainty import Range, split_ranges

__all__ = [
    "ARCH_FIELDS",
    "CONFIG_ROOT",
    "DEPTHWISE_WINDOW",
    "DESIGN_COLUMNS",
    "FORMATS",
    "MEMORY_FIELDS",
    "WINOGRAD",
    "WINOGRAD_EXTRA",
    "WINOGRAD_MODES",
    "WINOGRAD_TAPS",
    "Architecture",
    "Baseline",
    "Device",
    "Energy",
    "FmaxModel",
    "MeasuredPoint",
    "Memory",
    "NumberFormat",
    "Precision",
    "Winograd",
    "WinogradForm",
    "check_compatible",
    "compatibility_errors",
    "load_architecture",
    "load_baseline",
    "load_device",
    "load_memory",
    "precision_error",
    "value_bytes",
    "winograd_error",
]

Precision = Literal["int8", "bfp11", "bfp12", "fp16"]


@dataclass(frozen=True)
class NumberFormat:
    """How one precision mode stores and multiplies values (docs/model.md#precision).

    Block floating point (FPGA AI Suite Handbook 863373, section 9.4.1, table 27): integer
    mantissas, sign included, sharing one `exponent_bits` exponent per block of c_vec values.
    """

    mantissa_bits: int  # multiplier operand width, sign included (the datapath and its muxes)
    exponent_bits: int  # shared by each c_vec block (0: plain integers)
    feature_bits: int  # a feature-map value in DDR and in the stream buffer
    weight_bits: int  # a weight in DDR (the filter scratchpad holds mantissa + exponent / c_vec)


# int8: plain integers. bfp11 = FP11 = INT7-BFP (1s.6m.5e), bfp12 = FP12AGX = INT8-BFP (8m.5e),
# fp16 = FP16 = INT12-BFP (1s.11m.5e) (Handbook 863373 table 27). Block-FP feature maps travel and
# stay as FP16 (the published DLA description; the Handbook runs scale-shift and
# activations in the "FP16 float range"): an estimate, range mantissa..16 bits, see docs/model.md.
# Block-FP weights in DDR take 16 bits: the DLA compiler's ResNet-50 estimate (open_model_zoo
# issue 3876) allots a 49.44 MB filter buffer to 25.5 M weights = 1.94 B each (an estimate,
# range mantissa + exponent / c_vec .. 16 bits).
FORMATS: dict[str, NumberFormat] = {
    "int8": NumberFormat(8, 0, 8, 8),
    "bfp11": NumberFormat(7, 5, 16, 16),
    "bfp12": NumberFormat(8, 5, 16, 16),
    "fp16": NumberFormat(12, 5, 16, 16),
}
# formats only the CPU / GPU baselines use (their rooflines): bits of a stored value
_BASELINE_FORMAT_BITS = {"fp32": 32}


def value_bytes(precision: str) -> float:
    """Bytes one stored value of `precision` takes (docs/model.md#precision): a DLA format's feature
    value (FORMATS, the one definition), else a baseline-only format's.

    Args:
        precision: a DLA precision (int8, bfp11, bfp12, fp16) or a baseline's format.

    Returns:
        Bytes per value (fractional for the block floating-point formats' shared exponents).

    Raises:
        KeyError: an unknown format.
    """
    bits = FORMATS[precision].feature_bits if precision in FORMATS else _BASELINE_FORMAT_BITS[precision]
    return bits / BITS_PER_BYTE


@dataclass(frozen=True)
class WinogradForm:
    """A 1-D Winograd minimal filtering form F(m, r) along the output width
    (docs/model.md#winograd): m outputs of an r-tap filter row from m + r - 1 transformed inputs,
    with m + r - 1 multipliers where direct convolution needs m x r."""

    outputs: int  # m: outputs per tile; the PE's q_vec
    taps: int  # r: filter width it applies to (the S loop folds into the transform)

    @property
    def multipliers(self) -> int:
        """Multipliers per (filter, channel) pair: m + r - 1 (the transformed inputs)."""
        return self.outputs + self.taps - 1


# Aydonat et al., FPGA 2017 (AYD17): "Winograd F(4,3): 6x3xdepth multiplications for 4 outputs"
# (third-party notes of the paper, docs/sources.md section 7) on Q_vec = 4, W_vec = 6.
WINOGRAD: dict[str, WinogradForm | None] = {"none": None, "f43": WinogradForm(outputs=4, taps=3)}
Winograd = Literal["none", "f43"]
# per form: the filter width it applies to (0: none) and the multipliers it adds per (PE, channel,
# lane) beyond q_vec (r - 1), as lookup tables for the vectorised simulator
WINOGRAD_TAPS = {name: 0 if form is None else form.taps for name, form in WINOGRAD.items()}
WINOGRAD_EXTRA = {name: 0 if form is None else form.taps - 1 for name, form in WINOGRAD.items()}
# Where the filter transform happens: `Architecture.winograd_ddr_transformed` (an estimate,
# declared with its range in the arch YAML that turns Winograd on; docs/model.md#winograd).
# Modes whose weights run as stored (zeros multiplied): the transform turns each r-tap filter
# row into m + r - 1 dense values, so the zeros packing or N:M skips are gone.
WINOGRAD_MODES = ("dense", "unpacked")
CONFIG_ROOT = Path(__file__).resolve().parents[2] / "hw_configs"
# a memory's data_rate_mtps may round its DRAM device's 2 / tCK (DDR4-2666: 2,666.67 MT/s;
# DDR4-2400 at tCK 0.833 ns: 2,400.96): half a percent takes the rounding, not another speed grade
_DATA_RATE_TOLERANCE = 0.005


class _Config(pydantic.BaseModel):
    """A config read from YAML. Any numeric value may be written as an estimate with its range,
    `{nominal: x, low: a, high: b, basis: "..."}`: the field holds the nominal value and the
    range is kept on the side (`uncertainty.ranges(config)`, keyed by dotted path)."""

    # .inf / .nan in a YAML file are refused at load (they gave power "nan W")
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _ranges: dict = pydantic.PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        # built by hand (`hw.Architecture(**row)`, as notebooks do), a bad value gave pydantic's
        # multi-line ValidationError; the YAML loaders validate with model_validate, not here
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise BadValue(format_validation_error(type(self).__name__, exc)) from None

    # pydantic calls a model's own __init__ from model_validate too (the loaders' path, whose
    # errors name the file): this marker, which BaseModel.__init__ and RootModel.__init__ carry,
    # tells it this one only wraps the base's, so validation goes on without it. Pydantic 2.14
    # has no public switch for this: without the marker a loader's error gains a "key 'Memory':"
    # prefix (tests/test_hw.py) and model_validate drops strict= and context= (pydantic issues
    # 10062, 12245); a model_validator cannot do the wrapping, as it cannot tell `Cls(**data)`
    # from model_validate or a nested field, and a metaclass __call__ needs pydantic's private one
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @pydantic.model_validator(mode="wrap")  # type: ignore[misc]  # mypy cannot infer the wrap type
    @classmethod
    def _split_ranges(cls, data: object, handler: pydantic.ValidatorFunctionWrapHandler) -> object:
        data, ranges = split_ranges(data)
        config = handler(data)
        if ranges:
            _check_range_ends(data, ranges, handler)
            config._ranges = ranges
        return config

    @pydantic.field_validator("*", mode="after")
    @classmethod
    def _bounded_ints(cls, value: Any) -> Any:
        return check_int_bounds(value)


def _check_range_ends(
    data: Any, ranges: dict[str, Range], handler: pydantic.ValidatorFunctionWrapHandler
) -> None:
    """Each estimate's low and high must be values its key accepts, as its nominal is: Monte-Carlo
    samples are drawn between them (an efficiency range up to 1.9 drew impossible designs; one
    down to -0.6 failed mid-run, after the nominal result was printed).

    Raises:
        ValueError: naming the key, the end and the rule.
    """
    for path, estimate in ranges.items():
        for end in ("low", "high"):
            value = getattr(estimate, end)
            if value == estimate.nominal:
                continue
            try:
                handler(_with_value(data, path.split("."), value))
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                raise ValueError(
                    f"key '{path}': estimate range: {end} {value:g} is not a value the key takes "
                    f"({first['msg'].removeprefix('Value error, ')})"
                ) from None


def _with_value(data: Any, keys: list[str], value: float) -> Any:
    """A copy of the plain config data with the value at a dotted path replaced."""
    head, *rest = keys
    return {**data, head: _with_value(data[head], rest, value) if rest else value}


class Energy(_Config):
    """Dynamic energy coefficients of the FPGA fabric (pJ)."""

    mac_pj: dict[Precision, PositiveFloat] = Field(description="one multiply-accumulate on a DSP")
    gated_mac_fraction: float = Field(
        ge=0,
        le=1,
        description="share of a MAC's energy a clock-gated (zero-operand or idle) lane still burns",
    )
    m20k_pj_per_bit: PositiveFloat = Field(description="one bit read or written in an M20K block")
    logic_pj_per_alm_cycle: float = Field(
        0.0, ge=0, description="clocked logic and routing: energy per used ALM per clock cycle"
    )


class FmaxModel(_Config):
    """fMAX of a DLA on this device as it fills (docs/model.md#clock):

        fmax = full_mhz x (1 - fill_slope x ln(max(fill, min_fill))) x (1 - mux_derate x mux levels)

    `fill` is the largest of the DSP, M20K and ALM shares used; a packing mux of `alpha` inputs
    adds ceil(ceil(log2 alpha) / 2) LUT levels (a 6-input LUT is a 4:1 mux: two select bits a
    level)."""

    full_mhz: PositiveFloat = Field(description="fMAX of a design that fills the device")
    fill_slope: float = Field(ge=0, description="relative fMAX gained per unit of -ln(fill)")
    min_fill: float = Field(0.05, gt=0, le=1, description="below this fill the fit is not extrapolated")
    mux_derate: float = Field(0.0, ge=0, lt=1, description="relative fMAX lost per LUT level of packing mux")


class Device(_Config):
    """An FPGA: resources, clock limit, static power, memory interfaces and energy coefficients."""

    name: str
    dsp_blocks: PositiveInt
    m20k_blocks: PositiveInt
    m20k_bits: PositiveInt = Field(20480, description="capacity of one M20K block")
    m20k_max_width_bits: PositiveInt = Field(40, description="widest port of one M20K (512 x 40)")
    alms: PositiveInt
    max_clock_mhz: PositiveFloat
    fmax: FmaxModel | None = Field(None, description="fMAX as the device fills (None: the requested clock)")
    esram_blocks: int = Field(0, ge=0, description="eSRAM blocks (Stratix 10 MX) beside the M20Ks")
    esram_bits: int = Field(0, ge=0, description="capacity of one eSRAM block")
    static_power_w: float = Field(ge=0)
    board_power_w: float = Field(0.0, ge=0, description="card power beyond the FPGA (VRMs, fans)")
    multipliers_per_dsp: dict[Precision, PositiveInt]
    ddr4_max_channels: int = Field(ge=0)
    ddr4_max_rate_mtps: float = Field(ge=0)
    hbm2_pseudo_channels: int = Field(0, ge=0)
    shell_alms: int = Field(ge=0, description="PCIe, memory controllers, DLA control and feeders")
    alms_per_multiplier: float = Field(ge=0, description="accumulators, adder trees, pipeline")
    alms_per_mux_bit: float = Field(ge=0, description="ALMs per bit of a 2:1 step of a wide mux")
    energy: Energy


class Architecture(_Config):
    """A DLA-style array: k_vec PEs (filters in parallel), each a c_vec-wide dot product,
    replicated for q_vec x lanes output pixels in parallel."""

    name: str = "dla"
    k_vec: PositiveInt = Field(description="PEs = filters computed in parallel")
    c_vec: PositiveInt = Field(description="dot-product width = input values per PE per cycle")
    q_vec: PositiveInt = Field(1, description="output pixels of a row computed in parallel")
    lanes: PositiveInt = Field(1, description="output rows computed in parallel")
    precision: Precision = "int8"
    clock_mhz: PositiveFloat
    stream_buffer_kb: PositiveFloat = Field(description="on-chip feature-map buffer in M20Ks")
    stream_buffer_esram_kb: float = Field(
        0.0, ge=0, description="more stream buffer in the device's eSRAM (Stratix 10 MX), beside the M20Ks"
    )
    filter_cache_kb: PositiveFloat = Field(description="filter scratchpad of each PE")
    drain_vec: PositiveInt = Field(
        16, description="output channels the crossbar drains per cycle, for q_vec x lanes pixels each"
    )
    pool_vec: PositiveInt = Field(4, description="channels the pool block takes per cycle (x q_vec x lanes)")
    eltwise_vec: PositiveInt = Field(16, description="channels the element-wise block adds per cycle")
    activation_vec: PositiveInt = Field(16, description="channels the activation block takes per cycle")
    depthwise_vec: int = Field(
        0,
        ge=0,
        description="channels of the depthwise block (a 3x3 window each, for q_vec x lanes pixels a "
        "cycle); 0: depthwise layers run on the PE array",
    )
    alpha: PositiveInt = Field(
        1, description="packing mux width: original columns per packed column (1 = no packing hardware)"
    )
    gamma: float = Field(1.75, ge=0, description="packing conflict budget, per row on average")
    double_buffering: bool = Field(True, description="overlap DRAM transfers with compute")
    compress_activations: bool = Field(True, description="zero-skipping format for spilled maps")
    pe_chain_fill_cycles: int = Field(
        -1,
        ge=-1,
        description="cycles to fill/drain the PE chain per pass; -1 means k_vec (one per PE in the chain)",
    )
    winograd: Winograd = Field(
        "none",
        description="1-D Winograd along the output width (AYD17): 'f43' = F(4,3), q_vec 4, "
        "q_vec + 2 multipliers per (filter, channel); 3x3 stride-1 layers only",
    )
    # AYD17's PE caches hold transformed filters (W_vec x C_vec banks, "C_vec x W_vec transformed
    # weights" a cycle: notes [S]); whether the host transforms them before they reach DDR is not in
    # the readable text. Assumed: the host does (a DLA arch header notes "requires all filter values
    # to be scaled on the host by 1/6", the 1/6 of F(4,3)'s G matrix [S]), so DDR holds
    # (m + r - 1) / r = 2x the weights of a 3x3 Winograd layer [E, range 0 (transform in the filter
    # reader: 1x) .. 1 (2x)]. A share s stores 1 + s x (expansion - 1) values per weight.
    winograd_ddr_transformed: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of the Winograd filter expansion stored in DDR: 1 = filters transformed "
        "on the host ((m + r - 1) / r x the weights, 2x for 3x3), 0 = transformed in the filter "
        "reader (DDR holds the weights as trained)",
    )
    input_folding: bool = Field(
        False,
        description="fold the first conv's input into channels by its stride (FPGA AI Suite IP "
        "Reference Manual 2.6.4.2): C s^2 channels, ceil(R/s) x ceil(S/s) filter, stride 1",
    )
    fc_batch: PositiveInt = Field(
        1,
        description="images whose fully connected layers run together, each streamed weight "
        "reused by all of them (AYD17's FC batching); conv layers run image by image",
    )
    weights_resident: bool = Field(
        False,
        description="DDR-free operation (FPGA AI Suite IP Reference Manual, DDR-free streaming): "
        "every weight of the model stays in the PE filter scratchpads, loaded once with the "
        "bitstream, so no weight crosses DRAM per frame; filter_cache_kb must hold them all",
    )

    @pydantic.model_validator(mode="after")
    def _check_winograd(self) -> Architecture:
        message = winograd_error(self.winograd, self.q_vec, self.alpha)
        if message:
            raise ValueError(message)
        return self

    @property
    def pixel_multipliers(self) -> int:
        """Multipliers per (PE, input channel, lane): q_vec, or q_vec + 2 with Winograd F(4,3)
        (docs/model.md#winograd)."""
        form = WINOGRAD[self.winograd]
        return self.q_vec if form is None else form.multipliers

    @property
    def multipliers(self) -> int:
        """Multipliers of the whole array: k_vec x c_vec x the per-pixel multipliers x lanes
        (docs/model.md#the-accelerator)."""
        return self.k_vec * self.c_vec * self.pixel_multipliers * self.lanes

    @property
    def fill_cycles(self) -> int:
        """Cycles to fill the PE chain (k_vec unless pe_chain_fill_cycles sets them;
        docs/model.md#compute)."""
        return self.k_vec if self.pe_chain_fill_cycles < 0 else self.pe_chain_fill_cycles

    @property
    def number_format(self) -> NumberFormat:
        """The bit widths of the array's precision (mantissa, exponent, feature map)."""
        return FORMATS[self.precision]


class Memory(_Config):
    """An off-chip memory system: DDR4 channels or HBM2 pseudo-channels."""

    name: str
    kind: Literal["ddr4", "hbm2"]
    channels: PositiveInt = Field(description="DDR4 channels or HBM2 pseudo-channels in use")
    data_rate_mtps: PositiveFloat = Field(description="transfers per second per pin (MT/s)")
    bus_width_bits: PositiveInt = Field(description="data width of one channel")
    controller_efficiency: float = Field(gt=0, le=1, description="sustained / peak bandwidth")
    access_latency_ns: float = Field(ge=0)
    energy_pj_per_bit: PositiveFloat
    interface_static_w_per_channel: float = Field(ge=0, description="PHY + controller power")
    port_width_bits: int = Field(
        0, ge=0, description="user port width per channel at the DLA clock (AXI / EMIF); 0: no cap"
    )
    weight_channels: int = Field(
        0,
        ge=0,
        description="channels holding the weights alone, the rest the feature maps; 0: all interleaved",
    )
    dram: str = Field(
        "",
        description="DRAM device config in hw_configs/dram/ (name or path) whose timings the cycle "
        "model uses at fidelity 1 and 2; empty: none (fidelity 1 falls back to controller_efficiency)",
    )

    @pydantic.field_validator("dram")
    @classmethod
    def _dram_device(cls, name: str, info: pydantic.ValidationInfo) -> str:
        # at load, not when fidelity 1 first needs it (that error named neither file nor key, and
        # fidelity 0 took the misspelt name silently). Fidelity 0 and 1 take the peak from
        # data_rate_mtps and bus_width_bits, fidelity 2 replays the device's own timings and
        # width: a 2,400 MT/s memory naming a DDR4-2666 device gave three levels that described
        # two memories, and no error
        if not name:
            return name
        from dla_explorer.sim.dram.config import load_dram  # only a memory naming a device pays

        try:
            device = load_dram(name)
        except UsageError as exc:  # a ValueError, so that the message names this file and key
            raise ValueError(str(exc)) from None
        rate, width = device.data_rate_mtps, device.organization.channel_width_bits
        given_rate, given_width = info.data.get("data_rate_mtps"), info.data.get("bus_width_bits")
        if given_rate is not None and abs(given_rate - rate) > _DATA_RATE_TOLERANCE * rate:
            raise ValueError(
                f"device '{name}' runs at {rate:.0f} MT/s (tCK {device.timing.tck_ns:g} ns), "
                f"data_rate_mtps is {given_rate:g}: fidelity 2 replays the device's timings, so "
                "the two must agree (set data_rate_mtps to the device's, or name a device of that speed)"
            )
        if given_width is not None and given_width != width:
            raise ValueError(
                f"device '{name}' has {width}-bit channels, bus_width_bits is {given_width}: "
                "fidelity 2 replays the device's channels, so the two must agree"
            )
        return name

    # fidelity 1: the cycle model's efficiency per traffic class is that of the modelled controller
    # (DRAMsim3's, docs/dram.md); these factors carry how far the real one may differ (an estimate
    # with its range in the YAML). The scaled efficiency is capped at 1.
    seq_efficiency_scale: float = Field(
        1.0,
        gt=0,
        le=2,
        description="fidelity 1: factor on the cycle model's efficiency of sequential streams "
        "(weight reads, feature-map writes, long feature-map reads)",
    )
    run_efficiency_scale: float = Field(
        1.0,
        gt=0,
        le=2,
        description="fidelity 1: factor on the cycle model's efficiency of short runs "
        "(random 64-B lines, 1-KiB feature-map tiles)",
    )

    @property
    def peak_gbps(self) -> float:
        """Peak bandwidth in GB/s: channels x data rate x bus width / 8 (docs/model.md#memory)."""
        return self.channels * self.data_rate_mtps * self.bus_width_bits / 8 / 1e3

    @property
    def effective_gbps(self) -> float:
        """Peak x the flat controller_efficiency (docs/model.md#memory): the memory model of
        fidelity level 0 only (the default level 1 takes the cycle model's efficiency:
        sim.traffic.sustained_gbps)."""
        return self.peak_gbps * self.controller_efficiency


class MeasuredPoint(_Config):
    """A published measurement of one model on a CPU or GPU (frames/s and power at a stated
    batch size); a figure derived from published ones, or an estimate, says so in its range."""

    fps: PositiveFloat
    power_w: PositiveFloat
    batch: PositiveInt
    precision: str
    framework: str
    source: str = Field(min_length=1)


class Baseline(_Config):
    """A CPU or GPU: published measurements per model (`measured`, what comparisons use) and a
    roofline from peak compute, bandwidth and power (kept only as a bound)."""

    name: str
    kind: Literal["cpu", "gpu"]
    peak_tops: dict[str, PositiveFloat] = Field(description="peak tera-ops/s (2 per MAC) by precision")
    bandwidth_gbps: PositiveFloat
    tdp_w: PositiveFloat
    compute_efficiency: float = Field(gt=0, le=1, description="achieved / peak on CNN layers")
    bandwidth_efficiency: float = Field(gt=0, le=1)
    power_fraction: float = Field(gt=0, le=1, description="average power / TDP when busy")
    source: str = ""
    measured: dict[str, MeasuredPoint] = Field(default_factory=dict, description="per zoo model")


def winograd_error(winograd: str, q_vec: int, alpha: int) -> str:
    """Why a Winograd setting cannot be built ('' when it can): F(m, 3) computes m = q_vec
    outputs, and column combining over a Winograd PE is not defined (AYD17 has no packing; a
    packed column mixes input channels that the transform needs whole).

    Args:
        winograd: the architecture's Winograd setting ('none' or a form in WINOGRAD).
        q_vec: output pixels in parallel (a form computes a fixed number).
        alpha: the packing mux width (packing needs alpha 1 with Winograd).

    Returns:
        The reason, naming the key, or '' when the setting can be built.
    """
    form = WINOGRAD.get(winograd)
    if winograd not in WINOGRAD:
        return f"key 'winograd': '{winograd}' is not one of {', '.join(WINOGRAD)}"
    if form is not None and q_vec != form.outputs:
        return (
            f"key 'winograd': {winograd} computes {form.outputs} outputs a tile, "
            f"so q_vec must be {form.outputs} (got {q_vec})"
        )
    if form is not None and alpha > 1:
        return (
            f"key 'winograd': {winograd} with alpha {alpha}: column combining over a Winograd PE "
            "is not defined (use alpha 1 or winograd none)"
        )
    return ""


ARCH_FIELDS = tuple(n for n in Architecture.model_fields if n != "name")
MEMORY_FIELDS = tuple(n for n in Memory.model_fields if n != "name")
# one design point as a flat row: the mode, every Architecture field, every Memory field as mem_*
DEPTHWISE_WINDOW = 9  # multipliers per channel of the depthwise block: one 3x3 window a cycle
DESIGN_COLUMNS = ("mode", *ARCH_FIELDS, *(f"mem_{n}" for n in MEMORY_FIELDS))


def _resolve(name_or_path: str | Path, folder: str) -> Path:
    """A config path: an existing file, or a name in hw_configs/<folder>/ (with or without .yaml).

    Args:
        name_or_path: a config name ('hbm2_x2') or a YAML file.
        folder: the hw_configs/ folder of this kind of config ('memory', 'arch', ...).

    Returns:
        The YAML file's path.

    Raises:
        UsageError: neither a file nor a known name, or not a string or path at all.
    """
    hint = f"a name in hw_configs/{folder}/ or a YAML path"
    check_type(name_or_path, (str, os.PathLike), f"the {folder} config", hint)
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (CONFIG_ROOT / folder / f"{name_or_path}.yaml", CONFIG_ROOT / folder / path.name):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in (CONFIG_ROOT / folder).glob("*.yaml"))
    raise UsageError(
        f"{folder} config '{name_or_path}' not found (a YAML path, or one of: {', '.join(known)})"
    )


def load_device(name_or_path: str | Path) -> Device:
    """Load and validate an FPGA device from hw_configs/devices/ or a YAML file.

    Args:
        name_or_path: a name in hw_configs/devices/ (without .yaml) or a YAML file's path.

    Returns:
        The validated Device (immutable: change one with `.model_copy(update={...})`).

    Raises:
        UsageError: an unknown name, a YAML error, an unknown key or a bad value (one line naming
            the file, the key and the rule).
        DlaError: the file cannot be read.
    """
    return load_yaml_model(Device, _resolve(name_or_path, "devices"))


def load_architecture(name_or_path: str | Path) -> Architecture:
    """Load and validate a DLA architecture from hw_configs/arch/ or a YAML file.

    Args:
        name_or_path: a name in hw_configs/arch/ (without .yaml) or a YAML file's path.

    Returns:
        The validated Architecture (immutable: change one with `.model_copy(update={...})`).

    Raises:
        UsageError: an unknown name, a YAML error, an unknown key or a bad value (one line naming
            the file, the key and the rule).
        DlaError: the file cannot be read.
    """
    return load_yaml_model(Architecture, _resolve(name_or_path, "arch"))


def load_memory(name_or_path: str | Path) -> Memory:
    """Load and validate a memory system from hw_configs/memory/ or a YAML file.

    Args:
        name_or_path: a name in hw_configs/memory/ (without .yaml) or a YAML file's path.

    Returns:
        The validated Memory (immutable: change one with `.model_copy(update={...})`).

    Raises:
        UsageError: an unknown name, a YAML error, an unknown key or a bad value (one line naming
            the file, the key and the rule).
        DlaError: the file cannot be read.
    """
    return load_yaml_model(Memory, _resolve(name_or_path, "memory"))


def load_baseline(name_or_path: str | Path) -> Baseline:
    """Load and validate a CPU or GPU baseline from hw_configs/baselines/ or a YAML file.

    Args:
        name_or_path: a name in hw_configs/baselines/ (without .yaml) or a YAML file's path.

    Returns:
        The validated Baseline (immutable: change one with `.model_copy(update={...})`).

    Raises:
        UsageError: an unknown name, a YAML error, an unknown key or a bad value (one line naming
            the file, the key and the rule).
        DlaError: the file cannot be read.
    """
    return load_yaml_model(Baseline, _resolve(name_or_path, "baselines"))


def precision_error(precision: str, device: Device) -> str:
    """Why `device` cannot run `precision` ('' when it can): it has no multipliers of that format.

    Args:
        precision: a DLA precision (int8, bfp11, bfp12, fp16).
        device: the FPGA.

    Returns:
        The reason, naming the key and the formats the device has, or ''.
    """
    if precision in device.multipliers_per_dsp:
        return ""
    supported = ", ".join(device.multipliers_per_dsp)
    return f"key 'precision': {device.name} has no {precision} multipliers (it has {supported})"


def compatibility_errors(arch: Architecture, memory: Memory, device: Device) -> list[str]:
    """Reasons the three cannot work together (empty when they can); resources are separate.

    Args:
        arch: the DLA array.
        memory: the memory system.
        device: the FPGA.

    Returns:
        One line per reason, each naming the key: a precision the device has no multipliers for,
        a clock above its maximum, a memory it cannot attach.
    """
    errors = [e for e in [precision_error(arch.precision, device)] if e]
    if arch.clock_mhz > device.max_clock_mhz:
        errors.append(
            f"key 'clock_mhz': {arch.clock_mhz:g} MHz is above {device.name}'s "
            f"maximum of {device.max_clock_mhz:g} MHz"
        )
    if memory.kind == "hbm2" and memory.channels > device.hbm2_pseudo_channels:
        errors.append(
            f"key 'channels': {memory.channels} HBM2 pseudo-channels, {device.name} "
            f"has {device.hbm2_pseudo_channels}"
        )
    if memory.kind == "ddr4" and memory.channels > device.ddr4_max_channels:
        errors.append(
            f"key 'channels': {memory.channels} DDR4 channels, {device.name} "
            f"supports {device.ddr4_max_channels}"
        )
    if memory.weight_channels and memory.weight_channels >= memory.channels:
        errors.append(
            f"key 'weight_channels': {memory.weight_channels} of {memory.channels} channels for "
            "the weights leaves none for the feature maps"
        )
    if arch.stream_buffer_esram_kb and not device.esram_blocks:
        errors.append(f"key 'stream_buffer_esram_kb': {device.name} has no eSRAM")
    if memory.kind == "ddr4" and memory.data_rate_mtps > device.ddr4_max_rate_mtps:
        errors.append(
            f"key 'data_rate_mtps': DDR4-{memory.data_rate_mtps:g} is above "
            f"{device.name}'s DDR4-{device.ddr4_max_rate_mtps:g}"
        )
    return errors


def check_compatible(arch: Architecture, memory: Memory, device: Device) -> None:
    """Refuse hardware that cannot work together (resources are checked apart, as feasibility).

    Args:
        arch: the DLA array.
        memory: the memory system.
        device: the FPGA.

    Raises:
        UsageError: the first of compatibility_errors: a precision the device has no multipliers
            for, a clock above its maximum, or a memory it cannot attach.
    """
    errors = compatibility_errors(arch, memory, device)
    if errors:
        raise UsageError(f"{arch.name} + {memory.name} on {device.name}: {errors[0]}")
