"""Read a request trace: CSV with a header, columns `address` and `op`, optional `time_ns`."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from dla_explorer.core.errors import DlaError

_SPACE, _TAB, _NL, _CR, _COMMA, _QUOTE = 32, 9, 10, 13, 44, 34
# byte -> digit value (255: not a digit) for decimal and hexadecimal addresses
_DEC = np.full(256, 255, np.uint8)
_DEC[48:58] = np.arange(10)
_HEXV = _DEC.copy()
_HEXV[97:103] = _HEXV[65:71] = np.arange(10, 16)
_MAX_DEC, _MAX_HEX, _MAX_TIME = 19, 16, 32  # digits of an address below 2**64; a time cell's width


def read_trace(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(addresses uint64, is_write bool, arrival_ns float or None) from a trace CSV.

    `address`: a decimal or 0x-hex byte address; `op`: R or W (any case); `time_ns`: optional
    earliest offer time. Any bad row is a one-line DlaError naming the file, line and value.
    """
    path = Path(path)
    if not path.is_file():
        raise DlaError(f"{path}: file not found")
    data = path.read_bytes()
    fast = _parse_columns(data)  # it takes ASCII only, so its text needs no decoding
    if fast is not None:
        return fast
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DlaError(f"{path}: not UTF-8 text (byte {exc.start}); a trace is a CSV file") from None
    return _parse_rows(path, text)


def _parse_rows(path: Path, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Row by row: the reference of `_parse_columns`, and the parse that reports the first bad row
    (a one-line DlaError naming the file, line and value)."""
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


def _parse_columns(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """The trace parsed column by column on its bytes (numpy, no per-row Python), or None when any
    row needs `_parse_rows`: a bad value (which that parse reports with its line) or a form this
    parse leaves to it (quotes, non-ASCII bytes, ragged rows, a lone CR, a blank first line, an address of
    another form than digits or 0x-hex digits, spaces around a cell at most). What it accepts,
    `_parse_rows` accepts with the same values (tests/test_dram_trace.py)."""
    buf = np.frombuffer(data, np.uint8)
    if data.startswith(b"\xef\xbb\xbf"):
        buf = buf[3:]
    if buf.size == 0 or (buf >= 128).any() or (buf == _QUOTE).any():
        return None
    cr = np.flatnonzero(buf == _CR)
    if cr.size:  # CRLF line ends only
        if cr[-1] + 1 >= buf.size or (buf[cr + 1] != _NL).any():
            return None
        buf = np.delete(buf, cr)
    if buf[-1] != _NL:
        buf = np.append(buf, np.uint8(_NL))
    ends = np.flatnonzero(buf == _NL)
    if ends.size < 2 or ends[0] == 0:  # a header and a row; a blank first line goes row by row
        return None
    header = [h.strip().lower() for h in buf[: ends[0]].tobytes().decode("ascii").split(",")]
    if "address" not in header or "op" not in header or len(set(header)) != len(header):
        return None
    ncols = len(header)
    starts, ends = ends[:-1] + 1, ends[1:]
    # rows whose cells are all blank are skipped, as csv rows are by `_parse_rows`
    text_bytes = np.concatenate(
        ([0], np.cumsum((buf != _SPACE) & (buf != _TAB) & (buf != _COMMA) & (buf != _NL)))
    )
    keep = text_bytes[ends] > text_bytes[starts]
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return None
    commas = np.flatnonzero(buf == _COMMA)
    per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    if (per_line != ncols - 1).any():  # ragged or trailing-comma rows go row by row
        return None
    inner = commas[np.searchsorted(commas, starts)[:, None] + np.arange(ncols - 1)]
    lo = np.column_stack((starts, inner + 1))
    hi = np.column_stack((inner, ends))

    def column(col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A column's cells as rows of bytes (spaces after a shorter cell), and where each cell's
        text starts and ends (spaces around it dropped); None if a cell is blank."""
        start, stop = lo[:, col], hi[:, col]
        idx = start[:, None] + np.arange(max(1, int((stop - start).max())), dtype=np.int64)
        raw = np.where(idx < stop[:, None], buf[np.minimum(idx, buf.size - 1)], np.uint8(_SPACE))
        blank = (raw == _SPACE) | (raw == _TAB)
        if blank.all(axis=1).any():
            return None
        first = blank.argmin(axis=1)
        last = raw.shape[1] - 1 - blank[:, ::-1].argmin(axis=1)
        return raw, first, last

    got = column(header.index("address"))
    if got is None:
        return None
    raw, first, last = got
    rows = np.arange(raw.shape[0])
    second = raw[rows, np.minimum(first + 1, raw.shape[1] - 1)]
    is_hex = (
        (last - first >= 2) & (raw[rows, first] == ord("0")) & ((second == ord("x")) | (second == ord("X")))
    )
    if (last - first + 1 > np.where(is_hex, _MAX_HEX + 2, _MAX_DEC)).any():
        return None
    # Horner's rule over the byte columns: a space inside a cell is no digit (so it goes row by row)
    address = np.zeros(raw.shape[0], np.uint64)
    base = np.where(is_hex, np.uint64(16), np.uint64(10))
    for j in range(raw.shape[1]):
        digit = np.where(is_hex, _HEXV[raw[:, j]], _DEC[raw[:, j]])
        used = (j >= first + np.where(is_hex, 2, 0)) & (j <= last)
        if (digit[used] == 255).any():
            return None
        address = np.where(used, address * base + digit, address)
    # at most 19 decimal or 16 hex digits stay below 2**64: no wrap before this range check
    if (address >= np.uint64(1 << 63)).any():
        return None
    got = column(header.index("op"))
    if got is None:
        return None
    raw, first, last = got
    if (last != first).any():
        return None
    op = raw[np.arange(raw.shape[0]), first]
    is_write = (op == ord("W")) | (op == ord("w"))
    if not (is_write | (op == ord("R")) | (op == ord("r"))).all():
        return None
    arrival = None
    if "time_ns" in header:
        got = column(header.index("time_ns"))
        if got is None:
            return None
        raw, first, last = got
        if raw.shape[1] > _MAX_TIME:
            return None
        # the cell's text with the spaces before it dropped: 'S' strings end at their first NUL
        pos = first[:, None] + np.arange(raw.shape[1])
        inside = pos <= last[:, None]
        cells = np.where(inside, raw[np.arange(raw.shape[0])[:, None], np.minimum(pos, raw.shape[1] - 1)], 0)
        allowed = np.zeros(256, bool)
        allowed[[0, *b"0123456789.eE+-"]] = True
        if not allowed[cells].all():
            return None
        text = np.ascontiguousarray(cells.astype(np.uint8)).view(f"S{raw.shape[1]}").ravel()
        try:  # numpy reads a decimal string as Python's float() does (correctly rounded)
            arrival = text.astype(np.float64)
        except ValueError:
            return None
        if not (np.isfinite(arrival).all() and (arrival >= 0).all()):
            return None
    return address, is_write, arrival
