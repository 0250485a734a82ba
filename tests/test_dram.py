"""Cycle-level DRAM model: DRAMsim3 reference rows, hand-computed timing bounds, energy, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dla_explorer.cli import main
from dla_explorer.core.errors import UsageError
from dla_explorer.sim.dram import TRAFFIC_CLASSES, efficiency_table, load_dram, simulate_trace
from dla_explorer.sim.dram import patterns as pt
from dla_explorer.sim.dram.config import CONFIG_DIR, DramConfig
from dla_explorer.sim.dram.energy import energy_pj

REFERENCE = Path(__file__).parent / "data" / "dramsim3_basic_patterns.csv"
CONFIGS = {
    "DDR4_8Gb_x8_2666": "dramsim3_ddr4_8gb_x8_2666",
    "DDR4_8Gb_x8_2666_bgint": "dramsim3_ddr4_8gb_x8_2666_bgint",
    "DDR4_8Gb_x16_2666_1rank": "dramsim3_ddr4_8gb_x16_2666_1rank",
    "HBM2_8Gb_x128": "dramsim3_hbm2_8gb_x128",
}
ROWS = pd.read_csv(REFERENCE).to_dict("records")
SATURATED = 60_000  # the reference ran 500,000; the rate settles within a few thousand
UNLOADED = 10_000  # the reference ran 20,000


def stream(pattern: str, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    if pattern.startswith("seq_read"):
        return pt.sequential(n), None
    if pattern == "seq_write":
        return pt.sequential(n), np.ones(n, np.bool_)
    return pt.random_lines(n, 1 << 32, seed=7), None  # random_read*: 64-B lines over 4 GiB


def variant(name: str, **changes: object) -> DramConfig:
    """A shipped config with some controller/timing fields changed (validated again)."""
    cfg = load_dram(name)
    data = cfg.model_dump()
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    return DramConfig.model_validate(data)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['config']}-{r['pattern']}" for r in ROWS])
def test_matches_dramsim3_reference(row):
    qd1 = row["pattern"].endswith("_qd1")
    n = UNLOADED if qd1 else SATURATED
    addresses, is_write = stream(row["pattern"], n)
    res = simulate_trace(CONFIGS[row["config"]], addresses, is_write, max_outstanding=1 if qd1 else 0)
    assert res.peak_gbps == pytest.approx(row["peak_gbps"], rel=1e-3)
    assert res.bandwidth_gbps == pytest.approx(row["bandwidth_gbps"], rel=0.10)
    if qd1:
        assert res.avg_read_latency_ns == pytest.approx(row["avg_read_latency_ns"], rel=0.15)


# ---- closed forms (cycle counts from the config, not from a run) ----


def test_sequential_row_hits_run_at_the_burst_rate_less_refresh():
    # bgint: consecutive lines rotate over the 4 bank groups, so bursts need only tCCD_S = BL/2
    name = "dramsim3_ddr4_8gb_x8_2666_bgint"
    t = load_dram(name).timing
    no_refresh = simulate_trace(variant(name, controller__refresh="none"), pt.sequential(40_000))
    assert no_refresh.efficiency == pytest.approx(1.0, abs=0.01)
    bound = 1 - t.trfc / t.trefi  # 0.955: each rank is blocked tRFC of every tREFI
    with_refresh = simulate_trace(name, pt.sequential(40_000))
    assert bound - 0.02 < with_refresh.efficiency <= bound + 0.002


def test_same_bank_group_bursts_are_spaced_by_tccd_l():
    # 64-B reads cycling inside one 8 KB row of one bank: all row hits, one bank group
    name = "dramsim3_ddr4_8gb_x8_2666"
    cfg = variant(name, controller__refresh="none")
    addresses = (np.arange(20_000, dtype=np.uint64) % 128) * np.uint64(64)
    res = simulate_trace(cfg, addresses)
    burst = cfg.organization.burst_length // 2
    assert res.efficiency == pytest.approx(burst / cfg.timing.tccd_l, rel=0.01)  # 4/7
    assert res.row_hit_rate > 0.999


def test_single_bank_row_misses_are_bounded_by_trc():
    # every request a new row of bank 0: ACT-RD-PRE per request, so one burst per tRC
    name = "dramsim3_ddr4_8gb_x8_2666"
    cfg = variant(name, controller__refresh="none")
    row_set = cfg.organization.row_bytes * cfg.organization.banks * cfg.organization.ranks
    addresses = np.arange(4000, dtype=np.uint64) * np.uint64(row_set)
    res = simulate_trace(cfg, addresses)
    t = cfg.timing
    period = max(t.trc, t.tras + t.trp, t.trcd + t.trtp + t.trp)  # 62 clocks
    assert res.efficiency == pytest.approx((cfg.organization.burst_length // 2) / period, rel=0.02)
    assert res.row_hit_rate == 0.0
    assert res.commands["activate"] == len(addresses)


def test_random_reads_are_bounded_by_tfaw():
    # one rank of x16 devices: at most 4 ACTs per tFAW = 40 clocks, one 4-clock burst each
    name = "dramsim3_ddr4_8gb_x16_2666_1rank"
    t = load_dram(name).timing
    res = simulate_trace(name, pt.random_lines(40_000, 1 << 32, seed=3))
    bound = 4 * 4 / t.tfaw * (1 - t.trfc / t.trefi)  # 0.382
    assert res.efficiency <= bound + 0.005
    assert res.efficiency > bound - 0.03
    # HBM2: 4 ACTs per tFAW = 30 clocks per channel, 2-clock bursts
    name = "dramsim3_hbm2_8gb_x128"
    t = load_dram(name).timing
    res = simulate_trace(name, pt.random_lines(40_000, 1 << 32, seed=3))
    assert res.efficiency <= 4 * 2 / t.tfaw * (1 - t.trfc / t.trefi) + 0.005


def test_read_after_write_pays_the_write_to_read_turnaround():
    # one request in flight, alternating write and read to one open row, writes drained at
    # once: each read waits for the write's data (CWL + BL/2) plus tWTR_L, then CL + BL/2
    name = "dramsim3_ddr4_8gb_x8_2666"
    cfg = variant(
        name, controller__refresh="none", controller__write_drain_high=1, controller__write_drain_idle=0
    )
    n = 2000
    addresses = (np.arange(n, dtype=np.uint64) % 128) * np.uint64(64)
    is_write = np.arange(n) % 2 == 1
    mix = simulate_trace(cfg, addresses, is_write, max_outstanding=1)
    reads = simulate_trace(cfg, addresses[~is_write], max_outstanding=1)
    t, burst = cfg.timing, cfg.burst_cycles
    read_lat = np.median(reads.done_ns - reads.added_ns) / t.tck_ns
    mix_lat = np.median((mix.done_ns - mix.added_ns)[~is_write]) / t.tck_ns
    assert read_lat == 1 + t.cl + burst  # issued the clock after it is queued
    assert mix_lat == (t.cwl + burst + t.twtr_l) + (t.cl + burst)


def test_refresh_and_turnaround_cost_a_saturated_mix():
    name = "dramsim3_ddr4_8gb_x8_2666_bgint"
    addresses = pt.sequential(40_000)
    reads = simulate_trace(name, addresses)
    mixed = simulate_trace(name, addresses, np.arange(40_000) % 2 == 1)
    assert mixed.efficiency < reads.efficiency - 0.03


def test_port_width_caps_bandwidth():
    cfg = variant("dramsim3_hbm2_8gb_x128", controller__port_width_bits=256, controller__port_clock_mhz=300.0)
    res = simulate_trace(cfg, pt.sequential(40_000))
    cap = cfg.organization.channels * 256 / 8 * 0.3  # 9.6 GB/s per channel
    assert cap * 0.9 < res.bandwidth_gbps <= cap * 1.001


def test_arrival_times_pace_the_source():
    n = 2000
    res = simulate_trace("dramsim3_ddr4_8gb_x8_2666_bgint", pt.sequential(n), arrival_ns=np.arange(n) * 100.0)
    assert res.bandwidth_gbps == pytest.approx(0.64, rel=0.02)  # 64 B per 100 ns
    t = load_dram("dramsim3_ddr4_8gb_x8_2666_bgint").timing
    hit = (1 + t.cl + 4) * t.tck_ns  # queued, issued next clock, CL + burst
    assert hit <= res.avg_read_latency_ns < 2 * hit  # unloaded: row hits, some refresh waits


def test_closed_page_precharges_after_each_access():
    name = "dramsim3_ddr4_8gb_x8_2666"
    cfg = variant(name, controller__page_policy="closed", controller__refresh="none")
    res = simulate_trace(cfg, pt.sequential(2000), max_outstanding=1)
    assert res.commands["activate"] == 2000
    assert res.row_hit_rate == 0.0


def test_large_requests_become_bursts():
    res = simulate_trace(
        "dramsim3_ddr4_8gb_x8_2666_bgint", pt.sequential(1000, stride=256), request_bytes=256
    )
    assert res.commands["read"] == 4000
    assert res.bursts == 4000 and res.requests == 1000


# ---- energy ----


def test_energy_follows_the_idd_formulas():
    cfg = load_dram("dramsim3_ddr4_8gb_x8_2666")
    e = energy_pj(cfg, activates=1, reads=1, writes=0, refreshes=0, active_rank_cycles=0, idle_rank_cycles=0)
    # 8 devices, tCK 0.75 ns; ACT: 1.2 V * (51*62 - (46*43 + 35*19)) mA*clk + 2.5 V * 3 mA * 62
    assert e["activate"] == pytest.approx((1.2 * 519 + 2.5 * 3.0 * 62) * 0.75 * 8)
    assert e["read"] == pytest.approx(1.2 * (146 - 46) * 4 * 0.75 * 8)  # 2880 pJ per 64 B
    res = simulate_trace(cfg, pt.sequential(20_000))
    read_only = e["read"] / 512
    assert read_only < res.pj_per_bit < read_only * 3  # plus background, ACT and refresh
    # each term is its command count times the per-command energy above
    assert res.energy_pj["read"] == pytest.approx(res.commands["read"] * e["read"])
    assert res.energy_pj["activate"] == pytest.approx(res.commands["activate"] * e["activate"])
    assert res.commands["refresh"] > 0 and res.energy_pj["refresh"] == pytest.approx(
        res.commands["refresh"] * 1.2 * (250 - 46) * 467 * 0.75 * 8
    )
    # background: both ranks, every clock of the run, at IDD2N (35 mA) precharged up to IDD3N
    # (46 mA) with a row open
    rank_clocks = 2 * res.completion_ns / 0.75
    assert 1.2 * 35 * rank_clocks * 6 <= res.energy_pj["background"] <= 1.2 * 46 * rank_clocks * 6
    assert res.energy_pj["total"] == pytest.approx(sum(v for k, v in res.energy_pj.items() if k != "total"))


def test_write_refresh_and_background_energy_by_hand():
    """The terms the test above leaves at `> 0`, each from the config's IDD values (TN-40-07)."""
    cfg = load_dram("dramsim3_ddr4_8gb_x8_2666")  # 8 x8 devices a rank, tCK 0.75 ns, VDD 1.2 V
    one = dict(activates=0, reads=0, writes=0, refreshes=0, active_rank_cycles=0, idle_rank_cycles=0)
    scale = 0.75 * 8  # mA * V * clocks -> pJ over the rank's 8 devices
    # WRITE: IDD4W 132 mA above IDD3N 46 mA over BL8 = 4 clocks (IDD4W, not IDD4R's 146)
    assert energy_pj(cfg, **{**one, "writes": 1})["write"] == pytest.approx(1.2 * (132 - 46) * 4 * scale)
    # all-bank REF: IDD5AB 250 mA above IDD3N over tRFC 467 clocks (350 ns)
    refresh = energy_pj(cfg, **{**one, "refreshes": 1})["refresh"]
    assert refresh == pytest.approx(1.2 * (250 - 46) * 467 * scale)
    # background: IDD3N (46 mA) while a bank is open, IDD2N (35 mA) while all are precharged
    bg = energy_pj(cfg, **{**one, "active_rank_cycles": 1000, "idle_rank_cycles": 3000})
    assert bg["background"] == pytest.approx(1.2 * (46 * 1000 + 35 * 3000) * scale)
    assert bg["total"] == pytest.approx(bg["background"])
    # HBM2 pseudo-channel with per-bank refresh: one 64-bit device, tCK 1 ns; REFsb draws IDD5PB
    # 40 mA above IDD3N 27.5 mA for tRFCsb 160 clocks (not the all-bank tRFC of 260)
    hbm = variant("hbm2_s10mx_pc", controller__refresh="per_bank")
    assert energy_pj(hbm, **{**one, "refreshes": 1})["refresh"] == pytest.approx(1.2 * (40 - 27.5) * 160)
    allbank = load_dram("hbm2_s10mx_pc")
    assert energy_pj(allbank, **{**one, "refreshes": 1})["refresh"] == pytest.approx(1.2 * (125 - 27.5) * 260)
    # its BL4 burst is 2 clocks: a write is IDD4W 250 mA above IDD3N for 2 ns
    assert energy_pj(allbank, **{**one, "writes": 1})["write"] == pytest.approx(1.2 * (250 - 27.5) * 2)


# ---- level-1 table ----


def test_efficiency_table_is_cached_and_ordered(tmp_path):
    table = efficiency_table("dramsim3_ddr4_8gb_x8_2666", requests=3000, cache=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    assert set(table) == set(TRAFFIC_CLASSES)
    assert table["seq_read"]["efficiency"] > table["two_streams_same_bank"]["efficiency"]
    assert table["random_read_qd1"]["avg_read_latency_ns"] > table["seq_read_qd1"]["avg_read_latency_ns"]
    stored = json.loads(files[0].read_text())
    stored["table"]["seq_read"]["efficiency"] = 0.123  # the cache is what is returned
    files[0].write_text(json.dumps(stored))
    again = efficiency_table("dramsim3_ddr4_8gb_x8_2666", requests=3000, cache=tmp_path)
    assert again["seq_read"]["efficiency"] == 0.123
    files[0].write_text("{not json")  # unreadable: recomputed and rewritten
    third = efficiency_table("dramsim3_ddr4_8gb_x8_2666", requests=3000, cache=tmp_path)
    assert third["seq_read"]["efficiency"] == pytest.approx(table["seq_read"]["efficiency"])


# ---- configs ----


def test_every_shipped_config_loads_and_runs():
    paths = sorted(CONFIG_DIR.glob("*.yaml"))
    assert len(paths) >= 9
    for path in paths:
        cfg = load_dram(path)
        res = simulate_trace(cfg, pt.sequential(500))
        assert 0 < res.efficiency <= 1, path.name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"address_map": "ro,ba,bg,co"}, "address_map"),
        ({"timing": {"trc": 10}}, "trc"),
        ({"controller": {"port_width_bits": 256}}, "port_clock_mhz"),
        ({"bogus": 1}, "unknown key"),
    ],
)
def test_bad_config_is_one_line(tmp_path, change, message):
    import yaml

    data = load_dram("dramsim3_ddr4_8gb_x8_2666").model_dump()
    for key, value in change.items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError) as err:
        load_dram(path)
    assert message in str(err.value) and "\n" not in str(err.value)


# ---- CLI ----


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_cli_json(tmp_path, capsys):
    trace = write(
        tmp_path / "t.csv",
        "address,op\n"
        + "".join(f"{hex(64 * i) if i % 2 else 64 * i},{'W' if i % 5 == 4 else 'r'}\n" for i in range(200)),
    )
    assert main(["dram", str(trace), "--memory", "dramsim3_ddr4_8gb_x8_2666", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "bandwidth_gbps",
        "peak_gbps",
        "efficiency",
        "avg_read_latency_ns",
        "row_hit_rate",
        "requests",
        "time_ns",
    }
    assert out["requests"] == 200
    # the figures are the library's on the same requests (hex and decimal addresses, W/r parsed)
    ref = simulate_trace("dramsim3_ddr4_8gb_x8_2666", np.arange(200) * 64, np.arange(200) % 5 == 4)
    assert out["efficiency"] == pytest.approx(ref.efficiency) and out["time_ns"] == pytest.approx(ref.time_ns)
    assert out["row_hit_rate"] == pytest.approx(ref.row_hit_rate)


def test_cli_text_with_times(tmp_path, capsys):
    trace = write(tmp_path / "t.csv", "time_ns,op,address\n0,R,0\n100,R,64\n200,W,128\n")
    assert (
        main(
            [
                "dram",
                str(trace),
                "--memory",
                "dramsim3_hbm2_8gb_x128",
                "--max-outstanding",
                "1",
                "--request-bytes",
                "128",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "bandwidth_gbps" in out and "requests" in out


@pytest.mark.parametrize(
    "content, code, fragment",
    [
        ("addr,op\n0,R\n", 1, "missing column"),
        ("address,op\n0,X\n", 1, "op 'X'"),
        ("address,op\n0xZZ,R\n", 1, "address '0xZZ'"),
        ("address,op\n-5,R\n", 1, "outside"),
        ("", 1, "empty file"),
        ("address,op\n", 1, "no requests"),
        (b"address,op\n\xff\xfe,R\n", 1, "not UTF-8"),
        ("address,op,time_ns\n0,R,soon\n", 1, "time_ns 'soon'"),
        # times under a header without time_ns were ignored: a saturating replay, silently
        ("address,op\n0,R,5\n64,R,9\n", 1, "line 2: 3 fields, the header has 2 (address, op)"),
    ],
)
def test_cli_bad_trace(tmp_path, capsys, content, code, fragment):
    trace = write(tmp_path / "t.csv", content)
    assert main(["dram", str(trace), "--memory", "dramsim3_ddr4_8gb_x8_2666"]) == code
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_bad_memory(tmp_path, capsys):
    trace = write(tmp_path / "t.csv", "address,op\n0,R\n")
    assert main(["dram", str(trace), "--memory", "no_such_dram"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["dram", str(tmp_path / "missing.csv"), "--memory", "dramsim3_ddr4_8gb_x8_2666"]) == 1
    capsys.readouterr()
    # a memory system's name (what simulate --memory takes): the error names its DRAM device
    assert main(["dram", str(trace), "--memory", "ddr4_2666_x1"]) == 2
    assert "whose DRAM device is --memory ddr4_2666_8gb_x8_1rank" in capsys.readouterr().err


def test_trailing_empty_cells_are_not_extra_columns(tmp_path, capsys):
    trace = write(tmp_path / "t.csv", "address,op\n0,R,\n64,W,\n")
    assert main(["dram", str(trace), "--memory", "dramsim3_ddr4_8gb_x8_2666", "--json"]) == 0
    assert '"requests": 2' in capsys.readouterr().out


@pytest.mark.parametrize("config", ["hbm2_s10mx_pc", "ddr4_2666_8gb_x8_1rank"])
def test_requests_taken_before_any_data_moved_are_measured_over_the_whole_run(config):
    """One read offered at 10 ns was accepted at 10 ns, before its READ issued: the bandwidth
    window (column commands until the last accept) held nothing, and the run reported 0 GB/s
    over 10 ns. It is measured over the whole run, as the same read offered at 0 ns is: the
    same latency, 10 ns later."""
    at_zero = simulate_trace(config, np.array([0]))
    later = simulate_trace(config, np.array([0]), arrival_ns=np.array([10.0]))
    tck = load_dram(config).timing.tck_ns
    offset = np.ceil(10.0 / tck - 1e-9) * tck  # offered at the first clock at or after 10 ns
    assert later.avg_read_latency_ns == pytest.approx(at_zero.avg_read_latency_ns)
    assert later.time_ns == pytest.approx(later.completion_ns)
    assert later.time_ns == pytest.approx(at_zero.time_ns + offset)
    assert later.bandwidth_gbps == pytest.approx(64 / later.time_ns)
    assert at_zero.bandwidth_gbps == pytest.approx(64 / at_zero.time_ns) and at_zero.bandwidth_gbps > 0
