"""Shared helpers at the bottom of the stack: errors, atomic file IO, unit constants.

Nothing here imports any other part of dla-explorer.
"""
