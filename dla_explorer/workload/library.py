"""Models from libraries by name: `torchvision:resnet18`, `timm:mobilenetv1_100`.

The libraries are optional extras (torchvision's wheels may pull a CUDA build of torch, so it is
never a hard dependency); a missing one is a one-line error naming the extra to install. Models
are built with random weights (nothing downloads); trained weights come from `weights:`.
"""

from __future__ import annotations

from torch import nn

from dla_explorer.core.errors import UsageError

LIBRARIES = ("torchvision", "timm")


def is_library_name(model: str) -> bool:
    """True when `model` names a library model (`torchvision:NAME` or `timm:NAME`).

    Args:
        model: a model name as a recipe or the CLI gives it.

    Returns:
        Whether its prefix before ':' is one of LIBRARIES (the library need not be installed).
    """
    return model.split(":", 1)[0] in LIBRARIES and ":" in model


def library_model(spec: str) -> nn.Module:
    """The named model of torchvision or timm, untrained, in eval mode.

    Args:
        spec: `torchvision:NAME` or `timm:NAME`, e.g. `torchvision:resnet18`.

    Returns:
        The torch module with random (untrained) weights, in eval mode.

    Raises:
        UsageError: the prefix is not a known library or NAME is empty; the library is not installed
            (the message names the extra to install); or the library cannot build NAME (an unknown
            model name).
    """
    library, _, name = spec.partition(":")
    if library not in LIBRARIES or not name:
        raise UsageError(f"model '{spec}': use torchvision:NAME or timm:NAME")
    try:
        if library == "torchvision":
            import torchvision.models as tv_models

            factory = lambda: tv_models.get_model(name, weights=None)  # noqa: E731
        else:
            import timm

            factory = lambda: timm.create_model(name, pretrained=False)  # noqa: E731
    except ImportError:
        raise UsageError(
            f"model '{spec}' needs {library}, which is not installed: pip install 'dla-explorer[{library}]'"
        ) from None
    try:
        return factory().eval()
    except (ValueError, RuntimeError, KeyError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"model '{spec}': {library} cannot build '{name}': {detail}") from None
