"""ONNX models into the workload table: `read_onnx("model.onnx")` -> Workload.

Reads the graph with the `onnx` package (extra `onnx`), infers every tensor's shape
(onnx.shape_inference), and walks the nodes in their (topological) order:

- Conv (groups, dilation, pads, strides) -> conv / depthwise / grouped layers; Gemm and MatMul
  with a weight initializer -> linear layers;
- MaxPool, AveragePool, Global*Pool -> "pool" ops; Add/Sub/Mul/Div of two activations ->
  "eltwise"; Concat -> "concat"; Relu, Clip, Sigmoid, HardSwish, ... -> "activation";
- shape-only nodes (Reshape, Flatten, Transpose, Squeeze, Identity, Dropout, ...) and
  BatchNormalization (folded into the conv before it on a DLA) carry no work of their own;
- everything else (a MatMul of two activations, Softmax, LayerNormalization, an unknown op) is an
  "other" op with its MACs (where the op's arithmetic is known) and parameters: listed in
  Workload.ops and in a warning with its share of the network, never dropped silently.

Layer names follow the torch module names where the exporter kept them (the weight initializer
`layer1.0.conv1.weight`, or the node scope `/layer1/layer1.0/conv1/Conv`), so a zoo model
exported with torch.onnx gives the same table as the torch path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.workload.layers import AuxOp, Layer, Workload, warn_uncovered

POOL_OPS = {
    "MaxPool": "maxpool",
    "AveragePool": "avgpool",
    "GlobalAveragePool": "avgpool",
    "GlobalMaxPool": "maxpool",
}
ELTWISE_OPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Sum": "add", "Max": "max"}
ACTIVATION_OPS = {
    "Relu": "relu",
    "Clip": "relu6",
    "LeakyRelu": "leaky_relu",
    "PRelu": "prelu",
    "Sigmoid": "sigmoid",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Tanh": "tanh",
    "Elu": "elu",
}
# nodes without arithmetic of their own (layout, shape bookkeeping) or folded into the conv before
PASSIVE_OPS = {
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Constant",
    "Shape",
    "Gather",
    "Cast",
    "BatchNormalization",
    "Slice",
    "Pad",
    "ConstantOfShape",
    "Expand",
}
INSTALL_HINT = "reading ONNX files needs the 'onnx' package: pip install 'dla-explorer[onnx]'"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return onnx


def _dims(value_info: Any) -> tuple[int, ...] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in tensor.shape.dim)
    return dims


def _attributes(node: Any) -> dict[str, Any]:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _layer_name(node: Any, weight: str | None, used: set[str]) -> str:
    """The torch module name behind a node where the exporter kept it, else the node's name."""
    name = ""
    if weight and weight.endswith(".weight"):
        name = weight[: -len(".weight")]
    elif node.name.startswith("/"):
        name = _scope_name([p for p in node.name.split("/") if p][:-1])
    name = name or node.name or node.output[0]
    base, count = name, 1
    while name in used:  # a module called more than once: `#2`, `#3` as on the torch path
        count += 1
        name = f"{base}#{count}"
    used.add(name)
    return name


def _scope_name(parts: list[str]) -> str:
    """torch.onnx's node scope -> the module name: ['features', 'features.1', 'conv', 'conv.0']
    -> 'features.1.conv.0' (a part extending the previous one names a child of the same parent;
    any other part is an attribute of the module named so far)."""
    full, prefix, previous = "", "", ""
    for part in parts:
        if not (previous and part.startswith(previous + ".")):
            prefix = f"{full}." if full else ""
        full, previous = prefix + part, part
    return full


def _as_nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) of a tensor: 4-D as is, 2-D as (N, C, 1, 1), others folded (N = leading)."""
    shape = tuple(max(int(d), 1) for d in shape) or (1,)
    if len(shape) == 4:
        return shape[0], shape[1], shape[2], shape[3]
    if len(shape) == 1:
        return 1, shape[0], 1, 1
    return math.prod(shape[:-1]), shape[-1], 1, 1


def read_onnx(
    path: str | Path, input_shape: tuple[int, ...] | None = None, name: str | None = None
) -> Workload:
    """The workload of an ONNX model. `input_shape` fixes the first graph input's shape (needed
    when its dimensions are symbolic; a symbolic batch alone defaults to 1)."""
    return load_onnx(path, input_shape, name)[0]


def load_onnx(
    path: str | Path, input_shape: tuple[int, ...] | None = None, name: str | None = None
) -> tuple[Workload, dict[str, np.ndarray]]:
    """The workload of an ONNX model and each layer's weight (layer.weight_shape, float32), from
    the graph's initializers."""
    onnx = _onnx()
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"ONNX file '{path}' not found")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError; all mean "not an ONNX model"
        raise DlaError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    graph = model.graph
    initializers = {t.name: tuple(t.dims) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if not inputs:
        raise UsageError(f"{path}: the graph has no inputs")
    first = _dims(inputs[0]) or ()
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
    else:
        shape = tuple(d if d > 0 else 1 for d in first)
        if len(first) > 1 and any(d == 0 for d in first[1:]):
            raise UsageError(
                f"{path}: input '{inputs[0].name}' has symbolic dimensions; give the input shape"
            )
    dims = inputs[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, shape, strict=False):
        dim.dim_value = value
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:  # the checker's own error types
        raise DlaError(f"{path}: ONNX shape inference failed: {str(exc).splitlines()[0]}") from None
    graph = model.graph
    shapes: dict[str, tuple[int, ...]] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims_ = _dims(info)
        if dims_ is not None:
            shapes[info.name] = dims_
    shapes.update(initializers)
    sources: dict[str, tuple[str, bool]] = {}
    workload = _walk(graph, shapes, initializers, shape, name or path.stem, str(path), sources)
    arrays = {t.name: t for t in graph.initializer}
    weights = {}
    for layer in workload:
        tensor, transpose = sources[layer.name]
        if tensor not in arrays:
            raise UsageError(
                f"{path}: layer '{layer.name}' takes its weight from a computed tensor '{tensor}'"
            )
        array = onnx.numpy_helper.to_array(arrays[tensor]).astype(np.float32)
        weights[layer.name] = np.ascontiguousarray(array.T if transpose else array).reshape(
            layer.weight_shape
        )
    return workload, weights


def _walk(
    graph: Any,
    shapes: dict[str, tuple[int, ...]],
    initializers: dict[str, tuple[int, ...]],
    input_shape: tuple[int, ...],
    name: str,
    source: str,
    sources: dict[str, tuple[str, bool]],
) -> Workload:
    layers: list[Layer] = []
    ops: list[AuxOp] = []
    producer: dict[str, str] = {i.name: "input" for i in graph.input if i.name not in initializers}
    used: set[str] = set()
    after = ""

    def shape_of(tensor: str) -> tuple[int, ...]:
        if tensor not in shapes:
            raise DlaError(f"{source}: no inferred shape for tensor '{tensor}' (run onnx shape inference?)")
        return shapes[tensor]

    def activations(node: Any) -> list[str]:
        return [t for t in node.input if t and t not in initializers]

    for node in graph.node:
        kind = node.op_type
        attrs = _attributes(node)
        if kind == "Conv":
            x, w = node.input[0], node.input[1]
            n, c, h, wd = _as_nchw(shape_of(x))
            _, k, p, q = _as_nchw(shape_of(node.output[0]))
            k_out, _, r, s = initializers.get(w) or shape_of(w)
            groups = int(attrs.get("group", 1))
            pads = attrs.get("pads", [0, 0, 0, 0])
            strides = attrs.get("strides", [1, 1])
            layer_kind = "conv" if groups == 1 else ("depthwise" if groups == c == k else "grouped")
            label = _layer_name(node, w, used)
            layers.append(
                Layer(label, layer_kind, n, c, k, r, s, h, wd, p, q, int(strides[0]), int(pads[0]), groups)
            )
            sources[label] = (w, False)
        elif kind in ("Gemm", "MatMul") and any(t in initializers for t in node.input[:2]):
            a, b = node.input[0], node.input[1]
            weight = b if b in initializers else a
            w_shape = initializers[weight]
            trans = bool(attrs.get("transB", 0)) if kind == "Gemm" else False
            c_in, k_out = (w_shape[1], w_shape[0]) if trans else (w_shape[0], w_shape[1])
            x_shape = shape_of(a if weight == b else b)
            rows = math.prod(max(int(d), 1) for d in x_shape[:-1]) if len(x_shape) > 1 else 1
            label = _layer_name(node, weight, used)
            layers.append(Layer(label, "linear", rows, c_in, k_out, 1, 1, 1, 1, 1, 1))
            sources[label] = (weight, not trans)  # stored (C, K) unless Gemm's transB
        elif kind in PASSIVE_OPS or (kind in ELTWISE_OPS and len(activations(node)) < 2):
            # no work of its own (a bias Add or a scale Mul with a constant folds into the layer)
            source_tensor = next(iter(activations(node)), None)
            for out in node.output:
                producer[out] = producer.get(source_tensor, "input") if source_tensor else "input"
            continue
        else:
            ops.append(_aux(node, attrs, shape_of, activations(node), initializers, producer, used, after))
            label = ops[-1].name
        for out in node.output:
            producer[out] = label
        if layers and kind in ("Conv", "Gemm", "MatMul") and layers[-1].name == label:
            after = label
    if not layers:
        raise UsageError(f"{source}: no Conv, Gemm or MatMul-with-weights nodes to analyse")
    workload = Workload(name, tuple(input_shape), tuple(layers), tuple(ops))
    warn_uncovered(workload)
    return workload


def _aux(
    node: Any,
    attrs: dict[str, Any],
    shape_of: Any,
    inputs: list[str],
    initializers: dict[str, tuple[int, ...]],
    producer: dict[str, str],
    used: set[str],
    after: str,
) -> AuxOp:
    kind = node.op_type
    out_shape = _as_nchw(shape_of(node.output[0]))
    in_shapes = [_as_nchw(shape_of(t)) for t in inputs] or [out_shape]
    n, k, p, q = out_shape
    _, c, h, w = in_shapes[0]
    label = _layer_name(node, None, used) if node.name else f"{kind.lower()}_{len(used)}"
    names = tuple(producer.get(t, "input") for t in inputs)
    common: dict[str, Any] = {"N": n, "C": c, "K": k, "H": h, "W": w, "P": p, "Q": q, "inputs": names}
    if kind in POOL_OPS:
        kernel = attrs.get("kernel_shape", [h, w])
        strides = attrs.get("strides", [1, 1])
        return AuxOp(
            label,
            "pool",
            POOL_OPS[kind],
            **common,
            R=int(kernel[0]),
            S=int(kernel[1]),
            stride=int(strides[0]),
            after=after,
        )
    if kind in ELTWISE_OPS:
        return AuxOp(label, "eltwise", ELTWISE_OPS[kind], **common, after=after)
    if kind == "Concat":
        common["C"] = sum(s[1] for s in in_shapes)
        return AuxOp(label, "concat", "concat", **common, after=after)
    if kind in ACTIVATION_OPS:
        return AuxOp(label, "activation", ACTIVATION_OPS[kind], **common, after=after)
    params = sum(int(np.prod(initializers[t])) for t in node.input if t in initializers)
    macs = 0
    if kind in ("MatMul", "Gemm") and len(inputs) == 2:
        a, b = shape_of(inputs[0]), shape_of(inputs[1])
        macs = math.prod(max(int(d), 1) for d in a) * int(b[-1])  # (..., M, K) @ (..., K, N)
    elif kind == "Einsum":
        macs = 0  # arithmetic not derived here; its share is reported as unknown
    return AuxOp(label, "other", kind, **common, after=after, macs=macs, params=params)
