"""A damaged results folder gives a one-line DlaError naming the file, never a traceback."""

import json

import pandas as pd
import pytest

from dla_explorer.core.errors import DlaError
from dla_explorer.dse.results import RESULTS_DB, SPEC_FILE, load_results, write_table


def test_a_results_db_that_is_not_sqlite_keeps_the_csv(tmp_path):
    (tmp_path / RESULTS_DB).write_bytes(b"not an sqlite file" * 100)
    table = pd.DataFrame({"point": [0, 1], "fps": [1.0, 2.0]})
    with pytest.raises(DlaError, match=r"results\.db: cannot write table 'sweep' \(file is not a database\)"):
        write_table(table, tmp_path, "sweep")
    # the CSV was written first and atomically: it is complete
    assert pd.read_csv(tmp_path / "sweep.csv").equals(table)


def test_a_spec_record_of_another_version_is_one_line(tmp_path):
    pd.DataFrame({"point": [0], "fps": [1.0]}).to_csv(tmp_path / "sweep.csv", index=False)
    record = {"hash": "x", "source": "s.yaml", "spec": {"objectives": [{"nme": "fps"}], "space": {}}}
    (tmp_path / SPEC_FILE).write_text(json.dumps(record))
    with pytest.raises(DlaError, match=r"spec\.json: its spec is not valid for this version") as info:
        load_results(str(tmp_path))
    assert "\n" not in str(info.value)
