"""Helpers shared by several test modules (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from dla_explorer.cli import main
from dla_explorer.sim import config as hw


def run(capsys, *argv):
    """Run the command line in-process: (exit code, stdout, stderr); arguments may be paths."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def small_arch(**changes) -> hw.Architecture:
    """A 16 x 16 int8 array at 400 MHz without packing (alpha 1) or activation compression, with
    `changes` applied: the design the physics and memory-fidelity tests reason about by hand."""
    base = dict(
        name="t", k_vec=16, c_vec=16, q_vec=4, lanes=1, precision="int8", clock_mhz=400,
        stream_buffer_kb=64, filter_cache_kb=8, alpha=1, gamma=0.0, compress_activations=False,
    )  # fmt: skip
    return hw.Architecture(**{**base, **changes})
