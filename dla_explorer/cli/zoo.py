"""`dla-explorer models` and `dla-explorer workload`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dla_explorer.cli._common import add_parser, input_shape, print_table, si, write_csv
from dla_explorer.workload import zoo

if TYPE_CHECKING:
    from dla_explorer.workload import Workload


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_parser(
        subparsers,
        "models",
        help="list the model zoo",
        description="List the networks built into dla-explorer.",
    )
    p.set_defaults(handler=run_models)

    p = add_parser(
        subparsers,
        "workload",
        help="print the layer table of a network",
        description="Trace a network and print its compute layers (conv, depthwise/grouped conv, "
        "linear) with shapes, MACs and sizes.\n\nMODEL is a zoo name (see "
        "'dla-explorer models'), 'path/to/file.py:factory' (a function returning your "
        "nn.Module) or a SCALE-Sim topology .csv file.",
        epilog="examples:\n  dla-explorer workload resnet50 --csv resnet50.csv\n"
        "  dla-explorer workload mynet.py:build --input-shape 1,3,32,32\n"
        "  dla-explorer workload resnet50 --scalesim topology.csv",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "--input-shape",
        type=input_shape,
        metavar="N,C,H,W",
        help="input tensor shape (default: the zoo model's own, see 'dla-explorer models'; "
        "1,3,224,224 for the others)",
    )
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.add_argument("--scalesim", metavar="PATH", help="also write a SCALE-Sim topology CSV")
    p.set_defaults(handler=run_workload)


def run_models(args: argparse.Namespace) -> int:
    for name in zoo.names():
        print(f"{name:14s} {zoo.describe(name)}")
    return 0


def load_workload(model: str, shape: tuple[int, ...] | None = None) -> Workload:
    """A zoo name, 'file.py:factory', an ONNX file or a SCALE-Sim topology CSV as a Workload;
    `shape` None is the model's own input shape (the zoo's, the ONNX graph's)."""
    from dla_explorer.workload import extract, read_scalesim_csv

    if model.endswith(".csv"):
        return read_scalesim_csv(model)
    if model.endswith(".onnx"):
        from dla_explorer.workload.onnx_import import read_onnx

        return read_onnx(model, shape)
    from dla_explorer.sparsity.pruning import default_input_shape, resolve_model

    module, name = resolve_model(model)
    return extract(module, shape or default_input_shape(model), name=name)


def print_workload_summary(workload: Workload) -> None:
    kinds = workload.to_frame()["kind"].value_counts().to_dict()
    print(
        f"{workload.name}: {len(workload)} compute layers "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), input {list(workload.input_shape)}"
    )
    print(f"  {si(workload.macs, 'MAC')}s, {si(workload.weights)} weights")


def run_workload(args: argparse.Namespace) -> int:
    from dla_explorer.workload import to_scalesim_csv

    workload = load_workload(args.model, args.input_shape)
    frame = workload.to_frame()
    print_table(frame)
    print_workload_summary(workload)
    if args.csv:
        write_csv(frame, args.csv)
    if args.scalesim:
        to_scalesim_csv(workload, args.scalesim)
        print(f"wrote {args.scalesim}")
    return 0
