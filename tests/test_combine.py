"""Column-combining algorithms: the reference rule, the fast constructions, their invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dla_explorer.packing import combine as _combine
from dla_explorer.packing.combine import (
    ALGORITHMS,
    column_bits,
    combine,
    violations,
)
from dla_explorer.packing.format import pass_stats

# rows above 64 exercise multi-word bitsets
MATRICES = st.tuples(st.integers(1, 70), st.integers(1, 40), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))


def _matrix(rows, cols, density, seed):
    rng = np.random.default_rng(seed)
    nonzero = rng.random((rows, cols)) < density
    magnitude = np.where(nonzero, rng.uniform(0.01, 1.0, (rows, cols)), 0.0)
    return nonzero, magnitude


def _literal_reference(nonzero, alpha, budget):
    """DESIGN.md's rule transcribed with Python sets, for small matrices."""
    rows, cols = nonzero.shape
    sets = [set(np.flatnonzero(nonzero[:, c]).tolist()) for c in range(cols)]
    ungrouped = [c for c in range(cols) if sets[c]]
    labels = np.full(cols, -1)
    group = 0
    while ungrouped:
        members = [ungrouped.pop(0)]
        while len(members) < alpha:
            best = None
            for c in ungrouped:
                trial = [*members, c]
                per_row = [sum(r in sets[m] for m in trial) for r in range(rows)]
                if sum(max(0, k - 1) for k in per_row) > budget:
                    continue
                union = sum(k > 0 for k in per_row)
                if best is None or union > best[0]:
                    best = (union, c)
            if best is None:
                break
            members.append(best[1])
            ungrouped.remove(best[1])
        labels[members] = group
        group += 1
    return labels


# col0 = {row 0}, col1 = {rows 0, 1}, col2 = {row 1}, col3 = {row 2}
SMALL = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hand_case_without_conflicts(algorithm):
    # budget 0: col0 pairs with col2 (col1 would conflict in row 0), col1 with col3
    labels = combine(SMALL, SMALL.astype(float), alpha=2, budget=0, algorithm=algorithm)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1])


def test_reference_breaks_union_ties_by_lowest_index():
    # budget 1: col1, col2 and col3 all give col0 a union of two rows; the lowest index wins
    labels = combine(SMALL, SMALL.astype(float), alpha=2, budget=1, algorithm="reference")
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])


@given(MATRICES, st.integers(1, 5), st.integers(0, 6))
@settings(max_examples=40, deadline=None)
def test_reference_is_the_literal_rule(shape, alpha, budget):
    rows, cols, density, seed = shape
    nonzero, _ = _matrix(min(rows, 12), min(cols, 12), density, seed)
    got = combine(nonzero, nonzero.astype(float), alpha, budget, "reference")
    np.testing.assert_array_equal(got, _combine.canonical(_literal_reference(nonzero, alpha, budget)))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(MATRICES, st.integers(1, 9), st.floats(0.0, 3.0))
@settings(max_examples=40, deadline=None)
def test_groupings_respect_alpha_and_budget(algorithm, shape, alpha, gamma):
    nonzero, magnitude = _matrix(*shape)
    budget = int(gamma * nonzero.shape[0])
    labels = combine(nonzero, magnitude, alpha, budget, algorithm)
    assert violations(nonzero, labels, alpha, budget) is None
    grouped = labels[labels >= 0]
    # every non-zero column in exactly one group, numbered 0..G-1 by lowest column
    assert np.array_equal(labels >= 0, nonzero.any(axis=0))
    if grouped.size:
        assert np.array_equal(np.unique(grouped), np.arange(grouped.max() + 1))
        first = [int(np.flatnonzero(labels == g)[0]) for g in range(grouped.max() + 1)]
        assert first == sorted(first)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(MATRICES, st.integers(1, 9))
@settings(max_examples=25, deadline=None)
def test_zero_budget_prunes_nothing(algorithm, shape, alpha):
    nonzero, magnitude = _matrix(*shape)
    labels = combine(nonzero, magnitude, alpha, 0, algorithm)
    stats, keep = pass_stats(magnitude, labels)
    assert stats.nnz_after == stats.nnz_before
    assert np.array_equal(keep, nonzero)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_alpha_one_keeps_every_column_alone(algorithm):
    nonzero, magnitude = _matrix(20, 30, 0.3, 7)
    labels = combine(nonzero, magnitude, 1, 100, algorithm)
    assert (np.bincount(labels[labels >= 0]) == 1).all()


@pytest.mark.parametrize("kernel", ["best_fit", "growth"])
@given(MATRICES, st.integers(1, 9), st.floats(0.0, 3.0))
@settings(max_examples=30, deadline=None)
def test_kernel_bookkeeping_matches_recount(kernel, shape, alpha, gamma):
    # the constructions track groups, pruned weights and pruned |w| incrementally; the fast
    # algorithm picks between them on these numbers, so they must equal a recount
    nonzero, magnitude = _matrix(*shape)
    budget = int(gamma * nonzero.shape[0])
    args = (
        column_bits(nonzero),
        nonzero.sum(axis=0).astype(np.int64),
        *_combine.column_lists(magnitude),
        np.int64(alpha),
        np.int64(budget),
    )
    if kernel == "best_fit":
        labels, groups, pruned, pruned_magnitude = _combine._best_fit(*args)
    else:
        labels, groups, pruned, pruned_magnitude = _combine._growth(*args, np.int64(2))
    stats, _ = pass_stats(magnitude, labels)
    assert violations(nonzero, _combine.canonical(labels), alpha, budget) is None
    assert (groups, pruned) == (stats.groups, stats.nnz_before - stats.nnz_after)
    assert pruned_magnitude == pytest.approx(stats.pruned_magnitude, rel=1e-9, abs=1e-9)


def test_fast_beats_reference_pruning_when_alpha_binds():
    # 90% sparse, 64 rows: groups fill to alpha under either algorithm, and best-fit's
    # conflict-first placement prunes several times less than the densest-union greedy
    nonzero, magnitude = _matrix(64, 1152, 0.1, 3)
    results = {}
    for algorithm in ALGORITHMS:
        stats, _ = pass_stats(magnitude, combine(nonzero, magnitude, 8, 112, algorithm))
        results[algorithm] = stats
    assert results["fast"].groups == results["reference"].groups == 1152 // 8
    assert results["fast"].pruned_magnitude < 0.5 * results["reference"].pruned_magnitude


def test_column_bits_spans_words():
    nonzero = np.zeros((130, 3), dtype=bool)
    nonzero[[0, 63, 64, 129], 0] = True
    nonzero[5, 2] = True
    bits = column_bits(nonzero)
    assert bits.shape == (3, 3)
    np.testing.assert_array_equal(_combine.popcount(bits).sum(axis=1), [4, 0, 1])
    assert bits[0, 0] == (1 | (1 << 63)) and bits[0, 1] == 1 and bits[0, 2] == 2


def test_popcount_without_numpy_ufunc(monkeypatch):
    words = np.array([0, 1, 2**64 - 1, 0x0F0F], dtype=np.uint64)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(_combine.popcount(words), [0, 1, 64, 8])


def test_violations_names_the_broken_rule():
    nonzero = np.ones((2, 3), dtype=bool)
    assert "sizes" in violations(nonzero, np.array([0, 0, 0]), 2, 10)
    assert "budget" in violations(nonzero, np.array([0, 0, 1]), 2, 1)
    assert "ungrouped" in violations(nonzero, np.array([0, -1, 1]), 2, 10)
    assert violations(nonzero, np.array([0, 0, 1]), 2, 2) is None


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="unknown algorithm"):
        combine(SMALL, SMALL.astype(float), 2, 0, "magic")


@given(MATRICES, st.integers(0, 6))
@settings(max_examples=30, deadline=None)
def test_alpha_one_shortcut_equals_both_greedy_searches(shape, budget):
    # combine answers alpha 1 without searching: each non-zero column alone, in column order
    nonzero, magnitude = _matrix(*shape)
    got = combine(nonzero, magnitude, 1, budget, "fast")
    budget = min(budget, int(nonzero.sum()))
    np.testing.assert_array_equal(
        got, _combine.canonical(_combine.fast_groups(nonzero, magnitude, 1, budget))
    )
    np.testing.assert_array_equal(got, _combine.canonical(_combine.reference_groups(nonzero, 1, budget)))
    assert violations(nonzero, got, 1, budget) is None
