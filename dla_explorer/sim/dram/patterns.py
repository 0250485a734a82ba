"""Synthetic request streams (byte addresses + write flags) for tests and the efficiency table."""

from __future__ import annotations

import numpy as np

from dla_explorer.core.errors import UsageError
from dla_explorer.sim.dram.config import DramConfig

LINE = 64


def sequential(n: int, base: int = 0, stride: int = LINE) -> np.ndarray:
    """base, base + stride, base + 2*stride, ..."""
    return np.uint64(base) + np.arange(n, dtype=np.uint64) * np.uint64(stride)


def random_lines(n: int, span_bytes: int = 1 << 32, seed: int = 0, line: int = LINE) -> np.ndarray:
    """Uniformly random line-aligned addresses in [0, span_bytes)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, span_bytes // line, n, dtype=np.uint64) * np.uint64(line)


def interleaved(n: int, bases: tuple[int, ...], stride: int = LINE) -> np.ndarray:
    """Several sequential streams, one request from each in turn."""
    streams = len(bases)
    per = -(-n // streams)
    offsets = np.arange(per, dtype=np.uint64) * np.uint64(stride)
    out = np.stack([np.uint64(b) + offsets for b in bases], axis=1).ravel()
    return out[:n]


def tiled(n: int, row_pitch: int, tile_bytes: int, base: int = 0, line: int = LINE) -> np.ndarray:
    """Tiles of a 2-D feature map: tile_bytes contiguous bytes per map row, successive map rows
    `row_pitch` apart, then the next tile to the right (a DMA reading a tile with its halo)."""
    lines_per_row = max(1, tile_bytes // line)
    idx = np.arange(n, dtype=np.int64)
    seg = idx // lines_per_row
    within = idx % lines_per_row
    rows_per_tile = max(1, (1 << 20) // max(row_pitch, 1))
    tile = seg // rows_per_tile
    row = seg % rows_per_tile
    addr = base + tile * tile_bytes + row * row_pitch + within * line
    return addr.astype(np.uint64)


def mix(
    n: int, write_every: int, addresses: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A read/write mix: every `write_every`-th request is a write (random lines by default)."""
    addr = random_lines(n, seed=seed) if addresses is None else np.asarray(addresses, np.uint64)
    is_write = (np.arange(n) % write_every) == write_every - 1
    return addr, is_write


def field_address(cfg: DramConfig, **fields: int) -> int:
    """The byte address whose decoded fields (`ch`, `ra`, `bg`, `ba`, `ro`, `co`, by the
    config's address map) take these values (others 0): the inverse of `model.decode`. Each
    value is taken modulo its field's size."""
    bits = cfg.field_bits()
    unknown = set(fields) - set(bits)
    if unknown:
        raise UsageError(f"address fields {sorted(unknown)}: use {', '.join(bits)}")
    line = 0
    for name in cfg.address_map.split(","):  # most significant first
        width = bits[name]
        line = (line << width) | (int(fields.get(name, 0)) % (1 << width) if width else 0)
    return line * cfg.organization.burst_bytes


def bank_fields(cfg: DramConfig) -> list[str]:
    """The address map's bank-selecting fields that exist in this config (rank, bank group,
    bank), most significant first."""
    bits = cfg.field_bits()
    return [f for f in cfg.address_map.split(",") if f in ("ra", "bg", "ba") and bits[f] > 0]
