"""The DLA simulator against hand-computed layers, and its consistency properties."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dla_explorer import packing
from dla_explorer.core.errors import UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim.resources import resources
from dla_explorer.sim.simulator import design_arrays, design_row, simulate, simulate_batch
from dla_explorer.sparsity import pruning

# the clock model (fMAX falls as the device fills) has its own tests (test_physics.py); here the
# requested clock holds, so cycle counts convert to seconds at exactly 400 MHz
DEVICE = hw.load_device("stratix10_mx2100").model_copy(update={"fmax": None})
CLOCK = 400e6


class HandNet(nn.Module):
    """One 3x3 conv (64 -> 128 on 14x14) and a 128 -> 10 classifier: small enough to do by hand."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def hand():
    torch.manual_seed(0)
    return pruning.prune(HandNet(), "random", 0.0, input_shape=(1, 64, 14, 14), name="hand")


@pytest.fixture(scope="module")
def hand_sparse():
    torch.manual_seed(0)
    return pruning.prune(HandNet(), "random", 0.75, input_shape=(1, 64, 14, 14), name="hand")


def arch(**changes):
    base = dict(
        name="hand",
        k_vec=64,
        c_vec=16,
        q_vec=7,
        lanes=1,
        precision="int8",
        clock_mhz=400,
        stream_buffer_kb=4096,
        filter_cache_kb=8,
        alpha=8,
        gamma=1.75,
        double_buffering=True,
        compress_activations=False,
    )
    return hw.Architecture(**{**base, **changes})


def memory(gbps: float, latency_ns: float = 0.0):
    """A one-channel 64-bit memory of exactly `gbps` GB/s, no latency, no efficiency loss
    (HBM2-kind: the device caps DDR4 data rates, not HBM2 ones)."""
    return hw.Memory(
        name=f"{gbps} GB/s",
        kind="hbm2",
        channels=1,
        data_rate_mtps=gbps * 1e3 / 8,
        bus_width_bits=64,
        controller_efficiency=1.0,
        access_latency_ns=latency_ns,
        energy_pj_per_bit=10.0,
        interface_static_w_per_channel=0.0,
    )


def test_dense_cycles_by_hand(hand):
    result = simulate(hand, arch(), memory(1000), DEVICE, mode="dense", cache=None)
    conv, fc = result.layers.iloc[0], result.layers.iloc[1]
    # conv: ceil(128/64) = 2 passes x 3*3 taps x ceil(64/16) = 72 steps per pixel tile;
    # tiles = ceil(14/1 lane) x ceil(14/7 q_vec) = 28; + 2 passes x 64-PE chain fill
    assert conv.compute_cycles == 72 * 28 + 2 * 64
    # fc: 1 pass x ceil(128/16) = 8 steps, one pixel tile, + 64 fill
    assert fc.compute_cycles == 8 * 1 + 64
    assert conv.compute_s == pytest.approx(2144 / CLOCK)
    # the conv fills every lane: 128*64*9*196 useful MACs = 2016 cycles x 7,168 multipliers
    assert conv.useful_macs == conv.issued_macs == 128 * 64 * 9 * 196


def test_dense_cycles_by_hand_other_geometry(hand):
    a = arch(k_vec=32, c_vec=8, q_vec=4, lanes=2, pe_chain_fill_cycles=10)
    layers = simulate(hand, a, memory(1000), DEVICE, mode="dense", cache=None).layers
    # conv: 4 passes x 9 x ceil(64/8) = 288 steps; tiles ceil(14/2) x ceil(14/4) = 7 x 4 = 28
    assert layers.compute_cycles[0] == 288 * 28 + 4 * 10
    # fc: ceil(10/32) = 1 pass x ceil(128/8) = 16 steps; linear rows: ceil(1/(4*2)) = 1 tile
    assert layers.compute_cycles[1] == 16 + 10


def test_weight_and_activation_bytes_by_hand(hand):
    layers = simulate(hand, arch(), memory(1000), DEVICE, mode="dense", cache=None).layers
    assert layers.weight_bytes[0] == 128 * 64 * 9  # int8, dense, no metadata
    assert layers.weight_bytes[1] == 10 * 128
    # maps fit the 4 MB stream buffer: only the network input and output cross DRAM
    assert layers.act_bytes[0] == 64 * 14 * 14 and layers.act_bytes[1] == 10
    assert not layers.spill.any()
    fp16 = simulate(hand, arch(precision="fp16"), memory(1000), DEVICE, mode="dense", cache=None)
    assert fp16.layers.weight_bytes[0] == 2 * 128 * 64 * 9


def test_memory_bound_switch(hand):
    # conv: 2,144 cycles at 400 MHz = 5.36 us; 73,728 weight + 12,544 input bytes = 86,272 B:
    # memory-bound below 86,272 B / 5.36 us = 16.1 GB/s
    fast = simulate(hand, arch(), memory(20.0), DEVICE, mode="dense", cache=None).layers.iloc[0]
    slow = simulate(hand, arch(), memory(10.0), DEVICE, mode="dense", cache=None).layers.iloc[0]
    assert fast.bound == "compute" and slow.bound == "memory"
    assert slow.memory_s == pytest.approx(86272 / 10e9)
    assert slow.time_s == pytest.approx(86272 / 10e9)  # double buffered: max(compute, memory)
    serial = simulate(
        hand, arch(double_buffering=False), memory(10.0, latency_ns=100), DEVICE, mode="dense", cache=None
    ).layers.iloc[0]
    assert serial.time_s == pytest.approx(2144 / CLOCK + 86272 / 10e9 + 100e-9)
    # double buffering hides the transfer behind the compute, not the first access's latency
    overlapped = simulate(hand, arch(), memory(10.0, latency_ns=100), DEVICE, mode="dense", cache=None)
    assert overlapped.layers.time_s[0] == pytest.approx(86272 / 10e9 + 100e-9)


def test_spilled_maps_use_the_bitmap_format(hand):
    # the conv's output path runs the ReLU and the mean (a global average pool) on the aux blocks
    # and writes the pooled 128 values, not the 25,088 of the conv (docs/model.md#stream-buffer)
    tiny = arch(stream_buffer_kb=1)  # 12,544 + 128 bytes of maps do not fit 1 KB
    raw = simulate(hand, tiny, memory(1000), DEVICE, mode="dense", cache=None).layers.iloc[0]
    packed = simulate(
        hand,
        tiny.model_copy(update={"compress_activations": True}),
        memory(1000),
        DEVICE,
        mode="dense",
        cache=None,
    ).layers.iloc[0]
    # 12,672 B of maps in a 1 KB buffer: sliced into ceil(12,672 / 1,024) = 13 slices (at most
    # one per output row: 14). The input is read once plus the 3x3 kernel's halo of R - stride =
    # 2 rows at each of the 12 slice boundaries (896 B a row); the pooled output is written once
    assert raw.spill and raw.slices == 13
    halo_input = 64 * 14 * 14 + 12 * 2 * 896
    assert raw.act_bytes == halo_input + 128
    # the written tensor travels at the next layer's measured input density, which is that
    # tensor: the fc's input, the mean of ReLU maps, positive everywhere, density 1, so the bitmap
    # form (1 + 8 bits a value) loses to dense and both maps are stored dense
    assert hand.act_density["fc"] == 1.0
    assert packed.act_bytes == raw.act_bytes
    # at a measured density of 1/4: 128 presence bits = 16 B, then one int8 byte for each of the
    # 32 non-zero values; the input (density 1, the network's) stays dense
    quarter = dataclasses.replace(hand, act_density={**hand.act_density, "fc": 0.25})
    sparse_out = simulate(
        quarter, tiny.model_copy(update={"compress_activations": True}), memory(1000), DEVICE, mode="dense",
        cache=None,
    ).layers.iloc[0]  # fmt: skip
    assert sparse_out.act_bytes == halo_input + 16 + 32


def test_energy_is_power_times_time_and_adds_up(hand_sparse):
    result = simulate(hand_sparse, arch(), memory(20.0), DEVICE, mode="packed", batch=3, cache=None)
    t, layers = result.totals, result.layers
    dynamic = layers[["mac_j", "sram_j", "dram_j", "logic_j"]].to_numpy().sum()
    assert t.energy_j_per_frame * 3 == pytest.approx(dynamic + t.static_w * t.latency_s)
    assert t.power_w * t.latency_s == pytest.approx(t.energy_j_per_frame * 3)
    assert t.fps_per_w == pytest.approx(t.fps / t.power_w)
    assert t.static_w == DEVICE.static_power_w + DEVICE.board_power_w
    # MAC energy by hand: useful x E + idle lane-slots x E x gated fraction
    e = DEVICE.energy.mac_pj["int8"] * 1e-12
    idle = layers.issued_macs - layers.useful_macs
    expected = (layers.useful_macs * e + idle * e * DEVICE.energy.gated_mac_fraction).sum()
    assert layers.mac_j.sum() == pytest.approx(expected)
    # clocked logic: every used ALM, every cycle, for the whole run
    alms = resources(arch(), DEVICE).used["alm"]
    logic_w = alms * CLOCK * DEVICE.energy.logic_pj_per_alm_cycle * 1e-12
    assert layers.logic_j.sum() == pytest.approx(logic_w * t.latency_s)


def test_sram_dram_and_static_energy_by_hand(hand):
    """The energy terms the test above only sums, each by hand (docs/model.md, "Power and energy";
    the Stratix 10 MX coefficients are hw_configs/devices/stratix10_mx2100.yaml's nominals)."""
    m = memory(1000).model_copy(update={"channels": 2, "interface_static_w_per_channel": 1.5})
    result = simulate(hand, arch(), m, DEVICE, mode="dense", cache=None)
    layers, t = result.layers, result.totals
    # DRAM: conv 73,728 weight + 12,544 input bytes; fc 1,280 weight + 10 output bytes; 10 pJ/bit
    assert layers.dram_j.tolist() == pytest.approx([86272 * 8 * 10e-12, 1290 * 8 * 10e-12])
    # on-chip bits, int8 (8 bits a value, no exponent, no selects in dense mode), conv:
    #   feeder: 2 passes x 64 x 3 x 3 = 1,152 values a pixel x 196 pixels = 225,792
    #   scratchpads: 72 steps x 28 tiles = 2,016 cycles x 64 x 16 weights = 2,064,384
    #   output writes: the output path's tensor after the fused ReLU and global mean pool,
    #   128 values (the 128 x 196 = 25,088 pre-pool values never reach the stream buffer)
    # fc: 128 feeder values (one row), 8 cycles x 1,024 weights, 10 outputs
    bits = [8 * (225792 + 2064384 + 128), 8 * (128 + 8 * 1024 + 10)]
    assert layers.sram_j.tolist() == pytest.approx([b * 0.5e-12 for b in bits])  # 0.5 pJ/bit
    # static: 15 W FPGA + 25 W card + 2 channels x 1.5 W of memory interface
    assert t.static_w == pytest.approx(15.0 + 25.0 + 2 * 1.5)
    # the rest of the power is the dynamic energy over the batch's latency
    assert t.dynamic_w == pytest.approx(
        layers[["mac_j", "sram_j", "dram_j", "logic_j"]].to_numpy().sum() / t.latency_s
    )


def test_stall_is_the_time_compute_does_not_cover(hand):
    # serial (no double buffering), memory-bound conv: 2,144 compute cycles, 86,272 B at 10 GB/s
    # and a 100-ns access latency; the fc: 72 cycles, 1,290 B. The stall is every memory second
    # and latency the compute does not hide
    a = arch(double_buffering=False)
    t = simulate(hand, a, memory(10.0, latency_ns=100), DEVICE, mode="dense", cache=None).totals
    compute = (2144 + 72) / CLOCK
    memory_s = (86272 + 1290) / 10e9
    assert t.compute_s == pytest.approx(compute) and t.memory_s == pytest.approx(memory_s)
    assert t.stall_s == pytest.approx(memory_s + 2 * 100e-9)
    assert t.latency_s == pytest.approx(compute + memory_s + 2 * 100e-9)


def test_packed_cycles_come_from_the_packed_layers(hand_sparse):
    a = arch()
    packed = packing.pack(hand_sparse, packing.Geometry(64, 16), "packed", alpha=8, gamma=1.75, cache=None)
    result = simulate(packed, a, memory(1000), DEVICE)
    conv = packed.layers[0]
    assert result.layers.pe_cycles[0] == conv.steps(16) * 28 + conv.n_passes * 64
    # the traced graph's global mean pool after the conv reads 128 x 14 x 14 values, 4 channels x
    # 7 pixels a cycle: 896 cycles on the pool block, which the packed conv does not hide
    assert result.layers.aux_cycles[0] == 128 * 14 * 14 / (4 * 7)
    assert result.layers.compute_cycles[0] == max(result.layers.pe_cycles[0], 896)
    dense = simulate(hand_sparse, a, memory(1000), DEVICE, mode="unpacked", cache=None)
    assert result.layers.compute_cycles[0] < dense.layers.compute_cycles[0]
    assert result.mode == "packed"
    # the packed format carries a 3-bit select per stored cell
    assert result.layers.weight_bytes[0] == conv.weight_cells + conv.metadata_bytes
    # at 75% sparsity alpha binds: each pass's 576 columns fill 576 / 8 = 72 groups, 9,216 cells
    # for the 128 filters. A PE's share of a pass: 72 cells x (8 + 3) bits = 99 B, more than a 0.05 KB
    # (51.2 B) scratchpad holds: the filters, their selects and descriptors with them, stream
    # once per pixel tile (14 rows x ceil(14 / 7) = 28)
    assert conv.weight_cells == 9216 and conv.n_passes == 2
    reload = simulate(packed, arch(filter_cache_kb=0.05), memory(1000), DEVICE).layers
    assert reload.weight_fetches[0] == 28
    assert reload.weight_bytes[0] == 28 * (conv.weight_cells + conv.metadata_bytes)


def test_unpacked_equals_dense_time_with_less_mac_energy(hand_sparse):
    a, m = arch(), memory(1000)
    dense = simulate(hand_sparse, a, m, DEVICE, mode="dense", cache=None)
    unpacked = simulate(hand_sparse, a, m, DEVICE, mode="unpacked", cache=None)
    assert unpacked.totals.latency_s == dense.totals.latency_s
    assert unpacked.layers.mac_j.sum() < dense.layers.mac_j.sum()
    assert unpacked.totals.utilization == pytest.approx(dense.totals.utilization / 4, rel=0.02)


def test_batch_amortises_weights(hand):
    one = simulate(hand, arch(), memory(10.0), DEVICE, mode="dense", cache=None).totals
    eight = simulate(hand, arch(), memory(10.0), DEVICE, mode="dense", batch=8, cache=None).totals
    assert eight.dram_mb_per_frame < one.dram_mb_per_frame
    assert eight.fps > one.fps


def test_batch_api_equals_single_design_points(hand_sparse):
    archs = [arch(), arch(k_vec=32, c_vec=8), arch(alpha=4, gamma=0.5)]
    memories = [memory(10.0), memory(100.0, latency_ns=50)]
    rows, singles = [], []
    for a in archs:
        for m in memories:
            for mode in ("dense", "unpacked", "packed"):
                rows.append(design_row(a, m, mode))
                singles.append(simulate(hand_sparse, a, m, DEVICE, mode, cache=None).totals)
    batch = simulate_batch(hand_sparse, pd.DataFrame(rows), DEVICE, cache=None)
    expected = pd.DataFrame(singles).reset_index(drop=True)
    for column in ("fps", "latency_s", "power_w", "utilization", "dram_mb_per_frame", "dsp"):
        np.testing.assert_allclose(batch[column], expected[column], rtol=1e-12)
    assert (batch["bound"] == expected["bound"]).all()


def test_infeasible_designs_are_flagged_not_clipped(hand):
    big = arch(k_vec=128, c_vec=32, q_vec=4)  # 16,384 multipliers = 8,192 DSPs
    totals = simulate(hand, big, memory(100), DEVICE, mode="dense", cache=None).totals
    assert not totals.feasible and totals.violation.startswith("dsp +")
    assert totals.dsp == 8192 and totals.fps > 0


def test_batch_flags_designs_beyond_the_device_clock_and_memory(hand):
    rows = pd.DataFrame(
        [
            design_row(arch(), memory(10), "dense"),
            design_row(arch(clock_mhz=600), memory(10), "dense"),
            design_row(arch(), hw.load_memory("ddr4_2666_x4").model_copy(update={"channels": 6}), "dense"),
        ]
    )
    out = simulate_batch(hand, rows, DEVICE, cache=None)
    assert list(out["feasible"]) == [True, False, False]
    assert out["violation"][1] == "clock_mhz +20.0%"  # 600 MHz on a 500 MHz device
    assert out["violation"][2] == "mem_channels +50.0%"  # 6 DDR4 channels where 4 fit


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch": 0}, "batch must be >= 1"),
        ({"mode": "sparse"}, "mode 'sparse' is not one of dense, unpacked, packed, nm"),
    ],
)
def test_bad_simulate_arguments(hand, kwargs, message):
    with pytest.raises(UsageError, match=message):
        simulate(hand, arch(), memory(10), DEVICE, **{"mode": "dense", **kwargs})


def test_mismatched_packing_and_bad_design_tables(hand):
    packed = packing.pack(hand, packing.Geometry(32, 16), "dense", cache=None)
    with pytest.raises(UsageError, match="packed for k_vec 32"):
        simulate(packed, arch(), memory(10), DEVICE)
    rows = pd.DataFrame([design_row(arch(), memory(10), "dense")])
    with pytest.raises(UsageError, match="lacks columns: mem_kind"):
        simulate_batch(hand, rows.drop(columns="mem_kind"), DEVICE, cache=None)
    # the same rows as dicts: a bare KeyError('mem_kind') before; keys with defaults may be absent
    row = design_row(arch(), memory(10), "dense")
    with pytest.raises(UsageError, match="design rows lack keys: mem_kind"):
        design_arrays([row, {k: v for k, v in row.items() if k != "mem_kind"}])
    assert design_arrays([{k: v for k, v in row.items() if k != "mem_dram"}])["mem_dram"].tolist() == [""]
    with pytest.raises(UsageError, match="design 0: key 'c_vec' must be > 0"):
        simulate_batch(hand, rows.assign(c_vec=0), DEVICE, cache=None)
    with pytest.raises(UsageError, match="has no fp32 multipliers"):
        simulate_batch(hand, rows.assign(precision="fp32"), DEVICE, cache=None)


def test_incompatible_hardware_is_refused(hand):
    with pytest.raises(UsageError, match="clock_mhz': 900 MHz is above"):
        simulate(hand, arch(clock_mhz=900), memory(10), DEVICE, mode="dense", cache=None)
    hbm = hw.load_memory("hbm2_x1")
    with pytest.raises(UsageError, match="HBM2 pseudo-channels, Arria 10 GX 1150 has 0"):
        simulate(hand, arch(clock_mhz=300), hbm, hw.load_device("arria10_gx1150"), mode="dense")


def test_same_weights_other_densities_are_not_confused(hand_sparse):
    sparser_maps = dataclasses.replace(
        hand_sparse, act_density={name: density / 4 for name, density in hand_sparse.act_density.items()}
    )
    tiny = arch(stream_buffer_kb=1, compress_activations=True)  # maps spill, compressed
    first = simulate(hand_sparse, tiny, memory(10), DEVICE, cache=None).totals
    second = simulate(sparser_maps, tiny, memory(10), DEVICE, cache=None).totals
    assert second.dram_mb_per_frame < first.dram_mb_per_frame
