"""Memory fidelity levels (sim/traffic.py, docs/dram.md "Fidelity levels"): the DLA's generated
DRAM streams, the level-1 efficiency per stream from the cycle model's table, the level-2 replay,
and how far the levels may differ on a streaming-only design."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dla_explorer.core.errors import UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim import traffic
from dla_explorer.sim.dram import simulate_trace
from dla_explorer.sim.simulator import simulate, simulate_batch
from dla_explorer.sparsity import pruning

from .helpers import small_arch as arch

DEVICE = hw.load_device("stratix10_mx2100").model_copy(update={"fmax": None})
DDR4 = "ddr4_2666_8gb_x8_1rank"


def memory(channels=1, **changes):
    base = dict(
        name="m", kind="ddr4", channels=channels, data_rate_mtps=2666, bus_width_bits=64,
        controller_efficiency=0.8, access_latency_ns=100.0, energy_pj_per_bit=15.0,
        interface_static_w_per_channel=0.0, dram=DDR4,
    )  # fmt: skip
    return hw.Memory(**{**base, **changes})


@pytest.fixture(scope="module")
def fc():
    """One dense 2048 x 2048 linear layer: 4 MiB of int8 weights streamed once, 2 KiB in and out."""
    torch.manual_seed(0)
    return pruning.prune(
        nn.Sequential(nn.Linear(2048, 2048, bias=False)), "random", 0.0, input_shape=(1, 2048)
    )


@pytest.fixture(scope="module")
def table():
    return traffic.device_table(DDR4)


def test_sequential_weight_stream_is_the_seq_class(table):
    # a layer with only weights (4 KiB, one fetch) over 2 channels interleaved every 1 KiB
    (s,) = traffic.layer_streams(
        weight_bytes=np.array([4096.0]), weight_fetches=np.array([1.0]), act_bytes=np.array([0.0]),
        act_write_bytes=np.array([0.0]), slices=np.array([1.0]), in_channels=np.array([16.0]),
        out_channels=np.array([16.0]), linear=np.array([False]), c_vec=16, channels=2, weight_channels=0,
    )  # fmt: skip
    assert len(s) == 4096 // 64 and not s.is_write.any() and (s.kind == 0).all()
    # 16 requests of 1 KiB to channel 0, the next 16 to channel 1, ...: each channel sequential
    assert np.array_equal(s.channel, np.repeat([0, 1, 0, 1], 16))
    assert np.array_equal(s.address[s.channel == 0], np.arange(32) * 64)
    d = {"mem_dram": np.array([DDR4]), "mem_controller_efficiency": np.array([0.8]), "k_vec": np.array([16]),
         "c_vec": np.array([16])}  # fmt: skip
    one = np.ones((1, 1))
    lv1 = traffic.level1_streams(d, 0 * one, 0 * one, 16 * one, one, np.array([False]), 1)
    assert lv1["eff_weight"][0, 0] == table["seq_read"]["efficiency"]
    # the cycle model replaying a long sequential stream sustains the table's seq_read class
    (long,) = traffic.layer_streams(
        weight_bytes=np.array([float(1 << 20)]), weight_fetches=np.array([1.0]), act_bytes=np.array([0.0]),
        act_write_bytes=np.array([0.0]), slices=np.array([1.0]), in_channels=np.array([16.0]),
        out_channels=np.array([16.0]), linear=np.array([False]), c_vec=16, channels=2, weight_channels=0,
    )  # fmt: skip
    rep = traffic.replay(DDR4, long, 2)
    peak = 2 * 2666e6 * 8  # two 64-bit DDR4-2666 channels, bytes/s
    assert (1 << 20) / (rep.time_ns * 1e-9) / peak == pytest.approx(table["seq_read"]["efficiency"], rel=0.05)


def test_each_layer_reads_the_buffer_the_previous_one_wrote():
    # three layers, each reading 4 KiB of maps and writing 4 KiB, one channel, 1-MiB regions:
    # weights in region 0; layer i reads map buffer 1 + i % 2 and writes the other, which layer
    # i + 1 reads (ping-pong: a layer never overwrites the map it is still reading)
    three = np.ones(3)
    streams = traffic.layer_streams(
        weight_bytes=0 * three, weight_fetches=three, act_bytes=8192 * three, act_write_bytes=4096 * three,
        slices=three, in_channels=16 * three, out_channels=16 * three, linear=np.zeros(3, bool), c_vec=16,
        channels=1, weight_channels=0, region_bytes=1 << 20,
    )  # fmt: skip
    regions = [
        (set((s.address[~s.is_write] >> 20).tolist()), set((s.address[s.is_write] >> 20).tolist()))
        for s in streams
    ]
    assert regions == [({1}, {2}), ({2}, {1}), ({1}, {2})]
    assert all(len(s) == 8192 // 64 for s in streams)


def test_filters_follow_each_other_and_maps_run_by_channel_group():
    region = 1 << 20
    two = np.ones(2)
    # 1,000 B of filters a layer: 16 lines (1,024 B, line aligned); layer 1's follow layer 0's
    streams = traffic.layer_streams(
        weight_bytes=1000 * two, weight_fetches=two, act_bytes=0 * two, act_write_bytes=0 * two,
        slices=two, in_channels=16 * two, out_channels=16 * two, linear=np.zeros(2, bool), c_vec=16,
        channels=1, weight_channels=0, region_bytes=region,
    )  # fmt: skip
    assert streams[0].address.tolist() == list(range(0, 1024, 64))
    assert streams[1].address.tolist() == list(range(1024, 2048, 64))
    # 4 KiB of input maps of C = 24 channels stored in c_vec 16 groups: ceil(24 / 16) = 2 groups
    # of 2 KiB, read in 2 row slices: each slice reads 1 KiB of group 0, then 1 KiB of group 1
    (maps,) = traffic.layer_streams(
        weight_bytes=np.zeros(1), weight_fetches=np.ones(1), act_bytes=np.full(1, 4096.0),
        act_write_bytes=np.zeros(1), slices=np.full(1, 2.0), in_channels=np.full(1, 24.0),
        out_channels=np.full(1, 16.0), linear=np.zeros(1, bool), c_vec=16, channels=1, weight_channels=0,
        region_bytes=region,
    )  # fmt: skip
    runs = [range(0, 1024, 64), range(2048, 3072, 64), range(1024, 2048, 64), range(3072, 4096, 64)]
    assert maps.address.tolist() == [region + a for run in runs for a in run]  # map buffer 1


def test_random_small_tiles_get_a_lower_efficiency(table):
    d = {"mem_dram": np.array([DDR4, DDR4]), "mem_controller_efficiency": np.array([0.8, 0.8]),
         "k_vec": np.array([16, 16]), "c_vec": np.array([16, 16])}  # fmt: skip
    # the same 1 MiB of feature-map reads in 64-B runs (1024 channel groups x 16 slices) and in
    # one run (one channel group, one slice)
    reads = np.full((2, 1), float(1 << 20))
    slices = np.array([[16.0], [1.0]])
    small = traffic.level1_streams(d, reads, 0 * reads, np.full(1, 16 * 1024.0), slices, np.array([False]), 1)
    whole = traffic.level1_streams(d, reads, 0 * reads, np.full(1, 16.0), slices, np.array([False]), 1)
    assert small["eff_act_read"][0, 0] == pytest.approx(table["random_read"]["efficiency"])
    assert whole["eff_act_read"][1, 0] == pytest.approx(table["seq_read"]["efficiency"])
    assert table["random_read"]["efficiency"] < 0.8 * table["seq_read"]["efficiency"]
    # a run of 1 KiB is the table's tiled-feature-map class; between classes log-linear
    groups = np.full(1, 16 * 1024.0)  # 1024 channel groups, one slice: 1-KiB runs
    mid = traffic.level1_streams(d, reads, 0 * reads, groups, np.ones((2, 1)), np.array([False]), 1)
    assert mid["eff_act_read"][0, 0] == pytest.approx(table["tiled_fmap"]["efficiency"])
    # a memory that names no DRAM device keeps its flat efficiency
    flat = traffic.level1_streams({**d, "mem_dram": np.array(["", ""])}, reads, 0 * reads,
                                  np.full(1, 16.0), slices, np.array([False]), 1)  # fmt: skip
    assert np.all(flat["eff_act_read"] == 0.8)


def test_level1_between_classes_and_the_write_classes(table):
    d = {"mem_dram": np.array([DDR4]), "mem_controller_efficiency": np.array([0.8]), "k_vec": np.array([16]),
         "c_vec": np.array([16])}  # fmt: skip
    one, linear = np.ones((1, 1)), np.array([False])
    # 64 KiB of reads in 256 channel groups (C = 4,096 at c_vec 16), one slice: 256-B runs, half
    # way in log2 between the 64-B (random_read) and 1-KiB (tiled_fmap) classes: log2 256 = 8 is
    # the midpoint of 6 and 10, so the efficiency is the mean of the two classes' (a linear
    # interpolation in bytes would give 1/5 of the way: 256 - 64 = 192 of 960)
    reads = float(1 << 16) * one
    mid = traffic.level1_streams(d, reads, 0 * one, np.full(1, 4096.0), one, linear, 1)
    expected = (table["random_read"]["efficiency"] + table["tiled_fmap"]["efficiency"]) / 2
    assert mid["eff_act_read"][0, 0] == pytest.approx(expected)
    # writes beside reads share the bus (turnaround: seq_read_write); writes alone are seq_write
    both = traffic.level1_streams(d, reads, 0.5 * reads, np.full(1, 16.0), one, linear, 1)
    alone = traffic.level1_streams(d, reads, reads, np.full(1, 16.0), one, linear, 1)
    assert both["eff_act_write"][0, 0] == table["seq_read_write"]["efficiency"]
    assert alone["eff_act_write"][0, 0] == table["seq_write"]["efficiency"]
    assert both["act_read_bytes"][0, 0] == 0.5 * reads[0, 0] and alone["act_read_bytes"][0, 0] == 0
    assert table["seq_read_write"]["efficiency"] < table["seq_write"]["efficiency"]


def test_replay_equals_the_dram_models_own_run():
    # one channel: the replay decodes bank and row as the DRAM model's `run` does
    rng = np.random.default_rng(0)
    addr = (rng.integers(0, 1 << 22, 3000) * 64).astype(np.uint64)
    writes = rng.random(3000) < 0.3
    s = traffic.LayerStream(np.zeros(3000, np.int64), addr, writes, writes.astype(np.int8) * 2)
    rep = traffic.replay(DDR4, s, 1)
    ref = simulate_trace(traffic._channel_config(DDR4), addr, writes)
    assert rep.time_ns == pytest.approx(max(ref.completion_ns, ref.done_ns.max()))


def test_level2_of_one_layer_is_its_trace_replayed(fc):
    a, m = arch(), memory(channels=2)
    res = simulate(fc, a, m, DEVICE, mode="dense", cache=None, fidelity=2)
    per = res.per_layer
    (s,) = traffic.layer_streams(
        weight_bytes=per["weight_bytes"][0], weight_fetches=per["weight_fetches"][0],
        act_bytes=per["act_bytes"][0], act_write_bytes=per["act_write_bytes"][0], slices=per["slices"][0],
        in_channels=res.table.in_channels, out_channels=res.table.out_channels, linear=res.table.linear,
        c_vec=16, channels=2, weight_channels=0,
    )  # fmt: skip
    # every byte the model counts is requested: 4 MiB of weights, 2 KiB in, 2 KiB out
    assert len(s) == (2048 * 2048 + 2048 + 2048) // 64
    port = 512 / 8 * 400e6  # the memory has no port cap here: 0 means none
    direct = traffic.replay(DDR4, s, 2, 0.0 if not m.port_width_bits else port)
    assert res.layers.memory_s[0] == pytest.approx(direct.time_ns * 1e-9)


def test_levels_agree_on_a_streaming_design(fc, table):
    """Streaming only (4 MiB of weights read once): level 1 charges the table's seq_read
    efficiency and level 2 replays the stream; they agree within 10%. Level 0's flat 0.8 is off by
    the ratio of the two efficiencies."""
    a, m = arch(), memory(channels=2)
    mem = {
        lv: simulate(fc, a, m, DEVICE, mode="dense", cache=None, fidelity=lv).totals.memory_s
        for lv in (0, 1, 2)
    }
    assert mem[2] == pytest.approx(mem[1], rel=0.10)
    assert mem[0] / mem[1] == pytest.approx(table["seq_read"]["efficiency"] / 0.8, rel=0.01)


def test_level1_latency_is_the_unloaded_random_read(fc, table):
    """Without double buffering a layer waits for its first data: at level 1 the cycle model's
    unloaded random 64-B read (a layer's first access lands anywhere), not the flat 100 ns."""
    a = arch(double_buffering=False)
    layers = simulate(fc, a, memory(channels=2), DEVICE, mode="dense", cache=None, fidelity=1).layers
    latency_s = table["random_read_qd1"]["avg_read_latency_ns"] * 1e-9
    assert latency_s > table["seq_read_qd1"]["avg_read_latency_ns"] * 1e-9
    assert layers.time_s[0] == pytest.approx(layers.compute_s[0] + layers.memory_s[0] + latency_s)
    flat = simulate(fc, a, memory(channels=2), DEVICE, mode="dense", cache=None, fidelity=0).layers
    assert flat.time_s[0] == pytest.approx(flat.compute_s[0] + flat.memory_s[0] + 100e-9)


def test_fidelity_errors(fc):
    with pytest.raises(UsageError, match="fidelity = 3"):
        simulate(fc, arch(), memory(), DEVICE, mode="dense", cache=None, fidelity=3)
    with pytest.raises(UsageError, match="key 'dram'"):
        simulate(fc, arch(), memory(dram=""), DEVICE, mode="dense", cache=None, fidelity=2)
    with pytest.raises(UsageError, match="simulate_batch"):
        simulate_batch(fc, None, DEVICE, fidelity=2)


def test_every_shipped_memory_names_a_dram_device():
    from dla_explorer.sim.dram import load_dram

    paths = sorted((hw.CONFIG_ROOT / "memory").glob("*.yaml"))
    assert paths
    for path in paths:
        m = hw.load_memory(path)
        assert m.dram and load_dram(m.dram).kind == m.kind


def test_spearman_by_hand():
    from dla_explorer.dse.rescore import spearman

    # ranks (1, 2, 3, 4) vs (1, 3, 2, 4): d^2 = 0 + 1 + 1 + 0 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 30, 20, 40])) == pytest.approx(0.8)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)


def test_results_record_the_memory_fidelity_their_figures_were_computed_at(fc):
    """The report said "level 0 (analytical model)" of every table, which were computed at the
    default level 1: no table carried the level. A memory that names no DRAM device runs level 1
    on the flat controller efficiency, which is level 0, and is recorded so."""
    from dla_explorer.sim.simulator import design_row
    from dla_explorer.study.report import _fidelity as fidelity

    named, plain = memory(), memory(dram="")
    rows = pd.DataFrame([design_row(arch(), m, "dense") for m in (named, plain)])
    for level, expected in ((0, [0, 0]), (1, [1, 0])):
        batch = simulate_batch(fc, rows, DEVICE, fidelity=level)
        assert batch["fidelity"].tolist() == expected
        # level 1 without a device is level 0's figures, as recorded
        assert batch["fps"].iloc[1] == simulate_batch(fc, rows, DEVICE, fidelity=0)["fps"].iloc[1]
    for level in (0, 1, 2):
        result = simulate(fc, arch(), named, DEVICE, mode="dense", cache=None, fidelity=level)
        assert result.totals["fidelity"] == level
    assert simulate(fc, arch(), plain, DEVICE, mode="dense", cache=None).totals["fidelity"] == 0
    text = fidelity(batch)
    assert text.startswith("level 0 (analytical model with a flat DRAM controller efficiency) and level 1")
    assert fidelity(batch.drop(columns="fidelity")).startswith("memory fidelity not recorded")
