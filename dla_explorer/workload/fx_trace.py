"""The weightless nodes of a torch model, from a torch.fx trace run once with shapes recorded.

The forward hooks of `extract` see every Conv2d and Linear call; the fx graph shows what runs
between them: pooling, element-wise adds (the shortcuts), concatenations and activations become
`AuxOp`s, and computation the layer table does not cover (a matmul between activations, attention,
functional convs, Conv1d, LayerNorm, ...) becomes an "other" op with its MACs and parameters,
reported in a warning with its share. A model fx cannot trace (data-dependent control flow)
keeps its layers and gets a warning that its ops are unknown.
"""

from __future__ import annotations

import math
import operator
from types import SimpleNamespace
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

from dla_explorer.workload.layers import AuxOp

COMPUTE_MODULES = (nn.Conv2d, nn.Linear)
POOL_MODULES = {
    nn.MaxPool2d: "maxpool",
    nn.AvgPool2d: "avgpool",
    nn.AdaptiveAvgPool2d: "avgpool",
    nn.AdaptiveMaxPool2d: "maxpool",
}
ACTIVATION_MODULES = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.Hardtanh: "relu6",
    nn.Sigmoid: "sigmoid",
    nn.Hardsigmoid: "hardsigmoid",
    nn.Hardswish: "hardswish",
    nn.SiLU: "silu",
    nn.GELU: "gelu",
    nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "prelu",
    nn.Tanh: "tanh",
    nn.ELU: "elu",
}
# modules without arithmetic of their own on a DLA (BatchNorm folds into the conv before it)
PASSIVE_MODULES = (nn.BatchNorm2d, nn.BatchNorm1d, nn.Dropout, nn.Flatten, nn.Identity, nn.Unflatten)
POOL_FUNCTIONS = {
    F.adaptive_avg_pool2d: "avgpool",
    F.avg_pool2d: "avgpool",
    F.max_pool2d: "maxpool",
    F.adaptive_max_pool2d: "maxpool",
}
ACTIVATION_FUNCTIONS = {
    F.relu: "relu",
    torch.relu: "relu",
    F.relu6: "relu6",
    F.hardtanh: "relu6",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
    F.silu: "silu",
    F.gelu: "gelu",
    torch.tanh: "tanh",
}
ELTWISE_FUNCTIONS = {
    operator.add: "add",
    operator.iadd: "add",
    torch.add: "add",
    operator.mul: "mul",
    operator.imul: "mul",
    torch.mul: "mul",
    operator.sub: "sub",
    torch.sub: "sub",
}
MATMUL_FUNCTIONS = (operator.matmul, torch.matmul, torch.bmm, torch.mm)
ELTWISE_METHODS = {"add": "add", "add_": "add", "mul": "mul", "mul_": "mul", "sub": "sub"}
ACTIVATION_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}


class TraceError(Exception):
    """torch.fx could not trace the model (the message says why)."""


def graph_module(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, NotImplementedError, ... by model
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TraceError(detail[:200]) from None


def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def _nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    shape = tuple(max(d, 1) for d in shape) or (1,)
    if len(shape) == 4:
        return shape[0], shape[1], shape[2], shape[3]
    if len(shape) == 1:
        return 1, shape[0], 1, 1
    return math.prod(shape[:-1]), shape[-1], 1, 1


class _Shapes(fx.Interpreter):
    """Runs the graph and records each tensor's shape in node.meta (what ShapeProp does, without
    ShapeProp printing a traceback when the input does not fit: extract turns that into one line)."""

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["tensor_meta"] = SimpleNamespace(shape=tuple(result.shape))
        return result


def run_and_collect_ops(gm: fx.GraphModule, inputs: torch.Tensor, root: str) -> tuple[AuxOp, ...]:
    """Run `gm` on `inputs` once (recording shapes; forward hooks on its modules fire as usual) and
    return the weightless nodes in execution order. `root` names a model that is one module."""
    _Shapes(gm).run(inputs)
    modules = dict(gm.named_modules())
    producer: dict[fx.Node, str] = {}
    calls: dict[str, int] = {}
    used: set[str] = set()
    ops: list[AuxOp] = []
    after = ""

    def tensor_args(node: fx.Node) -> list[fx.Node]:
        found: list[fx.Node] = []

        def collect(arg: fx.Node) -> fx.Node:
            found.append(arg)
            return arg

        fx.node.map_arg((node.args, node.kwargs), collect)
        return [n for n in found if _shape(n) is not None and n.op != "get_attr"]

    def unique(name: str) -> str:
        base, count = name, 1
        while name in used:
            count += 1
            name = f"{base}_{count}"
        used.add(name)
        return name

    def add(node: fx.Node, kind: str, op: str, args: list[fx.Node], **extra: Any) -> None:
        out = _shape(node)
        if out is None:
            return
        n, k, p, q = _nchw(out)
        first = _shape(args[0]) if args else out
        _, c, h, w = _nchw(first or out)
        if kind == "concat":
            c = sum(_nchw(_shape(a) or out)[1] for a in args)
        label = unique(node.target if node.op == "call_module" else node.name)  # type: ignore[arg-type]
        names = tuple(producer.get(a, "input") for a in args)
        ops.append(AuxOp(label, kind, op, n, c, k, h, w, p, q, inputs=names, after=after, **extra))
        producer[node] = label

    for node in gm.graph.nodes:
        args = tensor_args(node)
        if node.op == "placeholder":
            producer[node] = "input"
            continue
        if node.op == "call_module":
            module = modules[node.target]
            if isinstance(module, COMPUTE_MODULES):
                name = str(node.target) or root
                calls[name] = calls.get(name, 0) + 1
                label = name if calls[name] == 1 else f"{name}#{calls[name]}"
                producer[node] = after = label
            elif type(module) in POOL_MODULES:
                kernel = getattr(module, "kernel_size", 1)
                kernel = kernel if isinstance(kernel, int) else kernel[0]
                stride = getattr(module, "stride", 1) or kernel
                stride = stride if isinstance(stride, int) else stride[0]
                out = _shape(node)
                if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and args and out:
                    kernel = max(1, _nchw(_shape(args[0]) or out)[2] // max(_nchw(out)[2], 1))
                    stride = kernel
                add(node, "pool", POOL_MODULES[type(module)], args, R=kernel, S=kernel, stride=stride)
            elif type(module) in ACTIVATION_MODULES:
                add(node, "activation", ACTIVATION_MODULES[type(module)], args)
            elif isinstance(module, PASSIVE_MODULES) or not any(True for _ in module.parameters()):
                if isinstance(module, PASSIVE_MODULES) or type(module).__name__ in ("Flatten", "Dropout"):
                    producer[node] = producer.get(args[0], "input") if args else "input"
                else:
                    add(node, "other", type(module).__name__, args, macs=_module_macs(module, node, args))
            else:
                params = sum(p.numel() for p in module.parameters())
                add(
                    node,
                    "other",
                    type(module).__name__,
                    args,
                    macs=_module_macs(module, node, args),
                    params=params,
                )
        elif node.op == "call_function":
            target = node.target
            if target in ELTWISE_FUNCTIONS and len(args) >= 2:
                add(node, "eltwise", ELTWISE_FUNCTIONS[target], args)
            elif target is torch.cat or target is torch.concat:
                add(node, "concat", "concat", args)
            elif target in ACTIVATION_FUNCTIONS:
                add(node, "activation", ACTIVATION_FUNCTIONS[target], args)
            elif target in POOL_FUNCTIONS:
                add(node, "pool", POOL_FUNCTIONS[target], args)
            elif target in MATMUL_FUNCTIONS and len(args) >= 2:
                add(node, "other", "matmul", args, macs=_matmul_macs(args))
            elif target is F.scaled_dot_product_attention:
                add(node, "other", "attention", args, macs=_attention_macs(args))
            elif target in (F.linear, F.conv1d, F.conv2d, F.conv3d):
                weight = _shape(node.args[1]) if isinstance(node.args[1], fx.Node) else None
                params = math.prod(weight) if weight else 0
                out = _shape(node) or ()
                macs = math.prod(out) * (params // max(weight[0], 1) if weight else 0)
                add(node, "other", getattr(target, "__name__", "functional"), args, macs=macs, params=params)
            elif args:
                producer[node] = producer.get(args[0], "input")  # layout and shape bookkeeping
        elif node.op == "call_method":
            method = str(node.target)
            if method in ELTWISE_METHODS and len(args) >= 2:
                add(node, "eltwise", ELTWISE_METHODS[method], args)
            elif method in ACTIVATION_METHODS:
                add(node, "activation", ACTIVATION_METHODS[method], args)
            elif method == "mean" and args and len(_shape(node) or ()) < len(_shape(args[0]) or ()):
                add(node, "pool", "avgpool", args)
            elif method in ("matmul", "bmm", "__matmul__") and len(args) >= 2:
                add(node, "other", "matmul", args, macs=_matmul_macs(args))
            elif args:
                producer[node] = producer.get(args[0], "input")
    return tuple(ops)


def _matmul_macs(args: list[fx.Node]) -> int:
    a, b = _shape(args[0]) or (1,), _shape(args[1]) or (1,)
    return math.prod(a) * (b[-1] if len(b) > 1 else 1)


def _attention_macs(args: list[fx.Node]) -> int:
    """q @ k^T and attn @ v: 2 * L * S * E per batch and head."""
    q, k = _shape(args[0]) or (1,), _shape(args[1]) or (1,)
    return 2 * math.prod(q) * (k[-2] if len(k) > 1 else 1)


def _module_macs(module: nn.Module, node: fx.Node, args: list[fx.Node]) -> int:
    """MACs of a module the layer table does not cover, where its arithmetic is known."""
    out = _shape(node) or ()
    if isinstance(module, nn.MultiheadAttention) and args:
        length, batch, embed = (_shape(args[0]) or (1, 1, 1))[-3:]
        # in and out projections (4 E^2 per token) plus the two attention matmuls (2 L E per token)
        return batch * length * (4 * embed * embed + 2 * length * embed)
    if isinstance(module, (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        weight = module.weight
        per_output = weight.numel() // weight.shape[0]
        if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            return math.prod(_shape(args[0]) or ()) * weight.numel() // max(weight.shape[0], 1)
        return math.prod(out) * per_output
    return 0
