"""The whole graph as per-layer arrays: auxiliary work fused after each compute layer, and the
shortcut tensors that stay live across layers (docs/model.md#auxiliary-blocks,
docs/model.md#stream-buffer).

The simulator's unit is the compute layer. A weightless node (`Workload.ops`: pooling, element-wise
adds, activations, concat) runs on the DLA's auxiliary blocks behind the crossbar, pipelined with
the compute layer it follows (`AuxOp.after`), so it is charged to that layer. A tensor consumed by
a node more than one layer after it was produced (a residual shortcut, a concat branch) stays in
the stream buffer for the layers in between.

`zoo_ops` adds the weightless nodes of the zoo's ResNet-50 and MobileNets to a workload whose
extraction did not record them (the max pool after conv1, the residual adds, the global average
pool). Sizes are per image.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from dla_explorer.workload.layers import AuxOp, Layer, Workload

INPUT = "input"  # the name of the network input in `AuxOp.inputs`


@dataclass(frozen=True, eq=False)
class GraphArrays:
    """Per compute layer (L) and per shortcut tensor (T), everything the simulator needs from the
    weightless nodes. Element counts are per image."""

    pool_in: np.ndarray  # (L,) elements the pool block reads
    eltwise_out: np.ndarray  # (L,) elements the element-wise block computes (its cycles)
    # (L,) operand elements it reads from the stream buffer: the second operands (the shortcut) of
    # an add fused on the output path, every operand of one that is not
    eltwise_reads: np.ndarray
    activation: np.ndarray  # (L,) elements the activation block passes
    out_written: np.ndarray  # (L,) elements the output path writes (after its fused aux chain)
    # (L,) elements pool / element-wise / activation nodes off every output path write to the
    # stream buffer (a fused node's output is in `out_written` or never leaves the chain)
    aux_written: np.ndarray
    host_macs: np.ndarray  # (L,) MACs of "other" nodes (not run on the DLA; reported)
    tensor_size: np.ndarray  # (T,) elements of each shortcut tensor
    tensor_first: np.ndarray  # (T,) first layer during which it is resident beside the layer's maps
    tensor_last: np.ndarray  # (T,) the layer its consumer follows (the last layer it is resident)
    live: np.ndarray  # (T x L) bool: tensor t is resident during layer l

    @property
    def resident(self) -> np.ndarray:
        """(L,) shortcut elements resident during each layer, when none spills
        (docs/model.md#stream-buffer, "Liveness")."""
        return self.tensor_size @ self.live


def graph_arrays(workload: Workload) -> GraphArrays:
    """The per-layer aux work and the shortcut tensors of `workload` (docs/model.md#auxiliary-blocks,
    docs/model.md#stream-buffer; see the module docstring).

    A node's position is the index of the compute layer it follows (-1 before the first); a
    tensor produced at position p and consumed at position c > p + 1 is resident beside the
    maps of layers p + 2 .. c (layer p + 1 reads it as its input, counted with that layer's maps).

    The tensor a layer's output path writes (to the stream buffer or DRAM) is the output of the
    chain of pool / activation / element-wise nodes that run after it and consume its output in
    turn (AIS IP Reference Manual 768974, "Parameter Group: xbar": the xbar_out_port feeding the
    input feeder and the output writer takes the PE array's or the last auxiliary module's
    output): a pooled layer writes the pooled map. Concat and "other" nodes end the chain (a
    concat is assembled in place from its producers' writes; "other" nodes run off the DLA).
    A pool / element-wise / activation node that does not consume the chain's tail (an add of two
    tensors already in the stream buffer, a node before the first layer) is not on an output
    path: it reads all its operands from the stream buffer and writes its own output there
    (`aux_written`); a fused add reads only its other operands (the shortcut).

    Args:
        workload: the compute layers and the weightless nodes (`ops`) of a network.

    Returns:
        GraphArrays: per compute layer the aux-block work and the written tensor (elements per
        image) and per shortcut tensor its size (elements per image) and the layers it is
        resident during.
    """
    layers = workload.layers
    n = len(layers)
    index = {layer.name: i for i, layer in enumerate(layers)}
    position: dict[str, int] = {INPUT: -1, **index}
    size: dict[str, float] = {INPUT: float(np.prod(workload.input_shape[1:]))}
    size.update({layer.name: layer.ofmap / layer.N for layer in layers})
    arrays = {
        k: np.zeros(n)
        for k in ("pool_in", "eltwise_out", "eltwise_reads", "activation", "aux_written", "host_macs")
    }
    written = np.array([layer.ofmap / layer.N for layer in layers], dtype=np.float64)
    tail = [layer.name for layer in layers]  # the last tensor of each layer's output path
    tensors: list[tuple[float, int, int]] = []
    for op in workload.ops:
        at = index.get(op.after, 0) if op.after else 0  # nodes before the first layer run with it
        position[op.name] = at if op.after else -1
        size[op.name] = op.ofmap / op.N
        per_image_in, per_image_out = op.ifmap / op.N, op.ofmap / op.N
        fused = op.after in index and tail[at] in op.inputs
        if op.kind in ("pool", "eltwise", "activation"):
            if fused:
                tail[at], written[at] = op.name, per_image_out
            else:
                arrays["aux_written"][at] += per_image_out
        if op.kind == "pool":
            arrays["pool_in"][at] += per_image_in
        elif op.kind == "eltwise":
            arrays["eltwise_out"][at] += per_image_out
            arrays["eltwise_reads"][at] += per_image_out * max(len(op.inputs) - fused, 0)
        elif op.kind == "activation":
            arrays["activation"][at] += per_image_out
        elif op.kind == "other":
            arrays["host_macs"][at] += op.macs / op.N
        # concat costs no cycles: producers write their outputs into place (crossbar addressing)
        consumer = position[op.name]
        for name in op.inputs:
            produced = position.get(name, -1)
            if consumer > produced + 1:
                tensors.append((size.get(name, 0.0), produced + 2, consumer))
    t_size = np.array([t[0] for t in tensors], dtype=np.float64)
    first = np.array([t[1] for t in tensors], dtype=np.int64)
    last = np.array([t[2] for t in tensors], dtype=np.int64)
    cols = np.arange(n)
    live = (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])
    return GraphArrays(
        **arrays, out_written=written, tensor_size=t_size, tensor_first=first, tensor_last=last, live=live
    )


# -- the zoo's weightless nodes (until extraction records them) ----------------------------------


def _op(
    name: str, kind: str, op: str, src: Layer | AuxOp, inputs: tuple[str, ...], after: str, **shape
) -> AuxOp:
    """A node whose output has the producer's shape unless `shape` says otherwise."""
    out = dict(N=src.N, C=src.K, K=src.K, H=src.P, W=src.Q, P=src.P, Q=src.Q)
    out.update(shape)
    return AuxOp(name=name, kind=kind, op=op, inputs=inputs, after=after, **out)


def _global_pool(workload: Workload, ops: list[AuxOp]) -> None:
    """The global average pool between the last convolution and the classifier."""
    convs = [la for la in workload.layers if la.kind != "linear"]
    linears = [la for la in workload.layers if la.kind == "linear"]
    if convs and linears:
        last = convs[-1]
        ops.append(
            _op("avgpool", "pool", "avgpool", last, (last.name,), last.name, P=1, Q=1, R=last.P, S=last.Q)
        )


def zoo_ops(workload: Workload) -> Workload:
    """`workload` with the weightless nodes of the zoo's ResNet-50 / MobileNet v1 / v2 (by layer
    names); a workload that already has ops, or another network, is returned unchanged.

    ResNet (bottleneck or basic blocks): the 3x3/2 max pool after conv1, one residual add per block
    (after its last main-path conv, or after the downsample conv that follows it), the global
    average pool. MobileNet v2: a residual add after each inverted-residual block whose input and
    output shapes match. MobileNet v1 and v2: the global average pool. ReLUs are fused into the
    crossbar drain and not listed.

    Args:
        workload: a workload extracted from a zoo model (its layer names decide the network).

    Returns:
        A copy with `ops` set, or `workload` itself (it has ops already, or is not one of these
        networks).

    """
    if workload.ops:
        return workload
    names = [la.name for la in workload.layers]
    ops: list[AuxOp] = []
    if "conv1" in names and any(n.startswith("layer1.") for n in names):
        conv1 = workload["conv1"]
        ops.append(
            _op(
                "maxpool",
                "pool",
                "maxpool",
                conv1,
                ("conv1",),
                "conv1",
                P=(conv1.P + 1) // 2,
                Q=(conv1.Q + 1) // 2,
                R=3,
                S=3,
                stride=2,
            )
        )
        blocks: dict[str, list[Layer]] = {}
        for la in workload.layers:
            m = re.match(r"(layer\d+\.\d+)\.", la.name)
            if m:
                blocks.setdefault(m.group(1), []).append(la)
        previous = "maxpool"
        for block, members in blocks.items():
            # the block's last main-path conv: conv3 of a bottleneck, conv2 of a basic block
            main = [la for la in members if "downsample" not in la.name]
            down = [la for la in members if "downsample" in la.name]
            shortcut = down[0].name if down else previous
            out = main[-1]
            ops.append(_op(f"{block}.add", "eltwise", "add", out, (out.name, shortcut), members[-1].name))
            previous = f"{block}.add"
    elif any(re.match(r"features\.\d+\.conv\.", n) for n in names):
        blocks = {}
        for la in workload.layers:
            m = re.match(r"(features\.\d+)\.conv\.", la.name)
            if m:
                blocks.setdefault(m.group(1), []).append(la)
        previous = ""
        for la in workload.layers:
            if not la.name.startswith("features.") or ".conv." in la.name:
                continue
            previous = la.name  # the stem before the first block
            break
        for block, members in blocks.items():
            first, last = members[0], members[-1]
            if first.C == last.K and first.H == last.P and first.W == last.Q and previous:
                ops.append(_op(f"{block}.add", "eltwise", "add", last, (last.name, previous), last.name))
                previous = f"{block}.add"
            else:
                previous = last.name
    elif not any(n.startswith("features.") for n in names):
        return workload
    _global_pool(workload, ops)
    return dataclasses.replace(workload, ops=tuple(ops))
