"""Library figures never switch the caller's matplotlib backend: a notebook runs on the inline
backend, and a library call that switched it to Agg (the search's DRAM-layers figure did, mid-run)
hid every later figure of the notebook without an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import pandas as pd

from dla_explorer.dse.rescore import plot_dram_layers

PNG_MAGIC = b"\x89PNG"


def test_dram_layers_figure_keeps_the_backend(tmp_path: Path) -> None:
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # any backend the figure must leave alone
    try:
        frame = pd.DataFrame(
            {
                "layer": ["a", "a", "b", "b"],
                "channel": [0, 1, 0, 1],
                "start_s": [0.0, 0.0, 1e-4, 1e-4],
                "time_s": [1e-4, 1e-4, 2e-4, 2e-4],
                "bandwidth_gbps": [10.0, 12.0, 5.0, 6.0],
                "stall_s": [0.0, 0.0, 5e-5, 5e-5],
            }
        )
        plot_dram_layers(frame, tmp_path / "layers.png", "test")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "layers.png").read_bytes()[:4] == PNG_MAGIC


def test_plot_modules_keep_a_kernels_backend() -> None:
    # in a fresh interpreter that looks like a notebook kernel (ipykernel loaded), importing the
    # report's plot modules keeps the backend already chosen
    code = (
        "import sys, types; sys.modules['ipykernel'] = types.ModuleType('ipykernel')\n"
        "import matplotlib; matplotlib.use('svg')\n"
        "import dla_explorer.study.plots, dla_explorer.study.accuracy\n"
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
