"""Versioned .npz files: a JSON manifest (format name, version, metadata) beside numpy arrays.

Checkpoints and packed workloads are both stored this way; reading one checks the format name and
version and turns every way a file can be damaged into one DlaError naming the file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import atomic_open

MANIFEST = "manifest"
# what np.load and json raise on a truncated, corrupt or foreign file
READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError, UnicodeDecodeError)


def save_npz(path: str | os.PathLike, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write `arrays` and the JSON `manifest` to `path` atomically (compressed).

    Args:
        path: the file to write; its folder is created when missing.
        manifest: JSON-serialisable metadata; it should name a "format" and a "format_version".
        arrays: the numpy arrays, by name (not "manifest").

    Returns:
        The path written.
    """
    path = Path(path)
    payload: dict[str, Any] = dict(arrays)
    payload[MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **payload)
    return path


def npz_format(path: str | os.PathLike) -> str | None:
    """The format name an .npz file's manifest declares, or None when it has no readable one."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(archive[MANIFEST].tobytes().decode())
    except READ_ERRORS:
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def load_npz(
    path: str | os.PathLike, fmt: str, version: int, what: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by `save_npz` and check its format and version.

    Args:
        path: the .npz file.
        fmt: the format name the manifest must declare.
        version: the newest format version this code reads.
        what: what the file is, for messages ("packed workload").

    Returns:
        The manifest and the arrays.

    Raises:
        DlaError: the file is missing, declares another format, a newer version, or is corrupt
            or truncated (one line naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: {what} not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(archive[MANIFEST].tobytes().decode())
            arrays = {name: archive[name] for name in archive.files if name != MANIFEST}
    except READ_ERRORS as exc:
        raise DlaError(
            f"{path}: not a readable {what} (corrupt or truncated: {type(exc).__name__})"
        ) from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found != fmt:
        raise DlaError(f"{path}: not a {what} (its format is {found or 'unknown'})")
    check_format_version(path, manifest.get("format_version"), version)
    return manifest, arrays


def check_format_version(path: str | os.PathLike, stored: object, version: int) -> None:
    """Refuse a manifest's `stored` format version unless it is a whole number up to `version`.

    Args:
        path: the file, for the message.
        stored: the manifest's "format_version" (None when it has none).
        version: the newest format version this code reads.

    Raises:
        DlaError: one line naming the file, its version and the newest one this code reads.
    """
    if not isinstance(stored, int) or stored > version:
        raise DlaError(
            f"{path}: written in format version {stored}; this dla-explorer reads versions up to "
            f"{version}: upgrade dla-explorer"
        )
