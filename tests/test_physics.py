"""The DLA model's physics on hand-built graphs: auxiliary blocks, drain, stream-buffer slicing
with liveness and halos, filter reloads, precision, the clock model, memory ports and placement.
Every expected number is computed by hand in the comments (docs/model.md has the formulas)."""

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dla_explorer import packing
from dla_explorer.sim import config as hw
from dla_explorer.sim.graph import graph_arrays, zoo_ops
from dla_explorer.sim.resources import fmax_mhz, resources
from dla_explorer.sim.simulator import design_row, simulate, simulate_batch
from dla_explorer.sparsity import pruning
from dla_explorer.workload import zoo
from dla_explorer.workload.layers import AuxOp, extract

from .helpers import small_arch as arch

S10 = hw.load_device("stratix10_mx2100")
FIXED = S10.model_copy(update={"fmax": None})  # requested clock holds (the clock has its own tests)
DATA = Path(__file__).parent / "data"


class Block(nn.Module):
    """stem 3x3 (8 -> 16) -> c1 1x1 -> c2 3x3 -> c3 1x1, all 16 channels on 16 x 16, and a
    residual add of the stem's output after c3: int8 maps of 4,096 B each (the input 2,048 B)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.c1 = nn.Conv2d(16, 16, 1, bias=False)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.c3 = nn.Conv2d(16, 16, 1, bias=False)

    def forward(self, x):
        s = self.stem(x)
        return self.c3(self.c2(self.c1(s))) + s


def shaped(layer, **shape) -> dict:
    out = dict(N=1, C=layer.K, K=layer.K, H=layer.P, W=layer.Q, P=layer.P, Q=layer.Q)
    return {**out, **shape}


@pytest.fixture(scope="module")
def block():
    torch.manual_seed(0)
    sparse = pruning.prune(Block(), "random", 0.0, input_shape=(1, 8, 16, 16), name="block")
    w = sparse.workload
    add = AuxOp("add", "eltwise", "add", inputs=("c3", "stem"), after="c3", **shaped(w["c3"]))
    return dataclasses.replace(sparse, workload=dataclasses.replace(w, ops=(add,)))


def memory(gbps=1000.0, **changes):
    base = dict(
        name="m", kind="hbm2", channels=1, data_rate_mtps=gbps * 1e3 / 8, bus_width_bits=64,
        controller_efficiency=1.0, access_latency_ns=0.0, energy_pj_per_bit=10.0,
        interface_static_w_per_channel=0.0,
    )  # fmt: skip
    return hw.Memory(**{**base, **changes})


def run(sparse, a, m=None, device=FIXED, mode="dense"):
    return simulate(sparse, a, m or memory(), device, mode=mode, cache=None)


# -- stream buffer: liveness, slicing, halos, spills ---------------------------------------------


def test_graph_liveness_of_a_residual_shortcut(block):
    g = graph_arrays(block.workload)
    # the stem's output (position 0) is read by c1 as its input, then stays beside c2 and c3
    assert (
        g.tensor_size.tolist() == [4096] and g.tensor_first.tolist() == [2] and g.tensor_last.tolist() == [3]
    )
    assert g.resident.tolist() == [0, 0, 4096, 4096]
    assert g.eltwise_out.tolist() == [0, 0, 0, 4096] and g.eltwise_reads.tolist() == [0, 0, 0, 4096]
    # the add consumes c3's output path: c3 writes the sum (4,096), no separate aux write
    assert g.out_written.tolist() == [4096] * 4 and g.aux_written.tolist() == [0, 0, 0, 0]


def test_residual_stays_resident_and_forces_slicing(block):
    layers = run(block, arch(stream_buffer_kb=11)).layers  # 11,264 B
    # c2, c3: 8,192 B of maps + the 4,096 B shortcut > 11,264: sliced in ceil(8,192 / 7,168) = 2;
    # the shortcut has room (4,096 + a one-row slice of 1,024 B), so it stays, never spilled
    assert layers.slices.tolist() == [1, 1, 2, 2]
    assert layers.shortcut_spill_bytes.sum() == 0
    # DRAM: the network input (2,048); c2's output written (4,096) and read back by c3 (4,096),
    # c3's output (4,096: the network's). c2's input is c1's, on chip: no read, no halo
    assert layers.act_bytes.tolist() == [2048, 0, 4096, 8192]
    fits = run(block, arch(stream_buffer_kb=12)).layers  # 12,288 B: everything fits
    assert fits.act_bytes.tolist() == [2048, 0, 0, 4096] and not fits.spill.any()


def test_slice_with_halo_rows(block):
    layers = run(block, arch(stream_buffer_kb=6)).layers  # 6,144 B
    # c1 (8,192 B of maps) does not fit: 2 slices, output to DRAM. c2: room 6,144 - 4,096 resident
    # = 2,048 -> ceil(8,192 / 2,048) = 4 slices reading c1's spilled output from DRAM, each of the
    # 3 boundaries re-reading R - stride = 2 input rows of 256 B: 4,096 x (1 + 3 x 2 / 16) = 5,632
    assert layers.slices.tolist() == [1, 2, 4, 4]
    assert layers.act_bytes[1] == 4096  # c1 writes its output
    assert layers.act_bytes[2] == 5632 + 4096
    # c3 (1x1: no halo) reads c2's output back and writes its own
    assert layers.act_bytes[3] == 4096 + 4096


def test_a_shortcut_without_room_spills_once(block):
    layers = run(block, arch(stream_buffer_kb=4)).layers  # 4,096 B
    # beside c2 the shortcut (4,096) leaves no room for a one-row slice (3 x 256 + 256 B): it is
    # written once and read back once by the add, charged to c3
    assert layers.shortcut_spill_bytes.tolist() == [0, 0, 0, 2 * 4096]
    # every layer's maps (>= 6,144 B) overflow the 4,096 B with nothing resident: all sliced, each
    # output written to DRAM (4,096 B); the spilled shortcut's write is half its traffic, charged
    # with its reader c3 (the streams of fidelity 1 split reads from writes by this)
    per_layer = run(block, arch(stream_buffer_kb=4)).per_layer
    assert per_layer["act_write_bytes"][0].tolist() == [4096, 4096, 4096, 4096 + 4096]
    # c3 reads c2's output (1x1: no halo), writes its own, and the shortcut goes out and back
    assert layers.act_bytes[3] == 4096 + 4096 + 2 * 4096


def test_esram_extends_the_stream_buffer(block):
    # 4 KB of M20K + 8 KB of eSRAM = 12 KB: everything fits, as with 12 KB of M20K
    both = run(block, arch(stream_buffer_kb=4, stream_buffer_esram_kb=8))
    assert both.layers.act_bytes.tolist() == [2048, 0, 0, 4096]
    assert both.totals.esram == 1  # 65,536 bits of a 49,545,216-bit block
    a10 = hw.load_device("arria10_gx1150").model_copy(update={"fmax": None})
    rows = [design_row(arch(stream_buffer_kb=4, stream_buffer_esram_kb=8, clock_mhz=300), memory(), "dense")]
    import pandas as pd

    out = simulate_batch(block, pd.DataFrame(rows), a10, cache=None)
    assert not out.feasible[0] and "esram" in out.violation[0]  # Arria 10 has no eSRAM


class ConvReluPoolConv(nn.Module):
    """c1 3x3 (8 -> 16) on 16 x 16 -> ReLU -> 2x2/2 max pool -> c2 1x1 (16 -> 16) on 8 x 8."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(16, 16, 1, bias=False)

    def forward(self, x):
        return self.c2(self.pool(self.relu(self.c1(x))))


def test_a_spilled_output_is_the_pooled_map_at_its_density():
    torch.manual_seed(0)
    sparse = pruning.prune(ConvReluPoolConv(), "random", 0.0, input_shape=(1, 8, 16, 16), name="crpc")
    # extraction records the ReLU and the pool after c1, in a chain: c1 -> relu -> pool
    assert [(op.kind, op.inputs, op.after) for op in sparse.workload.ops] == [
        ("activation", ("c1",), "c1"),
        ("pool", ("relu",), "c1"),
    ]
    # the output path of c1 writes the pooled map: 16 x 8 x 8 = 1,024 values, not c1's 4,096
    assert graph_arrays(sparse.workload).out_written.tolist() == [1024, 1024]
    # on-chip bits of c1 (int8, one pixel a cycle): the feeder reads 8 channels x 9 taps = 72
    # values a pixel x 256 pixels = 18,432; the scratchpads 9 steps x 256 tiles = 2,304 cycles x
    # 16 x 16 weights = 589,824; one write, the ReLU'd pooled map (1,024), no shortcut read
    c1 = run(sparse, arch(q_vec=1)).layers
    assert c1.sram_j[0] == pytest.approx((18432 + 589824 + 1024) * 8 * 0.5e-12)  # 0.5 pJ/bit
    # hand-set densities: c1's input (the image) dense, c2's input (the pooled ReLU map) 50%
    sparse = dataclasses.replace(sparse, act_density={"c1": 1.0, "c2": 0.5})
    # int8 (1 B a value), a 2,048 B buffer. c1: input 2,048 B + written 1,024 B = 3,072 > 2,048:
    # sliced in ceil(3,072 / 2,048) = 2, its output to DRAM; it reads the network input with the
    # 3x3 halo, 2,048 x (1 + 1 x 2 / 16) = 2,304, and writes 1,024. c2: 1,024 + 1,024 = 2,048 fits
    # (not more than the buffer); it reads c1's 1,024 back and writes its own 1,024 (the last)
    plain = run(sparse, arch(stream_buffer_kb=2))
    assert plain.layers.slices.tolist() == [2, 1]
    assert plain.layers.act_bytes.tolist() == [2304 + 1024, 1024 + 1024]
    assert plain.per_layer["act_write_bytes"][0].tolist() == [1024, 1024]
    # compressed (docs/packing.md bitmap: ceil((n + ceil(n x density) x 8) / 8) B, dense if less):
    # c1's input at 1.0 stays dense, 2,304 with the halo; c1 writes the pooled map at c2's
    # measured input density 0.5: (1,024 + 512 x 8) / 8 = 640 B (the map before the pool would
    # be (4,096 + 2,048 x 8) / 8 = 2,560 B); c2 reads those 640 B and writes 1,024 dense (last)
    packed = run(sparse, arch(stream_buffer_kb=2, compress_activations=True))
    assert packed.layers.slices.tolist() == [2, 1]
    assert packed.layers.act_bytes.tolist() == [2304 + 640, 640 + 1024]
    assert packed.per_layer["act_write_bytes"][0].tolist() == [640, 1024]


# -- filter scratchpad -------------------------------------------------------------------------


def test_filter_reload_when_a_pass_does_not_fit(block):
    # c2: 16 filters of 16 x 3 x 3 int8 weights, one pass on 16 PEs: 144 B a PE. A 0.1 KB
    # scratchpad (102.4 B) cannot hold it: the filters stream once per pixel tile,
    # 16 rows x ceil(16 / 4) = 64 tiles
    small = run(block, arch(filter_cache_kb=0.1)).layers
    assert small.weight_fetches[2] == 64 and small.weight_bytes[2] == 2304 * 64
    assert small.weight_fetches[1] == 1  # c1: 16 B a PE fits
    # two passes (8 PEs) and 4 slices (as in the halo case): each slice walks both passes
    sliced = run(block, arch(k_vec=8, c_vec=8, stream_buffer_kb=6)).layers
    assert sliced.slices[2] == 4 and sliced.weight_fetches[2] == 4
    assert sliced.weight_bytes[2] == 4 * 2304


def test_resident_weights_never_cross_dram_and_must_all_fit(block):
    # DDR-free operation: stem 16 x 8 x 9 + c1 16 x 16 + c2 16 x 16 x 9 + c3 16 x 16 = 3,968 int8
    # weights, 248 B on each of 16 PEs (every layer one pass)
    streamed = run(block, arch())
    resident = run(block, arch(weights_resident=True))
    assert streamed.layers.weight_bytes.sum() == 3968
    assert resident.layers.weight_bytes.sum() == 0 and resident.layers.weight_fetches.sum() == 0
    drop = (streamed.totals.dram_mb_per_frame - resident.totals.dram_mb_per_frame) * 1e6
    assert drop == pytest.approx(3968)
    assert resident.totals.feasible
    # a 0.2 KB scratchpad (204.8 B) holds one layer's share but not the model's 248 B
    tight = run(block, arch(weights_resident=True, filter_cache_kb=0.2))
    assert not tight.totals.feasible
    assert "filter_scratchpad +21.1%" in tight.totals.violation
    assert run(block, arch(filter_cache_kb=0.2)).totals.feasible  # streamed: each layer fits


# -- auxiliary blocks and the drain ------------------------------------------------------------


def test_pooling_layer_on_the_pool_block(block):
    w = block.workload
    pool = AuxOp(
        "pool",
        "pool",
        "maxpool",
        inputs=("stem",),
        after="stem",
        **shaped(w["stem"], P=8, Q=8, R=3, S=3, stride=2),
    )
    pooled = dataclasses.replace(block, workload=dataclasses.replace(w, ops=(pool,)))
    a = arch(q_vec=1, pool_vec=1)
    layers = run(pooled, a).layers
    # stem on the PEs: 9 taps x ceil(8 / 16) = 9 steps x 256 tiles + 16 fill = 2,320 cycles; the
    # pool block reads its 4,096 inputs 1 channel x 1 pixel a cycle: 4,096 cycles, the limit
    assert layers.pe_cycles[0] == 2320 and layers.aux_cycles[0] == 4096
    assert layers.compute_cycles[0] == 4096 and layers.compute_limit[0] == "aux"
    # on-chip bits of the stem (int8): the feeder reads 8 channels x 9 taps = 72 values a pixel x
    # 256 pixels = 18,432; the scratchpads 2,304 cycles x 16 x 16 weights = 589,824; the output
    # path writes the pooled map, 16 x 8 x 8 = 1,024 values (not the stem's 4,096)
    assert layers.sram_j[0] == pytest.approx((18432 + 589824 + 1024) * 8 * 0.5e-12)  # 0.5 pJ/bit
    wider = run(pooled, arch(q_vec=1, pool_vec=4)).layers
    assert wider.aux_cycles[0] == 1024 and wider.compute_limit[0] == "pe"
    # a batch of 3 images: the pool block reads 3 x 4,096 values, the PEs run 3 x 256 tiles
    three = simulate(pooled, a, memory(), FIXED, mode="dense", batch=3, cache=None).layers
    assert three.aux_cycles[0] == 3 * 4096 and three.pe_cycles[0] == 9 * 3 * 256 + 16


def test_residual_add_on_the_eltwise_block(block):
    layers = run(block, arch(q_vec=1, eltwise_vec=1)).layers
    # 4,096 sums at 1 channel x 1 pixel a cycle after c3 (1x1: 256 tiles x 1 step + 16 fill)
    assert layers.aux_cycles.tolist() == [0, 0, 0, 4096] and layers.pe_cycles[3] == 256 + 16
    # on-chip bits of c3 (int8: 8 bits a value): the feeder reads 16 channels x 256 pixels =
    # 4,096 values, the scratchpads 256 cycles x 16 x 16 weights = 65,536; the add is fused on
    # c3's output path, so one tensor is written, the sum (4,096; c3's own output never reaches
    # the buffer), and the shortcut (4,096) is read as the add's second operand
    assert layers.sram_j[3] == pytest.approx((4096 + 65536 + 4096 + 4096) * 8 * 0.5e-12)  # 0.5 pJ/bit


def test_an_add_of_two_buffered_tensors_is_not_fused(block):
    w = block.workload
    # stem + c1 run after c3: neither operand is c3's output path, so the add reads both from the
    # stream buffer (2 x 4,096) and writes its sum (4,096) beside c3's own output (4,096)
    add = AuxOp("add", "eltwise", "add", inputs=("stem", "c1"), after="c3", **shaped(w["c3"]))
    loose = dataclasses.replace(block, workload=dataclasses.replace(w, ops=(add,)))
    g = graph_arrays(loose.workload)
    assert g.out_written.tolist() == [4096] * 4 and g.aux_written.tolist() == [0, 0, 0, 4096]
    assert g.eltwise_out.tolist() == [0, 0, 0, 4096] and g.eltwise_reads.tolist() == [0, 0, 0, 8192]
    layers = run(loose, arch(q_vec=1, eltwise_vec=1)).layers
    # c3: feeder 4,096 + scratchpads 65,536 (as above) + writes 2 x 4,096 + reads 2 x 4,096
    assert layers.sram_j[3] == pytest.approx((4096 + 65536 + 2 * 4096 + 2 * 4096) * 8 * 0.5e-12)


class Wide1x1(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 256, 1, bias=False)

    def forward(self, x):
        return self.conv(x)


def test_drain_bound_packed_1x1_layer():
    torch.manual_seed(0)
    sparse = pruning.prune(Wide1x1(), "random", 0.9, input_shape=(1, 64, 14, 14), name="wide")
    a = arch(k_vec=64, c_vec=16, q_vec=7, alpha=8, gamma=1.75, drain_vec=16)
    packed = packing.pack(sparse, packing.Geometry(64, 16), "packed", alpha=8, gamma=1.75, cache=None)
    result = simulate(packed, a, memory(), FIXED)
    layer = result.layers.iloc[0]
    tiles = 14 * 2  # 14 rows x ceil(14 / 7)
    # the drain: 256 channels of each tile leave 16 a cycle: 16 cycles a tile = 448
    assert layer.drain_cycles == tiles * 16
    steps = packed.layers[0].steps(16)
    assert steps < 16 and layer.pe_cycles == steps * tiles + 4 * 64
    assert layer.compute_cycles == max(tiles * 16, steps * tiles + 256)
    # dense: 4 passes x ceil(64 / 16) = 16 steps a tile, + fill: the PEs, not the drain, limit
    dense = simulate(sparse, a, memory(), FIXED, mode="dense", cache=None).layers.iloc[0]
    assert dense.pe_cycles == 16 * tiles + 4 * 64 and dense.compute_limit == "pe"
    # with a drain half as wide the packed layer waits for it
    narrow = simulate(packed, a.model_copy(update={"drain_vec": 4}), memory(), FIXED).layers.iloc[0]
    assert narrow.compute_cycles == tiles * 64 and narrow.compute_limit == "drain"
    # a width that does not divide the 256 channels: the last beat of a tile is partly empty,
    # ceil(256 / 12) = 22 cycles a tile (not 21.3)
    odd = simulate(packed, a.model_copy(update={"drain_vec": 12}), memory(), FIXED).layers.iloc[0]
    assert odd.drain_cycles == tiles * 22


# -- precision ---------------------------------------------------------------------------------


def test_block_floating_point_precisions(block):
    base = run(block, arch(precision="int8"))
    bfp11 = run(block, arch(precision="bfp11"))
    # four 6-bit mantissa products per DSP against two int8: half the DSPs (16 x 16 x 4 = 1,024)
    assert base.totals.dsp == 512 and bfp11.totals.dsp == 256
    # maps and weights cross DRAM as 16-bit values: twice int8's bytes
    assert bfp11.layers.act_bytes.sum() == 2 * base.layers.act_bytes.sum()
    assert bfp11.layers.weight_bytes.sum() == 2 * base.layers.weight_bytes.sum()
    # MAC energy per the device's per-precision coefficient (dense: every lane useful)
    assert bfp11.layers.mac_j.sum() / base.layers.mac_j.sum() == pytest.approx(
        S10.energy.mac_pj["bfp11"] / S10.energy.mac_pj["int8"]
    )
    fp16 = resources(arch(precision="fp16", alpha=4), S10)
    # 16 PEs' scratchpads read 16 x (12 + 2 select) + 5 exponent bits = 229 bits: 6 M20Ks each
    assert fp16.used["m20k_filters"] == 16 * 6
    # the packing mux switches 12-bit mantissas: 1,024 x 12 x 3 x 0.167 ALMs
    assert fp16.used["alm"] == pytest.approx(80000 + 25 * 1024 + 1024 * 12 * 3 * 0.167)


# -- clock -------------------------------------------------------------------------------------


def read_points():
    with open(DATA / "a10_fmax_points.csv") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    a10 = hw.load_device("arria10_gx1150")
    fill = np.array(
        [
            max(int(r["dsps"]) / a10.dsp_blocks, int(r["m20ks"]) / a10.m20k_blocks, int(r["alms"]) / a10.alms)
            for r in rows
        ]
    )
    return fill, np.array([float(r["fmax_mhz"]) for r in rows]), a10


def test_fmax_fit_reproduces_the_device_coefficients():
    fill, fmax, a10 = read_points()
    assert len(fmax) == 24
    # least squares fmax = a - b ln(fill), independent of the code under test
    design = np.c_[np.ones_like(fill), -np.log(fill)]
    (a, b), *_ = np.linalg.lstsq(design, fmax, rcond=None)
    assert a10.fmax.full_mhz == pytest.approx(a, abs=0.5)
    assert a10.fmax.fill_slope == pytest.approx(b / a, abs=5e-4)
    # the fit explains the trend: residuals within 2x the ~15 MHz seed noise
    assert np.abs(design @ [a, b] - fmax).max() < 35


def test_clock_falls_as_the_device_fills(block):
    full = hw.load_architecture("dla_s10mx").model_copy(update={"clock_mhz": 500, "alpha": 1})
    report = resources(full, S10)
    fill = max(report.used[k] / report.available[k] for k in ("dsp", "m20k", "alm"))
    assert fill == pytest.approx(3584 / 3960)
    expected = 400 * (1 - 0.1135 * math.log(3584 / 3960))
    assert report.fmax_mhz == pytest.approx(expected)
    # the simulator runs the design at min(requested 500, fMAX) = fMAX, and says so
    totals = run(block, full.model_copy(update={"k_vec": 64}), device=S10).totals
    assert totals.clock_mhz_used == pytest.approx(expected) and expected < 500
    # an alpha-8 packing mux adds ceil(3 / 2) = 2 LUT levels: 10% off
    packed = resources(full.model_copy(update={"alpha": 8}), S10)
    fill8 = max(packed.used[k] / packed.available[k] for k in ("dsp", "m20k", "alm"))
    assert packed.fmax_mhz == pytest.approx(400 * (1 - 0.1135 * math.log(fill8)) * 0.9)
    # a small design keeps its requested clock
    small = run(block, arch(clock_mhz=300), device=S10).totals
    assert small.clock_mhz_used == 300
    # the fMAX-capped design's clocked logic and peak throughput run at the clock it reaches, not
    # the 500 MHz requested: 0.1 pJ per used ALM and cycle; 2 ops x 64 x 16 x 7 multipliers
    capped = run(block, full.model_copy(update={"k_vec": 64}), device=S10)
    used = resources(full.model_copy(update={"k_vec": 64}), S10).used["alm"]
    latency = capped.totals.latency_s
    assert capped.layers.logic_j.sum() == pytest.approx(used * expected * 1e6 * 0.1e-12 * latency)
    assert capped.totals.gops_peak == pytest.approx(2 * 64 * 16 * 7 * expected * 1e6 / 1e9)


def test_fmax_is_held_below_the_devices_min_fill():
    # 1% of the DSPs, M20Ks and ALMs: below the device's min_fill (0.05) the curve is held there,
    # 400 x (1 - 0.1135 ln 0.05) = 536 MHz; with an alpha-8 mux (2 levels, 5% each) 482.4 MHz,
    # under the device's 500 MHz (the curve at 1% would give 609 x 0.9 = 548, capped to 500)
    used = {k: np.array([0.01 * v]) for k, v in {"dsp": 3960, "m20k": 6847, "alm": 702720}.items()}
    at_floor = 400 * (1 - 0.1135 * math.log(0.05)) * 0.9
    assert fmax_mhz(S10, used, np.array([8]))[0] == pytest.approx(at_floor)
    assert fmax_mhz(S10, used, np.array([1]))[0] == 500  # 536 MHz: the device's ceiling


# -- memory ports and placement ----------------------------------------------------------------


def test_hbm2_port_width_caps_each_pseudo_channel(block):
    # the flat controller efficiency (no DRAM device: fidelity 1 falls back to it)
    hbm = hw.load_memory("hbm2_x1").model_copy(update={"access_latency_ns": 0.0, "dram": ""})
    slow = run(block, arch(clock_mhz=300), hbm).layers
    # 16 GB/s x 0.8 = 12.8 GB/s a pseudo-channel, but a 256-bit port at 300 MHz carries 9.6 GB/s
    bytes_0 = slow.dram_bytes[0]
    assert slow.memory_s[0] == pytest.approx(bytes_0 / (16 * 9.6e9))
    fast = run(block, arch(clock_mhz=500), hbm).layers  # 16 GB/s port: the DRAM side limits
    assert fast.memory_s[0] == pytest.approx(bytes_0 / (16 * 12.8e9))


def test_weights_and_maps_on_separate_channels(block):
    split = memory(10.0, channels=4, weight_channels=1)
    layers = run(block, arch(), split).layers
    # stem: 1,152 B of weights on 1 channel, 2,048 B of input on the other 3, both at once
    w, a = layers.weight_bytes[0], layers.act_bytes[0]
    assert (w, a) == (1152, 2048)
    assert layers.memory_s[0] == pytest.approx(max(w / 10e9, a / 30e9))
    shared = run(block, arch(), memory(10.0, channels=4)).layers
    assert shared.memory_s[0] == pytest.approx((w + a) / 40e9)


# -- the zoo's graphs --------------------------------------------------------------------------


def test_zoo_ops_of_resnet50_and_mobilenet_v2():
    resnet = zoo_ops(extract(zoo.get("resnet50"), name="resnet50"))
    kinds = [op.kind for op in resnet.ops]
    assert kinds.count("eltwise") == 16 and kinds.count("pool") == 2
    maxpool = next(op for op in resnet.ops if op.kind == "pool")  # extraction lists ReLUs too
    assert (maxpool.after, maxpool.C, maxpool.H, maxpool.P) == ("conv1", 64, 112, 56)
    g = graph_arrays(resnet)
    # the 12 identity blocks keep their input resident beside conv2 and conv3; the 4 blocks with a
    # downsample conv add two freshly computed maps
    assert g.tensor_size.size == 12 and (g.tensor_last - g.tensor_first == 1).all()
    assert g.tensor_size[0] == 256 * 56 * 56
    assert g.pool_in[resnet.layers.index(resnet["layer4.2.conv3"])] == 2048 * 7 * 7
    mobilenet = zoo_ops(extract(zoo.get("mobilenet_v2"), name="mobilenet_v2"))
    # inverted residual blocks with matching shapes: 10 in MobileNet v2
    assert [op.kind for op in mobilenet.ops].count("eltwise") == 10


def test_bad_new_design_columns_are_refused(block):
    import pandas as pd

    from dla_explorer.core.errors import UsageError

    rows = pd.DataFrame([design_row(arch(), memory(channels=4), "dense")])
    with pytest.raises(UsageError, match="design 0: key 'stream_buffer_esram_kb' must be >= 0"):
        simulate_batch(block, rows.assign(stream_buffer_esram_kb=-1.0), FIXED, cache=None)
    with pytest.raises(UsageError, match="'mem_weight_channels' must leave channels"):
        simulate_batch(block, rows.assign(mem_weight_channels=4), FIXED, cache=None)
    with pytest.raises(UsageError, match="key 'drain_vec' must be > 0"):
        simulate_batch(block, rows.assign(drain_vec=0), FIXED, cache=None)


class Depthwise(nn.Module):
    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)

    def forward(self, x):
        return self.dw(x)


def test_depthwise_block_takes_depthwise_layers():
    torch.manual_seed(0)
    sparse = pruning.prune(Depthwise(), "random", 0.0, input_shape=(1, 32, 14, 14), name="dw")
    a = arch(k_vec=16, c_vec=16, q_vec=7)
    tiles = 14 * 2
    on_pes = run(sparse, a).layers.iloc[0]
    # on the PE array: 2 passes of 16 channels, each 9 taps x ceil(16 / 16): 18 steps a tile
    assert on_pes.pe_cycles == 18 * tiles + 2 * 16
    block = run(sparse, a.model_copy(update={"depthwise_vec": 16}))
    layer = block.layers.iloc[0]
    # on a 16-channel depthwise block: ceil(32 / 16) x ceil(9 / 9) = 2 cycles a tile, no fill
    assert layer.pe_cycles == 2 * tiles
    # every issued multiplier is useful: 16 channels x 9 taps x 7 pixels, 56 cycles
    assert layer.issued_macs == layer.useful_macs == 56 * 16 * 9 * 7
    # its multipliers: 16 x 9 x 7 = 1,008 more int8 multipliers = 504 more DSPs
    assert block.totals.dsp == run(sparse, a).totals.dsp + 504


def test_zoo_ops_of_a_basic_block_resnet():
    """ResNet-18's basic blocks end at conv2: one residual add each (was a StopIteration)."""
    resnet = zoo_ops(extract(zoo.get("resnet18"), name="resnet18"))
    adds = [op for op in resnet.ops if op.kind == "eltwise"]
    assert len(adds) == 8  # 4 stages x 2 basic blocks
    first, down = adds[0], adds[2]  # layer1.0 (identity), layer2.0 (downsample)
    assert first.inputs == ("layer1.0.conv2", "maxpool")
    assert down.inputs == ("layer2.0.conv2", "layer2.0.downsample.0")
