"""Workload: the ordered table of compute layers (conv, depthwise/grouped conv, linear) of a network.

A layer is one frozen dataclass; a Workload is a tuple of them with a pandas view. Layers are found
by running the model once with forward hooks, so any `nn.Module` works, including users' own, and
the order is the execution order. SCALE-Sim topology CSVs can be read and written.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from dla_explorer.core.errors import UnknownName, UsageError, check_type, user_stacklevel

LAYER_KINDS = ("conv", "depthwise", "grouped", "linear")
ROOT_NAME = "model"  # the layer name of a model that is itself one Conv2d or Linear


def module_of(model: nn.Module, layer_name: str) -> nn.Module | None:
    """The module behind a workload layer name (`layer1.0.conv1`, `conv#2`, `model`).

    Args:
        model: the torch module the workload was extracted from.
        layer_name: a `Layer.name`; a `#n` call suffix (a shared module's n-th call) is dropped
            and ROOT_NAME ("model") is the model itself.

    Returns:
        The module, or None when the model has no module of that name.
    """
    name = layer_name.split("#")[0]
    return dict(model.named_modules()).get("" if name == ROOT_NAME else name)


class _Tensors:
    """Feature-map sizes and the checks shared by compute layers and weightless ops."""

    name: str
    kind: str
    N: int
    C: int
    K: int
    H: int
    W: int
    P: int
    Q: int

    def _check(self, what: str, kinds: tuple[str, ...], fields: tuple[str, ...]) -> None:
        if self.kind not in kinds:
            raise UsageError(f"{what} '{self.name}': kind '{self.kind}' is not one of {kinds}")
        for field in fields:
            if getattr(self, field) < 1:
                raise UsageError(f"{what} '{self.name}': {field} must be >= 1")

    @property
    def ifmap(self) -> int:
        """Input feature-map elements, N x C x H x W (all images of the batch)."""
        return self.N * self.C * self.H * self.W

    @property
    def ofmap(self) -> int:
        """Output feature-map elements, N x K x P x Q (all images of the batch)."""
        return self.N * self.K * self.P * self.Q


@dataclass(frozen=True)
class Layer(_Tensors):
    """One compute layer. Sizes in elements; C and K count all channels (not per group).

    N batch, C input channels, K output channels (filters), R x S kernel, H x W input,
    P x Q output. For a linear layer R = S = H = W = P = Q = 1 and N counts all rows fed to it.
    """

    name: str
    kind: str
    N: int
    C: int
    K: int
    R: int
    S: int
    H: int
    W: int
    P: int
    Q: int
    stride: int = 1
    padding: int = 0
    groups: int = 1

    def __post_init__(self) -> None:
        self._check("layer", LAYER_KINDS, ("N", "C", "K", "R", "S", "H", "W", "P", "Q", "stride", "groups"))
        if self.C % self.groups or self.K % self.groups:
            raise UsageError(f"layer '{self.name}': C and K must be divisible by groups")

    @property
    def c_per_group(self) -> int:
        """Input channels each filter reads, C / groups (1 for a depthwise layer)."""
        return self.C // self.groups

    @property
    def k_per_group(self) -> int:
        """Filters (output channels) per group, K / groups."""
        return self.K // self.groups

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of the layer, N x K x P x Q x C / groups x R x S (all images)."""
        return self.N * self.K * self.P * self.Q * self.c_per_group * self.R * self.S

    @property
    def weights(self) -> int:
        """Weight values of the layer, K x C / groups x R x S (biases not counted)."""
        return self.K * self.c_per_group * self.R * self.S

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """The torch weight tensor's shape: (K, C) for a linear layer, else (K, C / groups, R, S)."""
        if self.kind == "linear":
            return (self.K, self.C)
        return (self.K, self.c_per_group, self.R, self.S)


def unknown_layer_message(name: str, names: Sequence[str]) -> str:
    """One line for a layer name that is not in a model: the closest names, or the first few.

    Args:
        name: the name asked for.
        names: the model's layer names, in order.

    Returns:
        The message (no trailing period), e.g. "no layer 'conv9' in the model (53 layers; did you
        mean conv1, conv2)"; up to three close matches, else the first three names.
    """
    close = difflib.get_close_matches(name, names, n=3)
    shown = close or list(names[:3])
    kind = "did you mean" if close else "layers are named like"
    return f"no layer '{name}' in the model ({len(names)} layers; {kind} {', '.join(shown)})"


class LayerSequence:
    """A sequence of `.layers` (each with a `.name`), indexable by position or by layer name."""

    layers: tuple

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator:
        return iter(self.layers)

    def __getitem__(self, key: int | str):
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise UnknownName(unknown_layer_message(key, [layer.name for layer in self.layers]))
        return self.layers[key]


AUX_KINDS = ("pool", "eltwise", "concat", "activation", "other")


@dataclass(frozen=True)
class AuxOp(_Tensors):
    """A node without weights that the DLA runs on its auxiliary blocks (or cannot run: "other").

    `op` names the operation (maxpool, avgpool, add, mul, concat, relu, ...). Shapes are of the
    output: N x K x P x Q, from inputs of C channels at H x W (a concat's C is the sum of its
    inputs). `inputs` are the names of the producing layers or ops ("input" for the network
    input), `after` the compute layer it runs after in execution order ("" before the first).
    For "other" nodes, `macs` and `params` say how much of the network they carry (reported, never
    silently dropped).
    """

    name: str
    kind: str
    op: str
    N: int
    C: int
    K: int
    H: int
    W: int
    P: int
    Q: int
    R: int = 1
    S: int = 1
    stride: int = 1
    inputs: tuple[str, ...] = ()
    after: str = ""
    macs: int = 0
    params: int = 0

    def __post_init__(self) -> None:
        self._check("op", AUX_KINDS, ("N", "C", "K", "H", "W", "P", "Q", "R", "S", "stride"))


@dataclass(frozen=True)
class Workload(LayerSequence):
    """An ordered tuple of compute layers with the network name and the input shape it was traced
    with; `ops` holds the weightless nodes (pooling, element-wise adds, concat, activations) in
    execution order (each names its producers, so shortcuts are visible)."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    ops: tuple[AuxOp, ...] = ()

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of the compute layers (the weightless ops not counted)."""
        return sum(layer.macs for layer in self.layers)

    @property
    def weights(self) -> int:
        """Weight values of the compute layers."""
        return sum(layer.weights for layer in self.layers)

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: the dataclass fields plus macs, weights, ifmap and ofmap.

        Returns:
            The table, one row per compute layer in execution order: name, kind, N, C, K, R, S,
            H, W, P, Q, stride, padding, groups, macs, weights, ifmap and ofmap (elements).
        """
        rows = [
            {
                **dataclasses.asdict(layer),
                "macs": layer.macs,
                "weights": layer.weights,
                "ifmap": layer.ifmap,
                "ofmap": layer.ofmap,
            }
            for layer in self.layers
        ]
        return pd.DataFrame(rows)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return "linear"
    if module.groups == 1:
        return "conv"
    if module.groups == module.in_channels == module.out_channels:
        return "depthwise"
    return "grouped"


def _size(value: object) -> int:
    """The first entry of a torch size attribute (an int or a tuple of ints)."""
    return int(value[0] if isinstance(value, tuple) else value)  # type: ignore[arg-type]


def _layer_from_call(name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Layer:
    if isinstance(module, nn.Linear):
        rows = x.numel() // x.shape[-1]
        return Layer(name, "linear", rows, module.in_features, module.out_features, 1, 1, 1, 1, 1, 1)
    assert isinstance(module, nn.Conv2d)
    kernel = module.kernel_size
    return Layer(
        name,
        _kind(module),
        N=x.shape[0],
        C=module.in_channels,
        K=module.out_channels,
        R=kernel[0],
        S=kernel[1],
        H=x.shape[2],
        W=x.shape[3],
        P=y.shape[2],
        Q=y.shape[3],
        stride=_size(module.stride),
        padding=_size(module.padding) if isinstance(module.padding, tuple) else 0,
        groups=module.groups,
    )


_UNSUPPORTED = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def check_input_shape(input_shape: object) -> None:
    """An input shape is whole numbers > 0 (a string or a 0 failed inside torch, naming neither).

    Args:
        input_shape: the shape as given, e.g. (1, 3, 224, 224).

    Raises:
        UsageError: it is not a sequence of whole numbers > 0.
    """
    dims = list(input_shape) if isinstance(input_shape, Sequence | np.ndarray) else None
    if (
        isinstance(input_shape, str)
        or not dims
        or not all(isinstance(d, numbers.Integral) and int(d) > 0 for d in dims)
    ):
        raise UsageError(f"input_shape = {input_shape!r}: must be whole numbers > 0, e.g. (1, 3, 224, 224)")


def extract(
    model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224), name: str | None = None
) -> Workload:
    """Trace `model` on a zero tensor of `input_shape` and return its compute layers in order.

    A module called more than once (weight sharing) appears once per call, suffixed `#2`, `#3`.
    The model runs once: through its torch.fx graph where fx can trace it, which also gives the
    weightless nodes (`Workload.ops`, see fx_trace) and the computation the layer table does not
    cover (a warning with its share of MACs and parameters); else as is, with forward hooks only.

    Args:
        model: the torch module (`models.get(name)` makes a zoo model).
        input_shape: the input (N, C, H, W) in elements.
        name: the workload's name; None takes the module's class name.

    Returns:
        The Workload: its compute layers in call order and its weightless operations.

    Raises:
        UsageError: `model` is not a torch module, `input_shape` does not fit it, or it has no
            Conv2d or Linear layer.
    """
    from dla_explorer.workload import fx_trace

    check_type(model, nn.Module, "model", "models.get(name) makes a zoo model")
    check_input_shape(input_shape)

    input_shape = tuple(int(d) for d in input_shape)
    name = name or type(model).__name__
    layers: list[Layer] = []
    calls: dict[str, int] = {}
    skipped: set[str] = set()

    def hook(module_name: str) -> Callable[..., None]:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            calls[module_name] = calls.get(module_name, 0) + 1
            suffix = f"#{calls[module_name]}" if calls[module_name] > 1 else ""
            layers.append(_layer_from_call(module_name + suffix, module, inputs[0], output))

        return record

    handles = []
    for module_name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            handles.append(module.register_forward_hook(hook(module_name or ROOT_NAME)))
        elif isinstance(module, _UNSUPPORTED):
            skipped.add(f"{module_name} ({type(module).__name__})")
    graph, trace_error = None, ""
    if not isinstance(model, (nn.Conv2d, nn.Linear)):
        try:
            graph = fx_trace.graph_module(model)
        except fx_trace.TraceError as exc:
            trace_error = str(exc)
    ops: tuple[AuxOp, ...] = ()
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            if graph is not None:
                ops = fx_trace.run_and_collect_ops(graph.eval(), torch.zeros(input_shape), ROOT_NAME)
            else:
                model(torch.zeros(input_shape))
    except (RuntimeError, ValueError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"input shape {list(input_shape)} does not fit model '{name}': {detail}") from None
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not layers:
        raise UsageError(f"model '{name}' has no Conv2d or Linear layers to analyse")
    workload = Workload(name, input_shape, tuple(layers), ops)
    if graph is None and not isinstance(model, (nn.Conv2d, nn.Linear)):
        unsupported = f"; layers of unsupported kinds: {', '.join(sorted(skipped))}" if skipped else ""
        warnings.warn(
            f"{name}: torch.fx cannot trace the model ({trace_error}), so its pooling, element-wise "
            f"and other weightless nodes are unknown (Workload.ops is empty){unsupported}",
            stacklevel=user_stacklevel(),
        )
    else:
        warn_uncovered(workload)
    return workload


def uncovered(workload: Workload) -> list[tuple[AuxOp, float, float]]:
    """The ops the DLA cannot run ("other"), with their share of the network's MACs and
    parameters (the layer table's plus theirs).

    Args:
        workload: the layer table, with its weightless ops (`Workload.ops`).

    Returns:
        One (op, share of MACs, share of parameters) per "other" op in execution order; the
        shares are fractions (0..1) of the compute layers' and the "other" ops' total. Empty when
        the DLA runs every node.
    """
    others = [op for op in workload.ops if op.kind == "other"]
    macs = workload.macs + sum(op.macs for op in others)
    params = workload.weights + sum(op.params for op in others)
    return [(op, op.macs / max(macs, 1), op.params / max(params, 1)) for op in others]


def warn_uncovered(workload: Workload, stacklevel: int | None = None) -> None:
    """One warning listing the ops outside the layer table with their shares (if any).

    Args:
        workload: the layer table, with its weightless ops (`Workload.ops`).
        stacklevel: what the calling function would pass to `warnings.warn` itself (2: the
            warning names the line that called it; one is added for this function's frame);
            None: the first line outside the package (the user's call).
    """
    rows = uncovered(workload)
    if not rows:
        return
    mac_share = sum(r[1] for r in rows)
    param_share = sum(r[2] for r in rows)
    listed = ", ".join(f"{op.name} ({op.op}, {m:.1%} MACs, {p:.1%} params)" for op, m, p in rows[:8])
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    warnings.warn(
        f"{workload.name}: {len(rows)} nodes the DLA cannot run are not in the layer table "
        f"({mac_share:.1%} of MACs, {param_share:.1%} of parameters): {listed}{more}",
        stacklevel=user_stacklevel() if stacklevel is None else stacklevel + 1,
    )
