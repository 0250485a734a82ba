"""A small CNN for the built-in digits task (scikit-learn's 8x8 digits upsampled to 16x16).

Four 3x3 convs (16, 32, 64, 64 filters; max pooling after the second and third) and one linear
classifier: ~70 k weights, ~3 MMACs per image. Big enough that 90% pruning and column combining
have something to chew on, small enough to train to ~99% in seconds on two cores.
"""

from __future__ import annotations

from torch import Tensor, nn

DIGITS_INPUT_SHAPE = (1, 1, 16, 16)
DIGITS_CLASSES = 10


class DigitsCNN(nn.Module):
    def __init__(self, num_classes: int = DIGITS_CLASSES, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(4 * w * 4 * 4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))
