"""Level-1 DRAM figures: efficiency and latency per traffic class, from the cycle model.

`efficiency_table(config)` runs the controller once per traffic class on one channel of the device
(a saturating source, 64-B requests; per channel because the analytical model applies the
efficiency to each channel's share of the traffic, and a multi-channel run of one in-order source
measures how the map spreads a pattern over channels, not the channel) and returns, per class,
the sustained efficiency (sustained / peak), the bandwidth and the average read latency under that
load, plus the unloaded (one request in flight) latency of sequential and random reads. The
analytical model uses it in place of a flat controller efficiency. Results are cached on disk under
the config's content hash and MODEL_VERSION, written atomically; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dla_explorer.core.errors import UsageError
from dla_explorer.core.fileio import write_text_atomic
from dla_explorer.packing.cache import default_cache_dir
from dla_explorer.sim.dram import patterns as pt
from dla_explorer.sim.dram.config import DramConfig, load_dram
from dla_explorer.sim.dram.model import MODEL_VERSION, DramResult, run

TABLE_VERSION = 2  # bump when the traffic classes change (2: per channel, bases from the map)
SUBFOLDER = "dram"
Stream = tuple[np.ndarray, np.ndarray | None]


def one_channel(cfg: DramConfig) -> DramConfig:
    """The device reduced to one of its channels (pseudo-channels): the table is per channel."""
    if cfg.organization.channels == 1:
        return cfg
    org = cfg.organization.model_copy(update={"channels": 1})
    return cfg.model_copy(update={"organization": org})


def stream_bases(cfg: DramConfig) -> dict[str, int]:
    """Base addresses of a second stream (docs/dram.md#level-1-efficiency-table), built from the
    address map (not a fixed offset, which lands in a different place under every map and wraps on a
    small channel):

    - `other_bank`: the most significant bank field (rank, bank group or bank) half its range
      away, and another row. Two sequential streams advance their lower fields in lockstep, so
      they stay in different banks for their whole length: no row conflicts between them.
    - `same_bank`: the same bank fields, the row half the rows away: every access of one stream
      lands in the bank the other has open, in another row (a row conflict per switch)."""
    org = cfg.organization
    top = pt.bank_fields(cfg)
    other = {"ro": org.rows // 2}
    if top:
        other[top[0]] = (1 << cfg.field_bits()[top[0]]) // 2
    return {
        "other_bank": pt.field_address(cfg, **other),
        "same_bank": pt.field_address(cfg, ro=org.rows // 2),
    }


def _classes(cfg: DramConfig) -> dict[str, Callable[[int], Stream]]:
    span = 1 << 32  # random lines: every field is cut from the address, so larger spans wrap
    bases = stream_bases(cfg)
    apart, collide = bases["other_bank"], bases["same_bank"]
    return {
        "seq_read": lambda n: (pt.sequential(n), None),
        "seq_write": lambda n: (pt.sequential(n), np.ones(n, np.bool_)),
        "random_read": lambda n: (pt.random_lines(n, span), None),
        "rw_mix_2to1": lambda n: pt.mix(n, 3, pt.random_lines(n, span, seed=1)),
        # a read stream and a write stream in different banks: the read/write turnaround alone
        "seq_read_write": lambda n: (pt.interleaved(n, (0, apart)), np.arange(n) % 2 == 1),
        "stride_256": lambda n: (pt.sequential(n, stride=256), None),
        "stride_2k": lambda n: (pt.sequential(n, stride=2048), None),
        "stride_8k": lambda n: (pt.sequential(n, stride=8192), None),
        "tiled_fmap": lambda n: (pt.tiled(n, row_pitch=14336, tile_bytes=1024), None),
        "two_streams": lambda n: (pt.interleaved(n, (0, apart)), None),
        "two_streams_same_bank": lambda n: (pt.interleaved(n, (0, collide)), None),
    }


TRAFFIC_CLASSES = (
    "seq_read",
    "seq_write",
    "random_read",
    "rw_mix_2to1",
    "seq_read_write",
    "stride_256",
    "stride_2k",
    "stride_8k",
    "tiled_fmap",
    "two_streams",
    "two_streams_same_bank",
    "seq_read_qd1",
    "random_read_qd1",
)


def _row(res: DramResult) -> dict[str, float]:
    """The figures of one traffic class the table keeps."""
    return {
        "efficiency": res.efficiency,
        "bandwidth_gbps": res.bandwidth_gbps,
        "avg_read_latency_ns": _finite(res.avg_read_latency_ns),
        "row_hit_rate": res.row_hit_rate,
        "pj_per_bit": _finite(res.pj_per_bit),
    }


def _compute(cfg: DramConfig, requests: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name, make in _classes(cfg).items():
        addresses, is_write = make(requests)
        res = run(cfg, addresses, is_write)
        table[name] = _row(res)
    unloaded = max(1000, requests // 20)
    for name, addresses in (
        ("seq_read_qd1", pt.sequential(unloaded)),
        ("random_read_qd1", pt.random_lines(unloaded, 1 << 32, seed=2)),
    ):
        res = run(cfg, addresses, max_outstanding=1)
        table[name] = _row(res)
    return table


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else 0.0


def cache_key(cfg: DramConfig, requests: int) -> str:
    fields = {
        "config": cfg.content_hash(),
        "model": MODEL_VERSION,
        "table": TABLE_VERSION,
        "requests": requests,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def efficiency_table(
    config: DramConfig | str, *, requests: int = 50_000, cache: str | os.PathLike | bool | None = True
) -> dict[str, dict[str, float]]:
    """{traffic class: {efficiency, bandwidth_gbps, avg_read_latency_ns, row_hit_rate,
    pj_per_bit}} for a DRAM config, one channel of it (docs/dram.md#level-1-efficiency-table);
    cache: True (default folder), a folder, or None/False."""
    cfg = one_channel(load_dram(config))
    if requests < 100:
        raise UsageError(f"requests = {requests}: use at least 100 per traffic class")
    folder = _cache_folder(cache)
    path = folder / f"{cache_key(cfg, requests)}.json" if folder else None
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == cache_key(cfg, requests):
                return stored["table"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass  # unreadable: recompute and rewrite
    table = _compute(cfg, requests)
    if path is not None:
        write_text_atomic(
            path,
            json.dumps(
                {"key": cache_key(cfg, requests), "config": cfg.name, "table": table},
                indent=1,
                sort_keys=True,
            ),
        )
    return table


def _cache_folder(cache: str | os.PathLike | bool | None) -> Path | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache_dir() / SUBFOLDER
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise UsageError(f"cache={cache!r}: give a folder, True (default folder) or None (no cache)")
