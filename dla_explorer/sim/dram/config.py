"""DRAM device, timing, power and controller configuration (hw_configs/dram/*.yaml).

Every timing parameter is in clock cycles of the device clock (`tck_ns`), the way JEDEC
JESD79-4 (DDR4) and JESD235 (HBM2) tables and DRAM simulators state them; the sources of the
shipped values are noted in each YAML file. Unknown keys, wrong types and out-of-range values are
refused with the file, the key and the rule (see `dla_explorer.fileio.load_yaml_model`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from dla_explorer.core.errors import UsageError
from dla_explorer.core.fileio import load_yaml_model

CONFIG_DIR = Path(__file__).resolve().parents[3] / "hw_configs" / "dram"
FIELD_NAMES = ("ch", "ra", "bg", "ba", "ro", "co")


class _Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Organization(_Config):
    """What one channel is made of: ranks of devices, bank groups, banks, rows and columns."""

    device_width_bits: PositiveInt = Field(description="data pins of one device (x8, x16, x128)")
    bank_groups: PositiveInt = Field(description="bank groups per rank (1 = none)")
    banks_per_group: PositiveInt
    rows: PositiveInt = Field(description="rows per bank (address bits above the map are wrapped)")
    row_bytes: PositiveInt = Field(description="row (page) size of one rank across the channel")
    burst_length: PositiveInt = Field(description="BL: data beats per column command (DDR: 2/clock)")
    ranks: PositiveInt = Field(1, le=8)
    channels: PositiveInt = Field(1, le=64, description="independent channels (or pseudo-channels)")
    channel_width_bits: PositiveInt = Field(description="data width of one channel")

    @property
    def banks(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def burst_bytes(self) -> int:
        return self.channel_width_bits * self.burst_length // 8

    @property
    def devices_per_rank(self) -> int:
        return max(1, self.channel_width_bits // self.device_width_bits)


class Timing(_Config):
    """JEDEC timing constraints in device clock cycles (tck_ns each)."""

    tck_ns: PositiveFloat = Field(description="device clock period; data moves twice per clock")
    cl: PositiveInt = Field(description="CAS (read) latency")
    cwl: PositiveInt = Field(description="CAS write latency")
    trcd: PositiveInt = Field(description="ACT to READ/WRITE, same bank")
    trp: PositiveInt = Field(description="PRE to ACT, same bank")
    tras: PositiveInt = Field(description="ACT to PRE, same bank")
    trc: PositiveInt = Field(description="ACT to ACT, same bank")
    tccd_s: PositiveInt = Field(description="column to column, different bank group")
    tccd_l: PositiveInt = Field(description="column to column, same bank group")
    trrd_s: PositiveInt = Field(description="ACT to ACT, different bank group")
    trrd_l: PositiveInt = Field(description="ACT to ACT, same bank group")
    tfaw: PositiveInt = Field(description="window holding at most four ACTs per rank")
    twtr_s: PositiveInt = Field(description="end of write data to READ, different bank group")
    twtr_l: PositiveInt = Field(description="end of write data to READ, same bank group")
    trtp: PositiveInt = Field(description="READ to PRE, same bank")
    twr: PositiveInt = Field(description="write recovery: end of write data to PRE")
    trtrs: NonNegativeInt = Field(
        1, description="rank-to-rank (and read-to-write) bus turnaround gap the controller inserts"
    )
    trefi: PositiveInt = Field(description="average refresh interval (all-bank REF per rank)")
    trfc: PositiveInt = Field(description="all-bank refresh cycle time")
    trfcb: PositiveInt | None = Field(None, description="per-bank refresh cycle time (HBM2 REFSB)")
    trefib: PositiveInt | None = Field(None, description="per-bank refresh interval (HBM2)")

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Timing:
        if self.trc < self.tras + self.trp:
            raise ValueError(f"trc ({self.trc}) must be at least tras + trp ({self.tras + self.trp})")
        if self.tccd_l < self.tccd_s or self.trrd_l < self.trrd_s or self.twtr_l < self.twtr_s:
            raise ValueError("each _l (same bank group) timing must be at least its _s value")
        if self.trfc >= self.trefi:
            raise ValueError(f"trfc ({self.trfc}) must be below trefi ({self.trefi})")
        return self


class Power(_Config):
    """IDD currents of one device (JEDEC IDD measurement conditions) for DRAMPower-style energy."""

    vdd_v: PositiveFloat
    idd0_ma: PositiveFloat = Field(description="one bank ACT-PRE cycling at tRC")
    idd2n_ma: PositiveFloat = Field(description="precharge standby (all banks closed)")
    idd3n_ma: PositiveFloat = Field(description="active standby (a bank open)")
    idd4r_ma: PositiveFloat = Field(description="burst read")
    idd4w_ma: PositiveFloat = Field(description="burst write")
    idd5ab_ma: PositiveFloat = Field(description="all-bank refresh, averaged over tRFC")
    idd5pb_ma: PositiveFloat | None = Field(None, description="per-bank refresh over tRFCb")
    vpp_v: float = Field(0.0, ge=0, description="DDR4 wordline supply (0: not modelled)")
    ipp0_ma: float = Field(0.0, ge=0, description="VPP current during IDD0 cycling")
    ipp3n_ma: float = Field(0.0, ge=0, description="VPP current in active standby")


class Controller(_Config):
    """The memory controller (one per channel): queues, scheduling, paging, refresh, port."""

    read_queue: PositiveInt = Field(32, le=1024, description="transaction read queue entries")
    write_queue: PositiveInt = Field(32, le=1024, description="write buffer entries")
    command_queue: PositiveInt = Field(8, le=64, description="command queue entries per bank")
    page_policy: Literal["open", "closed"] = "open"
    row_hit_cap: PositiveInt = Field(
        4,
        description="FR-FCFS: a conflicting request may close the row after this many column commands to it",
    )
    write_drain_high: PositiveInt | None = Field(
        None, description="start draining writes when the buffer holds this many (default: full)"
    )
    write_drain_idle: NonNegativeInt = Field(
        8, description="also drain when more than this many writes wait and every command queue is empty"
    )
    write_drain_low: NonNegativeInt = Field(0, description="stop draining at this many writes")
    refresh: Literal["all_bank", "per_bank", "none"] = "all_bank"
    dual_command_issue: bool = Field(
        False,
        description="HBM2: a row and a column command may issue in the same clock (separate command buses)",
    )
    port_width_bits: PositiveInt | None = Field(
        None, description="FPGA-side port data width per channel (HBM2 AXI port, DDR4 EMIF user port)"
    )
    port_clock_mhz: PositiveFloat | None = Field(None, description="clock of that port")

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Controller:
        if (self.port_width_bits is None) != (self.port_clock_mhz is None):
            raise ValueError("give both port_width_bits and port_clock_mhz, or neither")
        high = self.write_drain_high or self.write_queue
        if not self.write_drain_low < high <= self.write_queue:
            raise ValueError(
                f"need write_drain_low < write_drain_high <= write_queue "
                f"(got {self.write_drain_low}, {high}, {self.write_queue})"
            )
        return self

    @property
    def port_gbps(self) -> float | None:
        if self.port_width_bits is None or self.port_clock_mhz is None:
            return None
        return self.port_width_bits / 8 * self.port_clock_mhz / 1e3


class DramConfig(_Config):
    """One DRAM memory system: device organisation, timing, power and controller."""

    name: str
    kind: Literal["ddr4", "hbm2"]
    source: str = Field("", description="where the values come from")
    organization: Organization
    timing: Timing
    power: Power
    controller: Controller = Field(default_factory=lambda: Controller.model_validate({}))
    address_map: str = Field(
        description="fields from most to least significant above the burst "
        "offset, comma separated: ro (row), ra (rank), bg (bank group), "
        "ba (bank), ch (channel), co (column)"
    )

    @pydantic.field_validator("address_map")
    @classmethod
    def _map_fields(cls, value: str) -> str:
        fields = [f.strip() for f in value.split(",")]
        if sorted(fields) != sorted(FIELD_NAMES):
            raise ValueError(f"'{value}' must name each of {', '.join(FIELD_NAMES)} exactly once")
        return ",".join(fields)

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> DramConfig:
        org = self.organization
        for what, n in (
            ("bank_groups", org.bank_groups),
            ("banks_per_group", org.banks_per_group),
            ("ranks", org.ranks),
            ("channels", org.channels),
            ("rows", org.rows),
        ):
            if n & (n - 1):
                raise ValueError(f"organization.{what} = {n} must be a power of two")
        if org.ranks * org.banks > 62:
            raise ValueError(
                f"organization: {org.ranks} ranks x {org.banks} banks = "
                f"{org.ranks * org.banks} banks per channel; at most 62 are modelled"
            )
        columns = org.row_bytes // max(1, org.burst_bytes)
        if org.row_bytes % org.burst_bytes or columns & (columns - 1):
            raise ValueError(
                f"organization.row_bytes ({org.row_bytes}) must be a power-of-two "
                f"multiple of the burst ({org.burst_bytes} B)"
            )
        if self.controller.refresh == "per_bank" and (
            self.timing.trfcb is None or self.timing.trefib is None
        ):
            raise ValueError("controller.refresh = per_bank needs timing.trfcb and timing.trefib")
        return self

    # derived figures
    @property
    def burst_cycles(self) -> int:
        return self.organization.burst_length // 2

    @property
    def peak_gbps(self) -> float:
        """Peak data bandwidth of all channels (GB/s): channels x width x 2 transfers per tCK
        (docs/dram.md#what-is-measured)."""
        org = self.organization
        return org.channels * org.channel_width_bits / 8 * 2 / self.timing.tck_ns

    @property
    def data_rate_mtps(self) -> float:
        return 2e3 / self.timing.tck_ns

    @property
    def columns_per_row(self) -> int:
        return self.organization.row_bytes // self.organization.burst_bytes

    def field_bits(self) -> dict[str, int]:
        org = self.organization
        return {
            "ch": _log2(org.channels),
            "ra": _log2(org.ranks),
            "bg": _log2(org.bank_groups),
            "ba": _log2(org.banks_per_group),
            "ro": _log2(org.rows),
            "co": _log2(self.columns_per_row),
        }

    def content_hash(self) -> str:
        """Digest of every value (not the file's layout or comments)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _log2(n: int) -> int:
    return int(math.log2(n))


def resolve(name_or_path: str | Path) -> Path:
    """An existing YAML path, or a name in hw_configs/dram/ (with or without .yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = CONFIG_DIR / f"{path.name.removesuffix('.yaml')}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise UsageError(f"dram config '{name_or_path}' not found (a YAML path, or one of: {known})")


def load_dram(name_or_path: str | Path | DramConfig) -> DramConfig:
    """Load and validate a DRAM config; a DramConfig passes through."""
    if isinstance(name_or_path, DramConfig):
        return name_or_path
    path = resolve(name_or_path)
    # parsing and validating the YAML costs ~10-40 ms, as much as simulating 50,000 requests:
    # configs are frozen, so one is reused while its file is unchanged (same mtime and size)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    cfg = _LOADED.get(key)
    if cfg is None:
        cfg = load_yaml_model(DramConfig, path)
        _LOADED[key] = cfg
    return cfg


_LOADED: dict[tuple[str, int, int], DramConfig] = {}
