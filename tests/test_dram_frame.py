"""Level 2 replays a frame as one request stream (sim/traffic.py `replay_frame`): the controller's
open rows, queues and refresh phase carry over from layer to layer (docs/dram.md, "Fidelity
levels"). Bounds from the device's timing parameters, not from a run."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from dla_explorer.sim import config as hw
from dla_explorer.sim import traffic
from dla_explorer.sim.simulator import simulate
from dla_explorer.sparsity import pruning

DDR4 = "ddr4_2666_8gb_x8_1rank"
DEVICE = hw.load_device("stratix10_mx2100").model_copy(update={"fmax": None})


def reads(addresses: np.ndarray, channel: int = 0) -> traffic.LayerStream:
    addr = np.asarray(addresses, np.uint64)
    n = addr.size
    return traffic.LayerStream(np.full(n, channel, np.int64), addr, np.zeros(n, bool), np.zeros(n, np.int8))


def test_back_to_back_layers_add_up_to_the_whole_stream():
    rng = np.random.default_rng(1)
    layers = [reads(rng.integers(0, 1 << 20, size) * 64) for size in (300, 5, 0, 800, 40)]
    frame = traffic.replay_frame(DDR4, layers, 1)
    whole = traffic.replay(
        DDR4, reads(np.concatenate([s.address for s in layers if len(s)]).astype(np.int64)), 1
    )
    assert sum(r.time_ns for r in frame) == pytest.approx(whole.time_ns)
    assert frame[2].time_ns == 0.0 and frame[2].channel_bytes.sum() == 0
    assert [r.channel_bytes.sum() for r in frame] == [64.0 * len(s) for s in layers]
    # each layer's memory time starts where the previous one's ended
    ends = np.cumsum([r.time_ns for r in frame])
    assert [r.start_ns for r in frame[1:]] == pytest.approx(list(ends[:-1]))


def test_an_open_row_carries_over_to_the_next_layer():
    """Two layers reading the same 1 KiB (one DRAM row) with an idle gap between them: replayed
    alone, the second pays an activation (tRCD) before its first read; in the frame the row is
    still open (open page, nothing else queued) and it starts with a row hit."""
    cfg = traffic._channel_config(DDR4)
    t, tck = cfg.timing, cfg.timing.tck_ns
    layer = reads(np.arange(16) * 64)
    alone = traffic.replay(DDR4, layer, 1).time_ns
    gap = 2000.0  # ns: well under tREFI (7.8 us), so no refresh falls between
    frame = traffic.replay_frame(DDR4, [layer, layer], 1, start_ns=np.array([0.0, gap]))
    assert frame[0].time_ns == pytest.approx(alone)
    assert frame[1].start_ns == pytest.approx(gap, abs=tck)
    assert frame[1].time_ns == pytest.approx(alone - t.trcd * tck, abs=2 * tck)


def test_refresh_phase_carries_over():
    """Many short layers back to back, each far shorter than tREFI: replayed from idle banks none
    of them ever refreshes; as one frame the stream refreshes every tREFI, each time losing at
    least tRFC. The frame also pays the first access's latency once instead of once a layer."""
    cfg = traffic._channel_config(DDR4)
    t, tck = cfg.timing, cfg.timing.tck_ns
    layers = [reads(np.arange(64) * 64 + i * 4096) for i in range(400)]  # 4 KiB sequential each
    alone = [traffic.replay(DDR4, s, 1).time_ns for s in layers]
    frame = [r.time_ns for r in traffic.replay_frame(DDR4, layers, 1)]
    burst_ns = cfg.burst_cycles * tck  # one 64-B burst on the bus
    total = sum(frame)
    refreshes = int(total // (t.trefi * tck))
    assert refreshes >= 4
    # the bus moves one burst per burst time at best, and loses tRFC per refresh
    assert total >= 400 * 64 * burst_ns + refreshes * t.trfc * tck
    # alone, every layer pays at least its first read's latency (ACT, then CL + the burst)
    assert min(alone) >= 64 * burst_ns + (t.trcd + t.cl) * tck
    assert total < sum(alone)


@pytest.fixture(scope="module")
def net():
    """Three conv layers and a classifier: feature maps that spill and weights that stream."""
    model = nn.Sequential(
        nn.Conv2d(16, 64, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 16 * 16, 256, bias=False),
    )
    return pruning.prune(model, "random", 0.5, input_shape=(1, 16, 32, 32))


def test_level2_moves_little_when_state_carries(net, monkeypatch):
    arch = hw.load_architecture("dla_s10mx")
    out = {}
    for name in ("ddr4_2666_x1", "hbm2_x2"):
        memory = hw.load_memory(name)
        for carry in (False, True):
            monkeypatch.setattr(traffic, "CARRY_STATE", carry)
            out[name, carry] = simulate(net, arch, memory, DEVICE, "dense", cache=None, fidelity=2)
        a, b = out[name, False], out[name, True]
        # the same requests, only the controller's state differs at layer boundaries
        assert [r.channel_bytes.sum() for r in a.replays] == [r.channel_bytes.sum() for r in b.replays]
        assert b.totals.memory_s == pytest.approx(a.totals.memory_s, rel=0.10)
        assert b.totals.fps == pytest.approx(a.totals.fps, rel=0.05)


def test_posted_writes_do_not_hold_a_layer_open():
    """A layer that writes a few lines leaves them in the write buffer (below the drain mark): it
    is done once they are accepted, not when a later drain writes them; the frame still ends
    when the last write is written."""
    cfg = traffic._channel_config(DDR4)
    tck = cfg.timing.tck_ns
    n = 5  # < write_drain_idle: no drain while reads keep the command queues busy
    assert n < cfg.controller.write_drain_idle
    writes = traffic.LayerStream(
        np.zeros(n, np.int64),
        (np.arange(n) * 64 + (1 << 20)).astype(np.uint64),
        np.ones(n, bool),
        np.full(n, 2, np.int8),
    )
    later = reads(np.arange(4000) * 64)
    frame = traffic.replay_frame(DDR4, [writes, later], 1)
    assert frame[0].time_ns <= (n + 2) * tck  # one accept a clock
    alone = traffic.replay(DDR4, later, 1).time_ns
    assert frame[1].time_ns >= alone  # the drain's bursts are on its bus, and counted in it
    whole = traffic.replay(
        DDR4,
        traffic.LayerStream(
            np.zeros(n + 4000, np.int64),
            np.concatenate([writes.address, later.address]),
            np.concatenate([writes.is_write, later.is_write]),
            np.concatenate([writes.kind, later.kind]),
        ),
        1,
    )
    assert sum(r.time_ns for r in frame) == pytest.approx(whole.time_ns)
