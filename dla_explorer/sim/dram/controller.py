"""The cycle-level DRAM controller: one numba function that runs a whole trace.

Structure (per channel, all channels on one clock): a transaction read queue and write buffer fed
in order by the requester, per-bank command queues, and a scheduler that each clock

1. inserts a pending refresh when the refresh timer fires (all-bank per rank, staggered over the
   ranks, or per-bank round robin) and, while one is pending, precharges the rank's open banks and
   issues REF (the rank's command queues are held meanwhile);
2. otherwise picks, round robin over the banks, the first command ready in a bank's queue, in queue
   order (first-ready FCFS): a READ/WRITE to the open row, an ACT to a closed bank, or a PRE for the
   head request when no queued request hits the open row any more or the row already served
   `row_hit_cap` column commands; HBM2 may issue a row and a column command in the same clock;
3. moves one transaction from the read queue (or from the write buffer while draining writes) to
   its bank's command queue if there is room.

Pending lines, as DRAMsim3's pending-read and pending-write tables: a read of a line with a write
pending is served from the write buffer, a second write merges, a read of a line whose read is
pending merges into it (no queue slot; it returns with that READ), and a drain stops at a write
whose line has a pending read.

Every JEDEC constraint is kept as an earliest-issue time at the level it binds: per bank (tRCD,
tRAS, tRC, tRP, tRTP, tWR), per bank group (tCCD_L, tRRD_L, tWTR_L), per rank (tCCD_S, tRRD_S,
tWTR_S, tFAW, tRFC, turnaround) and across ranks (tRTRS). When nothing can happen, the clock
jumps to the earliest time something can, so idle and blocked stretches cost nothing; after a
busy visit, a channel with at most two due banks computes their next possible commands at once
and sleeps until then instead of looking again next clock; a stretch of a stream (no refresh
pending, rows changing at most once per few column commands) runs in a tight loop over the
channels from one command or move to the next, with READs, WRITEs, ACTs and PREs, the write
buffer and its drains, and the pending-line table as the general scheduler keeps them
(`_steady_reads`, `_steady_rw`).
The schedule is that of a visit to every channel at every clock (a visit at which nothing can
happen changes nothing).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# indices into the int64 parameter vector
(
    P_CHANNELS,
    P_RANKS,
    P_BGS,
    P_BPG,
    P_RQ,
    P_WQ,
    P_CQ,
    P_BURST,
    P_READ_DELAY,
    P_WRITE_DELAY,
    P_TRCD,
    P_TRP,
    P_TRAS,
    P_TRC,
    P_TRRD_S,
    P_TRRD_L,
    P_TFAW,
    P_RTRL,
    P_RTRS,
    P_RTRO,
    P_RTW,
    P_RTWO,
    P_WTRL,
    P_WTRS,
    P_WTRO,
    P_WTWL,
    P_WTWS,
    P_WTWO,
    P_RTP,
    P_WTP,
    P_REF_INTERVAL,
    P_TRFC,
    P_REF_MODE,
    P_HIT_CAP,
    P_CLOSED_PAGE,
    P_DRAIN_HIGH,
    P_DRAIN_IDLE,
    P_DRAIN_LOW,
    P_DUAL,
    P_MAX_OUT,
    P_STEADY,  # READs per ACT below which the steady fast path hands back (0: it never does)
    # 1: the general scheduler checks every due bank, also those its rank's shut column window
    # blocks (0, the default: it skips them; the same schedule, for tests that compare the two)
    P_NO_COLSKIP,
    P_NPARAMS,
) = range(43)
REF_NONE, REF_ALL_BANK, REF_PER_BANK = 0, 1, 2

# The controller's state is packed by level, one row of fields per channel (cs[channel, field]),
# bank (bs[channel, bank, field]), bank group (gs) and rank (ks): a visit works on a few rows
# instead of ~45 arrays whose pointers and strides did not fit in registers (1.15-1.5x).
(
    C_DUE,  # bit q: bank q's queue may be ready now
    C_NONEMPTY,  # bit q: bank q's command queue holds a request
    C_ROOM,  # bit q: bank q's command queue has room
    C_CLOSED,  # bit q: bank q has no open row
    C_OCC,  # bit s: timing-wheel slot s holds a queue
    C_FIRED,  # the wheel has been emptied up to this clock
    C_FAR,  # banks waiting beyond the wheel
    C_FARMIN,  # the earliest of their times
    C_CQT,  # requests in all command queues
    C_DRAIN,  # writes still to move while draining (0: not draining)
    C_RR,  # round-robin start bank
    C_WAKE,  # nothing in the channel can change before this clock
    C_REFH,  # refresh queue head
    C_REFL,  # refresh queue length
    C_REFN,  # the next rank (all-bank) or bank (per-bank) to refresh
    C_TQT,  # transactions in the read queue (C_TQT + 1: in the write buffer)
    _C_TQT1,
    C_TQH,  # bit q: bank q has a queued read (C_TQH + 1: a queued write)
    _C_TQH1,
    C_NFIELDS,
) = range(20)
(
    B_ROW,  # open row (-1: closed)
    B_HITC,  # column commands served by the open row
    B_TACT,  # earliest ACT (tRC, tRP, refresh)
    B_TRD,  # earliest READ (tRCD)
    B_TWR,  # earliest WRITE (tRCD)
    B_TPRE,  # earliest PRE (tRAS, tRTP, write recovery)
    B_TREF,  # earliest REF
    # nothing in the queue can issue before this clock (0: unknown): timing constraints only grow,
    # so it stays a valid bound until the queue or the bank changes (then it is reset to 0)
    B_NBT,
    B_HR,  # queued reads that hit the open row
    B_HW,  # queued writes that hit it
    B_CQL,  # command queue length
    B_CQW,  # writes in the command queue
    B_NFIELDS,
) = range(13)
G_RD, G_WR, G_ACT, G_NFIELDS = range(4)  # earliest READ / WRITE / ACT in the bank group
# earliest READ / WRITE / ACT in the rank, open banks, clock the first opened, the four last ACTs
# (tFAW) as a ring at K_FAW with its next slot K_FAWI
K_RD, K_WR, K_ACT, K_NOPEN, K_SINCE, K_FAWI, K_FAW, K_NFIELDS = 0, 1, 2, 3, 4, 5, 6, 10
HM_RD, HM_WR, HM_CAP = 0, 1, 2  # the general scheduler's hit masks per channel (simulate_into)
COLSKIP_MIN_WINDOW = 3  # clocks: the shortest column window for which the skip is used

# indices into the int64 statistics vector
(
    S_ACT,
    S_PRE,
    S_RD,
    S_WR,
    S_REF,
    S_RD_HIT,
    S_WR_HIT,
    S_LAST_ACCEPT,
    S_CMDS_AT_LAST_ACCEPT,
    S_END,
    S_ACTIVE_RANK_CYCLES,
    S_IDLE_RANK_CYCLES,
    S_LOOPS,
    S_CHECKS,
    S_CHLOOPS,
    S_STEADY,  # clocks simulated by the steady row-hit fast path (_steady_reads)
    S_NSTATS,
) = range(17)

# The steady fast path (_steady_reads) hands back to the general scheduler, and its check backs
# off, once it issued more than one ACT per STEADY_READS_PER_ACT READs (after STEADY_GRACE
# READs; the parameter P_STEADY, which model.params sets to this): on traffic whose rows change
# that often, its full scan of the queued banks at every command costs more than the general
# scheduler's look-ahead caches. A speed choice only (both give the same schedule); 8 keeps the
# streams (32-128 READs per row) in the fast path and sends random and short-stride traffic
# (1-4) back. The grace lets a stream open the next rows of all its banks at once (a
# bank-group-interleaved DDR4 stream opens 4 within a few clocks: a grace of 16 sent it back
# and doubled its general-scheduler iterations, measured).
STEADY_READS_PER_ACT = 8
STEADY_GRACE = 64
NONE, ACT, PRE, RD, WR = 0, 1, 2, 3, 4
FAR: int = 1 << 62
WHEEL = 32  # slots of the per-channel timing wheel (a power of two, at most 62)
STALL_LIMIT = 1 << 26  # clocks without any progress that mean the model is stuck
MAX_BANKS = 62  # banks per channel (command queues are tracked in a 64-bit mask)


@intrinsic
def _cttz(typingctx, x):
    """LLVM's cttz on an integer (zero-undefined: x > 0), through numba's public intrinsic API."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, True))

    return x(x), codegen


@numba.njit(cache=True, inline="always")
def _ctz(x: int) -> int:
    """Index of the lowest set bit of x (x > 0, below 2**63): LLVM's cttz, one `tzcnt`, where a
    De Bruijn table look-up was a multiply and a dependent load on the bank scans' critical path
    (random traffic 1.0-1.15x, docs/dram_speed_log.md)."""
    return _cttz(x)  # type: ignore[call-arg]  # numba passes typingctx itself


@numba.njit(cache=True, inline="always")
def _popcount(x: int) -> int:
    """Number of set bits of x (x >= 0)."""
    k = 0
    while x != 0:
        x &= x - 1
        k += 1
    return k


@numba.njit(cache=True, inline="always")
def _mx(a: int, b: int) -> int:
    return a if a > b else b


@numba.njit(cache=True, inline="always")
def _mn(a: int, b: int) -> int:
    return a if a < b else b


_HASH_MUL = 0x5851F42D4C957F2D


@numba.njit(cache=True, inline="always")
def _home(line: int, mask: int) -> int:
    return ((line * _HASH_MUL) >> 23) & mask


@numba.njit(cache=True, inline="always")
def _close_row(
    c: int,
    q: int,
    rank: int,
    t: int,
    trp: int,
    bs: np.ndarray,
    cs: np.ndarray,
    ks: np.ndarray,
) -> int:
    """Bank state after a precharge at clock `t` (explicit PRE or a row closed on its last hit).
    Returns the clocks the rank was active if this closed its last open row, else 0."""
    bs[c, q, B_ROW] = -1
    cs[c, C_CLOSED] |= np.int64(1) << q
    bs[c, q, B_HR] = 0
    bs[c, q, B_HW] = 0
    bs[c, q, B_NBT] = 0
    cs[c, C_DUE] |= np.int64(1) << q
    bs[c, q, B_HITC] = 0
    ks[c, rank, K_NOPEN] -= 1
    bs[c, q, B_TACT] = _mx(bs[c, q, B_TACT], t + trp)
    bs[c, q, B_TREF] = _mx(bs[c, q, B_TREF], t + trp)
    if ks[c, rank, K_NOPEN] == 0:
        return t - ks[c, rank, K_SINCE]
    return 0


@numba.njit(cache=True, inline="always")
def _open_row(
    c: int,
    q: int,
    rank: int,
    grp: int,
    t: int,
    trc: int,
    trcd: int,
    tras: int,
    trrd_l: int,
    trrd_s: int,
    bs: np.ndarray,
    cs: np.ndarray,
    gs: np.ndarray,
    ks: np.ndarray,
) -> None:
    """Bank, bank-group and rank timing after an ACT at clock `t` (the row and its hit counts are
    the caller's: the fast path and the scheduler count hits differently). One definition for
    both, as _close_row is for a precharge."""
    bs[c, q, B_NBT] = 0
    cs[c, C_DUE] |= np.int64(1) << q
    bs[c, q, B_HITC] = 0
    ks[c, rank, K_NOPEN] += 1
    if ks[c, rank, K_NOPEN] == 1:
        ks[c, rank, K_SINCE] = t
    bs[c, q, B_TACT] = _mx(bs[c, q, B_TACT], t + trc)
    bs[c, q, B_TRD] = _mx(bs[c, q, B_TRD], t + trcd)
    bs[c, q, B_TWR] = _mx(bs[c, q, B_TWR], t + trcd)
    bs[c, q, B_TPRE] = _mx(bs[c, q, B_TPRE], t + tras)
    gs[c, grp, G_ACT] = _mx(gs[c, grp, G_ACT], t + trrd_l)
    ks[c, rank, K_ACT] = _mx(ks[c, rank, K_ACT], t + trrd_s)
    ks[c, rank, K_FAW + ks[c, rank, K_FAWI]] = t
    ks[c, rank, K_FAWI] = (ks[c, rank, K_FAWI] + 1) & 3


@numba.njit(cache=True, inline="always")
def _read_issued(
    c: int,
    q: int,
    rank: int,
    grp: int,
    t: int,
    nranks: int,
    rtp: int,
    rtrl: int,
    rtrs: int,
    rtw: int,
    rtro: int,
    rtwo: int,
    bs: np.ndarray,
    gs: np.ndarray,
    ks: np.ndarray,
) -> None:
    """Bank, bank-group and rank timing after a READ at clock `t` (same rank and the others)."""
    bs[c, q, B_TPRE] = _mx(bs[c, q, B_TPRE], t + rtp)
    gs[c, grp, G_RD] = _mx(gs[c, grp, G_RD], t + rtrl)
    ks[c, rank, K_RD] = _mx(ks[c, rank, K_RD], t + rtrs)
    ks[c, rank, K_WR] = _mx(ks[c, rank, K_WR], t + rtw)
    for o in range(nranks):
        if o != rank:
            ks[c, o, K_RD] = _mx(ks[c, o, K_RD], t + rtro)
            ks[c, o, K_WR] = _mx(ks[c, o, K_WR], t + rtwo)


# the pending-line table: one row per slot (key, pending reads, pending writes, merged-read
# chain), so a look-up touches one cache line instead of one per field
H_KEY, H_READS, H_WRITES, H_CHAIN = 0, 1, 2, 3


@numba.njit(cache=True, inline="always")
def _h_slot(tab: np.ndarray, line: int) -> int:
    """The slot holding `line` in the open-addressing table, or the empty slot where it goes."""
    mask = tab.shape[0] - 1
    i = _home(line, mask)
    while tab[i, H_KEY] != -1 and tab[i, H_KEY] != line:
        i = (i + 1) & mask
    return i


@numba.njit(cache=True, inline="always")
def _h_find(tab: np.ndarray, line: int) -> int:
    """Slot of `line` in the table, or -1."""
    i = _h_slot(tab, line)
    return i if tab[i, H_KEY] == line else -1


@numba.njit(cache=True, inline="always")
def _h_update(tab: np.ndarray, i: int, line: int, d_read: int, d_write: int) -> None:
    """Add to the pending read/write counts of `line`, at its slot `i` (from _h_slot: one probe
    per update); drop the entry when both reach zero. H_CHAIN: the last read merged into the
    line's pending read (-1: none; a new entry starts with none)."""
    mask = tab.shape[0] - 1
    if tab[i, H_KEY] == -1:
        tab[i, H_KEY] = line
        tab[i, H_READS] = 0
        tab[i, H_WRITES] = 0
        tab[i, H_CHAIN] = -1
    tab[i, H_READS] += d_read
    tab[i, H_WRITES] += d_write
    if tab[i, H_READS] == 0 and tab[i, H_WRITES] == 0:  # delete with backward shift
        j = i
        while True:
            j = (j + 1) & mask
            if tab[j, H_KEY] == -1:
                break
            k = _home(tab[j, H_KEY], mask)
            if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
                continue
            for f in range(4):
                tab[i, f] = tab[j, f]
            i = j
        tab[i, H_KEY] = -1


@numba.njit(cache=True)
def mark_repeated_reads(lines: np.ndarray, writes: np.ndarray, marks: np.ndarray) -> bool:
    """marks[i] = True for every read whose line another read of the trace also reads (only
    those can meet a pending entry of their line, so only they need the controller's line
    table; the controller passes all-False `writes` for a trace with writes, so that every
    request of a line read or written more than once is marked); returns whether there is
    any. marks must be all False on entry.
    When more than an eighth of the reads are candidates (below), all candidates are marked
    (a superset: a marked read that never meets its line again changes nothing).

    Strictly monotonic read lines (sequential streams) answer in one pass. Otherwise a filter
    first: a bitmap of 16 bits per read marks hash values seen twice (a megabyte per 500,000
    reads, cache-resident, where an exact map of every line was 16 MB and 35 ms), which leaves
    the reads of repeated lines and ~6% others as candidates; an exact map over the candidates
    only decides."""
    n = lines.shape[0]
    up = True
    down = True
    prev = -1
    have = False
    for i in range(n):
        if writes[i]:
            continue
        x = lines[i]
        if have:
            if x <= prev:
                up = False
            if x >= prev:
                down = False
            if not (up or down):
                break
        prev = x
        have = True
    if up or down:
        return False
    nbits = 1024
    while nbits < 16 * n:
        nbits *= 2
    bmask = nbits - 1
    seen = np.zeros(nbits >> 6, np.int64)
    twice = np.zeros(nbits >> 6, np.int64)
    for i in range(n):
        if not writes[i]:
            h = _home(lines[i], bmask)
            bit = np.int64(1) << (h & 63)
            if seen[h >> 6] & bit:
                twice[h >> 6] |= bit
            else:
                seen[h >> 6] |= bit
    count = 0
    for i in range(n):
        if not writes[i]:
            h = _home(lines[i], bmask)
            if twice[h >> 6] & (np.int64(1) << (h & 63)):
                count += 1
    if count == 0:
        return False
    if 8 * count > n:
        # mostly true repeats (a stream that re-reads its lines): an exact map over them would
        # cost what the filter saved, and a false mark only costs a table look-up (never a
        # merge, which needs the same line), so every candidate is marked
        for i in range(n):
            if not writes[i]:
                h = _home(lines[i], bmask)
                if twice[h >> 6] & (np.int64(1) << (h & 63)):
                    marks[i] = True
        return True
    cand = np.empty(count, np.int64)
    count = 0
    for i in range(n):
        if not writes[i]:
            h = _home(lines[i], bmask)
            if twice[h >> 6] & (np.int64(1) << (h & 63)):
                cand[count] = i
                count += 1
    size = 64
    while size < 2 * count:
        size *= 2
    mask = size - 1
    keys = np.full(size, -1, np.int64)
    first = np.empty(size, np.int64)
    found = False
    for c in range(count):
        i = cand[c]
        x = lines[i]
        j = ((x * _HASH_MUL) >> 7) & mask  # other bits than the filter's, which all collide here
        while keys[j] != -1 and keys[j] != x:
            j = (j + 1) & mask
        if keys[j] == x:
            marks[i] = True
            marks[first[j]] = True
            found = True
        else:
            keys[j] = x
            first[j] = i
    return found


@numba.njit(cache=True)
def _drain_waits_for_queued_read(
    c: int,
    cs: np.ndarray,
    tqf: np.ndarray,
    tq_head: np.ndarray,
    tq_len: np.ndarray,
    req_line: np.ndarray,
    htab: np.ndarray,
    tcap: int,
) -> bool:
    """Whether the write a drain would move first (the oldest whose bank's command queue has
    room) waits for a read of its line that is still in the read queue. DRAMsim3 then stops the
    drain at that write at every clock and, while the drain condition holds, never moves the read
    (a deadlock); this model does not start the drain, so reads move until that read has left
    the read queue."""
    movable = cs[c, C_TQH + 1] & cs[c, C_ROOM]
    if movable == 0 or htab.shape[0] == 1:
        return False
    best = -1
    q = -1
    while movable != 0:
        b = _ctz(movable)
        movable &= movable - 1
        r = tqf[c, 1, b, tq_head[c, 1, b]]
        if best < 0 or r < best:
            best = r
            q = b
    line = req_line[best]
    h = _h_find(htab, line)
    if h < 0 or htab[h, H_READS] == 0:
        return False
    for e in range(tq_len[c, 0, q]):  # a read of the line is in the same bank's read FIFO
        slot = tq_head[c, 0, q] + e
        if req_line[tqf[c, 0, q, slot - tcap if slot >= tcap else slot]] == line:
            return True
    return False


@numba.njit(cache=True)
def _heap_push(heap: np.ndarray, size: int, value: int) -> int:
    i = size
    heap[i] = value
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@numba.njit(cache=True)
def _heap_pop(heap: np.ndarray, size: int) -> int:
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        small = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            small = left + 1
        if heap[i] <= heap[small]:
            break
        heap[i], heap[small] = heap[small], heap[i]
        i = small
    return size


def _make_steady(writes: bool):
    """The steady fast path compiled for traces with writes (`writes`) or without: numba
    takes the closure's `writes` as a constant, so the read-only loop carries none of the write
    buffer's checks (they cost a read stream 20-25% when tested at run time, measured)."""

    @numba.njit(cache=True)
    def _steady_reads(
        clk: int,
        horizon: int,
        cs: np.ndarray,
        bs: np.ndarray,
        gs: np.ndarray,
        ks: np.ndarray,
        tqf: np.ndarray,
        tq_head: np.ndarray,
        tq_len: np.ndarray,
        cq: np.ndarray,
        bank_rank: np.ndarray,
        bank_grp: np.ndarray,
        req_ch: np.ndarray,
        req_bank: np.ndarray,
        req_row: np.ndarray,
        req_arrival: np.ndarray,
        avail: np.ndarray,
        added: np.ndarray,
        done: np.ndarray,
        port_next: np.ndarray,
        port_interval: float,
        nxt: int,
        rqcap: int,
        read_delay: int,
        tv: np.ndarray,
        stats: np.ndarray,
        crd: np.ndarray,
        cmv: np.ndarray,
        brd: np.ndarray,
        track: bool,
        rep: np.ndarray,
        req_line: np.ndarray,
        htab: np.ndarray,
        mlink: np.ndarray,
        req_write: np.ndarray,
        wqcap: int,
        write_delay: int,
    ) -> tuple[int, int, int, int, int, int, int, int, int, int]:
        """The batched fast path for a steady stream: the general scheduler's decisions from
        clock `clk` up to (not including) `horizon`, in a tight loop, for every channel.

        The caller guarantees, at `clk`: no cap on outstanding requests, open page, no refresh
        pending in any channel and none due before `horizon`. Then a bank's next command is ACT if
        closed (the row of its head: tRC/tRP, tRRD_L, tRRD_S, tFAW); if open, PRE when the general
        rule allows it (the head misses the open row and no queued request hits it or the row
        served row_hit_cap column commands; tRAS, tRTP, write recovery), else READ or WRITE of the
        first queued hit whose command is ready (tRCD, the group's and the rank's column bounds,
        which hold the read/write turnaround), PRE first when both are ready. Each clock is, per
        channel (the channels share nothing but the requester, which runs after all of them, as in
        a general loop iteration): the first ready bank in round-robin order issues; with dual
        issue the scan runs again from that bank, moves the round-robin pointer to the first ready
        bank it finds and issues its command only if it uses the other (row or column) bus; the
        write drain starts or stops as the general visit decides it (watermarks, the idle rule,
        the wait for a queued read of the first write's line); one transaction moves (the oldest
        of the drained kind whose bank's queue has room, once it crossed the port; a drain that
        meets a write whose line has a pending read stops and moves nothing); then the requester
        fills the freed queue slots in trace order (a request for a full queue holds back the
        later ones). This loop jumps from one such clock to the next: each channel keeps the clock
        of its next possible command (`crd`, from per-bank ready clocks `brd`) and move (`cmv`,
        lowered when the requester queues a transaction that becomes the oldest movable one, or a
        write after which the drain rule holds, and set to the next clock when the drain may
        start or stopped), recomputed only after a clock at which it was processed, and a clock
        processes only the channels due then (an early time only costs a visit that changes
        nothing). It stops after the clock that accepted the trace's last request, before
        `horizon`, and (when `tv` asks for READs per ACT) once rows change too often.

        The timing fields, queues, round-robin pointers, drain state, pending-line table and
        per-request times are updated exactly as the general visit updates them; the look-ahead
        caches (due masks, wheel, per-bank bounds) are reset for every bank touched, as a visit
        does. Returns (next clock to simulate, nxt, READs issued, READ row hits, ACTs issued, PREs
        issued, rank-active clocks closed, clocks simulated, WRITEs issued, WRITE row hits);
        clocks simulated 0 means nothing happened before `horizon` and nothing was changed. tv:
        tRTP, the read-to-read gaps in the group, in the rank and across ranks, read to write in
        the rank and across ranks, number of ranks, command-queue depth, transaction FIFO size,
        tFAW, tRC, tRCD, tRAS, tRRD_L, tRRD_S, dual issue (0/1), row_hit_cap, tRP, READs per ACT
        (P_STEADY), write to precharge, write to read in the group, in the rank and across ranks,
        write to write in the group, in the rank and across ranks, the drain's high, idle and low
        watermarks. crd, cmv: work arrays of one entry per channel; brd: one per bank. track:
        whether the trace uses the pending-line table `htab` (with the merged-read links `mlink`,
        length n) for the requests marked in `rep` (lines the trace reads or writes more than
        once); as the general requester and READ/WRITE: a read of a
        line whose write is pending is served from the write buffer and a second write merges
        (both complete next clock), a read of a line whose read is pending (accepted, its READ
        not issued) merges into it (no queue slot, no port crossing; the queue must still have
        room) and completes with that READ's data. Compiled twice (`_make_steady`): with `writes`
        False the write buffer's code is folded away (a read-only trace)."""
        nch = cs.shape[0]
        n = req_bank.shape[0]
        pv_rtp = tv[0]
        pv_rtrl = tv[1]
        pv_rtrs = tv[2]
        pv_rtro = tv[3]
        pv_rtw = tv[4]
        pv_rtwo = tv[5]
        nranks = tv[6]
        cqcap = tv[7]
        tcap = tv[8]
        pv_tfaw = tv[9]
        pv_trc = tv[10]
        pv_trcd = tv[11]
        pv_tras = tv[12]
        pv_trrd_l = tv[13]
        pv_trrd_s = tv[14]
        dual = tv[15] != 0
        hit_cap = tv[16]
        pv_trp = tv[17]
        rpa = tv[18]
        pv_wtp = tv[19]
        pv_wtrl = tv[20]
        pv_wtrs = tv[21]
        pv_wtro = tv[22]
        pv_wtwl = tv[23]
        pv_wtws = tv[24]
        pv_wtwo = tv[25]
        drain_high = tv[26]
        drain_idle = tv[27]
        drain_low = tv[28]
        n_rd = 0
        n_hit = 0
        n_wr = 0
        n_wr_hit = 0
        n_act = 0
        n_pre = 0
        active = 0
        steps = 0
        eqm = np.zeros(nch, np.int64)  # per channel: the queued banks whose ready clock is crd
        colm = np.zeros(nch, np.int64)  # per channel: the banks whose ready clock is a READ's only
        # the head of every bank's transaction FIFO (FAR: empty), kept beside the FIFOs: the
        # oldest-movable scan reads one compact row instead of a head index and a FIFO slot
        # spread over the whole queue array (cache misses on many channels)
        nbk = bs.shape[1]
        thd = np.full((nch, 2, nbk), FAR, np.int64)
        for c in range(nch):
            for kd in range(2 if writes else 1):
                for b in range(nbk):
                    if tq_len[c, kd, b] > 0:
                        thd[c, kd, b] = tqf[c, kd, b, tq_head[c, kd, b]]
        for c in range(nch):
            crd[c] = -1  # not known: every channel is visited at clk (a visit may change nothing)
            cmv[c] = clk
        t = clk  # the first clock not simulated yet
        while True:
            # the next clock at which anything can happen: a channel's command or move, an arrival
            tn = FAR
            for c in range(nch):
                tn = _mn(tn, _mn(crd[c], cmv[c]))
            if nxt < n:
                if writes and req_write[nxt]:
                    if cs[req_ch[nxt], C_TQT + 1] < wqcap:
                        tn = _mn(tn, req_arrival[nxt] - 1)
                elif cs[req_ch[nxt], C_TQT] < rqcap:
                    tn = _mn(tn, req_arrival[nxt] - 1)
            tn = _mx(tn, t)
            if tn >= horizon:
                break
            t = tn
            steps += 1
            stop = False
            for c in range(nch):
                if crd[c] > t and cmv[c] > t:
                    continue  # nothing in this channel can happen at t
                # ---- command issue, then the move ----
                # brd[c, q]: the clock from which non-empty bank q has a command ready, kept from the
                # channel's last visit (only its own commands and moves change it, not time or the
                # requester; crd[c] < 0: not known yet) and recomputed for the banks in `scan`
                # before a pick and at the end: the open ones after a READ or WRITE (the group's
                # and rank's column bounds move), the closed ones after an ACT (the ACT bounds),
                # the bank itself after its own command or a move into its queue.
                scan = cs[c, C_NONEMPTY] if crd[c] < 0 else 0
                issued = False
                first_col = False
                room0 = cs[c, C_ROOM]  # the move's scan is needed only if commands free room
                drain0 = cs[c, C_DRAIN] if writes else 0
                for count in range(2 if dual else 1):
                    # the ready banks at t. With every brd current (nothing issued or moved in
                    # this channel since its last visit computed crd, the least of them, and eqm,
                    # the banks at it) they are known without a loop when t is at or before crd
                    # (most visits: a visit for a move only, or at the clock crd named); else one
                    # pass over the queued banks recomputes those in `scan` and collects the
                    # ready ones (bank passes were a third of a one-channel frame's fast-path
                    # time, perf-measured)
                    if scan == 0 and count == 0 and crd[c] >= t:
                        mask = eqm[c] if crd[c] == t else 0
                    else:
                        mask = 0
                        m = cs[c, C_NONEMPTY]
                        while m != 0:
                            q = _ctz(m)
                            m &= m - 1
                            if (scan >> q) & 1:
                                # the bank's ready clock (written out, here and below: a helper
                                # taking the state arrays costs reference counting at every
                                # call): ACT for a closed bank (tRC/tRP, tRRD_L, tRRD_S, tFAW);
                                # for an open one the earlier of PRE, when the general
                                # scheduler's rule allows it (the head misses the open row and no
                                # queued request hits it or the row served row_hit_cap column
                                # commands; tRAS, tRTP), and READ (WRITE) of its first queued hit
                                # (tRCD, the group's and the rank's column bounds)
                                rank = bank_rank[q]
                                g = bank_grp[q]
                                orow = bs[c, q, B_ROW]
                                colm[c] &= ~(np.int64(1) << q)
                                if orow < 0:
                                    tq = _mx(_mx(bs[c, q, B_TACT], gs[c, g, G_ACT]), ks[c, rank, K_ACT])
                                    tq = _mx(tq, ks[c, rank, K_FAW + ks[c, rank, K_FAWI]] + pv_tfaw)
                                else:
                                    hr = bs[c, q, B_HR]
                                    hw = bs[c, q, B_HW] if writes else 0
                                    tq = FAR
                                    if (hr + hw == 0 or bs[c, q, B_HITC] >= hit_cap) and req_row[
                                        cq[c, q, 0]
                                    ] != orow:
                                        tq = bs[c, q, B_TPRE]
                                    elif hw == 0:
                                        colm[c] |= np.int64(1) << q  # hr > 0 here: READ only
                                    if hr > 0:
                                        cb = _mx(bs[c, q, B_TRD], gs[c, g, G_RD])
                                        tq = _mn(tq, _mx(cb, ks[c, rank, K_RD]))
                                    if hw > 0:
                                        cb = _mx(bs[c, q, B_TWR], gs[c, g, G_WR])
                                        tq = _mn(tq, _mx(cb, ks[c, rank, K_WR]))
                                brd[c, q] = tq
                            if brd[c, q] <= t:
                                mask |= np.int64(1) << q
                    scan = 0
                    if mask == 0:
                        break
                    # the general scheduler's round-robin scan: banks above its start first
                    hi = mask & ~((np.int64(2) << cs[c, C_RR]) - 1)
                    q = _ctz(hi) if hi != 0 else _ctz(mask)
                    cs[c, C_RR] = q
                    orow = bs[c, q, B_ROW]
                    # an open bank's PRE when allowed and ready, else its READ (ready: in `mask`)
                    pre = (
                        orow >= 0
                        and bs[c, q, B_TPRE] <= t
                        and (
                            bs[c, q, B_HR] + (bs[c, q, B_HW] if writes else 0) == 0
                            or bs[c, q, B_HITC] >= hit_cap
                        )
                        and req_row[cq[c, q, 0]] != orow
                    )
                    col = orow >= 0 and not pre
                    if count == 1 and col == first_col:
                        break  # a second command must use the other (row or column) command bus
                    first_col = col
                    issued = True
                    rank = bank_rank[q]
                    grp = bank_grp[q]
                    if pre:
                        active += _close_row(c, q, rank, t, pv_trp, bs, cs, ks)
                        n_pre += 1
                        scan = np.int64(1) << q
                    elif not col:  # ACT of the head's row: the queued requests to it become hits
                        r = cq[c, q, 0]
                        row = req_row[r]
                        bs[c, q, B_ROW] = row
                        cs[c, C_CLOSED] &= ~(np.int64(1) << q)
                        for e in range(bs[c, q, B_CQL]):
                            r2 = cq[c, q, e]
                            if req_row[r2] == row:
                                if writes and req_write[r2]:
                                    bs[c, q, B_HW] += 1
                                else:
                                    bs[c, q, B_HR] += 1
                        _open_row(
                            c, q, rank, grp, t, pv_trc, pv_trcd, pv_tras, pv_trrd_l, pv_trrd_s, bs, cs, gs, ks
                        )
                        n_act += 1
                        if rpa * n_act > n_rd + n_wr + STEADY_GRACE:
                            stop = True  # rows change too often: the general scheduler is cheaper
                        # an ACT moves the ACT bounds only (tRRD, tFAW): the closed banks' clocks
                        # and its own change, an open bank's READ/WRITE/PRE clock does not
                        scan = (cs[c, C_NONEMPTY] & cs[c, C_CLOSED]) | (np.int64(1) << q)
                    else:  # READ or WRITE of the first queued hit whose command is ready
                        ln = bs[c, q, B_CQL]
                        fe = 0
                        if writes:
                            rd_ok = (
                                bs[c, q, B_HR] > 0
                                and _mx(_mx(bs[c, q, B_TRD], gs[c, grp, G_RD]), ks[c, rank, K_RD]) <= t
                            )
                            wr_ok = (
                                bs[c, q, B_HW] > 0
                                and _mx(_mx(bs[c, q, B_TWR], gs[c, grp, G_WR]), ks[c, rank, K_WR]) <= t
                            )
                            while True:  # as the general check: queue order, a hit of a ready kind
                                r = cq[c, q, fe]
                                if req_row[r] == orow and (wr_ok if req_write[r] else rd_ok):
                                    break
                                fe += 1
                        else:  # reads only: the bank is ready, so its first queued hit is
                            while req_row[cq[c, q, fe]] != orow:
                                fe += 1
                            r = cq[c, q, fe]
                        for e in range(fe, ln - 1):
                            cq[c, q, e] = cq[c, q, e + 1]
                        bs[c, q, B_CQL] = ln - 1
                        bs[c, q, B_NBT] = 0
                        cs[c, C_DUE] |= np.int64(1) << q
                        cs[c, C_ROOM] |= np.int64(1) << q
                        if ln == 1:
                            cs[c, C_NONEMPTY] &= ~(np.int64(1) << q)
                        cs[c, C_CQT] -= 1
                        if writes and req_write[r]:
                            bs[c, q, B_CQW] -= 1
                            bs[c, q, B_HW] -= 1
                            if bs[c, q, B_HITC] > 0:
                                n_wr_hit += 1
                            bs[c, q, B_HITC] += 1
                            n_wr += 1
                            done[r] = t + write_delay
                            if track and rep[r]:  # the line's write is no longer pending
                                h = _h_slot(htab, req_line[r])
                                _h_update(htab, h, req_line[r], 0, -1)
                            # WRITE timing, as the general scheduler's (written out: see above)
                            bs[c, q, B_TPRE] = _mx(bs[c, q, B_TPRE], t + pv_wtp)
                            gs[c, grp, G_RD] = _mx(gs[c, grp, G_RD], t + pv_wtrl)
                            gs[c, grp, G_WR] = _mx(gs[c, grp, G_WR], t + pv_wtwl)
                            ks[c, rank, K_RD] = _mx(ks[c, rank, K_RD], t + pv_wtrs)
                            ks[c, rank, K_WR] = _mx(ks[c, rank, K_WR], t + pv_wtws)
                            for o in range(nranks):
                                if o != rank:
                                    ks[c, o, K_RD] = _mx(ks[c, o, K_RD], t + pv_wtro)
                                    ks[c, o, K_WR] = _mx(ks[c, o, K_WR], t + pv_wtwo)
                        else:
                            bs[c, q, B_HR] -= 1
                            if bs[c, q, B_HITC] > 0:
                                n_hit += 1
                            bs[c, q, B_HITC] += 1
                            n_rd += 1
                            done[r] = t + read_delay
                            if track and rep[r]:
                                # the pending-line table, as the general READ keeps it: the reads
                                # merged into this one return with its data, and the line is no
                                # longer pending
                                h = _h_slot(htab, req_line[r])
                                m = htab[h, H_CHAIN]
                                htab[h, H_CHAIN] = -1
                                while m >= 0:
                                    done[m] = t + read_delay
                                    m = mlink[m]
                                _h_update(htab, h, req_line[r], -1, 0)
                            _read_issued(
                                c,
                                q,
                                rank,
                                grp,
                                t,
                                nranks,
                                pv_rtp,
                                pv_rtrl,
                                pv_rtrs,
                                pv_rtw,
                                pv_rtro,
                                pv_rtwo,
                                bs,
                                gs,
                                ks,
                            )
                        # a READ or WRITE moves the column bounds (and its own bank's PRE clock):
                        # the open banks' clocks change, a closed bank's ACT clock does not
                        # (with the visit's other pass savings: the DDR4 frame 1.13x, measured)
                        scan = (cs[c, C_NONEMPTY] & ~cs[c, C_CLOSED]) | (np.int64(1) << q)
                        if not (writes and req_write[r]):
                            # a bank whose clock is its READ alone (colm: a read hit, no write
                            # hit, no PRE allowed) gets the READ's new group and rank bounds
                            # folded in (max distributes over its clock's terms), not a recompute
                            m = colm[c] & scan & ~(np.int64(1) << q)
                            scan &= ~m
                            while m != 0:
                                q2 = _ctz(m)
                                m &= m - 1
                                if bank_rank[q2] != rank:
                                    bnd = t + pv_rtro
                                elif bank_grp[q2] == grp:
                                    bnd = t + _mx(pv_rtrl, pv_rtrs)
                                else:
                                    bnd = t + pv_rtrs
                                brd[c, q2] = _mx(brd[c, q2], bnd)
                # ---- move one transaction to its bank's command queue, as the general visit ----
                # the write drain starts (after the clock's commands) when the buffer reaches the
                # high watermark, or holds more than the idle threshold while every command queue is
                # empty; the end-of-trace flush cannot arise here (the fast path stops at the last
                # acceptance) but is kept in the rule for equality with the general visit
                wq = cs[c, C_TQT + 1]
                if (
                    writes
                    and cs[c, C_DRAIN] == 0
                    and wq > 0
                    and (
                        wq >= drain_high
                        or (cs[c, C_CQT] == 0 and (wq > drain_idle or (nxt >= n and cs[c, C_TQT] == 0)))
                    )
                    and not _drain_waits_for_queued_read(c, cs, tqf, tq_head, tq_len, req_line, htab, tcap)
                ):
                    cs[c, C_DRAIN] = _mx(1, wq - drain_low)
                kind = 1 if writes and cs[c, C_DRAIN] > 0 else 0
                # cmv[c] is a lower bound of the next move's clock (the port clock of the oldest
                # movable transaction, lowered by the requester); while it lies ahead, only a
                # command that freed room in a bank with a waiting transaction (which may be
                # older) or a drain that started (the other kind) can bring a move forward: else
                # no move at t and the bound holds, so the scan (and its port-clock load) is
                # skipped (a visit for a command only)
                if (
                    cmv[c] > t
                    and (cs[c, C_ROOM] & ~room0 & cs[c, C_TQH + kind]) == 0
                    and (not writes or cs[c, C_DRAIN] == drain0)
                ):
                    movable = 0
                else:
                    cmv[c] = FAR
                    movable = cs[c, C_TQH + kind] & cs[c, C_ROOM]
                if movable != 0:
                    # the oldest movable transaction, and the oldest of the other banks (the next
                    # move's candidate besides this bank's next one: a move changes only its own
                    # bank's FIFO and room)
                    # (branch-free, as the compact heads `thd` are read: on 32 HBM2 channels the
                    # scan was 18% of the fast path, its loads spread over the FIFO array)
                    oldest = FAR
                    second = FAR
                    while movable != 0:
                        b = _ctz(movable)
                        movable &= movable - 1
                        r = thd[c, kind, b]
                        second = _mn(second, _mx(r, oldest))
                        oldest = _mn(r, oldest)
                    q = req_bank[oldest]
                    moves = True
                    if avail[oldest] > t:
                        cmv[c] = avail[oldest]  # the oldest movable one's port clock
                        moves = False
                    elif writes and kind == 1:
                        h = _h_find(htab, req_line[oldest])
                        if h >= 0 and htab[h, H_READS] > 0:
                            # a pending read of the write's line goes first: the drain stops and
                            # nothing moves in this clock; the next clock may start the drain again
                            # or move a read, as the general visit (which looks again next clock)
                            cs[c, C_DRAIN] = 0
                            cmv[c] = t + 1
                            moves = False
                    if moves:
                        h = tq_head[c, kind, q] + 1
                        tq_head[c, kind, q] = 0 if h == tcap else h
                        tq_len[c, kind, q] -= 1
                        if tq_len[c, kind, q] == 0:
                            cs[c, C_TQH + kind] &= ~(np.int64(1) << q)
                            thd[c, kind, q] = FAR
                        else:
                            thd[c, kind, q] = tqf[c, kind, q, tq_head[c, kind, q]]
                        cs[c, C_TQT + kind] -= 1
                        ln = bs[c, q, B_CQL]
                        if req_row[oldest] == bs[c, q, B_ROW]:
                            if kind == 1:
                                bs[c, q, B_HW] += 1
                            else:
                                bs[c, q, B_HR] += 1
                        cq[c, q, ln] = oldest
                        bs[c, q, B_CQL] = ln + 1
                        if ln + 1 == cqcap:
                            cs[c, C_ROOM] &= ~(np.int64(1) << q)
                        if kind == 1:
                            bs[c, q, B_CQW] += 1
                            cs[c, C_DRAIN] -= 1
                            if cs[c, C_TQT + 1] == 0:
                                cs[c, C_DRAIN] = 0
                        cs[c, C_NONEMPTY] |= np.int64(1) << q
                        bs[c, q, B_NBT] = 0
                        cs[c, C_DUE] |= np.int64(1) << q
                        cs[c, C_CQT] += 1
                        scan |= np.int64(1) << q
                        # the next move: the oldest movable transaction left (of the kind the drain
                        # state now picks): the other banks' oldest found above, or this bank's next
                        kind2 = 1 if writes and cs[c, C_DRAIN] > 0 else 0
                        if kind2 == kind:
                            if ((cs[c, C_TQH + kind] & cs[c, C_ROOM]) >> q) & 1:
                                second = _mn(second, thd[c, kind, q])
                            if second < FAR:
                                cmv[c] = avail[second]
                        else:  # the drain started or ended: a scan of the other kind
                            movable = cs[c, C_TQH + kind2] & cs[c, C_ROOM]
                            if movable != 0:
                                oldest = -1
                                while movable != 0:
                                    b = _ctz(movable)
                                    movable &= movable - 1
                                    r = thd[c, kind2, b]
                                    if oldest < 0 or r < oldest:
                                        oldest = r
                                cmv[c] = avail[oldest]
                # the drain may start next clock (its condition only changes at this channel's
                # clocks and when the requester adds a write, which lowers cmv itself)
                wq = cs[c, C_TQT + 1]
                if (
                    writes
                    and cs[c, C_DRAIN] == 0
                    and wq > 0
                    and (
                        wq >= drain_high
                        or (cs[c, C_CQT] == 0 and (wq > drain_idle or (nxt >= n and cs[c, C_TQT] == 0)))
                    )
                ):
                    cmv[c] = _mn(cmv[c], t + 1)
                # ---- the channel's next possible command, from the state this clock left ----
                # crd: the least ready clock of the queued banks, eqm: the banks at it
                m = scan & cs[c, C_NONEMPTY]
                moved = m if not issued and crd[c] >= 0 and m != 0 and (m & (m - 1)) == 0 else 0
                while m != 0:  # as in the issue loop above
                    q = _ctz(m)
                    m &= m - 1
                    rank = bank_rank[q]
                    orow = bs[c, q, B_ROW]
                    colm[c] &= ~(np.int64(1) << q)
                    if orow < 0:
                        tq = _mx(_mx(bs[c, q, B_TACT], gs[c, bank_grp[q], G_ACT]), ks[c, rank, K_ACT])
                        tq = _mx(tq, ks[c, rank, K_FAW + ks[c, rank, K_FAWI]] + pv_tfaw)
                    else:
                        hr = bs[c, q, B_HR]
                        hw = bs[c, q, B_HW] if writes else 0
                        tq = FAR
                        if (hr + hw == 0 or bs[c, q, B_HITC] >= hit_cap) and req_row[cq[c, q, 0]] != orow:
                            tq = bs[c, q, B_TPRE]
                        elif hw == 0:
                            colm[c] |= np.int64(1) << q  # hr > 0 here: READ only
                        if hr > 0:
                            tq = _mn(
                                tq, _mx(_mx(bs[c, q, B_TRD], gs[c, bank_grp[q], G_RD]), ks[c, rank, K_RD])
                            )
                        if hw > 0:
                            tq = _mn(
                                tq, _mx(_mx(bs[c, q, B_TWR], gs[c, bank_grp[q], G_WR]), ks[c, rank, K_WR])
                            )
                    brd[c, q] = tq
                if moved != 0 and eqm[c] != moved:
                    # a move only (no command): the other banks' clocks and their least are as
                    # the last visit left them, so the moved bank's clock is folded in (unless
                    # it alone held the least: its clock may grow, a queued hit stops its PRE)
                    ready = crd[c]
                    eq = eqm[c] & ~moved
                    m = moved
                else:
                    ready = FAR
                    eq = 0
                    m = cs[c, C_NONEMPTY]
                while m != 0:
                    q = _ctz(m)
                    m &= m - 1
                    b = brd[c, q]
                    if b < ready:
                        ready = b
                        eq = np.int64(1) << q
                    elif b == ready:
                        eq |= np.int64(1) << q
                crd[c] = ready
                eqm[c] = eq
            # ---- the requester offers requests after this clock ----
            now = t + 1
            while nxt < n:
                c = req_ch[nxt]
                kind = 1 if writes and req_write[nxt] else 0
                if req_arrival[nxt] > now or cs[c, C_TQT + kind] >= (wqcap if kind else rqcap):
                    break
                if track and rep[nxt]:
                    # the pending-line table, as the general requester keeps it: a read of a line
                    # with a write pending is served from the write buffer and a write to it merges
                    # (both complete next clock); a read of a line whose read is pending merges into
                    # it (no queue slot, no port crossing, completed by that READ); else the request
                    # becomes pending for its line
                    h = _h_slot(htab, req_line[nxt])
                    known = htab[h, H_KEY] == req_line[nxt]
                    if writes and known and htab[h, H_WRITES] > 0:
                        added[nxt] = now
                        done[nxt] = now + 1
                        nxt += 1
                        if nxt == n:
                            stats[S_LAST_ACCEPT] = now
                            stop = True
                        continue
                    if known and kind == 0 and htab[h, H_READS] > 0:
                        mlink[nxt] = htab[h, H_CHAIN]
                        htab[h, H_CHAIN] = nxt
                        added[nxt] = now
                        done[nxt] = -1
                        nxt += 1
                        if nxt == n:
                            stats[S_LAST_ACCEPT] = now
                            stop = True
                        continue
                    _h_update(htab, h, req_line[nxt], 1 - kind, kind)
                q = req_bank[nxt]
                slot = tq_head[c, kind, q] + tq_len[c, kind, q]
                tqf[c, kind, q, slot - tcap if slot >= tcap else slot] = nxt
                tq_len[c, kind, q] += 1
                if tq_len[c, kind, q] == 1:
                    thd[c, kind, q] = nxt
                cs[c, C_TQH + kind] |= np.int64(1) << q
                cs[c, C_TQT + kind] += 1
                added[nxt] = now
                if port_interval > 0.0:
                    pstart = port_next[c] if port_next[c] > now else float(now)
                    avail[nxt] = np.int64(np.ceil(pstart))
                    port_next[c] = pstart + port_interval
                else:
                    avail[nxt] = 0
                if kind == 1:
                    done[nxt] = -1
                    wq = cs[c, C_TQT + 1]
                    if cs[c, C_DRAIN] == 0:
                        # the drain rule counts the buffer: it may start at the next clock (the
                        # end-of-trace flush cannot: the fast path stops at the last acceptance)
                        if wq >= drain_high or (cs[c, C_CQT] == 0 and wq > drain_idle):
                            cmv[c] = _mn(cmv[c], now)
                    elif tq_len[c, 1, q] == 1 and (cs[c, C_ROOM] >> q) & 1:
                        # draining: the head of its bank's FIFO and movable, as a read below
                        cmv[c] = _mn(cmv[c], avail[nxt])
                elif tq_len[c, 0, q] == 1 and (cs[c, C_ROOM] >> q) & 1:
                    # the head of its bank's FIFO and movable: it moves no later than this (an older
                    # movable one moves first, no later either: the port delivers in order)
                    cmv[c] = _mn(cmv[c], avail[nxt])
                nxt += 1
                if nxt == n:
                    stats[S_LAST_ACCEPT] = now
                    stop = True  # the caller records the command count at the last acceptance
            t += 1
            if stop:
                break
        return t, nxt, n_rd, n_hit, n_act, n_pre, active, steps, n_wr, n_wr_hit

    return _steady_reads


_steady_reads = _make_steady(False)  # read-only traces
_steady_rw = _make_steady(True)  # traces with writes


@numba.njit(cache=True, error_model="numpy")
def simulate(
    p: np.ndarray,
    req_ch: np.ndarray,
    req_bank: np.ndarray,
    req_row: np.ndarray,
    req_write: np.ndarray,
    req_line: np.ndarray,
    req_arrival: np.ndarray,
    port_interval: float,
    added: np.ndarray,
    done: np.ndarray,
    stats: np.ndarray,
    avail: np.ndarray | None = None,
) -> None:
    """Run the trace to completion; fill added/done (cycles) per request and `stats`.

    req_bank is the bank's index within its channel: (rank * bank_groups + bank_group) *
    banks_per_group + bank. Requests are offered in order; one that cannot be accepted (queue
    full, not yet arrived, too many outstanding) holds back all later ones. port_interval > 0:
    clocks per burst of the FPGA-side port of a channel; a queued transaction is scheduled only
    once the port has carried it. avail: a work array of at least n entries (each request's port
    clock; default a fresh one: its pages, faulted in during the run, were ~10% of a level-2
    frame replay's controller time, so `traffic` passes a reused one).
    """
    n = req_ch.shape[0]
    # an if statement, not a ternary: numba prunes the branch of an omitted argument only there
    if avail is None:  # noqa: SIM108
        work = np.empty(n, np.int64)
    else:
        work = avail
    simulate_into(
        p,
        req_ch,
        req_bank,
        req_row,
        req_write,
        req_line,
        req_arrival,
        port_interval,
        added,
        done,
        stats,
        work,
    )


@numba.njit(cache=True, error_model="numpy")
def simulate_into(
    p: np.ndarray,
    req_ch: np.ndarray,
    req_bank: np.ndarray,
    req_row: np.ndarray,
    req_write: np.ndarray,
    req_line: np.ndarray,
    req_arrival: np.ndarray,
    port_interval: float,
    added: np.ndarray,
    done: np.ndarray,
    stats: np.ndarray,
    avail: np.ndarray,
) -> None:
    """`simulate` with its per-request work array `avail` given (any contents, at least as long
    as the trace): a caller that runs many traces reuses it instead of faulting in fresh pages
    each time."""
    n = req_ch.shape[0]
    nch = p[P_CHANNELS]
    nranks = p[P_RANKS]
    nbgs = p[P_BGS]
    bpg = p[P_BPG]
    banks_per_rank = nbgs * bpg
    nb = nranks * banks_per_rank
    rqcap = p[P_RQ]
    wqcap = p[P_WQ]
    cqcap = p[P_CQ]
    trfc = p[P_TRFC]
    ref_mode = p[P_REF_MODE]
    ref_interval = p[P_REF_INTERVAL]
    hit_cap = p[P_HIT_CAP]
    closed_page = p[P_CLOSED_PAGE] != 0
    dual = p[P_DUAL] != 0
    max_out = p[P_MAX_OUT]
    read_delay = p[P_READ_DELAY]
    write_delay = p[P_WRITE_DELAY]

    # packed state (the C_*, B_*, G_*, K_* fields above)
    all_banks = (np.int64(1) << nb) - 1
    cs = np.zeros((nch, C_NFIELDS), np.int64)
    cs[:, C_DUE] = all_banks
    cs[:, C_ROOM] = all_banks
    cs[:, C_CLOSED] = all_banks
    cs[:, C_FARMIN] = FAR
    bs = np.zeros((nch, nb, B_NFIELDS), np.int64)
    bs[:, :, B_ROW] = -1
    gs = np.zeros((nch, nranks * nbgs, G_NFIELDS), np.int64)
    ks = np.zeros((nch, nranks, K_NFIELDS), np.int64)
    ks[:, :, K_FAW : K_FAW + 4] = -FAR
    # transaction queues (0: reads, 1: write buffer) kept as one FIFO per bank
    tcap = _mx(rqcap, wqcap)
    tqf = np.zeros((nch, 2, nb, tcap), np.int64)
    tq_head = np.zeros((nch, 2, nb), np.int64)
    tq_len = np.zeros((nch, 2, nb), np.int64)
    cq = np.zeros((nch, nb, cqcap), np.int64)
    # queues waiting for a known clock: a 32-slot timing wheel of bank masks (waits under 32
    # clocks) and a `far` mask with its earliest time; entries may be stale (then early), never late
    wheel = np.zeros((nch, WHEEL), np.int64)
    rank_bits = (np.int64(1) << banks_per_rank) - 1
    # a bank's rank and bank group by table: an integer division per bank check cost more than
    # the rest of the check
    bank_rank = np.arange(nb) // banks_per_rank
    bank_grp = np.arange(nb) // bpg
    active_cycles = 0
    ref_q = np.zeros((nch, 64), np.int64)
    port_next = np.zeros(nch, np.float64)
    heap = np.zeros(_mx(1, max_out + 1), np.int64)
    heap_n = 0
    outstanding = 0
    for s in range(stats.shape[0]):
        stats[s] = 0

    # pending reads/writes per line: a read of a line with a write pending is served from the
    # write buffer, a second write merges, a read of a line whose read is pending merges into it
    # (as DRAMsim3's pending-read table does), a drain waits for an older read of its line. All
    # of these meet two requests of one line, so only the requests whose line the trace touches
    # more than once (read or written; marked here) use the table: a request of a line met once
    # would enter and leave it without any other request ever looking it up. A trace without
    # such lines runs without the table (a frame's level-2 trace: its few output writes used to
    # send every request through two table operations, 20-30% of its controller time).
    has_writes = False
    for i in range(n):
        if req_write[i]:
            has_writes = True
            break
    rep = np.zeros(n, np.bool_)
    # mark_repeated_reads looks at the requests its second argument does not flag as writes:
    # all of them in a trace with writes
    track = mark_repeated_reads(req_line, np.zeros(n, np.bool_) if has_writes else req_write, rep)
    hsize = 64
    while hsize < 4 * nch * (rqcap + wqcap + nb * cqcap):
        hsize *= 2
    htab = np.full((hsize if track else 1, 4), -1, np.int64)
    # merged reads: mlink[r] is the read merged before r into the same pending read (-1: none),
    # allocated at the first merge (most traces never merge)
    mlink = np.empty(0, np.int64)
    if track:
        # the steady fast path merges reads too and takes the array as it is (np.empty: pages
        # are faulted in only where merged reads are written)
        mlink = np.empty(n, np.int64)
    # parameters and statistics as locals: stores to `stats` could alias `p`, so the compiler
    # would reload every parameter after each count
    pv_drain_high = p[P_DRAIN_HIGH]
    pv_drain_idle = p[P_DRAIN_IDLE]
    pv_drain_low = p[P_DRAIN_LOW]
    pv_rtp = p[P_RTP]
    pv_rtrl = p[P_RTRL]
    pv_rtro = p[P_RTRO]
    pv_rtrs = p[P_RTRS]
    pv_rtw = p[P_RTW]
    pv_rtwo = p[P_RTWO]
    pv_tfaw = p[P_TFAW]
    pv_tras = p[P_TRAS]
    pv_trc = p[P_TRC]
    pv_trcd = p[P_TRCD]
    pv_trp = p[P_TRP]
    pv_trrd_l = p[P_TRRD_L]
    pv_trrd_s = p[P_TRRD_S]
    pv_wtp = p[P_WTP]
    pv_wtrl = p[P_WTRL]
    pv_wtro = p[P_WTRO]
    pv_wtrs = p[P_WTRS]
    pv_wtwl = p[P_WTWL]
    pv_wtwo = p[P_WTWO]
    pv_wtws = p[P_WTWS]
    n_act = 0
    n_pre = 0
    n_rd = 0
    n_wr = 0
    n_ref = 0
    n_rd_hit = 0
    n_wr_hit = 0
    n_loops = 0
    n_checks = 0
    n_chloops = 0
    n_steady = 0
    nxt = 0  # next request to offer
    last_progress = 0
    # the steady fast path (_steady_reads) applies with no outstanding cap and open page (it
    # keeps the write buffer, the drain and the pending-line table itself); a READ must block
    # the other READs of its clock
    steady = max_out <= 0 and not closed_page and pv_rtrs >= 1 and (nranks == 1 or pv_rtro >= 1)
    steady_rpa = p[P_STEADY]
    # the column-window skip (below) pays where the windows are long (DDR4: tCCD_S 4 clocks, 5
    # to the other rank): random reads and mixes 1.1-1.3x; with 2-clock windows (HBM2 BL4) it
    # saves next to nothing and its rank loop cost 0.8-0.95x on 8 HBM2 channels (measured)
    colskip = p[P_NO_COLSKIP] == 0 and _mn(pv_rtrs, pv_wtws) >= COLSKIP_MIN_WINDOW
    steady_skip = 0  # loop iterations before the fast path's conditions are checked again
    steady_backoff = 1
    steady_tv = np.array(
        [
            pv_rtp,
            pv_rtrl,
            pv_rtrs,
            pv_rtro,
            pv_rtw,
            pv_rtwo,
            nranks,
            cqcap,
            tcap,
            pv_tfaw,
            pv_trc,
            pv_trcd,
            pv_tras,
            pv_trrd_l,
            pv_trrd_s,
            1 if dual else 0,
            hit_cap,
            pv_trp,
            steady_rpa,
            pv_wtp,
            pv_wtrl,
            pv_wtrs,
            pv_wtro,
            pv_wtwl,
            pv_wtws,
            pv_wtwo,
            pv_drain_high,
            pv_drain_idle,
            pv_drain_low,
        ],
        np.int64,
    )
    steady_crd = np.zeros(nch, np.int64)  # the fast path's next command / move per channel
    steady_cmv = np.zeros(nch, np.int64)
    steady_brd = np.zeros((nch, nb), np.int64)  # its per-bank ready clocks
    # Per channel, bank masks for skipping banks blocked by their rank's column window (the
    # general scheduler's bank scan): H_RD / H_WR bit q: bank q's queue holds a read / write that
    # hits its open row (B_HR / B_HW > 0); H_CAP: its row served row_hit_cap column commands
    # (B_HITC >= hit_cap). A bank with hits whose row is not capped cannot PRE, so all it can
    # issue is a column command: while its rank's READ (WRITE) window is shut, it is skipped
    # without a check, as closed banks are while the ACT window is shut. The steady fast path
    # changes the counts without these masks: they are rebuilt when it ran (hm_steady).
    hm = np.zeros((nch, 3), np.int64)
    if hit_cap <= 0:
        hm[:, HM_CAP] = all_banks
    hm_steady = 0
    clk = -1  # a clock before the first: the requester's first offers enter at clock 0
    next_ref_tick = ref_interval if ref_mode != REF_NONE else FAR
    while True:
        progress = False
        wake = FAR
        # refresh timer: queue a refresh for the next rank (or bank) of every channel
        if clk >= next_ref_tick:
            for c in range(nch):
                if cs[c, C_REFL] < 64:
                    ref_q[c, (cs[c, C_REFH] + cs[c, C_REFL]) % 64] = cs[c, C_REFN]
                    cs[c, C_REFL] += 1
                if ref_mode == REF_ALL_BANK:
                    cs[c, C_REFN] = (cs[c, C_REFN] + 1) % nranks
                else:
                    cs[c, C_REFN] = (cs[c, C_REFN] + 1) % nb
            next_ref_tick += ref_interval
            progress = True
            for c in range(nch):
                cs[c, C_WAKE] = 0
        if steady and steady_skip > 0:
            steady_skip -= 1
        elif steady and clk < next_ref_tick:
            # No refresh pending in any channel (the fast path does not refresh). The rest is a
            # speed choice, not a condition of exactness: the fast path pays on streams, where
            # few queues wait for a PRE (a head that misses its bank's open row); on random
            # traffic, where most do, the general scheduler's look-ahead caches are cheaper.
            hits_only = True
            waiting = 0
            busy = 0
            for c in range(nch):
                if cs[c, C_REFL] != 0:
                    hits_only = False
                    break
                mask = cs[c, C_NONEMPTY] & ~cs[c, C_CLOSED]
                busy += _popcount(cs[c, C_NONEMPTY])
                while mask != 0:
                    q = _ctz(mask)
                    mask &= mask - 1
                    if req_row[cq[c, q, 0]] != bs[c, q, B_ROW]:
                        waiting += 1
            if steady_rpa > 0 and 4 * waiting > busy + 4 * nch:  # beyond one a channel, a quarter
                hits_only = False
            if not hits_only:
                steady_backoff = _mn(64, 2 * steady_backoff)
                steady_skip = steady_backoff
            else:
                # the write-capable loop only for a trace with writes (the other carries none of
                # their checks: see _make_steady)
                args = (
                    clk,
                    next_ref_tick,
                    cs,
                    bs,
                    gs,
                    ks,
                    tqf,
                    tq_head,
                    tq_len,
                    cq,
                    bank_rank,
                    bank_grp,
                    req_ch,
                    req_bank,
                    req_row,
                    req_arrival,
                    avail,
                    added,
                    done,
                    port_next,
                    port_interval,
                    nxt,
                    rqcap,
                    read_delay,
                    steady_tv,
                    stats,
                    steady_crd,
                    steady_cmv,
                    steady_brd,
                    track,
                    rep,
                    req_line,
                    htab,
                    mlink,
                    req_write,
                    wqcap,
                    write_delay,
                )
                out = _steady_rw(*args) if has_writes else _steady_reads(*args)
                t_next, nxt2, s_rd, s_hit, s_act, s_pre, s_active, s_steps, s_wr, s_wr_hit = out
                # back off while the fast path runs only a few clocks (up to 64 loop
                # iterations) or hands back because rows change too often (up to 1024: random
                # traffic), so that it costs little there
                if steady_rpa * s_act > s_rd + s_wr + STEADY_GRACE:
                    steady_backoff = _mn(1024, 2 * steady_backoff)
                    steady_skip = steady_backoff
                elif s_steps < 8:
                    steady_backoff = _mn(64, 2 * steady_backoff)
                    steady_skip = steady_backoff
                else:
                    steady_backoff = 1
                if s_steps > 0:
                    n_rd += s_rd
                    n_rd_hit += s_hit
                    n_wr += s_wr
                    n_wr_hit += s_wr_hit
                    n_act += s_act
                    n_pre += s_pre
                    active_cycles += s_active
                    if nxt2 == n and nxt < n:
                        stats[S_CMDS_AT_LAST_ACCEPT] = n_rd + n_wr
                    nxt = nxt2
                    n_steady += s_steps
                    for c in range(nch):
                        cs[c, C_WAKE] = 0  # the general scheduler looks again at t_next
                    last_progress = t_next - 1
                    clk = t_next
                    if nxt >= n:
                        # the trace may be done: the general loop ends in the iteration of the
                        # last clock simulated, before a refresh due at t_next could precharge
                        finished = True
                        for c in range(nch):
                            if cs[c, C_TQT] > 0 or cs[c, C_TQT + 1] > 0 or cs[c, C_CQT] > 0:
                                finished = False
                                break
                        if finished:
                            clk = t_next - 1
                            break
                    continue
        if colskip and hm_steady != n_steady:  # the fast path ran: rebuild the hit masks
            hm_steady = n_steady
            for c in range(nch):
                hm[c, HM_RD] = 0
                hm[c, HM_WR] = 0
                hm[c, HM_CAP] = 0
                for q in range(nb):
                    if bs[c, q, B_HR] > 0:
                        hm[c, HM_RD] |= np.int64(1) << q
                    if bs[c, q, B_HW] > 0:
                        hm[c, HM_WR] |= np.int64(1) << q
                    if bs[c, q, B_HITC] >= hit_cap:
                        hm[c, HM_CAP] |= np.int64(1) << q
        for c in range(nch):
            if cs[c, C_WAKE] > clk:  # nothing in this channel can change before then
                wake = _mn(wake, cs[c, C_WAKE])
                continue
            cw = FAR
            chprog = False
            n_chloops += 1
            # queues whose wait ends by now become due
            if cs[c, C_OCC] != 0:
                if clk - cs[c, C_FIRED] >= WHEEL:
                    for slot in range(WHEEL):
                        cs[c, C_DUE] |= wheel[c, slot]
                        wheel[c, slot] = 0
                    cs[c, C_OCC] = 0
                elif clk > cs[c, C_FIRED]:
                    # the slots of clocks fired+1 .. clk: a rotated run of clk - fired bits, so
                    # only the occupied ones are visited (not every clock since the last visit)
                    s0 = (cs[c, C_FIRED] + 1) & (WHEEL - 1)
                    run = (np.int64(1) << (clk - cs[c, C_FIRED])) - 1
                    span = ((run << s0) | (run >> (WHEEL - s0))) & ((np.int64(1) << WHEEL) - 1)
                    hit = cs[c, C_OCC] & span
                    cs[c, C_OCC] &= ~hit
                    while hit != 0:
                        slot = _ctz(hit)
                        hit &= hit - 1
                        cs[c, C_DUE] |= wheel[c, slot]
                        wheel[c, slot] = 0
            cs[c, C_FIRED] = clk
            if cs[c, C_FAR] != 0 and cs[c, C_FARMIN] < clk + WHEEL:
                waiting = cs[c, C_FAR]
                cs[c, C_FAR] = 0
                low = FAR
                while waiting != 0:
                    q = _ctz(waiting)
                    waiting &= waiting - 1
                    t = bs[c, q, B_NBT]
                    if t <= clk:
                        cs[c, C_DUE] |= np.int64(1) << q
                    elif t < clk + WHEEL:
                        wheel[c, t & (WHEEL - 1)] |= np.int64(1) << q
                        cs[c, C_OCC] |= np.int64(1) << (t & (WHEEL - 1))
                    else:
                        cs[c, C_FAR] |= np.int64(1) << q
                        low = _mn(low, t)
                cs[c, C_FARMIN] = low
            if cs[c, C_OCC] != 0:  # the next wheel slot in use, after this clock
                shift = (clk + 1) & (WHEEL - 1)
                rot = ((cs[c, C_OCC] >> shift) | (cs[c, C_OCC] << (WHEEL - shift))) & (
                    (np.int64(1) << WHEEL) - 1
                )
                cw = _mn(cw, clk + 1 + _ctz(rot))
            cw = _mn(cw, cs[c, C_FARMIN])
            # ---- command issue ----
            issued = NONE
            ref_rank = -1
            ref_bank = -1
            if cs[c, C_REFL] > 0:
                target = ref_q[c, cs[c, C_REFH]]
                if ref_mode == REF_ALL_BANK:
                    ref_rank = target
                    b0 = target * banks_per_rank
                    b1 = b0 + banks_per_rank
                else:
                    ref_bank = target
                    b0 = target
                    b1 = target + 1
                all_ready = True
                for b in range(b0, b1):
                    if bs[c, b, B_ROW] >= 0:
                        all_ready = False
                        if bs[c, b, B_TPRE] <= clk:
                            bs[c, b, B_ROW] = -1
                            cs[c, C_CLOSED] |= np.int64(1) << b
                            bs[c, b, B_HR] = 0
                            bs[c, b, B_HW] = 0
                            bs[c, b, B_NBT] = 0
                            cs[c, C_DUE] |= np.int64(1) << b
                            bs[c, b, B_HITC] = 0
                            if colskip:
                                hm[c, HM_RD] &= ~(np.int64(1) << b)
                                hm[c, HM_WR] &= ~(np.int64(1) << b)
                                if hit_cap <= 0:
                                    hm[c, HM_CAP] |= np.int64(1) << b
                                else:
                                    hm[c, HM_CAP] &= ~(np.int64(1) << b)
                            ks[c, bank_rank[b], K_NOPEN] -= 1
                            if ks[c, bank_rank[b], K_NOPEN] == 0:
                                active_cycles += clk - ks[c, bank_rank[b], K_SINCE]
                            bs[c, b, B_TACT] = _mx(bs[c, b, B_TACT], clk + pv_trp)
                            bs[c, b, B_TREF] = _mx(bs[c, b, B_TREF], clk + pv_trp)
                            n_pre += 1
                            issued = PRE
                            chprog = True
                            break
                        cw = _mn(cw, bs[c, b, B_TPRE])
                    elif bs[c, b, B_TREF] > clk:
                        all_ready = False
                        cw = _mn(cw, bs[c, b, B_TREF])
                if issued == NONE and all_ready:
                    for b in range(b0, b1):
                        bs[c, b, B_TACT] = _mx(bs[c, b, B_TACT], clk + trfc)
                        bs[c, b, B_TREF] = _mx(bs[c, b, B_TREF], clk + trfc)
                    cs[c, C_REFH] = (cs[c, C_REFH] + 1) % 64
                    cs[c, C_REFL] -= 1
                    n_ref += 1
                    issued = PRE  # a non-column command
                    chprog = True
                    ref_rank = -1
                    ref_bank = -1
            count = 0 if issued == NONE else 1
            limit = 2 if dual else 1
            while count < limit:
                found = NONE
                fq = -1
                fe = -1
                mask = cs[c, C_NONEMPTY] & cs[c, C_DUE]
                if ref_rank >= 0:
                    mask &= ~(rank_bits << (ref_rank * banks_per_rank))
                if ref_bank >= 0:
                    mask &= ~(np.int64(1) << ref_bank)
                # a closed bank can only ACT: while its rank's ACT window (tRRD_S, tFAW) is shut,
                # none of the rank's closed banks can issue, so they are skipped without a check
                # (they stay due; the wake at the window's end is early, never late)
                if mask & cs[c, C_CLOSED] != 0:
                    for k in range(nranks):
                        kb = _mx(ks[c, k, K_ACT], ks[c, k, K_FAW + ks[c, k, K_FAWI]] + pv_tfaw)
                        if kb > clk:
                            blocked = mask & cs[c, C_CLOSED] & (rank_bits << (k * banks_per_rank))
                            if blocked != 0:
                                mask &= ~blocked
                                cw = _mn(cw, kb)
                # an open bank with queued hits and its row under the hit cap can only issue a
                # column command: while its rank's READ window is shut (and its WRITE window, if
                # it holds write hits) it cannot issue, so it is skipped without a check (it
                # stays due; the wake at the window's end is early, never late)
                colonly = 0
                if colskip:
                    colonly = mask & (hm[c, HM_RD] | hm[c, HM_WR]) & ~hm[c, HM_CAP]
                if colonly != 0:
                    for k in range(nranks):
                        krd = ks[c, k, K_RD]
                        kwr = ks[c, k, K_WR]
                        if krd > clk or kwr > clk:
                            blocked = colonly & (rank_bits << (k * banks_per_rank))
                            if krd <= clk:
                                blocked &= ~hm[c, HM_RD]
                                krd = kwr
                            elif kwr <= clk:
                                blocked &= ~hm[c, HM_WR]
                            else:
                                krd = _mn(krd, kwr)
                            if blocked != 0:
                                mask &= ~blocked
                                cw = _mn(cw, krd)
                start = cs[c, C_RR]
                while mask != 0:
                    hi = mask & ~((np.int64(2) << start) - 1)
                    q = _ctz(hi) if hi != 0 else _ctz(mask)
                    mask &= ~(np.int64(1) << q)
                    if bs[c, q, B_NBT] > clk:  # nothing in this queue can issue before then
                        cw = _mn(cw, bs[c, q, B_NBT])
                        continue
                    qwake = FAR
                    n_checks += 1
                    ln = bs[c, q, B_CQL]
                    rank = bank_rank[q]
                    grp = bank_grp[q]
                    orow = bs[c, q, B_ROW]
                    if orow < 0:
                        t = _mx(_mx(bs[c, q, B_TACT], gs[c, grp, G_ACT]), ks[c, rank, K_ACT])
                        t = _mx(t, ks[c, rank, K_FAW + ks[c, rank, K_FAWI]] + pv_tfaw)
                        if t <= clk:
                            found = ACT
                            fq = q
                            fe = 0
                        else:
                            qwake = _mn(qwake, t)
                    else:
                        head = cq[c, q, 0]
                        # PRE for a conflicting head: only once no queued request hits the open
                        # row, or the row has served row_hit_cap column commands
                        if req_row[head] != orow and (
                            bs[c, q, B_HITC] >= hit_cap or bs[c, q, B_HR] + bs[c, q, B_HW] == 0
                        ):
                            if bs[c, q, B_TPRE] <= clk:
                                found = PRE
                                fq = q
                                fe = 0
                            else:
                                qwake = _mn(qwake, bs[c, q, B_TPRE])
                        if found == NONE:
                            rd_ok = False
                            wr_ok = False
                            if bs[c, q, B_HR] > 0:
                                trd = _mx(_mx(bs[c, q, B_TRD], gs[c, grp, G_RD]), ks[c, rank, K_RD])
                                rd_ok = trd <= clk
                                if not rd_ok:
                                    qwake = _mn(qwake, trd)
                            if bs[c, q, B_HW] > 0:
                                twr = _mx(_mx(bs[c, q, B_TWR], gs[c, grp, G_WR]), ks[c, rank, K_WR])
                                wr_ok = twr <= clk
                                if not wr_ok:
                                    qwake = _mn(qwake, twr)
                            if rd_ok or wr_ok:
                                for e in range(ln):
                                    r = cq[c, q, e]
                                    if req_row[r] == orow:
                                        if req_write[r]:
                                            if wr_ok:
                                                found = WR
                                                fq = q
                                                fe = e
                                                break
                                        elif rd_ok:
                                            found = RD
                                            fq = q
                                            fe = e
                                            break
                    if found == NONE:
                        bs[c, q, B_NBT] = qwake
                        if qwake > clk:
                            cs[c, C_DUE] &= ~(np.int64(1) << q)
                            if qwake < clk + WHEEL:
                                wheel[c, qwake & (WHEEL - 1)] |= np.int64(1) << q
                                cs[c, C_OCC] |= np.int64(1) << (qwake & (WHEEL - 1))
                            else:
                                cs[c, C_FAR] |= np.int64(1) << q
                                cs[c, C_FARMIN] = _mn(cs[c, C_FARMIN], qwake)
                        cw = _mn(cw, qwake)
                    if found != NONE:
                        cs[c, C_RR] = q
                        break
                if found == NONE:
                    break
                if count == 1 and (found >= RD) == (issued >= RD):  # RD, WR: column commands
                    break  # a second command must use the other (row or column) command bus
                # ---- issue `found` at bank fq ----
                q = fq
                rank = bank_rank[q]
                grp = bank_grp[q]
                if found == ACT:
                    r = cq[c, q, 0]
                    bs[c, q, B_ROW] = req_row[r]
                    cs[c, C_CLOSED] &= ~(np.int64(1) << q)
                    for e in range(bs[c, q, B_CQL]):
                        r2 = cq[c, q, e]
                        if req_row[r2] == req_row[r]:
                            if req_write[r2]:
                                bs[c, q, B_HW] += 1
                            else:
                                bs[c, q, B_HR] += 1
                    if colskip:
                        if bs[c, q, B_HR] > 0:
                            hm[c, HM_RD] |= np.int64(1) << q
                        if bs[c, q, B_HW] > 0:
                            hm[c, HM_WR] |= np.int64(1) << q
                        if hit_cap > 0:
                            hm[c, HM_CAP] &= ~(np.int64(1) << q)
                    _open_row(
                        c, q, rank, grp, clk, pv_trc, pv_trcd, pv_tras, pv_trrd_l, pv_trrd_s, bs, cs, gs, ks
                    )
                    n_act += 1
                elif found == PRE:
                    if colskip:
                        hm[c, HM_RD] &= ~(np.int64(1) << q)
                        hm[c, HM_WR] &= ~(np.int64(1) << q)
                        if hit_cap <= 0:
                            hm[c, HM_CAP] |= np.int64(1) << q
                    active_cycles += _close_row(
                        c,
                        q,
                        rank,
                        clk,
                        pv_trp,
                        bs,
                        cs,
                        ks,
                    )
                    n_pre += 1
                else:
                    r = cq[c, q, fe]
                    ln = bs[c, q, B_CQL]
                    for e in range(fe, ln - 1):
                        cq[c, q, e] = cq[c, q, e + 1]
                    bs[c, q, B_CQL] = ln - 1
                    bs[c, q, B_NBT] = 0
                    cs[c, C_DUE] |= np.int64(1) << q
                    cs[c, C_ROOM] |= np.int64(1) << q
                    if req_write[r]:
                        bs[c, q, B_CQW] -= 1
                        bs[c, q, B_HW] -= 1
                        if colskip and bs[c, q, B_HW] == 0:
                            hm[c, HM_WR] &= ~(np.int64(1) << q)
                    else:
                        bs[c, q, B_HR] -= 1
                        if colskip and bs[c, q, B_HR] == 0:
                            hm[c, HM_RD] &= ~(np.int64(1) << q)
                    if ln == 1:
                        cs[c, C_NONEMPTY] &= ~(np.int64(1) << q)
                    cs[c, C_CQT] -= 1
                    if bs[c, q, B_HITC] > 0:
                        if found == RD:
                            n_rd_hit += 1
                        else:
                            n_wr_hit += 1
                    bs[c, q, B_HITC] += 1
                    if colskip and bs[c, q, B_HITC] >= hit_cap:
                        hm[c, HM_CAP] |= np.int64(1) << q
                    if track and rep[r]:
                        h = _h_slot(htab, req_line[r])
                        if found == RD:
                            # the reads merged into this one return with its data
                            m = htab[h, H_CHAIN]
                            htab[h, H_CHAIN] = -1
                            while m >= 0:
                                done[m] = clk + read_delay
                                if max_out > 0:
                                    heap_n = _heap_push(heap, heap_n, clk + read_delay + 1)
                                m = mlink[m]
                        _h_update(
                            htab,
                            h,
                            req_line[r],
                            -1 if found == RD else 0,
                            -1 if found == WR else 0,
                        )
                    if found == RD:
                        n_rd += 1
                        done[r] = clk + read_delay
                        if max_out > 0:
                            heap_n = _heap_push(heap, heap_n, clk + read_delay + 1)
                        _read_issued(
                            c,
                            q,
                            rank,
                            grp,
                            clk,
                            nranks,
                            pv_rtp,
                            pv_rtrl,
                            pv_rtrs,
                            pv_rtw,
                            pv_rtro,
                            pv_rtwo,
                            bs,
                            gs,
                            ks,
                        )
                    else:
                        n_wr += 1
                        done[r] = clk + write_delay
                        bs[c, q, B_TPRE] = _mx(bs[c, q, B_TPRE], clk + pv_wtp)
                        gs[c, grp, G_RD] = _mx(gs[c, grp, G_RD], clk + pv_wtrl)
                        gs[c, grp, G_WR] = _mx(gs[c, grp, G_WR], clk + pv_wtwl)
                        ks[c, rank, K_RD] = _mx(ks[c, rank, K_RD], clk + pv_wtrs)
                        ks[c, rank, K_WR] = _mx(ks[c, rank, K_WR], clk + pv_wtws)
                        for o in range(nranks):
                            if o != rank:
                                ks[c, o, K_RD] = _mx(ks[c, o, K_RD], clk + pv_wtro)
                                ks[c, o, K_WR] = _mx(ks[c, o, K_WR], clk + pv_wtwo)
                    if closed_page:
                        # auto-precharge unless another queued request hits this row
                        orow = bs[c, q, B_ROW]
                        keep = False
                        for e in range(bs[c, q, B_CQL]):
                            if req_row[cq[c, q, e]] == orow:
                                keep = True
                                break
                        if not keep:
                            t_start = _mx(bs[c, q, B_TPRE], clk)
                            if colskip:
                                hm[c, HM_RD] &= ~(np.int64(1) << q)
                                hm[c, HM_WR] &= ~(np.int64(1) << q)
                                if hit_cap <= 0:
                                    hm[c, HM_CAP] |= np.int64(1) << q
                                else:
                                    hm[c, HM_CAP] &= ~(np.int64(1) << q)
                            active_cycles += _close_row(
                                c,
                                q,
                                rank,
                                t_start,
                                pv_trp,
                                bs,
                                cs,
                                ks,
                            )
                            n_pre += 1
                chprog = True
                if count == 0:
                    issued = found
                count += 1
            # ---- move one transaction to its bank's command queue ----
            # (the oldest one, from the read queue or while draining the write buffer, whose bank's
            # command queue has room: requests enter in order, so the oldest has the lowest index)
            if cs[c, C_DRAIN] == 0 and cs[c, C_TQT + 1] > 0:
                # drain when the buffer reaches the high watermark, when more than the idle
                # threshold wait and the command queues are empty, or (end of the trace) when
                # nothing else is left to do
                idle = cs[c, C_CQT] == 0
                drain_now = cs[c, C_TQT + 1] >= pv_drain_high or (
                    idle and (cs[c, C_TQT + 1] > pv_drain_idle or (nxt >= n and cs[c, C_TQT] == 0))
                )
                if drain_now and not _drain_waits_for_queued_read(
                    c, cs, tqf, tq_head, tq_len, req_line, htab, tcap
                ):
                    cs[c, C_DRAIN] = _mx(1, cs[c, C_TQT + 1] - pv_drain_low)
            kind = 1 if cs[c, C_DRAIN] > 0 else 0
            q = -1
            for _attempt in range(2):
                movable = cs[c, C_TQH + kind] & cs[c, C_ROOM]
                q = -1
                if movable == 0:
                    break
                best = -1
                while movable != 0:
                    b = _ctz(movable)
                    movable &= movable - 1
                    r = tqf[c, kind, b, tq_head[c, kind, b]]
                    if best < 0 or r < best:
                        best = r
                        q = b
                r = best
                if avail[r] > clk:  # still crossing the port (later ones are behind it)
                    cw = _mn(cw, avail[r])
                    q = -1
                elif kind == 1 and track:
                    h = _h_find(htab, req_line[r])
                    if h >= 0 and htab[h, H_READS] > 0:
                        # a pending read of this line must go first: stop draining, and (as in
                        # DRAMsim3) nothing moves in this clock; the drain may start again next
                        # clock and stop at the same write until the read's READ issues
                        cs[c, C_DRAIN] = 0
                        chprog = True
                        q = -1
                break
            if q >= 0:
                h = tq_head[c, kind, q] + 1
                tq_head[c, kind, q] = 0 if h == tcap else h
                tq_len[c, kind, q] -= 1
                if tq_len[c, kind, q] == 0:
                    cs[c, C_TQH + kind] &= ~(np.int64(1) << q)
                cs[c, C_TQT + kind] -= 1
                cq[c, q, bs[c, q, B_CQL]] = r
                bs[c, q, B_CQL] += 1
                if req_row[r] == bs[c, q, B_ROW]:
                    if kind == 1:
                        bs[c, q, B_HW] += 1
                        if colskip:
                            hm[c, HM_WR] |= np.int64(1) << q
                    else:
                        bs[c, q, B_HR] += 1
                        if colskip:
                            hm[c, HM_RD] |= np.int64(1) << q
                if bs[c, q, B_CQL] == cqcap:
                    cs[c, C_ROOM] &= ~(np.int64(1) << q)
                if kind == 1:
                    bs[c, q, B_CQW] += 1
                    cs[c, C_DRAIN] -= 1
                    if cs[c, C_TQT + 1] == 0:
                        cs[c, C_DRAIN] = 0
                cs[c, C_NONEMPTY] |= np.int64(1) << q
                bs[c, q, B_NBT] = 0
                cs[c, C_DUE] |= np.int64(1) << q
                cs[c, C_CQT] += 1
                chprog = True
            if cs[c, C_DRAIN] == 0 and cs[c, C_TQT + 1] > pv_drain_idle and cs[c, C_CQT] == 0:
                chprog = True  # the idle drain starts next clock

            if chprog:
                progress = True
                # Settle: rather than visiting the channel again next clock to find out that
                # nothing can happen yet, look ahead with the state this visit left. Only the
                # requester (which wakes the channel itself) and time change it before the next
                # visit, so a due bank whose earliest command is later than next clock goes onto
                # the wheel now (the same bound its check would give then), and the channel
                # sleeps until the earliest of those times. Visiting at every clock is still
                # exact (a visit at which nothing can happen changes nothing): this only skips
                # such visits. It pays only when few banks are due (a stream on one or two
                # banks); with many, most would be checked again anyway, so those visits keep
                # the next clock.
                nt = clk + 1
                pending = cs[c, C_NONEMPTY] & cs[c, C_DUE]
                others = pending & (pending - 1)  # without the lowest due bank
                need = cs[c, C_REFL] > 0 or others & (others - 1) != 0  # a refresh, or 3+ due banks
                if (
                    not need
                    and cs[c, C_DRAIN] == 0
                    and cs[c, C_TQT + 1] > 0
                    and (
                        cs[c, C_TQT + 1] >= pv_drain_high
                        or (
                            cs[c, C_CQT] == 0
                            and (cs[c, C_TQT + 1] > pv_drain_idle or (nxt >= n and cs[c, C_TQT] == 0))
                        )
                    )
                ):
                    need = True  # the write drain starts next clock
                if not need:
                    kind = 1 if cs[c, C_DRAIN] > 0 else 0
                    movable = cs[c, C_TQH + kind] & cs[c, C_ROOM]
                    if movable != 0:
                        if kind == 1 and track:
                            need = True
                        else:
                            r = -1
                            while movable != 0:
                                b = _ctz(movable)
                                movable &= movable - 1
                                r2 = tqf[c, kind, b, tq_head[c, kind, b]]
                                if r < 0 or r2 < r:
                                    r = r2
                            if avail[r] <= nt:
                                need = True
                            else:
                                cw = _mn(cw, avail[r])
                if not need:
                    mask = cs[c, C_NONEMPTY] & cs[c, C_DUE]
                    while mask != 0:
                        q = _ctz(mask)
                        mask &= mask - 1
                        if bs[c, q, B_NBT] > nt:
                            cw = _mn(cw, bs[c, q, B_NBT])
                            continue
                        rank = bank_rank[q]
                        grp = bank_grp[q]
                        orow = bs[c, q, B_ROW]
                        if orow < 0:
                            t = _mx(_mx(bs[c, q, B_TACT], gs[c, grp, G_ACT]), ks[c, rank, K_ACT])
                            t = _mx(t, ks[c, rank, K_FAW + ks[c, rank, K_FAWI]] + pv_tfaw)
                        else:
                            t = FAR
                            if req_row[cq[c, q, 0]] != orow and (
                                bs[c, q, B_HITC] >= hit_cap or bs[c, q, B_HR] + bs[c, q, B_HW] == 0
                            ):
                                t = bs[c, q, B_TPRE]
                            if bs[c, q, B_HR] > 0:
                                t = _mn(t, _mx(_mx(bs[c, q, B_TRD], gs[c, grp, G_RD]), ks[c, rank, K_RD]))
                            if bs[c, q, B_HW] > 0:
                                t = _mn(t, _mx(_mx(bs[c, q, B_TWR], gs[c, grp, G_WR]), ks[c, rank, K_WR]))
                        if t <= nt:
                            need = True
                            break
                        bs[c, q, B_NBT] = t
                        cs[c, C_DUE] &= ~(np.int64(1) << q)
                        if t < clk + WHEEL:
                            wheel[c, t & (WHEEL - 1)] |= np.int64(1) << q
                            cs[c, C_OCC] |= np.int64(1) << (t & (WHEEL - 1))
                        else:
                            cs[c, C_FAR] |= np.int64(1) << q
                            cs[c, C_FARMIN] = _mn(cs[c, C_FARMIN], t)
                        cw = _mn(cw, t)
                if need:
                    cs[c, C_WAKE] = 0
                    wake = _mn(wake, nt)
                else:
                    if cs[c, C_OCC] != 0:  # the next wheel slot in use, after this clock
                        shift = nt & (WHEEL - 1)
                        rot = ((cs[c, C_OCC] >> shift) | (cs[c, C_OCC] << (WHEEL - shift))) & (
                            (np.int64(1) << WHEEL) - 1
                        )
                        cw = _mn(cw, nt + _ctz(rot))
                    cw = _mn(cw, cs[c, C_FARMIN])
                    cs[c, C_WAKE] = _mx(cw, nt)
                    wake = _mn(wake, cs[c, C_WAKE])
            else:
                cs[c, C_WAKE] = cw
                wake = _mn(wake, cw)

        # the requester offers requests in order after this clock: they enter the queues at `now`
        # (DRAMsim3's trace driver adds them after the controller's tick), so the next clock
        # is needed only if one of them can move on at once
        now = clk + 1
        while nxt < n:
            if req_arrival[nxt] > now:
                wake = _mn(wake, req_arrival[nxt] - 1)
                break
            c = req_ch[nxt]
            if max_out > 0:
                while heap_n > 0 and heap[0] <= now:
                    heap_n = _heap_pop(heap, heap_n)
                    outstanding -= 1
                if outstanding >= max_out:
                    if heap_n > 0:
                        wake = _mn(wake, heap[0] - 1)
                    break
            kind = 1 if req_write[nxt] else 0
            if cs[c, C_TQT + kind] >= (wqcap if kind else rqcap):
                break
            if track and rep[nxt]:
                # a read of a line with a write pending is served from the write buffer; a
                # second write to a pending line merges into it
                h = _h_slot(htab, req_line[nxt])
                known = htab[h, H_KEY] == req_line[nxt]
                if known and htab[h, H_WRITES] > 0:
                    added[nxt] = now
                    done[nxt] = now + 1
                    if max_out > 0:
                        heap_n = _heap_push(heap, heap_n, now + 2 - kind)
                        outstanding += 1
                    nxt += 1
                    if nxt == n:
                        progress = True
                        stats[S_LAST_ACCEPT] = now
                        stats[S_CMDS_AT_LAST_ACCEPT] = n_rd + n_wr
                        for c2 in range(nch):
                            cs[c2, C_WAKE] = 0
                        wake = _mn(wake, now)
                    continue
                elif known and kind == 0 and htab[h, H_READS] > 0:
                    # a read of a line whose read is pending (queued, its READ not issued) takes
                    # no queue slot and returns with that read's data (DRAMsim3's pending-read
                    # table; the queue must still have room, as DRAMsim3 asks before it looks)
                    if mlink.shape[0] == 0:
                        mlink = np.empty(n, np.int64)
                    mlink[nxt] = htab[h, H_CHAIN]
                    htab[h, H_CHAIN] = nxt
                    added[nxt] = now
                    done[nxt] = -1
                    if max_out > 0:
                        outstanding += 1
                    nxt += 1
                    if nxt == n:
                        progress = True
                        stats[S_LAST_ACCEPT] = now
                        stats[S_CMDS_AT_LAST_ACCEPT] = n_rd + n_wr
                        for c2 in range(nch):
                            cs[c2, C_WAKE] = 0
                        wake = _mn(wake, now)
                    continue
                _h_update(htab, h, req_line[nxt], 1 - kind, kind)
            q = req_bank[nxt]
            slot = tq_head[c, kind, q] + tq_len[c, kind, q]
            tqf[c, kind, q, slot - tcap if slot >= tcap else slot] = nxt
            tq_len[c, kind, q] += 1
            cs[c, C_TQH + kind] |= np.int64(1) << q
            cs[c, C_TQT + kind] += 1
            if kind == 1 or (cs[c, C_DRAIN] == 0 and (cs[c, C_ROOM] >> q) & 1):
                cs[c, C_WAKE] = 0
                progress = True
                wake = _mn(wake, now)
            if kind == 1:
                done[nxt] = -1
                if max_out > 0:
                    heap_n = _heap_push(heap, heap_n, now + 1)
                    outstanding += 1
            elif max_out > 0:
                outstanding += 1
            added[nxt] = now
            # avail: the clock a transaction has crossed the FPGA-side port, which delivers one
            # burst per port_interval clocks per channel (without a port: at once)
            if port_interval > 0.0:
                start = port_next[c] if port_next[c] > now else float(now)
                avail[nxt] = np.int64(np.ceil(start))
                port_next[c] = start + port_interval
            else:
                avail[nxt] = 0
            nxt += 1
            if nxt == n:
                progress = True
                stats[S_LAST_ACCEPT] = now
                stats[S_CMDS_AT_LAST_ACCEPT] = n_rd + n_wr
                for c2 in range(nch):
                    cs[c2, C_WAKE] = 0  # the end-of-trace write flush may start
                wake = _mn(wake, now)

        # ---- advance the clock ----
        finished = nxt >= n
        if finished:
            for c in range(nch):
                if cs[c, C_TQT] > 0 or cs[c, C_TQT + 1] > 0 or cs[c, C_CQT] > 0:
                    finished = False
                    break
        if finished:
            break
        nclk = clk + 1
        if progress:
            last_progress = clk
        wake = _mn(wake, next_ref_tick)
        if wake > nclk:
            nclk = wake
        if nclk >= FAR or nclk - last_progress > STALL_LIMIT:
            raise RuntimeError("DRAM controller model stalled (a bug): no command can issue")
        n_loops += 1
        clk = nclk
    stats[S_ACT] = n_act
    stats[S_PRE] = n_pre
    stats[S_RD] = n_rd
    stats[S_WR] = n_wr
    stats[S_REF] = n_ref
    stats[S_RD_HIT] = n_rd_hit
    stats[S_WR_HIT] = n_wr_hit
    stats[S_LOOPS] = n_loops
    stats[S_CHECKS] = n_checks
    stats[S_CHLOOPS] = n_chloops
    stats[S_STEADY] = n_steady
    last = clk
    for i in range(n):
        if done[i] < 0:
            done[i] = added[i] + 1
        if done[i] > last:
            last = done[i]
    stats[S_END] = last
    for c in range(nch):
        for k in range(nranks):
            if ks[c, k, K_NOPEN] > 0:
                active_cycles += last - ks[c, k, K_SINCE]
    stats[S_ACTIVE_RANK_CYCLES] = active_cycles
    stats[S_IDLE_RANK_CYCLES] = last * nch * nranks - active_cycles
    if n > 0 and stats[S_LAST_ACCEPT] == 0:
        stats[S_CMDS_AT_LAST_ACCEPT] = n_rd + n_wr


@numba.njit(cache=True)
def prepare(
    addresses: np.ndarray,
    writes: np.ndarray,
    per: int,
    burst_shift: int,
    field_shift: np.ndarray,
    field_mask: np.ndarray,
    bank_groups: int,
    banks_per_group: int,
    ch: np.ndarray,
    bank: np.ndarray,
    row: np.ndarray,
    line: np.ndarray,
    wr: np.ndarray,
) -> None:
    """Requests -> bursts in one pass (the same values as model.decode and the burst split in
    numpy, without a temporary array per step): channel, bank within the channel, row, line
    index and write flag of each of the `per` consecutive bursts of every request, written to
    ch/bank/row/line/wr (at least n * per long). field_shift/field_mask: bit offset and mask in
    the line index of ch, ra, bg, ba, ro."""
    n = addresses.shape[0]
    for i in range(n):
        first = np.int64(addresses[i] >> np.uint64(burst_shift))
        for j in range(per):
            x = first + j
            b = i * per + j
            ch[b] = (x >> field_shift[0]) & field_mask[0]
            ra = (x >> field_shift[1]) & field_mask[1]
            bg = (x >> field_shift[2]) & field_mask[2]
            ba = (x >> field_shift[3]) & field_mask[3]
            bank[b] = (ra * bank_groups + bg) * banks_per_group + ba
            row[b] = (x >> field_shift[4]) & field_mask[4]
            line[b] = x
            wr[b] = writes[i]


@numba.njit(cache=True)
def request_times(
    added: np.ndarray,
    done: np.ndarray,
    per: int,
    writes: np.ndarray,
    tck: float,
    added_ns: np.ndarray,
    done_ns: np.ndarray,
    lat: np.ndarray,
    lat_cycles: np.ndarray,
) -> int:
    """Per request (the first burst's acceptance, the last burst's completion) in ns into
    added_ns/done_ns, and the read latencies in ns in request order into lat; returns the number
    of reads. The values the numpy expressions in model._summarise gave (int64 cycles times
    tck), in one pass."""
    n = writes.shape[0]
    k = 0
    for i in range(n):
        a = added[i * per]
        d = done[i * per]
        for j in range(1, per):
            a = min(a, added[i * per + j])
            d = max(d, done[i * per + j])
        added_ns[i] = a * tck
        done_ns[i] = d * tck
        if not writes[i]:
            lat[k] = (d - a) * tck
            lat_cycles[k] = d - a
            k += 1
    return k


@numba.njit(cache=True)
def order_statistics(values: np.ndarray, ranks: np.ndarray, out: np.ndarray) -> bool:
    """out[i] = the ranks[i]-th smallest (from 0) of the integer values, by counting (one pass
    and a histogram instead of a selection per rank). False, and nothing written, when the values
    spread over more than 4 buckets per value: then a selection is cheaper."""
    n = values.shape[0]
    lo = values[0]
    hi = values[0]
    for v in values:
        lo = min(lo, v)
        hi = max(hi, v)
    span = hi - lo + 1
    if span > 4 * n + 1024:
        return False
    counts = np.zeros(span, np.int64)
    for v in values:
        counts[v - lo] += 1
    order = np.argsort(ranks)
    j = 0
    below = 0  # values in buckets before b
    for b in range(span):
        below += counts[b]
        while j < order.shape[0] and ranks[order[j]] < below:
            out[order[j]] = b + lo
            j += 1
    return True
