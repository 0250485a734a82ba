"""Experiment specs: validation errors name the file, the key and the rule; grids and conditionals."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml

from dla_explorer.core.errors import UsageError
from dla_explorer.dse.space import Space
from dla_explorer.dse.spec import load_spec, parse_spec

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"

BASE = {
    "name": "t",
    "models": [{"checkpoint": "m.npz"}],
    "device": "stratix10_mx2100",
    "base": {"arch": "dla_s10mx", "memory": "hbm2_x1"},
    "space": {"k_vec": {"type": "int", "low": 16, "high": 64, "step": 16}},
    "objectives": ["fps", "power_w"],
}


def spec_with(**changes):
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for part in path:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def error_of(data) -> str:
    with pytest.raises(UsageError) as info:
        parse_spec(data, "exp.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("exp.yaml: ")
    return message


def test_example_specs_load():
    for name in ("mobilenet_sweep", "resnet50_hbm2_search", "paper_search"):
        path = EXPERIMENTS / f"{name}.yaml"
        spec = load_spec(path)
        assert spec.name == path.stem
    assert len(Space(load_spec(EXPERIMENTS / "mobilenet_sweep.yaml")).grid(1000)) == 96


def test_defaults_and_shorthands():
    spec = parse_spec(spec_with(sampler="nsga2", objectives={"fps_per_w": "maximize"}), "x")
    assert spec.sampler.name == "nsga2" and spec.sampler.seed == 0
    assert [(o.metric, o.direction) for o in spec.objectives] == [("fps_per_w", "maximize")]
    assert spec.modes == ["packed"] and spec.constraints.device
    directions = parse_spec(BASE, "x").directions
    assert directions == ["maximize", "minimize"]


@pytest.mark.parametrize(
    ("changes", "key", "rule"),
    [
        ({"space__q_vecc": {"type": "int", "low": 1, "high": 4}}, "space.q_vecc", "unknown parameter"),
        ({"space__k_vec": {"type": "int", "low": 64, "high": 16}}, "space.k_vec", "empty range"),
        ({"space__c_vec": {"type": "pow2", "low": 4, "high": 24}}, "space.c_vec", "not a power of two"),
        ({"space": {"memory": []}}, "space.memory.choices", "at least 1"),
        ({"space__k_vec": {"type": "int", "low": 0, "high": 16}}, "space.k_vec", "greater than 0"),
        (
            {"space__mem_controller_efficiency": {"type": "float", "low": 0.5, "high": 1.5}},
            "space.mem_controller_efficiency",
            "less than or equal to 1",
        ),
        ({"space": {"memory": ["hbm2_x1", "hbm9"]}}, "space.memory", "not found"),
        ({"space__k_vec__kind": "int"}, "space.k_vec.kind", "unknown key"),
        ({"objectives": ["fps", "speed"]}, "objectives", "unknown metric 'speed'"),
        ({"sampler": "cmaes"}, "sampler.name", "cmaes optimises one objective"),
        (
            {"sampler": {"name": "tpe", "options": {"n_startup": 5}}},
            "sampler.options.n_startup",
            "not an option of the tpe sampler",
        ),
        ({"sampler": "annealing"}, "sampler.name", "unknown sampler 'annealing'"),
        # issue 14: refused at load, with the key and the rule
        ({"name": ".."}, "name", "should match pattern"),  # item 7: results into the current folder
        ({"name": "."}, "name", "should match pattern"),
        ({"objectives": {"speed": "maximize"}}, "objectives.0.metric", "unknown metric 'speed'"),  # 15
        ({"constraints": {"max": {"power_w": float("nan")}}}, "constraints.max.power_w", "finite"),
        (
            {"space__mem_controller_efficiency": {"type": "float", "low": 0.5, "high": float("inf")}},
            "space.mem_controller_efficiency.high",
            "finite",
        ),
        (
            {"sampler": {"name": "tpe", "options": {"n_startup_trials": "ten"}}},
            "sampler.options.n_startup_trials",
            "must be of type int",
        ),
        (
            {"sampler": {"name": "nsga2", "options": {"population_size": 1}}},
            "sampler.options.population_size",
            "greater than or equal to 2",
        ),
        ({"sampler": {"name": "tpe", "seed": -1}}, "sampler.seed", "greater than or equal to 0"),
        ({"sampler": {"name": "tpe", "seed": 10**21}}, "sampler.seed", "less than or equal to"),
        ({"space__c_vec": {"type": "pow2", "low": 4, "high": 2**200}}, "space.c_vec.high", "less than or"),
        ({"space__k_vec": {"type": "int", "low": 1, "high": 10**20}}, "space.k_vec.high", "less than or"),
        ({"constraints": {"max": {"watts": 50}}}, "constraints.max", "unknown metric 'watts'"),
        ({"device": "virtex"}, "device", "not found"),
        ({"base__memory": "ddr5"}, "base.memory", "not found"),
        ({"models": [{"recipe": "a.yaml", "checkpoint": "b.npz"}]}, "models.0", "exactly one"),
        ({"modes": ["packed", "sparse"]}, "modes.1", "Input should be"),
        (
            {"space__mem_channels": {"type": "int", "low": 8, "high": 32, "when": {"mem_kindd": "hbm2"}}},
            "space.mem_channels.when.mem_kindd",
            "unknown parameter",
        ),
        (
            {
                "space__alpha": {"type": "pow2", "low": 1, "high": 8, "when": {"c_vec": 16}},
                "space__c_vec": {"type": "pow2", "low": 4, "high": 32},
            },
            "space.alpha.when.c_vec",
            "listed before it",
        ),
        ({"space__memory": ["hbm2_x1", "hbm2_x2"]}, "space.memory", "listed before the field"),
        (
            {"space__clock_mhz": {"type": "float", "low": 200, "high": 400}, "sampler": "grid"},
            "space.clock_mhz.step",
            "grid sampler needs a step",
        ),
        ({"name": "a/b"}, "name", "String should match pattern"),
    ],
)
def test_validation_errors_name_key_and_rule(changes, key, rule):
    message = error_of(spec_with(**changes))
    assert f"key '{key}'" in message and rule in message, message


def test_cmaes_single_objective_is_fine():
    spec = parse_spec(spec_with(sampler="cmaes", objectives=["fps_per_w"]), "x")
    assert spec.sampler.name == "cmaes"


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="bad.yaml: not valid YAML"):
        load_spec(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump({**BASE, "n_trail": 5}))
    with pytest.raises(UsageError, match="unknown.yaml: key 'n_trail': unknown key"):
        load_spec(unknown)


def test_hash_ignores_budget_but_not_the_experiment():
    a = parse_spec(BASE, "x")
    assert a.content_hash() == parse_spec({**BASE, "n_trials": 99, "storage": "j.log"}, "x").content_hash()
    assert a.content_hash() != parse_spec(spec_with(objectives=["fps"]), "x").content_hash()


def test_grid_respects_conditionals_and_config_choices():
    spec = parse_spec(
        spec_with(
            modes=["dense", "packed"],
            space={
                "memory": ["ddr4_2666_x2", "hbm2_x1"],
                "k_vec": {"type": "pow2", "low": 16, "high": 64},
                "mem_channels": {
                    "type": "int",
                    "low": 8,
                    "high": 32,
                    "step": 8,
                    "when": {"mem_kind": "hbm2"},
                },
                "alpha": {"type": "pow2", "low": 2, "high": 8, "when": {"mode": "packed"}},
            },
        ),
        "x",
    )
    grid = Space(spec).grid(10_000)
    # mode (2, implicit, first) x memory (2) x k_vec (3), HBM2 rows x 4 channel counts,
    # packed rows x 3 alphas
    per_mode_memory = {
        ("dense", "ddr4_2666_x2"): 3,
        ("dense", "hbm2_x1"): 12,
        ("packed", "ddr4_2666_x2"): 9,
        ("packed", "hbm2_x1"): 36,
    }
    assert len(grid) == sum(per_mode_memory.values())
    counts = grid.groupby(["mode", "memory"]).size().to_dict()
    assert counts == per_mode_memory
    ddr = grid[grid["memory"] == "ddr4_2666_x2"]
    assert set(ddr["mem_channels"]) == {2} and set(ddr["mem_kind"]) == {"ddr4"}
    assert set(grid[grid["mem_kind"] == "hbm2"]["mem_channels"]) == {8, 16, 24, 32}
    assert set(grid[grid["mode"] == "dense"]["alpha"]) == {8}  # the base arch's alpha
    assert not grid.duplicated().any()
    assert grid["k_vec"].dtype.kind == "i" and grid["clock_mhz"].dtype.kind == "f"


def test_grid_limit_suggests_search():
    spec = parse_spec(
        spec_with(space__clock_mhz={"type": "float", "low": 100, "high": 500, "step": 0.5}), "x"
    )
    with pytest.raises(UsageError, match="more than 1,000 designs.*dla-explorer search"):
        Space(spec).grid(1_000)


def test_trial_params_round_trip_through_the_table():
    spec = parse_spec(spec_with(space__c_vec={"type": "pow2", "low": 4, "high": 32}), "x")
    space = Space(spec)
    designs = space.from_trial_params([{"k_vec": 32, "log2_c_vec": 3}, {"k_vec": 48}])
    assert designs["c_vec"].tolist() == [8, 16]  # the second keeps the base arch's c_vec
    assert designs["k_vec"].tolist() == [32, 48]


def test_modes_are_the_packing_modes():
    from dla_explorer import packing
    from dla_explorer.dse.spec import Mode

    assert typing.get_args(Mode) == packing.MODES


def test_several_errors_name_every_key_in_one_line(tmp_path):
    """A spec with several mistakes names the keys of the next ones too (it said '(and 5 more)',
    so each needed its own run to find)."""
    import pydantic

    from dla_explorer.core.fileio import load_yaml_model

    class Six(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int = 0

    path = tmp_path / "six.yaml"
    path.write_text("c: 1\nf: x\ng: 2\n")
    with pytest.raises(UsageError) as caught:
        load_yaml_model(Six, path)
    message = str(caught.value)
    assert message == (
        f"{path}: key 'a': missing (a required key) (also: 'b' (missing), 'd' (missing), "
        "'e' (missing), 'f' (invalid value) and 1 more)"
    )


def test_a_whole_file_check_names_its_key(tmp_path):
    """A check across keys that names one ('models: ...') reports it as the key, not as
    '(top level)'; the known models as a list of names, not a Python list."""
    from dla_explorer.study import experiment

    text = (EXPERIMENTS / "paper.yaml").read_text().replace("models: [resnet50,", "models: [resnet5O,")
    path = tmp_path / "paper.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        experiment.load_experiment(path)
    assert str(caught.value).startswith(f"{path}: key 'models': unknown model 'resnet5O' (known: resnet50, ")
