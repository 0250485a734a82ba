"""Read a request trace: CSV with a header, columns `address` and `op`, optional `time_ns`."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from dla_explorer.core.errors import DlaError


def read_trace(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(addresses uint64, is_write bool, arrival_ns float or None) from a trace CSV.

    `address`: a decimal or 0x-hex byte address; `op`: R or W (any case); `time_ns`: optional
    earliest offer time. Any bad row is a one-line DlaError naming the file, line and value.
    """
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DlaError(f"{path}: not UTF-8 text (byte {exc.start}); a trace is a CSV file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise DlaError(f"{path}: empty file; expected a CSV header with columns address,op")
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("address", "op") if c not in names]
    if missing:
        raise DlaError(
            f"{path}: missing column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(names) or 'none'}); need address,op[,time_ns]"
        )
    ia, io_, it = (
        names.index("address"),
        names.index("op"),
        (names.index("time_ns") if "time_ns" in names else -1),
    )
    addresses: list[int] = []
    writes: list[bool] = []
    times: list[float] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(names):
            raise DlaError(f"{path}: line {line}: {len(row)} fields, the header has {len(names)}")
        if any(cell.strip() for cell in row[len(names) :]):  # empty trailing cells are harmless
            # a column without a header (e.g. times under 'address,op') would be dropped silently
            raise DlaError(
                f"{path}: line {line}: {len(row)} fields, the header has {len(names)} "
                f"({', '.join(names)}); name every column in the header"
            )
        cell = row[ia].strip()
        try:
            value = int(cell, 16) if cell.lower().startswith("0x") else int(cell, 10)
        except ValueError:
            raise DlaError(
                f"{path}: line {line}: address '{cell}' is not a decimal or 0x-hex number"
            ) from None
        if not 0 <= value < 1 << 63:
            raise DlaError(f"{path}: line {line}: address {cell} is outside 0 .. 2**63-1")
        op = row[io_].strip().upper()
        if op not in ("R", "W"):
            raise DlaError(f"{path}: line {line}: op '{row[io_].strip()}' must be R or W")
        if it >= 0:
            tcell = row[it].strip()
            try:
                t = float(tcell)
            except ValueError:
                raise DlaError(f"{path}: line {line}: time_ns '{tcell}' is not a number") from None
            if not np.isfinite(t) or t < 0:
                raise DlaError(f"{path}: line {line}: time_ns {tcell} must be finite and >= 0")
            times.append(t)
        addresses.append(value)
        writes.append(op == "W")
    if not addresses:
        raise DlaError(f"{path}: no requests after the header")
    arrival = np.asarray(times, dtype=np.float64) if it >= 0 else None
    return np.asarray(addresses, dtype=np.uint64), np.asarray(writes, dtype=np.bool_), arrival
