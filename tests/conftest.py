"""Shared fixtures: a small user-defined CNN and pruned zoo models built once per session."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dla_explorer.sparsity import pruning


class TinyNet(nn.Module):
    """A user-style CNN with an ordinary, a grouped, a depthwise, a strided conv and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.grouped = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=4)
        self.depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pointwise = nn.Conv2d(32, 24, 1)
        self.head = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.grouped(x))
        x = torch.relu(self.depthwise(x))
        x = torch.relu(self.pointwise(x))
        return self.head(x.mean(dim=(2, 3)))


TINY_SHAPE = (1, 3, 16, 16)


@pytest.fixture
def tiny_net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="session")
def resnet50_random90() -> pruning.SparseModel:
    return pruning.prune("resnet50", "random", 0.9, overrides={"conv1": 0.0, "fc": 0.0}, seed=0)
