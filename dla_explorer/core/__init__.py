"""Shared helpers at the bottom of the stack: errors (`errors`), atomic file IO and YAML loading
(`fileio`), unit constants (`units`), the fixed vocabularies such as modes and pruning methods
(`vocab`) and the pydantic base models (`schema`).

Nothing here imports any other part of dla-explorer.
"""
