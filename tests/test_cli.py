"""The command line: commands, help, exit codes 0/1/2 and one-line errors without tracebacks."""

import argparse
import io
import subprocess
import sys

import pytest

from dla_explorer.cli import main

from .helpers import run

TINY = ["--model", "mobilenet_v2", "--input-shape", "1,3,64,64", "--calibration-size", "2"]


def test_models_lists_the_zoo(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert all(name in out for name in ("resnet50", "mobilenet_v1", "mobilenet_v2"))


def test_workload_table_csv_and_scalesim(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "workload",
        "resnet50",
        "--csv",
        str(tmp_path / "w.csv"),
        "--scalesim",
        str(tmp_path / "topo.csv"),
    )
    assert code == 0
    assert "54 compute layers" in out and "4.09 GMACs" in out
    assert (tmp_path / "w.csv").read_text().count("\n") == 55
    code, out, _ = run(capsys, "workload", str(tmp_path / "topo.csv"))
    assert code == 0 and "54 compute layers" in out


def test_zoo_models_default_to_their_own_input(capsys, tmp_path):
    """`workload digits_cnn` traced a 3x224x224 input into its 1-channel conv (an error), and
    resnet8 (CIFAR-10, 32x32: 12.5 MMACs as 'models' says) was traced at 224x224 (612 MMACs)."""
    code, out, _ = run(capsys, "workload", "digits_cnn")
    assert code == 0 and "input [1, 1, 16, 16]" in out
    code, out, _ = run(capsys, "workload", "resnet8")
    assert code == 0 and "input [1, 3, 32, 32]" in out and "12.50 MMACs" in out  # the published size
    # twice the side: the convolutions' MACs x4, the classifier's 64 x 10 unchanged
    code, out, _ = run(capsys, "workload", "resnet8", "--input-shape", "1,3,64,64")
    assert code == 0 and "input [1, 3, 64, 64]" in out and "50.00 MMACs" in out
    argv = ["prune", "--model", "resnet8", "--sparsity", "0.5", "--calibration-size", "1"]
    code, out, _ = run(capsys, *argv, "-o", str(tmp_path / "r8.npz"))
    assert code == 0 and "input [1, 3, 32, 32]" in out


def test_prune_then_inspect(capsys, tmp_path):
    out_file = tmp_path / "mv2.npz"
    code, out, _ = run(
        capsys,
        "prune",
        *TINY,
        "--method",
        "random",
        "--sparsity",
        "0.8",
        "--keep-dense",
        "features.0.0",
        "classifier.1",
        "-o",
        str(out_file),
    )
    assert code == 0 and out_file.is_file()
    assert "target sparsity 80.0%" in out and "features.0.0=0" in out
    code, out, _ = run(capsys, "inspect", str(out_file), "--csv", str(tmp_path / "l.csv"))
    assert code == 0 and "features.18.0" in out and "act_density" in out


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (tqdm shows a bar only on one)."""

    def isatty(self):
        return True


@pytest.mark.parametrize("flags", [[], ["--no-progress"]])
def test_prune_shows_per_layer_bars_on_a_terminal_only(capsys, tmp_path, monkeypatch, flags):
    argv = ["prune", *TINY, "--sparsity", "0.5", "-o", str(tmp_path / "p.npz"), *flags]
    code, out, err = run(capsys, *argv)  # captured stderr: not a terminal, no bar
    assert code == 0 and "layer" not in err and "pruning mobilenet_v2" not in err
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    if flags:
        assert shown == ""
    else:  # a bar over the 53 compute layers of MobileNet-v2 for each stage
        assert "pruning mobilenet_v2 (random): masks" in shown and "/53" in shown
        assert "pruning mobilenet_v2 (random): activations" in shown
    assert capsys.readouterr().out == out  # the summary is the same


def test_prune_from_recipe_with_command_line_override(capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: mobilenet_v2\nmethod: nm\nnm: '1:4'\ninput_shape: [1, 3, 32, 32]\ncalibration_size: 2\n"
    )
    code, out, _ = run(capsys, "prune", str(recipe), "--nm", "2:4", "-o", str(tmp_path / "x.npz"))
    assert code == 0 and "nm 2:4" in out


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["prune", *TINY, "--sparsity", "1.5", "-o", "x.npz"], 2, "key 'sparsity'"),
        (["prune", *TINY, "--method", "prune-it", "-o", "x.npz"], 2, "key 'method'"),
        (["prune", *TINY, "--method", "nm", "--nm", "3:2", "-o", "x.npz"], 2, "N must be between"),
        (["prune", "--model", "vgg16", "--sparsity", "0.5", "-o", "x.npz"], 2, "unknown model 'vgg16'"),
        (
            ["prune", "--model", "resnet50", "--input-shape", "1,1,224,224", "-o", "x.npz"],
            2,
            "does not fit model",
        ),
        (["prune", "--sparsity", "0.5"], 2, "give a recipe file or --model"),
        (["prune", *TINY], 2, "give -o/--output"),
        (["inspect", "missing.npz"], 1, "checkpoint not found"),
        (["workload", "missing.csv"], 1, "file not found"),
    ],
)
def test_errors_are_one_line_with_exit_code(capsys, argv, code, message):
    got, out, err = run(capsys, *argv)
    assert got == code
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_misspelled_recipe_key(capsys, tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: resnet50\nmethod: random\nsparsty: 0.9\n")
    code, _, err = run(capsys, "prune", str(recipe))
    assert code == 2
    assert f"{recipe}: key 'sparsty': unknown key" in err


def test_truncated_checkpoint_via_the_real_executable(tmp_path):
    bad = tmp_path / "cut.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    result = subprocess.run(
        [sys.executable, "-m", "dla_explorer", "inspect", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("(corrupt or truncated: BadZipFile)")
    assert "Traceback" not in result.stderr


def test_usage_error_exit_code_two_and_help():
    result = subprocess.run(
        [sys.executable, "-m", "dla_explorer", "prune", "--sparsity", "abc"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "invalid float value" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "dla_explorer", "prune", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "examples:" in result.stdout


def test_systolic_command_writes_scalesim_cycles(capsys, tmp_path):
    from pathlib import Path

    import pandas as pd

    data = Path(__file__).parent / "data" / "scalesim"
    code, out, _ = run(
        capsys,
        "systolic",
        str(data / "resnet50_topology.csv"),
        "--rows",
        "32",
        "--cols",
        "32",
        "--dataflow",
        "os",
        "--csv",
        str(tmp_path / "c.csv"),
    )
    assert code == 0 and "overall utilisation" in out
    ours = pd.read_csv(tmp_path / "c.csv")
    reference = pd.read_csv(data / "resnet50_os_32x32.csv")
    assert list(ours["layer"]) == list(reference["layer"])
    assert (ours["compute_cycles"] == reference["cycles"]).all()
    code, _, err = run(capsys, "systolic", str(data / "resnet50_topology.csv"), "--rows", "8")
    assert code == 2 and "cols, dataflow not given" in err


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "mv2.npz"
    assert main(["prune", *TINY, "--sparsity", "0.9", "-o", str(path)]) == 0
    return path


def test_pack_and_simulate_commands(capsys, small_checkpoint, tmp_path):
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "pack",
        str(small_checkpoint),
        "--k-vec",
        "32",
        "--c-vec",
        "8",
        "--alpha",
        "4",
        "--no-cache",
        "--csv",
        str(tmp_path / "p.csv"),
    )
    assert code == 0 and "utilisation" in out and (tmp_path / "p.csv").is_file()
    code, out, _ = run(
        capsys,
        "simulate",
        str(small_checkpoint),
        "--memory",
        "ddr4_2666_x1",
        "--mode",
        "unpacked",
        "--no-cache",
        "--csv",
        str(tmp_path / "s.csv"),
    )
    assert code == 0 and "frames/s" in out and "resources" in out
    import pandas as pd

    layers = pd.read_csv(tmp_path / "s.csv")
    assert len(layers) == 53 and set(layers["bound"]) <= {"compute", "memory"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alpha", "0"], "alpha"),
        (["--gamma", "-1"], "gamma"),
        (["--k-vec", "0"], "k-vec"),
    ],
)
def test_pack_bad_options(capsys, small_checkpoint, argv, message):
    code, _, err = run(capsys, "pack", str(small_checkpoint), *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_simulate_names_a_ddr_free_design_whose_weights_do_not_fit(capsys, small_checkpoint, tmp_path):
    import yaml

    from dla_explorer.sim import config as hw

    base = hw.load_architecture("dla_s10mx").model_dump()
    verdicts = {}
    for kb in (0.01, 64):
        path = tmp_path / f"a{kb}.yaml"
        path.write_text(yaml.safe_dump({**base, "weights_resident": True, "filter_cache_kb": kb}))
        code, out, _ = run(capsys, "simulate", str(small_checkpoint), "--arch", str(path), "--no-cache")
        assert code == 0
        verdicts[kb] = next(line for line in out.splitlines() if "resources" in line)
    assert "DOES NOT FIT: filter_scratchpad +" in verdicts[0.01]
    assert verdicts[64].endswith(": fits")


def test_simulate_bad_configs(capsys, small_checkpoint):
    code, _, err = run(capsys, "simulate", str(small_checkpoint), "--memory", "gddr7")
    assert code == 2 and "memory config 'gddr7' not found" in err
    code, _, err = run(
        capsys,
        "simulate",
        str(small_checkpoint),
        "--device",
        "arria10_gx1150",
        "--arch",
        "dla_a10",
        "--memory",
        "hbm2_x1",
    )
    assert code == 2 and "HBM2 pseudo-channels, Arria 10 GX 1150 has 0" in err


def test_cli_reference_is_current():
    from pathlib import Path

    from dla_explorer.cli._docs import render

    document = Path(__file__).parents[1] / "docs" / "cli.md"
    assert document.read_text() == render(), (
        "docs/cli.md is stale: python -m dla_explorer.cli._docs > docs/cli.md"
    )


def test_packed_files_in_the_wrong_place_say_what_to_do(capsys, small_checkpoint, tmp_path):
    """A packed file given to pack, or simulated on an array of another k_vec: the error says
    which file and what to run instead; an output that is a folder is refused before the work."""
    packed = tmp_path / "p.npz"
    argv = ["pack", str(small_checkpoint), "--k-vec", "32", "--no-cache", "--out", str(packed)]
    assert run(capsys, *argv)[0] == 0
    code, _, err = run(capsys, "pack", str(packed))
    assert code == 2 and f"{packed}: a packed workload (written by 'pack --out')" in err
    code, out, err = run(capsys, "simulate", str(packed))  # dla_s10mx has k_vec 64
    assert code == 2 and err.count("\n") == 1
    assert (
        f"{packed}: packed for k_vec 32, but --arch dla_s10mx has k_vec 64; pack again with --k-vec 64"
        in (err)
    )
    code, out, err = run(capsys, "pack", str(small_checkpoint), "--no-cache", "--out", str(tmp_path))
    assert code == 1 and out == "" and f"{tmp_path}: is a folder" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("# nothing yet\n", "empty; expected a mapping of keys to values"),  # was 'got NoneType'
        ("model: resnet8\nsparsity: 0.5\noverrides: {conv9: 0.2}\n", "override 'conv9' matches no layer"),
        (
            "model: resnet8\ninput_shape: [1, 3, -1, 32]\n",
            "key 'input_shape.2': Input should be greater than 0",
        ),
    ],
)
def test_recipe_errors_name_the_recipe(capsys, tmp_path, text, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    code, out, err = run(capsys, "prune", str(recipe), "-o", str(tmp_path / "x.npz"))
    assert code == 2 and err == f"dla-explorer prune: error: {recipe}: {message}" + err.split(message)[1]
    assert err.count("\n") == 1 and not (tmp_path / "x.npz").exists()


def test_prune_output_folder_is_refused_before_pruning(capsys, tmp_path, monkeypatch):
    from dla_explorer.sparsity import pruning

    monkeypatch.setattr(pruning, "prune_recipe", lambda *a, **k: pytest.fail("pruned first"))
    code, _, err = run(capsys, "prune", "--model", "resnet8", "-o", str(tmp_path))
    assert code == 1 and f"{tmp_path}: is a folder" in err


def test_show_of_a_csv_without_the_objectives_columns(capsys, tmp_path):
    """A CSV that is not a results table: one line naming the missing column (was a pandas
    KeyError traceback)."""
    table = tmp_path / "layers.csv"
    table.write_text("layer,macs\nconv1,100\n")
    code, _, err = run(capsys, "show", str(table), "--objectives", "fps:max,power_w:min")
    assert code == 1 and "Traceback" not in err
    assert (
        err
        == f"dla-explorer show: error: {table}: no column 'fps', 'power_w' (not a results table of "
        + ("'dla-explorer sweep' or 'search'?)\n")
    )


def test_inspect_of_a_packed_workload_says_what_it_is(capsys, small_checkpoint, tmp_path):
    packed = tmp_path / "p.npz"
    assert run(capsys, "pack", str(small_checkpoint), "--no-cache", "--out", str(packed))[0] == 0
    code, _, err = run(capsys, "inspect", str(packed))
    assert (
        code == 1
        and "not a dla-explorer sparse-model file (it is a dla-explorer.packed-workload file)" in err
    )


def test_every_command_with_arguments_shows_examples():
    """The README: 'Every command has --help with examples' (inspect had none)."""
    from dla_explorer.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    lacking = [name for name, p in commands.items() if name != "models" and "example" not in p.format_help()]
    assert lacking == []


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--no-docs", "--csv", "{dir}"],
        ["workload", "resnet8", "--scalesim", "{dir}"],
        ["simulate", "resnet8", "--csv", "{dir}"],
        ["train", "digits", "-o", "{dir}"],
    ],
)
def test_an_output_that_is_a_folder_is_refused_before_the_work(capsys, tmp_path, monkeypatch, argv):
    from dla_explorer.sparsity import pruning
    from dla_explorer.study import validation

    monkeypatch.setattr(validation, "run", lambda *a: pytest.fail("validated first"))
    monkeypatch.setattr(pruning, "resolve_model", lambda *a: pytest.fail("loaded the model first"))
    monkeypatch.setattr(pruning, "prune", lambda *a, **k: pytest.fail("loaded the model first"))
    code, out, err = run(capsys, *[a.format(dir=tmp_path) for a in argv])
    assert (
        code == 1
        and out == ""
        and err == f"dla-explorer {argv[0]}: error: {tmp_path}: is a folder; give a file name to write\n"
    )
