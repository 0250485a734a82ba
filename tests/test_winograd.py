"""Winograd F(4,3) and FC batching (AYD17) against hand-computed layers (docs/model.md,
"Winograd" and "FC batching")."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dla_explorer.core.errors import UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator, uncertainty
from dla_explorer.sim.resources import resources
from dla_explorer.sim.simulator import design_row, simulate, simulate_batch
from dla_explorer.sparsity import pruning

from .test_simulator import arch as hand_arch

# the requested clock holds (the fMAX model has its own tests), so cycles are exact
DEVICE = hw.load_device("stratix10_mx2100").model_copy(update={"fmax": None})


class WinoNet(nn.Module):
    """A 3x3 stride-1 conv (Winograd), a 1x1 conv and a 3x3 stride-2 conv (both direct), a linear."""

    def __init__(self):
        super().__init__()
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)  # 14x14 -> 14x14
        self.conv1 = nn.Conv2d(128, 64, 1, bias=False)
        self.strided = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)  # -> 7x7
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(torch.relu(self.conv3(x))))
        return self.fc(torch.relu(self.strided(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return pruning.prune(WinoNet(), "random", 0.0, input_shape=(1, 64, 14, 14), name="wino")


# test_simulator's hand-computed design made Winograd-capable: q_vec 4, no packing mux
BASE = hand_arch(name="wino", q_vec=4, alpha=1).model_dump()


def arch(**changes):
    return hw.Architecture(**{**BASE, **changes})


MEMORY = hw.Memory(
    name="fast",
    kind="hbm2",
    channels=1,
    data_rate_mtps=125e3,  # 1 TB/s: every layer compute-bound
    bus_width_bits=64,
    controller_efficiency=1.0,
    access_latency_ns=0.0,
    energy_pj_per_bit=10.0,
    interface_static_w_per_channel=0.0,
)


def layers(net, **changes):
    return simulate(net, arch(**changes), MEMORY, DEVICE, mode="dense", cache=None).layers.set_index("layer")


def test_cycles_by_hand_with_and_without_winograd(net):
    direct, wino = layers(net), layers(net, winograd="f43")
    # 3x3, 64 -> 128 on 14x14: ceil(128/64) = 2 passes; pixel tiles 14 rows x ceil(14/4) = 56.
    # direct: 2 x 3 x 3 x ceil(64/16) = 72 steps a tile; Winograd folds the S loop: 2 x 3 x 4 = 24
    assert direct.compute_cycles["conv3"] == 72 * 56 + 2 * 64
    assert wino.compute_cycles["conv3"] == 24 * 56 + 2 * 64
    # 1x1, 128 -> 64: 1 pass x ceil(128/16) = 8 steps x 56 tiles + 64 fill, the same on both
    assert direct.compute_cycles["conv1"] == wino.compute_cycles["conv1"] == 8 * 56 + 64
    # 3x3 stride 2 is not eligible: 9 x 4 = 36 steps x 7 x ceil(7/4) = 14 tiles + 64, on both
    assert direct.compute_cycles["strided"] == wino.compute_cycles["strided"] == 36 * 14 + 64


def test_multipliers_issued_and_performed_by_hand(net):
    wino = layers(net, winograd="f43")
    multipliers = 64 * 16 * (4 + 2)  # k x c x (q + 2)
    assert wino.issued_macs["conv3"] == 24 * 56 * multipliers
    # F(4,3): 6 multiplies for 4 outputs of a 3-tap row = half the direct MACs
    assert wino.performed_macs["conv3"] == 128 * 64 * 9 * 196 / 2
    assert wino.useful_macs["conv3"] == 128 * 64 * 9 * 196  # direct-equivalent, for GOPS
    # 14 outputs a row in 4 tiles of 4: 14/16 of the issued slots work
    assert wino.utilization["conv3"] == pytest.approx(14 / 16)
    # the 1x1 layer runs direct on q_vec of the q + 2 multipliers a channel: 4/6 of them
    assert wino.utilization["conv1"] == pytest.approx(14 / 16 * 4 / 6)


def test_resources_and_weights_by_hand(net):
    plain, f43 = resources(arch(), DEVICE), resources(arch(winograd="f43"), DEVICE)
    assert plain.used["multipliers"] == 64 * 16 * 4 and plain.used["dsp"] == 64 * 16 * 4 / 2
    assert f43.used["multipliers"] == 64 * 16 * 6 and f43.used["dsp"] == 64 * 16 * 6 / 2
    assert f43.used["alm"] - plain.used["alm"] == pytest.approx(25 * 64 * 16 * 2)
    # the scratchpad reads c_vec x 6 transformed weights (8 bits) a cycle: 768 bits = 20 blocks a PE
    assert f43.used["m20k_filters"] == 64 * 20 and plain.used["m20k_filters"] == 64 * 4
    direct, wino = layers(net), layers(net, winograd="f43")
    # DDR holds transformed filters: 6 values per 3-tap row on the Winograd layer only
    assert wino.weight_bytes["conv3"] == 2 * direct.weight_bytes["conv3"] == 2 * 128 * 64 * 9
    assert wino.weight_bytes["conv1"] == direct.weight_bytes["conv1"] == 128 * 64
    # a transformed pass no longer fits a 1 KB scratchpad: 73,728 x 2 / (2 x 64) x 8 bits = 1.125 KB
    small = layers(net, winograd="f43", filter_cache_kb=1)
    assert small.weight_fetches["conv3"] == 56 and layers(net, filter_cache_kb=1).weight_fetches["conv3"] == 1


def test_ddr_share_of_the_filter_transform_by_hand(net):
    # DDR holds 1 + s x (6/3 - 1) values per weight of the 3x3 Winograd layer, s the share of the
    # transform done on the host; the 1x1 layer (direct) and the scratchpads do not change
    for share, values in ((1.0, 2.0), (0.5, 1.5), (0.0, 1.0)):
        wino = layers(net, winograd="f43", winograd_ddr_transformed=share)
        assert wino.weight_bytes["conv3"] == values * 128 * 64 * 9
        assert wino.weight_bytes["conv1"] == 128 * 64
        assert layers(net, winograd="f43", filter_cache_kb=1).weight_fetches["conv3"] == 56
    row = design_row(arch(winograd="f43"), MEMORY, "dense") | {"winograd_ddr_transformed": 1.5}
    with pytest.raises(UsageError, match="key 'winograd_ddr_transformed' must be <= 1"):
        simulate_batch(net, pd.DataFrame([row]), DEVICE, cache=None)


def test_monte_carlo_samples_the_ddr_share(net):
    """The share is an estimate like the others: declared with its range it is drawn in the bands
    (DRAM bytes spread below the nominal), the nominal figure stays that of the fixed share 1."""
    shipped = uncertainty.ranges(hw.load_architecture("dla_a10"))["winograd_ddr_transformed"]
    assert (shipped.low, shipped.nominal, shipped.high) == (0.0, 1.0, 1.0) and "host" in shipped.basis
    estimate = {"nominal": 1.0, "low": 0.0, "high": 1.0, "basis": "test"}
    ranged = hw.Architecture.model_validate({**BASE, "winograd": "f43", "winograd_ddr_transformed": estimate})
    fixed = arch(winograd="f43")

    def single(a):
        return simulate(net, a, MEMORY, DEVICE, mode="dense", cache=None).totals["dram_mb_per_frame"]

    nominal = single(fixed)
    assert single(ranged) == nominal

    plain = hw.Device.model_validate(DEVICE.model_dump())  # no device estimates: only the share varies

    def drawn(a):
        base = pd.DataFrame([design_row(a, MEMORY, "dense")])
        table = uncertainty.monte_carlo(base, [(a, MEMORY)], plain, 200)
        return table, simulate_batch(net, table, plain, cache=None)["dram_mb_per_frame"].to_numpy()

    table, mb = drawn(fixed)
    assert (table["winograd_ddr_transformed"] == 1.0).all() and np.ptp(mb) == 0 and mb[0] == nominal
    table, mb = drawn(ranged)
    share = table["winograd_ddr_transformed"].to_numpy()
    assert share.min() >= 0 and share.max() <= 1 and np.unique(share).size == 200
    # by hand: each sample stores (1 - s) x 73,728 fewer bytes of conv3's transformed filters
    assert mb == pytest.approx(nominal - (1 - share) * 128 * 64 * 9 / 1e6, rel=1e-12)
    p5, p95 = np.percentile(mb, [5, 95])
    assert p95 - p5 > 0.5 * 128 * 64 * 9 / 1e6 and p95 <= nominal


def test_mac_energy_counts_performed_multiplies(net):
    wino = layers(net, winograd="f43")
    mac_pj, gated = DEVICE.energy.mac_pj["int8"], DEVICE.energy.gated_mac_fraction
    performed, issued = 128 * 64 * 9 * 196 / 2, 24 * 56 * 64 * 16 * 6
    assert wino.mac_j["conv3"] == pytest.approx((performed + (issued - performed) * gated) * mac_pj * 1e-12)


def test_network_utilization_counts_performed_multiplies(net):
    """The network's utilization is performed multiplies over issued slots (not the direct MACs,
    which a Winograd layer exceeds: its useful/issued is 14/16 x 2 = 1.75)."""
    totals = simulate(net, arch(winograd="f43"), MEMORY, DEVICE, mode="dense", cache=None).totals
    m = 64 * 16 * 6  # multipliers, as above
    performed = 128 * 64 * 9 * 196 / 2 + 64 * 128 * 196 + 64 * 64 * 9 * 49 + 64 * 10
    # issued: conv3 24 x 56 cycles, conv1 8 x 56, strided 36 x 14, fc 4 x 1 (cycles as above)
    issued = (24 * 56 + 8 * 56 + 36 * 14 + 4) * m
    assert totals.utilization == pytest.approx(performed / issued)


def test_fc_batching_by_hand(net):
    one, batched = layers(net), layers(net, fc_batch=8)
    # fc 64 -> 10: 1 pass x ceil(64/16) = 4 steps; 8 images fill ceil(8 / 4) = 2 tiles: one run of
    # 4 x 2 + 64 fill cycles for 8 images, 1/8 of it charged to each
    assert one.compute_cycles["fc"] == 4 * 1 + 64
    assert batched.compute_cycles["fc"] == pytest.approx((4 * 2 + 64) / 8)
    # its weights stream once a run
    assert one.weight_bytes["fc"] == 640 and batched.weight_bytes["fc"] == pytest.approx(640 / 8)
    # conv layers run image by image
    assert (batched.compute_cycles.drop("fc") == one.compute_cycles.drop("fc")).all()


def test_bad_winograd_settings_are_one_line_errors(net):
    # an Architecture built by hand: one line (BadValue), no longer pydantic's multi-line error
    with pytest.raises(
        UsageError, match="^Architecture: key 'winograd': f43 computes 4 outputs .*q_vec must be 4"
    ):
        arch(winograd="f43", q_vec=7)
    with pytest.raises(UsageError, match="column combining over a Winograd PE is not defined"):
        arch(winograd="f43", alpha=8)
    with pytest.raises(UsageError, match="mode 'packed' has no zeros to skip"):
        simulate(net, arch(winograd="f43"), MEMORY, DEVICE, mode="packed", cache=None)
    row = design_row(arch(), MEMORY, "dense") | {"winograd": "f43", "q_vec": 7}
    with pytest.raises(UsageError, match="design 0: key 'winograd': f43 computes 4 outputs"):
        simulate_batch(net, pd.DataFrame([row]), DEVICE, cache=None)
    with pytest.raises(UsageError, match="'f23' is not one of none, f43"):
        simulate_batch(net, pd.DataFrame([row | {"winograd": "f23", "q_vec": 4}]), DEVICE, cache=None)


def test_winograd_rules_run_once_and_before_packing(net, monkeypatch):
    calls = []
    check = simulator._check_winograd
    monkeypatch.setattr(simulator, "_check_winograd", lambda d: calls.append(len(d["mode"])) or check(d))
    with monkeypatch.context() as m:  # any packing work before the check fails the test

        def no_packing(*args, **kwargs):
            raise AssertionError("packed before the Winograd rules were checked")

        m.setattr(simulator, "packed_table", no_packing)
        with pytest.raises(UsageError) as err:
            simulate(net, arch(winograd="f43"), MEMORY, DEVICE, mode="packed", cache=None)
    assert str(err.value) == (
        "design 0: key 'winograd': f43 turns every filter row into dense transformed values, "
        "so mode 'packed' has no zeros to skip on it (use mode dense or unpacked)"
    )
    assert calls == [1]
    calls.clear()
    simulate(net, arch(winograd="f43"), MEMORY, DEVICE, mode="dense", cache=None)
    assert calls == [1]  # once on the single-design path, not again with the other rules
    calls.clear()
    rows = pd.DataFrame([design_row(arch(winograd="f43"), MEMORY, m) for m in ("dense", "unpacked")])
    simulate_batch(net, rows, DEVICE, cache=None)
    assert calls == [2]  # once for the whole batch


def test_batch_api_matches_single_designs_and_old_tables(net):
    designs = [arch(), arch(winograd="f43"), arch(winograd="f43", fc_batch=16), arch(q_vec=7, fc_batch=4)]
    rows = pd.DataFrame([design_row(a, MEMORY, "dense") for a in designs])
    out = simulate_batch(net, rows, DEVICE, cache=None)
    for i, a in enumerate(designs):
        single = simulate(net, a, MEMORY, DEVICE, mode="dense", cache=None).totals
        assert out["fps"][i] == pytest.approx(single["fps"])
        assert out["power_w"][i] == pytest.approx(single["power_w"])
        assert out["utilization"][i] == pytest.approx(single["utilization"])
    # a table written before these columns existed runs as neither (no Winograd, FC batch 1)
    old = simulate_batch(net, rows.iloc[[0]].drop(columns=["winograd", "fc_batch"]), DEVICE, cache=None)
    assert old["fps"][0] == pytest.approx(out["fps"][0])


class FoldNet(nn.Module):
    """A shallow strided first conv (input folding) and a 5x5 stride-1 conv (two Winograd chunks)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 16, 5, stride=2, padding=2, bias=False)  # 32x32 -> 16x16
        self.wide = nn.Conv2d(16, 32, 5, padding=2, bias=False)  # 16x16 -> 16x16

    def forward(self, x):
        return self.wide(torch.relu(self.first(x)))


@pytest.fixture(scope="module")
def foldnet():
    torch.manual_seed(0)
    return pruning.prune(FoldNet(), "random", 0.0, input_shape=(1, 3, 32, 32), name="fold")


def test_input_folding_and_wide_filters_by_hand(foldnet):
    def run(**changes):
        return layers(foldnet, **changes)

    direct, folded = run(), run(input_folding=True)
    both = run(input_folding=True, winograd="f43")
    wino = run(winograd="f43")
    tiles, fill = 16 * 4, 64  # 16 rows x ceil(16/4); one pass of 64 PEs on both layers
    # first: 5 x 5 taps x ceil(3/16) = 25 steps; folded by its stride 2: 12 channels, 3x3, stride 1:
    # 9 x ceil(12/16) = 9 steps, and now Winograd-eligible: 3 rows x 1 chunk = 3 steps
    assert direct.compute_cycles["first"] == wino.compute_cycles["first"] == 25 * tiles + fill
    assert folded.compute_cycles["first"] == 9 * tiles + fill
    assert both.compute_cycles["first"] == 3 * tiles + fill
    # folded filters are zero-padded to 12 x 3 x 3; transformed, 6 values per 3-tap row
    assert direct.weight_bytes["first"] == 16 * 3 * 25
    assert folded.weight_bytes["first"] == 16 * 12 * 9
    assert both.weight_bytes["first"] == 16 * 12 * 9 * 2
    # wide: 5-tap rows in ceil(5/3) = 2 F(4,3) chunks: 5 x 2 x ceil(16/16) = 10 steps, not 25;
    # 2 x 6 transformed values per 5 weights; 12 multiplies per 4 outputs of a row, not 20
    assert direct.compute_cycles["wide"] == folded.compute_cycles["wide"] == 25 * tiles + fill
    assert wino.compute_cycles["wide"] == 10 * tiles + fill
    assert wino.weight_bytes["wide"] == pytest.approx(32 * 16 * 25 * 12 / 5)
    assert wino.performed_macs["wide"] == pytest.approx(32 * 16 * 25 * 256 * 12 / 20)
    # the packed modes gather across taps already: folding changes nothing there
    packed = simulate(foldnet, arch(input_folding=True), MEMORY, DEVICE, mode="packed", cache=None)
    plain = simulate(foldnet, arch(), MEMORY, DEVICE, mode="packed", cache=None)
    assert packed.totals["fps"] == plain.totals["fps"]
