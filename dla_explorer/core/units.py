"""Unit constants and conversions, each defined once for the whole package.

Decimal prefixes (KILO ... TERA, MILLI ... PICO) are SI; KIB and MIB are binary (1024-based) and
used for on-chip buffer capacities, which FPGA vendors quote in binary kilobytes. Throughput and
DRAM figures (GB/s, MB/frame) are decimal, as memory vendors quote them.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:  # numpy is imported when an array is given: the CLI's start-up stays light
    import numpy as np

BITS_PER_BYTE = 8
KIB = 1024  # bytes in a binary kilobyte (KiB)
MIB = 1024 * KIB

KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12

MILLI = 1e-3
MICRO = 1e-6
NANO = 1e-9
PICO = 1e-12

#: one multiply-accumulate is two operations (a multiply and an add), as GOPS/TOPS figures count them
OPS_PER_MAC = 2


def bytes_for_bits(bits: int) -> int:
    """Whole bytes needed to store `bits` bits (rounded up)."""
    return -(-int(bits) // BITS_PER_BYTE)


@overload
def index_bits(choices: int) -> int: ...
@overload
def index_bits(choices: np.ndarray) -> np.ndarray: ...
def index_bits(choices: int | np.ndarray) -> int | np.ndarray:
    """Bits of an index that tells `choices` things apart: ceil(log2(choices)), 0 for one choice.

    This is the select field a packed weight carries (ceil(log2 alpha) for column combining,
    ceil(log2 M) for N:M) and the width of the feeder's multiplexer control.

    Args:
        choices: how many things the index selects among (>= 1); an int or an integer array.

    Returns:
        The bit width, of the same kind as `choices` (an int, or an int64 array).
    """
    if isinstance(choices, numbers.Integral):
        return math.ceil(math.log2(choices)) if choices > 1 else 0
    import numpy as np

    safe = np.maximum(choices, 1)
    return np.where(safe > 1, np.ceil(np.log2(safe)), 0).astype(np.int64)
