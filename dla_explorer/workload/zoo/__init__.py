"""The model zoo: `get("resnet50")` returns a freshly initialised torch module.

torchvision has no CPU build on the machines this targets, so the networks are defined here,
with torchvision's layer names and the published ImageNet shapes. The registry names each
network's factory by module path, so listing the zoo (`names`, `describe`) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dla_explorer.core.errors import UsageError, check_whole

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "DEFAULT_INPUT_SHAPE",
    "describe",
    "get",
    "input_shape",
    "names",
]

DEFAULT_INPUT_SHAPE = (1, 3, 224, 224)

# name -> (module, factory, description)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "resnet50": (
        "dla_explorer.workload.zoo.resnet",
        "resnet50",
        "ResNet-50 v1.5 (He et al. 2016): 25.6 M parameters, 4.1 GMACs",
    ),
    "mobilenet_v1": (
        "dla_explorer.workload.zoo.mobilenet",
        "MobileNetV1",
        "MobileNet v1 1.0 (Howard et al. 2017): 4.2 M params, 569 MMACs",
    ),
    "mobilenet_v2": (
        "dla_explorer.workload.zoo.mobilenet",
        "MobileNetV2",
        "MobileNet v2 1.0 (Sandler et al. 2018): 3.5 M params, 300 MMACs",
    ),
    "digits_cnn": (
        "dla_explorer.workload.zoo.digits",
        "DigitsCNN",
        "4-conv CNN for the built-in digits task (16x16 grey): 70 k params, 3 MMACs",
    ),
    # networks of published DLA measurements (validation/points.yaml)
    "alexnet": (
        "dla_explorer.workload.zoo.classic",
        "AlexNet",
        "AlexNet (Krizhevsky et al. 2012, one tower): 61 M params, 0.71 GMACs",
    ),
    "resnet18": (
        "dla_explorer.workload.zoo.classic",
        "ResNet18",
        "ResNet-18 (He et al. 2016): 11.7 M params, 1.8 GMACs",
    ),
    "googlenet": (
        "dla_explorer.workload.zoo.classic",
        "GoogLeNet",
        "GoogLeNet / Inception v1 (Szegedy et al. 2015, no auxiliary heads): 7.0 M params, 1.6 GMACs",
    ),
    "resnet8": (
        "dla_explorer.workload.zoo.classic",
        "ResNet8",
        "MLPerf Tiny ResNet-8 (CIFAR-10, 32x32 input): 78 K params, 12.5 MMACs",
    ),
}
# models whose natural input is not a 224x224 RGB image (written out so listing the zoo does not
# import torch): digits.DIGITS_INPUT_SHAPE; ResNet-8 is MLPerf Tiny's CIFAR-10 network (32x32 RGB,
# the 12.5 MMACs its description gives; at 224x224 it traced 612 MMACs)
_INPUT_SHAPES: dict[str, tuple[int, ...]] = {"digits_cnn": (1, 1, 16, 16), "resnet8": (1, 3, 32, 32)}


def names() -> list[str]:
    """Names of the models in the zoo.

    Returns:
        The names `get` accepts, in the zoo's order.
    """
    return list(_REGISTRY)


def describe(name: str) -> str:
    """A one-line description of a zoo model (architecture, reference, size).

    Args:
        name: a zoo model name (see `names`).

    Returns:
        The description.

    Raises:
        UsageError: `name` is not in the zoo.
    """
    return _REGISTRY[_check(name)][2]


def input_shape(name: str) -> tuple[int, ...]:
    """The input shape a zoo model is meant for (N, C, H, W); DEFAULT_INPUT_SHAPE for the
    ImageNet networks and for names outside the zoo (a 'file.py:factory' model, say).

    Args:
        name: a zoo model name.

    Returns:
        (N, C, H, W) in elements.
    """
    return _INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)


def get(name: str, seed: int = 0) -> nn.Module:
    """A new instance of a zoo model in eval mode, with untrained weights drawn from `seed`.

    The global torch generator is left as it was.

    Args:
        name: a zoo model name (see `names`).
        seed: seed of the weight initialisation.

    Returns:
        The torch module.

    Raises:
        UsageError: `name` is not in the zoo, or `seed` is not a whole number >= 0.
    """
    import torch

    module, factory, _ = _REGISTRY[_check(name)]
    # torch.manual_seed('x') fails with a ValueError naming neither the argument nor the rule
    check_whole(seed, "seed", 0)
    build = getattr(importlib.import_module(module), factory)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build().eval()


def _check(name: str) -> str:
    if name not in _REGISTRY:
        raise UsageError(f"unknown model '{name}'; known models: {', '.join(_REGISTRY)}")
    return name
