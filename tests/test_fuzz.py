"""Issue 14 acceptance: fuzzed specs, hardware YAML, recipes and topology CSVs through the CLI.

Each example takes a valid file, replaces one value (or the whole text) with junk, and runs the
command in-process in a fresh folder. Every input kind is arranged so that even a still-valid
file ends in an error (a missing checkpoint, a factory that raises), so the command must fail:
exit 1 or 2, exactly one line on stderr, no exception escaping `main` (a traceback), and nothing
written outside the results folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dla_explorer.cli import main

ROOT = Path(__file__).resolve().parent.parent

JUNK: list[Any] = [
    None,
    -1,
    0,
    10**21,
    2**200,
    -(10**12),
    1e-9,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "..",
    "x" * 300,
    "../../etc",
    [],
    [1, 2],
    {},
    {"a": 1},
    True,
    "2:1000000000000",
]

SPEC = {
    "name": "fuzz",
    "models": [{"checkpoint": "missing.npz"}],  # valid specs end at the model load
    "device": "stratix10_mx2100",
    "modes": ["packed"],
    "base": {"arch": "arch.yaml", "memory": "hbm2_x1"},
    "space": {
        "k_vec": {"type": "int", "low": 16, "high": 64, "step": 16},
        "clock_mhz": {"type": "float", "low": 300, "high": 400, "step": 50},
    },
    "objectives": {"fps": "maximize", "power_w": "minimize"},
    "constraints": {"device": True, "max": {"power_w": 70}},
    "sampler": {"name": "tpe", "seed": 0, "options": {"n_startup_trials": 5}},
    "n_trials": 4,
    "max_grid": 1000,
}
ARCH = yaml.safe_load((ROOT / "hw_configs" / "arch" / "dla_s10mx.yaml").read_text())
RECIPE = {
    "model": "fac.py:build",  # the factory raises: valid recipes end there
    "method": "random",
    "sparsity": 0.5,
    "seed": 0,
    "input_shape": [1, 3, 8, 8],
    "calibration_size": 1,
    "output": "out.npz",
}
TOPOLOGY = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "c1, 8, 8, 3, 3, 4, 4, 1,\n"
    "c2, 6, 6, 1, 1, 4, 8, 1,\n"
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of nested dicts / lists."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _replace(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replace(copy[path[0]], path[1:], value)  # type: ignore[index]
    return copy


@st.composite
def mutated(draw: st.DrawFn, base: dict) -> str:
    """YAML text of `base` with one value replaced by junk, or a key dropped, or junk text."""
    kind = draw(st.sampled_from(["value", "value", "value", "drop", "text"]))
    if kind == "text":
        return draw(
            st.sampled_from(
                [
                    "",
                    "- a\n- b\n",
                    "a: [1, 2\n",
                    "\x00\x01binary",
                    "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" * 1,
                    "just a string",
                    "a: !!python/object:os.system echo\n",
                ]
            )
        )
    path = draw(st.sampled_from(_paths(base)))
    if kind == "drop":
        container: Any = base
        for key in path[:-1]:
            container = container[key]
        if isinstance(container, dict):
            trimmed = {k: v for k, v in container.items() if k != path[-1]}
            return yaml.safe_dump(_replace(base, path[:-1], trimmed) if path[:-1] else trimmed)
    value = draw(st.sampled_from(JUNK))
    return yaml.safe_dump(_replace(base, path, value), allow_unicode=True)


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    """chdir for the block (contextlib.chdir needs Python 3.11; the project supports 3.10)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _run(files: dict[str, str | bytes], argv: list[str], may_succeed: bool = False) -> None:
    """Run the CLI in a fresh folder and check the error contract."""
    with tempfile.TemporaryDirectory() as folder, _inside(folder):
        for name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(name, mode) as handle:
                handle.write(content)
        before = set(os.listdir("."))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse usage errors
                code = exc.code
        text = err.getvalue()
        if may_succeed and code == 0:
            assert "Traceback" not in text
            return
        assert code in (1, 2), (code, text)
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in text, text
        added = set(os.listdir(".")) - before
        assert added <= {"results"}, added  # nothing outside the results folder


FUZZ = settings(
    max_examples=int(os.environ.get("DLA_EXPLORER_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the suite stays reproducible; raise the examples to explore more
)
FACTORY = "def build():\n    raise RuntimeError('factory under test')\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path / "cache"))


@FUZZ
@given(text=mutated(SPEC))
def test_fuzzed_specs(text):
    _run({"spec.yaml": text, "arch.yaml": yaml.safe_dump(ARCH)}, ["sweep", "spec.yaml", "--no-progress"])


@FUZZ
@given(text=mutated(ARCH))
def test_fuzzed_hardware_yaml(text):
    _run({"spec.yaml": yaml.safe_dump(SPEC), "arch.yaml": text}, ["sweep", "spec.yaml", "--no-progress"])


@FUZZ
@given(text=mutated(RECIPE))
def test_fuzzed_recipes(text):
    _run({"recipe.yaml": text, "fac.py": FACTORY}, ["prune", "recipe.yaml"])


@st.composite
def mutated_topology(draw: st.DrawFn) -> str | bytes:
    lines = TOPOLOGY.splitlines()
    kind = draw(st.sampled_from(["cell", "cell", "cell", "row", "bytes", "empty"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "\n\n", lines[0] + "\n"]))
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=64)).replace(b"\n", b"") + b"\xff\n"
    row = draw(st.integers(1, len(lines) - 1))
    cells = lines[row].rstrip(",").split(",")
    if kind == "row":
        cells = cells[: draw(st.integers(0, len(cells) - 1))]
    else:
        column = draw(st.integers(1, len(cells) - 1))
        junk = ["0", "-3", "10^12", "1000000000000", "nan", "inf", "1.5", "", "x", "99999999999999999999"]
        cells[column] = draw(st.sampled_from(junk))
    lines[row] = ",".join(cells) + ","
    return "\n".join(lines) + "\n"


@FUZZ
@given(content=mutated_topology())
def test_fuzzed_topology_csvs(content):
    # a still-valid topology simply runs (exit 0); the others must fail by the contract
    argv = ["systolic", "topo.csv", "--rows", "8", "--cols", "8", "--dataflow", "ws"]
    _run({"topo.csv": content}, argv, may_succeed=True)
