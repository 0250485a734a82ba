"""The DRAM model's speed paths give what the plain computations give: percentiles by counting
equal numpy's, and reused work arrays leave no trace between runs."""

from __future__ import annotations

import numpy as np
import pytest

from dla_explorer.sim.dram import model, simulate_trace
from dla_explorer.sim.dram import patterns as pt


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 5000])
@pytest.mark.parametrize("spread", [1, 40, 10**7])  # equal values, a histogram, too wide to count
def test_percentiles_equal_numpy_bit_for_bit(n, spread):
    rng = np.random.default_rng(n * 31 + spread)
    for tck in (0.75, 1 / 1.2, 0.625):
        cycles = rng.integers(5, 5 + spread, n).astype(np.int64)
        lat = cycles * tck
        assert np.array_equal(model._percentiles(lat, cycles, tck), np.percentile(lat, model.PERCENTILES))


def test_lowest_set_bit_is_the_bit_index():
    # the bank and wheel scans' _ctz (LLVM's cttz) against Python's own bit arithmetic, on every
    # single bit a 62-bank mask or a 32-slot wheel uses and on random masks
    from dla_explorer.sim.dram.controller import _ctz

    values = [1 << i for i in range(63)]
    rng = np.random.default_rng(7)
    values += [int(v) for v in rng.integers(1, 1 << 62, 2000)]
    values += [(1 << 62) | (1 << 5), (1 << 62) - 1, 6, 0x50]
    for v in values:
        assert _ctz(v) == (v & -v).bit_length() - 1, v


def test_a_run_repeated_after_a_larger_one_gives_the_same_result():
    # the same short mixed trace before and after a longer different one reuses the work arrays
    addresses, is_write = pt.mix(3000, 3, pt.random_lines(3000, 1 << 16, seed=4))
    first = simulate_trace("dramsim3_ddr4_8gb_x8_2666", addresses, is_write, max_outstanding=5)
    simulate_trace("hbm2_s10mx_pc", pt.random_lines(20_000, seed=5), request_bytes=128)
    again = simulate_trace("dramsim3_ddr4_8gb_x8_2666", addresses, is_write, max_outstanding=5)
    assert np.array_equal(first.added_ns, again.added_ns)
    assert np.array_equal(first.done_ns, again.done_ns)
    assert first.read_latency_percentiles_ns == again.read_latency_percentiles_ns
    assert first.commands == again.commands


def test_a_replay_reusing_its_work_arrays_equals_one_with_fresh_arrays(monkeypatch):
    # traffic._simulate runs the controller on per-thread work arrays (acceptance, completion and
    # port clocks) that a larger replay before it left full of its own values: every entry must be
    # rewritten, so a short replay after a long one equals the same replay on zeroed fresh arrays
    from dla_explorer.sim import traffic

    cfg = traffic._channel_config("hbm2_s10mx_pc")
    rng = np.random.default_rng(11)
    n = 4000
    channel = rng.integers(0, 4, n)
    address = (np.arange(n, dtype=np.uint64) * np.uint64(64)) % np.uint64(1 << 20)
    address[::7] = address[::7] + np.uint64(1 << 24)  # row changes among the stream
    is_write = rng.random(n) < 0.2
    arrival = np.sort(rng.integers(0, 3000, n))
    port = 8e9  # bytes/s a channel: the port paces the moves (the avail work array)
    big = rng.integers(0, 1 << 26, 30_000).astype(np.uint64) * np.uint64(64)
    traffic._simulate(cfg, rng.integers(0, 4, big.shape[0]), big, rng.random(big.shape[0]) < 0.5, 4, port)
    reused = traffic._simulate(cfg, channel, address, is_write, 4, port, arrival)
    monkeypatch.setattr(traffic, "_work", lambda m: tuple(np.zeros(m, np.int64) for _ in range(3)))
    fresh = traffic._simulate(cfg, channel, address, is_write, 4, port, arrival)
    assert np.array_equal(reused[0], fresh[0])
    assert np.array_equal(reused[1], fresh[1])
    assert np.array_equal(reused[2], fresh[2])
    assert reused[2][traffic.k.S_WR] > 0 and reused[2][traffic.k.S_RD] > 0


def _run_controller(
    cfg, addresses, arrival, max_out, port_interval=0.0, reads_per_act=None, is_write=None, colskip=True
):
    """The controller on 64-B requests (reads unless is_write says otherwise), bypassing
    simulate_trace so that its statistics (which record how many clocks the steady fast path
    simulated) are visible. reads_per_act: the fast path's hand-back threshold (0: it runs
    whenever it is exact, on random traffic too); colskip False: the general scheduler checks
    every due bank (P_NO_COLSKIP)."""
    from dla_explorer.sim.dram import controller as k

    ch, bank, row = model.decode(cfg, addresses)
    n = addresses.shape[0]
    line = (addresses >> np.uint64(int(np.log2(cfg.organization.burst_bytes)))).astype(np.int64)
    added = np.zeros(n, np.int64)
    done = np.zeros(n, np.int64)
    stats = np.zeros(k.S_NSTATS, np.int64)
    p = model.params(cfg, max_out)
    p[k.P_NO_COLSKIP] = 0 if colskip else 1
    if reads_per_act is not None:
        p[k.P_STEADY] = reads_per_act
    k.simulate(
        p,
        ch.astype(np.int64),
        bank.astype(np.int64),
        row.astype(np.int64),
        np.zeros(n, np.bool_) if is_write is None else np.asarray(is_write, np.bool_),
        line,
        arrival,
        port_interval,
        added,
        done,
        stats,
    )
    return added, done, stats


def _config(name, channels=None, **controller):
    """A shipped config, cut to one channel (channels=1, as the level-1 table runs it) or to
    another channel count, with some controller fields changed."""
    from dla_explorer.sim.dram import load_dram
    from dla_explorer.sim.dram.efficiency import one_channel

    cfg = load_dram(name)
    if channels == 1:
        cfg = one_channel(cfg)
    elif channels is not None:
        cfg = cfg.model_copy(
            update={"organization": cfg.organization.model_copy(update={"channels": channels})}
        )
    if controller:
        cfg = cfg.model_copy(update={"controller": cfg.controller.model_copy(update=controller)})
    return cfg


def _assert_fast_path_equals_general_scheduler(cfg, n, streams=None):
    # A cap on outstanding requests that is never reached changes nothing in the schedule but
    # keeps the controller on its general (visit by visit) scheduler: the reference. Without the
    # cap the steady fast path runs most clocks of the sequential streams, and forced (no
    # hand-back on frequent row changes) most clocks of every stream, with its PREs, ACTs and
    # READs of a hit behind a missing head; every request's acceptance and completion and every
    # command count must come out the same.
    from dla_explorer.sim.dram import controller as k

    streams = streams or {
        "seq": pt.sequential(n),
        "two_streams": pt.interleaved(n, (0, 1 << 24)),
        "stride_256": pt.sequential(n, stride=256),
        "tiled": pt.tiled(n, row_pitch=14336, tile_bytes=1024),
        "random": pt.random_lines(n, 1 << 26, seed=3),
    }
    saturating = np.zeros(n, np.int64)
    paced = (np.arange(n) * 3).astype(np.int64)  # a source slower than the bus at times
    fast_clocks = {None: 0, 0: 0}
    merged = 0  # requests without a READ or WRITE of their own (merged, or served by the buffer)
    for label, stream in streams.items():
        addresses, is_write = stream if isinstance(stream, tuple) else (stream, None)
        for arrival in (saturating, paced):
            for port in (0.0, 3.2):
                a0, d0, s0 = _run_controller(cfg, addresses, arrival, n + 1, port, is_write=is_write)
                assert s0[k.S_STEADY] == 0, label  # the reference never takes the fast path
                merged += n - s0[k.S_RD] - s0[k.S_WR]
                for rpa in fast_clocks:
                    a1, d1, s1 = _run_controller(cfg, addresses, arrival, 0, port, rpa, is_write)
                    assert np.array_equal(a0, a1), (label, rpa)
                    assert np.array_equal(d0, d1), (label, rpa)
                    assert np.array_equal(s0[: k.S_LOOPS], s1[: k.S_LOOPS]), (label, rpa)
                    fast_clocks[rpa] += s1[k.S_STEADY]
    assert fast_clocks[None] > n  # the fast path did run
    assert fast_clocks[0] > 2 * n * len(streams)  # forced, it ran on every stream
    return merged


@pytest.mark.parametrize(
    ("name", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", {}),  # 2 ranks, a stream stays in one bank for 8 KB
        ("dramsim3_ddr4_8gb_x8_2666_bgint", {}),  # lines rotate over the bank groups
        ("hbm2_s10mx_pc", {}),  # dual issue, one pseudo-channel
        ("hbm2_s10mx_pc", {"dual_command_issue": False}),
        ("hbm2_s10mx_pc", {"refresh": "per_bank"}),
        ("dramsim3_ddr4_8gb_x8_2666", {"read_queue": 4, "command_queue": 2}),
    ],
)
def test_steady_fast_path_equals_the_general_scheduler(name, controller):
    _assert_fast_path_equals_general_scheduler(_config(name, 1, **controller), 6000)


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("hbm2_s10mx_pc", None, {}),  # 16 pseudo-channels, 1-KB interleave, dual issue
        ("dramsim3_hbm2_8gb_x128", None, {"dual_command_issue": False}),  # 8 legacy channels
        ("hbm2_s10mx_pc", None, {"refresh": "per_bank"}),
        # tiny queues: the in-order requester often waits for one full channel while others run
        ("dramsim3_hbm2_8gb_x128", None, {"read_queue": 4, "command_queue": 2}),
        ("hbm2_s10mx_pc", 4, {}),
    ],
)
def test_steady_fast_path_on_several_channels_equals_the_general_scheduler(name, channels, controller):
    _assert_fast_path_equals_general_scheduler(_config(name, channels, **controller), 6000)


def _repeated_line_streams(n):
    """Read streams that read lines more than once, as tiles with halos and re-read feature maps
    do: some repeats arrive while the line's read is pending (they merge into it), some after its
    READ issued (a new READ, the line leaves the pending-line table first)."""
    seq = pt.sequential(n // 2)
    blocks = np.arange(n // 64)[:, None] * 48 + np.arange(64)  # 64-line windows, 16 lines overlap
    return {
        "each_line_twice": np.repeat(seq, 2),  # the repeat is queued behind its line: merges
        "halo_windows": (blocks.ravel() * pt.LINE).astype(np.uint64),
        "map_twice": np.concatenate([seq, seq]),  # the second pass finds nothing pending
        # each 1-KB tile (16 lines) read twice in a row, and a tiled map read four times over
        "tiles_twice": np.repeat(
            pt.tiled(n // 2, row_pitch=14336, tile_bytes=1024).reshape(-1, 16), 2, axis=0
        ).ravel(),
        "tiled_four_passes": np.concatenate([pt.tiled(n // 4, row_pitch=14336, tile_bytes=1024)] * 4),
        "random_small": pt.random_lines(n, 1 << 14, seed=9),  # 256 lines: merges at random
    }


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", 1, {}),
        ("dramsim3_ddr4_8gb_x8_2666_bgint", 1, {}),
        ("hbm2_s10mx_pc", 1, {"refresh": "per_bank"}),
        ("hbm2_s10mx_pc", None, {}),  # 16 pseudo-channels, dual issue
        ("dramsim3_hbm2_8gb_x128", None, {"read_queue": 4, "command_queue": 2}),
    ],
)
def test_steady_fast_path_with_repeated_read_lines_equals_the_general_scheduler(name, channels, controller):
    # the fast path keeps the pending-line table (merged reads) exactly as the general scheduler
    n = 6400  # a multiple of 64 (windows) and 32 (two 16-line tiles)
    merged = _assert_fast_path_equals_general_scheduler(
        _config(name, channels, **controller), n, _repeated_line_streams(n)
    )
    assert merged > n  # reads did merge (each_line_twice alone merges most of its repeats)


def _run_with_writes(cfg, addresses, is_write, max_out, colskip, reads_per_act=None):
    """_run_controller on a saturating source without a port, with writes and the skip chosen."""
    arrival = np.zeros(addresses.shape[0], np.int64)
    return _run_controller(cfg, addresses, arrival, max_out, 0.0, reads_per_act, is_write, colskip)


def _write_streams(n):
    """Streams with writes (n a multiple of 64): the write buffer, its drains at the high and
    idle watermarks, WRITE timing and read/write turnaround, and the pending-line table's write
    side (a read of a line whose write is pending is served from the buffer, a second write to
    it merges, and a drain stops at a write whose line has a pending read)."""
    seq = pt.sequential(n // 2)
    alternate = np.arange(n) % 2 == 1
    # blocks of 48 writes then 48 reads of other lines: the buffer reaches the high watermark
    blocks = np.arange(n) // 48 % 2 == 0
    return {
        "seq_read_write": (pt.interleaved(n, (0, 1 << 24)), alternate),  # two streams, R/W turns
        "seq_write": (pt.sequential(n), np.ones(n, np.bool_)),
        # every line read, then written at once: the write's drain waits for the line's READ
        "read_then_write": (np.repeat(seq, 2), alternate),
        # every line written, then read at once: the read is served from the write buffer
        "write_then_read": (np.repeat(seq, 2), ~alternate),
        "write_twice": (np.repeat(seq, 2), np.ones(n, np.bool_)),  # the second write merges
        "write_bursts": (pt.sequential(n), blocks),
        # a random 2:1 mix over 256 lines: all of the above at random, rows changing often
        "mix_small": pt.mix(n, 3, pt.random_lines(n, 1 << 14, seed=11)),
        # 16-line tiles written then read back (outputs read by the next layer)
        "tiles_back": (
            np.repeat(pt.tiled(n // 2, row_pitch=14336, tile_bytes=1024).reshape(-1, 16), 2, axis=0).ravel(),
            np.tile(np.repeat([True, False], 16), n // 32),
        ),
    }


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", 1, {}),  # 2 ranks: tFAW and the rank-switch gap bind
        ("dramsim3_ddr4_8gb_x8_2666", 1, {"page_policy": "closed"}),
        ("dramsim3_ddr4_8gb_x8_2666_bgint", 1, {"row_hit_cap": 1}),  # capped rows may PRE at once
        ("dramsim3_ddr4_8gb_x8_2666", 1, {"read_queue": 4, "command_queue": 2}),
        # HBM2 with its column gap stretched to 4 clocks (the skip is used from 3: BL4's 2-clock
        # windows do not pay for it): dual issue, a row command beside a column command
        ("hbm2_s10mx_pc", 4, {"tccd_s": 4, "tccd_l": 4}),
        ("dramsim3_hbm2_8gb_x128", 2, {"tccd_s": 4, "dual_command_issue": False, "refresh": "per_bank"}),
    ],
)
def test_rank_column_window_skip_equals_checking_every_bank(name, channels, controller):
    # The general scheduler skips an open bank with queued hits (its row under the hit cap, so
    # it cannot PRE) while its rank's READ / WRITE window is shut, using per-channel hit masks
    # kept at every ACT, PRE, column command, move and refresh PRE (and rebuilt after the steady
    # fast path ran). The reference checks every due bank (P_NO_COLSKIP): every request's times
    # and every command count must agree, and the skip must have saved checks.
    from dla_explorer.sim.dram import controller as k

    controller = dict(controller)
    timing = {key: controller.pop(key) for key in ("tccd_s", "tccd_l") if key in controller}
    cfg = _config(name, channels, **controller)
    if timing:
        cfg = cfg.model_copy(update={"timing": cfg.timing.model_copy(update=timing)})
    n = 4000
    rng = np.random.default_rng(11)
    random_reads = pt.random_lines(n, 1 << 30, seed=12)
    mix_addr, mix_write = pt.mix(n, 3, pt.random_lines(n, 1 << 30, seed=13))
    # reads and writes to few rows: banks hold read and write hits at once (one window shut,
    # the other open), and rows reach the hit cap with a conflicting request queued behind
    few_rows = (rng.integers(0, 1 << 12, n) * pt.LINE + rng.integers(0, 4, n) * (1 << 20)).astype(np.uint64)
    streams = {
        "random_reads": (random_reads, np.zeros(n, np.bool_)),
        "rw_mix_2to1": (mix_addr, mix_write),
        "few_rows_rw": (few_rows, rng.random(n) < 0.4),
        "two_streams_rw": (pt.interleaved(n, (0, 1 << 24)), np.arange(n) % 4 == 3),
    }
    saved = 0
    for label, (addresses, is_write) in streams.items():
        # a cap never reached: the general scheduler only; without it the steady fast path
        # runs and hands back (also forced), after which the masks are rebuilt
        runs = [(n + 1, None), (0, None), (0, 0)]
        for max_out, rpa in runs:
            a0, d0, s0 = _run_with_writes(cfg, addresses, is_write, max_out, False, rpa)
            a1, d1, s1 = _run_with_writes(cfg, addresses, is_write, max_out, True, rpa)
            assert np.array_equal(a0, a1), (label, max_out, rpa)
            assert np.array_equal(d0, d1), (label, max_out, rpa)
            assert np.array_equal(s0[: k.S_LOOPS], s1[: k.S_LOOPS]), (label, max_out, rpa)
            # (with the fast path, loop iterations and so its entries may differ: the total counts)
            saved += s0[k.S_CHECKS] - s1[k.S_CHECKS]
    assert saved > n  # banks were skipped


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", 1, {}),  # 2 ranks: read/write turnaround across ranks
        ("dramsim3_ddr4_8gb_x8_2666_bgint", 1, {"write_drain_high": 16, "write_drain_low": 4}),
        ("hbm2_s10mx_pc", 1, {"refresh": "per_bank", "write_queue": 8, "write_drain_idle": 2}),
        ("hbm2_s10mx_pc", None, {}),  # 16 pseudo-channels, dual issue
        ("dramsim3_hbm2_8gb_x128", None, {"read_queue": 4, "write_queue": 4, "command_queue": 2}),
    ],
)
def test_steady_fast_path_with_writes_equals_the_general_scheduler(name, channels, controller):
    # the fast path keeps the write buffer, its drains and the pending-line table's write side
    # exactly as the general scheduler does
    n = 3200
    merged = _assert_fast_path_equals_general_scheduler(
        _config(name, channels, **controller), n, _write_streams(n)
    )
    assert merged > n  # writes merged and reads were served from the write buffer


def test_a_trace_finished_in_the_fast_path_ends_where_the_general_scheduler_does(monkeypatch):
    # The general loop stops in the iteration of its last command; when the fast path simulated
    # that clock, the loop must not go on to the next one, where a refresh falling due would
    # precharge open banks (found by the identity check with the fast path forced: 8 extra PREs,
    # one per channel, on this paced random mix with per-bank refresh, every time equal)
    from dla_explorer.sim.dram import DramConfig
    from dla_explorer.sim.dram import controller as k

    data = _config("dramsim3_hbm2_8gb_x128").model_dump()
    data["controller"]["refresh"] = "per_bank"
    t = data["timing"]
    if t.get("trfcb") is None:
        t["trfcb"], t["trefib"] = max(1, t["trfc"] // 2), max(1, t["trefi"] // 16)
    cfg = DramConfig.model_validate(data)
    n = 40_000
    addresses, is_write = pt.mix(n, 3, pt.random_lines(n, seed=6))
    arrival = np.cumsum(np.random.default_rng(3).exponential(2.0, n))
    general = simulate_trace(cfg, addresses, is_write, arrival_ns=arrival, max_outstanding=n + 1)
    params = model.params

    def forced(config, max_outstanding=0):
        p = params(config, max_outstanding)
        p[k.P_STEADY] = 0  # the fast path runs wherever it is exact
        return p

    monkeypatch.setattr(model, "params", forced)
    fast = simulate_trace(cfg, addresses, is_write, arrival_ns=arrival)
    assert np.array_equal(general.added_ns, fast.added_ns)
    assert np.array_equal(general.done_ns, fast.done_ns)
    assert general.commands == fast.commands
    assert general.time_ns == fast.time_ns


def _frame_streams(n):
    """Level-2 frame traffic in small (n a multiple of 64): filter reads, input tiles whose
    64-line windows overlap by 16 lines (halo rows: repeated lines that merge), and output
    writes to lines met once, interleaved as the DLA's DMA issues them, and one output line
    read back (served from the write buffer). Most requests are lines met once, which skip the
    pending-line table even in a trace with writes."""
    filters = pt.sequential(n // 2) + np.uint64(1 << 26)
    windows = (np.arange(n // 64)[:, None] * 48 + np.arange(64)).ravel()[: n // 4]
    tiles = (windows * pt.LINE).astype(np.uint64)
    outputs = pt.sequential(n // 4) + np.uint64(1 << 27)
    addresses = np.empty(n, np.uint64)
    addresses[0::4], addresses[1::4] = filters[0::2], filters[1::2]
    addresses[2::4], addresses[3::4] = tiles, outputs
    is_write = np.arange(n) % 4 == 3
    addresses[n // 2 + 2] = addresses[n // 2 - 1]  # a tile read of the line written just before
    return {"frame": (addresses, is_write)}


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", 1, {}),
        ("hbm2_s10mx_pc", None, {}),  # 16 pseudo-channels, dual issue
        ("dramsim3_hbm2_8gb_x128", None, {"read_queue": 4, "command_queue": 2}),
    ],
)
def test_steady_fast_path_on_frame_traffic_equals_the_general_scheduler(name, channels, controller):
    # The fast path's shortcuts (a visit's ready banks from the last visit's least clock, only
    # the banks a command can move recomputed, a move folded into the least clock, the next
    # move from one scan of the FIFO heads) against the general scheduler on frame traffic
    n = 6400
    merged = _assert_fast_path_equals_general_scheduler(
        _config(name, channels, **controller), n, _frame_streams(n)
    )
    assert merged > 0  # halo reads merged or the read-back was served from the buffer


@pytest.mark.parametrize(
    ("name", "channels", "controller"),
    [
        ("dramsim3_ddr4_8gb_x8_2666", 1, {"read_queue": 8, "write_queue": 8, "command_queue": 2}),
        (
            "hbm2_s10mx_pc",
            None,
            {"read_queue": 8, "write_queue": 8, "command_queue": 2, "write_drain_idle": 2},
        ),
    ],
)
def test_fast_path_move_scan_skip_equals_the_general_scheduler(name, channels, controller):
    # The fast path skips a visit's oldest-movable scan while its channel's next-move bound lies
    # ahead, unless a command freed room in a bank with waiting transactions (an older one may
    # move now) or the drain started (the other kind moves). Tiny command queues keep banks full
    # with transactions waiting behind them, so READs and WRITEs free room at most clocks, and
    # small write buffers start drains often; the port makes the bound lie ahead.
    n = 1920
    streams = {"one_bank": pt.sequential(n), "two_streams": pt.interleaved(n, (0, 1 << 24))}
    for label in ("seq_read_write", "write_bursts", "read_then_write"):
        streams[label] = _write_streams(n)[label]
    _assert_fast_path_equals_general_scheduler(_config(name, channels, **controller), n, streams)
