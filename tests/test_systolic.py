"""Systolic mode against SCALE-Sim 3.0.0 reference runs, hand-computed cases and bad input."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.sim.systolic import (
    SystolicConfig,
    read_scalesim_cfg,
    run,
    systolic_cycles,
)
from dla_explorer.workload import (
    Layer,
    Workload,
    extract,
    read_scalesim_csv,
)

from .conftest import TINY_SHAPE

DATA = Path(__file__).parent / "data" / "scalesim"
RESNET = DATA / "resnet50_topology.csv"
SMALL = DATA / "small_topology.csv"

# (topology, SCALE-Sim config, SCALE-Sim per-layer report); see data/scalesim/README.md
REFERENCES = {
    "resnet50-os-32x32": (RESNET, "scale_32x32_os.cfg", "resnet50_os_32x32.csv"),
    "resnet50-ws-32x32": (RESNET, "scale_32x32_ws.cfg", "resnet50_ws_32x32.csv"),
    "small-is-32x32": (SMALL, "scale_32x32_is.cfg", "small_is_32x32.csv"),
    "small-os-16x8": (SMALL, "scale_16x8_os.cfg", "small_os_16x8.csv"),
    "small-ws-16x8": (SMALL, "scale_16x8_ws.cfg", "small_ws_16x8.csv"),
    "small-is-16x8": (SMALL, "scale_16x8_is.cfg", "small_is_16x8.csv"),
}
# The reference files print utilisation with 3 (ResNet-50) or 6 decimals; half a unit of the last
# printed digit, rounded up, is all the difference rounding can make.
UTIL_TOLERANCE = 1e-3


@pytest.mark.parametrize("case", REFERENCES)
def test_matches_scalesim_on_every_layer(case):
    topology, cfg, report = REFERENCES[case]
    ours = run(topology, config=DATA / cfg)
    ref = pd.read_csv(DATA / report)
    assert list(ours["layer"]) == list(ref["layer"])
    rel = (ours["compute_cycles"] - ref["cycles"]).abs() / ref["cycles"]
    print(
        f"{case}: max relative cycle error {rel.max():.2e}, max utilisation error "
        f"{(ours['utilization'] - ref['utilization']).abs().max():.2e} points"
    )
    off = ref.loc[rel > 0.01, "layer"].tolist()
    assert not off, f"{case}: cycles more than 1% off SCALE-Sim on {off}"
    # Stronger than the 1% acceptance bound: the formulas reproduce SCALE-Sim exactly.
    assert (ours["compute_cycles"] == ref["cycles"]).all()
    np.testing.assert_allclose(ours["utilization"], ref["utilization"], atol=UTIL_TOLERANCE)
    if "mapping_efficiency" in ref:
        np.testing.assert_allclose(ours["mapping_efficiency"], ref["mapping_efficiency"], atol=UTIL_TOLERANCE)


def conv(
    name: str, c: int, k: int, hw: int, rs: int = 1, stride: int = 1, n: int = 1, groups: int = 1
) -> Layer:
    pq = (hw - rs) // stride + 1
    kind = "conv" if groups == 1 else "grouped"
    return Layer(name, kind, n, c, k, rs, rs, hw, hw, pq, pq, stride, 0, groups)


def cycles(layers: list[Layer], rows: int, cols: int, dataflow: str, **kw: str) -> list[int]:
    frame = systolic_cycles(Workload("w", (1, 1, 1, 1), tuple(layers)), rows, cols, dataflow, **kw)
    return frame["compute_cycles"].tolist()


def test_one_fold_that_exactly_fills_the_array():
    # 1x1 conv, 32 channels -> 32 filters on a 4x8 input (32 pixels): Sr = Sc = T = 32.
    layer = Layer("fill", "conv", 1, 32, 32, 1, 1, 4, 8, 4, 8)
    frame = systolic_cycles(Workload("w", (1, 32, 4, 8), (layer,)), 32, 32, "os")
    # one fold: T + (rows - 1) + (cols - 1) cycles, reported from cycle 0
    assert frame["compute_cycles"].item() == 32 + 31 + 31 - 1
    assert frame["mapping_efficiency"].item() == 100.0
    assert frame["utilization"].item() == pytest.approx(100 * 32**3 / (93 * 32 * 32))
    # ws/is first load the stationary operand (rows cycles) and drain down the rows
    assert cycles([layer], 32, 32, "ws") == cycles([layer], 32, 32, "is") == [32 + 94 - 1]


def test_several_folds():
    # 1x1 conv 16 -> 40 on 8x8: 64 pixels, 40 filters, window 16, on a 32x32 array
    layer = conv("folds", 16, 40, 8)
    assert cycles([layer], 32, 32, "os") == [2 * 2 * (16 + 62) - 1]  # Sr 64, Sc 40, T 16
    assert cycles([layer], 32, 32, "ws") == [1 * 2 * (64 + 94) - 1]  # Sr 16, Sc 40, T 64
    assert cycles([layer], 32, 32, "is") == [1 * 2 * (40 + 94) - 1]  # Sr 16, Sc 64, T 40
    # non-square: 16 rows x 8 cols
    assert cycles([layer], 16, 8, "ws") == [1 * 5 * (64 + 2 * 16 + 8 - 2) - 1]
    assert cycles([layer], 16, 8, "is") == [1 * 8 * (40 + 2 * 16 + 8 - 2) - 1]


def test_grouped_layers_use_channels_per_group_and_batch_adds_pixels():
    depthwise = Layer("dw", "depthwise", 2, 32, 32, 3, 3, 10, 10, 8, 8, 1, 0, 32)
    frame = systolic_cycles(Workload("w", (2, 32, 10, 10), (depthwise,)), 32, 32, "os")
    row = frame.iloc[0]
    assert (row.spatial_rows, row.spatial_cols, row.temporal) == (2 * 8 * 8, 32, 9)
    assert row.macs == depthwise.macs


def test_scalesim_output_size_rounds_up_like_scalesim(tmp_path):
    # 1x1 stride 2 on 56x56: SCALE-Sim counts ceil((56-1+2)/2) = 29 rows of outputs, PyTorch 28
    topology = tmp_path / "down.csv"
    topology.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
        "Channels, Num Filter, Strides,\ndown, 56, 56, 1, 1, 256, 128, 2,\n"
    )
    frame = run(topology, 32, 32, "os")
    assert frame["spatial_rows"].item() == 29 * 29
    traced = systolic_cycles(
        Workload("w", (1, 256, 56, 56), (conv("down", 256, 128, 56, stride=2),)), 32, 32, "os"
    )
    assert traced["spatial_rows"].item() == 28 * 28


def test_traced_model_keeps_order_and_macs(tiny_net):
    workload = extract(tiny_net, TINY_SHAPE, name="tiny")
    frame = systolic_cycles(workload, 8, 8, "ws")
    assert list(frame["layer"]) == [layer.name for layer in workload]
    assert (frame["macs"] == [layer.macs for layer in workload]).all()
    assert (frame["compute_cycles"] > 0).all() and (frame["utilization"] <= 100).all()


def test_reads_the_reference_configs():
    os_cfg = read_scalesim_cfg(DATA / "scale_32x32_os.cfg")
    assert os_cfg == SystolicConfig(32, 32, "os", 64, 64, 64, None, "resnet50_32x32_os")
    ws = read_scalesim_cfg(DATA / "scale_16x8_ws.cfg")
    assert (ws.rows, ws.cols, ws.dataflow) == (16, 8, "ws")


def test_arguments_override_the_config():
    frame = run(RESNET, rows=16, cols=None, dataflow="WS", config=DATA / "scale_32x32_os.cfg")
    expected = systolic_cycles(read_scalesim_csv(RESNET), 16, 32, "ws")
    pd.testing.assert_frame_equal(frame, expected)


def write_cfg(tmp_path: Path, drop: str = "", replace: tuple[str, str] = ("", "")) -> Path:
    text = (DATA / "scale_32x32_os.cfg").read_text()
    lines = [line for line in text.splitlines() if not (drop and line.startswith(drop))]
    path = tmp_path / "bad.cfg"
    path.write_text("\n".join(lines).replace(*replace) + "\n")
    return path


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rows": 0, "cols": 32, "dataflow": "os"}, "rows"),
        ({"rows": 32, "cols": -1, "dataflow": "os"}, "cols"),
        ({"rows": 32, "cols": 32, "dataflow": "xs"}, "dataflow"),
        ({"rows": 32, "cols": 32}, "dataflow"),
    ],
)
def test_bad_arguments(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        run(RESNET, **kwargs)


@pytest.mark.parametrize(
    ("drop", "replace", "needle"),
    [
        ("ArrayWidth", ("", ""), "missing key 'ArrayWidth' in section \\[architecture_presets\\]"),
        ("", ("ArrayHeight:    32", "ArrayHeight: many"), "key 'ArrayHeight' must be a whole number"),
        ("", ("Dataflow : os", "Dataflow : rs"), "key 'Dataflow' must be one of os, ws, is"),
        ("", ("[general]", ""), "not a valid SCALE-Sim config"),
    ],
)
def test_bad_config(tmp_path, drop, replace, needle):
    path = write_cfg(tmp_path, drop, replace)
    with pytest.raises(UsageError, match=needle) as err:
        read_scalesim_cfg(path)
    assert str(path) in str(err.value)


def test_missing_files():
    with pytest.raises(DlaError, match="nowhere.csv: file not found"):
        run(DATA / "nowhere.csv", 32, 32, "os")
    with pytest.raises(DlaError, match="nowhere.cfg: file not found"):
        run(RESNET, config=DATA / "nowhere.cfg")
