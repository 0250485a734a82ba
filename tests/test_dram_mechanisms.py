"""DRAM controller mechanisms that DRAMsim3 (commit 29817593) models and the 20 reference rows do
not exercise: merged reads of a pending line, read-after-write forwarding, the write drain.
Expected times are computed by hand from the config's cycle counts, not taken from a run."""

from __future__ import annotations

import numpy as np
import pytest

from dla_explorer.sim.dram import controller as k
from dla_explorer.sim.dram import load_dram, simulate_trace
from dla_explorer.sim.dram import patterns as pt
from dla_explorer.sim.dram.config import DramConfig

NAME = "dramsim3_ddr4_8gb_x8_2666"


def variant(name: str, **changes: object) -> DramConfig:
    data = load_dram(name).model_dump()
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    return DramConfig.model_validate(data)


def clocks(cfg: DramConfig) -> tuple[float, int, int]:
    """tCK, the clocks of a read to a closed bank (queued at 0: ACT at 1, READ tRCD later, data
    CL + BL/2 after it) and of a row hit (READ the clock after it is queued)."""
    t = cfg.timing
    burst = cfg.burst_cycles
    return t.tck_ns, 1 + t.trcd + t.cl + burst, 1 + t.cl + burst


def test_reads_of_a_pending_line_merge_into_one_read():
    # 50 reads of one line from a saturating source: more than the 32-entry read queue holds,
    # so they can all be accepted at once only if a merged read takes no slot (DRAMsim3: a read
    # of a line whose read is pending joins its pending-read table entry, not the read queue)
    cfg = variant(NAME, controller__refresh="none")
    tck, miss, _ = clocks(cfg)  # 43 clocks
    n = 50
    assert n > cfg.controller.read_queue
    res = simulate_trace(cfg, np.full(n, 0x1240, np.uint64))
    assert res.commands["read"] == 1 and res.commands["activate"] == 1
    assert np.all(res.added_ns == 0.0)
    assert np.all(res.done_ns == miss * tck)  # all return with the one READ's data
    assert res.avg_read_latency_ns == miss * tck
    # bandwidth counts column commands: one burst over the run (accepted at 0: to completion)
    assert res.bandwidth_gbps == pytest.approx(64 / (miss * tck))


def test_merging_ends_when_the_read_issues():
    # a read arriving while the first is queued merges; one arriving after its READ issued is
    # a new READ (a row hit): DRAMsim3 drops the pending-read entry at the READ command
    cfg = variant(NAME, controller__refresh="none")
    tck, miss, hit = clocks(cfg)
    t = cfg.timing
    read_at = 1 + t.trcd  # the first READ's clock (20)
    arrive = np.array([0, read_at - 10, read_at + 20])  # clocks
    res = simulate_trace(cfg, np.full(3, 0x1240, np.uint64), arrival_ns=arrive * tck)
    assert res.commands["read"] == 2 and res.commands["activate"] == 1
    np.testing.assert_allclose(res.added_ns, arrive * tck)
    np.testing.assert_allclose(res.done_ns, np.array([miss, miss, arrive[2] + hit]) * tck)


def test_a_read_of_a_line_with_a_write_pending_is_forwarded_not_merged():
    # R A, W A, R A: the write enters the buffer; the second read is served from it one clock
    # after it is accepted (DRAMsim3 looks at pending writes before pending reads)
    cfg = variant(NAME, controller__refresh="none")
    tck, miss, _ = clocks(cfg)
    res = simulate_trace(cfg, np.full(3, 0x1240, np.uint64), np.array([False, True, False]))
    assert res.commands["read"] == 1 and res.commands["write"] == 1
    assert res.done_ns[0] == miss * tck
    assert res.done_ns[2] == res.added_ns[2] + tck


def test_forwarding_and_merging_work_among_lines_met_once():
    # Only requests of a line the trace touches more than once use the pending-line table (a
    # trace with writes marks them over reads and writes alike): a read stream of lines met
    # once, with a write of a line then a read of it (served from the write buffer), a line
    # written twice (the second merges) and a line read then written (the write waits for the
    # READ) in between. The other lines' reads must time as in the stream without those.
    cfg = variant(NAME, controller__refresh="none")
    tck = cfg.timing.tck_ns
    n = 3000
    stream = pt.sequential(n)
    far = np.uint64(1 << 30)  # lines the stream never meets
    lines = np.array([far, far, far + np.uint64(64), far + np.uint64(64), far + np.uint64(128)] * 2)
    lines[5:] += np.uint64(1 << 20)
    lines = np.concatenate([lines[:5], [lines[4]], lines[5:], [lines[9]]])  # ... R C, W C
    writes = np.array([1, 0, 1, 1, 0, 1] * 2, np.bool_)
    at = (500, 2000)  # where the two groups of six go into the stream
    addresses = np.insert(stream, np.repeat(at, 6), lines)
    is_write = np.insert(np.zeros(n, np.bool_), np.repeat(at, 6), writes)
    res = simulate_trace(cfg, addresses, is_write)
    for g in range(2):
        i = at[g] + 6 * g  # the group's first request in the merged trace
        assert res.done_ns[i + 1] == res.added_ns[i + 1] + tck  # the read of the written line
        assert res.done_ns[i + 3] == res.added_ns[i + 3] + tck  # the second write merged
        # the write of a line read just before waits for that READ's data
        assert res.done_ns[i + 5] > res.done_ns[i + 4]
    # the forwarded reads and merged writes issue no command of their own: a READ of each
    # stream line and of C, a WRITE of A, B and C, per group
    assert res.commands["read"] == n + 2
    assert res.commands["write"] == 6


@pytest.mark.parametrize("name", ["dramsim3_ddr4_8gb_x8_2666_bgint", "dramsim3_hbm2_8gb_x128"])
def test_a_doubled_stream_issues_the_reads_of_the_distinct_one(name):
    # every line read twice in a row: the second read merges, so the READs are those of the
    # stream of distinct lines and both reads of a line complete with its READ. The distinct
    # stream takes the steady fast path (one channel, no repeats), the doubled one the general
    # scheduler with the line table.
    cfg = variant(name, organization__channels=1)
    rq = cfg.controller.read_queue
    distinct = pt.sequential(6000)
    doubled = np.repeat(distinct, 2)
    a = simulate_trace(cfg, distinct)
    b = simulate_trace(cfg, doubled)
    assert b.commands == a.commands
    np.testing.assert_array_equal(b.done_ns[0::2], a.done_ns)
    np.testing.assert_array_equal(b.done_ns[1::2], a.done_ns)
    # a merged read takes no slot, but is accepted only while the read queue has room (DRAMsim3
    # asks WillAcceptTransaction first): at time zero the 32 first reads of their lines and the
    # 31 second reads that arrive before the queue is full, not the second read of line 32
    assert np.count_nonzero(b.added_ns == 0.0) == 2 * rq - 1
    assert np.count_nonzero(a.added_ns == 0.0) == rq


def marks(lines: list[int], writes: list[int] | None = None) -> tuple[bool, list[bool]]:
    w = np.zeros(len(lines), np.bool_) if writes is None else np.array(writes, np.bool_)
    out = np.zeros(len(lines), np.bool_)
    found = k.mark_repeated_reads(np.array(lines, np.int64), w, out)
    return found, out.tolist()


def test_reads_of_repeated_lines_are_marked():
    assert marks([5, 9, 7, 3]) == (False, [False] * 4)  # not monotonic, distinct: the hash map
    assert not marks(list(range(10)))[0]  # monotonic: one pass
    assert not marks(list(range(10, 0, -1)))[0]
    assert marks([5, 9, 7, 9]) == (True, [False, True, False, True])
    assert marks([1, 2, 3, 3, 1]) == (True, [True, False, True, True, True])
    # a write and a read of one line are not a repeated read; for a trace with writes the
    # controller passes no write flags, so that every request of a line met twice is marked
    assert marks([5, 9, 7, 9], [0, 1, 0, 0]) == (False, [False] * 4)
    assert marks([5, 9, 7, 9], [0, 0, 0, 0]) == (True, [False, True, False, True])


def test_repeated_read_marks_match_numpy():
    rng = np.random.default_rng(5)
    # few repeats (birthday pairs among 20,000 lines of 2**22): the filter's candidates are few,
    # the exact map decides, so the marks are exactly the reads of repeated lines
    lines = rng.integers(0, 1 << 22, 20_000).astype(np.int64)
    _, inverse, counts = np.unique(lines, return_inverse=True, return_counts=True)
    truth = counts[inverse] > 1
    assert 0 < truth.sum() < 20_000 // 8
    out = np.zeros(lines.size, np.bool_)
    assert k.mark_repeated_reads(lines, np.zeros(lines.size, np.bool_), out)
    np.testing.assert_array_equal(out, truth)
    # mostly repeats (a tile stream that re-reads its rows): every repeat is marked (a superset)
    lines = (pt.tiled(20_000, row_pitch=14336, tile_bytes=1024) // np.uint64(64)).astype(np.int64)
    _, inverse, counts = np.unique(lines, return_inverse=True, return_counts=True)
    out = np.zeros(lines.size, np.bool_)
    assert k.mark_repeated_reads(lines, np.zeros(lines.size, np.bool_), out)
    assert np.all(out[counts[inverse] > 1])


def test_a_drain_stopped_by_a_pending_read_moves_nothing_in_that_clock():
    # R A, W A, R B (B in the other rank) at time 0, a one-entry write buffer (drain when full,
    # as DRAMsim3 with a write buffer of 1). Clock 0: the drain would first move W A, which waits
    # for R A still in the read queue (DRAMsim3 would stop there at every clock and never move
    # R A); the drain does not start, R A moves. Clock 1: ACT A; the drain starts, stops at W A
    # (R A pending) and, as in DRAMsim3, nothing moves; so every clock until READ A issues at
    # 1 + tRCD; then W A moves, R B the clock after, its ACT the next, and its READ waits for
    # tRCD and the bus turnarounds after READ A and WRITE A.
    cfg = variant(NAME, controller__refresh="none", controller__write_queue=1)
    t, b = cfg.timing, cfg.burst_cycles
    other_rank = 1 << (7 + 2 + 2)  # map ro,ch,ra,ba,bg,co: co 7 bits, bg 2, ba 2, then ra
    addresses = np.array([0, 0, other_rank * 64], np.uint64)
    res = simulate_trace(cfg, addresses, np.array([False, True, False]))
    read_a = 1 + t.trcd
    write_a = read_a + (t.cl + b - t.cwl + t.trtrs)  # read to write, same rank
    act_b = read_a + 2  # W A moves at READ A's clock, R B the next, ACT one later
    read_b = max(
        act_b + t.trcd,
        read_a + b + t.trtrs,  # read to read, other rank
        write_a + (t.cwl + b) + b + t.trtrs - (t.cl + b),  # write to read, other rank
    )
    assert res.done_ns[0] == (read_a + t.cl + b) * t.tck_ns
    assert res.done_ns[2] == (read_b + t.cl + b) * t.tck_ns  # 64 clocks (48 if R B moved at 1)
    assert res.commands == {"activate": 2, "precharge": 0, "read": 2, "write": 1, "refresh": 0}


def test_merged_reads_count_against_the_outstanding_cap():
    # 12 reads of one line, at most 4 outstanding: each group of 4 is one READ (1 queued + 3
    # merged), and the next group is accepted the clock after the group's data returned
    cfg = variant(NAME, controller__refresh="none")
    tck, miss, hit = clocks(cfg)  # 43 (closed bank), 24 (row hit)
    res = simulate_trace(cfg, np.full(12, 0x1240, np.uint64), max_outstanding=4)
    second = miss + 1
    third = second + hit + 1
    np.testing.assert_allclose(res.added_ns / tck, np.repeat([0, second, third], 4))
    np.testing.assert_allclose(res.done_ns / tck, np.repeat([miss, second + hit, third + hit], 4))
    assert res.commands["read"] == 3 and res.commands["activate"] == 1
