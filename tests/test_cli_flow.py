"""The newcomer flow of the README: a light CLI start-up, pack --out then simulate the packed
file, simulate a SCALE-Sim topology, and the CLI's units (percent, ms, whole resource counts)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dla_explorer import packing
from dla_explorer.cli import main
from dla_explorer.cli._common import for_display
from dla_explorer.cli.simulate import dense_model
from dla_explorer.core.errors import DlaError
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator
from dla_explorer.sparsity import checkpoint, pruning
from dla_explorer.workload import read_scalesim_csv, to_scalesim_csv

HEAVY = ("torch", "optuna", "matplotlib", "pandas", "numba", "numpy")


def test_cli_import_loads_no_heavy_package():
    code = f"import sys, dla_explorer.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_command_loads_no_torch():
    code = (
        "import sys; from dla_explorer.cli import main; main(['models']); "
        "print('torch' in sys.modules, 'optuna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "resnet50" in out and out.strip().endswith("False False")


@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory):
    sparse = pruning.prune(
        "mobilenet_v2", "random", 0.9, input_shape=(1, 3, 64, 64), calibration_size=2, seed=0
    )
    return checkpoint.save(sparse, tmp_path_factory.mktemp("flow") / "mv2.npz")


def test_packed_file_round_trip_and_errors(sparse_file, tmp_path):
    sparse = checkpoint.load(sparse_file)
    packed = packing.pack(sparse, packing.Geometry(32, 8), "packed", alpha=4, gamma=1.0, cache=None)
    back = packing.load_packed(packing.save_packed(packed, tmp_path / "p.npz"))
    for name in ("model", "content_hash", "mode", "k_vec", "alpha", "gamma", "algorithm", "act_density"):
        assert getattr(back, name) == getattr(packed, name)
    assert back.workload == packed.workload
    for a, b in zip(packed.layers, back.layers, strict=True):
        assert a.layer == b.layer and a.schedule == b.schedule and a.select_bits == b.select_bits
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.packed_columns, b.packed_columns)
    pd.testing.assert_frame_equal(back.to_frame(8), packed.to_frame(8))
    with pytest.raises(DlaError, match="a pruned checkpoint, not a packed workload: give it to 'pack' first"):
        packing.load_packed(sparse_file)
    damaged = tmp_path / "cut.npz"
    damaged.write_bytes((tmp_path / "p.npz").read_bytes()[:-100])
    with pytest.raises(DlaError, match="corrupt or truncated"):
        packing.load_packed(damaged)


def test_pack_out_then_simulate_gives_the_same_figures(sparse_file, tmp_path, capsys):
    out = tmp_path / "packed.npz"
    argv = ["--alpha", "8", "--gamma", "1.75", "--no-cache"]
    assert main(["pack", str(sparse_file), "--k-vec", "64", "--c-vec", "16", *argv, "--out", str(out)]) == 0
    assert "util_after_pct" in capsys.readouterr().out
    assert main(["simulate", str(out), "--csv", str(tmp_path / "from_packed.csv")]) == 0
    printed = capsys.readouterr().out
    assert "packed in mode packed for k_vec 64" in printed
    assert main(["simulate", str(sparse_file), "--no-cache", "--csv", str(tmp_path / "direct.csv")]) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "from_packed.csv"), pd.read_csv(tmp_path / "direct.csv")
    )
    assert main(["simulate", str(out), "--mode", "dense"]) == 2
    assert "for --mode dense run 'pack' again" in capsys.readouterr().err


def test_simulate_a_scalesim_topology_matches_the_traced_model(tmp_path, capsys):
    # ResNet-50 has no grouped convs, so its SCALE-Sim topology keeps every shape the DLA
    # schedule depends on: dense compute time per layer must equal the traced model's
    sparse = pruning.prune("resnet50", "random", 0.0, input_shape=(1, 3, 64, 64), calibration_size=1)
    topology = tmp_path / "topology.csv"
    to_scalesim_csv(sparse.workload, topology)
    arch, memory = hw.load_architecture("dla_s10mx"), hw.load_memory("hbm2_x2")
    device = hw.load_device("stratix10_mx2100")
    traced = simulator.simulate(sparse, arch, memory, device, "dense", cache=None)
    from_csv = simulator.simulate(
        dense_model(read_scalesim_csv(topology)), arch, memory, device, "dense", cache=None
    )
    np.testing.assert_allclose(from_csv.layers["compute_s"], traced.layers["compute_s"])
    assert main(["simulate", str(topology), "--memory", "ddr4_2666_x1"]) == 0
    out = capsys.readouterr().out
    assert "a SCALE-Sim topology" in out and "frames/s" in out and "mode dense" in out


def test_for_display_units():
    frame = pd.DataFrame(
        {"utilization": [0.25, 0.5], "latency_s": [0.0003917, 0.002], "dsp": [1234.0, 99.6], "fps": [1.5, 2]}
    )
    shown = for_display(frame, ("utilization",))
    assert list(shown.columns) == ["utilization_pct", "latency_ms", "dsp", "fps"]
    assert shown["utilization_pct"].tolist() == [25.0, 50.0]
    assert shown["latency_ms"].tolist() == pytest.approx([0.3917, 2.0])
    assert shown["dsp"].tolist() == [1234, 100] and shown["dsp"].dtype == np.int64
    assert frame["utilization"].tolist() == [0.25, 0.5]  # the caller's frame is left as it was


def test_missing_optional_package_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    from dla_explorer.cli._common import require_extra
    from dla_explorer.core.errors import UsageError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cmaes" else real(name, *a)
    )
    with pytest.raises(UsageError, match=r"pip install 'dla-explorer\[cmaes\]'"):
        require_extra("cmaes", "cmaes", "spec.yaml: sampler 'cmaes'")
    require_extra("numpy", "none", "anything")  # an installed package passes


def test_a_packed_file_sizes_the_muxes_by_its_own_alpha(sparse_file):
    """A workload packed with alpha 4 needs 4-input muxes whatever the architecture file says: its
    resources, clock and power are those of the same array built for alpha 4."""
    sparse = checkpoint.load(sparse_file)
    arch = hw.load_architecture("dla_s10mx")
    memory, device = hw.load_memory("hbm2_x2"), hw.load_device("stratix10_mx2100")
    alpha, gamma = 4, 1.0
    assert (arch.alpha, arch.gamma) != (alpha, gamma)
    geometry = packing.Geometry(arch.k_vec, arch.c_vec)
    packed = packing.pack(sparse, geometry, "packed", alpha, gamma, cache=None)
    from_file = simulator.simulate(packed, arch, memory, device)
    built = arch.model_copy(update={"alpha": alpha, "gamma": gamma})
    direct = simulator.simulate(sparse, built, memory, device, "packed", cache=None)
    assert from_file.arch.alpha == alpha and from_file.arch.gamma == gamma
    pd.testing.assert_series_equal(from_file.totals, direct.totals)
    wide = simulator.simulate(sparse, arch, memory, device, "packed", cache=None)
    assert wide.totals["alm"] > from_file.totals["alm"]  # alpha 8 muxes cost more ALMs
