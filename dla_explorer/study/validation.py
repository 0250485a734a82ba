"""Validation against published data points (`validation/points.yaml`, `dla-explorer validate`).

Each point names a device, an architecture (a config plus the fields the source publishes), a
memory system, a model and the published figures: frames/s and, where given, DRAM MB per frame
and power; or, for the reference work, a ratio of two designs (HBM2 over DDR4). The simulator
runs each point (dense models in dense mode: the published DLAs run dense networks) and the
table gives simulated against published with the relative error. Points are split into a
calibration set (may inform a coefficient) and a validation set (never used to fit); the
acceptance figures are computed on the validation set only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pydantic
from pydantic import Field, PositiveFloat, PositiveInt

from dla_explorer.core.errors import UsageError
from dla_explorer.core.fileio import load_yaml_model, read_text, write_text_atomic
from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator
from dla_explorer.sparsity import pruning
from dla_explorer.workload import zoo

DEFAULT_POINTS = Path(__file__).resolve().parents[2] / "validation" / "points.yaml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
BEGIN, END = "<!-- validate:begin -->", "<!-- validate:end -->"
# acceptance (issue 10): on the validation set
FPS_MEDIAN_LIMIT, FPS_MAX_LIMIT, DDR_LIMIT = 0.15, 0.35, 0.25


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Published(_Strict):
    fps: PositiveFloat | None = None
    ddr_mb_per_frame: PositiveFloat | None = None
    power_w: PositiveFloat | None = None
    ratio: PositiveFloat | None = None


class Other(_Strict):
    """The denominator design of a ratio point: what differs from the point's own design."""

    arch: dict[str, Any] | None = None
    memory: str | None = None


class Point(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    set: Literal["calibration", "validation"]
    kind: Literal["fps", "ratio"] = "fps"
    device: str
    arch: dict[str, Any] = Field(description="{base: <arch config>, <field>: <value>, ...}")
    memory: str
    over: Other | None = None
    model: str
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = zoo.DEFAULT_INPUT_SHAPE
    batch: PositiveInt = 1
    sparsity: float = Field(0.0, ge=0, lt=1)
    mode: Literal["dense", "unpacked", "packed", "nm"] = "dense"
    published_clock: bool = Field(
        False,
        description="true: the source publishes the clock the design ran at, so it holds (the "
        "device's fMAX fit estimates the clock of designs whose clock is not known)",
    )
    published: Published
    assumed: dict[str, str] = Field(default_factory=dict)
    note: str = ""

    @pydantic.model_validator(mode="after")
    def _check(self) -> Point:
        if self.model not in zoo.names():
            raise ValueError(f"model: unknown model '{self.model}' (known: {', '.join(zoo.names())})")
        if self.kind == "ratio" and (self.over is None or self.published.ratio is None):
            raise ValueError("a ratio point needs `over` (the other design) and `published.ratio`")
        if self.kind == "fps" and self.published.fps is None:
            raise ValueError("an fps point needs `published.fps`")
        if "base" not in self.arch:
            raise ValueError("arch: needs `base` (a config in hw_configs/arch/)")
        return self


class PointsFile(_Strict):
    points: list[Point] = Field(min_length=1)
    sources: dict[str, str]

    @pydantic.model_validator(mode="after")
    def _check(self) -> PointsFile:
        seen: set[str] = set()
        for point in self.points:
            if point.id in seen:
                raise ValueError(f"points: id '{point.id}' appears twice")
            seen.add(point.id)
            if point.source not in self.sources:
                raise ValueError(f"points: '{point.id}' cites source '{point.source}', not in `sources`")
        return self


def load_points(path: str | Path = DEFAULT_POINTS) -> PointsFile:
    return load_yaml_model(PointsFile, path)


def _config_path(name: str, folder: Path) -> str | Path:
    """A config named in the points file: a path relative to it, else a name in hw_configs/."""
    local = folder / name
    return local if local.is_file() else name


def _architecture(spec: dict[str, Any], where: str) -> hw.Architecture:
    fields = dict(spec)
    base = hw.load_architecture(fields.pop("base"))
    try:
        return hw.Architecture.model_validate({**base.model_dump(), **fields})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        rule = "unknown key (check the spelling)" if first["type"] == "extra_forbidden" else first["msg"]
        raise UsageError(f"{where}: key 'arch.{key}': {rule}") from None


def _sparse(point: Point, cache: dict) -> pruning.SparseModel:
    key = (point.model, point.input_shape, point.sparsity)
    if key not in cache:
        cache[key] = pruning.prune(
            point.model,
            "random",
            point.sparsity,
            input_shape=point.input_shape,
            keep_first_last_dense=True,
            calibration_size=2,
        )
    return cache[key]


def simulate_point(
    point: Point, folder: Path, cache: dict | None = None, source: str | Path | None = None
) -> dict[str, float]:
    """Simulated figures of one point (frames/s, DRAM MB per frame, power; or the ratio);
    errors in its configs name `source` (the points file) and the point."""
    cache = {} if cache is None else cache
    where = f"{source}: point '{point.id}'" if source is not None else f"point '{point.id}'"
    try:
        return _simulate_point(point, folder, cache, where)
    except UsageError as exc:  # a config it names is missing or invalid: say which point
        if str(exc).startswith(where):
            raise
        raise UsageError(f"{where}: {exc}") from None


def _simulate_point(point: Point, folder: Path, cache: dict, where: str) -> dict[str, float]:
    device = hw.load_device(_config_path(point.device, folder))
    if point.published_clock:
        device = device.model_copy(update={"fmax": None})
    arch = _architecture(point.arch, where)
    memory = hw.load_memory(_config_path(point.memory, folder))
    sparse = _sparse(point, cache)
    result = simulator.simulate(sparse, arch, memory, device, point.mode, point.batch).totals
    out = {
        "fps": float(result["fps"]),
        "ddr_mb_per_frame": float(result["dram_mb_per_frame"]),
        "power_w": float(result["power_w"]),
        "feasible": bool(result["feasible"]),
    }
    if point.kind == "ratio" and point.over is not None:
        other_arch = (
            arch if point.over.arch is None else _architecture({**point.arch, **point.over.arch}, where)
        )
        other_memory = (
            memory if point.over.memory is None else hw.load_memory(_config_path(point.over.memory, folder))
        )
        other = simulator.simulate(sparse, other_arch, other_memory, device, point.mode, point.batch).totals
        out["ratio"] = out["fps"] / float(other["fps"])
    return out


def run(path: str | Path = DEFAULT_POINTS) -> pd.DataFrame:
    """The validation table: one row per point, published beside simulated, relative errors."""
    points = load_points(path)
    folder = Path(path).parent
    rows: list[dict] = []
    cache: dict = {}
    for point in points.points:
        simulated = simulate_point(point, folder, cache, path)
        figure = "ratio" if point.kind == "ratio" else "fps"
        row = {
            "id": point.id,
            "set": point.set,
            "source": point.source,
            "model": point.model,
            "figure": "HBM2/DDR4 ratio" if figure == "ratio" else "frames/s",
            "published": getattr(point.published, figure),
            "simulated": simulated[figure],
            "ddr_mb_published": point.published.ddr_mb_per_frame,
            "ddr_mb_simulated": simulated["ddr_mb_per_frame"],
            "power_w_published": point.published.power_w,
            "power_w_simulated": simulated["power_w"],
            "assumed": ", ".join(point.assumed),
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    table["error"] = table["simulated"] / table["published"] - 1
    table["ddr_error"] = table["ddr_mb_simulated"] / table["ddr_mb_published"] - 1
    table["power_error"] = table["power_w_simulated"] / table["power_w_published"] - 1
    return table


def summary(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per set: points, median and max |error|, and DRAM MB/frame points within the bound."""
    out = {}
    for name, group in table.groupby("set"):
        errors = group["error"].abs()
        ddr = group["ddr_error"].dropna().abs()
        out[str(name)] = {
            "points": len(group),
            "median_abs_error": float(errors.median()),
            "max_abs_error": float(errors.max()),
            "ddr_points": len(ddr),
            "ddr_within": int((ddr <= DDR_LIMIT).sum()),
        }
    return out


def accepted(table: pd.DataFrame) -> bool:
    """The issue's acceptance on the validation set (median and worst |error|, DRAM MB/frame)."""
    check = summary(table).get("validation")
    if check is None:
        return False
    return (
        check["median_abs_error"] <= FPS_MEDIAN_LIMIT
        and check["max_abs_error"] <= FPS_MAX_LIMIT
        and check["ddr_within"] == check["ddr_points"]
    )


def _pct(value: float) -> str:
    return "" if pd.isna(value) else f"{value:+.0%}"


def _num(value: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def markdown(table: pd.DataFrame, sources: dict[str, str]) -> str:
    """The table and its summary as Markdown (what goes between the markers in the docs)."""
    lines = [
        "| point | set | source | model | figure | published | simulated | error "
        "| DRAM MB/frame pub. / sim. | power W pub. / sim. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        ddr = (
            f"{_num(row.ddr_mb_published)} / {_num(row.ddr_mb_simulated)} ({_pct(row.ddr_error)})"
            if not pd.isna(row.ddr_mb_published)
            else ""
        )
        watts = (
            f"{_num(row.power_w_published)} / {_num(row.power_w_simulated)} ({_pct(row.power_error)})"
            if not pd.isna(row.power_w_published)
            else ""
        )
        lines.append(
            f"| {row.id} | {row.set} | {row.source} | {row.model} | {row.figure} | {_num(row.published)} "
            f"| {_num(row.simulated)} | {_pct(row.error)} | {ddr} | {watts} |"
        )
    lines.append("")
    for name, check in summary(table).items():
        lines.append(
            f"- {name} set: {check['points']} points, median |error| {check['median_abs_error']:.0%}, "
            f"worst {check['max_abs_error']:.0%}; DRAM MB/frame within {DDR_LIMIT:.0%} on "
            f"{check['ddr_within']} of {check['ddr_points']}"
        )
    verdict = "met" if accepted(table) else "not met"
    lines.append(
        f"- acceptance (validation set: median |error| <= {FPS_MEDIAN_LIMIT:.0%}, worst <= "
        f"{FPS_MAX_LIMIT:.0%}, DRAM within {DDR_LIMIT:.0%}): **{verdict}**"
    )
    lines.append("")
    lines.append("Sources: " + "; ".join(f"{k}: {v}" for k, v in sources.items()) + ".")
    return "\n".join(lines)


def check_docs(path: str | Path = DOCS) -> str:
    """The text of the Markdown file the table goes into, checked for the validate markers.

    Raises:
        DlaError: the file is missing or not UTF-8 text.
        UsageError: it has no markers to write the table between.
    """
    document = read_text(path, "Markdown file")
    if BEGIN not in document or END not in document:
        raise UsageError(f"{path}: no '{BEGIN}' ... '{END}' markers to write the table between")
    return document


def write_docs(text: str, path: str | Path = DOCS) -> None:
    """Replace the text between the validate markers of `path` (atomic write)."""
    document = check_docs(path)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    write_text_atomic(path, pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", document, count=1))
