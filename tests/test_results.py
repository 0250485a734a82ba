"""Results: Pareto fronts (against a brute-force reference), hypervolume, folders, `show`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import cut_torn_tail
from dla_explorer.dse.results import (
    append_csv,
    best_per_objective,
    hypervolume,
    load_results,
    pareto_front,
    pareto_mask,
    parse_objectives,
    prepare_dir,
    read_csv_complete,
)
from dla_explorer.dse.spec import Objective, parse_spec

from .test_spec import BASE


def brute_force_front(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    costs = np.where(maximize, -values, values)
    dominated = [any(np.all(other <= row) and np.any(other < row) for other in costs) for row in costs]
    return ~np.array(dominated, dtype=bool)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int8, st.tuples(st.integers(0, 40), st.integers(1, 3)), elements=st.integers(-5, 5)),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_pareto_mask_matches_brute_force(values, maximize):
    maximize = maximize[: values.shape[1]]
    np.testing.assert_array_equal(
        pareto_mask(values, maximize), brute_force_front(values.astype(float), maximize)
    )


def test_pareto_front_directions_and_feasibility():
    table = pd.DataFrame(
        {
            "fps": [10, 20, 30, 25, 40],
            "power_w": [5, 8, 20, 9, 50],
            "feasible": [True, True, True, True, False],
        }
    )
    objectives = [
        Objective(metric="fps", direction="maximize"),
        Objective(metric="power_w", direction="minimize"),
    ]
    front = pareto_front(table, objectives)
    assert front["fps"].tolist() == [30, 25, 20, 10]  # 40 fps is infeasible
    assert pareto_front(table, objectives, feasible_only=False)["fps"].tolist()[0] == 40
    best = best_per_objective(table, objectives)
    assert best["fps"].tolist() == [30, 10] and best["objective"].tolist() == ["max fps", "min power_w"]


def test_hypervolume_2d_and_3d():
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    # minimise both, reference (4, 4): staircase area 3 + 2 + 1 = 6
    assert hypervolume(points, np.array([4.0, 4.0]), [False, False]) == pytest.approx(6.0)
    # maximising the negated first objective is the same problem
    assert hypervolume(points * [-1, 1], np.array([-4.0, 4.0]), [True, False]) == pytest.approx(6.0)
    cube = hypervolume(np.array([[0.0, 0.0, 0.0]]), np.array([1.0, 2.0, 3.0]), [False] * 3)
    assert cube == pytest.approx(6.0)
    # two overlapping boxes below (2, 2, 2): 2*2*1 + 1*1*2 - 1*1*1 (their overlap) = 5
    boxes = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(boxes, np.full(3, 2.0), [False] * 3) == pytest.approx(5.0)
    assert hypervolume(points, np.array([0.5, 0.5]), [False, False]) == 0.0


def test_hypervolume_4d_against_monte_carlo():
    """Our own exact slicing (no private Optuna API) against a sampled estimate."""
    rng = np.random.default_rng(1)
    points = rng.random((12, 4))
    exact = hypervolume(points, np.ones(4), [False] * 4)
    samples = rng.random((400_000, 4))
    dominated = np.zeros(len(samples), dtype=bool)
    for p in points:
        dominated |= np.all(samples >= p, axis=1)
    assert exact == pytest.approx(dominated.mean(), abs=0.005)


def test_parse_objectives():
    parsed = parse_objectives("fps:max, power_w:min,fps_per_w")
    assert [(o.metric, o.direction) for o in parsed] == [
        ("fps", "maximize"),
        ("power_w", "minimize"),
        ("fps_per_w", "maximize"),
    ]
    with pytest.raises(DlaError, match="unknown metric 'speed'"):
        parse_objectives("speed:max")


def test_results_folder_refuses_another_spec(tmp_path):
    spec = parse_spec({**BASE, "results": str(tmp_path / "r")}, "a.yaml")
    folder = prepare_dir(spec, "a.yaml")
    assert prepare_dir(spec, "a.yaml") == folder
    (folder / "sweep.csv").write_text("point,fps\n0,1.0\n")  # a result: the folder is a's now
    other = parse_spec({**BASE, "results": str(tmp_path / "r"), "objectives": ["fps"]}, "b.yaml")
    with pytest.raises(DlaError) as info:
        prepare_dir(other, "b.yaml")
    message = str(info.value)
    assert "a.yaml" in message and "b.yaml" in message and spec.content_hash() in message


def test_appended_csv_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "sweep.csv"
    append_csv(pd.DataFrame({"point": [0, 1], "fps": [1.0, 2.0]}), path)
    append_csv(pd.DataFrame({"point": [2], "fps": [3.0]}), path)
    with open(path, "a") as handle:
        handle.write("3,4.")  # a writer killed mid-line
    before = path.read_bytes()
    table = read_csv_complete(path)
    assert table["point"].tolist() == [0, 1, 2]
    assert path.read_bytes() == before  # issue 14 item 5: a reader never writes
    cut_torn_tail(path)  # the writer (holding the folder's lock) cuts it before appending
    assert path.read_text().endswith("3.0\n")


def test_appended_rows_follow_the_files_columns(tmp_path):
    """Rows were appended under the file's old header: a sweep resumed by a version whose rows
    carry a new column (`fidelity`) left a file no reader could parse, and rows in another
    column order shifted their values silently."""
    path = tmp_path / "sweep.csv"
    append_csv(pd.DataFrame({"point": [0], "fps": [1.0]}), path)
    append_csv(pd.DataFrame({"fps": [2.0], "point": [1]}), path)  # another order
    append_csv(pd.DataFrame({"point": [2], "fidelity": [1], "fps": [3.0]}), path)  # a new column
    append_csv(pd.DataFrame({"point": [3]}), path)  # a column missing: left empty
    table = read_csv_complete(path)
    assert table["point"].tolist() == [0, 1, 2, 3]
    assert table["fps"].tolist()[:3] == [1.0, 2.0, 3.0] and pd.isna(table["fps"].iloc[3])
    assert pd.isna(table["fidelity"].iloc[0]) and table["fidelity"].iloc[2] == 1
    assert path.read_text().splitlines()[0] == "point,fps,fidelity"


def test_csv_cut_inside_its_first_row_resumes(tmp_path):
    """Issue 14 item 10: only a header and half a row left: no rows yet (was IndexError)."""
    path = tmp_path / "sweep.csv"
    path.write_text("point,fps\n0,1.")
    assert read_csv_complete(path, "point") is None
    path.write_text("poi")
    assert read_csv_complete(path, "point") is None


def test_repeated_keys_keep_their_first_row(tmp_path):
    path = tmp_path / "sweep.csv"
    path.write_text("point,fps\n0,1.0\n1,2.0\n0,9.0\n")
    assert read_csv_complete(path, "point")["fps"].tolist() == [1.0, 2.0]


def test_load_results_errors(tmp_path):
    with pytest.raises(DlaError, match="not a results folder"):
        load_results(str(tmp_path / "nothing"))
    with pytest.raises(DlaError, match="no results yet"):
        load_results(str(tmp_path))
