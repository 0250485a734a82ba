"""SparseModel files: one uncompressed .npz holding a JSON manifest and, per layer, the packed mask
bits and the non-zero values (so a 90%-sparse ResNet-50 takes ~13 MB instead of 100 MB).

The manifest carries a format version and a SHA-256 of the weights and masks; loading checks both,
so a truncated, corrupt or too-new file is refused with one line instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dla_explorer.core.errors import DlaError, check_type
from dla_explorer.core.fileio import MAX_INT, as_path, atomic_open
from dla_explorer.core.npzfile import check_format_version
from dla_explorer.sparsity.pruning import Recipe, SparseModel
from dla_explorer.workload import AuxOp, Layer, Workload

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "load",
    "recipe_key",
    "save",
    "source_key",
]

FORMAT = "dla-explorer.sparse-model"
FORMAT_VERSION = 1


def _digest_file(path: Path, digest: Any) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def _source_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, sorted); "" if missing.

    Args:
        path: a file or a folder (read recursively).

    Returns:
        The hex SHA-256, or "" when `path` does not exist.

    Raises:
        OSError: a file under `path` cannot be read (permissions).
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        _digest_file(path, digest)
    elif path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode() + b"\0")
            _digest_file(child, digest)
    else:
        return ""
    return digest.hexdigest()


def recipe_key(recipe: Recipe) -> str:
    """What decides a pruned model, as a digest: the recipe (not its output path) and the
    content of every file it names: a factory 'file.py:fn' and calibration data. A cache keyed on
    it never serves a model made from an edited factory file (it used to key on the path).

    Args:
        recipe: the pruning recipe; its `output` path does not count.

    Returns:
        A 20-hex-digit digest (the key of the model cache, $DLA_EXPLORER_CACHE/models).

    Raises:
        OSError: a file the recipe names exists but cannot be read.
    """
    data = recipe.model_dump(mode="json", exclude={"output"})
    files = {}
    if ":" in recipe.model and recipe.model.split(":")[0].endswith(".py"):
        files["model"] = _source_digest(recipe.model.rsplit(":", 1)[0])
    if recipe.calibration != "synthetic":
        files["calibration"] = _source_digest(recipe.calibration)
    text = json.dumps({"recipe": data, "files": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def source_key(path: str | os.PathLike) -> str | None:
    """The recipe key a checkpoint was saved with (None: unknown, or not a readable checkpoint).

    Args:
        path: a checkpoint file (.npz).

    Returns:
        The recipe_key stored by `save`, or None (no key recorded, or the file is missing or
        unreadable: never an error, the caller then prunes again).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(archive["manifest"].tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    key = manifest.get("source_key") if isinstance(manifest, dict) else None
    return key if isinstance(key, str) else None


def save(sparse: SparseModel, path: str | os.PathLike, source_key: str | None = None) -> Path:
    """Write `sparse` to `path` atomically (temp file + rename). Returns the path. `source_key`
    (recipe_key of the recipe that made it) lets later runs reuse the file only for that recipe.

    Args:
        sparse: the pruned model to write.
        path: the .npz file to write; its folder is created when missing.
        source_key: recipe_key of the recipe that made `sparse`, or None.

    Returns:
        `path`, as a Path.

    Raises:
        DlaError: `path` is a folder, or the file cannot be written (read-only folder, full disk);
            an existing file at `path` is left unchanged.
        UsageError: `sparse` is not a SparseModel (a PackedWorkload goes to packing.save_packed).
    """
    check_type(
        sparse,
        SparseModel,
        "sparse",
        "pruning.prune(...) makes one; a PackedWorkload goes to packing.save_packed",
    )
    path = as_path(path, "the checkpoint")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": sparse.model,
        "input_shape": list(sparse.workload.input_shape),
        "workload_name": sparse.workload.name,
        "layers": [dataclasses.asdict(layer) for layer in sparse.workload],
        "ops": [dataclasses.asdict(op) for op in sparse.workload.ops],
        "act_density": sparse.act_density,
        "recipe": sparse.recipe,
        "sha256": sparse.content_hash(),
        "source_key": source_key,
    }
    arrays = {"manifest": np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}
    for index, layer in enumerate(sparse.workload):
        mask = sparse.masks[layer.name]
        arrays[f"mask{index}"] = np.packbits(mask.ravel())
        arrays[f"values{index}"] = sparse.weights[layer.name][mask].astype(np.float32)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub takes the kwargs as bools
    return path


def load(path: str | os.PathLike) -> SparseModel:
    """Read a file written by `save`; a missing, corrupt, truncated or newer file is a DlaError.

    Args:
        path: a checkpoint written by `save`.

    Returns:
        The SparseModel, its weights and masks checked against the stored SHA-256.

    Raises:
        DlaError: the file is missing, not a dla-explorer sparse-model file, written in a newer
            format version, corrupt or truncated (bad archive, manifest or arrays), or its checksum
            does not match.
    """
    path = as_path(path, "the checkpoint")
    if path.is_dir():
        raise DlaError(f"{path}: a folder, not a checkpoint (.npz file)")
    if not path.is_file():
        raise DlaError(f"{path}: checkpoint not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(archive["manifest"].tobytes().decode())
            _check_manifest(path, manifest)
            return _build(path, manifest, archive)
    except DlaError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError, TypeError, AttributeError) as exc:
        raise DlaError(
            f"{path}: not a readable dla-explorer checkpoint (corrupt or truncated: {type(exc).__name__})"
        ) from None


def _check_manifest(path: Path, manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        other = manifest.get("format") if isinstance(manifest, dict) else None
        # e.g. a packed workload of 'pack --out' given to inspect: say what the file is
        what = f" (it is a {other} file)" if isinstance(other, str) else ""
        raise DlaError(f"{path}: not a dla-explorer sparse-model file{what}")
    check_format_version(path, manifest.get("format_version"), FORMAT_VERSION)


_LAYER_INTS = ("N", "C", "K", "R", "S", "H", "W", "P", "Q", "stride", "padding", "groups")


def _layers(path: Path, manifest: dict) -> tuple[Layer, ...]:
    """The manifest's layer table, checked field by field before anything is allocated."""
    rows = manifest.get("layers")
    if not isinstance(rows, list) or not rows:
        raise DlaError(f"{path}: manifest 'layers' is not a list of layers (corrupt file)")
    layers = []
    for index, fields in enumerate(rows):
        if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
            raise DlaError(f"{path}: manifest layer {index} is not a named layer record (corrupt file)")
        bad = [k for k in _LAYER_INTS if k in fields and (type(fields[k]) is not int or fields[k] > MAX_INT)]
        if bad:
            raise DlaError(
                f"{path}: manifest layer '{fields['name']}': {bad[0]} = {fields[bad[0]]!r} "
                f"is not a whole number up to 2**53 (corrupt file)"
            )
        try:
            layers.append(Layer(**fields))
        except TypeError as exc:
            raise DlaError(f"{path}: manifest layer '{fields['name']}': {exc} (corrupt file)") from None
    return tuple(layers)


def _build(path: Path, manifest: dict, archive: Any) -> SparseModel:
    layers = _layers(path, manifest)
    # files written before ops existed have none: an empty tuple, as for a model without them
    try:
        ops = tuple(
            AuxOp(**{**fields, "inputs": tuple(fields["inputs"])}) for fields in manifest.get("ops", [])
        )
    except (TypeError, KeyError) as exc:
        raise DlaError(f"{path}: manifest ops: {exc} (corrupt file)") from None
    workload = Workload(manifest["workload_name"], tuple(manifest["input_shape"]), layers, ops)
    weights, masks = {}, {}
    names = set(archive.files)
    expected = {"manifest"} | {f"{kind}{i}" for i in range(len(layers)) for kind in ("mask", "values")}
    if names != expected:
        extra = sorted(names - expected) or sorted(expected - names)
        raise DlaError(f"{path}: arrays do not match the manifest's {len(layers)} layers ({extra[0]})")
    for index, layer in enumerate(layers):
        shape = layer.weight_shape
        size = int(np.prod(shape, dtype=object))
        packed = archive[f"mask{index}"]
        if packed.size != (size + 7) // 8:  # checked before a huge K allocates anything
            raise DlaError(
                f"{path}: layer '{layer.name}': {packed.size} mask bytes for weights {list(shape)} (corrupt)"
            )
        mask = np.unpackbits(packed, count=size).astype(bool).reshape(shape)
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
