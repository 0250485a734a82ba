"""DRAM size of activations stored compressed (the simulator's activation traffic)."""

from __future__ import annotations

import numpy as np

from dla_explorer.core.errors import UsageError
from dla_explorer.core.units import BITS_PER_BYTE


def compressed_activation_bytes(
    elements: np.ndarray | float, density: np.ndarray | float, value_bytes: np.ndarray | float = 1
) -> np.ndarray:
    """DRAM bytes of an activation tensor in the bitmap format (vectorised over arrays;
    docs/packing.md#compressed-activations-compressed_activation_bytes).

    Bitmap: one presence bit per element, then the non-zero values packed:
    ceil((elements + ceil(elements * density) * 8 * value_bytes) / 8) bytes; value_bytes may be
    fractional (4-bit values: 0.5). Chosen over run-length coding (a b-bit zero count per
    non-zero, density * b bits per element) because RLE is smaller only below density 1/b (25% for
    4-bit runs, before escape entries for longer runs) while post-ReLU densities are mostly
    30-70%, and because the bitmap's index has a fixed size, so a tile's offset is a popcount
    prefix sum and the decoder is a popcount. Where the bitmap form would exceed dense
    (density > 1 - 1/(8 * value_bytes)) the tensor is stored dense (a per-tensor flag).
    """
    elements = np.asarray(elements)
    density = np.asarray(density, dtype=np.float64)
    value_bytes = np.asarray(value_bytes)
    if (elements < 0).any() or (value_bytes <= 0).any():
        raise UsageError("compressed_activation_bytes: elements must be >= 0 and value_bytes > 0")
    if not ((density >= 0) & (density <= 1)).all():
        raise UsageError("compressed_activation_bytes: density must be in [0, 1]")
    value_bits = value_bytes * BITS_PER_BYTE
    bitmap_bits = elements + np.ceil(elements * density) * value_bits
    return np.ceil(np.minimum(elements * value_bits, bitmap_bits) / BITS_PER_BYTE).astype(np.int64)
