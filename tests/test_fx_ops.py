"""The torch path's weightless nodes (torch.fx + shapes) and the computation it cannot cover."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from dla_explorer.workload import extract, uncovered


class Attention(nn.Module):
    """A patch embedding, one self-attention (activation x activation matmuls) and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, stride=4)
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, 16 tokens, 16)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(1, 2), dim=-1)
        return self.head((attn @ v).mean(dim=1))


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1)
        y = self.pool(y) + self.pool(y)
        return self.fc(y.mean(dim=(2, 3)))


class Dynamic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if y.sum() > 0 else -y  # data-dependent: fx cannot trace this


def test_ops_of_a_branching_model_with_their_producers():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing uncovered: no warning
        workload = extract(Branchy().eval(), (2, 3, 8, 8))
    kinds = [(op.kind, op.op) for op in workload.ops]
    assert kinds == [
        ("activation", "relu"),
        ("concat", "concat"),
        ("pool", "maxpool"),
        ("pool", "maxpool"),
        ("eltwise", "add"),
        ("pool", "avgpool"),
    ]
    concat = workload.ops[1]
    assert concat.inputs == (workload.ops[0].name, "b") and (concat.C, concat.K) == (16, 16)
    pool = workload.ops[2]
    assert (pool.N, pool.H, pool.P, pool.R, pool.stride) == (2, 8, 4, 2, 2)
    assert workload.ops[4].inputs == (pool.name, workload.ops[3].name)


def test_attention_matmuls_are_reported_with_their_share():
    with pytest.warns(UserWarning, match="nodes the DLA cannot run") as record:
        workload = extract(Attention().eval(), (1, 3, 16, 16))
    rows = uncovered(workload)
    assert [op.op for op, _, _ in rows] == ["matmul", "matmul"]
    # q @ k^T: (1, 16, 16) @ (1, 16, 16) = 16*16*16 MACs; attn @ v the same
    assert [op.macs for op, _, _ in rows] == [4096, 4096]
    layer_macs = 16 * 16 * 3 * 16 + 16 * 16 * 48 + 16 * 10  # embed, qkv on 16 tokens, head
    assert workload.macs == layer_macs
    assert sum(share for _, share, _ in rows) == pytest.approx(8192 / (layer_macs + 8192))
    assert f"{8192 / (layer_macs + 8192):.1%} of MACs" in str(record[0].message)
    # the warning names the user's line (it named the line that called the test function)
    assert record[0].filename == __file__


def test_the_untraceable_warning_names_the_users_line():
    with pytest.warns(UserWarning, match="torch.fx cannot trace") as record:
        extract(Dynamic().eval(), (1, 3, 8, 8))
    assert record[0].filename == __file__


def test_untraceable_models_keep_their_layers_and_say_ops_are_unknown():
    with pytest.warns(UserWarning, match="torch.fx cannot trace"):
        workload = extract(Dynamic().eval(), (1, 3, 8, 8))
    assert [layer.name for layer in workload] == ["conv"] and workload.ops == ()


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_library_models_name_the_missing_extra(monkeypatch, library):
    import sys

    from dla_explorer.core.errors import UsageError
    from dla_explorer.sparsity.pruning import resolve_model

    monkeypatch.setitem(sys.modules, library, None)  # as if not installed
    monkeypatch.setitem(sys.modules, f"{library}.models", None)
    with pytest.raises(UsageError, match=rf"pip install 'dla-explorer\[{library}\]'") as info:
        resolve_model(f"{library}:resnet18")
    assert "\n" not in str(info.value)
