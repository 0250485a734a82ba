"""The matplotlib backend of the study's figures, chosen in one place (import this module before
pyplot)."""

from __future__ import annotations

import sys

import matplotlib

# files only: the report must render on machines without a display; but a notebook kernel keeps
# its own (inline) backend, or importing a plotting module hid every later figure of the notebook
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
