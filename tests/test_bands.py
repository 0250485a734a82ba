"""Monte-Carlo bands sample the estimates that act at the memory fidelity level in use (issue 10):
every sampled estimate moves a figure on its own, and what is not sampled there moves nothing."""

import numpy as np
import pandas as pd
import pytest

from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator, traffic, uncertainty
from dla_explorer.sparsity import pruning

from .conftest import TINY_SHAPE

# the figures an estimate may move: speed, power, energy, and the resources / clock / feasibility
# that the resource estimates decide
FIGURES = (
    "fps",
    "latency_s",
    "power_w",
    "energy_j_per_frame",
    "alm",
    "fmax_mhz",
    "clock_mhz_used",
    "feasible",
    "violation",
)


ALWAYS = ("energy_pj_per_bit", "interface_static_w_per_channel")  # memory estimates of every level


@pytest.fixture(scope="module")
def tiny_sparse():
    import torch

    from .conftest import TinyNet

    torch.manual_seed(0)
    return pruning.prune(TinyNet().eval(), "random", 0.8, input_shape=TINY_SHAPE, name="tiny")


def _design(memory_name: str) -> tuple[hw.Architecture, hw.Memory]:
    """A small design every estimate can reach: memory time adds to compute (no double
    buffering), a 1 KiB stream buffer so maps spill in short runs, 1 KiB of eSRAM (one block), and
    a requested clock above the device's limit (the clock limit decides it)."""
    arch = hw.load_architecture("dla_s10mx").model_copy(
        update={
            "k_vec": 16,
            "c_vec": 4,
            "q_vec": 1,
            "clock_mhz": 600.0,
            "stream_buffer_kb": 1.0,
            "stream_buffer_esram_kb": 1.0,
            "double_buffering": False,
            "compress_activations": False,
        }
    )
    return arch, hw.load_memory(memory_name)


def _figures(sparse, row: dict, device: hw.Device, fidelity: int) -> pd.Series:
    out = simulator.simulate_batch(sparse, pd.DataFrame([row]), device, fidelity=fidelity)
    return out.loc[0, list(FIGURES)]


def _moved_end(estimate: uncertainty.Range) -> float:
    """The high end; the low end when the high end is the nominal (e.g. eSRAM blocks 0-2, nominal 2)."""
    return estimate.high if estimate.high != estimate.nominal else estimate.low


@pytest.mark.parametrize("memory_name", ["ddr4_2666_x1", "hbm2_x1"])
@pytest.mark.parametrize("fidelity", [0, 1])
def test_every_sampled_estimate_moves_a_figure(tiny_sparse, memory_name, fidelity):
    device = hw.load_device("stratix10_mx2100")
    arch, memory = _design(memory_name)
    row = simulator.design_row(arch, memory, "packed")
    nominal = _figures(tiny_sparse, row, device, fidelity)
    sampled = uncertainty.design_estimates(arch, memory, device, fidelity)
    memory_paths = {c.removeprefix("mem_") for c in sampled if c.startswith("mem_")}
    assert memory_paths == (
        {"controller_efficiency", "access_latency_ns", "energy_pj_per_bit", "interface_static_w_per_channel"}
        if fidelity == 0
        else {
            "seq_efficiency_scale",
            "run_efficiency_scale",
            "energy_pj_per_bit",
            "interface_static_w_per_channel",
        }
    )
    still = []
    for column, (_, estimate) in sampled.items():
        drawn = _figures(tiny_sparse, {**row, column: _moved_end(estimate)}, device, fidelity)
        if drawn.equals(nominal):
            still.append(column)
    assert still == [], f"sampled at fidelity {fidelity} but moved nothing: {still}"
    # the memory estimates not sampled at this level move nothing there
    for path, estimate in uncertainty.ranges(memory).items():
        if f"mem_{path}" not in sampled:
            drawn = _figures(tiny_sparse, {**row, f"mem_{path}": estimate.high}, device, fidelity)
            assert drawn.equals(nominal), path


def test_level1_efficiency_is_the_cycle_models_times_the_scale(tiny_sparse):
    """By hand: the weight stream's efficiency at level 1 is min(seq_read x scale, 1)."""
    arch, memory = _design("ddr4_2666_x1")
    seq = traffic.device_table(memory.dram)["seq_read"]["efficiency"]
    for scale in (0.76, 1.0, 1.03):
        scaled = memory.model_copy(update={"seq_efficiency_scale": scale})
        d = simulator.design_arrays([simulator.design_row(arch, scaled)])
        act = np.ones((1, 2))
        streams = traffic.level1_streams(
            d, act, act / 2, np.array([8.0, 8.0]), np.ones((1, 2)), np.zeros(2, bool), 1
        )
        assert streams["eff_weight"][0, 0] == pytest.approx(min(seq * scale, 1.0))
        # the whole memory's sequential-read figure `simulate` prints, without a port cap at 1 GHz
        gbps = traffic.sustained_gbps(scaled, 1000.0, 1)
        assert gbps == pytest.approx(2666e6 * 8 * min(seq * scale, 1.0) / 1e9)
        # level 2 replays the traffic: the factor does not act there
        assert traffic.sustained_gbps(scaled, 1000.0, 2) == pytest.approx(2666e6 * 8 * seq / 1e9)
    # level 0: the flat controller efficiency; the port caps it (256 bits at 100 MHz = 3.2 GB/s)
    assert traffic.sustained_gbps(memory, 1000.0, 0) == pytest.approx(2666e6 * 8 * 0.8 / 1e9)
    capped = memory.model_copy(update={"port_width_bits": 256})
    assert traffic.sustained_gbps(capped, 100.0, 1) == pytest.approx(3.2)


def test_monte_carlo_draws_only_what_acts():
    device = hw.load_device("stratix10_mx2100")
    arch, memory = _design("ddr4_2666_x1")
    base = pd.DataFrame([simulator.design_row(arch, memory)])
    level1 = uncertainty.monte_carlo(base, [(arch, memory)], device, 40, fidelity=1)
    assert (level1["mem_controller_efficiency"] == 0.8).all()
    assert level1["mem_seq_efficiency_scale"].between(0.76, 1.03).all()
    assert level1["mem_seq_efficiency_scale"].nunique() == 40
    level0 = uncertainty.monte_carlo(base, [(arch, memory)], device, 40, fidelity=0)
    assert (level0["mem_seq_efficiency_scale"] == 1.0).all()
    assert level0["mem_controller_efficiency"].nunique() == 40
    # a memory with no DRAM device falls back to the flat figures at level 1: they are sampled
    flat = memory.model_copy(update={"dram": ""})
    assert "mem_controller_efficiency" in uncertainty.design_estimates(arch, flat, device, 1)
    assert "mem_seq_efficiency_scale" not in uncertainty.design_estimates(arch, flat, device, 1)


def test_old_tables_without_the_scale_columns_still_simulate(tiny_sparse):
    device = hw.load_device("stratix10_mx2100")
    arch, memory = _design("ddr4_2666_x1")
    row = simulator.design_row(arch, memory)
    old = {k: v for k, v in row.items() if k not in ("mem_seq_efficiency_scale", "mem_run_efficiency_scale")}
    a = simulator.simulate_batch(tiny_sparse, pd.DataFrame([row]), device)
    b = simulator.simulate_batch(tiny_sparse, pd.DataFrame([old]), device)
    assert a.loc[0, "fps"] == b.loc[0, "fps"]


def test_one_definition_of_a_values_size():
    """The bits of a stored value per number format live in sim.config.FORMATS alone: core.units
    no longer keeps its own table (it knew int8 / fp16 / fp32, not the block-FP formats), and the
    baselines' roofline derives its bytes from the same place (by hand: FP11 maps are FP16)."""
    from dla_explorer.core import units

    assert not hasattr(units, "PRECISION_BITS") and not hasattr(units, "precision_bytes")
    assert [hw.value_bytes(p) for p in ("int8", "bfp11", "bfp12", "fp16", "fp32")] == [1, 2, 2, 2, 4]
    for name, fmt in hw.FORMATS.items():
        assert hw.value_bytes(name) == fmt.feature_bits / 8
    with pytest.raises(KeyError):
        hw.value_bytes("fp64")


def test_device_constraint_counts_esram():
    """A searched design whose eSRAM stream buffer needs more blocks than the device has is
    infeasible (_add_constraints used to check DSPs, M20Ks and ALMs only)."""
    from dla_explorer.dse import evaluation
    from dla_explorer.dse.spec import Spec

    device = hw.load_device("stratix10_mx2100")
    spec = Spec.model_validate(
        {
            "name": "esram",
            "models": [{"name": "m", "recipe": {"model": "resnet50", "method": "random", "sparsity": 0.5}}],
            "device": "stratix10_mx2100",
            "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
            "space": {"k_vec": {"type": "pow2", "low": 16, "high": 32}},
            "objectives": {"fps": "maximize"},
            "constraints": {"device": True},
        }
    )
    row = {"clock_mhz": 300.0, "mem_kind": "hbm2", "mem_channels": 16, "mem_data_rate_mtps": 2000.0}
    row |= {"dsp": 100.0, "m20k": 100.0, "alm": 1e5}
    table = pd.DataFrame([{**row, "esram": device.esram_blocks}, {**row, "esram": device.esram_blocks + 1}])
    out = evaluation._add_constraints(table, spec, device)
    assert list(out["feasible"]) == [True, False]
    assert "esram +50.0%" in out.loc[1, "violation"]  # 3 blocks of 2
    assert out.loc[1, "c_device"] == pytest.approx(0.5)


def test_report_drilldown_of_a_table_from_before_the_factors(tiny_sparse):
    """The explorer's per-layer drill-down reads stored search tables: one written before the
    efficiency factors existed gives the figures of factor 1."""
    from dla_explorer.study import explorer

    device = hw.load_device("stratix10_mx2100")
    arch, memory = _design("ddr4_2666_x1")
    row = simulator.design_row(arch, memory)
    old = pd.DataFrame([{k: v for k, v in row.items() if not k.endswith("_efficiency_scale")}])
    before = explorer._per_layer(tiny_sparse, old, device, 1)
    now = explorer._per_layer(tiny_sparse, pd.DataFrame([row]), device, 1)
    assert np.array_equal(before["time_s"], now["time_s"])
