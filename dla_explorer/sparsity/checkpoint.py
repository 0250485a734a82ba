"""SparseModel files: one uncompressed .npz holding a JSON manifest and, per layer, the packed mask
bits and the non-zero values (so a 90%-sparse ResNet-50 takes ~13 MB instead of 100 MB).

The manifest carries a format version and a SHA-256 of the weights and masks; loading checks both,
so a truncated, corrupt or too-new file is refused with one line instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import atomic_open
from dla_explorer.sparsity.pruning import SparseModel
from dla_explorer.workload import Layer, Workload

FORMAT = "dla-explorer.sparse-model"
FORMAT_VERSION = 1


def save(sparse: SparseModel, path: str | os.PathLike) -> Path:
    """Write `sparse` to `path` atomically (temp file + rename). Returns the path."""
    path = Path(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": sparse.model,
        "input_shape": list(sparse.workload.input_shape),
        "workload_name": sparse.workload.name,
        "layers": [dataclasses.asdict(layer) for layer in sparse.workload],
        "act_density": sparse.act_density,
        "recipe": sparse.recipe,
        "sha256": sparse.content_hash(),
    }
    arrays = {"manifest": np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}
    for index, layer in enumerate(sparse.workload):
        mask = sparse.masks[layer.name]
        arrays[f"mask{index}"] = np.packbits(mask.ravel())
        arrays[f"values{index}"] = sparse.weights[layer.name][mask].astype(np.float32)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load(path: str | os.PathLike) -> SparseModel:
    """Read a file written by `save`; a missing, corrupt, truncated or newer file is a DlaError."""
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: checkpoint not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(archive["manifest"].tobytes().decode())
            _check_manifest(path, manifest)
            return _build(path, manifest, archive)
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError) as exc:
        raise DlaError(
            f"{path}: not a readable dla-explorer checkpoint (corrupt or truncated: {type(exc).__name__})"
        ) from None


def _check_manifest(path: Path, manifest: dict) -> None:
    if manifest.get("format") != FORMAT:
        raise DlaError(f"{path}: not a dla-explorer sparse-model file")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DlaError(
            f"{path}: written in format version {version}; this dla-explorer reads "
            f"versions up to {FORMAT_VERSION}: upgrade dla-explorer"
        )


def _build(path: Path, manifest: dict, archive) -> SparseModel:
    layers = tuple(Layer(**fields) for fields in manifest["layers"])
    workload = Workload(manifest["workload_name"], tuple(manifest["input_shape"]), layers)
    weights, masks = {}, {}
    for index, layer in enumerate(layers):
        shape = layer.weight_shape
        size = int(np.prod(shape))
        mask = np.unpackbits(archive[f"mask{index}"], count=size).astype(bool).reshape(shape)
        values = archive[f"values{index}"]
        if values.size != int(mask.sum()):
            raise DlaError(
                f"{path}: layer '{layer.name}' holds {values.size} values for "
                f"{int(mask.sum())} mask bits (corrupt file)"
            )
        weight = np.zeros(shape, dtype=np.float32)
        weight[mask] = values
        weights[layer.name], masks[layer.name] = weight, mask
    sparse = SparseModel(
        manifest["model"], workload, weights, masks, manifest["act_density"], manifest["recipe"]
    )
    if sparse.content_hash() != manifest["sha256"]:
        raise DlaError(f"{path}: checksum mismatch (the file is corrupt)")
    return sparse
