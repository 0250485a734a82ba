"""The docs match the code (static checks, nothing is run):

- every physics-term function of the simulator names its formula's section as
  `docs/<file>.md#<anchor>` in its docstring, and every such reference in the package (and every
  `file.md#anchor` link between the docs) names a heading that exists (GitHub's heading slugs);
- every `dla-explorer ...` command shown in README.md and docs/*.md (docs/cli.md is generated)
  parses with the real parser, and the repository files and hardware configs it names exist;
- every `dla_explorer` name the Python examples import or use, and every `module.name` the docs
  quote in backticks, exists.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import importlib
import inspect
import io
import pkgutil
import re
import shlex
import typing
from pathlib import Path

import pytest

import dla_explorer
from dla_explorer.cli import build_parser
from dla_explorer.sim.config import CONFIG_ROOT

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# the prose docs; docs/cli.md is generated from the parser (tests/test_cli.py checks it)
PROSE = [ROOT / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "cli.md")]
MARKER = re.compile(r"docs/(\w+\.md)#([\w-]+)")
# the form this file replaced: `docs/model.md, "Compute"` (no anchor, so nothing checked it)
OLD_MARKER = re.compile(r"docs/\w+\.md,? \"[A-Z][a-z]")

# The functions that compute a physics or cost term (cycles, bytes, bandwidth, time, energy,
# power, resources, fMAX): each docstring must point to the section that gives its formula.
PHYSICS = {
    "dla_explorer.sim.simulator": (
        "_number_format",
        "fc_images",
        "input_folding",
        "winograd",
        "pixel_tiles",
        "pe_cycles",
        "_depthwise_block",
        "drain_cycles",
        "aux_cycles",
        "_design_clock",
        "weight_fetches",
        "_weight_bytes",
        "_layer_time",
        "_sram_bits",
        "_resource_use",
        "evaluate",
        "totals",
        "_memory_fidelity",
    ),
    "dla_explorer.sim.memory": (
        "channel_bandwidth",
        "transfer_time",
        "access_latency",
        "stream_buffer",
        "buffer_bytes",
    ),
    "dla_explorer.sim.power": (
        "winograd_multiplies",
        "mac_energy",
        "sram_energy",
        "dram_energy",
        "logic_energy",
        "static_power",
    ),
    "dla_explorer.sim.resources": (
        "_blocks",
        "usage",
        "_select_bits",
        "fmax_mhz",
        "device_excess",
        "resources",
    ),
    "dla_explorer.sim.graph": ("graph_arrays", "GraphArrays.resident"),
    "dla_explorer.sim.traffic": (
        "level1_streams",
        "sustained_gbps",
        "layer_streams",
        "replay",
        "replay_frame",
        "level2_memory_s",
    ),
    "dla_explorer.sim.dram.energy": ("energy_pj",),
    "dla_explorer.sim.dram.efficiency": ("efficiency_table", "stream_bases"),
    "dla_explorer.sim.dram.model": ("DramResult",),
    "dla_explorer.sim.dram.config": ("DramConfig.peak_gbps",),
    "dla_explorer.sim.config": (
        "FmaxModel",
        "NumberFormat",
        "WinogradForm",
        "value_bytes",
        "Architecture.pixel_multipliers",
        "Architecture.multipliers",
        "Architecture.fill_cycles",
        "Memory.peak_gbps",
        "Memory.effective_gbps",
    ),
    "dla_explorer.sim.baselines": ("roofline",),
    "dla_explorer.sim.systolic": ("systolic_cycles",),
    "dla_explorer.packing.activations": ("compressed_activation_bytes",),
    "dla_explorer.packing.packed": ("PackedLayer.steps_per_pass",),
}


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped (hyphens and
    underscores kept), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache
def anchors(name: str) -> frozenset[str]:
    """The heading anchors of docs/<name> (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    in_fence = False
    for line in (DOCS / name).read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        m = re.match(r"#{1,6} (.+)", line)
        if m and not in_fence:
            base = slug(m.group(1))
            out.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return frozenset(out)


def test_slug_is_githubs():
    # hand-computed from GitHub's rule, for the heading forms the docs use
    assert slug("Power and energy") == "power-and-energy"
    assert slug("Configurations (`hw_configs/dram/`)") == "configurations-hw_configsdram"
    heading = "4. Published data points: `dla-explorer validate`"
    assert slug(heading) == "4-published-data-points-dla-explorer-validate"


def _physics_ids():
    return [f"{m}:{q}" for m, names in PHYSICS.items() for q in names]


@pytest.mark.parametrize("target", _physics_ids())
def test_physics_term_points_to_its_formula(target):
    module, qualname = target.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)  # a renamed or removed term fails here: update PHYSICS
    refs = MARKER.findall(inspect.getdoc(obj) or "")
    assert refs, f"{target}: the docstring names no docs/<file>.md#<anchor> section"
    for name, anchor in refs:
        assert anchor in anchors(name), f"{target}: docs/{name} has no heading '#{anchor}'"


def test_every_docs_reference_in_the_package_resolves():
    bad, old = [], []
    sources = [
        *(ROOT / "dla_explorer").rglob("*.py"),
        *(ROOT / "hw_configs").rglob("*.yaml"),
        ROOT / "benchmarks" / "README.md",
    ]
    for path in sorted(sources):
        text = path.read_text()
        where = path.relative_to(ROOT)
        for m in MARKER.finditer(text):
            name, anchor = m.groups()
            if not (DOCS / name).is_file() or anchor not in anchors(name):
                bad.append(f"{where}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0)}")
        old += [f"{where}: {m.group(0)}" for m in OLD_MARKER.finditer(text)]
    assert not bad, "references to a missing docs section:\n" + "\n".join(bad)
    assert not old, 'write docs/<file>.md#<anchor>, not docs/<file>.md, "Heading":\n' + "\n".join(old)


def test_links_between_docs_resolve():
    bad = []
    for path in PROSE:
        for m in re.finditer(r"\]\(([\w./-]*\.md)?#([\w-]+)\)", path.read_text()):
            target = (path.parent / m.group(1)).resolve() if m.group(1) else path
            if not target.is_file():
                bad.append(f"{path.name}: {m.group(0)} (no file)")
            elif target.parent == DOCS and m.group(2) not in anchors(target.name):
                bad.append(f"{path.name}: {m.group(0)} (no heading)")
    assert not bad, "\n".join(bad)


# -- commands -------------------------------------------------------------------------------

# an argument that stands for a value: SPEC.yaml, RESULTS_DIR, N, a|b, [--opt X]
_PLACEHOLDER = re.compile(r"^\[?[A-Z][A-Z_]*(\.[a-z]+)?\]?$|\||^\[")
# repository paths a command names that must exist (models/*.npz, *.pt and results/ are outputs)
_REPO_PATH = re.compile(r"^(hw_configs|experiments|validation)/|^models/.*\.yaml$")
_CONFIG_FOLDERS = {"arch": "arch", "memory": "memory", "device": "devices"}


def _commands() -> list[tuple[str, str, bool]]:
    """(where, command, inline) for every `dla-explorer ...` in the prose docs: the lines of code
    blocks (fenced or indented; a trailing backslash continues them) and inline code spans."""
    found = []
    for path in PROSE:
        text = path.read_text()
        lines = text.splitlines()
        in_fence, i = False, 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
            elif (in_fence or line.startswith("    ")) and line.strip().startswith("dla-explorer "):
                start, command = i, line.strip()
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                found.append((f"{path.name}:{start + 1}", command, False))
            i += 1
        for m in re.finditer(r"`(dla-explorer [^`]*)`", text):
            at = text[: m.start()].count("\n") + 1
            found.append((f"{path.name}:{at}", " ".join(m.group(1).split()), True))
    return found


@functools.cache
def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = build_parser()  # as `python -m dla_explorer.cli._docs` builds it
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action.choices


def test_the_docs_show_commands():
    assert len(_commands()) > 40  # the extraction found them (README alone shows ~20)


def _id(value: object) -> str:
    """A test id: the doc and line (`README.md:61`), nothing for the other parameters."""
    return value if isinstance(value, str) and re.fullmatch(r"[\w.]+\.md:\d+", value) else ""


@pytest.mark.parametrize(("where", "command", "inline"), _commands(), ids=_id)
def test_docs_command_parses(where, command, inline):
    command = re.split(r"\s+#\s", command)[0].strip()  # a trailing comment
    args = shlex.split(command)[1:]
    if args[0].endswith(":"):
        return  # a quoted error message (`dla-explorer search: error: ...`), not a command
    parser, commands = _parser()
    assert args[0] in commands, f"{where}: no command '{args[0]}' (commands: {', '.join(commands)})"
    sub = commands[args[0]]
    if inline and len(args) == 1:
        return  # a command named in prose
    # every option named in full (argparse would take `--worker` for `--workers`)
    options = {o for a in sub._actions for o in a.option_strings}
    named = [a.strip("[]").split("=")[0] for a in args[1:] if re.match(r"\[?-[-a-z]", a)]
    unknown = [o for o in named if o not in options]
    assert not unknown, f"{where}: `{args[0]}` has no option {', '.join(unknown)}"
    if any(_PLACEHOLDER.search(a) for a in args[1:]):
        return  # a synopsis (SPEC.yaml [--workers N]): its options are checked above
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            namespace = parser.parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `{command}` does not parse: {err.getvalue().strip().splitlines()[-1]}")
    missing = [a for a in args[1:] if _REPO_PATH.match(a) and not (ROOT / a).exists()]
    assert not missing, f"{where}: `{command}` names files that do not exist: {missing}"
    for key, folder in _CONFIG_FOLDERS.items():
        value = getattr(namespace, key, None)
        if isinstance(value, str):
            folder = "dram" if args[0] == "dram" and key == "memory" else folder
            assert (CONFIG_ROOT / folder / f"{value}.yaml").is_file() or (ROOT / value).is_file(), (
                f"{where}: `{command}`: no {key} config '{value}' in hw_configs/{folder}/"
            )


# -- Python names ---------------------------------------------------------------------------


def _has(obj: object, name: str) -> bool:
    """`obj.name` exists: an attribute, or for a class a dataclass field or pydantic field (which
    are not class attributes when they have no default)."""
    if hasattr(obj, name):
        return True
    if isinstance(obj, type):
        if dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}:
            return True
        return name in getattr(obj, "model_fields", {})
    return False


def _returned_class(function: object) -> type | None:
    """The class a function is annotated to return, if it says so plainly."""
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:  # an annotation that does not resolve outside TYPE_CHECKING: not checked
        return None
    return hint if isinstance(hint, type) else None


def _check_snippet(code: str) -> list[str]:
    """The names a Python example takes from dla_explorer that do not exist. Imports are followed
    (module attributes, then submodules); `x = f(...)` with a class return annotation makes `x.attr`
    checkable too. Nothing is called."""
    tree = ast.parse(code)
    env: dict[str, object] = {}
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dla_explorer"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    env[alias.asname or alias.name] = getattr(module, alias.name)
                else:
                    try:
                        submodule = importlib.import_module(f"{node.module}.{alias.name}")
                        env[alias.asname or alias.name] = submodule
                    except ImportError:
                        bad.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dla_explorer"):
                    # `import a.b` binds a (the top package), `import a.b as c` binds a.b
                    bound = alias.name if alias.asname else alias.name.split(".")[0]
                    env[alias.asname or bound] = importlib.import_module(bound)

    def resolve(node: ast.expr) -> object | None:
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = resolve(node.value)
            if owner is None:
                return None
            if not _has(owner, node.attr):
                bad.append(f"{ast.unparse(node)} ({node.attr} is not in {getattr(owner, '__name__', owner)})")
                return None
            return getattr(owner, node.attr, None)
        return None

    for node in ast.walk(tree):  # results of annotated calls: `result = simulator.simulate(...)`
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1:
            target, function = node.targets[0], resolve(node.value.func)
            cls = _returned_class(function) if callable(function) else None
            if isinstance(target, ast.Name) and cls is not None:
                env[target.id] = cls
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            resolve(node)
    return sorted(set(bad))


def _fenced_blocks(language: str) -> list[tuple[str, str]]:
    """(file:line, body) of every fenced block of `language` in the prose docs."""
    out = []
    for path in PROSE:
        text = path.read_text()
        for m in re.finditer(rf"```{language}\n(.*?)```", text, re.S):
            out.append((f"{path.name}:{text[: m.start()].count(chr(10)) + 1}", m.group(1)))
    return out


def _snippets() -> list[tuple[str, str]]:
    return _fenced_blocks("python")


def test_check_snippet_finds_a_stale_name():
    # the checker itself: a renamed helper and a missing attribute of a returned class are found
    assert _check_snippet("from dla_explorer.sim.simulator import packed_table, no_such_term\n") == [
        "from dla_explorer.sim.simulator import no_such_term"
    ]
    code = "from dla_explorer import simulator\nr = simulator.simulate(1, 2, 3, 4)\nr.totals\nr.fps\n"
    assert _check_snippet(code) == ["r.fps (fps is not in Result)"]


@pytest.mark.parametrize(("where", "code"), _snippets(), ids=_id)
def test_docs_python_names_exist(where, code):
    assert not _check_snippet(code), f"{where}: {_check_snippet(code)}"


# `module.name` in backticks that name something else than this package's code: Optuna's study
# object, a JSON key of experiment.json, numba's library object, a glob of keys
_NOT_CODE = {"study.best_trials", "study.set_metric_names", "search.resumed_from", "controller.port_"}
_DOTTED = re.compile(r"\b(dla_explorer(?:\.\w+)+|[a-z_]+\.[A-Za-z_]\w*(?:\.\w+)*)")
_FILE_SUFFIX = re.compile(r"\.(py|md|csv|db|cc|lock|onnx|yaml|json|npz|pt|png|svg|pdf|html|log|cfg|txt)\b")


@functools.cache
def _modules_by_name() -> dict[str, list[str]]:
    """Module basename -> the package's modules of that name; the public names of
    dla_explorer.PUBLIC_MODULES (hw, simulator, ...) win."""
    names: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(dla_explorer.__path__, "dla_explorer."):
        names.setdefault(info.name.rsplit(".", 1)[-1], []).append(info.name)
    names.update({k: [v] for k, v in dla_explorer.PUBLIC_MODULES.items()})
    return names


def test_docs_quoted_names_exist():
    modules = _modules_by_name()
    bad = []
    for path in PROSE:
        text = path.read_text()
        for span in re.finditer(r"`([^`\n]+)`", text):
            for m in _DOTTED.finditer(span.group(1)):
                ref = m.group(1)
                parts = ref.split(".")
                if ref in _NOT_CODE or _FILE_SUFFIX.search(ref) or _library_object(parts):
                    continue
                if parts[0] == "dla_explorer":
                    for i in range(len(parts), 0, -1):
                        with contextlib.suppress(ImportError):
                            obj: object = importlib.import_module(".".join(parts[:i]))
                            break
                    rest = parts[i:]
                elif len(modules.get(parts[0], [])) == 1:
                    obj, rest = importlib.import_module(modules[parts[0]][0]), parts[1:]
                else:
                    continue  # not one of the package's modules (or a name two modules share)
                for attr in rest:
                    if not _has(obj, attr):
                        bad.append(f"{path.name}:{text[: span.start()].count(chr(10)) + 1}: {ref}")
                        break
                    obj = getattr(obj, attr)
    assert not bad, "names the docs quote that the code lacks:\n" + "\n".join(sorted(set(bad)))


def _library_object(parts: list[str]) -> bool:
    """numba's compiled-library object in docs/dram.md's profiling how-to, not this package's
    dla_explorer.workload.library module."""
    return parts[0] == "library" and parts[1:2] in (["_get_compiled_object"], ["get_pointer_to_function"])


# -- YAML examples and the spec's key table ---------------------------------------------------


def _yaml_blocks() -> list[tuple[str, str]]:
    return _fenced_blocks("yaml")


@pytest.mark.parametrize(("where", "block"), _yaml_blocks(), ids=_id)
def test_docs_yaml_examples_validate(where, block):
    """A recipe example validates as a Recipe, a spec example as a Spec (files are not opened)."""
    import yaml

    from dla_explorer.dse.spec import Spec
    from dla_explorer.sparsity.pruning import Recipe

    data = yaml.safe_load(block)
    model = Spec if "models" in data else Recipe
    model.model_validate(data)  # raises, naming the key, if the example is stale


def _fields(model: type) -> dict[str, typing.Any]:
    return getattr(model, "model_fields", {})


def _field_model(model: type, name: str) -> type | None:
    """The pydantic model a field holds (through Optional and list), if any."""
    annotation = _fields(model)[name].annotation
    for candidate in (annotation, *typing.get_args(annotation)):
        for inner in (candidate, *typing.get_args(candidate)):
            if isinstance(inner, type) and _fields(inner):
                return inner
    return None


def test_search_key_table_matches_spec():
    """docs/search.md's "Every key" table names every top-level Spec key, and only real keys."""
    from dla_explorer.dse.spec import Spec

    text = (DOCS / "search.md").read_text()
    table = text.split("Every key:", 1)[1].split("\n\n", 2)[1]
    named = []
    for row in table.splitlines()[2:]:
        previous = ""
        for key in re.findall(r"`([^`]+)`", row.split("|")[1]):
            key = key.replace("[]", "").removesuffix(".<param>")
            key = previous.rsplit(".", 1)[0] + key if key.startswith(".") else key
            named.append(key)
            previous = key
    bad = []
    for key in named:
        model: type | None = Spec
        for part in key.split("."):
            if model is None or part not in _fields(model):
                bad.append(key)
                break
            model = _field_model(model, part)
    assert not bad, f"docs/search.md names keys the spec lacks: {bad}"
    top = {k.split(".")[0] for k in named}
    assert not set(_fields(Spec)) - top, f"docs/search.md lacks keys: {set(_fields(Spec)) - top}"
