"""The public Python API (dla_explorer.PUBLIC_MODULES) refuses bad arguments the way the command
line does: a DlaError subclass with a one-line message that names the argument or value and the
rule, never an AttributeError, TypeError or KeyError from deep inside, and never a silent wrong
result (a batch of 0 gave NaN power, a clock in Hz lifted the memory port's cap).

Each case below failed before its fix with the exception or result named in its comment.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import dla_explorer
from dla_explorer import (
    checkpoint,
    evaluation,
    executor,
    experiment,
    hw,
    models,
    packing,
    pruning,
    report,
    resources,
    results,
    search,
    simulator,
    spec,
    sweep,
    systolic,
    traffic,
    workload,
)
from dla_explorer.core.errors import BadValue, DlaError, UnknownName, UsageError
from dla_explorer.sim.dram import simulate_trace
from tests.conftest import TINY_SHAPE, TinyNet

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def sparse() -> pruning.SparseModel:
    torch.manual_seed(0)
    return pruning.prune(TinyNet().eval(), "random", 0.5, input_shape=TINY_SHAPE, calibration_size=1)


@pytest.fixture(scope="module")
def hardware() -> tuple[hw.Architecture, hw.Memory, hw.Device]:
    return hw.load_architecture("dla_s10mx"), hw.load_memory("hbm2_x2"), hw.load_device("stratix10_mx2100")


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert isinstance(error.value, DlaError), f"{type(error.value).__name__}: {message}"
    assert "\n" not in message and message, repr(message)
    return message


# -- pruning and the zoo ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"sparsity": "0.9"}, r"sparsity '0.9' must be in \[0, 1\) \(a number"),  # was TypeError
        ({"sparsity": None}, r"sparsity None must be in \[0, 1\) \(a number"),  # was TypeError
        ({"sparsity": 90}, r"sparsity 90 must be in \[0, 1\) \(a number"),  # percent, not a fraction
        ({"sparsity": 0.5, "seed": "a"}, r"seed = 'a': must be a whole number in \[0, 4294967295\]"),
        ({"sparsity": 0.5, "seed": -1}, r"seed = -1: must be a whole number"),  # was ValueError
        # was a SparseModel measured on an empty batch
        ({"sparsity": 0.5, "calibration_size": 0}, r"calibration_size = 0: must be a whole number in \[1, "),
    ],
)
def test_prune_refuses_bad_arguments(kwargs: dict, expected: str) -> None:
    with pytest.raises(UsageError, match=expected) as error:
        pruning.prune(TinyNet(), "random", input_shape=TINY_SHAPE, **kwargs)
    one_line(error)


def test_zoo_seed_must_be_a_whole_number() -> None:
    with pytest.raises(UsageError, match=r"seed = 'x': must be a whole number >= 0") as error:
        models.get("resnet8", seed="x")  # was ValueError from torch.manual_seed
    one_line(error)
    assert isinstance(models.get("resnet8", seed=np.int64(3)), torch.nn.Module)


def test_extract_names_a_model_that_is_not_a_module(tiny_net: TinyNet) -> None:
    with pytest.raises(UsageError, match=r"model must be a Module, not str 'resnet8' \(models.get") as error:
        workload.extract("resnet8", (1, 3, 32, 32))  # was AttributeError: named_modules
    one_line(error)
    with pytest.raises(UsageError, match=r"input_shape = '1,3,16,16': must be whole numbers > 0"):
        workload.extract(tiny_net, "1,3,16,16")  # was ValueError from int('1,')
    with pytest.raises(UsageError, match=r"input_shape = \(1, 3, 0, 16\): must be whole numbers > 0"):
        workload.extract(tiny_net, (1, 3, 0, 16))
    assert len(workload.extract(tiny_net, np.array(TINY_SHAPE))) == 5  # an array of ints is fine


def test_unknown_layer_is_a_one_line_usage_error_and_still_a_key_error(sparse: pruning.SparseModel) -> None:
    packed = packing.pack(sparse, packing.Geometry(16, 4), "packed", alpha=4, cache=None)
    lookups = (
        lambda: sparse.workload["stemm"],
        lambda: packed["stemm"],
        lambda: sparse.layer_sparsity("stemm"),
    )
    for lookup in lookups:
        with pytest.raises(UnknownName) as error:  # was KeyError: 'stemm'
            lookup()
        assert one_line(error) == "no layer 'stemm' in the model (5 layers; did you mean stem)"
        assert isinstance(error.value, KeyError)  # `except KeyError` code keeps working
    with pytest.raises(
        UnknownName, match=r"no layer 'x' in the model \(5 layers; layers are named like stem,"
    ):
        sparse.workload["x"]


# -- packing and the simulator ---------------------------------------------------------------------


def test_pack_names_a_target_that_is_not_a_sparse_model() -> None:
    with pytest.raises(UsageError, match=r"sparse must be a SparseModel, not str 'resnet8'") as error:
        packing.pack("resnet8", packing.Geometry(16, 4))  # was AttributeError: content_hash
    one_line(error)


@pytest.mark.parametrize(
    "position, value, expected",
    [
        (0, "resnet8", r"target must be a SparseModel or PackedWorkload, not str 'resnet8'"),
        (1, "dla_s10mx", r"arch must be an Architecture, not str 'dla_s10mx' \(hw.load_architecture"),
        (2, "hbm2_x2", r"memory must be a Memory, not str 'hbm2_x2' \(hw.load_memory"),
        (3, "stratix10_mx2100", r"device must be a Device, not str 'stratix10_mx2100' \(hw.load_device"),
    ],
)
def test_simulate_names_an_argument_of_the_wrong_type(sparse, hardware, position, value, expected) -> None:
    args = [sparse, *hardware]
    args[position] = value  # each was an AttributeError naming an attribute, not the argument
    with pytest.raises(UsageError, match=expected) as error:
        simulator.simulate(*args)
    one_line(error)


def test_simulate_names_swapped_memory_and_device(sparse, hardware) -> None:
    arch, memory, device = hardware
    with pytest.raises(UsageError, match=r"memory must be a Memory, not Device ") as error:
        simulator.simulate(sparse, arch, device, memory)  # was AttributeError in pydantic
    one_line(error)


def test_simulate_batch_refuses_what_gave_nan_or_a_traceback(sparse, hardware) -> None:
    arch, memory, device = hardware
    designs = pd.DataFrame([simulator.design_row(arch, memory)])
    ok = simulator.simulate_batch(sparse, designs, device, cache=None)
    assert np.isfinite(ok["power_w"]).all()
    with pytest.raises(UsageError, match=r"batch must be >= 1, a whole number of images \(got 0\)"):
        simulator.simulate_batch(sparse, designs, device, batch=0, cache=None)  # was NaN dynamic_w
    with pytest.raises(UsageError, match=r"batch must be >= 1"):
        simulator.simulate(sparse, arch, memory, device, batch=2.5)
    with pytest.raises(UsageError, match=r"designs: the table has no rows") as error:
        simulator.simulate_batch(sparse, designs.iloc[:0], device)  # was IndexError
    one_line(error)
    with pytest.raises(UsageError, match=r"designs must be a DataFrame, not list"):
        simulator.simulate_batch(sparse, [simulator.design_row(arch, memory)], device)
    with pytest.raises(UsageError, match=r"design 0: key 'k_vec' must be > 0 \(got -64\)$"):
        simulator.simulate_batch(sparse, designs.assign(k_vec=-64), device, cache=None)  # np.int64(-64)
    with pytest.raises(UsageError, match=r"mode 'pakced' is not one of dense, unpacked, packed, nm"):
        simulator.design_row(arch, memory, "pakced")  # was accepted, refused later in a batch


def test_resources_names_its_arguments(hardware) -> None:
    arch, _, device = hardware
    assert resources.resources(arch, device).feasible
    with pytest.raises(UsageError, match=r"arch must be an Architecture, not Device "):
        resources.resources(device, arch)  # was AttributeError: precision
    int8_only = device.model_copy(update={"multipliers_per_dsp": {"int8": 2}})
    with pytest.raises(UsageError, match=r"key 'precision': .* has no fp16 multipliers \(it has int8\)"):
        resources.resources(arch.model_copy(update={"precision": "fp16"}), int8_only)  # was KeyError


def test_sustained_bandwidth_refuses_a_clock_that_is_not_mhz(hardware) -> None:
    _, memory, _ = hardware
    at_400 = traffic.sustained_gbps(memory, 400.0)
    assert 0 < at_400 <= 512
    for clock in (0, -400.0, 400e6, float("nan"), "400"):
        # 0 and -400 gave 0 and negative GB/s, 400e6 (Hz) lifted the port cap: 471 GB/s
        with pytest.raises(
            UsageError, match=r"clock_mhz = .*: must be a clock in MHz in \(0, 10,000\]"
        ) as err:
            traffic.sustained_gbps(memory, clock)
        one_line(err)
    with pytest.raises(UsageError, match=r"memory must be a Memory, not str 'hbm2_x2'"):
        traffic.sustained_gbps("hbm2_x2", 400.0)


def test_hardware_built_by_hand_fails_in_one_line(hardware) -> None:
    arch = hardware[0]
    with pytest.raises(BadValue) as error:  # was pydantic's multi-line ValidationError
        hw.Architecture(**{**arch.model_dump(), "k_vec": -1})
    assert one_line(error) == "Architecture: key 'k_vec': Input should be greater than 0 (got -1)"
    assert isinstance(error.value, ValueError)  # as the ValidationError it replaces
    assert hw.Architecture(**arch.model_dump()) == arch
    with pytest.raises(UsageError, match=r"the arch config must be a str or PathLike, not int 3") as error:
        hw.load_architecture(3)  # was TypeError from pathlib
    one_line(error)


def test_systolic_run_takes_a_workload_and_names_anything_else(sparse) -> None:
    table = systolic.run(sparse.workload, 8, 8, "ws")  # was TypeError: not a path
    pd.testing.assert_frame_equal(table, systolic.systolic_cycles(sparse.workload, 8, 8, "ws"))
    with pytest.raises(UsageError, match=r"topology must be a str or PathLike or Workload|topology must be"):
        systolic.run(3, 8, 8, "ws")
    with pytest.raises(UsageError, match=r"dataflow must be one of os, ws, is, got 7"):
        systolic.run(sparse.workload, 8, 8, 7)  # was AttributeError: strip


def test_dram_trace_refuses_addresses_the_uint64_cast_would_change() -> None:
    addresses = np.arange(0, 64 * 8, 64)
    ok = simulate_trace("dramsim3_hbm2_8gb_x128", addresses)
    assert ok.requests == 8
    same = simulate_trace("dramsim3_hbm2_8gb_x128", addresses.astype(np.float64))
    assert same.done_ns.tolist() == ok.done_ns.tolist()  # whole floats are fine
    with pytest.raises(UsageError, match=r"addresses\[1\] = -64: must be a whole byte address >= 0") as error:
        simulate_trace("dramsim3_hbm2_8gb_x128", -addresses)  # wrapped to 2**64 - 64
    one_line(error)
    with pytest.raises(UsageError, match=r"addresses\[0\] = 0.5: must be a whole byte address"):
        simulate_trace("dramsim3_hbm2_8gb_x128", addresses + 0.5)  # truncated


# -- design-space exploration ----------------------------------------------------------------------


def test_results_helpers_name_a_missing_metric_and_mismatched_shapes() -> None:
    table = pd.DataFrame({"fps": [1.0, 2.0]})
    objectives = results.parse_objectives("fps:max,power_w:min")
    for helper in (results.pareto_front, results.best_per_objective):
        with pytest.raises(
            UnknownName, match=r"the results table has no column 'power_w' \(an objective"
        ) as error:
            helper(table, objectives)  # was pandas' KeyError listing the index
        one_line(error)
    with pytest.raises(UsageError, match=r"hypervolume: points \(1, 3\) must be \(n, 2\)") as error:
        results.hypervolume(np.array([[1.0, 2.0, 3.0]]), np.array([0.0, 3.0]), [True, False])
    one_line(error)
    assert results.hypervolume(np.zeros((0, 2)), np.array([0.0, 3.0]), [True, False]) == 0.0
    assert results.hypervolume(np.array([[1.0, 2.0]]), np.array([0.0, 3.0]), [True, False]) == 1.0


def test_run_sweep_and_run_search_check_their_arguments(tmp_path: Path) -> None:
    path = EXPERIMENTS / "mobilenet_sweep.yaml"
    loaded = spec.load_spec(path).model_copy(update={"results": str(tmp_path / "out")})
    with pytest.raises(UsageError, match=r"spec must be a Spec, not str ") as error:
        sweep.run_sweep(str(path), str(path))  # was AttributeError: name
    one_line(error)
    for size in (0, -5, 2.5):  # 0 fell back to the spec's sweep_batch, -5 evaluated nothing
        with pytest.raises(UsageError, match=r"batch_size = .*: must be a whole number >= 1"):
            sweep.run_sweep(loaded, str(path), batch_size=size, progress=False)
    with pytest.raises(UsageError, match=r"spec must be a Spec, not str "):
        search.run_search(str(path), str(path))  # options may be left out now
    for options, expected in (
        ({"n_trials": 0}, r"n_trials = 0: must be a whole number >= 1"),  # fell back to the spec's
        ({"workers": 0}, r"workers = 0: must be a whole number >= 1"),
        ({"timeout": -1.0}, r"timeout = -1.0: must be a number of seconds > 0"),
    ):
        with pytest.raises(UsageError, match=expected):
            search.SearchOptions(**options)
    assert not (tmp_path / "out").exists()  # refused before the results folder is made


# -- docstrings ------------------------------------------------------------------------------------


def test_every_public_function_of_the_public_api_has_a_docstring() -> None:
    missing = []
    for name, module_name in dla_explorer.PUBLIC_MODULES.items():
        module = importlib.import_module(module_name)
        tree = ast.parse(Path(module.__file__).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                functions = [(node.name, node)]
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                functions = [(node.name, node)] + [
                    (f"{node.name}.{sub.name}", sub)
                    for sub in node.body
                    if isinstance(sub, ast.FunctionDef) and not sub.name.startswith("_")
                ]
            else:
                continue
            missing += [f"{name}.{qualified}" for qualified, n in functions if not ast.get_docstring(n)]
    assert missing == []


def test_files_and_the_executor_name_an_object_of_the_wrong_kind(sparse, tmp_path: Path) -> None:
    packed = packing.pack(sparse, packing.Geometry(16, 4), "packed", alpha=4, cache=None)
    cases = (
        # each was an AttributeError: 'PackedWorkload' object has no attribute 'recipe', ...
        (
            lambda: checkpoint.save(packed, tmp_path / "a.npz"),
            r"sparse must be a SparseModel, not PackedWorkload",
        ),
        (
            lambda: packing.save_packed(sparse, tmp_path / "b.npz"),
            r"packed must be a PackedWorkload, not SparseModel",
        ),
        (
            lambda: executor.run_layer(
                np.zeros((1, 16, 8, 8), np.float32), sparse.weights["pointwise"], packed
            ),
            r"packed must be a PackedLayer, not PackedWorkload .* \(one layer of a packing: pack",
        ),
        (
            lambda: experiment.run_experiment("paper.yaml", "paper.yaml", tmp_path),
            r"spec must be an ExperimentSpec",
        ),
        (lambda: evaluation.load_model("resnet8"), r"entry must be a ModelEntry, not str 'resnet8'"),
        (lambda: pruning.prune(5), r"model must be a Module or str, not int 5"),  # 'int' has no 'split'
        (lambda: pruning.prune(TinyNet(), overrides=["stem"]), r"overrides must be a Mapping, not list"),
        (
            lambda: pruning.prune(TinyNet(), input_shape="1,3,16,16"),
            r"input_shape = '1,3,16,16': must be whole",
        ),
    )
    for call, expected in cases:
        with pytest.raises(UsageError, match=expected) as error:
            call()
        one_line(error)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_file_arguments_that_are_not_paths_are_named(tmp_path: Path) -> None:
    cases = (
        # each was a TypeError from pathlib: "expected str, bytes or os.PathLike object, not int"
        (lambda: spec.load_spec(3), r"the spec must be a path \(a str or Path\), not int 3"),
        (lambda: experiment.load_experiment(3), r"path must be a path \(a str or Path\), not int 3"),
        (lambda: checkpoint.load(3), r"the checkpoint must be a path"),
        (
            lambda: packing.load_packed(None),
            r"the packed file must be a path \(a str or Path\), not NoneType None",
        ),
        (lambda: results.load_results(3), r"target must be a path"),
        (lambda: report.write_report(3), r"folder must be a path"),
        (lambda: results.parse_objectives(3), r"objectives must be a str, not int 3"),  # AttributeError
    )
    for call, expected in cases:
        with pytest.raises(UsageError, match=expected) as error:
            call()
        one_line(error)


def test_a_folder_given_for_a_file_is_called_a_folder(tmp_path: Path) -> None:
    # both said "<folder>: file not found" / "checkpoint not found" of a folder that is there
    with pytest.raises(DlaError, match=r": a folder, not a file$") as error:
        spec.load_spec(tmp_path)
    one_line(error)
    with pytest.raises(DlaError, match=r": a folder, not a checkpoint \(.npz file\)$"):
        checkpoint.load(tmp_path)
