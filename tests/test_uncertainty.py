"""Estimates with ranges in the hardware YAML, and Monte-Carlo samples through the batch API."""

import numpy as np
import pandas as pd
import pytest

from dla_explorer.core.errors import UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator, uncertainty
from dla_explorer.sparsity import pruning

from .conftest import TINY_SHAPE


def test_yaml_range_keeps_the_nominal_in_the_field(tmp_path):
    text = (hw.CONFIG_ROOT / "memory" / "ddr4_2666_x1.yaml").read_text()
    memory = hw.load_memory("ddr4_2666_x1")
    assert "controller_efficiency: {nominal: 0.8" in text
    assert memory.controller_efficiency == 0.8 and memory.effective_gbps == pytest.approx(21.328 * 0.8)
    estimate = uncertainty.ranges(memory)["controller_efficiency"]
    assert (estimate.low, estimate.nominal, estimate.high) == (0.7, 0.8, 0.9)
    assert "EMIF" in estimate.basis
    # nested: a per-precision energy of a device
    device = hw.load_device("stratix10_mx2100")
    assert device.energy.mac_pj["int8"] == 2.0
    assert uncertainty.ranges(device)["energy.mac_pj.int8"].high == 4.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "{nominal: 0.8, low: 0.85, high: 0.9, basis: x}",
            "controller_efficiency': estimate range: .*low <= nominal",
        ),
        (
            "{nominal: 0.8, low: 0.7, high: 0.9}",
            "controller_efficiency.basis': estimate range: Field required",
        ),
        ("{nominal: 0.8, low: 0.7, high: 0.9, basis: x, why: y}", "unknown range key 'why'"),
        (
            "{nominal: 1.5, low: 0.7, high: 2, basis: x}",
            "controller_efficiency': Input should be less than or equal to 1",
        ),
    ],
)
def test_bad_range_is_a_one_line_error(tmp_path, value, message):
    text = (hw.CONFIG_ROOT / "memory" / "ddr4_2666_x1.yaml").read_text().splitlines()
    lines = [
        f"controller_efficiency: {value}" if ln.startswith("controller_efficiency") else ln for ln in text
    ]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(UsageError, match=message) as err:
        hw.load_memory(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_triangular_quantiles_by_hand():
    symmetric = uncertainty.Range(nominal=1, low=0, high=2, basis="b")
    # CDF of triangular(0, 1, 2): x^2 / 2 below the mode -> ppf(0.125) = 0.5, ppf(0.5) = 1
    assert symmetric.ppf(np.array([0.125, 0.5, 0.875])) == pytest.approx([0.5, 1.0, 1.5])
    right = uncertainty.Range(nominal=0, low=0, high=1, basis="b")  # mode at the low end
    assert right.ppf(np.array([0.75]))[0] == pytest.approx(0.5)  # 1 - sqrt(1 - 0.75)
    fixed = uncertainty.Range(nominal=3, low=3, high=3, basis="b")
    assert (fixed.ppf(np.array([0.1, 0.9])) == 3).all()
    # the sample mean of a triangular distribution is (low + mode + high) / 3
    skew = uncertainty.Range(nominal=2, low=1, high=6, basis="b")
    assert skew.ppf(uncertainty.draws(("k",), 200_000, 0)).mean() == pytest.approx(3.0, rel=0.01)


@pytest.fixture
def tiny_sparse(tiny_net):
    return pruning.prune(tiny_net, "random", 0.8, input_shape=TINY_SHAPE, name="tiny")


def test_samples_equal_single_designs_with_the_drawn_coefficients(tiny_sparse):
    """A vectorised Monte-Carlo sample gives what `simulate` gives on configs that hold the
    drawn values (an independent path: the scalar config, not the dev: columns)."""
    device = hw.load_device("stratix10_mx2100")
    arch = hw.load_architecture("dla_s10mx").model_copy(update={"k_vec": 16, "c_vec": 8, "q_vec": 2})
    memory = hw.load_memory("ddr4_2666_x1")
    base = pd.DataFrame([simulator.design_row(arch, memory, "packed")])
    table = uncertainty.monte_carlo(base, [(arch, memory)], device, 5, seed=3)
    assert len(table) == 5 and list(table["sample"]) == [0, 1, 2, 3, 4]
    assert (
        table["dev:static_power_w"].nunique() == 5
        and table["mem_seq_efficiency_scale"].between(0.76, 1.03).all()
    )
    result = simulator.simulate_batch(tiny_sparse, table, device)
    for i in (0, 4):
        row = table.iloc[i]
        energy = device.energy.model_copy(
            update={
                "mac_pj": {**device.energy.mac_pj, "int8": row["dev:energy.mac_pj.int8"]},
                "gated_mac_fraction": row["dev:energy.gated_mac_fraction"],
                "m20k_pj_per_bit": row["dev:energy.m20k_pj_per_bit"],
                "logic_pj_per_alm_cycle": row["dev:energy.logic_pj_per_alm_cycle"],
            }
        )
        drawn_device = device.model_copy(
            update={
                "static_power_w": row["dev:static_power_w"],
                "board_power_w": row["dev:board_power_w"],
                "energy": energy,
                "shell_alms": row["dev:shell_alms"],
                "alms_per_multiplier": row["dev:alms_per_multiplier"],
                "max_clock_mhz": row["dev:max_clock_mhz"],
                "esram_blocks": row["dev:esram_blocks"],
                "fmax": device.fmax.model_copy(
                    update={"full_mhz": row["dev:fmax.full_mhz"], "mux_derate": row["dev:fmax.mux_derate"]}
                ),
            }
        )
        drawn_memory = memory.model_copy(
            update={n: row[f"mem_{n}"] for n in hw.MEMORY_FIELDS if n not in ("name", "kind")}
        )
        single = simulator.simulate(tiny_sparse, arch, drawn_memory, drawn_device).totals
        for figure in ("fps", "power_w", "static_w", "dynamic_w", "alm", "fmax_mhz"):
            assert result.loc[i, figure] == pytest.approx(single[figure], rel=1e-9)


def test_shared_estimates_share_their_draws():
    """Two DDR4 memories share the efficiency-scale draw, HBM2 has its own; the device's
    estimates are the same in every design of a sample."""
    device = hw.load_device("stratix10_mx2100")
    arch = hw.load_architecture("dla_s10mx")
    memories = [hw.load_memory(m) for m in ("ddr4_2666_x1", "ddr4_2666_x2", "hbm2_x2")]
    base = pd.DataFrame([simulator.design_row(arch, m) for m in memories])
    table = uncertainty.monte_carlo(base, [(arch, m) for m in memories], device, 50)
    # (level 1, the default: the factor on the cycle model's efficiency is the memory estimate drawn)
    eff = table.pivot(index="sample", columns="design_index", values="mem_seq_efficiency_scale")
    assert (eff[0] == eff[1]).all() and not (eff[0] == eff[2]).all()
    static = table.pivot(index="sample", columns="design_index", values="dev:static_power_w")
    assert (static[0] == static[2]).all()
    # a value changed after loading is no longer the estimate: it is not sampled
    swept = arch.model_copy(update={"clock_mhz": 300.0})
    assert (
        uncertainty.design_estimates(swept, memories[0], device).keys()
        == uncertainty.design_estimates(arch, memories[0], device).keys()
    )


def test_bands_are_percentiles():
    rng = np.random.default_rng(0)
    samples = pd.DataFrame({"g": np.repeat(["a", "b"], 101), "x": rng.random(202)})
    table = uncertainty.bands(samples, ["g"], ["x"]).set_index("g")
    for group in ("a", "b"):
        values = samples[samples.g == group]["x"]
        assert table.loc[group, "x_p5"] == pytest.approx(np.percentile(values, 5))
        assert table.loc[group, "x_p95"] == pytest.approx(np.percentile(values, 95))
        assert table.loc[group, "x_p50"] == pytest.approx(np.median(values))


def test_cli_bands(tiny_sparse, tmp_path, capsys):
    from dla_explorer.cli import build_parser, main
    from dla_explorer.sparsity import checkpoint

    path = tmp_path / "tiny.npz"
    checkpoint.save(tiny_sparse, path)
    assert (
        main(["simulate", str(path), "--memory", "ddr4_2666_x1", "--no-cache", "--uncertainty", "200"]) == 0
    )
    out = capsys.readouterr().out
    # 15 in the device YAML less the MAC energies of the three precisions the int8 design does not
    # use; 4 of the memory's 6 act at fidelity 1 (not the flat efficiency and latency)
    assert "5-95% over 200 samples of 16 estimates (memory fidelity 1)" in out
    power = next(line for line in out.splitlines() if line.strip().startswith("power") and ".." in line)
    before, after = power.split("..")
    low, high = float(before.split()[-1].replace(",", "")), float(after.split()[0].replace(",", ""))
    assert low < high
    assert build_parser().parse_args(["run", "x.yaml", "--uncertainty", "0"]).uncertainty == 0
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", "x.yaml", "--uncertainty", "-1"])
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [  # the nominal is valid; an end is not a value the key takes (samples are drawn up to it)
        ("{nominal: 0.8, low: -0.6, high: 0.9, basis: x}", "low -0.6 is not a value the key takes"),
        ("{nominal: 0.8, low: 0.6, high: 1.9, basis: x}", "high 1.9 is not a value the key takes"),
    ],
)
def test_range_ends_obey_the_key_s_bounds(tmp_path, value, message):
    """An efficiency range up to 1.9 drew impossible designs silently; one down to -0.6 failed
    in the middle of `simulate --uncertainty`, naming no file."""
    text = (hw.CONFIG_ROOT / "memory" / "ddr4_2666_x1.yaml").read_text().splitlines()
    lines = [
        f"controller_efficiency: {value}" if ln.startswith("controller_efficiency") else ln for ln in text
    ]
    path = tmp_path / "m.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as caught:
        hw.load_memory(path)
    assert str(caught.value).startswith(f"{path}: key 'controller_efficiency': estimate range: {message}")
