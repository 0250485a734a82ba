"""Run a request stream through the cycle-level controller and summarise it."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np

from dla_explorer.core.errors import UsageError
from dla_explorer.sim.dram import controller as k
from dla_explorer.sim.dram.config import DramConfig, load_dram
from dla_explorer.sim.dram.energy import energy_pj

MODEL_VERSION = 2  # bump whenever the controller's timing behaviour changes (cache key)


@dataclasses.dataclass(frozen=True)
class DramResult:
    """Summary of one run (docs/dram.md#what-is-measured). Bandwidth is measured the way DRAMsim3's
    reference runs are: column commands issued until the cycle the last request is accepted, over
    that time (with a saturating source this is the sustained rate); when no column command issued
    by then (a single request, or every request taken before data moved), the whole run: `time_ns`
    is then `completion_ns`."""

    config: str
    requests: int
    bursts: int
    peak_gbps: float
    bandwidth_gbps: float
    efficiency: float
    time_ns: float
    completion_ns: float
    avg_read_latency_ns: float
    read_latency_percentiles_ns: dict[str, float]
    row_hit_rate: float
    commands: dict[str, int]
    energy_pj: dict[str, float]
    pj_per_bit: float
    added_ns: np.ndarray = dataclasses.field(repr=False)
    done_ns: np.ndarray = dataclasses.field(repr=False)
    is_write: np.ndarray = dataclasses.field(repr=False)

    def summary(self) -> dict[str, float | int]:
        """The CLI's keys."""
        return {
            "bandwidth_gbps": self.bandwidth_gbps,
            "peak_gbps": self.peak_gbps,
            "efficiency": self.efficiency,
            "avg_read_latency_ns": self.avg_read_latency_ns,
            "row_hit_rate": self.row_hit_rate,
            "requests": self.requests,
            "time_ns": self.time_ns,
        }


def decode(cfg: DramConfig, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte addresses -> (channel, bank index within the channel, row) by the config's map."""
    org = cfg.organization
    # the fields are cut from one int64 copy of the line index instead of converting each field
    # from uint64 (same bits: every field is masked to its width, all below bit 63)
    shift = np.uint64(int(math.log2(org.burst_bytes)))
    line = (np.asarray(addresses, dtype=np.uint64) >> shift).astype(np.int64)
    bits = cfg.field_bits()
    values: dict[str, np.ndarray] = {}
    for name in reversed(cfg.address_map.split(",")):
        width = bits[name]
        values[name] = line & ((1 << width) - 1)
        line = line >> width
    bank = (values["ra"] * org.bank_groups + values["bg"]) * org.banks_per_group + values["ba"]
    return values["ch"], bank, values["ro"]


@dataclasses.dataclass
class _Work:
    """Per-burst work arrays of one run (views of a thread's reusable buffers, or fresh)."""

    ints: list[np.ndarray]  # ch, bank, row, line, added, done, avail, read latency (cycles)
    flags: np.ndarray  # write flag per burst
    zeros: np.ndarray  # arrival clocks of a saturating source (never written)
    floats: np.ndarray  # read latencies


_REUSE_MAX = 1 << 20  # bursts: reuse buffers up to this size (~90 MB per thread), else allocate
_local = threading.local()


def _work_arrays(m: int) -> _Work:
    """Work arrays for m bursts. Fresh pages cost a page fault each (about a tenth of a run
    on this machine), so runs of up to _REUSE_MAX bursts reuse the thread's buffers, grown to
    the largest run so far; the controller overwrites every entry it reads."""
    if m > _REUSE_MAX:
        return _Work(
            [np.empty(m, np.int64) for _ in range(8)],
            np.empty(m, np.bool_),
            np.zeros(m, np.int64),
            np.empty(m),
        )
    pool: _Work | None = getattr(_local, "work", None)
    if pool is None or pool.flags.shape[0] < m:
        size = max(m, 1024)
        pool = _Work(
            [np.empty(size, np.int64) for _ in range(8)],
            np.empty(size, np.bool_),
            np.zeros(size, np.int64),
            np.empty(size),
        )
        _local.work = pool
    return _Work([a[:m] for a in pool.ints], pool.flags[:m], pool.zeros[:m], pool.floats[:m])


PERCENTILES = (50, 90, 99)


def _percentiles(lat: np.ndarray, cycles: np.ndarray, tck: float) -> np.ndarray:
    """np.percentile(lat, PERCENTILES) (method "linear"), bit for bit, where lat = cycles * tck:
    the order statistics come from counting the integer cycles (a histogram pass instead of
    numpy's selection, which cost 5-8% of a run), then numpy's own interpolation steps."""
    n = lat.shape[0]
    virtual = (n - 1) * np.true_divide(np.array(PERCENTILES), 100)  # as np.percentile
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1  # numpy takes the last value (index -1) for both
    previous[above] = -1
    following[above] = -1
    prev_i = previous.astype(np.intp)
    next_i = following.astype(np.intp)
    ranks = np.concatenate((prev_i, next_i))
    ranks[ranks < 0] += n
    stats = np.empty(ranks.shape[0], np.int64)
    if not k.order_statistics(cycles, ranks, stats):
        return np.asarray(np.percentile(lat, PERCENTILES))
    values = stats * tck  # lat's values: int64 cycles times tck
    a, b = values[: len(PERCENTILES)], values[len(PERCENTILES) :]
    gamma = virtual - prev_i
    # numpy's _lerp: a + (b - a) * t, or b - (b - a) * (1 - t) where t >= 0.5
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def _field_layout(cfg: DramConfig) -> tuple[np.ndarray, np.ndarray]:
    """Bit offset and mask in the line index of ch, ra, bg, ba, ro (as `decode` cuts them)."""
    bits = cfg.field_bits()
    offset, at = {}, 0
    for name in reversed(cfg.address_map.split(",")):
        offset[name] = at
        at += bits[name]
    names = ("ch", "ra", "bg", "ba", "ro")
    shift = np.array([offset[f] for f in names], np.int64)
    mask = np.array([(1 << bits[f]) - 1 for f in names], np.int64)
    return shift, mask


def params(cfg: DramConfig, max_outstanding: int = 0) -> np.ndarray:
    """The controller's int64 parameter vector."""
    org, t, ctl = cfg.organization, cfg.timing, cfg.controller
    burst = cfg.burst_cycles
    tccd_l, trrd_l, twtr_l = t.tccd_l, t.trrd_l, t.twtr_l
    if org.bank_groups == 1:  # no bank groups: the short timings apply everywhere
        tccd_l, trrd_l, twtr_l = t.tccd_s, t.trrd_s, t.twtr_s
    read_delay = t.cl + burst
    write_delay = t.cwl + burst
    p = np.zeros(k.P_NPARAMS, np.int64)
    values = {
        k.P_CHANNELS: org.channels,
        k.P_RANKS: org.ranks,
        k.P_BGS: org.bank_groups,
        k.P_BPG: org.banks_per_group,
        k.P_RQ: ctl.read_queue,
        k.P_WQ: ctl.write_queue,
        k.P_CQ: ctl.command_queue,
        k.P_BURST: burst,
        k.P_READ_DELAY: read_delay,
        k.P_WRITE_DELAY: write_delay,
        k.P_TRCD: t.trcd,
        k.P_TRP: t.trp,
        k.P_TRAS: t.tras,
        k.P_TRC: t.trc,
        k.P_TRRD_S: t.trrd_s,
        k.P_TRRD_L: trrd_l,
        k.P_TFAW: t.tfaw,
        # column-to-column spacing: same bank group, other group, other rank
        k.P_RTRL: max(burst, tccd_l),
        k.P_RTRS: max(burst, t.tccd_s),
        k.P_RTRO: burst + t.trtrs,
        # read to write: the read burst must leave the bus before the write burst arrives
        k.P_RTW: t.cl + burst - t.cwl + t.trtrs,
        k.P_RTWO: read_delay + burst + t.trtrs - write_delay,
        # write to read: write data, then tWTR before the read command
        k.P_WTRL: write_delay + twtr_l,
        k.P_WTRS: write_delay + t.twtr_s,
        k.P_WTRO: write_delay + burst + t.trtrs - read_delay,
        k.P_WTWL: max(burst, tccd_l),
        k.P_WTWS: max(burst, t.tccd_s),
        k.P_WTWO: burst,
        k.P_RTP: t.trtp,
        k.P_WTP: t.cwl + burst + t.twr,
        k.P_TRFC: t.trfc if ctl.refresh != "per_bank" else (t.trfcb or t.trfc),
        k.P_HIT_CAP: ctl.row_hit_cap,
        k.P_CLOSED_PAGE: int(ctl.page_policy == "closed"),
        k.P_DRAIN_HIGH: ctl.write_drain_high or ctl.write_queue,
        k.P_DRAIN_IDLE: ctl.write_drain_idle,
        k.P_DRAIN_LOW: ctl.write_drain_low,
        k.P_DUAL: int(ctl.dual_command_issue),
        k.P_MAX_OUT: max_outstanding,
        k.P_STEADY: k.STEADY_READS_PER_ACT,
    }
    if ctl.refresh == "all_bank":
        values[k.P_REF_MODE] = k.REF_ALL_BANK
        values[k.P_REF_INTERVAL] = max(1, t.trefi // org.ranks)  # staggered over the ranks
    elif ctl.refresh == "per_bank":
        values[k.P_REF_MODE] = k.REF_PER_BANK
        values[k.P_REF_INTERVAL] = max(1, (t.trefib or t.trefi) // org.ranks)
    else:
        values[k.P_REF_MODE] = k.REF_NONE
        values[k.P_REF_INTERVAL] = 1
    for index, value in values.items():
        p[index] = value
    return p


def _byte_addresses(addresses: np.ndarray) -> np.ndarray:
    """The addresses as uint64, refusing what the cast would change silently: a negative address
    wrapped to 2**64 - x and a fractional one was truncated (unsigned input is taken as is)."""
    given = np.asarray(addresses).ravel()
    if given.dtype.kind == "u":
        return given.astype(np.uint64, copy=False)
    if given.size and given.dtype.kind not in "iuf":
        raise UsageError(f"addresses must be whole byte addresses >= 0, got an array of {given.dtype}")
    if given.size and given.dtype.kind in "if":
        bad = ~(given >= 0) if given.dtype.kind == "i" else ~((given >= 0) & (np.floor(given) == given))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UsageError(f"addresses[{i}] = {given[i].item()!r}: must be a whole byte address >= 0")
    return given.astype(np.uint64)


def run(
    config: DramConfig | str,
    addresses: np.ndarray,
    is_write: np.ndarray | None = None,
    arrival_ns: np.ndarray | None = None,
    *,
    request_bytes: int = 64,
    max_outstanding: int = 0,
) -> DramResult:
    """Simulate requests (byte addresses, in the order the requester offers them).

    is_write: per request (default all reads). arrival_ns: earliest time each may be offered
    (default 0: a saturating source). A request larger than a burst becomes consecutive bursts
    that complete when the last one does. max_outstanding: at most this many requests accepted
    and not yet complete (0 = no limit; a read completes when its data returns, a write when
    it is accepted).
    """
    cfg = load_dram(config)
    addresses = _byte_addresses(addresses)
    n = addresses.shape[0]
    writes = np.zeros(n, np.bool_) if is_write is None else np.asarray(is_write, dtype=np.bool_).ravel()
    if writes.shape[0] != n:
        raise UsageError(f"is_write has {writes.shape[0]} entries for {n} addresses")
    if request_bytes < 1:
        raise UsageError(f"request_bytes = {request_bytes}: must be at least 1")
    if max_outstanding < 0:
        raise UsageError(f"max_outstanding = {max_outstanding}: must be 0 (no limit) or more")
    tck = cfg.timing.tck_ns
    burst_bytes = cfg.organization.burst_bytes
    per = max(1, -(-request_bytes // burst_bytes))
    arrival: np.ndarray | None = None
    if arrival_ns is not None:
        arr = np.asarray(arrival_ns, dtype=np.float64).ravel()
        if arr.shape[0] != n:
            raise UsageError(f"arrival_ns has {arr.shape[0]} entries for {n} addresses")
        if n and (not np.all(np.isfinite(arr)) or arr.min() < 0):
            raise UsageError("arrival times must be finite and >= 0")
        arrival = np.repeat(np.ceil(arr / tck - 1e-9).astype(np.int64), per)
    # bursts and their decoded fields in one compiled pass (the numpy steps it replaces, one
    # temporary array each, cost a third of a run on sequential traffic)
    shift, mask = _field_layout(cfg)
    org = cfg.organization
    work = _work_arrays(n * per)
    ch, bank, row, line, added, done, avail, _ = work.ints
    burst_write = work.flags
    if arrival is None:
        arrival = work.zeros
    k.prepare(
        addresses,
        writes,
        per,
        int(math.log2(burst_bytes)),
        shift,
        mask,
        org.bank_groups,
        org.banks_per_group,
        ch,
        bank,
        row,
        line,
        burst_write,
    )
    port = cfg.controller.port_gbps
    port_interval = burst_bytes / port / tck if port else 0.0
    stats = np.zeros(k.S_NSTATS, np.int64)
    k.simulate_into(
        params(cfg, max_outstanding * per),
        ch,
        bank,
        row,
        burst_write,
        line,
        arrival,
        float(port_interval),
        added,
        done,
        stats,
        avail,
    )
    return _summarise(cfg, n, per, added, done, writes, stats, work.floats, work.ints[7])


def _summarise(
    cfg: DramConfig,
    n: int,
    per: int,
    added: np.ndarray,
    done: np.ndarray,
    writes: np.ndarray,
    stats: np.ndarray,
    scratch: np.ndarray,
    scratch_cycles: np.ndarray,
) -> DramResult:
    tck = cfg.timing.tck_ns
    burst_bytes = cfg.organization.burst_bytes
    added_ns = np.empty(n, np.float64)
    done_ns = np.empty(n, np.float64)
    reads = k.request_times(added, done, per, writes, tck, added_ns, done_ns, scratch, scratch_cycles)
    lat = scratch[:reads]
    columns = int(stats[k.S_RD] + stats[k.S_WR])
    window = int(stats[k.S_LAST_ACCEPT])
    if window > 0 and stats[k.S_CMDS_AT_LAST_ACCEPT] > 0:
        bandwidth = stats[k.S_CMDS_AT_LAST_ACCEPT] * burst_bytes / (window * tck)
    else:
        # every request was taken before any data moved (all at once, or a timed trace whose
        # last request came before the first column command): the window held nothing, and
        # the run gave 0 GB/s over the last arrival time; the whole run is the measure
        window = int(stats[k.S_END])
        bandwidth = columns * burst_bytes / max(window * tck, tck)
    hits = int(stats[k.S_RD_HIT] + stats[k.S_WR_HIT])
    energy = energy_pj(
        cfg,
        activates=int(stats[k.S_ACT]),
        reads=int(stats[k.S_RD]),
        writes=int(stats[k.S_WR]),
        refreshes=int(stats[k.S_REF]),
        active_rank_cycles=int(stats[k.S_ACTIVE_RANK_CYCLES]),
        idle_rank_cycles=int(stats[k.S_IDLE_RANK_CYCLES]),
    )
    bits = columns * burst_bytes * 8
    pct = {}
    if lat.size:
        for q, value in zip(PERCENTILES, _percentiles(lat, scratch_cycles[:reads], tck), strict=True):
            pct[f"p{q}"] = float(value)
        pct["max"] = float(lat.max())
    peak = cfg.peak_gbps
    return DramResult(
        config=cfg.name,
        requests=n,
        bursts=n * per,
        peak_gbps=peak,
        bandwidth_gbps=float(bandwidth),
        efficiency=float(bandwidth / peak),
        time_ns=window * tck,
        completion_ns=float(stats[k.S_END] * tck),
        avg_read_latency_ns=float(lat.mean()) if lat.size else float("nan"),
        read_latency_percentiles_ns=pct,
        row_hit_rate=hits / columns if columns else 0.0,
        commands={
            "activate": int(stats[k.S_ACT]),
            "precharge": int(stats[k.S_PRE]),
            "read": int(stats[k.S_RD]),
            "write": int(stats[k.S_WR]),
            "refresh": int(stats[k.S_REF]),
        },
        energy_pj=energy,
        pj_per_bit=energy["total"] / bits if bits else float("nan"),
        added_ns=added_ns,
        done_ns=done_ns,
        is_write=writes,
    )
