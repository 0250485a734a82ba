"""Typed views of what `dla-explorer run` leaves in a results folder (experiment.json), read by
the analysis, the plots and the report. Light on purpose: reading a results folder must not import
torch or optuna (the experiment module does, to run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic

from dla_explorer.core.errors import DlaError

RECORD = "experiment.json"  # the run record of an experiment's results folder


class _View(pydantic.BaseModel):
    # extra="ignore": a newer run may record more than this reader needs
    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)


class DesignRef(_View):
    arch: str
    memory: str


class PaperRatios(_View):
    """The reference work's reported ratios, per zoo model."""

    hbm2_over_ddr4: dict[str, float]
    over_cpu: dict[str, float]
    v100_speed: dict[str, float]
    v100_power_efficiency: dict[str, float]


class ExperimentView(_View):
    """The experiment spec as recorded with its results (the fields the report reads)."""

    name: str
    description: str = ""
    device: str
    models: list[str]
    method: str = "random"
    sparsities: list[float]
    headline_sparsity: float
    modes: list[str]
    designs: dict[str, DesignRef]
    ddr4_designs: list[str]
    hbm2_design: str
    batch: int = 1
    cpu_baseline: str
    gpu_baseline: str
    search: str | None = None
    paper: PaperRatios


class SearchSummary(_View):
    spec: str
    study: str = ""
    storage: str = ""
    trials: dict[str, int] = pydantic.Field(default_factory=dict)
    feasible: int = 0
    table: str
    objectives: dict[str, str] = pydantic.Field(default_factory=dict)


class RunRecord(_View):
    """experiment.json: what ran, from which spec (and its hash), how long it took."""

    name: str
    hash: str
    source: str
    size: str = "default"
    seconds: float | None = None
    torch_threads: int | None = None
    search: SearchSummary | None = None
    spec: ExperimentView
    # when the run ended and the tool that ran it ('' in records written before they were kept):
    # the record file's time changes when a folder is copied, and the report's tool may be newer
    finished: str = ""
    tool: str = ""


def read_record(folder: Path) -> RunRecord:
    """The run record of an experiment's results folder; a one-line DlaError when it is absent
    or not one.

    Args:
        folder: the experiment's results folder.

    Returns:
        The RunRecord (fields a newer version added are ignored).

    Raises:
        DlaError: the folder has no experiment.json, or it is not JSON or not a run record this
            version reads.
    """
    path = folder / RECORD
    if not path.is_file():
        raise DlaError(
            f"{folder}: no {RECORD}: not a results folder of 'dla-explorer run' (run the experiment first)"
        )
    try:
        data: Any = json.loads(path.read_text())
        return RunRecord.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError) as error:
        first = str(error).splitlines()[0]
        raise DlaError(f"{path}: not a run record of this version ({first})") from None


def tool_version() -> str:
    """This dla-explorer's version and, in a git checkout, its commit ('0.1.0 (commit 1a2b3c4)').

    Returns:
        The version text a run records and a report names.
    """
    import subprocess

    import dla_explorer

    root = Path(dla_explorer.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return dla_explorer.__version__ + (f" (commit {commit})" if commit else "")
