"""The main job: the reference work's comparison, end to end (experiments/paper.yaml).

For every model and sparsity: prune (random by default, first and last layer dense), simulate
every design (DDR4 and HBM2 memory systems around the same array) in every mode (dense,
unpacked, packed), record per-layer figures and the packing's utilisation; then the CPU/GPU
baselines (rooflines, and the CPU measured here), and a DSE search for the best packed HBM2
design. Everything lands as CSV tables in one results folder that `report` turns into pictures.

Re-running resumes: pruned checkpoints are reused, and the search continues its study.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path
from typing import Literal

import pandas as pd
import pydantic
import torch
from pydantic import Field, PositiveInt
from tqdm import tqdm

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.core.fileio import atomic_open, load_yaml_model, write_text_atomic
from dla_explorer.dse import search
from dla_explorer.dse.spec import load_spec
from dla_explorer.sim import baselines, simulator
from dla_explorer.sim import config as hw
from dla_explorer.sparsity import checkpoint, pruning
from dla_explorer.workload import zoo as models

RECORD = "experiment.json"
Mode = Literal["dense", "unpacked", "packed", "nm"]


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Design(_Strict):
    arch: str
    memory: str


class Size(_Strict):
    """What a run at this size does (the default finishes in minutes; --full is the whole study)."""

    search_trials: PositiveInt
    cpu_repeats: PositiveInt = 3


class PaperFigures(_Strict):
    """The reference work's reported ratios, per zoo model (it says "MobileNet": v1 and v2)."""

    hbm2_over_ddr4: dict[str, float]
    over_cpu: dict[str, float]
    v100_speed: dict[str, float]
    v100_power_efficiency: dict[str, float]


class ExperimentSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    device: str
    models: list[str] = Field(min_length=1)
    method: Literal["random", "magnitude", "magnitude_global"] = "random"
    seed: int = 0
    keep_first_last_dense: bool = True
    calibration_size: PositiveInt = Field(8, description="images for the activation density")
    sparsities: list[float] = Field(min_length=1)
    headline_sparsity: float
    modes: list[Mode] = Field(min_length=1)
    designs: dict[str, Design] = Field(min_length=1)
    ddr4_designs: list[str] = Field(min_length=1)
    hbm2_design: str
    batch: PositiveInt = 1
    cpu_baseline: str
    gpu_baseline: str
    measure_cpu: bool = True
    search: str | None = Field(None, description="search spec, relative to this file")
    buffer_sweep_kb: list[pydantic.PositiveFloat] = Field(
        default_factory=list, description="stream-buffer sizes for the HBM2-vs-DDR4 sensitivity"
    )
    default: Size
    full: Size
    paper: PaperFigures

    @pydantic.model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        for name in self.models:
            if name not in models.names():
                raise ValueError(f"models: unknown model '{name}' (known: {models.names()})")
        for s in self.sparsities:
            if not 0 <= s < 1:
                raise ValueError(f"sparsities: {s} is not in [0, 1)")
        if self.headline_sparsity not in self.sparsities:
            raise ValueError(f"headline_sparsity {self.headline_sparsity} is not in sparsities")
        for name in (*self.ddr4_designs, self.hbm2_design):
            if name not in self.designs:
                raise ValueError(f"design '{name}' is not in designs ({list(self.designs)})")
        if "packed" not in self.modes:
            raise ValueError("modes: the comparison needs 'packed'")
        return self

    def content_hash(self) -> str:
        keep = self.model_dump(mode="json", exclude={"description", "default", "full"})
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def load_experiment(path: str | Path) -> ExperimentSpec:
    spec = load_yaml_model(ExperimentSpec, path)
    device = hw.load_device(spec.device)
    for name, design in spec.designs.items():
        arch, memory = hw.load_architecture(design.arch), hw.load_memory(design.memory)
        errors = hw.compatibility_errors(arch, memory, device)
        if errors:
            raise UsageError(f"{path}: design '{name}': {errors[0]}")
    for name in spec.ddr4_designs:
        if hw.load_memory(spec.designs[name].memory).kind != "ddr4":
            raise UsageError(f"{path}: key 'ddr4_designs': '{name}' does not use DDR4")
    if hw.load_memory(spec.designs[spec.hbm2_design].memory).kind != "hbm2":
        raise UsageError(f"{path}: key 'hbm2_design': '{spec.hbm2_design}' does not use HBM2")
    return spec


def _check_folder(folder: Path, spec: ExperimentSpec, source: str) -> None:
    record = folder / RECORD
    if record.is_file():
        old = json.loads(record.read_text())
        if old.get("hash") != spec.content_hash():
            raise DlaError(
                f"{folder}: holds results of another experiment spec ({old.get('source')}"
                f", hash {old.get('hash')}); choose another --out or delete it"
            )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_open(path, "w") as handle:
        frame.to_csv(handle, index=False)


def sparse_model(spec: ExperimentSpec, model: str, sparsity: float, folder: Path) -> pruning.SparseModel:
    """The pruned model, from the results folder if an earlier run made it."""
    path = folder / "models" / f"{model}_{spec.method}{round(sparsity * 100)}.npz"
    if path.is_file():
        try:
            return checkpoint.load(path)
        except DlaError:
            pass  # a damaged checkpoint is made again
    sparse = pruning.prune(
        model,
        spec.method,
        sparsity,
        seed=spec.seed,
        keep_first_last_dense=spec.keep_first_last_dense,
        calibration_size=spec.calibration_size,
    )
    checkpoint.save(sparse, path)
    return sparse


FIDELITIES = (0, 1, 2)
FIDELITY_COLUMNS = ("fps", "memory_s")  # comparison.csv: fps_level0, memory_s_level2, ...


def _simulate_model(
    spec: ExperimentSpec,
    sparse: pruning.SparseModel,
    device: hw.Device,
    hardware: dict[str, tuple[hw.Architecture, hw.Memory]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    totals, layer_frames = [], []
    for name, (arch, memory) in hardware.items():
        for mode in spec.modes:
            label = {"design": name, "memory": memory.name, "mode": mode}
            result = simulator.simulate(sparse, arch, memory, device, mode, spec.batch)
            row = {**simulator.design_row(arch, memory, mode), **label}
            # the memory model at each fidelity side by side (docs/dram.md; the row's own figures
            # are the default, fidelity 1)
            levels = {}
            for level in FIDELITIES:
                other = result if level == result.fidelity else None
                other = other or simulator.simulate(
                    sparse, arch, memory, device, mode, spec.batch, fidelity=level
                )
                levels.update({f"{m}_level{level}": other.totals[m] for m in FIDELITY_COLUMNS})
            totals.append({**row, **result.totals.to_dict(), **levels})
            layer_frames.append(result.layers.assign(**label))
    return pd.DataFrame(totals), pd.concat(layer_frames, ignore_index=True)


def _packing_tables(sparse: pruning.SparseModel, arch: hw.Architecture) -> tuple[pd.DataFrame, dict]:
    """Per-layer packing figures and the network totals (utilisation, conflict pruning)."""
    packed = simulator.packed_table(sparse, "packed", arch.k_vec, arch.alpha, arch.gamma).packed
    return packed.to_frame(arch.c_vec), packed.totals(arch.c_vec)


def _buffer_sweep(
    spec: ExperimentSpec,
    sparse: pruning.SparseModel,
    device: hw.Device,
    hardware: dict[str, tuple[hw.Architecture, hw.Memory]],
) -> pd.DataFrame:
    """Packed and unpacked frames/s of every design as the stream buffer grows: how much of
    HBM2's gain comes from feature maps that spill to DRAM."""
    rows, labels = [], []
    for size in spec.buffer_sweep_kb:
        for name, (arch, memory) in hardware.items():
            for mode in ("unpacked", "packed"):
                arch_at = arch.model_copy(update={"stream_buffer_kb": size})
                rows.append(simulator.design_row(arch_at, memory, mode))
                labels.append({"design": name, "memory": memory.name})
    if not rows:
        return pd.DataFrame()
    table = simulator.simulate_batch(sparse, pd.DataFrame(rows), device, spec.batch)
    return pd.concat([pd.DataFrame(labels), table], axis=1)


def _baselines(
    spec: ExperimentSpec, sparse_models: dict[str, pruning.SparseModel], repeats: int
) -> pd.DataFrame:
    rows = []
    for model, sparse in sparse_models.items():
        for name in (spec.cpu_baseline, spec.gpu_baseline):
            point = baselines.roofline(hw.load_baseline(name), sparse.workload, batch=spec.batch)
            rows.append({"model": model, "baseline": name, "kind": "roofline", **point})
        if spec.measure_cpu:
            measured = baselines.measure_cpu_baseline(sparse, spec.batch, repeats)
            for variant, point in measured.items():
                rows.append(
                    {
                        "model": model,
                        "baseline": f"this machine ({variant})",
                        "kind": "measured",
                        "name": platform.processor() or "CPU",
                        "precision": "fp32",
                        **point,
                    }
                )
    return pd.DataFrame(rows)


def run_experiment(
    spec: ExperimentSpec,
    source: str | Path,
    out: Path | None = None,
    full: bool = False,
    run_search: bool = True,
    progress: bool = True,
) -> Path:
    """Run the experiment into `out` (default results/<name>) and return the folder."""
    folder = Path(out or Path("results") / spec.name)
    _check_folder(folder, spec, str(source))
    folder.mkdir(parents=True, exist_ok=True)
    size = spec.full if full else spec.default
    started = time.time()
    device = hw.load_device(spec.device)
    hardware = {
        name: (hw.load_architecture(d.arch), hw.load_memory(d.memory)) for name, d in spec.designs.items()
    }
    totals, layers, packed, packed_totals, buffers = [], [], [], [], []
    headline: dict[str, pruning.SparseModel] = {}
    cases = [(m, s) for m in spec.models for s in spec.sparsities]
    for model, sparsity in tqdm(cases, desc="prune, pack, simulate", unit="case", disable=not progress):
        sparse = sparse_model(spec, model, sparsity, folder)
        labels = {"model": model, "sparsity": sparsity}
        model_totals, model_layers = _simulate_model(spec, sparse, device, hardware)
        totals.append(model_totals.assign(**labels))
        layers.append(model_layers.assign(**labels))
        per_layer, network = _packing_tables(sparse, hardware[spec.hbm2_design][0])
        packed.append(per_layer.assign(**labels))
        packed_totals.append({**labels, **network})
        if sparsity == spec.headline_sparsity:
            headline[model] = sparse
            buffers.append(_buffer_sweep(spec, sparse, device, hardware).assign(**labels))
    _write_csv(pd.concat(totals, ignore_index=True), folder / "comparison.csv")
    _write_csv(pd.concat(layers, ignore_index=True), folder / "layers.csv")
    _write_csv(pd.concat(packed, ignore_index=True), folder / "packing.csv")
    _write_csv(pd.DataFrame(packed_totals), folder / "packing_totals.csv")
    _write_csv(pd.concat(buffers, ignore_index=True), folder / "buffer_sweep.csv")
    _write_csv(_baselines(spec, headline, size.cpu_repeats), folder / "baselines.csv")

    previous = folder / RECORD
    search_summary = json.loads(previous.read_text()).get("search") if previous.is_file() else None
    if run_search and spec.search:
        search_summary = _run_search(
            spec, Path(source).parent / spec.search, folder, size.search_trials, progress
        )
    record = {
        "name": spec.name,
        "hash": spec.content_hash(),
        "source": str(source),
        "size": "full" if full else "default",
        "seconds": round(time.time() - started, 1),
        "torch_threads": torch.get_num_threads(),
        "search": search_summary,
        "spec": spec.model_dump(mode="json"),
    }
    write_text_atomic(folder / RECORD, json.dumps(record, indent=1))
    return folder


def _run_search(spec: ExperimentSpec, path: Path, folder: Path, trials: int, progress: bool) -> dict:
    search_spec = load_spec(path)
    search_spec = search_spec.model_copy(update={"results": str(folder / "search")})
    report = search.run_search(
        search_spec, str(path), search.SearchOptions(n_trials=trials, progress=progress)
    )
    return {
        "spec": str(path),
        "study": report.study,
        "storage": report.storage,
        "trials": report.counts,
        "feasible": report.feasible,
        "table": str(report.table),
        "objectives": {o.metric: o.direction for o in search_spec.objectives},
    }
