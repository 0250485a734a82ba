"""Labelled data, training, masked retraining and evaluation: what the accuracy path runs on.

- The built-in task ``digits``: scikit-learn's handwritten digits (1797 8x8 grey images, values
  0..16, shipped inside the package, so nothing downloads), upsampled bilinearly to 16x16 and split
  75/25 stratified with a fixed seed. `digits_cnn` (the zoo model) trains on it to ~99% top-1 in
  a few seconds on two cores.
- An image folder, torchvision ImageFolder style (one sub-folder per class, sorted names are the
  class indices), with optional `train/` and `val/` (or `test/`) splits; a folder without them is
  split like the task. A folder of images without class folders is unlabelled: usable for
  output fidelity only.

`train` does masked retraining when given masks: after every optimiser step the pruned weights
are zeroed again, so the sparsity pattern (and a packing made from it) stays fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.sparsity.training_defaults import DEFAULT_EPOCHS, DEFAULT_LR, TASKS
from dla_explorer.workload import module_of

__all__ = [
    "Data",
    "Labelled",
    "digits",
    "evaluate",
    "fidelity",
    "load_data",
    "logits",
    "set_weights",
    "train",
]

_DIGITS_SIZE = 16  # upsampled side (the zoo's digits_cnn input)
_DIGITS_MAX = 16.0  # sklearn's digits are integers 0..16 (load_digits docs)
_TEST_SHARE = 0.25  # held-out share when a dataset has no split of its own
_SPLIT_SEED = 0
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")
# ImageNet normalisation for RGB folders (torchvision's); grey images map [0, 1] to [-1, 1] like digits
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_GREY_MEAN, _GREY_STD = 0.5, 0.5
# training defaults for the built-in task (Adam; see benchmarks/bench_accuracy.py for the figures)
_DEFAULT_BATCH = 64
_EVAL_BATCH = 512
# small convs train fastest on one intra-op thread (measured 5x faster than 2 on a loaded
# 2-core machine: the per-op thread hand-off dominates 16x16 images)
_TRAIN_THREADS = 1


@dataclass(frozen=True)
class Labelled:
    """Images (N, C, H, W) float32, normalised, and their labels (N,) int64 (-1: unlabelled)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def labelled(self) -> bool:
        """Whether every image has a label (a folder of bare images has none)."""
        return bool((self.labels >= 0).all())


@dataclass(frozen=True)
class Data:
    """A training split, an evaluation split and the class names."""

    name: str
    train: Labelled
    test: Labelled
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """The number of classes (0 for unlabelled images)."""
        return len(self.classes)


def digits(size: int = _DIGITS_SIZE, seed: int = _SPLIT_SEED) -> Data:
    """The built-in digits task at `size` x `size` (grey, normalised to [-1, 1]).

    Args:
        size: the side the 8x8 images are upsampled (bilinearly) to; 16, digits_cnn's input, by
            default.
        seed: the seed of the stratified 75/25 train/test split.

    Returns:
        The task: 1347 training and 450 test images of shape (1, size, size), classes "0" to "9".
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / _DIGITS_MAX)[:, None]
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = (images - _GREY_MEAN) / _GREY_STD
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = _split(labels.numpy(), seed)
    classes = tuple(str(c) for c in range(10))
    return Data(
        "digits", Labelled(images[train], labels[train]), Labelled(images[test], labels[test]), classes
    )


def _split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(labels.size)
    try:
        train, test = train_test_split(index, test_size=_TEST_SHARE, random_state=seed, stratify=labels)
    except ValueError:  # a class with a single image cannot be stratified
        train, test = train_test_split(index, test_size=_TEST_SHARE, random_state=seed)
    return np.sort(train), np.sort(test)


def load_data(source: str | Path, input_shape: tuple[int, ...]) -> Data:
    """The data `--data` names: a built-in task or an image folder, sized for a model's input.

    Args:
        source: a built-in task name (`digits`) or an image folder in torchvision's ImageFolder
            layout (class sub-folders, optionally under train/ and val/ or test/); a folder of bare
            images is unlabelled (for output fidelity only).
        input_shape: the model's input shape (N, C, H, W); images are resized to H x W and read
            as grey (C = 1) or RGB (C = 3).

    Returns:
        The training and evaluation splits (a folder without splits is split 75/25, stratified)
        and the class names (sorted folder names).

    Raises:
        UsageError: `source` is neither a task nor a folder, the task does not fit the model's
            input (digits is square and grey), a class folder is missing or holds no images, or
            the model takes neither 1 nor 3 channels.
        DlaError: an image file cannot be read.
    """
    text = str(source)
    if text in TASKS:
        data = digits(size=input_shape[-1])
        if input_shape[1] != 1 or input_shape[2] != input_shape[3]:
            raise UsageError(
                f"task 'digits' gives square grey images (1 channel); the model takes {list(input_shape)}"
            )
        return data
    path = Path(source)
    if not path.is_dir():
        raise UsageError(f"data '{source}': neither a built-in task ({', '.join(TASKS)}) nor a folder")
    return _folder(path, input_shape)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder(path: Path, input_shape: tuple[int, ...]) -> Data:
    subdirs = {p.name: p for p in _class_dirs(path)}
    evaluation = subdirs.get("val") or subdirs.get("test")
    if "train" in subdirs and evaluation is not None:
        classes = tuple(p.name for p in _class_dirs(subdirs["train"]))
        return Data(
            path.name,
            _read_classes(subdirs["train"], classes, input_shape),
            _read_classes(evaluation, classes, input_shape),
            classes,
        )
    if subdirs:
        classes = tuple(subdirs)
        everything = _read_classes(path, classes, input_shape)
        fit, held = _split(everything.labels.numpy(), _SPLIT_SEED)
        return Data(
            path.name,
            Labelled(everything.images[fit], everything.labels[fit]),
            Labelled(everything.images[held], everything.labels[held]),
            classes,
        )
    files = _images_in(path)
    images = _read_images(files, input_shape)
    unlabelled = Labelled(images, torch.full((len(files),), -1, dtype=torch.int64))
    return Data(path.name, unlabelled, unlabelled, ())


def _images_in(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"image folder '{folder}' holds no images ({', '.join(_IMAGE_SUFFIXES)})")
    return files


def _read_classes(folder: Path, classes: tuple[str, ...], input_shape: tuple[int, ...]) -> Labelled:
    images, labels = [], []
    for index, name in enumerate(classes):
        if not (folder / name).is_dir():
            raise UsageError(f"image folder '{folder}': class folder '{name}' is missing")
        files = _images_in(folder / name)
        images.append(_read_images(files, input_shape))
        labels.append(torch.full((len(files),), index, dtype=torch.int64))
    return Labelled(torch.cat(images), torch.cat(labels))


def _read_images(files: list[Path], input_shape: tuple[int, ...]) -> torch.Tensor:
    """Images resized to input_shape's H x W, grey (C = 1) or RGB (C = 3), normalised."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = input_shape[1], input_shape[2], input_shape[3]
    if channels not in (1, 3):
        raise UsageError(f"image folders feed 1- or 3-channel models; the model takes {channels}")
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:
                arrays.append(np.asarray(image.convert(mode).resize((width, height)), dtype=np.float32))
        except (UnidentifiedImageError, OSError) as exc:
            raise DlaError(f"{file}: not a readable image ({type(exc).__name__})") from None
    batch = np.stack(arrays) / 255.0
    images = torch.from_numpy(batch[:, None] if channels == 1 else batch.transpose(0, 3, 1, 2)).float()
    if channels == 1:
        return (images - _GREY_MEAN) / _GREY_STD
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


# ----------------------------------------------------------------------------- training


def _weight(model: nn.Module, name: str) -> torch.Tensor | None:
    """The weight tensor of layer `name` (None for a repeated call `conv#2` or a missing one)."""
    module = None if "#" in name else module_of(model, name)
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, torch.Tensor) else None


def _masked_params(
    model: nn.Module, masks: Mapping[str, np.ndarray] | None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    for name, mask in (masks or {}).items():
        weight = _weight(model, name)
        if weight is None:
            continue  # repeated calls share the first call's module and mask
        if tuple(weight.shape) != mask.shape:
            raise UsageError(f"layer '{name}': mask shape {mask.shape} does not match {tuple(weight.shape)}")
        pairs.append((weight, torch.from_numpy(np.ascontiguousarray(mask)).to(weight.dtype)))
    return pairs


def train(
    model: nn.Module,
    data: Labelled,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = _DEFAULT_BATCH,
    masks: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> nn.Module:
    """Train `model` in place with Adam, a one-cycle schedule and cross-entropy; with `masks` the
    masked weights stay zero (masked retraining: the sparsity pattern, and a packing made from it,
    stays fixed). Runs on one intra-op thread; the global torch generator is left as it was.

    Args:
        model: the torch model, trained in place.
        data: labelled training images.
        epochs: passes over `data`.
        lr: the peak learning rate of the one-cycle schedule.
        batch_size: images per optimiser step.
        masks: workload layer name -> bool array of that layer's weight shape (True: kept); the
            weights outside a mask are zeroed before training and after every step.
        seed: seeds the shuffling (in a forked generator).

    Returns:
        `model`, in eval mode.

    Raises:
        UsageError: `data` is unlabelled, or a mask's shape differs from its layer's weight.
    """
    if not data.labelled:
        raise UsageError("training needs labelled images (class folders or a built-in task)")
    pairs = _masked_params(model, masks)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * -(-len(data) // batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(_TRAIN_THREADS)
    try:
        _train_loop(model, data, epochs, batch_size, optimiser, schedule, pairs, seed)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _train_loop(
    model: nn.Module,
    data: Labelled,
    epochs: int,
    batch_size: int,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    pairs: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        with torch.no_grad():
            for weight, mask in pairs:
                weight.mul_(mask)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(data))
            for start in range(0, len(data), batch_size):
                index = order[start : start + batch_size]
                loss = F.cross_entropy(model(data.images[index]), data.labels[index])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                with torch.no_grad():
                    for weight, mask in pairs:
                        weight.mul_(mask)


def logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The model's outputs on `images`, in eval mode and without gradients, batched.

    Args:
        model: the torch model (switched to eval mode).
        images: (N, C, H, W) input images, normalised like the training data.

    Returns:
        The (N, classes) outputs.
    """
    model.eval()
    with torch.no_grad():
        return torch.cat([model(images[i : i + _EVAL_BATCH]) for i in range(0, len(images), _EVAL_BATCH)])


def _topk_accuracy(outputs: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Share of rows whose label is among the k largest outputs."""
    top = outputs.topk(min(k, outputs.shape[1]), dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean())


def evaluate(model: nn.Module, data: Labelled) -> dict[str, float]:
    """Top-1 and top-5 accuracy of `model` on `data`.

    Args:
        model: the torch model (switched to eval mode).
        data: labelled images, usually a task's test split.

    Returns:
        `top1` and `top5`: shares of images whose label is the largest output (among the five
        largest); `top5` is NaN with 5 classes or fewer.

    Raises:
        UsageError: `data` is unlabelled.
    """
    if not data.labelled:
        raise UsageError("accuracy needs labelled images (class folders or a built-in task)")
    outputs = logits(model, data.images)
    result = {"top1": _topk_accuracy(outputs, data.labels, 1)}
    result["top5"] = _topk_accuracy(outputs, data.labels, 5) if outputs.shape[1] > 5 else float("nan")
    return result


def fidelity(reference: torch.Tensor, outputs: torch.Tensor) -> dict[str, float]:
    """Output fidelity without labels: how far a model's outputs are from a reference's.

    Args:
        reference: (N, classes) outputs of the reference model (e.g. the dense one), from logits.
        outputs: (N, classes) outputs of the compared model on the same images.

    Returns:
        `top1_agreement`: the share of images whose top-1 class matches the reference's;
        `logit_rel_error`: ||outputs - reference|| / ||reference|| (Frobenius, over all images).
    """
    agreement = float((outputs.argmax(1) == reference.argmax(1)).float().mean())
    error = float(torch.linalg.norm(outputs - reference) / torch.linalg.norm(reference).clamp_min(1e-30))
    return {"top1_agreement": agreement, "logit_rel_error": error}


def set_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> nn.Module:
    """Copy per-layer weights into `model` in place (e.g. a SparseModel's pruned weights).

    Args:
        model: the torch model the weights are for.
        weights: workload layer name -> weight array of that layer's shape; repeated calls of a
            layer (`name#2`) share the first call's module and are skipped.

    Returns:
        `model`.
    """
    with torch.no_grad():
        for name, weight in weights.items():
            target = _weight(model, name)
            if target is not None:
                target.copy_(torch.from_numpy(np.ascontiguousarray(weight)).to(target.dtype))
    return model
