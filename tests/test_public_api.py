"""The public API stays small and documented (Optuna's rule: a small public surface, private helpers).

Each module of `dla_explorer.PUBLIC_MODULES` lists its API in `__all__`:
- every name there exists (a rename cannot leave a stale entry behind);
- every public (non-underscore) function, class, constant or alias the module defines is there, so
  a new helper is either API, listed (and documented), or private with a leading underscore: the
  surface cannot grow by accident;
- every function and class there has a docstring, and one in the Google / Optuna style of
  tests/test_docstrings.py (`Args:`, `Returns:`, `Raises:`, `Yields:`) when the module that defines
  it is one that test holds to the rule.
The definitions are read with `ast` (what the source defines, not what it imports); the names in
`__all__` are checked on the imported module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from dla_explorer import PUBLIC_MODULES
from tests.test_docstrings import MODULES as STRUCTURED
from tests.test_docstrings import PACKAGE, problems

MODULES = sorted(set(PUBLIC_MODULES.values()))


def _source_path(module: str) -> Path:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    return path if path.exists() else PACKAGE.parent / module.replace(".", "/") / "__init__.py"


def defined_public_names(source: str) -> list[str]:
    """Public names a module's source binds at its top level: functions, classes and assignments
    (constants, type aliases), not imports; `__all__` itself and dunders aside."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def unlisted(source: str, listed: list[str]) -> list[str]:
    """The public names `source` defines that `listed` (its `__all__`) leaves out."""
    return [n for n in defined_public_names(source) if n not in listed]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("module", MODULES)
def test_all_names_exist_and_are_public(module: str) -> None:
    mod = _module(module)
    listed = getattr(mod, "__all__", None)
    assert isinstance(listed, list | tuple), f"{module}: no __all__"
    assert len(set(listed)) == len(listed), f"{module}: __all__ lists a name twice"
    assert [n for n in listed if n.startswith("_")] == [], f"{module}: a private name in __all__"
    missing = [n for n in listed if not hasattr(mod, n)]
    assert missing == [], f"{module}: __all__ names what the module does not have"


@pytest.mark.parametrize("module", MODULES)
def test_every_public_definition_is_listed(module: str) -> None:
    mod = _module(module)
    source = _source_path(module).read_text()
    assert unlisted(source, list(mod.__all__)) == [], (
        f"{module}: public but not in __all__ (list it, or prefix it with _ if only the module uses it)"
    )
    # what the source does not show: a callable made at import time under this module's name
    made = [
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and callable(value) and getattr(value, "__module__", None) == module
    ]
    assert [n for n in made if n not in mod.__all__] == [], module


@pytest.mark.parametrize("module", MODULES)
def test_api_functions_and_classes_are_documented(module: str) -> None:
    mod = _module(module)
    found = []
    for name in mod.__all__:
        value = getattr(mod, name)
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue  # constants, type aliases
        if not (value.__doc__ or "").strip():
            found.append(f"{name}: no docstring")
            continue
        path = Path(inspect.getsourcefile(value) or "").resolve()
        if path.is_relative_to(PACKAGE) and str(path.relative_to(PACKAGE)) in STRUCTURED:
            found += [f"{name}: {p}" for p in problems(textwrap.dedent(inspect.getsource(value)))]
    assert found == [], f"{module}: __all__ entries without their docstring sections"


def test_public_modules_are_held_to_the_docstring_rule() -> None:
    # every public module is listed in test_docstrings (workload's package only re-exports the
    # names of workload/layers.py and workload/scalesim.py, both listed there)
    paths = {str(_source_path(m).relative_to(PACKAGE)) for m in MODULES}
    assert paths - set(STRUCTURED) == {"workload/__init__.py"}


SAMPLE = '''
"""A module."""
from os import path

LIMIT = 3
Alias = int | str
_HIDDEN = 1
count: int = 0


def api(x):
    return x


def helper(x):
    return x


def _private(x):
    return x


class Thing:
    def method(self):
        return path
'''


def test_the_check_names_each_unlisted_definition() -> None:
    # hand-written: an import (path), private names and listed ones are fine; every other
    # top-level binding is reported
    assert unlisted(SAMPLE, ["api", "LIMIT"]) == ["Alias", "count", "helper", "Thing"]
    assert unlisted(SAMPLE, ["LIMIT", "Alias", "count", "api", "helper", "Thing"]) == []
