"""The model zoo: `get("resnet50")` returns a freshly initialised torch module.

torchvision has no CPU build on the machines this targets, so the networks are defined here,
with torchvision's layer names and the published ImageNet shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dla_explorer.core.errors import UsageError
from dla_explorer.workload.zoo.digits import DIGITS_INPUT_SHAPE, DigitsCNN
from dla_explorer.workload.zoo.mobilenet import MobileNetV1, MobileNetV2
from dla_explorer.workload.zoo.resnet import resnet50

DEFAULT_INPUT_SHAPE = (1, 3, 224, 224)

_REGISTRY: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "resnet50": (resnet50, "ResNet-50 v1.5 (He et al. 2016): 25.6 M parameters, 4.1 GMACs"),
    "mobilenet_v1": (MobileNetV1, "MobileNet v1 1.0 (Howard et al. 2017): 4.2 M params, 569 MMACs"),
    "mobilenet_v2": (MobileNetV2, "MobileNet v2 1.0 (Sandler et al. 2018): 3.5 M params, 300 MMACs"),
    "digits_cnn": (DigitsCNN, "4-conv CNN for the built-in digits task (16x16 grey): 70 k params, 3 MMACs"),
}
# models whose natural input is not a 224x224 RGB image
_INPUT_SHAPES: dict[str, tuple[int, ...]] = {"digits_cnn": DIGITS_INPUT_SHAPE}


def names() -> list[str]:
    """Names of the models in the zoo."""
    return list(_REGISTRY)


def describe(name: str) -> str:
    return _REGISTRY[_check(name)][1]


def input_shape(name: str) -> tuple[int, ...]:
    """The input shape a zoo model is meant for (N, C, H, W); DEFAULT_INPUT_SHAPE for the
    ImageNet networks and for names outside the zoo."""
    return _INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)


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
