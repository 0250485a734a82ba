"""Packed workloads on disk (`dla-explorer pack --out`), so `simulate` runs them without packing
again.

The file is an .npz: a JSON manifest (format, version, the packing's options, the workload's
layers and ops, the activation densities, every PackedLayer's scalar fields) and the per-pass
arrays of each layer. A SHA-256 over the manifest and arrays detects a damaged file. Written
atomically, like every other file of the package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dla_explorer.core.errors import DlaError, check_type
from dla_explorer.core.fileio import as_path
from dla_explorer.core.npzfile import load_npz, npz_format, save_npz
from dla_explorer.packing.packed import PackedLayer, PackedWorkload
from dla_explorer.sparsity import checkpoint
from dla_explorer.workload import AuxOp, Layer, Workload

FORMAT = "dla-explorer.packed-workload"
FORMAT_VERSION = 1
#: PackedLayer fields stored as arrays (one entry per pass; labels one per column, or absent)
__all__ = ["ARRAY_FIELDS", "FORMAT", "FORMAT_VERSION", "load", "npz_format", "save"]
ARRAY_FIELDS = ("rows", "channels", "columns", "nonzero_columns", "packed_columns", "labels")
_SCALAR_FIELDS = tuple(
    f.name for f in dataclasses.fields(PackedLayer) if f.name not in ARRAY_FIELDS and f.name != "layer"
)


def _digest(manifest: dict, arrays: dict[str, np.ndarray]) -> str:
    sha = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for name in sorted(arrays):
        sha.update(name.encode())
        sha.update(np.ascontiguousarray(arrays[name]).tobytes())
    return sha.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python numbers, tuples to lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def save(packed: PackedWorkload, path: str | os.PathLike) -> Path:
    """Write a packed workload to `path` (.npz) atomically.

    Args:
        packed: what `pack` returned.
        path: the file to write; its folder is created when missing.

    Returns:
        The path written.

    Raises:
        UsageError: `packed` is not a PackedWorkload (a SparseModel goes to checkpoint.save).
    """
    check_type(
        packed, PackedWorkload, "packed", "packing.pack(...) makes one; a SparseModel goes to checkpoint.save"
    )
    arrays: dict[str, Any] = {}
    layers = []
    for index, layer in enumerate(packed.layers):
        layers.append({name: _plain(getattr(layer, name)) for name in _SCALAR_FIELDS})
        for name in ARRAY_FIELDS:
            value = getattr(layer, name)
            if value is not None:
                arrays[f"{name}{index}"] = np.asarray(value)
    workload = packed.workload
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": packed.model,
        "content_hash": packed.content_hash,
        "mode": packed.mode,
        "k_vec": packed.k_vec,
        "alpha": packed.alpha,
        "gamma": packed.gamma,
        "algorithm": packed.algorithm,
        "act_density": packed.act_density,
        "workload": {
            "name": workload.name,
            "input_shape": list(workload.input_shape),
            "layers": [dataclasses.asdict(layer) for layer in workload.layers],
            "ops": [_plain(dataclasses.asdict(op)) for op in workload.ops],
        },
        "packed_layers": layers,
    }
    manifest["sha256"] = _digest(manifest, arrays)
    return save_npz(path, manifest, arrays)


def load(path: str | os.PathLike) -> PackedWorkload:
    """Read a packed workload written by `save`.

    Args:
        path: the .npz file.

    Returns:
        The PackedWorkload, equal field by field to the one saved.

    Raises:
        DlaError: the file is missing, is not a packed workload (a checkpoint, say), was written
            by a newer dla-explorer, or is corrupt or truncated.
    """
    if as_path(path, "the packed file").is_file() and npz_format(path) == checkpoint.FORMAT:
        raise DlaError(f"{path}: a pruned checkpoint, not a packed workload: give it to 'pack' first")
    manifest, arrays = load_npz(path, FORMAT, FORMAT_VERSION, "packed workload")
    stored = manifest.pop("sha256", None)
    if stored != _digest(manifest, arrays):
        raise DlaError(f"{path}: checksum mismatch (the file is corrupt)")
    return _build(manifest, arrays)


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def _build(manifest: dict, arrays: dict[str, np.ndarray]) -> PackedWorkload:
    spec = manifest["workload"]
    workload = Workload(
        spec["name"],
        tuple(spec["input_shape"]),
        tuple(Layer(**fields) for fields in spec["layers"]),
        tuple(AuxOp(**_tuples(fields)) for fields in spec["ops"]),
    )
    layers = []
    for index, (layer, fields) in enumerate(zip(workload.layers, manifest["packed_layers"], strict=True)):
        values: dict[str, Any] = {name: arrays.get(f"{name}{index}") for name in ARRAY_FIELDS}
        layers.append(PackedLayer(layer=layer, **_tuples(fields), **values))
    return PackedWorkload(
        model=manifest["model"],
        content_hash=manifest["content_hash"],
        mode=manifest["mode"],
        k_vec=manifest["k_vec"],
        alpha=manifest["alpha"],
        gamma=manifest["gamma"],
        algorithm=manifest["algorithm"],
        layers=tuple(layers),
        act_density=manifest["act_density"],
        workload=workload,
    )
