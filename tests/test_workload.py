"""Workload extraction from user models and SCALE-Sim topology round trips."""

from pathlib import Path

import pytest
import torch
from torch import nn

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.workload import (
    Layer,
    extract,
    read_scalesim_csv,
    to_scalesim_csv,
)
from dla_explorer.workload import zoo as models

from .conftest import TINY_SHAPE

DATA = Path(__file__).parent / "data"


def test_user_model_with_grouped_and_depthwise_conv(tiny_net):
    workload = extract(tiny_net, TINY_SHAPE, name="tiny")
    frame = workload.to_frame().set_index("name")
    assert list(frame.index) == ["stem", "grouped", "depthwise", "pointwise", "head"]
    assert list(frame["kind"]) == ["conv", "grouped", "depthwise", "conv", "linear"]
    # hand-computed: grouped 16->32, groups 4, 3x3, stride 2 on 16x16 -> 8x8
    g = frame.loc["grouped"]
    assert (g.C, g.K, g.groups, g.stride, g.P, g.Q) == (16, 32, 4, 2, 8, 8)
    assert g.macs == 32 * 8 * 8 * (16 // 4) * 9
    assert g.weights == tiny_net.grouped.weight.numel()
    d = frame.loc["depthwise"]
    assert d.macs == 32 * 8 * 8 * 9 and d.weights == 32 * 9
    h = frame.loc["head"]
    assert (h.C, h.K, h.macs) == (24, 10, 240)
    assert frame["weights"].sum() == sum(
        m.weight.numel() for m in tiny_net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )


def test_macs_equal_a_direct_count_over_the_traced_layers(tiny_net):
    workload = extract(tiny_net, (2, 3, 16, 16))
    frame = workload.to_frame()
    assert (
        frame["macs"]
        == frame["N"]
        * frame["K"]
        * frame["P"]
        * frame["Q"]
        * frame["C"]
        // frame["groups"]
        * frame["R"]
        * frame["S"]
    ).all()
    assert frame["N"].iloc[0] == 2


def test_a_module_called_twice_appears_twice():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    names = [layer.name for layer in extract(Shared(), (1, 4, 8, 8))]
    assert names == ["conv", "conv#2"]


def test_input_shape_that_does_not_fit_is_one_line_error(tiny_net):
    with pytest.raises(UsageError, match=r"input shape \[1, 5, 16, 16\] does not fit model") as err:
        extract(tiny_net, (1, 5, 16, 16))
    assert "\n" not in str(err.value)


def test_model_without_compute_layers():
    with pytest.raises(UsageError, match="no Conv2d or Linear"):
        extract(nn.Sequential(nn.ReLU()), (1, 3, 4, 4))


def test_scalesim_reference_topology_reads():
    workload = read_scalesim_csv(DATA / "scalesim" / "resnet50_topology.csv")
    assert len(workload) == 54  # the file shipped with SCALE-Sim: blank line, trailing commas
    conv1 = workload["Conv1"]
    # SCALE-Sim rounds the output up: ceil((224 - 7 + 2) / 2) = 110 (a partial edge window)
    assert (conv1.H, conv1.R, conv1.C, conv1.K, conv1.stride, conv1.P) == (224, 7, 3, 64, 2, 110)


def test_scalesim_round_trip_of_its_own_file(tmp_path):
    original = read_scalesim_csv(DATA / "scalesim" / "resnet50_topology.csv")
    to_scalesim_csv(original, tmp_path / "out.csv")
    again = read_scalesim_csv(tmp_path / "out.csv", name=original.name)
    assert again == original


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_scalesim_export_keeps_output_size_and_macs(tmp_path, name):
    workload = extract(models.get(name), name=name)
    to_scalesim_csv(workload, tmp_path / "mv2.csv")
    back = read_scalesim_csv(tmp_path / "mv2.csv")
    assert len(back) == len(workload)
    for ours, theirs in zip(workload, back, strict=True):
        assert (ours.P, ours.Q, ours.K, ours.R, ours.S, ours.stride) == (
            theirs.P,
            theirs.Q,
            theirs.K,
            theirs.R,
            theirs.S,
            theirs.stride,
        )
        assert ours.macs == theirs.macs  # grouped layers export C per group


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty topology"),
        (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\n",
            "header but no layers",
        ),
        ("Layer, H\nconv, 1\n", "header must start with"),
        (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\nc1, 8, 8, 3, 3, 4, 4,\n",
            "row 2 has 7 columns",
        ),
        (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\nc1, 8, 8, 3, x, 4, 4, 1,\n",
            "whole numbers",
        ),
        (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\nc1, 2, 2, 3, 3, 4, 4, 1,\n",
            "filter larger than the input",
        ),
    ],
)
def test_bad_topology_files(tmp_path, content, message):
    path = tmp_path / "topo.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_scalesim_csv(path)


def test_missing_topology_file(tmp_path):
    with pytest.raises(DlaError, match="file not found"):
        read_scalesim_csv(tmp_path / "nope.csv")


def test_layer_rejects_impossible_sizes():
    with pytest.raises(UsageError, match="C and K must be divisible by groups"):
        Layer("x", "grouped", 1, 6, 8, 3, 3, 8, 8, 8, 8, groups=4)
    with pytest.raises(UsageError, match="K must be >= 1"):
        Layer("x", "conv", 1, 6, 0, 3, 3, 8, 8, 8, 8)


def test_extract_leaves_training_mode_alone(tiny_net):
    tiny_net.train()
    extract(tiny_net, TINY_SHAPE)
    assert tiny_net.training
    assert torch.is_grad_enabled()  # the no_grad block did not leak
