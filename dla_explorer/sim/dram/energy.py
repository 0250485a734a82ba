"""DRAM energy from IDD currents, the way Micron's power calculator (TN-40-07) and DRAMPower do it.

Each command adds the charge its IDD measurement draws above the standby current it replaces:

- ACT+PRE pair: VDD * (IDD0 * tRC - (IDD3N * tRAS + IDD2N * (tRC - tRAS))) [+ VPP * (IPP0 - IPP3N) * tRC]
- READ / WRITE burst: VDD * (IDD4R|IDD4W - IDD3N) * burst clocks
- all-bank REF: VDD * (IDD5AB - IDD3N) * tRFC (per-bank: IDD5PB over tRFCb)
- background, per rank and clock: VDD * IDD3N while any bank is open, VDD * IDD2N otherwise

times tCK and the devices of a rank; mA * V * ns = pJ. I/O and termination power (off the DRAM
core) is not included, as in DRAMPower's core figures.
"""

from __future__ import annotations

from dla_explorer.sim.dram.config import DramConfig


def energy_pj(
    cfg: DramConfig,
    *,
    activates: int,
    reads: int,
    writes: int,
    refreshes: int,
    active_rank_cycles: int,
    idle_rank_cycles: int,
) -> dict[str, float]:
    """Energy by component (pJ) for the given command counts and rank-state cycles, by the IDD
    formulas of the module docstring (docs/dram.md#what-is-measured)."""
    t, pw = cfg.timing, cfg.power
    devices = cfg.organization.devices_per_rank
    scale = t.tck_ns * devices
    act = pw.vdd_v * (pw.idd0_ma * t.trc - (pw.idd3n_ma * t.tras + pw.idd2n_ma * (t.trc - t.tras)))
    act += pw.vpp_v * max(0.0, pw.ipp0_ma - pw.ipp3n_ma) * t.trc
    burst = cfg.burst_cycles
    read = pw.vdd_v * (pw.idd4r_ma - pw.idd3n_ma) * burst
    write = pw.vdd_v * (pw.idd4w_ma - pw.idd3n_ma) * burst
    if cfg.controller.refresh == "per_bank" and pw.idd5pb_ma is not None and t.trfcb is not None:
        refresh = pw.vdd_v * (pw.idd5pb_ma - pw.idd3n_ma) * t.trfcb
    else:
        refresh = pw.vdd_v * (pw.idd5ab_ma - pw.idd3n_ma) * t.trfc
    out = {
        "activate": activates * act * scale,
        "read": reads * read * scale,
        "write": writes * write * scale,
        "refresh": refreshes * refresh * scale,
        "background": (
            active_rank_cycles * pw.vdd_v * pw.idd3n_ma + idle_rank_cycles * pw.vdd_v * pw.idd2n_ma
        )
        * scale,
    }
    out["total"] = sum(out.values())
    return out
