"""The model zoo: `get("resnet50")` returns a freshly initialised torch module.

torchvision has no CPU build on the machines this targets, so the networks are defined here,
with torchvision's layer names and the published ImageNet shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dla_explorer.core.errors import UsageError
from dla_explorer.workload.zoo.classic import AlexNet, ResNet8, ResNet18
from dla_explorer.workload.zoo.mobilenet import MobileNetV1, MobileNetV2
from dla_explorer.workload.zoo.resnet import resnet50

DEFAULT_INPUT_SHAPE = (1, 3, 224, 224)

_REGISTRY: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "resnet50": (resnet50, "ResNet-50 v1.5 (He et al. 2016): 25.6 M parameters, 4.1 GMACs"),
    "mobilenet_v1": (MobileNetV1, "MobileNet v1 1.0 (Howard et al. 2017): 4.2 M params, 569 MMACs"),
    "mobilenet_v2": (MobileNetV2, "MobileNet v2 1.0 (Sandler et al. 2018): 3.5 M params, 300 MMACs"),
    # networks of published DLA measurements (validation/points.yaml)
    "alexnet": (AlexNet, "AlexNet (Krizhevsky et al. 2012, one tower): 61 M params, 0.71 GMACs"),
    "resnet18": (ResNet18, "ResNet-18 (He et al. 2016): 11.7 M params, 1.8 GMACs"),
    "resnet8": (ResNet8, "MLPerf Tiny ResNet-8 (CIFAR-10, 32x32 input): 78 K params, 12.5 MMACs"),
}


def names() -> list[str]:
    """Names of the models in the zoo."""
    return list(_REGISTRY)


def describe(name: str) -> str:
    return _REGISTRY[_check(name)][1]


def get(name: str, seed: int = 0) -> nn.Module:
    """A new instance of the named model in eval mode, with untrained weights drawn from `seed`
    (the global torch generator is left as it was)."""
    factory = _REGISTRY[_check(name)][0]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory().eval()


def _check(name: str) -> str:
    if name not in _REGISTRY:
        raise UsageError(f"unknown model '{name}'; known models: {', '.join(_REGISTRY)}")
    return name
