"""On-disk cache of column groupings, one small .npz per (model, layer, packing parameters).

The key is a digest of the sparse model's content hash, the layer, k_vec, alpha, gamma, the
algorithm and CODE_VERSION (bump it whenever an algorithm's output changes). Entries are written
atomically; an unreadable or inconsistent entry is treated as a miss and rewritten, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from dla_explorer.core.errors import UsageError
from dla_explorer.core.fileio import atomic_open

CODE_VERSION = 1
ENV_VAR = "DLA_EXPLORER_CACHE"
SUBFOLDER = "packing"
_KEY_PREFIX_CHARS = 2  # fan entries out over 256 sub-folders


def default_cache_dir() -> Path:
    """$DLA_EXPLORER_CACHE if set, else ~/.cache/dla-explorer."""
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "dla-explorer"


def resolve(cache: str | os.PathLike | bool | None) -> Path | None:
    """True: the default folder; None or False: no cache; a path: that folder."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache_dir()
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise UsageError(f"cache={cache!r}: give a folder, True (default folder) or None (no cache)")


def entry_key(content_hash: str, layer: str, k_vec: int, alpha: int, gamma: float, algorithm: str) -> str:
    fields = {
        "model": content_hash,
        "layer": layer,
        "k_vec": k_vec,
        "alpha": alpha,
        "gamma": float(gamma),
        "algorithm": algorithm,
        "version": CODE_VERSION,
    }
    return json.dumps(fields, sort_keys=True)


def _path(folder: str | os.PathLike, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Path(folder) / SUBFOLDER / digest[:_KEY_PREFIX_CHARS] / f"{digest}.npz"


def load(folder: str | os.PathLike, key: str, columns: int) -> np.ndarray | None:
    """The cached labels for `key`, or None if absent, unreadable or not `columns` long."""
    path = _path(folder, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            stored_key = archive["key"].tobytes().decode()
            labels = archive["labels"].astype(np.int64)
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile):
        return None
    if stored_key != key or labels.shape != (columns,):
        return None
    return labels


def store(folder: str | os.PathLike, key: str, labels: np.ndarray) -> None:
    with atomic_open(_path(folder, key), "wb") as handle:
        np.savez(handle, key=np.frombuffer(key.encode(), dtype=np.uint8), labels=labels.astype(np.int32))
