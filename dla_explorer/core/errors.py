"""Errors a user can act on. The CLI prints them as one line and exits with `exit_code`."""


class DlaError(Exception):
    """A run-time problem with the user's files or data (exit code 1)."""

    exit_code = 1


class UsageError(DlaError):
    """A bad argument, option or configuration value (exit code 2)."""

    exit_code = 2
