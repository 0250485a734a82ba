"""Unit constants of the simulator, defined once (dla_explorer/core/units.py does not exist yet;
when it lands, these become re-exports of it)."""

BITS_PER_BYTE = 8
KIB = 1024  # bytes in a KiB: buffer sizes in the configs are KiB ("kb" in their keys)
KIB_BITS = BITS_PER_BYTE * KIB
PICO = 1e-12
NANO = 1e-9
MEGA = 1e6
GIGA = 1e9
