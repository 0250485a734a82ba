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
