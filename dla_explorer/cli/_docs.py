"""Render docs/cli.md from the parser itself, so the CLI reference cannot drift from the code:

python -m dla_explorer.cli._docs > docs/cli.md
"""

from __future__ import annotations

import argparse
import os

HELP_WIDTH = "100"  # argparse wraps help to $COLUMNS; fix it so the document is reproducible


def render() -> str:
    os.environ["COLUMNS"] = HELP_WIDTH
    from dla_explorer.cli import build_parser

    parser = build_parser()
    # argparse has no public accessor for the subcommands: find the subparsers action
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands: dict[str, argparse.ArgumentParser] = action.choices
    parts = [
        "# Command-line reference",
        "",
        "Generated from the parser (`python -m dla_explorer.cli._docs > docs/cli.md`); "
        "`tests/test_cli.py` checks it is current. Every command also answers `--help`.",
        "",
        "Exit codes: 0 success; 1 an error in the data or files (missing or corrupt "
        "checkpoint, unreachable storage); 2 a usage error (bad option, value, or YAML key). "
        "Errors are one line naming the file, key or value and the rule.",
        "",
        "```",
        parser.format_help().rstrip(),
        "```",
        "",
    ]
    for name, sub in commands.items():
        parts += [f"## `dla-explorer {name}`", "", "```", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
