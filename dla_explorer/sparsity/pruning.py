"""Pruner: sparse weights for a torch CNN, plus the measured activation density of every layer.

`prune(model, method, sparsity)` zeroes weights of every Conv2d and Linear layer:

- ``random``: a uniformly random subset per layer (the reference work's setting);
- ``magnitude``: the smallest-magnitude weights of each layer;
- ``magnitude_global``: the smallest-magnitude weights over all prunable layers together;
- ``nm``: N:M structured, at most N non-zeros in every group of M consecutive weights along the
  reduction axis (input channel fastest, then kernel column, then row), e.g. 2:4.

Per-layer overrides (glob pattern -> sparsity, 0 keeps the layer dense) keep e.g. the first conv and
the classifier dense. The pruned model then runs on a calibration batch with forward hooks that
count the non-zero inputs of each layer: the activation density that packed inputs depend on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
import torch
from torch import nn

from dla_explorer.core.errors import DlaError, UnknownName, UsageError, check_type, check_whole
from dla_explorer.core.fileio import load_yaml_model
from dla_explorer.workload import Workload, extract, module_of, zoo
from dla_explorer.workload.layers import check_input_shape, unknown_layer_message

__all__ = [
    "LayerProgress",
    "Recipe",
    "SparseModel",
    "calibration_batch",
    "default_input_shape",
    "load_model",
    "load_recipe",
    "load_weights",
    "measure_activation_density",
    "parse_nm",
    "prune",
    "prune_recipe",
    "resolve_model",
]

_METHODS = ("random", "magnitude", "magnitude_global", "nm")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")
# torchvision's ImageNet normalisation, used for calibration images read from a folder
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# progress(stage, layer, layers): called once per compute layer in each stage of `prune`, "masks"
# (its mask is made) then "activations" (its input density is measured), for a per-layer bar
LayerProgress = Callable[[str, str, int], None]


@dataclass
class SparseModel:
    """Per-layer pruned weights (layer.weight_shape, float32, pruned entries are 0) and masks.

    `act_density[name]` is the measured fraction of non-zero values in the layer's input;
    `recipe` records how the model was made (method, sparsity, seed, overrides, calibration).
    """

    model: str
    workload: Workload
    weights: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    act_density: dict[str, float]
    recipe: dict = field(default_factory=dict)
    _hash: str | None = field(default=None, repr=False, compare=False)

    @property
    def sparsity(self) -> float:
        """Share of pruned weights over all compute layers."""
        total = sum(m.size for m in self.masks.values())
        return 1.0 - sum(int(m.sum()) for m in self.masks.values()) / total

    def layer_sparsity(self, name: str) -> float:
        """Share of pruned weights of one compute layer.

        Args:
            name: the layer's name in the workload (e.g. 'layer1.0.conv1').

        Returns:
            The pruned fraction of its weights, 0 (dense) to 1.

        Raises:
            UnknownName: the model has no layer `name` (a UsageError and a KeyError).
        """
        if name not in self.masks:
            raise UnknownName(unknown_layer_message(name, list(self.masks)))
        mask = self.masks[name]
        return 1.0 - float(mask.sum()) / mask.size

    def to_frame(self) -> pd.DataFrame:
        """The workload table plus nnz, sparsity, act_density and the MACs left after pruning.

        Returns:
            One row per compute layer: Workload.to_frame's columns plus nnz (kept weights), sparsity
            (fraction pruned), act_density (fraction of non-zero inputs) and sparse_macs (MACs
            per frame left after pruning).
        """
        frame = self.workload.to_frame()
        frame["nnz"] = [int(self.masks[n].sum()) for n in frame["name"]]
        frame["sparsity"] = 1.0 - frame["nnz"] / frame["weights"]
        frame["act_density"] = [self.act_density[n] for n in frame["name"]]
        frame["sparse_macs"] = (frame["macs"] * frame["nnz"] / frame["weights"]).round().astype(int)
        return frame

    def content_hash(self) -> str:
        """A digest of the masks and weights: the key under which later stages cache results.

        Returns:
            The hex SHA-256 of every layer's name, mask shape, mask bits and float32 weights
            (computed once, then cached on the instance).
        """
        if self._hash is None:
            digest = hashlib.sha256()
            for layer in self.workload:
                mask = self.masks[layer.name]
                digest.update(layer.name.encode())
                digest.update(np.asarray(mask.shape, dtype=np.int64).tobytes())
                digest.update(np.packbits(mask).tobytes())
                digest.update(np.ascontiguousarray(self.weights[layer.name], np.float32).tobytes())
            self._hash = digest.hexdigest()
        return self._hash


_MAX_NM_M = 256  # N:M groups run along the input channels; no layer of the zoo has more than 2048


def parse_nm(text: str | tuple[int, int]) -> tuple[int, int]:
    """'2:4' -> (2, 4), checking 1 <= N <= M.

    Args:
        text: an 'N:M' string such as '2:4', or an (N, M) pair.

    Returns:
        (N, M): at most N non-zeros in every group of M weights.

    Raises:
        UsageError: the text is not two integers separated by ':', N is not between 1 and M, or M is
            above _MAX_NM_M.
    """
    if isinstance(text, str):
        try:
            n, m = (int(v) for v in text.split(":"))
        except ValueError:
            raise UsageError(f"N:M pattern '{text}' must look like 2:4") from None
    else:
        n, m = text
    if not 1 <= n <= m:
        raise UsageError(f"N:M pattern {n}:{m}: N must be between 1 and M")
    if m > _MAX_NM_M:
        raise UsageError(f"N:M pattern {n}:{m}: M must be at most {_MAX_NM_M} (groups of M input channels)")
    return n, m


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def resolve_model(model: nn.Module | str, seed: int = 0) -> tuple[nn.Module, str]:
    """A module and its name, from a module, a zoo name or 'path/to/file.py:factory'. Models
    built here are initialised from `seed`, so the same recipe gives the same weights.

    Args:
        model: a torch module (used as is), a zoo name, `torchvision:NAME` / `timm:NAME`, or
            'path/to/file.py:factory'.
        seed: torch seed of the weight initialisation of a model built here (the global torch
            generator is left as it was).

    Returns:
        (module, name): the module (in eval mode when built here) and the name results use (the
        class name, the zoo or library name, or the file's stem).

    Raises:
        UsageError: a zoo name that is not in the zoo, a library model that cannot be built, a
            'file.py:factory' that fails to import, lacks the function or returns no torch module,
            or an .onnx path (no torch module to run).
        DlaError: the 'file.py' of a 'file.py:factory' does not exist (a missing file, exit 1).
    """
    if isinstance(model, nn.Module):
        return model, type(model).__name__
    from dla_explorer.workload.library import is_library_name, library_model

    if is_library_name(model):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return library_model(model), model.split(":", 1)[1]
    if model.endswith(".onnx"):
        raise UsageError(
            f"'{model}': an ONNX model has no torch module to run or train (use a zoo name or file.py)"
        )
    if ":" in model and model.split(":")[0].endswith(".py"):
        import importlib.util

        path, factory = model.rsplit(":", 1)
        if not Path(path).is_file():
            raise DlaError(f"model file '{path}' not found")
        spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"model file '{path}' is not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any error is theirs to see, in one line
            raise UsageError(f"model file '{path}' failed to import: {_one_line(exc)}") from None
        if not callable(getattr(module, factory, None)):
            raise UsageError(f"model file '{path}' has no function '{factory}'")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            try:
                built = getattr(module, factory)()
            except Exception as exc:
                raise UsageError(f"model file '{path}': {factory}() raised {_one_line(exc)}") from None
        if not isinstance(built, nn.Module):
            raise UsageError(
                f"model file '{path}': {factory}() returned {type(built).__name__}, not a torch.nn.Module"
            )
        return built.eval(), Path(path).stem
    return zoo.get(model, seed), model


_WEIGHT_SUFFIXES = (".pt", ".pth", ".npz")


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load trained weights into `module` in place: a torch state dict (.pt/.pth; a dict holding
    it under 'state_dict' or 'model' also works) or a dla-explorer checkpoint (.npz: its compute
    layers' sparse weights, over the full state dict it names under recipe 'weights', if any).

    Args:
        module: the model to load into; changed in place.
        path: a torch state dict (.pt, .pth) or a dla-explorer checkpoint (.npz).

    Returns:
        `module`, with the weights loaded.

    Raises:
        UsageError: the suffix is none of .pt, .pth, .npz; or its layers or shapes do not fit
            `module`.
        DlaError: the file is missing, is not a readable torch file or holds no state dict, or the
            checkpoint (or the state dict it names) is missing, corrupt or of a newer format.
    """
    path = Path(path)
    if path.suffix not in _WEIGHT_SUFFIXES:
        raise UsageError(f"weights '{path}': use a state dict (.pt, .pth) or a checkpoint (.npz)")
    if not path.is_file():
        raise DlaError(f"weights file '{path}' not found")
    if path.suffix == ".npz":
        from dla_explorer.sparsity import checkpoint
        from dla_explorer.sparsity.tasks import set_weights

        sparse = checkpoint.load(path)
        base = sparse.recipe.get("state_dict")
        if base:
            load_weights(module, path.parent / base)
        missing = [n for n in sparse.weights if module_of(module, n) is None]
        if missing:
            raise UsageError(f"weights '{path}': layers {', '.join(missing[:3])} are not in the model")
        try:
            return set_weights(module, sparse.weights)
        except RuntimeError as exc:
            raise UsageError(f"weights '{path}' do not fit the model: {str(exc).splitlines()[0]}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file; all mean "unreadable"
        raise DlaError(f"weights '{path}': not a readable torch file ({type(exc).__name__})") from None
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        state = state.get("state_dict", state.get("model", state))
    if not isinstance(state, dict):
        raise DlaError(f"weights '{path}': holds a {type(state).__name__}, not a state dict")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise UsageError(f"weights '{path}' do not fit the model: {detail}") from None
    return module


def load_model(
    model: nn.Module | str, weights: str | Path | None = None, seed: int = 0
) -> tuple[nn.Module, str]:
    """`resolve_model`, then the trained `weights` (see load_weights) when given.

    Args:
        model: a module, a zoo or library name, or 'file.py:factory' (see resolve_model).
        weights: trained weights to load (see load_weights), or None for the initial ones.
        seed: torch seed of the weight initialisation.

    Returns:
        (module, name), the module in eval mode.

    Raises:
        UsageError: the model cannot be resolved (see resolve_model) or the weights do not fit it
            (see load_weights).
        DlaError: the weights file is unreadable or corrupt.
    """
    module, name = resolve_model(model, seed)
    if weights:
        load_weights(module, weights)
    return module.eval(), name


def default_input_shape(model: nn.Module | str) -> tuple[int, ...]:
    """The input shape a model is meant for: the zoo's (digits_cnn is 1x1x16x16), else
    zoo.DEFAULT_INPUT_SHAPE.

    Args:
        model: a model name, or a module (which has no recorded shape).

    Returns:
        The input shape (N, C, H, W) in elements.
    """
    return zoo.input_shape(model) if isinstance(model, str) else zoo.DEFAULT_INPUT_SHAPE


def _layer_targets(
    workload: Workload, sparsity: float, overrides: Mapping[str, float] | None
) -> dict[str, float]:
    """Target sparsity per layer: the global value, or the last override pattern that matches.

    Args:
        workload: the model's compute layers.
        sparsity: the global target, a fraction of weights pruned in [0, 1).
        overrides: glob pattern -> sparsity (a fraction in [0, 1); 0 keeps a layer dense), or None.

    Returns:
        Layer name -> target sparsity (fraction pruned).

    Raises:
        UsageError: an override's sparsity is outside [0, 1), or its pattern matches no layer.
    """
    overrides = dict(overrides or {})
    for pattern, value in overrides.items():
        _check_sparsity(value, f"override '{pattern}'")
        if not any(fnmatch.fnmatchcase(layer.name, pattern) for layer in workload):
            examples = ", ".join(layer.name for layer in workload.layers[:3])
            raise UsageError(
                f"override '{pattern}' matches no layer (layers are named like "
                f"{examples}, ...; '*' and '?' are wildcards)"
            )
    targets = {}
    for layer in workload:
        targets[layer.name] = sparsity
        for pattern, value in overrides.items():
            if fnmatch.fnmatchcase(layer.name, pattern):
                targets[layer.name] = value
    return targets


def _check_sparsity(value: float, what: str) -> None:
    # a string or None failed inside the comparison with a TypeError that named neither
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise UsageError(f"{what}: sparsity {value!r} must be in [0, 1) (a number: 0.9 prunes 90%)")


def _keep_count(size: int, sparsity: float) -> int:
    # sparsity < 1 keeps at least one weight (0.9999999 rounded to all weights pruned, and the
    # simulator then divided by zero)
    return max(1, size - int(round(sparsity * size))) if size else 0


def _random_mask(shape: tuple[int, ...], sparsity: float, rng: np.random.Generator) -> np.ndarray:
    size = int(np.prod(shape))
    mask = np.zeros(size, dtype=bool)
    mask[rng.permutation(size)[: _keep_count(size, sparsity)]] = True
    return mask.reshape(shape)


def _magnitude_mask(weight: np.ndarray, sparsity: float) -> np.ndarray:
    keep = _keep_count(weight.size, sparsity)
    mask = np.zeros(weight.size, dtype=bool)
    if keep:
        mask[np.argpartition(-np.abs(weight).ravel(), keep - 1)[:keep]] = True
    return mask.reshape(weight.shape)


def _reduction_major(weight: np.ndarray) -> np.ndarray:
    """(K, C/g, R, S) -> (K, R*S*C/g) with the input channel fastest; linear stays (K, C)."""
    if weight.ndim == 4:
        return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
    return weight


def _from_reduction_major(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) == 4:
        k, c, r, s = shape
        return flat.reshape(k, r, s, c).transpose(0, 3, 1, 2)
    return flat


def _nm_mask(weight: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the N largest of every M consecutive weights along the reduction axis."""
    flat = np.abs(_reduction_major(weight))
    k, length = flat.shape
    groups = -(-length // m)
    padded = np.full((k, groups * m), -1.0, dtype=np.float32)  # padding is never kept first
    padded[:, :length] = flat
    order = np.argsort(-padded.reshape(k, groups, m), axis=2, kind="stable")
    keep = np.zeros((k, groups, m), dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    keep = keep.reshape(k, groups * m)[:, :length]
    return np.ascontiguousarray(_from_reduction_major(keep, weight.shape))


def _global_magnitude_masks(weights: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """One magnitude threshold over all given layers together, so per-layer sparsity varies."""
    flat = np.concatenate([np.abs(w).ravel() for w in weights.values()])
    pooled = _magnitude_mask(flat, sparsity)
    masks, offset = {}, 0
    for name, weight in weights.items():
        masks[name] = pooled[offset : offset + weight.size].reshape(weight.shape)
        offset += weight.size
    return masks


def _masks(
    weights: dict[str, np.ndarray],
    targets: dict[str, float],
    method: str,
    nm: tuple[int, int] | None,
    rng: np.random.Generator,
    overridden: set[str],
    progress: LayerProgress | None = None,
) -> dict[str, np.ndarray]:
    masks = {}
    for name, weight in weights.items():
        if targets[name] == 0.0:
            masks[name] = np.ones(weight.shape, dtype=bool)
        elif method == "random":
            masks[name] = _random_mask(weight.shape, targets[name], rng)
        elif method == "nm" and nm is not None:
            masks[name] = _nm_mask(weight, *nm)
        elif method == "magnitude" or name in overridden:
            masks[name] = _magnitude_mask(weight, targets[name])
        if progress is not None and name in masks:
            progress("masks", name, len(weights))
    if method == "magnitude_global":
        pooled = {n: w for n, w in weights.items() if n not in overridden}
        masks.update(_global_magnitude_masks(pooled, targets[next(iter(pooled))]) if pooled else {})
        if progress is not None:
            for name in pooled:  # one threshold: all at once
                progress("masks", name, len(weights))
    return masks


def _compute_modules(model: nn.Module, workload: Workload) -> dict[str, nn.Module]:
    modules = {}
    for layer in workload:
        module = module_of(model, layer.name)
        if module is None:
            raise UsageError(f"layer '{layer.name}' is not a module of the model")
        modules[layer.name] = module
    return modules


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    if not isinstance(weight, torch.Tensor):
        raise UsageError(f"{type(module).__name__} has no weight tensor")
    return weight


def calibration_batch(
    source: torch.Tensor | str | Path | None, input_shape: tuple[int, ...], batch: int = 8, seed: int = 0
) -> torch.Tensor:
    """The inputs on which activation density is measured.

    None or 'synthetic': `batch` standard-normal images (seeded). A tensor is used as is. A path
    to a .pt/.npy file loads a tensor; a folder loads up to `batch` images, resized to the input
    size and normalised like ImageNet.

    Args:
        source: None or 'synthetic', a tensor, a .pt / .npy file, or a folder of images.
        input_shape: the model's input shape (N, C, H, W); N is replaced by `batch`.
        batch: images of a synthetic batch, and at most this many images of a folder.
        seed: seed of the synthetic images.

    Returns:
        A float tensor of inputs, (batch, C, H, W) for synthetic data and folders.

    Raises:
        UsageError: the path has another suffix, holds no numeric tensor or one of another rank
            than `input_shape`; or the folder holds no images or an unreadable one.
        DlaError: the path does not exist (a missing file, exit 1).
    """
    shape = (batch, *input_shape[1:])
    if source is None or (isinstance(source, str) and source == "synthetic"):
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(shape, generator=generator)
    if isinstance(source, torch.Tensor):
        return source.float()
    path = Path(source)
    if path.is_dir():
        return _load_images(path, shape)
    if not path.is_file():
        raise DlaError(
            f"calibration data '{path}' not found (give 'synthetic', a .pt or .npy "
            "tensor, or a folder of images)"
        )
    if path.suffix in (".npy", ".pt"):
        try:
            data = np.load(path) if path.suffix == ".npy" else torch.load(path, weights_only=True)
            tensor = torch.as_tensor(data).float()
        except Exception as exc:  # pickled objects, dicts, corrupt files: all one line
            raise UsageError(f"calibration file '{path}': not a numeric tensor ({_one_line(exc)})") from None
        if tensor.dim() != len(input_shape):
            raise UsageError(
                f"calibration file '{path}': shape {list(tensor.shape)} is not a batch of "
                f"{len(input_shape) - 1}-D inputs"
            )
        return tensor
    raise UsageError(f"calibration file '{path}': use a .pt or .npy tensor or a folder of images")


def _load_images(folder: Path, shape: tuple[int, ...]) -> torch.Tensor:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)[: shape[0]]
    if not files:
        raise UsageError(f"calibration folder '{folder}' holds no images ({', '.join(_IMAGE_SUFFIXES)})")
    height, width = shape[2], shape[3]
    arrays = []
    for f in files:
        try:
            with Image.open(f) as image:
                arrays.append(np.asarray(image.convert("RGB").resize((width, height)), dtype=np.float32))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise UsageError(f"calibration image '{f}': cannot be read ({_one_line(exc)})") from None
    images = torch.from_numpy(np.stack(arrays) / 255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def measure_activation_density(
    model: nn.Module, workload: Workload, inputs: torch.Tensor, progress: LayerProgress | None = None
) -> dict[str, float]:
    """Fraction of non-zero input values of every compute layer over a batch (forward hooks).

    Args:
        model: the (pruned) torch model, run in place on `inputs` without gradients.
        workload: its compute layers, as `extract` returned them.
        inputs: the calibration batch.
        progress: called as progress("activations", layer, layers) once per layer: as the
            forward pass measures it, after it for a layer that never ran.

    Returns:
        Layer name -> fraction of non-zero input values (1.0 for a layer that never ran).

    Raises:
        UsageError: a layer of `workload` is not a module of `model`, or the model cannot run on
            `inputs` (their shape does not fit).
    """
    counts: dict[str, list[int]] = {layer.name: [0, 0] for layer in workload}
    calls: dict[str, int] = {}
    handles = []
    for name, module in _compute_modules(model, workload).items():
        base = name.split("#")[0]
        if base != name:
            continue  # one hook per module; repeated calls are numbered below

        def record(module, args, output, base=base):
            calls[base] = calls.get(base, 0) + 1
            key = base if calls[base] == 1 else f"{base}#{calls[base]}"
            if key in counts:
                counts[key][0] += int(torch.count_nonzero(args[0]))
                counts[key][1] += args[0].numel()
                if progress is not None:
                    progress("activations", key, len(counts))

        handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(inputs)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(
            f"calibration inputs of shape {list(inputs.shape)} do not fit the model: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    if progress is not None:
        for name in [name for name, (_, total) in counts.items() if not total]:
            progress("activations", name, len(counts))  # never ran: nothing measured, density 1.0
    return {name: nz / total if total else 1.0 for name, (nz, total) in counts.items()}


def prune(
    model: nn.Module | str,
    method: str = "random",
    sparsity: float = 0.0,
    *,
    nm: str | tuple[int, int] | None = None,
    overrides: Mapping[str, float] | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    calibration: torch.Tensor | str | Path | None = None,
    calibration_size: int = 8,
    keep_first_last_dense: bool = False,
    name: str | None = None,
    weights: str | Path | None = None,
    progress: LayerProgress | None = None,
) -> SparseModel:
    """Prune every Conv2d/Linear of `model` (a module, a zoo name or 'file.py:factory').

    The module itself is not modified. With `method='nm'`, `nm` gives the pattern ('2:4') and
    `sparsity` is ignored (it is 1 - N/M); overrides can only keep layers dense (value 0).
    `keep_first_last_dense` adds overrides for the first and the last compute layer (the usual
    practice: the first conv and the classifier are small and sensitive). `weights` loads
    trained weights first (see load_weights); `input_shape` None is the model's own
    (default_input_shape).

    Args:
        model: a torch module, a zoo or library name, 'file.py:factory' or a model.onnx file.
        method: one of _METHODS: random, magnitude, magnitude_global, nm.
        sparsity: fraction of weights pruned per layer, in [0, 1); ignored by method nm.
        nm: the N:M pattern of method nm ('2:4' when None).
        overrides: glob pattern over layer names -> sparsity (a fraction; 0 keeps a layer dense).
        seed: seed of the random masks, the model's initial weights and synthetic calibration.
        input_shape: the input (N, C, H, W) in elements; None is default_input_shape.
        calibration: the calibration inputs (see calibration_batch); not used for ONNX models.
        calibration_size: images in the calibration batch.
        keep_first_last_dense: keep the first and the last compute layer dense.
        name: the model name in results; None takes it from the model.
        weights: trained weights loaded before pruning (see load_weights), or None.
        progress: called once per layer and stage (LayerProgress): "masks", then "activations"
            (not for ONNX models); it does not change the result.

    Returns:
        The SparseModel: pruned float32 weights, masks, measured activation densities (1.0 for ONNX
        models, whose graph is not run) and the recipe that made it.

    Raises:
        UsageError: an unknown method or N:M pattern, a sparsity outside [0, 1), a seed or
            calibration_size that is not a whole number in its range, overrides that are not a
            mapping or an override that matches no layer or (method nm) is neither 0 nor the
            pattern's sparsity, a model that is not a module or a name, or cannot be resolved or
            traced with `input_shape`, weights that do not fit it, or calibration data that is
            missing, unreadable or does not fit the model.
        DlaError: the weights file or the ONNX file is unreadable or corrupt.
    """
    if method not in _METHODS:
        raise UsageError(f"unknown pruning method '{method}'; choose one of {', '.join(_METHODS)}")
    # the arguments' own rules before the model is loaded and traced (seconds for ResNet-50)
    check_type(model, (nn.Module, str), "model", "a torch module, a zoo name or 'file.py:factory'")
    if overrides is not None:
        check_type(
            overrides, Mapping, "overrides", "layer name or glob pattern -> sparsity, e.g. {'fc': 0.0}"
        )
    if input_shape is not None:
        check_input_shape(input_shape)
    if method != "nm":
        _check_sparsity(sparsity, "pruning")
    check_whole(seed, "seed", 0, _MAX_SEED)
    check_whole(calibration_size, "calibration_size", 1, _MAX_CALIBRATION_SIZE)
    if isinstance(model, str) and model.endswith(".onnx"):
        return _prune_onnx(
            model, method, sparsity, nm, overrides, seed, input_shape, keep_first_last_dense, name, progress
        )
    input_shape = tuple(input_shape or default_input_shape(model))
    module, default_name = load_model(model, weights, seed)
    name = name or default_name
    nm_pattern, sparsity = _nm_sparsity(method, nm, sparsity)
    workload = extract(module, input_shape, name=name)
    overrides = _with_ends_dense(workload, overrides, keep_first_last_dense)
    targets = _layer_targets(workload, sparsity, overrides)
    if method == "nm" and any(v not in (0.0, sparsity) for v in targets.values()):
        raise UsageError("with method 'nm', per-layer overrides can only keep a layer dense (0)")

    overridden = _overridden(workload, overrides)
    modules = _compute_modules(module, workload)
    trained = {n: _weight(m).detach().cpu().numpy().astype(np.float32) for n, m in modules.items()}
    masks = _masks(trained, targets, method, nm_pattern, np.random.default_rng(seed), overridden, progress)
    pruned = {n: np.where(masks[n], w, np.float32(0)) for n, w in trained.items()}

    inputs = calibration_batch(calibration, input_shape, calibration_size, seed)
    originals = {n: _weight(m).data.clone() for n, m in modules.items()}
    try:
        for n, m in modules.items():
            _weight(m).data = torch.from_numpy(pruned[n]).to(_weight(m).dtype)
        density = measure_activation_density(module, workload, inputs, progress)
    finally:
        for n, m in modules.items():
            _weight(m).data = originals[n]

    source = "tensor" if isinstance(calibration, torch.Tensor) else str(calibration or "synthetic")
    recipe = _recipe_record(method, sparsity, seed, nm_pattern, overrides, source, int(inputs.shape[0]))
    if weights:
        recipe["weights"] = str(weights)
    return SparseModel(name, workload, pruned, masks, density, recipe)


def _nm_sparsity(
    method: str, nm: str | tuple[int, int] | None, sparsity: float
) -> tuple[tuple[int, int] | None, float]:
    """The N:M pattern of method nm (None for the others) and the sparsity it implies (1 - N/M;
    the given one otherwise), checked to lie in [0, 1)."""
    nm_pattern = parse_nm(nm if nm is not None else "2:4") if method == "nm" else None
    if nm_pattern is not None:
        sparsity = 1.0 - nm_pattern[0] / nm_pattern[1]
    _check_sparsity(sparsity, "pruning")
    return nm_pattern, sparsity


def _with_ends_dense(
    workload: Workload, overrides: Mapping[str, float] | None, keep_first_last_dense: bool
) -> Mapping[str, float] | None:
    """`overrides` with the first and the last compute layer kept dense when asked (the caller's
    own overrides of those layers win)."""
    if not keep_first_last_dense:
        return overrides
    return {workload.layers[0].name: 0.0, workload.layers[-1].name: 0.0, **(overrides or {})}


def _overridden(workload: Workload, overrides: Mapping[str, float] | None) -> set[str]:
    """The layers an override pattern matches (magnitude_global leaves them out of its shared
    threshold: each keeps its own target)."""
    return {
        layer.name for layer in workload if any(fnmatch.fnmatchcase(layer.name, p) for p in (overrides or {}))
    }


def _recipe_record(
    method: str,
    sparsity: float,
    seed: int,
    nm_pattern: tuple[int, int] | None,
    overrides: Mapping[str, float] | None,
    calibration: str,
    calibration_size: int,
) -> dict[str, Any]:
    """The recipe a SparseModel records: how it was pruned and calibrated."""
    return {
        "method": method,
        "sparsity": sparsity,
        "seed": seed,
        "nm": f"{nm_pattern[0]}:{nm_pattern[1]}" if nm_pattern else None,
        "overrides": dict(overrides or {}),
        "calibration": calibration,
        "calibration_size": calibration_size,
    }


def _prune_onnx(
    path: str,
    method: str,
    sparsity: float,
    nm: str | tuple[int, int] | None,
    overrides: Mapping[str, float] | None,
    seed: int,
    input_shape: tuple[int, ...] | None,
    keep_first_last_dense: bool,
    name: str | None,
    progress: LayerProgress | None = None,
) -> SparseModel:
    """Prune an ONNX model's weights (its initializers). The graph is not run, so activation
    density is not measured: every layer's input counts as dense (1.0), the recipe says so."""
    from dla_explorer.workload.onnx_import import load_onnx

    workload, trained = load_onnx(path, input_shape, name)
    nm_pattern, sparsity = _nm_sparsity(method, nm, sparsity)
    overrides = _with_ends_dense(workload, overrides, keep_first_last_dense)
    targets = _layer_targets(workload, sparsity, overrides)
    overridden = _overridden(workload, overrides)
    masks = _masks(trained, targets, method, nm_pattern, np.random.default_rng(seed), overridden, progress)
    pruned = {n: np.where(masks[n], w, np.float32(0)) for n, w in trained.items()}
    recipe = _recipe_record(
        method,
        sparsity,
        seed,
        nm_pattern,
        overrides,
        "none (ONNX graph not run: activation density taken as 1)",
        0,
    )
    density = {layer.name: 1.0 for layer in workload}
    return SparseModel(workload.name, workload, pruned, masks, density, recipe)


_MAX_CALIBRATION_SIZE = 4096
_MAX_SEED = 2**32 - 1  # numpy's legacy seeding and torch both take 32-bit seeds


class Recipe(pydantic.BaseModel):
    """A pruning recipe, as written in `models/*.yaml`."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = pydantic.Field(description="zoo name, 'path/to/file.py:factory' or model.onnx")
    weights: str | None = pydantic.Field(
        None, description="trained weights: a state dict (.pt, .pth) or a checkpoint (.npz)"
    )
    method: Literal["random", "magnitude", "magnitude_global", "nm"] = "random"
    sparsity: float = pydantic.Field(0.0, ge=0.0, lt=1.0)
    nm: str | None = pydantic.Field(None, description="N:M pattern for method nm, e.g. '2:4'")
    seed: int = pydantic.Field(0, ge=0, le=_MAX_SEED, description="numpy and torch seed")
    overrides: dict[str, float] = pydantic.Field(default_factory=dict)
    keep_first_last_dense: bool = False
    input_shape: (
        tuple[pydantic.PositiveInt, pydantic.PositiveInt, pydantic.PositiveInt, pydantic.PositiveInt] | None
    ) = pydantic.Field(
        None, description="N, C, H, W; default the model's own (1,3,224,224 for ImageNet networks)"
    )
    calibration: str = "synthetic"
    # the calibration batch is held in memory at once (224x224x3 fp32: 0.6 MB an image)
    calibration_size: int = pydantic.Field(8, ge=1, le=_MAX_CALIBRATION_SIZE)
    output: str | None = pydantic.Field(None, description="checkpoint path (.npz)")


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a pruning recipe (YAML, the Recipe fields).

    Args:
        path: the recipe file, e.g. models/resnet50_random90.yaml.

    Returns:
        The validated Recipe.

    Raises:
        UsageError: the file is not valid YAML or not a valid recipe (the message names the key).
        DlaError: the file is missing or not UTF-8 text.
    """
    return load_yaml_model(Recipe, path)


def prune_recipe(recipe: Recipe, progress: LayerProgress | None = None) -> SparseModel:
    """Prune the model a recipe names, with the recipe's settings (see prune).

    Args:
        recipe: the validated recipe.
        progress: called once per layer and stage (see prune), or None.

    Returns:
        The SparseModel (the recipe's `output` is not written here: checkpoint.save does it).

    Raises:
        UsageError: as for prune: the model, weights, overrides or calibration data do not work.
        DlaError: the weights file or the ONNX file is unreadable or corrupt.
    """
    return prune(
        recipe.model,
        recipe.method,
        recipe.sparsity,
        nm=recipe.nm,
        overrides=recipe.overrides,
        seed=recipe.seed,
        input_shape=recipe.input_shape,
        calibration=recipe.calibration,
        calibration_size=recipe.calibration_size,
        keep_first_last_dense=recipe.keep_first_last_dense,
        weights=recipe.weights,
        progress=progress,
    )
